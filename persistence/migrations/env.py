"""alembic environment: runs on the connection handed over by ``persistence.migrations``.

Never started by the ``alembic`` command directly: ``gateway db upgrade|current|revision``
build the configuration in code (``persistence.migrations.alembic_config``).
"""

from __future__ import annotations

from alembic import context

from persistence.models import Base

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: later migrations run as "batch" table rebuilds there.
    render_as_batch=True,
    compare_type=True,
    compare_server_default=False,
)
with context.begin_transaction():
    context.run_migrations()
