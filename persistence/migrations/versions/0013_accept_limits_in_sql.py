"""PostgreSQL: the accept statement refuses a packet past the per-organisation limits itself

``gateway_admit_packet`` is called by the one accept statement (``persistence.accept_sql``),
which now runs in autocommit: a packet past the packets-per-minute or the queue limit makes
it raise SQLSTATE GW001 or GW002, which aborts the statement, so nothing of the packet is
written or counted, and the gateway answers the refusal without a transaction of its own.

The queue count takes a transaction advisory lock of the organisation first (key space of
two int4 keys, class 2013), then counts with a snapshot of its own: a VOLATILE function's
query in READ COMMITTED sees what committed before it got the lock, and the statement's
own packet; so concurrent accepts of one organisation count each other (the statement's
snapshot, taken before the lock, would not).

SQLite has no functions: its accept counts in statements and refuses in Python.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 13:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: The predicate is that of ix_packets_org_pending (0007), so the count reads that index.
_ADMIT = """
CREATE OR REPLACE FUNCTION gateway_admit_packet(
    packet_id bigint, org text, rate_count integer, rate_limit integer, queue_limit integer
) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    waiting integer;
BEGIN
    IF packet_id IS NULL THEN  -- nothing written: a duplicate, a busy or a stale directory
        RETURN NULL;
    END IF;
    IF rate_limit > 0 AND rate_count > rate_limit THEN
        RAISE EXCEPTION USING ERRCODE = 'GW001', DETAIL = rate_count::text,
            MESSAGE = 'packets per minute of the organisation over the limit';
    END IF;
    IF queue_limit IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(2013, hashtext(org));
    SELECT count(*) INTO waiting FROM packets
    WHERE packets.org_guid = org AND state IN ('received', 'processing');
    IF queue_limit > 0 AND waiting > queue_limit THEN
        RAISE EXCEPTION USING ERRCODE = 'GW002', DETAIL = waiting::text,
            MESSAGE = 'packets of the organisation waiting over the limit';
    END IF;
    RETURN waiting;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_ADMIT)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION gateway_admit_packet(bigint, text, integer, integer, integer)")
