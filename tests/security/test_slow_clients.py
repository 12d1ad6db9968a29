"""Issue 14 part 2: slow clients cannot starve the server.

200 connections that trickle their headers or their body hold no thread: a normal client's
getState is answered while they are open, and each of them is dropped once its headers are
late or its body falls under the minimum rate.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import time
import uuid

import pytest

from gateway.client import ClientError, GatewayClient
from gateway.services import build_registry
from tests.stand import side_server

SLOW = 200
BODY_LENGTH = 2000


def _open_slow(url: str, *, body: bool) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    if body:  # complete headers, then a body that never comes at a usable rate
        sock.sendall(
            b"POST /ext-bus-home-management-service/services/HomeManagementAsync HTTP/1.1\r\n"
            b"Host: x\r\nContent-Type: text/xml\r\nContent-Length: "
            + str(BODY_LENGTH).encode()
            + b"\r\n\r\n<"
        )
    else:  # headers that never end
        sock.sendall(
            b"POST /ext-bus-home-management-service/services/HomeManagementAsync HTTP/1.1\r\n"
        )
    return sock


def _closed(sock: socket.socket) -> bool:
    """True once the server has closed the connection (EOF or reset)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(4096) == b""
    except OSError:
        return True


def _trickle(slow: list[socket.socket]) -> None:
    """One more byte on every connection still open."""
    for sock in slow:
        try:
            if not _closed(sock):
                sock.send(b"a")
        except OSError:
            pass


@pytest.fixture(scope="module")
def slow_server(stand, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with side_server(
        stand,
        tmp_path_factory.mktemp("slow") / "data",
        workers=1,
        server_threads="2",
        server_header_timeout_seconds="3",
        server_body_timeout_seconds="3",
        server_body_min_rate_bytes="100",
    ) as server:
        yield server


def test_a_normal_client_is_served_while_200_slow_connections_are_open(stand, slow_server) -> None:  # type: ignore[no-untyped-def]
    org = stand["orgs"]["uo"]
    service = build_registry().service_for_path(
        "/ext-bus-home-management-service/services/HomeManagementAsync"
    )
    assert service is not None
    client = GatewayClient(slow_server.url, org.guid, org.password, timeout=30)
    slow = [_open_slow(slow_server.url, body=n % 2 == 0) for n in range(SLOW)]
    try:
        for _ in range(3):  # every slow connection is mid-request now
            _trickle(slow)
            time.sleep(0.3)
        open_now = sum(not _closed(s) for s in slow)
        answers = []
        for _ in range(5):
            try:
                client.state(service, str(uuid.uuid4()))
            except ClientError as fault:  # an unknown MessageGUID: a Fault, i.e. an answer
                answers.append(fault.code)
        still_open = sum(not _closed(s) for s in slow)
        assert answers == ["INT002013"] * 5
        assert open_now == SLOW
        assert still_open > SLOW // 2, "most slow connections must be open while it is served"

        # ... and each slow connection is dropped once it is late (bounded wait, 60 s)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(_closed(s) for s in slow):
            _trickle(slow)
            time.sleep(0.5)
        assert sum(_closed(s) for s in slow) == SLOW
    finally:
        for sock in slow:
            sock.close()


def test_a_request_within_the_limits_is_served_normally(stand, slow_server) -> None:  # type: ignore[no-untyped-def]
    """A body that is slow but above the minimum rate is read and answered."""
    host, port = slow_server.url.removeprefix("http://").split(":")
    body = b"<x/>" * 100
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /ext-bus-home-management-service/services/HomeManagementAsync HTTP/1.1\r\n"
            b"Host: x\r\nContent-Type: text/xml\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
        )
        for n in range(0, len(body), 100):  # 100 bytes every 0.2 s: well above the minimum
            sock.sendall(body[n : n + 100])
            time.sleep(0.2)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 "), answer[:100]
    assert b"FMT001300" in answer or b"Fault" in answer


def test_headers_never_finished_are_dropped(slow_server) -> None:  # type: ignore[no-untyped-def]
    sock = _open_slow(slow_server.url, body=False)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _closed(sock):
            _trickle([sock])
            time.sleep(0.5)
        assert _closed(sock)
    finally:
        sock.close()


def test_expect_100_continue_is_answered_before_the_body(slow_server) -> None:  # type: ignore[no-untyped-def]
    """curl and .NET ask before sending a large body; the answer comes at once."""
    host, port = slow_server.url.removeprefix("http://").split(":")
    body = b"<x/>"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /ext-bus-home-management-service/services/HomeManagementAsync HTTP/1.1\r\n"
            b"Host: x\r\nContent-Type: text/xml\r\nExpect: 100-continue\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
        )
        interim = sock.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 "), interim
        sock.sendall(body)
        answer = b""
        while b"</soap:Envelope>" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 500 "), answer[:100]
    assert b"FMT001301" in answer or b"FMT001300" in answer


def _head(length: int) -> bytes:
    return (
        b"POST /ext-bus-home-management-service/services/HomeManagementAsync HTTP/1.1\r\n"
        b"Host: x\r\nContent-Type: text/xml\r\nContent-Length: "
        + str(length).encode()
        + b"\r\n\r\n"
    )


def test_bodies_being_received_do_not_add_up_past_the_process_cap(stand, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """1 MB for all bodies in receipt: a second large slow body is dropped, the first is not."""
    with side_server(stand, tmp_path / "data", server_max_buffered_bytes="1000000") as server:
        host, port = server.url.removeprefix("http://").split(":")
        first = socket.create_connection((host, int(port)), timeout=30)
        second = socket.create_connection((host, int(port)), timeout=30)
        try:
            first.sendall(_head(900_000) + b"a" * 800_000)
            time.sleep(1)  # the server holds 800 KB of it now
            second.sendall(_head(900_000))
            with contextlib.suppress(OSError):
                second.sendall(b"b" * 400_000)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not _closed(second):
                time.sleep(0.2)
            assert _closed(second)
            assert not _closed(first)
            first.sendall(b"a" * 100_000)  # the first one completes and is answered
            answer = first.recv(65536)
            assert answer.startswith(b"HTTP/1.1 "), answer[:100]
        finally:
            first.close()
            second.close()


def _answers(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_pipelined_requests_are_answered_in_order(slow_server) -> None:  # type: ignore[no-untyped-def]
    host, port = slow_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        received = _answers(sock)
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", received)
    assert statuses == [b"200", b"404", b"200"]


def test_a_request_framed_twice_is_dropped_unanswered(slow_server) -> None:  # type: ignore[no-untyped-def]
    """Content-Length and Transfer-Encoding together: the two framings a proxy in front and
    the gateway could read differently (request smuggling). Nothing is answered."""
    host, port = slow_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /ext-bus-home-management-service/services/HomeManagementAsync HTTP/1.1\r\n"
            b"Host: x\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        assert _answers(sock) == b""


def test_a_client_that_shuts_down_its_side_still_gets_its_answer(slow_server) -> None:  # type: ignore[no-untyped-def]
    host, port = slow_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        received = _answers(sock)
    assert received.startswith(b"HTTP/1.1 200 ") and received.endswith(b"ok\n")
