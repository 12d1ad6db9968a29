"""Hostile requests and the server's memory, for tests and for the figures in docs/security.md.

python -m tests.security.probe memory URL   # bombs against a running `gateway serve`
python -m tests.security.probe slow URL      # 200 trickling connections + normal calls
"""

from __future__ import annotations

import argparse
import contextlib
import select
import socket
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

HM_PATH = "/ext-bus-home-management-service/services/HomeManagementAsync"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
BASE = "http://dom.gosuslugi.ru/schema/integration/base/"
HM = "http://dom.gosuslugi.ru/schema/integration/house-management/"


def envelope(body: bytes, org_guid: str = "0a1b2c3d-0000-4000-8000-000000000001") -> bytes:
    return (
        (
            f'<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP}" xmlns:base="{BASE}"'
            f' xmlns:hm="{HM}"><s:Header><base:RequestHeader><base:Date>2026-01-01T00:00:00Z'
            f"</base:Date><base:MessageGUID>{uuid.uuid4()}</base:MessageGUID>"
            f"<base:orgPPAGUID>{org_guid}</base:orgPPAGUID></base:RequestHeader></s:Header>"
            '<s:Body><hm:importHouseUORequest Id="x">'
        ).encode()
        + body
        + b"</hm:importHouseUORequest></s:Body></s:Envelope>"
    )


#: Bodies within the 10 MB limit built to cost memory while parsed.
BOMBS: dict[str, bytes] = {
    "1M empty elements (4 MB)": envelope(b"<a/>" * 1_000_000),
    "2.4M empty elements (9.6 MB)": envelope(b"<a/>" * 2_400_000),
    "nested 10 000 deep": envelope(b"<a>" * 10_000 + b"</a>" * 10_000),
    "one element, 900k attributes": envelope(
        b"<a " + b" ".join(b"a%d=''" % n for n in range(900_000)) + b"/>"
    ),
    "800k attributes on 100k elements": envelope(
        b"".join(b"<a b='' c='' d='' e='' f='' g='' h='' i=''/>" for _ in range(100_000))
    ),
    "one 9 MB text value": envelope(b"<a>" + b"x" * 9_000_000 + b"</a>"),
    "UTF-16 1M elements": (
        '<?xml version="1.0" encoding="UTF-16"?>' + "<a>" + "<b/>" * 1_000_000 + "</a>"
    ).encode("utf-16"),
}


def post(url: str, body: bytes, timeout: float = 120) -> tuple[int, str, float]:
    """(HTTP status, ErrorCode or '', seconds)."""
    started = time.perf_counter()
    response = requests.post(
        url + HM_PATH,
        data=body,
        headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "urn:importHouseUOData"},
        timeout=timeout,
    )
    elapsed = time.perf_counter() - started
    text = response.text
    code = text.split("<base:ErrorCode>", 1)[1].split("<", 1)[0] if "ErrorCode>" in text else ""
    return response.status_code, code, elapsed


# --- process memory (Linux /proc) -----------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(p) for p in text)
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    pids = [pid]
    for child in children(pid):
        pids.extend(tree(child))
    return pids


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_mb(pids: list[int]) -> float:
    return sum(_status_kb(p, "VmRSS") for p in pids) / 1024


def reset_peaks(pids: list[int]) -> None:
    for pid in pids:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def peak_mb(pid: int) -> float:
    return _status_kb(pid, "VmHWM") / 1024


def memory(url: str, server_pid: int, burst: int = 8) -> None:
    pids = tree(server_pid)
    workers = [p for p in pids if p != server_pid]
    print(f"server {server_pid}, workers {workers}; RSS {rss_mb(pids):.0f} MB")
    for name, body in BOMBS.items():
        before = {p: _status_kb(p, "VmRSS") / 1024 for p in workers}
        reset_peaks(workers)
        status, code, seconds = post(url, body)
        cost = max(peak_mb(p) - before[p] for p in workers)
        print(
            f"{name:36} {len(body) / 1e6:5.1f} MB  HTTP {status} {code:10} "
            f"{seconds * 1000:7.0f} ms  peak +{cost:.0f} MB"
        )
    before = rss_mb(pids)
    bodies = [BOMBS["1M empty elements (4 MB)"]] * burst
    with ThreadPoolExecutor(burst) as pool:
        results = list(pool.map(lambda b: post(url, b), bodies))
    time.sleep(2)
    after = rss_mb(pids)
    print(
        f"burst of {burst}: {[r[1] for r in results]}; RSS {before:.0f} MB -> {after:.0f} MB "
        f"({(after - before) / before * 100:+.1f} %)"
    )


def _trickler(url: str, body: bool) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    head = f"POST {HM_PATH} HTTP/1.1\r\nHost: x\r\n".encode()
    if body:
        head += b"Content-Type: text/xml\r\nContent-Length: 100000\r\n\r\n"
    sock.sendall(head)
    return sock


def _is_closed(sock: socket.socket) -> bool:
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(4096) == b""
    except OSError:
        return True


def slow(url: str, org_guid: str, password: str, connections: int = 200) -> None:
    """``connections`` clients sending one byte every 2 s (half in their headers, half in
    their body) while a normal client calls getState five times."""
    socks = [_trickler(url, body=n % 2 == 1) for n in range(connections)]
    opened = time.monotonic()
    body = envelope(b"", org_guid)  # only its header is used: a getState body follows
    get_state = body.replace(
        b'<hm:importHouseUORequest Id="x"></hm:importHouseUORequest>',
        f"<base:getStateRequest><base:MessageGUID>{uuid.uuid4()}</base:MessageGUID>"
        "</base:getStateRequest>".encode(),
    )
    times: list[float] = []
    status, timeouts = 0, 0
    for _ in range(5):
        started = time.perf_counter()
        try:
            status = requests.post(
                url + HM_PATH,
                data=get_state,
                headers={"Content-Type": "text/xml", "SOAPAction": "urn:getState"},
                auth=(org_guid, password),
                timeout=15,
            ).status_code
            times.append(time.perf_counter() - started)
        except requests.RequestException:
            timeouts += 1
        for sock in socks:
            if not _is_closed(sock):
                with contextlib.suppress(OSError):
                    sock.send(b"a")
        time.sleep(0.4)
    open_after = sum(not _is_closed(s) for s in socks)
    answered = f"worst {max(times) * 1000:.0f} ms" if times else "none answered"
    print(
        f"{connections} trickling connections; getState: {len(times)}/5 answered (HTTP "
        f"{status}), {timeouts} timed out after 15 s, {answered}; {open_after} still open"
    )
    while time.monotonic() - opened < 120 and not all(_is_closed(s) for s in socks):
        for sock in socks:
            if not _is_closed(sock):
                with contextlib.suppress(OSError):
                    sock.send(b"a")
        time.sleep(2)
    closed = sum(_is_closed(s) for s in socks)
    print(f"dropped by the server: {closed}/{connections} after {time.monotonic() - opened:.0f} s")
    for sock in socks:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["memory", "slow"])
    parser.add_argument("url")
    parser.add_argument("--pid", type=int, help="memory: the gateway serve process")
    parser.add_argument("--org", help="slow: orgPPAGUID with HTTP Basic")
    parser.add_argument("--password", help="slow: its HTTP password")
    args = parser.parse_args()
    if args.what == "memory":
        memory(args.url.rstrip("/"), args.pid)
    else:
        slow(args.url.rstrip("/"), args.org, args.password)


if __name__ == "__main__":
    main()
