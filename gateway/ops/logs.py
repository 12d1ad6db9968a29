"""Structured logs: one JSON object per line (structlog), for every logger of the process.

The code logs through the standard ``logging`` module (``extra={...}`` for fields);
structlog renders each record with the log context of its thread merged in — the packet's
``MessageGUID`` / ``RequesterMessageGUID`` and ``orgPPAGUID`` (``gateway.ops.observe`` binds
them) — plus ``timestamp`` (UTC), ``level`` and ``logger``.

No secrets and no packets: fields whose name says password, secret, token, authorization,
cookie or raw are dropped, and long values are cut to ``MAX_VALUE`` characters.
"""

from __future__ import annotations

import logging
import sys
from functools import lru_cache
from typing import Any

import structlog

from gateway.config import LoggingSettings

MAX_VALUE = 2000
_SECRET_WORDS = ("password", "secret", "token", "authorization", "cookie", "raw")


@lru_cache(maxsize=1024)
def _secret(key: str) -> bool:
    """Whether a field named ``key`` is redacted (field names come from the code: the same
    few recur on every line, so the answer is remembered)."""
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event.items()):
        if _secret(key):
            event[key] = "[redacted]"
        elif isinstance(value, str):
            if len(value) > MAX_VALUE:
                event[key] = value[:MAX_VALUE] + f"… [{len(value) - MAX_VALUE} more]"
        elif isinstance(value, bytes):
            event[key] = f"[{len(value)} bytes]"
    return event


def _json(settings: LoggingSettings) -> bool:
    if settings.format == "json":
        return True
    if settings.format == "text":
        return False
    return not sys.stderr.isatty()


def configure_logging(settings: LoggingSettings | None = None) -> None:
    """Route every ``logging`` record of the process through structlog to stderr."""
    settings = settings or LoggingSettings()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    rendering: list[Any] = (
        [
            structlog.processors.format_exc_info,
            _redact,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ]
        if _json(settings)
        else [_redact, structlog.dev.ConsoleRenderer(colors=False)]
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
    )
    # No rendered field comes from a record's caller, thread or process: skip finding them
    # (the logging HOWTO's "Optimization" switches), a frame walk and lookups on every line.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level.upper())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
