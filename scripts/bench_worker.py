"""The worker's CPU per item, in process: a queue of accepted packets processed by one Worker.

    .venv/bin/python scripts/bench_worker.py [--workload readings|house] [--packets 20]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--profile FILE]

Builds and signs the bench's packets (scripts/bench.py workloads), accepts them in process,
then runs ``Worker.run_once`` over the queue and prints the worker's CPU (time.process_time,
this process only) per packet and per item; on a PostgreSQL server on this host, also the
CPU of the database's backends per packet (/proc/<pid>/schedstat).
``--profile FILE`` writes a cProfile of the processing to FILE.
"""

from __future__ import annotations

import argparse
import cProfile
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench  # noqa: E402

from gateway.client import envelope  # noqa: E402
from signing import sign  # noqa: E402
from signing.pki import init_ca, issue  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workload", choices=sorted(bench.WORKLOADS), default="readings")
    parser.add_argument("--packets", type=int, default=20)
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--premises", type=int, default=100)
    parser.add_argument("--database-url")
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after the warm-up")
    parser.add_argument(
        "--phases", action="store_true", help="also print the CPU of each step, ms per packet"
    )
    args = parser.parse_args()
    workload = (
        bench.ReadingsWorkload(args.devices)
        if args.workload == "readings"
        else bench.HouseWorkload(args.premises)
    )
    work = Path(tempfile.mkdtemp(prefix="hcs-wbench-"))
    init_ca(work / "ca", algorithm="rsa")
    key, cert = issue(work / "ca", bench.ORG, work / "org", key_type="rsa")
    pki = bench.Pki(
        key, cert, (work / "ca" / "ca.pem").read_text(), (work / "org" / "cert.pem").read_text()
    )
    packets = []
    for _ in range(args.packets + 2):
        element = workload.build()
        env = envelope(element, bench.ORG)
        sign(element, key, cert)
        packets.append(etree.tostring(env, xml_declaration=True, encoding="UTF-8"))

    if args.database_url:
        with bench._scratch_postgres(args.database_url) as scratch:
            run(scratch, workload, packets, pki, args)
    else:
        run(f"sqlite:///{work / 'gateway.sqlite3'}", workload, packets, pki, args)


def run(url: str, workload, packets, pki, args) -> None:  # type: ignore[no-untyped-def]
    from gateway.accept import AcceptPipeline, HttpRequest
    from gateway.runtime import Runtime
    from gateway.worker import Worker

    bench.prepare_store(url, pki)
    workload.prepare(url)
    rt = Runtime(bench.load_settings().with_overrides(database_url=url), create_tables=False)
    pipeline = AcceptPipeline(rt)
    for raw in packets:
        reply = pipeline.handle(
            HttpRequest(workload.service_path, f'"urn:{workload.operation}"', None, raw)
        )
        assert reply.status == 200, reply.body[:500]
    worker = Worker(rt, "bench")
    # warm up on two packets (caches, prepared statements)
    worker.run_once()
    worker.run_once()
    if args.gc_freeze:
        import gc

        gc.collect()
        gc.freeze()
    phases = _Phases() if args.phases else None
    backends = _Backends(rt) if url.startswith("postgresql") else None
    cpu: list[float] = []
    profiler = cProfile.Profile() if args.profile else None
    for _ in range(args.packets):
        if profiler:
            profiler.enable()
        start = time.process_time()
        assert worker.run_once()
        cpu.append(time.process_time() - start)
        if profiler:
            profiler.disable()
    server_ms = backends.cpu_ms() / args.packets if backends is not None else None
    if profiler:
        profiler.dump_stats(str(args.profile))
    with rt.session.begin() as session:
        from sqlalchemy import text

        states = session.execute(text("SELECT state, count(*) FROM packets GROUP BY state")).all()
        errors = session.execute(text("SELECT sum(result_errors) FROM packets")).scalar()
        sample = session.execute(text("SELECT result_xml FROM packets LIMIT 1")).scalar()
        if errors:
            print((sample or "")[:600])
    rt.close()
    if phases is not None:
        phases.close()
        for label, total in phases.totals.items():
            print(f"  {label:<28} {total * 1000 / args.packets:8.2f} ms/packet")
    med = statistics.median(cpu) * 1000
    print(
        f"{url.split(':')[0]}: {args.packets} packets of {workload.items} items: worker CPU "
        f"median {med:.2f} ms/packet, {med * 1000 / workload.items:.1f} us/item "
        f"(mean {statistics.mean(cpu) * 1000:.2f}); packets {dict(states)} item errors {errors}"
    )
    if server_ms is not None:
        print(f"PostgreSQL backends' CPU (this database's, from /proc): {server_ms:.2f} ms/packet")


class _Backends:
    """The CPU the server's backends of the bench's database spend from now on, read from
    /proc/<pid>/schedstat (nanoseconds): a server on this host only, else nothing."""

    def __init__(self, rt) -> None:  # type: ignore[no-untyped-def]
        from sqlalchemy import text

        with rt.session.begin() as session:
            self.pids = list(
                session.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
                ).scalars()
            )
        self.start = self._total()

    def _total(self) -> float | None:
        try:
            return (
                sum(int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) for pid in self.pids)
                / 1e6
            )
        except (OSError, ValueError):
            return None

    def cpu_ms(self) -> float:
        end = self._total()
        return end - self.start if end is not None and self.start is not None else float("nan")


class _Phases:
    """CPU of the processing steps, by wrapping the functions that do them (bench only)."""

    def __init__(self) -> None:
        from gateway import state, worker
        from gateway.imports import answer, pipeline
        from persistence import queue

        self.totals: dict[str, float] = {}
        self._undo: list[tuple[object, str, object]] = []
        self._wrap(queue, "claim", "claim (commit)")
        self._wrap(worker.Worker, "_process", "job, claim excluded")
        from gateway.handlers.device_metering import import_values
        from gateway.handlers.house_management import import_house_uo

        for module in (import_values, import_house_uo):
            self._wrap(module, "run_import", "  run_import (read = the rest)")
        self._wrap(pipeline, "NsiRefs", "    nsi refs")
        self._wrap(pipeline, "_decide_all", "    prefetch + decide")
        for imp in (import_values.ImportValues, type(import_house_uo.IMPORT)):
            self._wrap(imp, "prefetch", "      prefetch")
        self._wrap(pipeline, "write", "    write")
        self._wrap(answer.Answer, "build", "    answer")
        self._wrap(worker, "pack_results", "  pack results")
        self._wrap(worker, "parse_xml", "  parse")
        self._wrap(queue, "finish", "  finish")
        del state

    def _wrap(self, owner: object, name: str, label: str) -> None:
        original = getattr(owner, name, None)
        if original is None:
            return
        totals = self.totals
        totals.setdefault(label, 0.0)

        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                totals[label] += time.process_time() - start

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def close(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)


if __name__ == "__main__":
    main()
