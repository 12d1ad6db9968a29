"""organisation register records; NSI reference books (loaded from the shipped data file)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 07:50:00.000000
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from importlib import resources

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: register GUIDs of organisations registered before this revision: stable, derived
_REGISTER = uuid.UUID("6f1e0c1a-8a4b-5d7e-9c2f-3b4a5c6d7e8f")


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="legal")
        )
        batch_op.add_column(sa.Column("ogrn", sa.String(length=15), nullable=True))
        batch_op.add_column(sa.Column("inn", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("kpp", sa.String(length=9), nullable=True))
        batch_op.add_column(sa.Column("full_name", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("short_name", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("parent_guid", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("root_entity_guid", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("version_guid", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("registration_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_organizations_ogrn"), ["ogrn"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_organizations_root_entity_guid"), ["root_entity_guid"]
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_organizations_version_guid"), ["version_guid"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_organizations_parent_guid_organizations"),
            "organizations",
            ["parent_guid"],
            ["guid"],
        )
    organizations = sa.table(
        "organizations",
        sa.column("guid", sa.String),
        sa.column("kind", sa.String),
        sa.column("root_entity_guid", sa.String),
        sa.column("version_guid", sa.String),
    )
    bind = op.get_bind()
    for (guid,) in bind.execute(sa.select(organizations.c.guid)).all():
        bind.execute(
            organizations.update()
            .where(organizations.c.guid == guid)
            .values(
                kind="legal",
                root_entity_guid=str(uuid.uuid5(_REGISTER, f"root:{guid}")),
                version_guid=str(uuid.uuid5(_REGISTER, f"version:{guid}")),
            )
        )

    books = op.create_table(
        "nsi_books",
        sa.Column("registry_number", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=2500), nullable=False),
        sa.Column("list_group", sa.String(length=8), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("registry_number"),
    )
    items = op.create_table(
        "nsi_items",
        sa.Column("registry_number", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("is_actual", sa.Boolean(), nullable=False),
        sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["registry_number"], ["nsi_books.registry_number"]),
        sa.PrimaryKeyConstraint("registry_number", "code"),
        sa.UniqueConstraint("guid"),
    )
    state = op.create_table(
        "nsi_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # the books as shipped with this revision; `gateway nsi import FILE` replaces them
    data = json.loads(
        resources.files("persistence").joinpath("data/nsi-books.json").read_text("utf-8")
    )
    modified = datetime.fromisoformat(data["modified"])
    op.bulk_insert(
        books,
        [
            {
                "registry_number": b["registry_number"],
                "name": b["name"],
                "list_group": b["list_group"],
                "modified": modified,
            }
            for b in data["books"]
        ],
    )
    op.bulk_insert(
        items,
        [
            {
                "registry_number": b["registry_number"],
                "code": i["code"],
                "guid": i["guid"],
                "name": i["name"],
                "is_actual": i["is_actual"],
                "modified": modified,
            }
            for b in data["books"]
            for i in b["items"]
        ],
    )
    op.bulk_insert(
        state,
        [{"id": 1, "version": data["version"], "generation": 1, "loaded_at": datetime.now(UTC)}],
    )


def downgrade() -> None:
    op.drop_table("nsi_state")
    op.drop_table("nsi_items")
    op.drop_table("nsi_books")
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_organizations_parent_guid_organizations"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("uq_organizations_version_guid"), type_="unique")
        batch_op.drop_constraint(batch_op.f("uq_organizations_root_entity_guid"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_organizations_ogrn"))
        batch_op.drop_column("updated_at")
        batch_op.drop_column("registration_date")
        batch_op.drop_column("version_guid")
        batch_op.drop_column("root_entity_guid")
        batch_op.drop_column("parent_guid")
        batch_op.drop_column("short_name")
        batch_op.drop_column("full_name")
        batch_op.drop_column("kpp")
        batch_op.drop_column("inn")
        batch_op.drop_column("ogrn")
        batch_op.drop_column("kind")
