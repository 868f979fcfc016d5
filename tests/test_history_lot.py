"""End to end on the simulated fixture: a lot of 50 connectors with known defects (a mix of
scenarios) gives the right first-pass yield and Pareto, on SQLite and on PostgreSQL. Five real
simulated runs (one per scenario) are varied in-process into the lot (tests/history_records.py)."""

import json
import subprocess
from collections import Counter

import pytest

from history_records import TESTER, fresh_db, lot_plan, lot_records, vary, T0
from tester.history import db as hdb
from tester.history import queries, store


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lot_db(request, tmp_path_factory, history_base_records):
    """The lot, stored once per database kind for this module's tests (they only read)."""
    url = fresh_db(request.param, tmp_path_factory.mktemp("lot"), request)
    engine = hdb.open_db(url)
    for rec in lot_records(history_base_records):
        store.store(engine, rec)
    # five connectors of a real fixture, kept apart from the simulated ones (test data: good
    # simulated records relabelled real, to check the separation, not the fixture)
    for i in range(5):
        store.store(engine, vary(history_base_records["good-40"][0], "R-%d" % i, T0.replace(hour=20, minute=i), "L1",
                                 seed=100 + i, simulated=False))
    yield url, engine
    engine.dispose()
    hdb._ready.pop(hdb.resolve_url(url), None)


def _expected(base):
    """What the scenarios' known defects make of the lot: failing rows by fault and by position,
    from the base records themselves, times how many first passes each scenario has."""
    firsts = Counter(name for name, _, attempt in lot_plan() if attempt == 1)
    by_fault, by_pos = Counter(), Counter()
    for name, n in firsts.items():
        rec = base[name][0]
        for key, items in (("pin", rec["contacts"]), ("anchor", rec["anchors"])):
            for m in items:
                if m["verdict"] != "PASS":
                    by_fault[m["fault"]] += n
                    by_pos["%s %d" % (key, m[key])] += n
    return by_fault, by_pos


def test_the_scenarios_defects_are_where_the_lot_expects_them(history_base_records):
    by_fault, by_pos = _expected(history_base_records)
    # the known defects: pin 17 high (4), pin 5 open (3), 17-18 bridged (2), an anchor plate (1)
    assert by_fault["open"] == 3 and by_pos["pin 5"] == 3
    assert by_pos["pin 17"] >= 4 + 2 and by_pos["pin 18"] >= 2
    assert any(k.startswith("anchor") for k in by_pos)
    assert history_base_records["bridge-plug-40"][0]["shorts"]


def test_lot_yield_and_pareto(lot_db, history_base_records):
    _, engine = lot_db
    sim, real = None, None
    for s in queries.yield_report(engine, lot="L1"):
        if s["simulated"]:
            sim = s
        else:
            real = s
    # simulated and real kept apart by default
    assert sim["total"] == {"units": 50, "passed": 40, "failed": 10, "fpy": 0.8}
    assert real["total"] == {"units": 5, "passed": 5, "failed": 0, "fpy": 1.0}
    by_fault, by_pos = _expected(history_base_records)
    assert {f["fault"]: f["count"] for f in sim["by_fault"]} == dict(by_fault)
    assert {p["position"]: p["count"] for p in sim["by_pin"]} == dict(by_pos.most_common(10))
    assert sim["by_pin"][0]["position"] == "pin 17"  # the pin that fails most
    counts = [p["count"] for p in sim["by_pin"]]
    assert counts == sorted(counts, reverse=True) and sim["by_pin"][-1]["cumulative"] == pytest.approx(1.0)
    assert sim["runs_with_shorts"] == 2
    # mixed on request; real alone on request
    (mix,) = queries.yield_report(engine, lot="L1", simulated="mix")
    assert mix["total"]["units"] == 55 and mix["total"]["passed"] == 45
    (only_real,) = queries.yield_report(engine, simulated="exclude")
    assert only_real["total"]["units"] == 5


def test_yield_by_day_and_fixture(lot_db):
    _, engine = lot_db
    (s,) = queries.yield_report(engine, by="day", simulated="only")
    days = {g["group"]: (g["units"], g["passed"]) for g in s["groups"]}
    assert days == {"2026-03-02": (30, 30), "2026-03-03": (20, 10)}  # the plan's first 30 are good
    (f,) = queries.yield_report(engine, by="fixture", simulated="only")
    assert [(g["units"], g["passed"]) for g in f["groups"]] == [(50, 40)]


def test_history_filters(lot_db):
    _, engine = lot_db
    rows = queries.history(engine, serial="L1-041")
    assert [r["verdict"] for r in rows] == ["PASS", "FAIL"]  # the retest, newest first, then the first pass
    assert any("pin 17" in f for f in rows[1]["failed"])
    fails = queries.history(engine, lot="L1", verdict="fail", limit=1000)
    assert len(fails) == 10 and all(r["verdict"] == "FAIL" for r in fails)
    assert queries.history(engine, since="2026-03-04", limit=1000) and all(
        r["started"].day >= 4 for r in queries.history(engine, since="2026-03-04", limit=1000))


def test_yield_command_line(lot_db):
    url, _ = lot_db
    r = subprocess.run([TESTER, "yield", "--lot", "L1", "--db", url, "--json"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    sections = json.loads(r.stdout)
    assert [(s["simulated"], s["total"]["units"], s["total"]["passed"]) for s in sections] == [(False, 5, 5), (True, 50, 40)]
    r = subprocess.run([TESTER, "yield", "--lot", "L1", "--db", url], capture_output=True, text=True, timeout=60)
    assert "SIMULATED" in r.stdout and "80.0%" in r.stdout and "pin 17" in r.stdout
