"""The log configuration: uvicorn's access line, built by our formatter, with `jwt=` masked."""

from __future__ import annotations

import logging

import uvicorn.logging

from addon.logs import AccessFormatter, log_config


def record(*args: object, msg: str = '%s - "%s %s HTTP/%s" %d') -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)


def test_the_line_is_uvicorns() -> None:
    args = ("127.0.0.1:5000", "POST", "/webhooks/jira/issue-updated?issueKey=P-1", "1.1", 204)
    ours = AccessFormatter().format(record(*args))
    theirs = uvicorn.logging.AccessFormatter(
        '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False
    ).format(record(*args))
    assert ours == theirs
    assert ours.endswith('"POST /webhooks/jira/issue-updated?issueKey=P-1 HTTP/1.1" 204 No Content')


def test_a_jwt_query_parameter_is_masked() -> None:
    line = AccessFormatter().format(record("c:1", "GET", "/x?a=1&JWT=aaa.bbb.ccc", "1.1", 401))
    assert "aaa.bbb.ccc" not in line
    assert '"GET /x?a=1&JWT=*** HTTP/1.1" 401 Unauthorized' in line


def test_a_source_key_and_a_credential_parameter_are_masked() -> None:
    key = "Zq3xN0pL7vWmR2sK9dYcB4hT"
    target = f"/webhooks/jira/sources/{key}?access_token=t0k3n"
    line = AccessFormatter().format(record("c:1", "POST", target, "1.1", 204))
    assert key not in line and "t0k3n" not in line
    assert '"POST /webhooks/jira/sources/Zq3x***?access_token=*** HTTP/1.1" 204' in line


def test_an_unknown_status_and_an_unexpected_record_still_format() -> None:
    assert AccessFormatter().format(record("c:1", "GET", "/", "1.1", 599)).endswith('" 599')
    odd = AccessFormatter().format(record("/x?jwt=secret", msg="odd %s"))
    assert odd == "odd /x?jwt=***"


def test_the_config_uses_it_and_routes_the_addon_logger() -> None:
    config = log_config()
    assert config["formatters"]["access"] == {"()": "addon.logs.AccessFormatter"}
    assert config["loggers"]["addon"]["handlers"] == ["default"]
    assert config["handlers"]["access"]["formatter"] == "access"
