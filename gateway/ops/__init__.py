"""Operations: what ops staff use to see every packet and fix what failed.

packets.py   list / show: filters, per-item results, history (CLI and console share it)
replay.py    re-queue processing of stored packets, audited (who, when, what it replaced)
purge.py     the retention policy of ``gateway packets purge``
metrics.py   Prometheus metrics: ``/metrics`` of serve nodes (multiprocess-safe under
             gunicorn) and of ``gateway worker --metrics-bind`` processes
observe.py   metrics, log lines and log context from the trace records (gateway/trace.py) that
             the request and processing paths hand over
logs.py      structured JSON logs (structlog) with MessageGUID and orgPPAGUID
health.py    ``/readyz``: database, schemas, queue not stalled
console.py   the ``/console`` web console (login, list, detail, replay); web.py: its
             sessions, CSRF and security headers
"""
