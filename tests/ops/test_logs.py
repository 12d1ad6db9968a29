"""Log lines never carry secrets or packets: fields named like a secret are redacted, long
values cut, bytes replaced by their length."""

from __future__ import annotations

import json
import logging

import pytest
from structlog.contextvars import bind_contextvars, clear_contextvars

from gateway.config import LoggingSettings
from gateway.ops.logs import MAX_VALUE, _redact, configure_logging

_SWITCHES = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")


def test_fields_named_like_a_secret_are_redacted_whatever_their_case() -> None:
    event = {
        "event": "request",
        "Password": "hunter2",
        "http_authorization": "Basic abc",
        "api_TOKEN": "t",
        "raw_body": b"<xml/>",
        "service": "house-management",
    }
    out = _redact(None, "info", dict(event))
    assert out["Password"] == out["http_authorization"] == out["api_TOKEN"] == "[redacted]"
    assert out["raw_body"] == "[redacted]"
    assert out["service"] == "house-management" and out["event"] == "request"
    # asked again (the answer per field name is remembered): still redacted
    assert _redact(None, "info", dict(event))["Password"] == "[redacted]"


def test_long_values_are_cut_and_bytes_become_their_length() -> None:
    out = _redact(None, "info", {"error": "x" * (MAX_VALUE + 5), "body": b"12345", "n": 3})
    assert out["error"] == "x" * MAX_VALUE + "… [5 more]"
    assert out["body"] == "[5 bytes]"
    assert out["n"] == 3


def test_a_line_renders_as_json_with_its_fields_context_and_exception(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    switches = {name: getattr(logging, name) for name in _SWITCHES}
    try:
        configure_logging(LoggingSettings(format="json", level="INFO"))
        bind_contextvars(MessageGUID="m-1")
        log = logging.getLogger("gateway.test_logs")
        log.info("packet %s", "accepted", extra={"size": 3, "password": "p"})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
    finally:
        clear_contextvars()
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, value in switches.items():
            setattr(logging, name, value)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    first, second = lines
    assert first["event"] == "packet accepted" and first["size"] == 3
    assert first["password"] == "[redacted]" and first["MessageGUID"] == "m-1"
    assert first["level"] == "info" and first["logger"] == "gateway.test_logs"
    assert first["timestamp"].endswith("Z")
    assert second["level"] == "error" and "ValueError: boom" in second["exception"]
