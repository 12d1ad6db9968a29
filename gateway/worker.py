"""The processing path: claim a job, run the operation's handler, store the outcome.

    claim (commit) ► hold the job ► handler ► per-item results ► finish (commit)

Domain changes and the outcome commit in ONE transaction that also holds the job, so a
crash never leaves half an import behind, and a job is never applied twice: a worker that
lost its lease cannot finish (``queue.LeaseLost`` rolls its transaction back). Failures
outside the handler's business rules (database connection lost, serialization failure,
deadlock, timeouts, a worker that died mid-job) are retried with backoff; after
``max_attempts`` the request goes to the dead letter with the last error.

Any number of worker processes on any machines share one PostgreSQL database: each claim
is one UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) … RETURNING.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.exc import DBAPIError, OperationalError

from gateway.codes import Code
from gateway.handlers.base import ExportError, HandlerContext
from gateway.ops import metrics, observe
from gateway.runtime import Runtime
from gateway.soap.envelope import split_envelope
from gateway.state import error_results, pack_results
from gateway.trace import JobOutcome, JobTrace, Tally, request_error_tally, tally
from gateway.xmlparse import parse_xml
from persistence import organizations, packets, queue
from persistence.clock import utcnow
from persistence.packets import PacketView, ResultCounts

log = logging.getLogger("gateway.worker")

DEAD_LETTER_TEXT = "Processing failed repeatedly; the packet was moved to the dead-letter state."
#: Longest wait between loop iterations while the database is unreachable.
MAX_IDLE_BACKOFF_SECONDS = 5.0


class RetryPolicy:
    """Bounded retries with exponential backoff."""

    def __init__(self, max_attempts: int, base_seconds: float) -> None:
        self.max_attempts = max_attempts
        self.base_seconds = base_seconds

    def delay(self, attempt: int) -> timedelta | None:
        """When to try again after ``attempt`` failed, or None to give up."""
        if attempt >= self.max_attempts:
            return None
        return timedelta(seconds=self.base_seconds * 2 ** (attempt - 1))


@dataclass(frozen=True)
class _Done:
    """The outcome of a job, as stored with its packet."""

    state: Literal["processed", "failed"]  # the packet's state (PROCESSED, FAILED)
    result_xml: str
    tally: Tally
    error_code: str | None = None
    error_message: str | None = None


@dataclass
class _Seen:
    """What an attempt learned of its packet, for its trace (metrics and the log line)."""

    job_id: int
    attempt: int
    started: float
    service: str = "unknown"
    operation: str = "unknown"
    received_at: datetime | None = None

    def packet(self, packet: PacketView) -> None:
        self.service = packet.service or "unknown"
        self.operation = packet.operation or "unknown"
        self.received_at = packet.received_at
        observe.job_started(
            self.job_id,
            self.attempt,
            message_guid=packet.message_guid,
            org_guid=packet.org_guid,
            service=packet.service,
            operation=packet.operation,
        )

    def trace(self, outcome: JobOutcome, tally: Tally | None = None) -> JobTrace:
        return JobTrace(
            job_id=self.job_id,
            attempt=self.attempt,
            service=self.service,
            operation=self.operation,
            outcome=outcome,
            seconds=time.perf_counter() - self.started,
            received_at=self.received_at,
            tally=tally,
        )


class Worker:
    """One loop that processes one job at a time."""

    def __init__(
        self,
        runtime: Runtime,
        name: str | None = None,
        *,
        wakeup: threading.Event | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.rt = runtime
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        cfg = runtime.settings.worker
        self.retry = RetryPolicy(cfg.max_attempts, cfg.retry_backoff_seconds)
        self.wakeup = wakeup or threading.Event()
        self.stopping = stopping or threading.Event()
        #: failures that could not be recorded yet (the database was away): (job, error)
        self._unrecorded: list[tuple[queue.ClaimedJob, str]] = []

    # --- loop ------------------------------------------------------------------------------

    def run_forever(self) -> None:
        interval = self.rt.settings.worker.poll_interval_seconds
        failures = 0
        while not self.stopping.is_set():
            try:
                worked = self.run_once()
                if failures:
                    log.info("worker %s: database reachable again", self.name)
                failures = 0
            except (OperationalError, DBAPIError) as exc:
                if failures == 0:
                    log.warning("worker %s: database unavailable: %s", self.name, _short(exc))
                failures += 1
                worked = False
            except Exception:
                log.exception("worker loop error")
                failures += 1
                worked = False
            if not worked:
                wait = min(interval * 2 ** min(failures, 6), MAX_IDLE_BACKOFF_SECONDS)
                self.wakeup.wait(wait if failures else interval)
                if not self.stopping.is_set():
                    self.wakeup.clear()

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="queue-worker", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopping.set()
        self.wakeup.set()

    def run_until_idle(self, limit: int = 10_000) -> int:
        """Process ready jobs until none is left (used by tests and the CLI)."""
        done = 0
        while done < limit and self.run_once():
            done += 1
        return done

    # --- one job ---------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Claim and process one job; False when the queue had nothing ready."""
        observe.clear()
        try:
            return self._run_once()
        finally:
            observe.clear()

    def _run_once(self) -> bool:
        self._record_unrecorded()
        lease = self.rt.settings.worker.lease_seconds
        with self.rt.session.begin() as session:
            job = queue.claim(session, self.name, lease)
        if job is None:
            return False
        if job.attempt > self.retry.max_attempts:
            # Earlier attempts never reported back: their workers died or lost the lease.
            self._record(
                job,
                f"attempt {job.attempt}: the previous {job.attempt - 1} attempts did not finish "
                f"(worker crashed or lost its lease); last error: {job.last_error or 'none'}",
                give_up=True,
            )
            return True
        seen = _Seen(job.job_id, job.attempt, time.perf_counter())
        try:
            done = self._process(job, seen)
        except queue.LeaseLost as exc:
            observe.job_done(seen.trace("lost"))
            log.warning("dropping the work of a lost lease: %s", exc)
        except (OperationalError, DBAPIError) as exc:
            observe.job_done(seen.trace("retry"))
            self._failed(job, exc)
        except Exception as exc:
            observe.job_done(seen.trace("retry"))
            log.exception(
                "job %s (packet %s) failed outside its handler", job.job_id, job.packet_id
            )
            self._failed(job, exc)
        else:
            observe.job_done(seen.trace(done.state, done.tally))
        return True

    def _process(self, job: queue.ClaimedJob, seen: _Seen | None = None) -> _Done:
        """Hold the job, run the handler, store the outcome, all in one transaction; ``seen``
        collects what the attempt's trace needs."""
        seen = seen or _Seen(job.job_id, job.attempt, time.perf_counter())
        with self.rt.session.begin() as session:
            queue.hold(session, job)
            packet = packets.get_by_id(session, job.packet_id)
            seen.packet(packet)
            org = organizations.get_organization(session, packet.org_guid or "")
            operation = self.rt.registry.operation(packet.service or "", packet.operation or "")
            raw = packets.get_raw(session, job.packet_id)
            request = split_envelope(parse_xml(raw, self.rt.xml_limits)).body
            ctx = HandlerContext(
                session=session,
                org_guid=packet.org_guid or "",
                org_role=org.role if org else None,
                message_guid=packet.message_guid,
                version=packet.version,
                now=utcnow(),
                previous_result=packets.last_processed_result(session, job.packet_id),
            )
            try:
                assert operation.handler is not None
                with session.begin_nested():  # a handler that fails leaves nothing behind
                    result = operation.handler(ctx, request)
                counted = result.tally or tally(result.elements)
                done = _Done("processed", pack_results(result.elements), counted)
            except ExportError as exc:
                done = _Done(
                    "processed",
                    error_results(exc.code, exc.description),
                    request_error_tally(exc.code),
                )
            except (OperationalError, DBAPIError):
                raise
            except Exception as exc:
                log.exception("handler %s failed on packet %s", operation.name, packet.message_guid)
                done = _Done(
                    "failed",
                    error_results(
                        Code.INTERNAL_ERROR,
                        f"Internal error while processing: {type(exc).__name__}",
                    ),
                    request_error_tally(Code.INTERNAL_ERROR),
                    error_code=Code.INTERNAL_ERROR,
                    error_message=f"{type(exc).__name__}: {exc}",
                )
            queue.finish(
                session,
                job,
                packet_state=done.state,
                result_xml=done.result_xml,
                counts=ResultCounts(done.tally.items, done.tally.errors),
                error_code=done.error_code,
                error_message=done.error_message,
            )
        return done

    # --- failures --------------------------------------------------------------------------

    def _failed(self, job: queue.ClaimedJob, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning(
            "transient failure on job %s (attempt %s): %s", job.job_id, job.attempt, _short(exc)
        )
        if not self._record(job, message, give_up=self.retry.delay(job.attempt) is None):
            # Try again before the next claim; the lease expiring is the last resort.
            self._unrecorded.append((job, message))

    def _record(self, job: queue.ClaimedJob, message: str, *, give_up: bool) -> bool:
        """Queue the job again with backoff, or bury it; False if the database was away.

        A job that is no longer ours (its commit did happen, or it was taken over) is left
        alone: the guarded queue functions change nothing then.
        """
        try:
            with self.rt.session.begin() as session:
                if give_up:
                    recorded = queue.bury(
                        session,
                        job,
                        message,
                        error_results(Code.INTERNAL_ERROR, DEAD_LETTER_TEXT),
                        counts=ResultCounts(items=0, errors=1),
                        error_code=Code.INTERNAL_ERROR,
                    )
                else:
                    delay = self.retry.delay(job.attempt) or timedelta(0)
                    recorded = queue.retry_later(session, job, message, utcnow() + delay)
            if recorded:
                metrics.job_failure_recorded(give_up)
            else:
                log.info("job %s attempt %s was no longer ours", job.job_id, job.attempt)
            return True
        except (OperationalError, DBAPIError) as exc:
            log.warning("could not record the failure of job %s: %s", job.job_id, _short(exc))
            return False

    def _record_unrecorded(self) -> None:
        pending, self._unrecorded = self._unrecorded, []
        for job, message in pending:
            give_up = self.retry.delay(job.attempt) is None
            if not self._record(job, message, give_up=give_up):
                self._unrecorded.append((job, message))


class WorkerGroup:
    """``concurrency`` worker threads in this process sharing one wake-up.

    On PostgreSQL a listener thread turns NOTIFY (sent by a trigger when a job is queued, by
    whichever node accepted it) into a wake-up; every worker also polls as the fallback.
    """

    def __init__(self, runtime: Runtime, concurrency: int = 1) -> None:
        self.rt = runtime
        self.wakeup = threading.Event()
        self.stopping = threading.Event()
        base = f"{socket.gethostname()}:{os.getpid()}"
        self.workers = [
            Worker(runtime, f"{base}:{i}", wakeup=self.wakeup, stopping=self.stopping)
            for i in range(max(1, concurrency))
        ]
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i, worker in enumerate(self.workers):
            thread = threading.Thread(
                target=worker.run_forever, name=f"queue-worker-{i}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self.rt.engine.dialect.name == "postgresql" and self.rt.settings.worker.listen:
            listener = threading.Thread(
                target=queue.listen,
                args=(self.rt.engine, self.wakeup.set, self.stopping),
                kwargs={"application_name": f"hcs-gateway listener {os.getpid()}"},
                name="queue-listener",
                daemon=True,
            )
            listener.start()

    def healthy(self) -> bool:
        """Every worker thread is running and none has been told to stop."""
        return (
            bool(self._threads)
            and not self.stopping.is_set()
            and all(thread.is_alive() for thread in self._threads)
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Let every worker finish the job in hand, then return (at most ``timeout`` s)."""
        self.stopping.set()
        self.wakeup.set()
        for thread in self._threads:
            thread.join(timeout)

    def run(self) -> None:
        """Run in the foreground until SIGTERM or SIGINT; then stop gracefully."""

        def _stop(signum: int, _frame: object) -> None:
            log.info("signal %s: finishing the jobs in hand", signum)
            self.stopping.set()
            self.wakeup.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        self.start()
        log.info("%d queue worker(s) running on %s", len(self.workers), self.rt.engine.dialect.name)
        while not self.stopping.wait(1.0):
            pass
        self.stop()


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
