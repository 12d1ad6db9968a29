"""A second gateway process beside the session's stand, on the stand's database, with its own
settings (shorter timeouts, limits) and its own data directory and log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import Server, start_server, stop_server


@contextmanager
def side_server(
    stand: dict[str, object], data_dir: Path, workers: int = 1, **settings: str
) -> Iterator[Server]:
    """``settings`` are GATEWAY_* environment overrides without the prefix."""
    stand_data = stand["data_dir"]
    assert isinstance(stand_data, Path)
    env = {
        "GATEWAY_DATABASE_URL": f"sqlite:///{(stand_data / 'gateway.sqlite3').resolve()}",
        "GATEWAY_SERVER_RUN_WORKER": "false",
        **{f"GATEWAY_{k.upper()}": v for k, v in settings.items()},
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    server = start_server(data_dir, env, workers=workers)
    try:
        yield server
    finally:
        stop_server(server)
