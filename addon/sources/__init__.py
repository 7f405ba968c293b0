"""Admin-webhook sources: Jira sites (Cloud or Data Center) that send webhooks with a secret.

Each source has an unguessable URL (`/webhooks/jira/sources/<key>`), a mode (cloud-signature,
header-token or bearer) and a secret; `SourceDoor` verifies its deliveries, which join the other
doors' in the same log with `origin_kind="source"` and the source's name as `origin`.
"""

from addon.sources._api_token import ApiToken, ApiTokens
from addon.sources._door import SourceDoor
from addon.sources._model import (
    SOURCE_PATH,
    DuplicateSource,
    Source,
    SourceError,
    SourceMode,
    new_secret,
    webhook_url,
)
from addon.sources._repository import Sources, secure_source_secrets
from addon.sources._verify import SIGNATURE_HEADER, signature_for

__all__ = [
    "SIGNATURE_HEADER",
    "SOURCE_PATH",
    "ApiToken",
    "ApiTokens",
    "DuplicateSource",
    "Source",
    "SourceDoor",
    "SourceError",
    "SourceMode",
    "Sources",
    "new_secret",
    "secure_source_secrets",
    "signature_for",
    "webhook_url",
]
