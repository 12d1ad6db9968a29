"""request slots instead of leases: drop request_leases

Requests in progress per organisation are now counted by locks that die with their process
(gateway.limits): PostgreSQL transaction advisory locks, SQLite record locks on
``<store>-slots``. The leases' table is no longer written.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("request_leases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_leases_org_guid"))
    op.drop_table("request_leases")


def downgrade() -> None:
    op.create_table(
        "request_leases",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_guid", sa.String(length=36), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("request_leases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_request_leases_org_guid"), ["org_guid"], unique=False)
