"""``scripts/bench`` runs end to end and prints its figures (tiny runs: the figures themselves
are for people, never asserted). Guards the benchmark against rotting while the code moves."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stand import PG_ADMIN_URL, admin_engine

ROOT = Path(__file__).resolve().parents[2]
SMALL = ["--accept-processes", "1", "--queue-workers", "1", "--concurrency", "2"]


def _bench(*args: str) -> str:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), *SMALL, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout


def _figure(table: str, name: str) -> list[str]:
    row = next(line for line in table.splitlines() if line.startswith(f"| {name} |"))
    return [cell.strip() for cell in row.strip("|").split("|")[1:]]


def _positive(cell: str) -> float:
    value = float(re.match(r"[\d.]+", cell).group())  # type: ignore[union-attr]
    assert value > 0, cell
    return value


#: The keys of ``--json`` (issue 12): programs compare runs by them.
STORE_KEYS = {
    "accepted_packets_per_s",
    "accepted_items_per_s",
    "accept_only_packets_per_s",
    "accept_only_cpu_ms_per_packet",
    "processed_items_per_s",
    "worker_cpu_ms_per_item",
    "getstate_p50_ms",
    "getstate_p99_ms",
    "accept_cpu_ms_per_packet",
    "inproc_accept_ms",
    "inproc_accept_mean_ms",
    "inproc_accept_cold_ms",
    "inproc_floor_ms",
    "inproc_floor_durable_ms",
    "rss_mb_accepting_start",
    "rss_mb_accepting_end",
}


def test_house_bench_prints_every_figure_for_sqlite_and_postgresql(tmp_path: Path) -> None:
    admin_engine().dispose()  # skips, with the reason, when PostgreSQL is unreachable
    figures = tmp_path / "figures.json"
    out = _bench(
        "--packets", "4", "--premises", "3", "--database-url", PG_ADMIN_URL,
        "--json", str(figures), "--profile",
    )  # fmt: skip
    assert "3 flats + house + 4 entrances = 8 items" in out
    assert re.search(r"floor \(parse \+ XSD \+ exc-c14n \+ SHA-256 \+ RSA verify\): [\d.]+ ms", out)
    assert re.search(r"durable floor \(floor \+ append and fsync [^)]*\): [\d.]+ ms", out)
    assert "| figure | SQLite | PostgreSQL |" in out
    for name in (
        "accepted packets/s",
        "processed items/s (end to end)",
        "accept only: packets/s",
    ):
        assert [_positive(c) for c in _figure(out, name)]
    for statistic in ("median", "mean"):
        row = f"in-process accept, {statistic} ms/packet (x floor, x durable floor)"
        in_process = _figure(out, row)
        assert all(re.fullmatch(r"[\d.]+ \([\d.]+x, [\d.]+x\)", c) for c in in_process), row
    floors = _figure(out, "floor / durable floor timed between the in-process accepts, ms")
    assert all(re.fullmatch(r"[\d.]+ / [\d.]+", c) for c in floors), floors
    assert [_positive(c) for c in _figure(out, "7 packet + job + counts (statement)")]
    written = json.loads(figures.read_text())
    assert written["floor_ms"] > 0 and written["floor_durable_ms"] > written["floor_ms"]
    assert set(written["stores"]) == {"sqlite", "postgresql"}
    for figures_of_store in written["stores"].values():
        assert set(figures_of_store) >= STORE_KEYS
        assert figures_of_store["inproc_floor_durable_ms"] > figures_of_store["inproc_floor_ms"]
        # getState may not have been sampled in so short a run (then null)
        measured = STORE_KEYS - {"getstate_p50_ms", "getstate_p99_ms"}
        # CPU read from /proc counts in clock ticks (10 ms): a 4-packet phase may see none
        ticks = {k for k in measured if "cpu" in k}
        assert {k: v for k in measured - ticks if not (v := figures_of_store[k]) > 0} == {}
        assert {k: v for k in ticks if not (v := figures_of_store[k]) >= 0} == {}


def test_readings_bench_seeds_devices_and_counts_readings() -> None:
    out = _bench("--workload", "readings", "--packets", "3", "--devices", "5")
    assert "importMeteringDeviceValues, 5 devices = 5 readings" in out
    (accepted,) = _figure(out, "accepted items/s")
    (processed,) = _figure(out, "processed items/s (end to end)")
    assert _positive(accepted) and _positive(processed)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
