"""gunicorn multiprocess set-up of the Prometheus metrics (``gateway.ops.metrics``).

Kept apart from ``metrics`` because ``PROMETHEUS_MULTIPROC_DIR`` must be set before
``prometheus_client`` is imported: this module does not import it at load time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import Settings

log = logging.getLogger("gateway.ops.metrics")

ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    return os.environ.get(ENV) or None


def prepare_multiprocess(settings: Settings) -> Path | None:
    """Set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory (master process, before fork).

    Default: ``<data_dir>/prometheus/<this pid>`` (several nodes may share a data dir);
    directories of serve processes that are gone are removed.
    """
    if not settings.metrics.enabled:
        return None
    if settings.metrics.multiproc_dir:
        path = Path(settings.metrics.multiproc_dir)
        if path.exists():
            for stale in path.glob("*.db"):
                stale.unlink()
    else:
        base = settings.data_dir.resolve() / "prometheus"
        if base.exists():
            for old in base.iterdir():
                if old.is_dir() and old.name.isdigit() and not _alive(int(old.name)):
                    shutil.rmtree(old, ignore_errors=True)
        path = base / str(os.getpid())
        shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    if "prometheus_client.values" in sys.modules and not multiprocess_dir():
        log.warning(
            "prometheus_client was imported before %s was set: metrics stay per process", ENV
        )
    os.environ[ENV] = str(path)
    return path


def mark_process_dead(pid: int) -> None:
    """gunicorn ``child_exit``: drop the live gauges of a worker process that ended."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        with contextlib.suppress(Exception):
            multiprocess.mark_process_dead(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
