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
recycling with jitter, the worker_exit hook. HTTP/1.1 framing is h11's.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import gc
import io
import os
import socket
import ssl
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import h11
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


class _Drop(Exception):
    """The connection is closed without an answer (timeout, protocol error, peer gone)."""


class _TooLarge(Exception):
    pass


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
        self.connections: set[asyncio.StreamWriter] = set()
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
        for writer in list(self.connections):
            writer.close()

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
        reader = asyncio.StreamReader(limit=self.limits.max_header_bytes, loop=self.loop)
        protocol = asyncio.StreamReaderProtocol(reader, self._connection, loop=self.loop)
        try:
            await self.loop.connect_accepted_socket(
                lambda: protocol,
                conn,
                ssl=context,
                ssl_handshake_timeout=self.limits.header_timeout if context else None,
            )
        except (OSError, ssl.SSLError, TimeoutError):  # the handshake failed or timed out
            self.dropped += 1
            self.held -= 1
            conn.close()

    # --- one connection --------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.connections) >= self.limits.max_connections:
            self.held -= 1
            writer.close()
            return
        self.connections.add(writer)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.max_header_bytes)
        try:
            first = True
            while self.alive or first:
                request = await self._read_head(conn, reader, first)
                if request is None:
                    break
                first = False
                try:
                    body = await self._read_body(conn, reader, request, writer)
                except _TooLarge:
                    body = None
                environ = self._environ(request, body or b"", writer)
                if body is None:  # the application answers 413 from CONTENT_LENGTH
                    environ["CONTENT_LENGTH"] = str(self.limits.max_body_bytes + 1)
                    conn_close = True
                else:
                    conn_close = False
                self.in_app += 1
                try:
                    status, headers, payload = await self.loop.run_in_executor(
                        self.pool, self._call_app, environ
                    )
                finally:
                    self.in_app -= 1
                    self.nr += 1
                if len(body or b"") >= _TRIM_AFTER_BYTES or body is None:
                    await self.loop.run_in_executor(self.pool, _trim)
                keep = not conn_close and self.alive and conn.our_state is h11.SEND_RESPONSE
                keep = keep and conn.their_state is h11.DONE and request.http_version == b"1.1"
                await self._write(conn, writer, status, headers, payload, keep)
                if not keep or conn.our_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except (TimeoutError, _Drop, h11.ProtocolError, ConnectionError, ssl.SSLError):
            self.dropped += 1
        except Exception:  # noqa: BLE001 - one connection must never end the worker
            self.log.exception("error on a connection")
        finally:
            self.connections.discard(writer)
            self.held -= 1
            writer.close()

    async def _receive(self, reader: asyncio.StreamReader, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Drop("timeout")
        try:
            return await asyncio.wait_for(reader.read(65536), remaining)
        except TimeoutError:
            raise _Drop("timeout") from None

    async def _read_head(
        self, conn: h11.Connection, reader: asyncio.StreamReader, first: bool
    ) -> h11.Request | None:
        """The request line and headers, or None when the client closed between requests."""
        limits = self.limits
        if first:
            deadline = time.monotonic() + limits.header_timeout
        else:  # an idle keep-alive connection: wait for the next request's first bytes
            deadline = time.monotonic() + limits.keepalive_timeout
        started = first
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Request):
                return event
            if isinstance(event, h11.ConnectionClosed):
                return None
            if event is not h11.NEED_DATA:
                raise _Drop(f"unexpected {event!r}")
            try:
                data = await self._receive(reader, deadline)
            except _Drop:
                if not started:
                    return None
                raise
            if not started and data:
                started = True
                deadline = time.monotonic() + limits.header_timeout
            conn.receive_data(data)

    async def _read_body(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        request: h11.Request,
        writer: asyncio.StreamWriter,
    ) -> bytes:
        limits = self.limits
        declared = _content_length(request)
        if declared is not None and declared > limits.max_body_bytes:
            raise _TooLarge
        started = time.monotonic()
        if conn.they_are_waiting_for_100_continue:  # curl, .NET: no 1 s wait before the body
            writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])))
        chunks: list[bytes] = []
        received = 0
        try:
            while True:
                event = conn.next_event()
                if isinstance(event, h11.Data):
                    size = len(event.data)
                    if self.buffered + size > limits.max_buffered_bytes:
                        raise _Drop("the process holds as many request bodies as it may")
                    chunks.append(bytes(event.data))
                    received += size
                    self.buffered += size
                    if received > limits.max_body_bytes:
                        raise _TooLarge
                    continue
                if isinstance(event, h11.EndOfMessage):
                    return b"".join(chunks)
                if event is not h11.NEED_DATA:
                    raise _Drop(f"unexpected {event!r}")
                deadline = started + limits.body_timeout + received / limits.body_min_rate
                data = await self._receive(reader, deadline)
                conn.receive_data(data)
                if not data:
                    raise _Drop("closed mid-body")
        finally:
            self.buffered -= received

    async def _write(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: str,
        headers: list[tuple[str, str]],
        payload: bytes,
        keep: bool,
    ) -> None:
        code, _, reason = status.partition(" ")
        names = {name.lower() for name, _ in headers}
        headers = [(n, v) for n, v in headers if n.lower() not in ("connection", "content-length")]
        headers.append(("Content-Length", str(len(payload))))
        if not keep:
            headers.append(("Connection", "close"))
        if "server" not in names:
            headers.append(("Server", "hcs-gateway"))
        out = conn.send(h11.Response(status_code=int(code), headers=headers, reason=reason))
        out += conn.send(h11.Data(data=payload)) if payload else b""
        out += conn.send(h11.EndOfMessage())
        writer.write(out)
        try:
            await asyncio.wait_for(writer.drain(), self.limits.write_timeout)
        except TimeoutError:
            raise _Drop("client does not read its answer") from None

    # --- WSGI --------------------------------------------------------------------------------

    def _environ(
        self, request: h11.Request, body: bytes, writer: asyncio.StreamWriter
    ) -> dict[str, Any]:
        target = request.target
        path, _, query = target.partition(b"?")
        peer = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or ("", 0)
        ssl_object = writer.get_extra_info("ssl_object")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": request.method.decode("ascii"),
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "RAW_URI": target.decode("latin-1"),
            "SERVER_PROTOCOL": f"HTTP/{request.http_version.decode()}",
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
            value = raw_value.decode("latin-1")
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
            return "500 Internal Server Error", [("Content-Type", "text/plain")], b"error\n"
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


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)
    return None
