"""Alembic environment: run programmatically by tester.history.db.upgrade (no alembic.ini)."""

from alembic import context

from tester.history.schema import metadata

# Any 64-bit constant: the lock two PostgreSQL clients take to migrate one at a time.
PG_MIGRATION_LOCK = 586110


def run_migrations_online():
    conn = context.config.attributes.get("connection")
    if conn is None:  # the alembic command line on a developer's machine
        import sqlalchemy as sa

        engine = sa.create_engine(context.config.get_main_option("sqlalchemy.url"))
        with engine.begin() as conn:
            _run(conn)
        return
    _run(conn)


def _run(conn):
    if conn.dialect.name == "postgresql":
        import sqlalchemy as sa

        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
    # render_as_batch: SQLite alters tables by copying them (later migrations)
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported")
run_migrations_online()
