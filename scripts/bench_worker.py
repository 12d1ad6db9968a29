"""The worker's CPU per item, in process: a queue of accepted packets processed by one Worker.

    .venv/bin/python scripts/bench_worker.py [--workload readings|house] [--packets 20]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--profile FILE]

Builds and signs the bench's packets (scripts/bench.py workloads), accepts them in process,
then runs ``Worker.run_once`` over the queue and prints the worker's CPU (time.process_time,
this process only: the database server's CPU is not counted) per packet and per item.
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
    med = statistics.median(cpu) * 1000
    print(
        f"{url.split(':')[0]}: {args.packets} packets of {workload.items} items: worker CPU "
        f"median {med:.2f} ms/packet, {med * 1000 / workload.items:.1f} us/item "
        f"(mean {statistics.mean(cpu) * 1000:.2f}); packets {dict(states)} item errors {errors}"
    )


if __name__ == "__main__":
    main()
