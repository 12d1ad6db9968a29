"""request slots instead of leases: drop request_leases; packets.raw compressed with lz4

Requests in progress per organisation are now counted by locks that die with their process
(gateway.limits): PostgreSQL transaction advisory locks, SQLite record locks on
``<store>-slots``. The leases' table is no longer written.

PostgreSQL 14+ built with lz4 (``--with-lz4``, as the Debian and PGDG packages are): the
packet's raw bytes are TOASTed with lz4 instead of pglz. On a 43 KB house packet the accept
statement took ~0.25–0.3 ms less (pglz compresses it to ~9.2 KB, lz4 to ~9.7 KB; stored
uncompressed, STORAGE EXTERNAL, it cost more than lz4 and writes 4.5x the WAL). Rows
stored before keep pglz; both are read alike. A server without lz4 keeps pglz.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 11:00:00.000000
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

log = logging.getLogger("persistence.migrations")

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_leases_org_guid"))
    op.drop_table("request_leases")
    _raw_compression("lz4")


def _raw_compression(method: str) -> None:
    """PostgreSQL 14+: compress packets.raw with ``method`` from now on, if the server can."""
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    if int(conn.execute(sa.text("SHOW server_version_num")).scalar_one()) < 140000:
        return
    try:
        with conn.begin_nested():
            conn.execute(sa.text(f"ALTER TABLE packets ALTER COLUMN raw SET COMPRESSION {method}"))
    except sa.exc.DBAPIError as exc:  # built without it: "compression method … not supported"
        log.warning("packets.raw keeps its compression: %s", str(exc.orig).splitlines()[0])


def downgrade() -> None:
    _raw_compression("pglz")
    op.create_table(
        "request_leases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_guid", sa.String(length=36), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("request_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_leases_org_guid"), ["org_guid"], unique=False)
