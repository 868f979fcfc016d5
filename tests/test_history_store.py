"""The history database: its schema and migrations, storing a record once whatever happens,
`tester import` idempotent, several writers at once losing nothing (SQLite and PostgreSQL), a
database that fails never failing the run, and export with the record's field names."""

import csv
import io
import json
import subprocess
import sys
import textwrap

import pytest
import sqlalchemy as sa

from history_records import REPO, TESTER, T0, fresh_db, result_dirs, vary
from tester.history import db as hdb
from tester.history import export, schema, store
from tester.records.run import CONTACT_FIELDS


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    u = fresh_db(request.param, tmp_path, request)
    yield u
    e = hdb._ready.pop(hdb.resolve_url(u), None)
    if e is not None:
        e.dispose()


def _count(engine, table):
    with engine.connect().execution_options(readonly=True) as c:
        return c.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def test_migrations_make_exactly_the_schema(url):
    """Alembic's head creates the tables schema.py declares (nothing missing, nothing extra), and
    schema.HEAD names that head."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    assert hdb.head_revision() == schema.HEAD
    engine = hdb.open_db(url)
    assert hdb.current_revision(engine) == schema.HEAD
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    assert diff == []


def test_db_choice(monkeypatch, tmp_path):
    monkeypatch.delenv("TESTER_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert hdb.resolve_url(None) == "sqlite:///" + str(tmp_path / "xdg" / "tester" / "history.sqlite")
    monkeypatch.setenv("TESTER_DB", str(tmp_path / "env.sqlite"))
    assert hdb.resolve_url(None).endswith("/env.sqlite")
    assert hdb.resolve_url("postgresql://u:pw@h/db") == "postgresql+psycopg://u:pw@h/db"
    assert "pw" not in hdb.describe(hdb.resolve_url("postgresql://u:pw@h/db"))


def test_a_record_stored_twice_is_one_run_and_a_newer_version_replaces_it(url, history_base_records):
    engine = hdb.open_db(url)
    rec = history_base_records["bridge-plug-40"][0]
    rid, status = store.store(engine, rec)
    assert status == "stored"
    assert store.store(engine, json.loads(json.dumps(rec)))[1] == "unchanged"
    n_meas = _count(engine, schema.measurements)
    assert _count(engine, schema.runs) == 1 and n_meas == len(rec["contacts"]) + len(rec["anchors"])
    assert _count(engine, schema.shorts) == len(rec["shorts"]) > 0
    newer = json.loads(json.dumps(rec))
    newer["contacts"] = newer["contacts"][:10]  # same run (same identity), other content
    assert store.store(engine, newer) == (rid, "updated")
    assert _count(engine, schema.runs) == 1 and _count(engine, schema.measurements) == 10 + len(rec["anchors"])


def test_monitoring_records_keep_events_and_histograms(tmp_path, request):
    """A real simulated shock procedure with a 1.5 us intermittent: its events (with shock number
    and axis) and per-channel histograms are stored (SQLite by the command, PostgreSQL by import)."""
    url = fresh_db("sqlite", tmp_path, request)
    out = tmp_path / "res"
    r = subprocess.run([TESTER, "shock", "--pins", "40", "--sim", "--yes", "--window", "1", "--scenario",
                        REPO / "scenarios" / "intermittent-40.toml", "--out", out, "--db", url, "--lot", "Q1",
                        "--operator", "ann"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr  # FAIL: events >= 1 us on pin 9's channel
    (d,) = result_dirs(out)
    rec = json.loads((d / "record.json").read_text())
    assert rec["lot"] == "Q1" and rec["operator"] == "ann"
    engine = hdb.open_db(url)
    with engine.connect() as c:
        run = c.execute(sa.select(schema.runs)).one()
        assert (run.kind, run.verdict, run.lot, run.operator, run.simulated) == ("shock", "FAIL", "Q1", "ann", True)
        ev = c.execute(sa.select(schema.events.c.shock, schema.events.c.axis, schema.events.c.pins)).all()
        hist = c.execute(sa.select(sa.func.count()).select_from(schema.histograms)).scalar()
    assert len(ev) == len(rec["events"]) > 0 and {e.shock for e in ev} <= set(range(1, 19))
    assert all("9" in e.pins.split() for e in ev)
    assert hist == sum(len(w["channels"]) for w in rec["windows"])
    pg = fresh_db("postgresql", tmp_path, request)
    try:
        assert [s for _, _, s in store.store_dir(hdb.open_db(pg), d)] == ["stored"]
        assert _count(hdb.open_db(pg), schema.events) == len(ev) and _count(hdb.open_db(pg), schema.histograms) == hist
    finally:
        hdb._ready.pop(hdb.resolve_url(pg)).dispose()


def test_import_is_idempotent(url, history_base_records, tmp_path):
    folder = {d.parent for _, d in history_base_records.values()}
    args = [TESTER, "import", "--db", url] + sorted(str(p) for p in folder)
    first = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "5 stored, 0 updated, 0 already there" in first.stdout
    second = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert "0 stored, 0 updated, 5 already there" in second.stdout
    assert _count(hdb.open_db(url), schema.runs) == 5


WRITER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from tester.history import db, store
    url, barrier, recs = sys.argv[1], Path(sys.argv[2]), json.loads(Path(sys.argv[3]).read_text())
    engine = db.open_db(url)
    while not barrier.exists():
        time.sleep(0.005)
    out = [store.store(engine, r)[1] for r in recs]
    print(json.dumps(out))
""")


def test_parallel_writers_lose_nothing(url, history_base_records, tmp_path):
    """Four processes (four fixtures) store 15 records each at once, all of them also the same 5
    records (one run each): every record is there exactly once."""
    base = history_base_records["good-40"][0]
    shared = [vary(base, "S-%d" % i, T0.replace(minute=i), "P", seed=i) for i in range(5)]
    barrier = tmp_path / "go"
    procs = []
    try:
        for w in range(4):
            own = [vary(base, "W%d-%d" % (w, i), T0.replace(hour=8 + w, minute=i), "P", seed=1000 * w + i) for i in range(15)]
            f = tmp_path / ("w%d.json" % w)
            f.write_text(json.dumps(own[:7] + shared + own[7:]))
            procs.append(subprocess.Popen([sys.executable, "-c", WRITER, url, str(barrier), str(f)], stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))
        hdb.open_db(url)  # migrated before the race, as the writers' own open_db did
        barrier.touch()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            results.append(json.loads(out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    statuses = [s for r in results for s in r]
    assert statuses.count("stored") == 4 * 15 + 5 and statuses.count("unchanged") == 3 * 5
    engine = hdb.open_db(url)
    assert _count(engine, schema.runs) == 65
    assert _count(engine, schema.measurements) == 65 * (len(base["contacts"]) + len(base["anchors"]))


def test_parallel_first_use_migrates_once(tmp_path):
    """Three processes opening one new SQLite database at once: one migrates, none fails."""
    path = tmp_path / "new.sqlite"
    code = "from tester.history import db; e = db.open_db(%r); print(db.current_revision(e))" % str(path)
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert [o.strip() for o, _ in outs] == [schema.HEAD] * 3


def test_an_unusable_database_never_fails_the_run(tmp_path):
    """The record (and --html's report) is written first; the failed insert is one warning; the
    exit code is the connector's (FAIL); `tester import` catches up later."""
    out = tmp_path / "res"
    bad = tmp_path / "a-file"
    bad.write_text("not a folder")
    r = subprocess.run([TESTER, "run", "--pins", "40", "--sim", "--scenario", REPO / "scenarios" / "open-contact-40.toml",
                        "--out", out, "--db", str(bad / "history.sqlite"), "--lot", "L9", "--html"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    (d,) = result_dirs(out)
    assert "not stored" in r.stderr and "tester import %s" % d in r.stderr
    assert json.loads((d / "record.json").read_text())["lot"] == "L9"
    html = (d / "report.html").read_text()  # --html: written before the database is tried
    assert "SIMULATED" in html and "pin 5" in html
    good = tmp_path / "h.sqlite"
    r = subprocess.run([TESTER, "import", "--db", good, out], capture_output=True, text=True, timeout=60)
    assert "1 stored" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([TESTER, "history", "--db", good, "--lot", "L9", "--json"], capture_output=True, text=True, timeout=60)
    (row,) = json.loads(r.stdout)
    assert row["verdict"] == "FAIL" and row["failed"] == ["pin 5 open"] and row["source_dir"] == str(d)


def test_export_keeps_the_records_field_names(tmp_path, history_base_records):
    url = str(tmp_path / "x.sqlite")
    engine = hdb.open_db(url)
    for rec, _ in history_base_records.values():
        store.store(engine, rec)
    q, fields = export.select("measurements", simulated="only")
    buf = io.StringIO()
    n = export.write_csv(engine, q, fields, buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert n == len(rows) == 5 * 42
    kept = set(CONTACT_FIELDS) - {"n", "fixture_us"}  # all the record's fields the database holds
    assert kept <= set(rows[0])
    rec = history_base_records["high-contact-40"][0]
    mine = [r for r in rows if r["serial"] == rec["serial"] and r["pin"] == "17"]
    assert float(mine[0]["r_mohm"]) == rec["contacts"][16]["r_mohm"] and mine[0]["verdict"] == "FAIL"
    pq_path = tmp_path / "m.parquet"
    r = subprocess.run([TESTER, "export", "--db", url, "--format", "parquet", "--out", pq_path, "--verdict", "FAIL"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    import pyarrow.parquet as pq

    t = pq.read_table(pq_path)
    assert t.num_rows == 4 * 42 and set(t.column("run_verdict").to_pylist()) == {"FAIL"}
    assert t.schema.field("r_mohm").type == "double" and t.schema.field("simulated").type == "bool"


def test_first_pass_and_drift_sums_whatever_the_order(url, history_base_records):
    """Records stored in any order (an import of old directories after new runs) give the same
    first passes; drift's per-day sums give what the raw points give, also after a record is
    replaced by a newer version of itself."""
    import random
    import statistics

    from history_records import lot_records
    from tester.history import queries

    recs = lot_records(history_base_records)
    random.Random(5).shuffle(recs)
    engine = hdb.open_db(url)
    for r in recs:
        store.store(engine, r)
    (s,) = queries.yield_report(engine, simulated="only")
    assert s["total"] == {"units": 50, "passed": 40, "failed": 10, "fpy": 0.8}
    with engine.begin() as conn:  # the bulk form agrees
        store.refresh_first_passes(conn)
    (s2,) = queries.yield_report(engine, simulated="only")
    assert s2["total"] == s["total"] and s2["by_pin"] == s["by_pin"]

    fx = recs[0]["fixture"]["id"]

    def check(pin):
        (d,) = queries.drift(engine, fx, pin=pin, simulated="only")
        (p,) = d["pins"]
        pts = [x["r_mohm"] for x in p["series"]]
        assert p["n"] == len(pts) == len(recs) - (pin == 5) * 3  # pin 5's open runs have no value
        assert p["mean"] == pytest.approx(statistics.fmean(pts), rel=1e-9)
        assert p["sigma"] == pytest.approx(statistics.stdev(pts), rel=1e-6)
        assert (p["min"], p["max"]) == (min(pts), max(pts))
        return p

    check(5)
    before = check(17)
    newer = json.loads(json.dumps(recs[0]))
    newer["contacts"][16]["r_mohm"] += 10.0  # the same run, written again with other content
    assert store.store(engine, newer)[1] == "updated"
    after = check(17)
    assert after["mean"] == pytest.approx(before["mean"] + 10.0 / len(recs), rel=1e-9)
