"""The reports opened in a real browser (Debian's headless Chromium, driven by Selenium): every
plot drawn with a non-zero size and the expected number of bars/points, the failing pins named on
the page, SIMULATED on screen and in print, a screenshot of each. One browser for the module.

TESTER_SCREENSHOTS=DIR also saves each screenshot there (docs/screenshots/ for the README)."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import report_browser as rb  # noqa: E402
import report_records  # noqa: E402

from tester import report  # noqa: E402

if not rb.available():  # a missing browser is a failure, never a skip: make setup installs it
    pytest.fail(rb.MISSING, pytrace=False)

# Screenshots for people are cut at this height (the top of the report: verdict and plots).
DOC_HEIGHT = 1800


@pytest.fixture(scope="module")
def driver():
    with rb.browser() as d:
        yield d


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """{kind: html file} of every report kind, written once."""
    out = tmp_path_factory.mktemp("reports")
    files = {}
    for name in ("run", "monitor", "vibration", "shock"):
        files[name] = out / ("%s.html" % name)
        files[name].write_text(report_records.html(name), encoding="utf-8")
    from tester.history import db as hdb
    from tester.history import queries, store

    engine = hdb.open_db(str(out / "lot.db"))
    base = report_records.load("run")
    for rec in report_records.synthetic_lot(base, n=30):
        store.store(engine, rec)
    files["lot"] = out / "lot.html"
    files["lot"].write_text(report.render_lot(queries.yield_report(engine, lot="L7"), "L7"), encoding="utf-8")
    files["drift"] = out / "drift.html"
    files["drift"].write_text(report.render_drift(queries.drift(engine, base["fixture"]["id"], series=True)), encoding="utf-8")
    hdb.dispose_all()
    return files


def _open(driver, path, tmp_path, name):
    rb.open_file(driver, path)
    drawn = rb.plots(driver)
    for pname, p in drawn.items():
        assert p["width"] > 100 and p["height"] > 50, "plot %s not drawn: %s" % (pname, p)
    assert driver.find_element("css selector", ".sim-banner").is_displayed()
    assert "SIMULATED" in driver.find_element("css selector", ".sim-banner").text
    shot = rb.full_screenshot(driver, tmp_path / ("%s.png" % name))
    assert shot.stat().st_size > 10000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    docs = os.environ.get("TESTER_SCREENSHOTS")
    if docs:
        Path(docs).mkdir(parents=True, exist_ok=True)
        driver.set_window_size(1200, DOC_HEIGHT)
        driver.save_screenshot(str(Path(docs) / ("report-%s.png" % name)))
    return drawn


def test_run_report_in_browser(driver, pages, tmp_path):
    rec = report_records.load("run")
    drawn = _open(driver, pages["run"], tmp_path, "run")
    assert set(drawn) >= {"resistance", "emf", "shorts"}
    n = rec["positions"] + len(rec["anchors"])
    assert rb.count(driver, 'figure[data-plot="resistance"] [id^="resistance-bar-"]') == n
    failing = [c for c in rec["contacts"] + rec["anchors"] if c["verdict"] != "PASS"]
    assert rb.count(driver, '[id^="resistance-label-"]') == len(failing) == 4  # 5 open, 17 high, 27-28 short
    names = {e.text for e in driver.find_elements("css selector", ".summary .failing")}
    assert {"pin 17", "pin 5"} <= names
    assert "pin 17" in drawn["resistance"]["text"] and "pin 5" in drawn["resistance"]["text"]
    assert rb.count(driver, '[id^="shorts-short-receptacle-27-28"]', line=True) == 1


def test_monitor_report_in_browser(driver, pages, tmp_path):
    rec = report_records.load("monitor")
    drawn = _open(driver, pages["monitor"], tmp_path, "monitor")
    assert rb.points(driver, "timeline-events") == len(rec["events"]) > 0
    assert int(drawn["glitches"]["data"]["glitches"]) > 0
    sums = {}
    for w in rec["windows"]:
        for c in w["channels"]:
            for i, v in enumerate(c["hist"] or []):
                sums[(c["channel"], i)] = sums.get((c["channel"], i), 0) + v
    assert rb.count(driver, 'figure[data-plot="glitches"] [id^="glitches-hist-"]') == sum(1 for v in sums.values() if v) > 0
    assert sum(rb.points(driver, "selfcheck-check-%d" % i) for i in range(3)) == int(drawn["selfcheck"]["data"]["points"])
    failing = driver.find_element("css selector", ".summary .failing").text
    assert "pins 9 10" in failing


def test_vibration_report_in_browser(driver, pages, tmp_path):
    rec = report_records.load("vibration")
    drawn = _open(driver, pages["vibration"], tmp_path, "vibration")
    assert {"initial-resistance", "after-resistance", "timeline", "glitches", "selfcheck", "delta"} <= set(drawn)
    per_axis = [rb.points(driver, "timeline-events-%s" % a) for a in ("X", "Y", "Z")]
    assert sum(per_axis) == len(rec["events"]) and all(per_axis)
    assert "sweep frequency" in drawn["timeline"]["text"]


def test_shock_report_in_browser(driver, pages, tmp_path):
    rec = report_records.load("shock")
    drawn = _open(driver, pages["shock"], tmp_path, "shock")
    assert rb.points(driver, "timeline-events") == len(rec["events"]) > 0
    assert "+X" in drawn["timeline"]["text"] and "-Z" in drawn["timeline"]["text"]


def test_lot_and_drift_reports_in_browser(driver, pages, tmp_path):
    drawn = _open(driver, pages["lot"], tmp_path, "lot")
    assert rb.count(driver, '[id^="yield0-fpy-"]') == 1
    assert rb.count(driver, '[id^="pareto-pin0-pareto-"]') == 1 and "pin 17" in drawn["pareto-pin0"]["text"]
    drawn = _open(driver, pages["drift"], tmp_path, "drift")
    assert int(drawn["control0"]["data"]["charts"]) == 42
    assert rb.count(driver, '[id^="control0-series-"]', line=True) == 42
    assert "pin 12" in driver.find_element("css selector", ".summary .failing").text


def test_simulated_on_every_printed_page(driver, pages):
    rb.open_file(driver, pages["vibration"])
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        style = driver.execute_script("const s = getComputedStyle(document.querySelector('.sim-watermark'));"
                                      "return [s.display, s.position]")
        assert style == ["block", "fixed"]  # a fixed element is repeated on every printed page
        pdf = driver.execute_cdp_cmd("Page.printToPDF", {"printBackground": True})["data"]
        assert len(pdf) > 10000
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
