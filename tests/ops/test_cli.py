"""``gateway packets`` on packets that went wrong for real through the running gateway."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

from lxml import etree

from tests.e2e.metering_data import water_reading
from tests.ops.conftest import TODAY, OpsStand

BASE = "http://dom.gosuslugi.ru/schema/integration/base/"


def _show(stand: OpsStand, guid: str) -> dict:
    return json.loads(stand.cli("packets", "show", guid, "--json").stdout)


def test_list_filters_failed_packets_and_packets_with_item_errors(ops_stand: OpsStand) -> None:
    failed = json.loads(ops_stand.cli("packets", "list", "--state", "failed", "--json").stdout)
    assert {r["message_guid"] for r in failed} == set(ops_stand.failed)
    assert {(r["state"], r["error_code"], r["operation"]) for r in failed} == {
        ("failed", "EXP001000", "exportMeteringDeviceData")
    }
    with_errors = json.loads(
        ops_stand.cli("packets", "list", "--with-item-errors", "--since", "1h", "--json").stdout
    )
    row = next(r for r in with_errors if r["message_guid"] == ops_stand.with_item_errors)
    assert (row["state"], row["items"], row["errors"]) == ("processed", 2, 1)
    assert ops_stand.processed not in {r["message_guid"] for r in with_errors}

    table = ops_stand.cli("packets", "list", "--org", ops_stand.org.guid, "--limit", "100").stdout
    assert table.splitlines()[0].startswith("store sqlite:///")
    lines = {line.split()[2]: line for line in table.splitlines()[2:-1]}
    assert "failed" in lines[ops_stand.failed[0]] and "EXP001000" in lines[ops_stand.failed[0]]
    assert "1 err" in lines[ops_stand.with_item_errors]
    nobody = ops_stand.cli(
        "packets", "list", "--org", "0a1b2c3d-0000-4000-8000-0000000000ee", "--json"
    )
    assert json.loads(nobody.stdout) == []
    bad = ops_stand.cli("packets", "list", "--since", "last tuesday", check=False)
    assert bad.returncode == 2 and "not a time" in bad.stderr


def test_show_has_signer_history_with_the_attempt_error_and_items(ops_stand: OpsStand) -> None:
    text = ops_stand.cli("packets", "show", ops_stand.failed[0]).stdout
    assert f"CN={ops_stand.org.guid}" in text  # signer certificate subject
    assert "attempt 1 by" in text
    assert "EXP001000 KeyError" in text and "retired-kind" in text
    assert [line.split()[2] for line in text.split("state history")[1].splitlines()[1:4]] == [
        "received",
        "attempt",
        "failed",
    ]
    detail = _show(ops_stand, ops_stand.with_item_errors)
    assert detail["state"] == "processed" and detail["signer_subject"]
    assert [(i["error_code"] or "ok") for i in detail["items"]] == ["ok", "HCS002003"]
    assert "in the future" in detail["items"][1]["description"]
    assert detail["items"][0]["guid"]
    assert detail["job"]["state"] == "done"


def test_show_raw_is_the_packet_as_received_and_result_the_getstate_answer(
    ops_stand: OpsStand,
) -> None:
    raw = ops_stand.cli_bytes("packets", "show", ops_stand.processed, "--raw")
    assert raw == ops_stand.processed_bytes
    answer = etree.fromstring(
        ops_stand.cli("packets", "show", ops_stand.processed, "--result").stdout.encode()
    )
    assert answer.tag.endswith("getStateResult")
    assert answer.findtext(f"{{{BASE}}}RequestState") == "3"
    assert answer.findtext(f"{{{BASE}}}MessageGUID") == ops_stand.processed
    refused = ops_stand.cli("packets", "show", ops_stand.rejected, "--result", check=False)
    assert refused.returncode == 3 and "AUT011005" in refused.stderr  # refused with a Fault
    rejected = _show(ops_stand, ops_stand.rejected)
    assert rejected["state"] == "rejected" and rejected["error_code"] == "AUT011005"
    assert "digest" in rejected["error_message"].lower()


def test_replay_of_a_repaired_failed_packet_processes_it_and_is_audited(
    ops_stand: OpsStand,
) -> None:
    guid = ops_stand.failed[0]
    out = ops_stand.cli("packets", "replay", guid, "--by", "alice")
    assert f"replayed {guid} (was failed)" in out.stdout
    ops_stand.wait_state(guid, "processed")
    detail = _show(ops_stand, guid)
    (replay,) = detail["replays"]
    assert (replay["by"], replay["forced"], replay["previous_state"]) == ("alice", False, "failed")
    assert replay["previous_error_code"] == "EXP001000"
    events = [e["event"] for e in detail["history"]]
    assert events == ["received", "attempt", "failed", "replay", "attempt", "processed"]
    assert detail["error_code"] is None and detail["job"]["attempts"] == 1
    assert ops_stand.cli("packets", "show", guid, "--result").stdout.count(
        "exportMeteringDeviceDataResult"
    )


def test_processed_packet_replays_only_with_force_and_per_item_idempotently(
    ops_stand: OpsStand,
) -> None:
    guid = ops_stand.with_item_errors
    refused = ops_stand.cli("packets", "replay", guid, check=False)
    assert refused.returncode == 1 and "--force" in refused.stderr
    before = _show(ops_stand, guid)["items"]
    ops_stand.cli("packets", "replay", guid, "--force")
    ops_stand.wait_state(guid, "processed")
    after = _show(ops_stand, guid)
    assert after["replays"][0]["forced"] is True
    assert after["replays"][0]["previous_items"] == before  # the replaced result is kept
    # the identical reading keeps its GUID, the refused one is refused again
    assert [(i["guid"], i["error_code"]) for i in after["items"]] == [
        (i["guid"], i["error_code"]) for i in before
    ]
    rows = ops_stand.sql("SELECT count(*) FROM readings WHERE device_guid = ?", ops_stand.water)
    assert rows == [(1,)]


def test_a_packet_the_database_refuses_fails_at_once_and_is_replayed_once_repaired(
    ops_stand: OpsStand,
) -> None:
    ops_stand.sql(
        "CREATE TRIGGER ops_freeze BEFORE INSERT ON readings "
        "BEGIN SELECT RAISE(ABORT, 'readings frozen for maintenance'); END"
    )
    since = datetime.now(UTC).isoformat()  # the bulk replay below takes this packet only
    try:
        guid = ops_stand.readings(water_reading(ops_stand.water, "120", TODAY - timedelta(days=1)))
        ops_stand.wait_state(guid, "failed")  # a constraint: permanent, never retried
        ops_stand.cli("packets", "replay", guid)
        ops_stand.wait_state(guid, "failed")
        detail = _show(ops_stand, guid)
        events = [e["event"] for e in detail["history"]]
        assert (events.count("failed"), events.count("attempt"), events.count("retry")) == (2, 2, 0)
        assert "[SQLITE_CONSTRAINT_TRIGGER]" in detail["job"]["last_error"]
        assert "readings frozen" in detail["job"]["last_error"]
        assert detail["replays"][0]["previous_state"] == "failed"
    finally:
        ops_stand.sql("DROP TRIGGER IF EXISTS ops_freeze")
    bulk = ops_stand.cli("packets", "replay", "--state", "failed", "--since", since)
    assert "1 of 1 packet(s) re-queued" in bulk.stdout
    assert f"replayed {guid} (was failed)" in bulk.stdout
    ops_stand.wait_state(guid, "processed")
    assert [e["event"] for e in _show(ops_stand, guid)["history"]].count("attempt") == 3


def test_purge_keeps_what_is_not_done_with(ops_stand: OpsStand, tmp_path) -> None:  # type: ignore[no-untyped-def]
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    source = sqlite3.connect(ops_stand.db_file)
    target = sqlite3.connect(copy_dir / "gateway.sqlite3")
    with target:
        source.backup(target)
    source.close()
    target.close()

    def purge(*args: str, **env: str) -> str:
        return ops_stand.cli("packets", "purge", *args, env=env, data_dir=copy_dir).stdout

    assert "purged 0 processed" in purge("--before", "2100-01-01")  # the policy: 180 days
    zero = {"GATEWAY_RETENTION_PROCESSED_DAYS": "0", "GATEWAY_RETENTION_REJECTED_DAYS": "0"}
    states_before = dict(
        sqlite3.connect(copy_dir / "gateway.sqlite3")
        .execute("SELECT state, count(*) FROM packets GROUP BY state")
        .fetchall()
    )
    dry = purge("--before", "2100-01-01", "--dry-run", **zero)
    assert f"would purge {states_before['processed']} processed" in dry
    purge("--before", "2100-01-01", **zero)
    conn = sqlite3.connect(copy_dir / "gateway.sqlite3")
    states_after = dict(
        conn.execute("SELECT state, count(*) FROM packets GROUP BY state").fetchall()
    )
    orphans = conn.execute(
        "SELECT count(*) FROM packet_events WHERE packet_id NOT IN (SELECT id FROM packets)"
    ).fetchone()
    conn.close()
    assert "processed" not in states_after and "rejected" not in states_after
    assert states_after == {
        s: n for s, n in states_before.items() if s not in ("processed", "rejected")
    }
    assert states_after.get("failed") == 1  # the one the console test replays
    assert orphans == (0,)
