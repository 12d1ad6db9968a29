"""Configuration: TOML defaults, environment overrides."""

from pathlib import Path

from gateway.config import load_settings


def test_toml_values_and_environment_overrides(tmp_path: Path) -> None:
    conf = tmp_path / "gateway.toml"
    conf.write_text(
        'data_dir = "/srv/gw"\n[server]\nworkers = 3\nrun_worker = false\n[worker]\nmax_attempts = 7\n'
    )
    settings = load_settings(
        conf, environ={"GATEWAY_SERVER_BIND": "0.0.0.0:9000", "GATEWAY_WORKER_MAX_ATTEMPTS": "9"}
    )
    assert settings.data_dir == Path("/srv/gw")
    assert settings.server.workers == 3
    assert settings.server.run_worker is False
    assert settings.server.bind == "0.0.0.0:9000"
    assert settings.worker.max_attempts == 9


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "missing.toml", environ={"GATEWAY_DATA_DIR": str(tmp_path)})
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'gateway.sqlite3'}"
    assert (
        load_settings(
            tmp_path / "missing.toml", environ={"GATEWAY_DATABASE_URL": "postgresql+psycopg://x/y"}
        ).resolved_database_url
        == "postgresql+psycopg://x/y"
    )
