"""tester report: the HTML of each record kind (from real records of the simulated fixture),
self-contained, naming what failed, SIMULATED when it is; tester report DIR / RUN / --lot /
--drift end to end through the history database. The browser checks are in
test_report_browser.py."""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import report_records  # noqa: E402

from tester import report  # noqa: E402

TESTER = report_records.TESTER


@pytest.fixture(scope="module")
def dirs():
    return report_records.records()


def _ids(html, prefix):
    return re.findall(r'id="(%s[^"]*)"' % re.escape(prefix), html)


def assert_self_contained(html):
    # nothing fetched: no script, no external stylesheet, image or font (an xmlns is not a fetch)
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html), re.search(r'(src|href)="(https?:)?//[^"]*', html)
    assert "@import" not in html and "url(http" not in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "duplicate ids across inline SVGs"


def test_run_report_names_failing_pins_and_draws_each_bar(dirs):
    rec = report_records.load("run")
    html = report_records.html("run")
    assert_self_contained(html)
    assert rec["simulated"] and "SIMULATED" in html and 'class="sim-banner"' in html
    assert 'data-verdict="FAIL"' in html
    # every contact and anchor plate has a bar; the failing ones are named in words and in the plot
    assert len(_ids(html, "resistance-bar-")) == rec["positions"] + len(rec["anchors"])
    for label in ("17", "5"):
        assert 'data-failing="%s"' % label in html
        assert "resistance-label-%s" % label in html
    assert "pin 17" in html and "pin 5" in html
    # the receptacle's bridge is drawn on the receptacle board only
    assert _ids(html, "shorts-short-receptacle-27-28") and not _ids(html, "shorts-short-plug-")
    assert "receptacle board: pins 27-28 shorted" in html
    # EMF: a bar per measured item (the open pin has none)
    assert len(_ids(html, "emf-emf-")) == sum(1 for c in rec["contacts"] + rec["anchors"] if c["emf_uv"] is not None)
    assert rec["calibration"]["id"] in html and "4-wire" in html


def test_real_record_has_no_simulated_mark(dirs):
    rec = report_records.load("run")
    rec["simulated"] = False
    rec["calibration"]["simulated"] = False
    html = report.render(rec)
    assert "SIMULATED" not in html and "sim-banner" not in html.split("</style>")[1]


def test_monitor_report_timeline_histogram_selfcheck(dirs):
    rec = report_records.load("monitor")
    html = report_records.html("monitor")
    assert_self_contained(html)
    assert "SIMULATED" in html
    n = len(rec["events"])
    assert n > 0 and 'data-points="%d"' % n in html
    assert html.count("<use ") >= n  # matplotlib draws each scatter point as a <use> of its marker
    ch = next(c for c in rec["failing"])
    assert 'data-failing="%s"' % " ".join(map(str, ch["pins"])) in html
    # glitches below 1 us: the histogram holds every one the record counted
    glitches = sum(c["glitches"] for w in rec["windows"] for c in w["channels"])
    assert glitches > 0 and 'data-glitches="%d"' % glitches in html
    checks = sum(len(w["selfcheck"]) for w in rec["windows"])
    assert checks and 'data-plot="selfcheck" data-points="%d"' % checks in html


def test_vibration_qualification_in_one_file(dirs):
    rec = report_records.load("vibration")
    html = report_records.html("vibration")
    assert_self_contained(html)
    assert 'data-stage="initial"' in html and 'data-stage="after"' in html
    for axis in ("X", "Y", "Z"):
        assert "axis %s monitored" % axis in html and _ids(html, "timeline-events-%s" % axis)
    assert "sweep frequency" in html and 'data-plot="delta"' in html
    assert len(_ids(html, "initial-resistance-bar-")) == 42 and len(_ids(html, "after-resistance-bar-")) == 42
    # moved elsewhere without its stages: says so instead of failing
    lone = copy.deepcopy(rec)
    for st in lone["stages"].values():
        st["dir"] = "/nonexistent/" + Path(st["dir"]).name
    html = report.render(lone)
    assert "was not found beside this one" in html and 'data-stage="initial"' not in html


def test_shock_report_events_by_shock_number(dirs):
    rec = report_records.load("shock")
    html = report_records.html("shock")
    assert_self_contained(html)
    assert len(rec["windows"]) == 18 and "x: shock number and direction" in html
    assert "18\n-Z" in html or "18" in html  # tick labels: number and direction
    assert 'data-points="%d"' % len(rec["events"]) in html


def test_interrupted_record_still_renders():
    rec = report_records.load("run")
    rec["contacts"] = rec["contacts"][:7]
    rec["anchors"] = []
    rec["verdict"], rec["interrupted_by"], rec["complete"] = "ABORTED", "SIGINT", False
    html = report.render(rec)
    assert 'data-verdict="ABORTED"' in html and len(_ids(html, "resistance-bar-")) == 7


def _tester(capsys, monkeypatch, *args, env_db=None):
    """tester's main() in this process (a subprocess would pay matplotlib's import each time)."""
    from tester import cli

    if env_db:
        monkeypatch.setenv("TESTER_DB", str(env_db))
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def test_cli_report_dir_and_stored_run(dirs, tmp_path, capsys, monkeypatch):
    from tester.history import db as hdb
    from tester.history import store

    db = tmp_path / "h.db"
    engine = hdb.open_db(str(db))
    store.store_dir(engine, dirs["vibration"])  # what tester import does
    hdb.dispose_all()
    out = tmp_path / "dir.html"
    r = _tester(capsys, monkeypatch, "report", str(dirs["run"]), "--out", str(out), env_db=db)
    assert r.returncode == 0, r.stderr
    assert 'data-failing="17"' in out.read_text()
    import sqlite3

    rid = sqlite3.connect(db).execute("select id from runs where kind='vibration'").fetchone()[0]
    out2 = tmp_path / "run.html"
    r = _tester(capsys, monkeypatch, "report", rid[:12], "--out", str(out2), env_db=db)
    assert r.returncode == 0, r.stderr
    html = out2.read_text()  # the stages come from the database (child runs), not from the directory
    assert 'data-stage="initial"' in html and 'data-stage="after"' in html
    r = _tester(capsys, monkeypatch, "report", "0000000000", env_db=db)
    assert r.returncode == 2 and "no stored run" in r.stderr
    r = _tester(capsys, monkeypatch, "report", str(dirs["run"]), "--lot", "L", env_db=db)
    assert r.returncode == 2


def test_lot_and_drift_reports_from_the_database(dirs, tmp_path):
    from tester.history import db as hdb
    from tester.history import queries, store

    engine = hdb.open_db(str(tmp_path / "lot.db"))
    base = report_records.load("run")
    lot = report_records.synthetic_lot(base, n=30)
    for rec in lot:
        store.store(engine, rec)
    fails = sum(1 for r in lot if r["verdict"] == "FAIL")
    y = queries.yield_report(engine, lot="L7")
    html = report.render_lot(y, "L7")
    assert_self_contained(html)
    assert "SIMULATED" in html
    assert "%.1f %%" % (100.0 * (30 - fails) / 30) in html
    assert 'data-plot="pareto-pin0" data-bars="1"' in html and "pin 17" in html
    fixture = base["fixture"]["id"]
    d = queries.drift(engine, fixture, series=True)
    html = report.render_drift(d, fixture)
    assert_self_contained(html)
    assert 'data-failing="pin 12"' in html  # the rising pin, named
    assert 'data-charts="%d"' % (base["positions"] + len(base["anchors"])) in html
    hdb.dispose_all()
