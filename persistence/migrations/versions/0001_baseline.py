"""Baseline: the schema as it stood when migrations were introduced.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Every table and index is created only if missing (databases made by ``metadata.create_all``
before migrations existed are adopted by ``persistence.migrations.upgrade``).
On PostgreSQL a trigger NOTIFYs ``gateway_jobs`` when a job becomes ready, so idle
workers wake at once (they poll as well, so a lost notification only costs latency).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JOBS_CHANNEL = "gateway_jobs"


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("org_guid", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("account_number", sa.String(length=30), nullable=True),
        sa.Column("unique_number", sa.String(length=20), nullable=False),
        sa.Column("service_id", sa.String(length=20), nullable=False),
        sa.Column("creation_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("living_persons", sa.Integer(), nullable=True),
        sa.Column("total_square", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("residential_square", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("heated_area", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("is_renter", sa.Boolean(), nullable=True),
        sa.Column("payer_kind", sa.String(length=8), nullable=True),
        sa.Column("payer_surname", sa.String(length=256), nullable=True),
        sa.Column("payer_first_name", sa.String(length=256), nullable=True),
        sa.Column("payer_patronymic", sa.String(length=256), nullable=True),
        sa.Column("payer_snils", sa.String(length=20), nullable=True),
        sa.Column("payer_org_version_guid", sa.String(length=36), nullable=True),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("close_reason_code", sa.String(length=20), nullable=True),
        sa.Column("close_reason_guid", sa.String(length=36), nullable=True),
        sa.Column("close_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guid"),
        sa.UniqueConstraint("service_id"),
        sa.UniqueConstraint("unique_number"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_accounts_org_guid", "accounts", ["org_guid"], unique=False, if_not_exists=True
    )
    op.create_index(
        "ix_accounts_org_number",
        "accounts",
        ["org_guid", "account_number"],
        unique=False,
        if_not_exists=True,
    )

    op.create_table(
        "houses",
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("fias_house_guid", sa.String(length=36), nullable=False),
        sa.Column("org_guid", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("unique_number", sa.String(length=32), nullable=False),
        sa.Column("cadastral_number", sa.String(length=64), nullable=True),
        sa.Column("no_cadastral_registration", sa.Boolean(), nullable=False),
        sa.Column("total_square", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("state_code", sa.String(length=20), nullable=True),
        sa.Column("state_guid", sa.String(length=36), nullable=True),
        sa.Column("life_cycle_code", sa.String(length=20), nullable=True),
        sa.Column("life_cycle_guid", sa.String(length=36), nullable=True),
        sa.Column("used_year", sa.Integer(), nullable=True),
        sa.Column("floor_count", sa.Integer(), nullable=True),
        sa.Column("underground_floor_count", sa.Integer(), nullable=True),
        sa.Column("min_floor_count", sa.Integer(), nullable=True),
        sa.Column("oktmo_code", sa.String(length=11), nullable=True),
        sa.Column("oktmo_name", sa.String(length=500), nullable=True),
        sa.Column("olson_tz_code", sa.String(length=20), nullable=True),
        sa.Column("olson_tz_guid", sa.String(length=36), nullable=True),
        sa.Column("cultural_heritage", sa.Boolean(), nullable=True),
        sa.Column("has_blocks", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guid"),
        sa.UniqueConstraint("fias_house_guid"),
        sa.UniqueConstraint("unique_number"),
        if_not_exists=True,
    )
    op.create_index("ix_houses_org_guid", "houses", ["org_guid"], unique=False, if_not_exists=True)

    op.create_table(
        "organizations",
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("guid"),
        if_not_exists=True,
    )
    op.create_table(
        "packets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("message_guid", sa.String(length=36), nullable=False),
        sa.Column("requester_message_guid", sa.String(length=36), nullable=True),
        sa.Column("org_guid", sa.String(length=36), nullable=True),
        sa.Column("service", sa.String(length=64), nullable=True),
        sa.Column("operation", sa.String(length=128), nullable=True),
        sa.Column("version", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("signer_subject", sa.Text(), nullable=True),
        sa.Column("signer_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("result_xml", sa.Text(), nullable=True),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_guid"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_packets_org_guid", "packets", ["org_guid"], unique=False, if_not_exists=True
    )
    op.create_index(
        "ix_packets_received_at", "packets", ["received_at"], unique=False, if_not_exists=True
    )
    op.create_index("ix_packets_state", "packets", ["state"], unique=False, if_not_exists=True)
    op.create_index(
        "uq_packets_org_requester_guid",
        "packets",
        ["org_guid", "requester_message_guid"],
        unique=True,
        sqlite_where=sa.text("state != 'rejected'"),
        postgresql_where=sa.text("state != 'rejected'"),
        if_not_exists=True,
    )

    op.create_table(
        "trust_anchors",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
        if_not_exists=True,
    )
    op.create_table(
        "entrances",
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("house_guid", sa.String(length=36), nullable=False),
        sa.Column("entrance_num", sa.String(length=255), nullable=False),
        sa.Column("storeys_count", sa.Integer(), nullable=True),
        sa.Column("creation_year", sa.Integer(), nullable=True),
        sa.Column("annulled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["house_guid"],
            ["houses.guid"],
        ),
        sa.PrimaryKeyConstraint("guid"),
        sa.UniqueConstraint("house_guid", "entrance_num"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_entrances_house_guid", "entrances", ["house_guid"], unique=False, if_not_exists=True
    )

    op.create_table(
        "house_suppliers",
        sa.Column("house_guid", sa.String(length=36), nullable=False),
        sa.Column("org_guid", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["house_guid"],
            ["houses.guid"],
        ),
        sa.PrimaryKeyConstraint("house_guid", "org_guid"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_house_suppliers_org_guid",
        "house_suppliers",
        ["org_guid"],
        unique=False,
        if_not_exists=True,
    )

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("packet_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_by", sa.String(length=128), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["packet_id"],
            ["packets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("packet_id"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_jobs_ready", "jobs", ["state", "run_after"], unique=False, if_not_exists=True
    )

    op.create_table(
        "lifts",
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("house_guid", sa.String(length=36), nullable=False),
        sa.Column("entrance_num", sa.String(length=255), nullable=False),
        sa.Column("factory_num", sa.String(length=255), nullable=False),
        sa.Column("type_code", sa.String(length=20), nullable=False),
        sa.Column("type_guid", sa.String(length=36), nullable=False),
        sa.Column("annulled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["house_guid"],
            ["houses.guid"],
        ),
        sa.PrimaryKeyConstraint("guid"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_lifts_house_guid", "lifts", ["house_guid"], unique=False, if_not_exists=True
    )

    op.create_table(
        "metering_devices",
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("version_guid", sa.String(length=36), nullable=False),
        sa.Column("org_guid", sa.String(length=36), nullable=False),
        sa.Column("house_guid", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=50), nullable=False),
        sa.Column("registry_number", sa.String(length=32), nullable=False),
        sa.Column("stamp", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("installation_date", sa.Date(), nullable=True),
        sa.Column("commissioning_date", sa.Date(), nullable=True),
        sa.Column("first_verification_date", sa.Date(), nullable=True),
        sa.Column("remote_metering", sa.Boolean(), nullable=False),
        sa.Column("temperature_sensor", sa.Boolean(), nullable=False),
        sa.Column("pressure_sensor", sa.Boolean(), nullable=False),
        sa.Column("tariff_count", sa.Integer(), nullable=False),
        sa.Column("capacity_digits", sa.Integer(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("archive_reason_code", sa.String(length=20), nullable=True),
        sa.Column("archive_reason_guid", sa.String(length=36), nullable=True),
        sa.Column("replaced_by", sa.String(length=36), nullable=True),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["house_guid"],
            ["houses.guid"],
        ),
        sa.PrimaryKeyConstraint("guid"),
        sa.UniqueConstraint("registry_number"),
        sa.UniqueConstraint("version_guid"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_devices_org_number",
        "metering_devices",
        ["org_guid", "number"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "ix_metering_devices_house_guid",
        "metering_devices",
        ["house_guid"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "ix_metering_devices_org_guid",
        "metering_devices",
        ["org_guid"],
        unique=False,
        if_not_exists=True,
    )

    op.create_table(
        "org_certificates",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("org_guid", sa.String(length=36), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_guid"],
            ["organizations.guid"],
        ),
        sa.PrimaryKeyConstraint("fingerprint"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_org_certificates_org_guid",
        "org_certificates",
        ["org_guid"],
        unique=False,
        if_not_exists=True,
    )

    op.create_table(
        "packet_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("packet_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["packet_id"],
            ["packets.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_packet_events_packet_id",
        "packet_events",
        ["packet_id"],
        unique=False,
        if_not_exists=True,
    )

    op.create_table(
        "premises",
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("house_guid", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("number", sa.String(length=255), nullable=False),
        sa.Column("unique_number", sa.String(length=40), nullable=False),
        sa.Column("entrance_num", sa.String(length=255), nullable=True),
        sa.Column("cadastral_number", sa.String(length=64), nullable=True),
        sa.Column("no_cadastral_registration", sa.Boolean(), nullable=False),
        sa.Column("characteristic_code", sa.String(length=20), nullable=True),
        sa.Column("characteristic_guid", sa.String(length=36), nullable=True),
        sa.Column("total_area", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("gross_area", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("is_common_property", sa.Boolean(), nullable=True),
        sa.Column("category", sa.String(length=16), nullable=True),
        sa.Column("annulled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["house_guid"],
            ["houses.guid"],
        ),
        sa.PrimaryKeyConstraint("guid"),
        sa.UniqueConstraint("house_guid", "kind", "number"),
        sa.UniqueConstraint("unique_number"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_premises_house_guid", "premises", ["house_guid"], unique=False, if_not_exists=True
    )

    op.create_table(
        "device_resources",
        sa.Column("device_guid", sa.String(length=36), nullable=False),
        sa.Column("resource_code", sa.String(length=20), nullable=False),
        sa.Column("resource_guid", sa.String(length=36), nullable=True),
        sa.Column("unit", sa.String(length=8), nullable=True),
        sa.Column("base_t1", sa.Numeric(precision=22, scale=7), nullable=False),
        sa.Column("base_t2", sa.Numeric(precision=22, scale=7), nullable=True),
        sa.Column("base_t3", sa.Numeric(precision=22, scale=7), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_guid"],
            ["metering_devices.guid"],
        ),
        sa.PrimaryKeyConstraint("device_guid", "resource_code"),
        if_not_exists=True,
    )
    op.create_table(
        "living_rooms",
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("house_guid", sa.String(length=36), nullable=False),
        sa.Column("premises_guid", sa.String(length=36), nullable=True),
        sa.Column("number", sa.String(length=255), nullable=False),
        sa.Column("unique_number", sa.String(length=48), nullable=False),
        sa.Column("cadastral_number", sa.String(length=64), nullable=True),
        sa.Column("no_cadastral_registration", sa.Boolean(), nullable=False),
        sa.Column("square", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("annulled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["house_guid"],
            ["houses.guid"],
        ),
        sa.ForeignKeyConstraint(
            ["premises_guid"],
            ["premises.guid"],
        ),
        sa.PrimaryKeyConstraint("guid"),
        sa.UniqueConstraint("unique_number"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_living_rooms_house_guid",
        "living_rooms",
        ["house_guid"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "ix_living_rooms_premises_guid",
        "living_rooms",
        ["premises_guid"],
        unique=False,
        if_not_exists=True,
    )

    op.create_table(
        "readings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("guid", sa.String(length=36), nullable=False),
        sa.Column("device_guid", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("resource_code", sa.String(length=20), nullable=False),
        sa.Column("reading_date", sa.Date(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=True),
        sa.Column("t1", sa.Numeric(precision=22, scale=7), nullable=False),
        sa.Column("t2", sa.Numeric(precision=22, scale=7), nullable=True),
        sa.Column("t3", sa.Numeric(precision=22, scale=7), nullable=True),
        sa.Column("org_guid", sa.String(length=36), nullable=False),
        sa.Column("message_guid", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_guid"],
            ["metering_devices.guid"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "device_guid", "kind", "resource_code", "reading_date", name="uq_readings_device_day"
        ),
        sa.UniqueConstraint("guid"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_readings_device_date",
        "readings",
        ["device_guid", "reading_date"],
        unique=False,
        if_not_exists=True,
    )

    op.create_table(
        "account_places",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_guid", sa.String(length=36), nullable=False),
        sa.Column("house_guid", sa.String(length=36), nullable=False),
        sa.Column("premises_guid", sa.String(length=36), nullable=True),
        sa.Column("living_room_guid", sa.String(length=36), nullable=True),
        sa.Column("share_percent", sa.Numeric(precision=7, scale=4), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_guid"],
            ["accounts.guid"],
        ),
        sa.ForeignKeyConstraint(
            ["house_guid"],
            ["houses.guid"],
        ),
        sa.ForeignKeyConstraint(
            ["living_room_guid"],
            ["living_rooms.guid"],
        ),
        sa.ForeignKeyConstraint(
            ["premises_guid"],
            ["premises.guid"],
        ),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_account_places_account_guid",
        "account_places",
        ["account_guid"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "ix_account_places_house_guid",
        "account_places",
        ["house_guid"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "ix_account_places_premises_guid",
        "account_places",
        ["premises_guid"],
        unique=False,
        if_not_exists=True,
    )

    op.create_table(
        "device_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("device_guid", sa.String(length=36), nullable=False),
        sa.Column("account_guid", sa.String(length=36), nullable=True),
        sa.Column("premises_guid", sa.String(length=36), nullable=True),
        sa.Column("living_room_guid", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_guid"],
            ["accounts.guid"],
        ),
        sa.ForeignKeyConstraint(
            ["device_guid"],
            ["metering_devices.guid"],
        ),
        sa.ForeignKeyConstraint(
            ["living_room_guid"],
            ["living_rooms.guid"],
        ),
        sa.ForeignKeyConstraint(
            ["premises_guid"],
            ["premises.guid"],
        ),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    op.create_index(
        "ix_device_links_account_guid",
        "device_links",
        ["account_guid"],
        unique=False,
        if_not_exists=True,
    )
    op.create_index(
        "ix_device_links_device_guid",
        "device_links",
        ["device_guid"],
        unique=False,
        if_not_exists=True,
    )

    op.create_index(
        "ix_jobs_pending",
        "jobs",
        ["id"],
        unique=False,
        sqlite_where=sa.text("state IN ('queued', 'running')"),
        postgresql_where=sa.text("state IN ('queued', 'running')"),
        if_not_exists=True,
    )
    if op.get_bind().dialect.name == "postgresql":
        _create_notify_trigger()


def _create_notify_trigger() -> None:
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION gateway_jobs_notify() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{JOBS_CHANNEL}', '');
            RETURN NULL;
        END $$
        """
    )
    op.execute("DROP TRIGGER IF EXISTS jobs_notify ON jobs")
    op.execute(
        """
        CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OF state ON jobs
        FOR EACH ROW WHEN (NEW.state = 'queued') EXECUTE FUNCTION gateway_jobs_notify()
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS jobs_notify ON jobs")
        op.execute("DROP FUNCTION IF EXISTS gateway_jobs_notify()")
    op.drop_table("device_links")
    op.drop_table("account_places")
    op.drop_table("readings")
    op.drop_table("living_rooms")
    op.drop_table("device_resources")
    op.drop_table("premises")
    op.drop_table("packet_events")
    op.drop_table("org_certificates")
    op.drop_table("metering_devices")
    op.drop_table("lifts")
    op.drop_table("jobs")
    op.drop_table("house_suppliers")
    op.drop_table("entrances")
    op.drop_table("trust_anchors")
    op.drop_table("packets")
    op.drop_table("organizations")
    op.drop_table("houses")
    op.drop_table("accounts")
