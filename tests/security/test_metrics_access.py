"""Issue 14 part 5: /metrics can require a bearer token, or be served on its own bind."""

from __future__ import annotations

import pytest
import requests

from tests.stand import free_port, side_server


def test_metrics_require_the_bearer_token(stand, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with side_server(stand, tmp_path / "data", metrics_token="s3cret-token") as server:
        url = server.url + "/metrics"
        assert requests.get(url, timeout=30).status_code == 401
        wrong = {"Authorization": "Bearer s3cret-tokeN"}
        assert requests.get(url, headers=wrong, timeout=30).status_code == 401
        basic = requests.get(url, auth=("x", "s3cret-token"), timeout=30)
        assert basic.status_code == 401
        right = requests.get(url, headers={"Authorization": "Bearer s3cret-token"}, timeout=30)
        assert right.status_code == 200 and b"# TYPE" in right.content


def test_metrics_on_their_own_bind_only(stand, tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    with side_server(stand, tmp_path / "data", metrics_bind=f"127.0.0.1:{port}") as server:
        internal = f"http://127.0.0.1:{port}"
        assert requests.get(server.url + "/metrics", timeout=30).status_code == 404
        answer = requests.get(internal + "/metrics", timeout=30)
        assert answer.status_code == 200 and b"# TYPE" in answer.content
        # the internal bind serves nothing else
        for path in ("/console", "/ext-bus-home-management-service/services/HomeManagementAsync"):
            assert requests.get(internal + path, timeout=30).status_code == 404
        assert requests.get(server.url + "/console", timeout=30).status_code in (200, 302, 303)


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_stay_open(stand, path: str) -> None:  # type: ignore[no-untyped-def]
    assert requests.get(stand["server"].url + path, timeout=30).status_code in (200, 503)
