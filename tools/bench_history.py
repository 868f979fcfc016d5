"""`make bench`, history database: insert time per run and query time for yield and drift with
100,000 runs stored, on SQLite (a file here) and PostgreSQL 15 (a throwaway server, tools/pg.py).
Goals (issue 10): a run stored in < 50 ms; yield and drift over 100,000 runs in < 1 s.

What is measured: wall time on this machine of tester.history's own calls (store.store, queries.*)
against a database that already holds N runs. The N runs are one real simulated 40-position
record varied (serial, time over 200 days, lot of 100, fixture of 4, 5 % failing pins, one pin of
one fixture drifting), bulk-loaded in batches (the load's rate is printed, not a goal). Also
measured: a fresh process's cost to open the database and store one record (what `tester run`
adds after its verdict), Python imports included.

    python tools/bench_history.py [--runs N] [--only sqlite|postgresql]
"""

import argparse
import copy
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

BATCH = 1000
FIXTURES = ("FX-BENCH-1", "FX-BENCH-2", "FX-BENCH-3", "FX-BENCH-4")
DRIFT_PIN = 12  # on FX-BENCH-1: +6 mOhm over the 200 days
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def base_record(tmp):
    """One real record: tester run --pins 40 --sim."""
    out = Path(tmp) / "res"
    r = subprocess.run([str(Path(sys.executable).parent / "tester"), "run", "--pins", "40", "--sim", "--out", str(out),
                        "--db", str(Path(tmp) / "scratch.sqlite")], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit("bench_history: the simulated run failed: %s" % r.stderr[-500:])
    return json.loads(next(out.glob("*/record.json")).read_text())


def varied(base, i, n, rnd):
    """Run i of n: shallow copies except what changes."""
    r = dict(base)
    fx = FIXTURES[i % len(FIXTURES)]
    started = T0 + timedelta(seconds=200 * 86400 * i / n)
    r["serial"] = "B%07d" % (i if rnd.random() > 0.03 else max(i - 4, 0))  # a few retests
    r["lot"] = "LOT-%03d" % (i * 100 // n)
    r["started"] = started.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    r["fixture"] = dict(base["fixture"], id=fx, uid="uid-" + fx)
    r["simulated"] = False  # bench data, counted as a real line's
    contacts = [dict(c) for c in base["contacts"]]
    for c in contacts:
        c["r_mohm"] = round(c["r_mohm"] + rnd.gauss(0, 0.3), 4)
    if fx == FIXTURES[0]:
        contacts[DRIFT_PIN - 1]["r_mohm"] += 6.0 * i / n
    verdict = "PASS"
    if rnd.random() < 0.05:
        c = contacts[rnd.randrange(len(contacts))]
        c.update(r_mohm=75.0, verdict="FAIL", fault="high") if rnd.random() < 0.8 else c.update(r_mohm=None, verdict="FAIL", fault="open")
        verdict = "FAIL"
    r["contacts"] = contacts
    r["verdict"] = verdict
    return r


def bulk_load(engine, base, n):
    from tester.history import schema, store

    rnd = random.Random(1)
    t = time.perf_counter()
    sums = {}
    for start in range(0, n, BATCH):
        runs, children = [], {tb: [] for tb in schema.CHILDREN}
        for i in range(start, min(n, start + BATCH)):
            run, ch = store.rows(varied(base, i, n, rnd), sha="bench%d" % i)
            run["first_pass"] = False
            runs.append(run)
            for tb, items in ch.items():
                children[tb].extend(items)
        store.drift_sums(children[schema.measurements], into=sums)
        with engine.begin() as conn:
            _bulk(conn, schema.runs, runs)
            for tb, items in children.items():
                _bulk(conn, tb, items)
    with engine.begin() as conn:  # what store.store keeps run by run, made once
        _bulk(conn, schema.drift_sums, store.drift_sum_rows(sums))
        store.refresh_first_passes(conn)
    return time.perf_counter() - t


def _bulk(conn, table, rows):
    """executemany on the driver with the statement SQLAlchemy compiles and its own bind
    conversions (JSON, dates): the same rows as store.store writes, without its per-row
    Python overhead (3 of the 5.6 s of a 2,000-run load)."""
    if not rows:
        return
    dialect = conn.dialect
    keys = list(rows[0])
    compiled = table.insert().compile(dialect=dialect, column_keys=keys)
    procs = {k: table.c[k].type._cached_bind_processor(dialect) for k in keys}
    conv = [(k, procs[k]) for k in (compiled.positiontup if compiled.positional else keys)]
    if compiled.positional:
        params = [tuple(p(r[k]) if p else r[k] for k, p in conv) for r in rows]
    else:
        params = [{k: (p(r[k]) if p else r[k]) for k, p in conv} for r in rows]
    cur = conn.connection.driver_connection.cursor()
    try:
        cur.executemany(str(compiled), params)
    finally:
        cur.close()


def timed(fn, repeat):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def cold_store_s(url, record_file):
    code = ("import json,sys,time; t=time.perf_counter(); from tester.history import db, store; "
            "e=db.open_db(sys.argv[1]); store.store(e, json.load(open(sys.argv[2]))); print(time.perf_counter()-t)")
    r = subprocess.run([sys.executable, "-c", code, url, str(record_file)], capture_output=True, text=True, timeout=120)
    return float(r.stdout.strip()) if r.returncode == 0 else None


def bench(name, url, base, n, tmp):
    from tester.history import db, queries, store

    engine = db.open_db(url)
    load_s = bulk_load(engine, base, n)
    if engine.dialect.name == "postgresql":
        # what autovacuum does on a running server after a load this size: planner statistics
        # and the visibility map (index-only scans); without it the first plans read every row
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    rnd = random.Random(2)
    news = [varied(base, n + k, n, rnd) for k in range(100)]
    for k, r in enumerate(news):
        r["serial"] = "NEW%05d" % k
    it = iter(news)
    ins = timed(lambda: store.store(engine, next(it)), 100)
    again = timed(lambda: store.store(engine, news[0]), 20)  # the same record again (import)
    rec_file = Path(tmp) / "one.json"
    one = copy.deepcopy(news[0])
    one["serial"] = "COLD"
    rec_file.write_text(json.dumps(one))
    cold = cold_store_s(url, rec_file)
    y_all = timed(lambda: queries.yield_report(engine, by="lot"), 3)
    y_lot = timed(lambda: queries.yield_report(engine, lot="LOT-050"), 3)
    y_day = timed(lambda: queries.yield_report(engine, by="day"), 3)
    d_fx = timed(lambda: queries.drift(engine, FIXTURES[0]), 3)
    d_pin = timed(lambda: queries.drift(engine, FIXTURES[0], pin=DRIFT_PIN), 3)
    h = timed(lambda: queries.history(engine, lot="LOT-050", limit=50), 3)
    (dr,) = queries.drift(engine, FIXTURES[0])
    (yr,) = queries.yield_report(engine)
    ms = lambda xs: "%7.1f ms" % (1000 * statistics.median(xs))  # noqa: E731
    ok = lambda xs, goal: "ok" if statistics.median(xs) < goal else "OVER the goal"  # noqa: E731
    print("%s, %d runs stored (%d measurement rows): bulk load %.0f s (%.0f runs/s)" % (
        name, n + 100, (n + 100) * 42, load_s, n / load_s))
    print("  store one run (record, 42 measurements), median of 100  %s  p95 %.1f ms  (goal < 50 ms: %s)" % (
        ms(ins), 1000 * sorted(ins)[94], ok(ins, 0.05)))
    print("  store the same record again (import, idempotent)        %s" % ms(again))
    print("  a new tester process: imports + open + store one run     %s" % ("%7.1f ms" % (1000 * cold) if cold else "FAILED"))
    print("  yield, all lots, by lot (first pass + Pareto)           %s  (goal < 1 s: %s)" % (ms(y_all), ok(y_all, 1)))
    print("  yield, one lot                                          %s  (goal < 1 s: %s)" % (ms(y_lot), ok(y_lot, 1)))
    print("  yield, by day                                           %s" % ms(y_day))
    print("  drift, one fixture (%d runs), all pins                 %s  (goal < 1 s: %s)" % (dr["pins"][0]["n"], ms(d_fx), ok(d_fx, 1)))
    print("  drift, one pin with its control chart points            %s" % ms(d_pin))
    print("  history, one lot, 50 rows                               %s" % ms(h))
    print("  check: first-pass yield %.1f %% over %d connectors; rising: %s (expected pin %d)" % (
        100 * yr["total"]["fpy"], yr["total"]["units"], ", ".join(dr["rising"]) or "none", DRIFT_PIN))
    engine.dispose()


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100000)
    ap.add_argument("--only", choices=("sqlite", "postgresql"))
    a = ap.parse_args(argv)
    print("history database (issue 10): %d runs; goals: store < 50 ms, yield and drift < 1 s" % a.runs)
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        base = base_record(tmp)
        if a.only in (None, "sqlite"):
            bench("SQLite", str(Path(tmp) / "h.sqlite"), base, a.runs, tmp)
        if a.only in (None, "postgresql"):
            from pg import PgServer

            with PgServer() as pg:
                bench("PostgreSQL 15", pg.url, base, a.runs, tmp)


if __name__ == "__main__":
    main()
