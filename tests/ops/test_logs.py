"""Log lines never carry secrets or packets: fields named like a secret are redacted, long
values cut, bytes replaced by their length."""

from __future__ import annotations

from gateway.ops.logs import MAX_VALUE, _redact


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
