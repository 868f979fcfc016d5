"""End to end: a fixture whose pin 6 wears (scenarios/wear-10.toml, its resistance raised 2 mOhm
run after run, every run still PASS) is flagged by `tester drift`, and no other pin is. Ten real
runs of the simulated fixture, five at a time, each storing its own record through --db (two
fixtures' worth of writers on one SQLite file); then the same directories imported into
PostgreSQL give the same answer."""

import json
import subprocess

import pytest

from history_records import REPO, TESTER, fresh_db, result_dirs, run_parallel
from tester.history import db as hdb
from tester.history import queries, store

RUNS = 10
STEP_MOHM = 2.0


@pytest.fixture(scope="module")
def worn(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wear")
    base = (REPO / "scenarios" / "wear-10.toml").read_text()
    argvs = []
    for k in range(RUNS):
        sc = tmp / ("wear-%02d.toml" % k)
        sc.write_text(base.replace("[pin.6]\ncontact_mohm = 30.0", "[pin.6]\ncontact_mohm = %.1f" % (30.0 + STEP_MOHM * k)))
        argvs.append(["run", "--pins", "10", "--sim", "--scenario", sc, "--serial", "W-%02d" % k, "--lot", "W1",
                      "--out", tmp / "res", "--db", tmp / "h.sqlite"])
    # started 0.4 s apart: each run's start time follows k (the runs overlap, their writes too)
    res = run_parallel(argvs, tmp, parallel=5, stagger_s=0.4)
    assert [r[0] for r in res] == [0] * RUNS, [r[2][-500:] for r in res if r[0]]
    assert not any("not stored" in r[2] for r in res)
    return tmp


def _fixture_id(tmp):
    return json.loads((result_dirs(tmp / "res")[0] / "record.json").read_text())["fixture"]["id"]


def test_every_run_was_stored(worn):
    engine = hdb.open_db(str(worn / "h.sqlite"))
    rows = queries.history(engine, lot="W1")
    assert sorted(r["serial"] for r in rows) == ["W-%02d" % k for k in range(RUNS)]
    assert all(r["verdict"] == "PASS" for r in rows)


def test_drift_flags_the_worn_pin_only(worn):
    fx = _fixture_id(worn)
    (s,) = queries.drift(hdb.open_db(str(worn / "h.sqlite")), fx, simulated="only")
    assert s["rising"] == ["pin 6"]
    p6 = next(p for p in s["pins"] if p["pin"] == 6)
    assert p6["n"] == RUNS and p6["rise_over_span"] > 0.5 * STEP_MOHM * (RUNS - 1)
    # the simulated fixture measures a steady pin the same every run: no spread, no Cpk bound;
    # pin 6's wear is its spread, and its Cpk falls (to about 1.7 over these ten runs)
    assert all(p["sigma"] == 0 and p["cpk"] is None for p in s["pins"] if p["pin"] != 6)
    assert 1.0 < p6["cpk"] < 2.0 and p6["ucl"] > p6["mean"] + 3 * STEP_MOHM
    assert p6["mean"] == pytest.approx(30.0 + STEP_MOHM * (RUNS - 1) / 2, abs=3.0)
    r = subprocess.run([TESTER, "drift", "--db", worn / "h.sqlite", "--fixture", fx, "--pin", "6"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "pin 6" in r.stdout and "RISING" in r.stdout and "SIMULATED" in r.stdout
    assert r.stdout.count(" 20") >= RUNS  # one control chart point per run (dated 20..)


def test_drift_on_postgresql_from_imported_directories(worn, tmp_path, request):
    url = fresh_db("postgresql", tmp_path, request)
    try:
        engine = hdb.open_db(url)
        for d in store.find_result_dirs([worn / "res"]):
            store.store_dir(engine, d)
        (s,) = queries.drift(engine, _fixture_id(worn), simulated="only")
        assert s["rising"] == ["pin 6"]
    finally:
        hdb._ready.pop(hdb.resolve_url(url)).dispose()
