"""The CLI as a newcomer meets it: one line that says what to do (never a traceback), the
documented exit codes, and every command on the same store as the server.

Each test runs the real ``gateway`` command as a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from gateway.services import build_registry
from tests.stand import ROOT, admin_engine, free_port, start_server, stop_server

EXAMPLES = ROOT / "examples" / "house-management"
# asked of the registry, never retyped (tests/paths.py on main does the same)
HM_PATH = build_registry().by_name("house-management").path


def run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """The real ``gateway`` command; its CompletedProcess, whatever the exit code."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
    )


def one_line_error(result, code: int = 2) -> str:  # type: ignore[no-untyped-def]
    """Assert the command failed with ``code`` and one line on stderr; return that line."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def send(stand, *args: str, org: str = "uo", password: str | None = None):  # type: ignore[no-untyped-def]
    o = stand["orgs"][org]
    return run(
        "client",
        "send",
        "--org",
        o.guid,
        "--key",
        str(o.key),
        "--cert",
        str(o.cert),
        *(
            ["--password", password if password is not None else o.password]
            if password != ""
            else []
        ),
        *args,
    )


def _house_file(tmp_path: Path) -> Path:
    packet = tmp_path / f"house-{uuid.uuid4().hex[:6]}.xml"
    packet.write_text(
        (EXAMPLES / "importHouseUOData.xml")
        .read_text(encoding="utf-8")
        .replace("5B4A9C2E-3F1D-4E8A-9B7C-1D2E3F4A5B6C", str(uuid.uuid4())),
        encoding="utf-8",
    )
    return packet


def _contract_file(tmp_path: Path) -> Path:
    """The example management contract, of a new house: always placed without an error."""
    packet = tmp_path / f"contract-{uuid.uuid4().hex[:6]}.xml"
    packet.write_text(
        (EXAMPLES / "importContractData.xml")
        .read_text(encoding="utf-8")
        .replace("5b4a9c2e-3f1d-4e8a-9b7c-1d2e3f4a5b6c", str(uuid.uuid4())),
        encoding="utf-8",
    )
    return packet


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("gateway, version ")


def test_url_without_a_scheme_says_what_to_give(stand, tmp_path: Path) -> None:
    host = stand["server"].url.removeprefix("http://")
    line = one_line_error(send(stand, "--url", host, str(_house_file(tmp_path))))
    assert f"http://{host}" in line


def test_closed_port_is_a_connection_error(stand, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(send(stand, "--url", url, str(_house_file(tmp_path))))
    assert "cannot connect" in line and url.removeprefix("http://") in line


def test_service_endpoint_works_as_the_url_too(stand, tmp_path: Path) -> None:
    endpoint = stand["server"].url + HM_PATH
    for url in (endpoint, endpoint + "?wsdl", stand["server"].url + "/"):
        result = send(stand, "--url", url, "--wait", str(_contract_file(tmp_path)))
        assert result.returncode == 0, result.stderr
        assert "RequestState>3<" in result.stdout


def test_a_url_that_is_not_the_gateway(stand, tmp_path: Path) -> None:
    url = stand["server"].url + "/somewhere/else"
    line = one_line_error(send(stand, "--url", url, str(_house_file(tmp_path))))
    assert "HTTP 404" in line and "base URL" in line


def test_a_file_that_is_not_xml_or_no_operation_element(stand, tmp_path: Path) -> None:
    url = stand["server"].url
    text = tmp_path / "notes.txt"
    text.write_text("house 1, flat 2\n")
    assert "not well-formed XML" in one_line_error(send(stand, "--url", url, str(text)))
    other = tmp_path / "other.xml"
    other.write_text('<a:importSomething xmlns:a="urn:x"/>')
    line = one_line_error(send(stand, "--url", url, str(other)))
    assert "no operation takes a <importSomething> element" in line


def test_client_state_with_an_unknown_service(stand) -> None:
    org = stand["orgs"]["uo"]
    result = run(
        "client",
        "state",
        "--url",
        stand["server"].url,
        "--org",
        org.guid,
        "--password",
        org.password,
        "--service",
        "house",
        str(uuid.uuid4()),
    )
    line = one_line_error(result)
    assert "unknown service 'house'" in line and "house-management" in line


def test_wait_without_a_password_refuses_before_sending(stand, tmp_path: Path) -> None:
    def count() -> int:
        listed = run(
            "packets",
            "list",
            "--org",
            stand["orgs"]["uo"].guid,
            "--limit",
            "1000",
            "--json",
            "--data-dir",
            str(stand["data_dir"]),
        )
        return len(json.loads(listed.stdout))

    before = count()
    line = one_line_error(
        send(stand, "--url", stand["server"].url, "--wait", str(_house_file(tmp_path)), password="")
    )
    assert "--password" in line and "nothing was sent" in line
    assert count() == before


def test_exit_codes_fault_and_item_errors(stand, tmp_path: Path) -> None:
    url = stand["server"].url
    refused = send(stand, "--url", url, str(_house_file(tmp_path)), password="wrong")
    assert refused.returncode == 3, refused.stderr
    assert refused.stderr.startswith("Fault AUT011000") and "Traceback" not in refused.stderr
    nothing = tmp_path / "export.xml"
    nothing.write_text(
        (EXAMPLES / "exportHouseData.xml")
        .read_text()
        .replace("5b4a9c2e-3f1d-4e8a-9b7c-1d2e3f4a5b6c", str(uuid.uuid4()))
    )
    found_nothing = send(stand, "--url", url, "--wait", str(nothing))
    assert found_nothing.returncode == 1, found_nothing.stderr
    assert "INT002012" in found_nothing.stdout


def test_orgs_add_refuses_an_existing_organisation_unless_rotating(tmp_path: Path) -> None:
    guid = str(uuid.uuid4())
    add = ("orgs", "add", "--guid", guid, "--name", "UK", "--role", "uo")
    first = run(*add, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    store = (
        f"store sqlite:///{tmp_path.resolve() / 'var' / 'gateway.sqlite3'} (data_dir from default)"
    )
    assert first.stdout.splitlines()[0] == store
    # no library chatter (alembic's "Context impl SQLiteImpl.") on a user's terminal
    assert first.stderr == ""
    line = one_line_error(run(*add, cwd=tmp_path))
    assert "registered already" in line and "--rotate-password" in line
    rotated = run(*add, "--rotate-password", cwd=tmp_path)
    assert rotated.returncode == 0
    password = lambda out: out.split("HTTP password: ")[1].strip()  # noqa: E731
    assert password(rotated.stdout) != password(first.stdout)


def test_every_command_finds_the_store_the_same_way(tmp_path: Path) -> None:
    guid = str(uuid.uuid4())
    work = tmp_path / "work"
    work.mkdir()
    (work / "gateway.toml").write_text('data_dir = "store-from-file"\n')
    added = run("orgs", "add", "--guid", guid, "--name", "UK", "--role", "uo", cwd=work)
    assert "store-from-file" in added.stdout and "gateway.toml" in added.stdout
    assert (work / "store-from-file" / "gateway.sqlite3").exists()
    assert guid in run("orgs", "list", cwd=work).stdout
    listed = run("packets", "list", cwd=work)
    assert listed.stdout.startswith(f"store sqlite:///{work / 'store-from-file'}")
    # the environment beats the file, a flag beats the environment
    env = {"GATEWAY_DATA_DIR": str(tmp_path / "env-store")}
    assert guid not in run("orgs", "list", cwd=work, env=env).stdout
    assert "GATEWAY_DATA_DIR" in run("packets", "list", cwd=work, env=env).stdout
    flag = run("orgs", "list", "--data-dir", str(work / "store-from-file"), cwd=work, env=env)
    assert guid in flag.stdout
    (work / "gateway.toml").write_text('data_dir = "x"\n[server]\nbnd = "1"\n')
    line = one_line_error(run("orgs", "list", cwd=work))
    assert "unknown key 'server.bnd'" in line and "gateway.toml" in line


@pytest.mark.postgres
def test_a_postgresql_database_that_does_not_exist_fails_at_once_with_its_name(
    tmp_path: Path,
) -> None:
    admin_engine().dispose()  # skips when PostgreSQL is unreachable
    name = f"hcs_gateway_missing_{uuid.uuid4().hex[:8]}"
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    line = one_line_error(run("orgs", "list", "--database-url", url, cwd=tmp_path))
    assert f'database "{name}" does not exist' in line and "createdb" in line
    worker = run("worker", "--database-url", url, cwd=tmp_path)  # does not wait either
    assert f'database "{name}" does not exist' in one_line_error(worker)
    # serve logs its start-up first, then stops at once (it does not wait for the database)
    served = run("serve", "--bind", f"127.0.0.1:{free_port()}", "--database-url", url, cwd=tmp_path)
    assert served.returncode == 2 and "Traceback" not in served.stderr
    last = served.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and f'database "{name}" does not exist' in last


def test_demo_says_when_the_server_uses_another_store(stand, tmp_path: Path) -> None:
    result = run(
        "demo",
        "--url",
        stand["server"].url,
        "--houses",
        "1",
        "--flats",
        "1",
        "--data-dir",
        str(tmp_path / "another"),
    )
    line = one_line_error(result)
    assert "does not know the organisation" in line and "another store" in line
    assert str(tmp_path / "another") in line and "--data-dir" in line


def test_server_log_lines_are_all_json_gunicorn_ones_too(tmp_path: Path) -> None:
    server = start_server(tmp_path, {"GATEWAY_LOGGING_FORMAT": "json"})
    try:
        import requests

        assert requests.get(server.url + HM_PATH + "?wsdl", timeout=10).status_code == 200
    finally:
        stop_server(server)
    lines = [line for line in server.log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line: a JSON object
    loggers = {r["logger"] for r in records}
    assert {"gunicorn.error", "gunicorn.access"} <= loggers
    access = next(r for r in records if r.get("path") == HM_PATH)
    assert access["logger"] == "gunicorn.access"
    assert access["status"] == 200 and access["path"] == HM_PATH and access["query"] == "wsdl"


def test_config_init_and_show_say_where_each_value_comes_from(tmp_path: Path) -> None:
    assert run("config", "init", cwd=tmp_path).returncode == 0
    assert "exists" in one_line_error(run("config", "init", cwd=tmp_path))
    conf = tmp_path / "gateway.toml"
    conf.write_text(conf.read_text().replace("workers = 2", "workers = 5"))
    shown = run(
        "config",
        "show",
        "--database-url",
        "postgresql+psycopg://gw:secret@db/gw",
        cwd=tmp_path,
        env={"GATEWAY_WORKER_CONCURRENCY": "3"},
    )
    assert shown.returncode == 0, shown.stderr
    rows = {line.split()[0]: line.split() for line in shown.stdout.splitlines()[2:]}
    assert rows["server.workers"][1:] == ["'5'", str(conf.resolve())]
    assert rows["worker.concurrency"][1:] == ["'3'", "GATEWAY_WORKER_CONCURRENCY"]
    assert rows["database_url"][2] == "--database-url" and "gw:secret" not in shown.stdout
