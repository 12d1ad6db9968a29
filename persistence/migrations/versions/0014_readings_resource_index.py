"""readings: the index (device_guid, reading_date) becomes (device_guid, resource_code,
reading_date, id)

The import reads the newest reading of each device resource: on the new index that is one
backwards step per resource, ORDER BY reading_date DESC, id DESC LIMIT 1 served by the index
whatever the planner's statistics; on the old one, PostgreSQL took the newest of each kind
down the unique index (four steps per resource; 1000 devices: ~12 of the ~40 ms of server
CPU a packet of readings costs). The same-day reads name the resources and the days, so they
are entries of the new index too. Nothing else read the old index: the exports filter by
device and kind, the unique index's leading columns.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 18:45:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_readings_device_resource_date",
        "readings",
        ["device_guid", "resource_code", "reading_date", "id"],
        unique=False,
        if_not_exists=True,
    )
    op.drop_index("ix_readings_device_date", table_name="readings", if_exists=True)


def downgrade() -> None:
    op.create_index(
        "ix_readings_device_date",
        "readings",
        ["device_guid", "reading_date"],
        unique=False,
        if_not_exists=True,
    )
    op.drop_index("ix_readings_device_resource_date", table_name="readings", if_exists=True)
