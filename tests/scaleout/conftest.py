"""Scale-out stands: real ``gateway serve`` / ``gateway worker`` processes on one PostgreSQL
(``tests.stand.Stand`` on a scratch database), and a private PostgreSQL cluster to restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stand import Cluster, Stand, make_stand, scratch_database, start_private_cluster


@pytest.fixture
def pg_stand(tmp_path: Path) -> Iterator[Stand]:
    """A fresh database on the machine's PostgreSQL, migrated and with one organisation."""
    for url in scratch_database("hcs_gateway_scale"):
        stand = make_stand(tmp_path, url)
        try:
            yield stand
        finally:
            stand.stop_all()


@pytest.fixture
def private_cluster() -> Iterator[Cluster]:
    """initdb + pg_ctl on a free port in a temporary directory; removed afterwards."""
    yield from start_private_cluster()
