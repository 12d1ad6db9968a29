"""The processing path: claim a job, run the operation's handler, store the outcome.

    claim (commit) ► hold the job ► handler ► per-item results ► finish (commit)

Domain changes and the outcome commit in ONE transaction that also holds the job, so a
crash never leaves half an import behind, and a job is never applied twice: a worker that
lost its lease cannot finish (``queue.LeaseLost`` rolls its transaction back). Transient
failures (``persistence.errors.is_transient``: database connection lost, serialization
failure, deadlock, lock or statement timeout; and a worker that died mid-job) are retried
with backoff; after ``max_attempts`` the request goes to the dead letter with the last
error. Anything else (a handler's bug, a constraint the database enforces) fails the packet
at once, with its error recorded: retrying would only repeat it.

Any number of worker processes on any machines share one PostgreSQL database: each claim
is one UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) … RETURNING.

Between jobs a worker also keeps house every HOUSEKEEPING_SECONDS: it deletes the limits'
counters of past windows (``persistence.limits.purge``), work no accept waits for.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.orm import Session

from gateway.codes import Code
from gateway.handlers.base import ExportError, HandlerContext
from gateway.ops import metrics, observe
from gateway.runtime import Runtime
from gateway.soap.envelope import split_envelope
from gateway.state import error_results, pack_results
from gateway.trace import JobOutcome, JobTrace, Tally, request_error_tally, tally
from gateway.xmlparse import parse_xml
from persistence import limits as counts
from persistence import queue
from persistence.clock import utcnow
from persistence.errors import describe, is_transient
from persistence.packets import PacketView, ResultCounts

log = logging.getLogger("gateway.worker")

DEAD_LETTER_TEXT = "Processing failed repeatedly; the packet was moved to the dead-letter state."
#: Longest wait between loop iterations while the database is unreachable.
MAX_IDLE_BACKOFF_SECONDS = 5.0
#: How often each worker deletes the limits' old counters.
HOUSEKEEPING_SECONDS = 600.0


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
        #: failures that could not be recorded yet (the database was away): (job, failure)
        self._unrecorded: list[tuple[queue.ClaimedJob, _Done | str]] = []
        #: jobs claimed together (``claim_batch``) and not yet processed, oldest first
        self._claimed: deque[queue.ClaimedJob] = deque()
        self._housekeeping_due = time.monotonic()

    # --- loop ------------------------------------------------------------------------------

    def run_forever(self) -> None:
        interval = self.rt.settings.worker.poll_interval_seconds
        failures = 0
        while not self.stopping.is_set():
            try:
                self._keep_house()
                worked = self.run_once()
                if failures:
                    log.info("worker %s: database reachable again", self.name)
                failures = 0
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("worker loop error")
                elif failures == 0:
                    log.warning("worker %s: database unavailable: %s", self.name, _short(exc))
                failures += 1
                worked = False
            if not worked:
                wait = min(interval * 2 ** min(failures, 6), MAX_IDLE_BACKOFF_SECONDS)
                self.wakeup.wait(wait if failures else interval)
                if not self.stopping.is_set():
                    self.wakeup.clear()
        self._finish_claimed()

    def _finish_claimed(self) -> None:
        """On the way out: process the jobs claimed with the last one (a batch is a few short
        jobs); what cannot be processed now is taken over when its lease expires."""
        while self._claimed:
            try:
                self.run_once()
            except Exception as exc:
                log.warning(
                    "worker %s stopping: %d claimed job(s) left to their leases: %s",
                    self.name,
                    len(self._claimed),
                    _short(exc),
                )
                return

    def _keep_house(self) -> None:
        """Delete old counters of the limits, when it is time (a failure is retried then)."""
        if time.monotonic() < self._housekeeping_due:
            return
        self._housekeeping_due = time.monotonic() + HOUSEKEEPING_SECONDS
        with self.rt.session.begin() as session:
            counts.purge(session, utcnow())

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
        job = self._next_job()
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
        except Exception as exc:
            if is_transient(exc):
                observe.job_done(seen.trace("retry"))
                self._failed(job, exc)
            else:
                observe.job_done(seen.trace("failed"))
                log.exception(
                    "job %s (packet %s) failed outside its handler", job.job_id, job.packet_id
                )
                self._failed(job, exc, permanent=True)
        else:
            observe.job_done(seen.trace(done.state, done.tally))
        return True

    def _next_job(self) -> queue.ClaimedJob | None:
        """The next job claimed for this worker: one of those claimed together before, or
        up to ``claim_batch`` newly claimed ones (one claim transaction for all of them)."""
        if not self._claimed:
            cfg = self.rt.settings.worker
            self._claimed.extend(
                queue.claim_committed(self.rt.engine, self.name, cfg.lease_seconds, cfg.claim_batch)
            )
        return self._claimed.popleft() if self._claimed else None

    def _process(self, job: queue.ClaimedJob, seen: _Seen | None = None) -> _Done:
        """Hold the job, run the handler, store the outcome, all in one transaction; ``seen``
        collects what the attempt's trace needs. A handler that fails leaves nothing behind:
        its transaction rolls back and its outcome is stored in one of its own."""
        seen = seen or _Seen(job.job_id, job.attempt, time.perf_counter())
        try:
            with self.rt.session.begin() as session:
                done = self._handle(session, job, seen)
                _store(session, job, done)
        except _HandlerFailed as failed:
            if not self._record(job, failed.done):
                self._unrecorded.append((job, failed.done))
            return failed.done
        return done

    def _handle(self, session: Session, job: queue.ClaimedJob, seen: _Seen) -> _Done:
        """Run the packet's handler in the job's transaction; ``_HandlerFailed`` with the
        outcome to store when it fails (a transient database error is raised as it is)."""
        stored = queue.hold(session, job)
        packet = stored.view
        seen.packet(packet)
        operation = self.rt.registry.operation(packet.service or "", packet.operation or "")
        request = split_envelope(parse_xml(stored.raw, self.rt.xml_limits)).body
        ctx = HandlerContext(
            session=session,
            org_guid=packet.org_guid or "",
            org_role=stored.org_role,
            message_guid=packet.message_guid,
            version=packet.version,
            now=utcnow(),
            previous_result=stored.previous_result,
            nsi_generation=stored.nsi_generation,
        )
        try:
            assert operation.handler is not None
            result = operation.handler(ctx, request)
        except ExportError as exc:
            raise _HandlerFailed(
                _Done(
                    "processed",
                    error_results(exc.code, exc.description),
                    request_error_tally(exc.code),
                )
            ) from exc
        except Exception as exc:
            if is_transient(exc):
                raise
            log.exception("handler %s failed on packet %s", operation.name, packet.message_guid)
            raise _HandlerFailed(_failure(exc)) from exc
        counted = result.tally or tally(result.elements)
        packed = result.packed
        return _Done(
            "processed", packed if packed is not None else pack_results(result.elements), counted
        )

    # --- failures --------------------------------------------------------------------------

    def _failed(self, job: queue.ClaimedJob, exc: Exception, *, permanent: bool = False) -> None:
        """Record a failed attempt: retried later (or buried), or failed at once."""
        if permanent:
            failure: _Done | str = _failure(exc)
        else:
            failure = describe(exc)
            log.warning(
                "transient failure on job %s (attempt %s): %s", job.job_id, job.attempt, _short(exc)
            )
        if not self._record(job, failure):
            # Try again before the next claim; the lease expiring is the last resort.
            self._unrecorded.append((job, failure))

    def _record(
        self, job: queue.ClaimedJob, failure: _Done | str, *, give_up: bool | None = None
    ) -> bool:
        """Store a permanent failure (a ``_Done``), or queue the job again with backoff after
        a transient one (its message), or bury it when ``give_up`` (by default: out of
        attempts); False if the database was away.

        A job that is no longer ours (its commit did happen, or it was taken over) is left
        alone: the guarded queue functions change nothing then.
        """
        if give_up is None:
            give_up = self.retry.delay(job.attempt) is None
        try:
            with self.rt.session.begin() as session:
                if isinstance(failure, _Done):
                    try:
                        _store(session, job, failure)
                        recorded = True
                    except queue.LeaseLost:
                        recorded = False
                elif give_up:
                    recorded = queue.bury(
                        session,
                        job,
                        failure,
                        error_results(Code.INTERNAL_ERROR, DEAD_LETTER_TEXT),
                        counts=ResultCounts(items=0, errors=1),
                        error_code=Code.INTERNAL_ERROR,
                    )
                else:
                    delay = self.retry.delay(job.attempt) or timedelta(0)
                    recorded = queue.retry_later(session, job, failure, utcnow() + delay)
            if not recorded:
                log.info("job %s attempt %s was no longer ours", job.job_id, job.attempt)
            elif not isinstance(failure, _Done):
                metrics.job_failure_recorded(give_up)
            return True
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning("could not record the failure of job %s: %s", job.job_id, _short(exc))
            return False

    def _record_unrecorded(self) -> None:
        pending, self._unrecorded = self._unrecorded, []
        for job, failure in pending:
            if not self._record(job, failure):
                self._unrecorded.append((job, failure))


def lower_priority(nice: int) -> int:
    """Make the calling thread at least as nice as ``nice`` (on Linux the nice value is per
    thread) and return the value it runs at; a thread already nicer keeps its own, since
    lowering it back would need privileges."""
    tid = threading.get_native_id()
    try:
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if nice > current:
            os.setpriority(os.PRIO_PROCESS, tid, nice)
            return nice
        return current
    except OSError as exc:  # a system whose thread ids are not process ids for setpriority
        log.warning("queue worker priority left as it is: %s", exc)
        return 0


def _run_at_nice(worker: Worker, nice: int) -> None:
    lower_priority(nice)
    worker.run_forever()


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
        nice = self.rt.settings.worker.nice
        for i, worker in enumerate(self.workers):
            thread = threading.Thread(
                target=_run_at_nice, args=(worker, nice), name=f"queue-worker-{i}", daemon=True
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
        # What start-up built (modules, the registry, the engine) lives as long as the process:
        # the cyclic collector need not walk it again during every job's full collections.
        gc.collect()
        gc.freeze()
        self.start()
        log.info("%d queue worker(s) running on %s", len(self.workers), self.rt.engine.dialect.name)
        while not self.stopping.wait(1.0):
            pass
        self.stop()


class _HandlerFailed(Exception):
    """A handler failed: its transaction must roll back, then ``done`` is stored."""

    def __init__(self, done: _Done) -> None:
        super().__init__(done.error_message or done.state)
        self.done = done


def _failure(exc: BaseException) -> _Done:
    """The outcome of a packet that failed for good: an internal error, the cause kept for ops."""
    return _Done(
        "failed",
        error_results(
            Code.INTERNAL_ERROR, f"Internal error while processing: {type(exc).__name__}"
        ),
        request_error_tally(Code.INTERNAL_ERROR),
        error_code=Code.INTERNAL_ERROR,
        error_message=describe(exc),
    )


def _store(session: Session, job: queue.ClaimedJob, done: _Done) -> None:
    """Store ``done`` as the job's outcome; ``queue.LeaseLost`` if the job is no longer ours."""
    queue.finish(
        session,
        job,
        packet_state=done.state,
        result_xml=done.result_xml,
        counts=ResultCounts(done.tally.items, done.tally.errors),
        error_code=done.error_code,
        error_message=done.error_message,
    )


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
