"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work).

Ready means: the database answers, the XSDs of every served operation are compiled, and the
queue is not stalled — no job ready to run has waited longer than
``[metrics] queue_stall_seconds`` (workers are gone, or far too few for the load). The
queue check looks at the shared queue, so every node reports it; point a load balancer at
``/healthz`` if a stalled queue should not take accepting nodes out of rotation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from gateway.runtime import Runtime
from persistence import queue


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def json(self) -> bytes:
        return json.dumps({"ready": self.ready, "checks": self.checks}, indent=1).encode() + b"\n"


def readiness(runtime: Runtime) -> Readiness:
    checks: dict[str, dict[str, Any]] = {}
    try:
        with runtime.reader() as session:
            session.execute(text("SELECT 1"))
            stats = queue.stats(session)
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        stats = None
    try:
        formats = runtime.__dict__.get("formats")  # compiled at start-up by GatewayApp
        checks["schemas"] = {
            "ok": formats is not None and bool(formats.bundles),
            "bundles": len(formats.bundles) if formats is not None else 0,
        }
    except Exception as exc:  # pragma: no cover - defensive
        checks["schemas"] = {"ok": False, "error": type(exc).__name__}
    if stats is None:
        checks["queue"] = {"ok": False, "error": "database unavailable"}
    else:
        limit = runtime.settings.metrics.queue_stall_seconds
        checks["queue"] = {
            "ok": stats.ready_wait_seconds <= limit,
            "queued": stats.queued,
            "running": stats.running,
            "dead": stats.dead,
            "ready_wait_seconds": round(stats.ready_wait_seconds, 1),
            "stall_after_seconds": limit,
        }
    return Readiness(all(c["ok"] for c in checks.values()), checks)
