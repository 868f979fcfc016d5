"""tester export: runs, measurements or events as CSV or Parquet, with the record's field names
(measurements as in record.json's contacts/anchors and measurements.csv; events as events.csv).
Rows are streamed in batches: an export of 100,000 runs never holds them all."""

import csv
from datetime import datetime, timezone

import sqlalchemy as sa

from tester.history import queries, schema

R = schema.runs
BATCH = 5000
RUN_FIELDS = ("run_id", "started", "kind", "run_verdict", "simulated", "serial", "lot", "operator", "stage", "positions",
              "fixture_id", "firmware_version", "calibration_id", "duration_s", "source_dir")
MEASUREMENT_FIELDS = ("pin", "anchor", "r_mohm", "u_mohm", "emf_uv", "limit_mohm", "verdict", "fault", "i_ma", "r_raw_mohm")
EVENT_FIELDS = ("window", "seq", "channel", "pins", "axis", "direction", "shock", "t_us", "sweep_hz", "length_ns", "open_at_end")


def _run_cols():
    c = R.c
    return [c.id.label("run_id"), c.started, c.kind, c.verdict.label("run_verdict"), c.simulated, c.serial, c.lot, c.operator,
            c.stage, c.positions, c.fixture_id, c.firmware_version, c.calibration_id, c.duration_s, c.source_dir]


def select(what="measurements", serial=None, lot=None, fixture=None, since=None, verdict=None, kind=None, simulated="mix"):
    if what == "runs":
        q, fields = sa.select(*_run_cols()), RUN_FIELDS
    elif what == "measurements":
        t = schema.measurements
        q = sa.select(*_run_cols(), *[t.c[f] for f in MEASUREMENT_FIELDS]).join(t, t.c.run_id == R.c.id)
        fields = RUN_FIELDS + MEASUREMENT_FIELDS
    elif what == "events":
        t = schema.events
        q = sa.select(*_run_cols(), *[t.c[f] for f in EVENT_FIELDS]).join(t, t.c.run_id == R.c.id)
        fields = RUN_FIELDS + EVENT_FIELDS
    else:
        raise ValueError(what)
    for col, v in ((R.c.serial, serial), (R.c.lot, lot), (R.c.fixture_id, fixture), (R.c.kind, kind)):
        if v is not None:
            q = q.where(col == v)
    if verdict is not None:
        q = q.where(R.c.verdict == verdict.upper())
    if since is not None:
        q = q.where(R.c.started_s >= queries.since_s(since))
    if simulated in ("exclude", "only"):
        q = q.where(R.c.simulated == (simulated == "only"))
    return q.order_by(R.c.started_s, R.c.id), fields


def _batches(engine, q):
    with engine.connect().execution_options(readonly=True, stream_results=True, yield_per=BATCH) as conn:
        for part in conn.execute(q).partitions(BATCH):
            yield part


def _cell(v):
    if isinstance(v, datetime):
        if v.tzinfo is not None:  # PostgreSQL answers in the session's time zone
            v = v.astimezone(timezone.utc)
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"  # the record's form (UTC)
    return v


def write_csv(engine, q, fields, out):
    """`out`: a text file. Returns the number of rows."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow(fields)
    n = 0
    for part in _batches(engine, q):
        for row in part:
            w.writerow(["" if v is None else ("true" if v is True else "false" if v is False else _cell(v)) for v in row])
        n += len(part)
    return n


def _arrow_schema(fields, q):
    import pyarrow as pa

    types = {}
    for col in q.selected_columns:
        t = col.type
        if isinstance(t, sa.Boolean):
            types[col.name] = pa.bool_()
        elif isinstance(t, (sa.Integer, sa.BigInteger)):
            types[col.name] = pa.int64()
        elif isinstance(t, sa.Float):
            types[col.name] = pa.float64()
        else:
            types[col.name] = pa.string()
    return pa.schema([(f, types[f]) for f in fields])


def write_parquet(engine, q, fields, path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema_ = _arrow_schema(fields, q)
    n = 0
    with pq.ParquetWriter(str(path), schema_) as w:
        for part in _batches(engine, q):
            cols = list(zip(*part))
            arrays = [pa.array([_cell(v) if isinstance(v, datetime) else v for v in col], type=schema_.field(i).type)
                      for i, col in enumerate(cols)]
            w.write_table(pa.Table.from_arrays(arrays, schema=schema_))
            n += len(part)
        if n == 0:
            w.write_table(schema_.empty_table())
    return n
