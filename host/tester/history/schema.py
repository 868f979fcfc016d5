"""The history database's tables (SQLAlchemy Core), one home for every column name. The
migrations in migrations/versions create exactly these; a test holds them equal.

Field names follow the JSON record (records.run.CONTACT_FIELDS, records.monitor.EVENT_COLUMNS) so an export
reads like the record. Some run columns are repeated on the measurement rows (fixture, time,
simulated, kind, stage, lot): drift and yield over 100,000 runs then read one indexed table."""

import sqlalchemy as sa

from tester.firmware import protocol

metadata = sa.MetaData()

# The newest migration in migrations/versions (tests hold them equal): a database already there
# is opened without loading Alembic (0.4 s of imports on every tester command).
HEAD = "0001"

# The verdicts that judge the connector (first pass, yield); ERROR, ABORTED and INVALID runs say
# nothing about it.
JUDGED = (protocol.PASS, protocol.FAIL)

runs = sa.Table(
    "runs",
    metadata,
    # identity of the record (kind, start time, fixture uid, host): the same record stored twice is
    # one run; record_sha256 tells whether its content changed (a resumed vibration procedure).
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("record_sha256", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("verdict", sa.String(16)),
    sa.Column("simulated", sa.Boolean, nullable=False),
    sa.Column("complete", sa.Boolean),
    sa.Column("started", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_s", sa.Float, nullable=False),  # epoch seconds: arithmetic in any dialect
    sa.Column("day", sa.String(10), nullable=False),  # UTC YYYY-MM-DD: grouping in any dialect
    sa.Column("duration_s", sa.Float),
    sa.Column("serial", sa.String(64)),
    sa.Column("lot", sa.String(64)),
    sa.Column("operator", sa.String(64)),
    sa.Column("stage", sa.String(16)),
    sa.Column("positions", sa.Integer),
    sa.Column("fixture_id", sa.String(64)),
    sa.Column("fixture_uid", sa.String(64)),
    sa.Column("firmware_version", sa.String(32)),
    sa.Column("protocol_version", sa.Integer),
    sa.Column("calibration_id", sa.String(64)),
    sa.Column("error", sa.Text),
    sa.Column("source_dir", sa.Text),
    # a contact resistance run made inside a vibration procedure points at it (not a first pass)
    sa.Column("parent_id", sa.String(64)),
    # this connector's first judged (PASS/FAIL) contact resistance run, outside any procedure:
    # kept by store.py whenever a run of its serial is stored, so yield is a plain count
    sa.Column("first_pass", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    # last: a SQLite row keeps the columns before these on its first page, the rest overflows
    sa.Column("conditions", sa.JSON),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Index("ix_runs_kind_serial_started", "kind", "serial", "started_s"),
    sa.Index("ix_runs_lot", "lot"),
    # covers yield (the runs rows are wide: they hold the record)
    sa.Index("ix_runs_yield", "first_pass", "simulated", "verdict", "lot", "day", "fixture_id", "started_s", "id"),
    # covers yield's count of runs that ended ERROR/ABORTED
    sa.Index("ix_runs_unjudged", "kind", "verdict", "parent_id", "simulated", "lot", "fixture_id", "started_s"),
    sa.Index("ix_runs_fixture_started", "fixture_id", "started_s"),
    sa.Index("ix_runs_started", "started_s"),
)

measurements = sa.Table(
    "measurements",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("pin", sa.Integer),  # a contact, or
    sa.Column("anchor", sa.Integer),  # an anchor plate
    sa.Column("r_mohm", sa.Float),
    sa.Column("u_mohm", sa.Float),
    sa.Column("emf_uv", sa.Float),
    sa.Column("limit_mohm", sa.Float),
    sa.Column("verdict", sa.String(16)),
    sa.Column("fault", sa.String(16)),
    sa.Column("i_ma", sa.Float),
    sa.Column("r_raw_mohm", sa.Float),  # before the fixture's calibration
    sa.Column("fixture_id", sa.String(64)),
    sa.Column("started_s", sa.Float),
    sa.Column("simulated", sa.Boolean),
    sa.Column("stage", sa.String(16)),
    sa.Index("ix_meas_run", "run_id"),
    sa.Index("ix_meas_fixture_pin", "fixture_id", "pin", "anchor", "started_s"),  # a pin's control chart
    sa.Index("ix_meas_verdict", "verdict", "run_id"),  # the few failing rows among millions (Pareto)
)

shorts = sa.Table(
    "shorts",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("side", sa.String(16)),
    sa.Column("pin_a", sa.Integer),
    sa.Column("pin_b", sa.Integer),
    sa.Column("ohm", sa.Float),
    sa.Index("ix_shorts_run", "run_id"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("window", sa.String(32)),
    sa.Column("seq", sa.Integer),
    sa.Column("channel", sa.Integer),
    sa.Column("pins", sa.String(64)),
    sa.Column("t_us", sa.BigInteger),  # start, into the window
    sa.Column("length_ns", sa.BigInteger),  # width
    sa.Column("axis", sa.String(8)),
    sa.Column("direction", sa.String(8)),
    sa.Column("shock", sa.Integer),
    sa.Column("sweep_hz", sa.Float),
    sa.Column("open_at_end", sa.Boolean),
    sa.Index("ix_events_run", "run_id"),
)

# Glitches below 1 us per window and channel (the firmware's width histogram, as recorded).
histograms = sa.Table(
    "histograms",
    metadata,
    sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("window", sa.String(32)),
    sa.Column("channel", sa.Integer),
    sa.Column("pins", sa.String(64)),
    sa.Column("failures", sa.Integer),
    sa.Column("glitches", sa.Integer),
    sa.Column("longest_ns", sa.BigInteger),
    sa.Column("bins", sa.JSON),
    sa.Index("ix_hist_run", "run_id"),
)

# Drift's running sums per fixture, position, stage and UTC day (one row per day, however many
# runs): drift over 100,000 runs reads a few thousand rows. pos: pin N is N, anchor plate N is -N;
# stage "" for contacts (their limit does not depend on it). t is seconds into the day.
drift_sums = sa.Table(
    "drift_sums",
    metadata,
    sa.Column("fixture_id", sa.String(64), primary_key=True),
    sa.Column("simulated", sa.Boolean, primary_key=True),
    sa.Column("pos", sa.Integer, primary_key=True),
    sa.Column("stage", sa.String(16), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("sum_r", sa.Float, nullable=False),
    sa.Column("sum_rr", sa.Float, nullable=False),
    sa.Column("sum_t", sa.Float, nullable=False),
    sa.Column("sum_tt", sa.Float, nullable=False),
    sa.Column("sum_tr", sa.Float, nullable=False),
    sa.Column("r_min", sa.Float),
    sa.Column("r_max", sa.Float),
    sa.Column("t_min", sa.Float),  # epoch seconds
    sa.Column("t_max", sa.Float),
)

CHILDREN = (measurements, shorts, events, histograms)
