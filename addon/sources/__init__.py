"""Admin-webhook sources: Jira sites (Cloud or Data Center) that send webhooks with a secret.

Each source has an unguessable URL (`/webhooks/jira/sources/<key>`), a mode (cloud-signature,
header-token or bearer) and a secret; its deliveries join the Connect ones in the same log, with
`origin_kind="source"` and the source's name as `origin`.
"""

from addon.sources._errors import (
    MalformedAuthorization,
    MalformedSignature,
    MissingEvent,
    MissingSignature,
    MissingToken,
    SignatureMismatch,
    SourceSecretUnavailable,
    TokenMismatch,
    UnknownSource,
    UnsupportedSignatureMethod,
)
from addon.sources._ingest import ORIGIN_KIND, SourceIngest, event_name, masked_key_path
from addon.sources._model import (
    DEFAULT_TOKEN_HEADER,
    SOURCE_PATH,
    DuplicateSource,
    Source,
    SourceError,
    SourceMode,
    new_secret,
    new_source_key,
    webhook_url,
)
from addon.sources._repository import Sources, secure_source_secrets
from addon.sources._verify import (
    SIGNATURE_HEADER,
    SUPPORTED_METHOD,
    hash_token,
    parse_bearer,
    parse_signature,
    signature_for,
    verify_signature,
    verify_token,
)

__all__ = [
    "DEFAULT_TOKEN_HEADER",
    "ORIGIN_KIND",
    "SIGNATURE_HEADER",
    "SOURCE_PATH",
    "SUPPORTED_METHOD",
    "DuplicateSource",
    "MalformedAuthorization",
    "MalformedSignature",
    "MissingEvent",
    "MissingSignature",
    "MissingToken",
    "SignatureMismatch",
    "Source",
    "SourceError",
    "SourceIngest",
    "SourceMode",
    "SourceSecretUnavailable",
    "Sources",
    "TokenMismatch",
    "UnknownSource",
    "UnsupportedSignatureMethod",
    "event_name",
    "hash_token",
    "masked_key_path",
    "new_secret",
    "new_source_key",
    "parse_bearer",
    "parse_signature",
    "secure_source_secrets",
    "signature_for",
    "verify_signature",
    "verify_token",
    "webhook_url",
]
