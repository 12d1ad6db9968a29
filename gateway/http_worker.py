"""The gunicorn worker class of ``gateway serve``: whole requests first, then a thread.

gunicorn's sync and gthread workers read a request on the thread that runs the application,
so a client that sends its headers or body slowly holds that thread for as long as it likes;
a few dozen such connections starve the server. This worker reads every connection on one
asyncio loop: a request must bring its headers within ``header_timeout`` and its body at a
minimum rate (``body_timeout`` + one second per ``body_min_rate`` bytes, as Apache's
mod_reqtimeout), or the connection is closed. Only a request read whole is handed to the WSGI
application on the thread pool (``threads``); its answer is written back by the loop, with a
timeout too. The application, and so the ack-after-commit guarantee, is unchanged.

gunicorn's master still runs the processes: heartbeat, graceful stop, ``max_requests``
recycling with jitter, the worker_exit hook. HTTP/1.1 framing is llhttp's (httptools, the
parser of Node.js, in C): strict, it refuses a request that both Content-Length and
Transfer-Encoding frame, a duplicated Content-Length, bare LF line ends and bad header tokens.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import gc
import io
import os
import re
import socket
import ssl
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote_to_bytes

import httptools
from gunicorn.workers.base import Worker


@dataclass(frozen=True)
class Limits:
    """How long and how slowly a client may take to send a request."""

    header_timeout: float = 10.0  # from the first byte of a request to the end of its headers
    body_timeout: float = 10.0  # the body's allowance before its rate is counted …
    body_min_rate: int = 500  # … plus one second per this many bytes received
    keepalive_timeout: float = 5.0  # idle keep-alive connection, before a next request starts
    write_timeout: float = 30.0  # the client must take the answer within this
    max_header_bytes: int = 64 * 1024
    max_body_bytes: int = 10 * 1024 * 1024
    max_connections: int = 1000  # open connections per process; more are closed at once
    #: request bodies being received, all connections of the process together; a body that
    #: would go past it is dropped (the bodies of slow clients must not add up to gigabytes)
    max_buffered_bytes: int = 256 * 1024 * 1024


#: Set by ``gateway serve`` in the master before it forks; the workers inherit it.
LIMITS = Limits()


def configure(limits: Limits) -> None:
    global LIMITS
    LIMITS = limits


#: After a request body this large the process gives freed memory back to the system.
_TRIM_AFTER_BYTES = 1024 * 1024
_M_ARENA_MAX = -8
#: After running out of descriptors or memory in accept, wait this long before the next.
_ACCEPT_RETRY_SECONDS = 1.0
#: A process holding n connections waits n times this (n at most the cap) before it takes
#: a new one, so that one holding fewer takes it first.
_ACCEPT_DELAY = 0.005
_ACCEPT_DELAY_CAP = 10


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return None


def _trim() -> None:
    """Free what a large request left behind and return the free pages of every malloc arena
    to the system (glibc's malloc_trim): parsing a large packet, a refused bomb above all,
    leaves tens of MB that the process would otherwise keep for its whole life."""
    gc.collect()  # refusals leave cycles (exception, traceback, frames) holding the tree
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


#: The answer when the application itself fails.
_INTERNAL_ERROR = ("500 Internal Server Error", [("Content-Type", "text/plain")], b"error\n")


class _Drop(Exception):
    """The connection is closed without an answer (timeout, protocol error, peer gone)."""


class _TooLarge(Exception):
    """The request's body is past max_body_bytes: answered 413, then the connection closes."""


class BufferingWorker(Worker):
    """Reads whole requests on an asyncio loop; runs the WSGI app on ``threads`` threads."""

    def init_process(self) -> None:
        libc = _libc()
        if libc is not None and hasattr(libc, "mallopt"):
            libc.mallopt(_M_ARENA_MAX, 2)  # not one heap per thread, each keeping its peak
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.limits = LIMITS
        self.pool = ThreadPoolExecutor(max(1, self.cfg.threads), thread_name_prefix="wsgi")
        self.connections: set[_Connection] = set()
        self.held = 0  # connections accepted and not yet closed (handshakes included)
        self.in_app = 0
        self.buffered = 0  # bytes of request bodies being received
        self.dropped = 0
        super().init_process()

    def run(self) -> None:
        try:
            self.loop.run_until_complete(self._serve())
        finally:
            self.pool.shutdown(wait=True)
            self.loop.close()

    # --- process life ----------------------------------------------------------------------

    async def _serve(self) -> None:
        context = self._ssl_context()
        listeners = [
            listener.sock if hasattr(listener, "sock") else listener for listener in self.sockets
        ]
        for sock in listeners:
            sock.setblocking(False)
            self.loop.add_reader(sock.fileno(), self._accept, sock, context)
        ppid = self.ppid
        while self.alive:  # type: ignore[has-type]
            self.notify()
            if os.getppid() != ppid:
                self.log.info("Parent changed, shutting down: %s", self)
                break
            if self.nr >= self.max_requests:
                self.log.info("Autorestarting worker after current request.")
                self.alive = False
                break
            await asyncio.sleep(0.5)
        for sock in listeners:
            self.loop.remove_reader(sock.fileno())
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while self.in_app and time.monotonic() < deadline:
            self.notify()
            await asyncio.sleep(0.1)
        for connection in list(self.connections):
            connection.close()

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.cfg.is_ssl:
            return None
        from gunicorn.sock import ssl_context

        return ssl_context(self.cfg)  # type: ignore[no-any-return]

    # --- accepting -------------------------------------------------------------------------

    def _accept(self, listener: socket.socket, context: ssl.SSLContext | None) -> None:
        """A new connection waits: take it, unless this process already holds connections,
        then wait a little first (``_ACCEPT_DELAY`` per open connection) so that a process
        holding fewer takes it. Every process of the node is woken for a new connection and
        the first to call ``accept`` gets it; without the delay the first to wake takes them
        all, and the connections of a keep-alive client pile up on one process, its threads
        sharing one GIL while the others idle."""
        held = self.held
        if held and self.cfg.workers > 1:
            self.loop.remove_reader(listener.fileno())
            delay = min(held, _ACCEPT_DELAY_CAP) * _ACCEPT_DELAY
            self.loop.call_later(delay, self._accept_now, listener, context)
            return
        self._accept_one(listener, context)

    def _accept_now(self, listener: socket.socket, context: ssl.SSLContext | None) -> None:
        if not self.alive:
            return
        self.loop.add_reader(listener.fileno(), self._accept, listener, context)
        self._accept_one(listener, context)

    def _accept_one(self, listener: socket.socket, context: ssl.SSLContext | None) -> None:
        """One connection per wake-up (asyncio's own accept takes up to 100 at once)."""
        try:
            conn, _ = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another process took it
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                raise
            # out of descriptors or memory: stop accepting for a while (as asyncio does)
            self.log.warning("accept: %s; pausing for a second", exc)
            self.loop.remove_reader(listener.fileno())
            self.loop.call_later(_ACCEPT_RETRY_SECONDS, self._accept_now, listener, context)
            return
        conn.setblocking(False)
        self.held += 1
        self.loop.create_task(self._open(conn, context))

    async def _open(self, conn: socket.socket, context: ssl.SSLContext | None) -> None:
        try:
            await self.loop.connect_accepted_socket(
                lambda: _Connection(self),
                conn,
                ssl=context,
                ssl_handshake_timeout=self.limits.header_timeout if context else None,
            )
        except (OSError, ssl.SSLError, TimeoutError):  # the handshake failed or timed out
            self.dropped += 1
            self.held -= 1
            conn.close()

    # --- one request on the thread pool ------------------------------------------------------

    def _run_app(
        self, connection: _Connection, environ: dict[str, Any], body_size: int | None
    ) -> None:
        """On a pool thread: the application's answer, handed back to the loop (after giving
        back the memory of a large or refused body)."""
        answer = _INTERNAL_ERROR
        try:
            answer = self._call_app(environ)
            if body_size is None or body_size >= _TRIM_AFTER_BYTES:
                _trim()
        finally:
            self.loop.call_soon_threadsafe(connection.answered, answer)

    # --- WSGI --------------------------------------------------------------------------------

    def _environ(
        self, request: _Request, body: bytes, transport: asyncio.BaseTransport
    ) -> dict[str, Any]:
        target = request.target
        path, _, query = target.partition(b"?")
        peer = transport.get_extra_info("peername") or ("", 0)
        local = transport.get_extra_info("sockname") or ("", 0)
        ssl_object = transport.get_extra_info("ssl_object")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method.decode("ascii"),
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "RAW_URI": target.decode("latin-1"),
            "SERVER_PROTOCOL": f"HTTP/{request.http_version}",
            "SERVER_NAME": str(local[0]) if isinstance(local, tuple) else "",
            "SERVER_PORT": str(local[1]) if isinstance(local, tuple) else "",
            "REMOTE_ADDR": str(peer[0]) if isinstance(peer, tuple) else "",
            "REMOTE_PORT": str(peer[1]) if isinstance(peer, tuple) else "",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if ssl_object is not None else "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            if der:
                environ["SSL_CLIENT_CERT_DER"] = der
        for raw_name, raw_value in request.headers:
            name = raw_name.decode("latin-1").upper()
            if "_" in name:  # would be indistinguishable from a dash in the environ key
                continue
            value = raw_value.strip(b" \t").decode("latin-1")
            if name == "CONTENT-TYPE":
                environ["CONTENT_TYPE"] = value
                continue
            if name == "CONTENT-LENGTH":
                continue
            key = "HTTP_" + name.replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ

    def _call_app(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            started[:] = [status, list(headers)]
            return written.append

        try:
            result: Iterable[bytes] = self.wsgi(environ, start_response)
            try:
                payload = b"".join([*written, *result])
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception:
            self.log.exception("error in the application")
            return _INTERNAL_ERROR
        if self.cfg.accesslog:
            # the same fields as gunicorn's access lines through gateway.server.GatewayLogger
            status = started[0].split(" ", 1)[0]
            self.log.access_log.info(
                "request",
                extra={
                    "remote_addr": environ.get("REMOTE_ADDR", "-"),
                    "method": environ["REQUEST_METHOD"],
                    "path": environ.get("PATH_INFO"),
                    "query": environ.get("QUERY_STRING") or None,
                    "status": int(status) if status.isdigit() else status,
                    "bytes": len(payload),
                    "user_agent": environ.get("HTTP_USER_AGENT"),
                },
            )
        return started[0], started[1], payload


class _Request:
    """One request as the parser delivered it."""

    __slots__ = ("target", "headers", "method", "http_version", "keep_alive", "chunks", "size")

    def __init__(self) -> None:
        self.target = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.method = b""
        self.http_version = ""
        self.keep_alive = False
        self.chunks: list[bytes] = []
        self.size = 0  # body bytes (counted in worker.buffered until handed to the app)


class _Connection(asyncio.Protocol):
    """One client connection, driven by the loop's callbacks (no task, stream reader or timer
    per read): llhttp (httptools) frames the requests, and one timer enforces the deadline of
    the phase.

    Phases: ``idle`` (keep-alive, before a request's first byte: ``keepalive_timeout``),
    ``head`` (``header_timeout`` from the first byte; for a new connection from its start),
    ``body`` (``body_timeout`` + one second per ``body_min_rate`` bytes received, from the end
    of the headers), ``app`` (a request runs on the thread pool; reading is paused, and what
    was already read waits) and ``write`` (the client must take an answer that filled the
    transport's buffer within ``write_timeout``).
    """

    def __init__(self, worker: BufferingWorker) -> None:
        self.worker = worker
        self.limits = worker.limits
        self.loop = worker.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.phase = "head"
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None
        #: the request being parsed, and its part: "none" (between requests), "head", "body"
        self.building: _Request | None = None
        self.parsing = "none"
        self.head_size = 0  # bytes of the request line and headers so far
        self.head_fed = 0  # bytes received since the request began, while in its head
        self.received = 0  # body bytes of the request being read (its rate is counted)
        self.ready: deque[_Request] = deque()  # read whole, not yet answered (pipelined)
        self.current: _Request | None = None  # on the thread pool
        self.too_large = False  # the current request's body is past max_body_bytes
        self.expect_continue = False  # the request being read waits for "100 Continue"
        self.last = False  # no request after the ones read: the client's end or an upgrade
        self.keep = False  # read a next request once the answer is written
        self.write_paused = False
        self.closed = False

    # --- asyncio callbacks -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        worker = self.worker
        if len(worker.connections) >= self.limits.max_connections:
            self.closed = True
            worker.held -= 1
            transport.abort()
            return
        worker.connections.add(self)
        self._expect("head", self.limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        if self.closed or self.last:
            return
        if self.phase in ("app", "write"):  # pipelined: read now, answered after this one
            self._transport.pause_reading()
        if self.parsing == "head" or self.parsing == "none":
            self.head_fed += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            if not isinstance(exc.__context__, _TooLarge):
                self._drop()
                return
            self._too_large()
        except httptools.HttpParserUpgrade:  # served as a plain request, then the end
            self.last = True
        except httptools.HttpParserError:
            self._drop()
            return
        if self.parsing == "head" and self.head_fed > self.limits.max_header_bytes:
            self._drop()  # headers that do not end
            return
        self._next()

    def eof_received(self) -> bool:
        if not self.closed:
            if self.parsing != "none" and not self.too_large:
                self._drop()  # closed in the middle of a request
            else:
                self.last = True
                self._next()
        # keep the transport open to answer a client that only shut down its sending side
        # (TLS cannot: asyncio closes it)
        return self._transport.get_extra_info("sslcontext") is None

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.phase == "write" and not self.closed:
            self._written()

    @property
    def _transport(self) -> asyncio.Transport:
        assert self.transport is not None
        return self.transport

    # --- parser callbacks (llhttp) ---------------------------------------------------------

    def on_message_begin(self) -> None:
        self.building = _Request()
        self.parsing = "head"
        self.head_size = 0
        self.received = 0
        if self.phase == "idle":  # a next request starts: its headers are now due
            self._expect("head", self.limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        assert self.building is not None
        self.building.target += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.building is not None
        self.building.headers.append((name, value))
        self._count_head(len(name) + len(value) + 4)

    def _count_head(self, size: int) -> None:
        self.head_size += size
        if self.head_size > self.limits.max_header_bytes:
            raise _Drop("headers too large")

    def on_headers_complete(self) -> None:
        request = self.building
        assert request is not None
        parser = self.parser
        request.method = parser.get_method()
        request.http_version = parser.get_http_version()
        request.keep_alive = parser.should_keep_alive()
        self.parsing = "body"
        self.head_fed = 0
        expect = b""
        for name, value in request.headers:
            lower = name.lower()
            if lower == b"content-length" and int(value) > self.limits.max_body_bytes:
                raise _TooLarge
            if lower == b"expect":
                expect = value.lower()
        self.expect_continue = expect == b"100-continue" and request.http_version == "1.1"
        if self.phase == "head":
            self._reading_body()

    def on_body(self, data: bytes) -> None:
        request = self.building
        assert request is not None
        worker = self.worker
        size = len(data)
        if worker.buffered + size > self.limits.max_buffered_bytes:
            raise _Drop("the process holds as many request bodies as it may")
        request.chunks.append(data)
        request.size += size
        self.received += size
        worker.buffered += size
        if request.size > self.limits.max_body_bytes:
            raise _TooLarge

    def on_message_complete(self) -> None:
        assert self.building is not None
        self.ready.append(self.building)
        self.building = None
        self.parsing = "none"
        self.expect_continue = False
        self.head_fed = 0

    # --- requests in turn ------------------------------------------------------------------

    def _reading_body(self) -> None:
        """The request being read is the current one and its headers are in: its body's
        deadline runs, and a client waiting for "100 Continue" gets it (curl, .NET)."""
        self._expect("body", self.limits.body_timeout)
        if self.expect_continue:
            self.expect_continue = False
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _too_large(self) -> None:
        """The request being read is past max_body_bytes: answered (413), then the end."""
        request = self.building
        assert request is not None
        self.worker.buffered -= request.size
        request.chunks = []
        request.size = 0
        self.building = None
        self.parsing = "none"
        self.ready.append(request)
        self.too_large = True
        self.last = True

    def _next(self) -> None:
        """Between answers: run the next request read whole, or wait for one."""
        if self.closed or self.phase in ("app", "write"):
            return
        if self.ready:
            self._dispatch(self.ready.popleft())
        elif self.last:
            self._close()

    # --- the deadline of the phase ---------------------------------------------------------

    def _expect(self, phase: str, allowance: float) -> None:
        self.phase = phase
        self.deadline = self.loop.time() + allowance
        timer = self.timer
        if timer is None or timer.when() > self.deadline:
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_at(self.deadline, self._check_deadline)
        # a timer due earlier looks again at the (later) deadline when it fires

    def _check_deadline(self) -> None:
        self.timer = None
        if self.closed or self.phase == "app" or (self.phase == "write" and not self.write_paused):
            return
        deadline = self.deadline
        if self.phase == "body":  # the body's allowance grows with what it brought
            deadline += self.received / self.limits.body_min_rate
        if self.loop.time() < deadline:
            self.timer = self.loop.call_at(deadline, self._check_deadline)
        elif self.phase == "idle":  # no next request: a quiet end, not a drop
            self._close()
        else:
            self._drop()

    # --- the application -------------------------------------------------------------------

    def _dispatch(self, request: _Request) -> None:
        """A request read whole (or too large): run the application on the pool."""
        worker = self.worker
        transport = self._transport
        self.phase = "app"
        self.current = request
        transport.pause_reading()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        too_large = self.too_large and not self.ready
        body = b"".join(request.chunks)
        request.chunks = []
        worker.buffered -= request.size
        request.size = 0
        environ = worker._environ(request, body, transport)
        if too_large:  # the application answers 413 from CONTENT_LENGTH
            environ["CONTENT_LENGTH"] = str(self.limits.max_body_bytes + 1)
        worker.in_app += 1
        worker.pool.submit(worker._run_app, self, environ, None if too_large else len(body))

    def answered(self, answer: tuple[str, list[tuple[str, str]], bytes]) -> None:
        """On the loop: write the application's answer, then go on with the next request."""
        worker = self.worker
        worker.in_app -= 1
        worker.nr += 1
        if self.closed:
            return
        request = self.current
        assert request is not None
        self.current = None
        keep = worker.alive and request.keep_alive and request.http_version == "1.1"
        keep = keep and not (self.last and not self.ready)
        status, headers, payload = answer
        try:
            head = _response_head(status, headers, len(payload), keep)
        except ValueError:
            worker.log.error("the application's answer has a malformed header")
            self._drop()
            return
        transport = self._transport
        if request.method == b"HEAD":
            transport.write(head)
        else:
            transport.writelines((head, payload))
        self.keep = keep
        self.phase = "write"
        if self.write_paused:  # the client must take the answer within the write timeout
            self._expect("write", self.limits.write_timeout)
            return
        self._written()

    def _written(self) -> None:
        """The answer is handed to the transport: the next request, or the end."""
        if not self.keep:
            self._close()
            return
        if self.ready:
            self.phase = "idle"
            self._next()
            return
        if self.parsing == "none":
            self._expect("idle", self.limits.keepalive_timeout)
        elif self.parsing == "head":  # a pipelined request's first bytes came meanwhile
            self._expect("head", self.limits.header_timeout)
        else:
            self._reading_body()
        self._transport.resume_reading()

    # --- the end ---------------------------------------------------------------------------

    def _drop(self) -> None:
        """Closed without an answer (timeout, protocol error, a limit)."""
        if not self.closed:
            self.worker.dropped += 1
        self._close(abort=True)

    def _close(self, abort: bool = False) -> None:
        self._release()
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if abort:
                transport.abort()
            else:
                transport.close()

    def _release(self) -> None:
        if self.closed:
            return
        self.closed = True
        worker = self.worker
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for request in (self.building, *self.ready):
            if request is not None:
                worker.buffered -= request.size
                request.size = 0
                request.chunks = []
        self.building = None
        self.ready.clear()
        if self in worker.connections:
            worker.connections.discard(self)
            worker.held -= 1

    def close(self) -> None:
        """The worker stops: close the connection (a request running still runs to its end)."""
        self._close()


def _response_head(status: str, headers: list[tuple[str, str]], length: int, keep: bool) -> bytes:
    """The status line and headers of an answer (the application's headers, with our own
    Content-Length and Connection)."""
    code, _, reason = status.partition(" ")
    if not code.isdigit() or len(code) != 3 or _CONTROL.search(reason):
        raise ValueError(f"status {status!r}")
    lines = [f"HTTP/1.1 {code} {reason or _reason(int(code))}"]
    server = False
    for name, value in headers:
        if _CONTROL.search(name) or _CONTROL.search(value):  # no header smuggles a line
            raise ValueError(f"header {name!r}")
        lower = name.lower()
        if lower in ("connection", "content-length"):
            continue
        server = server or lower == "server"
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {length}")
    if not keep:
        lines.append("Connection: close")
    if not server:
        lines.append("Server: hcs-gateway")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


#: What no header name or value may carry (it would end the line and start another).
_CONTROL = re.compile(r"[\r\n\x00]")


def _reason(code: int) -> str:
    """The standard reason phrase of an HTTP status code ('' for one it does not know)."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return ""
