"""Configuration: one resolution order (flag ► environment ► gateway.toml ► defaults), unknown
keys refused with their name, the shipped conf/gateway.toml equal to the defaults."""

import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from gateway.config import DEFAULT_CONFIG_FILE, ConfigError, Settings, load_settings


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
    assert settings.source_of("worker.max_attempts") == "GATEWAY_WORKER_MAX_ATTEMPTS"
    assert settings.source_of("server.workers") == str(conf.resolve())
    assert settings.source_of("server.threads") == "default"


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(environ={"GATEWAY_DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path.resolve() / 'gateway.sqlite3'}"
    assert (
        load_settings(
            environ={"GATEWAY_DATABASE_URL": "postgresql+psycopg://x/y"}, cwd=tmp_path
        ).resolved_database_url
        == "postgresql+psycopg://x/y"
    )


def test_resolution_order_flag_environment_file_default(tmp_path: Path) -> None:
    (tmp_path / "gateway.toml").write_text('data_dir = "from-file"\n')
    assert load_settings(environ={}, cwd=tmp_path / "elsewhere").data_dir == Path("var")
    from_file = load_settings(environ={}, cwd=tmp_path)
    # relative paths in a file are relative to the file's directory
    assert from_file.data_dir == tmp_path.resolve() / "from-file"
    assert "data_dir from " + str((tmp_path / "gateway.toml").resolve()) in (
        from_file.describe_store()
    )
    from_env = load_settings(environ={"GATEWAY_DATA_DIR": "/srv/env"}, cwd=tmp_path)
    assert from_env.data_dir == Path("/srv/env")
    assert from_env.describe_store().endswith("(data_dir from GATEWAY_DATA_DIR)")
    from_flag = from_env.with_overrides(data_dir="/srv/flag")
    assert from_flag.data_dir == Path("/srv/flag")
    assert from_flag.describe_store() == (
        "sqlite:////srv/flag/gateway.sqlite3 (data_dir from --data-dir)"
    )
    other = tmp_path / "other.toml"
    other.write_text('database_url = "postgresql+psycopg://gw:secret@db/gw"\n')
    named = load_settings(environ={"GATEWAY_CONFIG": str(other)}, cwd=tmp_path)
    assert named.data_dir == Path("var")  # GATEWAY_CONFIG replaces ./gateway.toml
    assert "secret" not in named.describe_store() and "gw:***@db/gw" in named.describe_store()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nbnd = 1\n", "unknown key 'server.bnd'"),
        ("[serve]\nbind = '1'\n", "unknown section 'serve'"),
        ("data_dri = 'x'\n", "unknown key 'data_dri'"),
        ("server = 1\n", "'server' is a section"),
        ("[server]\nworkers = 'two'\n", "server.workers = 'two' is not a valid int"),
        ("[server]\nrun_worker = 'maybe'\n", "server.run_worker = 'maybe' is not a valid bool"),
        ("[server\n", "not valid TOML"),
    ],
)
def test_a_file_with_an_unknown_key_or_a_wrong_value_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    conf = tmp_path / "gateway.toml"
    conf.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_settings(environ={}, cwd=tmp_path)


def test_a_missing_gateway_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_CONFIG=.*no such file"):
        load_settings(environ={"GATEWAY_CONFIG": str(tmp_path / "nope.toml")}, cwd=tmp_path)


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_SERVER_WORKERS: server.workers = 'x'"):
        load_settings(environ={"GATEWAY_SERVER_WORKERS": "x"}, cwd=tmp_path)


def test_shipped_conf_lists_every_key_with_its_default() -> None:
    table = tomllib.loads(DEFAULT_CONFIG_FILE.read_text(encoding="utf-8"))
    defaults = Settings()

    def check(obj: object, section: dict, prefix: str) -> None:
        names = {f.name for f in fields(obj)} - {"sources", "config_file", "xsd_dir", "wsdl_dir"}  # type: ignore[arg-type]
        assert set(section) == names, prefix
        for name in names:
            value = getattr(obj, name)
            if hasattr(value, "__dataclass_fields__"):
                check(value, section[name], f"{prefix}{name}.")
            else:
                shown = str(value) if isinstance(value, Path) else value
                assert section[name] == shown, f"{prefix}{name}"

    check(defaults, table, "")


@pytest.mark.parametrize("interval", ["0", "-1"])
def test_a_switch_interval_that_is_not_positive_is_refused_with_its_origin(
    tmp_path: Path, interval: str
) -> None:
    with pytest.raises(
        ConfigError,
        match=r"GATEWAY_SERVER_SWITCH_INTERVAL_MS: server.switch_interval_ms = .* more than 0",
    ):
        load_settings(environ={"GATEWAY_SERVER_SWITCH_INTERVAL_MS": interval}, cwd=tmp_path)


def test_serve_takes_a_positive_switch_interval(tmp_path: Path) -> None:
    from gateway.server import GatewayServer

    settings = load_settings(
        environ={"GATEWAY_SERVER_SWITCH_INTERVAL_MS": "0.5", "GATEWAY_DATA_DIR": str(tmp_path)},
        cwd=tmp_path,
    )
    server = GatewayServer(settings, run_worker=False)
    assert server.cfg.workers == settings.server.workers
    assert settings.server.switch_interval_ms == 0.5


@pytest.mark.parametrize("nice", ["-1", "20"])
def test_a_worker_nice_outside_0_to_19_is_refused_with_its_origin(
    tmp_path: Path, nice: str
) -> None:
    with pytest.raises(ConfigError, match=r"GATEWAY_WORKER_NICE: worker.nice = .* 0-19"):
        load_settings(environ={"GATEWAY_WORKER_NICE": nice}, cwd=tmp_path)
    assert load_settings(environ={"GATEWAY_WORKER_NICE": "19"}, cwd=tmp_path).worker.nice == 19
