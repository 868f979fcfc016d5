"""Which history database, and an engine on it brought to the schema's head.

--db PATH or URL, else $TESTER_DB, else SQLite in the user's data directory. A PostgreSQL URL
(postgresql://...) is driven by psycopg 3. SQLite runs in WAL mode with a busy timeout, and every
transaction that writes begins IMMEDIATE: several tester processes then queue for the write lock
instead of failing on a stale snapshot (SQLITE_BUSY_SNAPSHOT is not retried by busy_timeout)."""

import os
from pathlib import Path

import sqlalchemy as sa

from tester.history import schema

ENV = "TESTER_DB"
SQLITE_BUSY_TIMEOUT_MS = 30000
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_ready = {}  # url -> engine already migrated in this process


def default_path():
    import platformdirs

    return Path(platformdirs.user_data_dir("tester", appauthor=False)) / "history.sqlite"


def resolve_url(db=None):
    """--db value (or None) -> a SQLAlchemy URL string."""
    target = db or os.environ.get(ENV) or str(default_path())
    if "://" not in target:
        return "sqlite:///" + str(Path(target).expanduser().resolve())
    if target.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + target.split("://", 1)[1]
    return target


def describe(url):
    """The URL without a password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable database URL)"


def make_engine(url):
    u = sa.engine.make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    return engine


def _sqlite_connect(dbapi_conn, _record):
    dbapi_conn.isolation_level = None  # SQLAlchemy's begin event issues BEGIN itself
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=%d" % SQLITE_BUSY_TIMEOUT_MS)
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoint, never corrupt
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_begin(conn):
    # read-only work (queries) asks for a plain BEGIN: it must not hold the write lock
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("readonly") else "BEGIN IMMEDIATE")


def open_db(db=None):
    """An engine on the chosen database, migrated to head (once per process)."""
    url = resolve_url(db)
    engine = _ready.get(url)
    if engine is None:
        engine = make_engine(url)
        if current_revision(engine) != schema.HEAD:
            upgrade(engine)
        _ready[url] = engine
    return engine


def current_revision(engine):
    """The revision the database is at, or None (a new database)."""
    try:
        with engine.connect().execution_options(readonly=True) as conn:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    except sa.exc.DBAPIError:
        return None


def alembic_config(engine=None):
    from alembic.config import Config

    cfg = Config()  # no alembic.ini on the user's side
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def head_revision():
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(engine):
    """`alembic upgrade head` in one transaction: on SQLite it holds the write lock (BEGIN
    IMMEDIATE), on PostgreSQL an advisory lock (migrations/env.py), so two processes opening a
    new database at once migrate it once."""
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def dispose_all():
    for e in _ready.values():
        e.dispose()
    _ready.clear()
