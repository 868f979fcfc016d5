"""The station's panel in a real browser (Debian's headless Chromium, driven by Selenium), on
four simulated fixtures: every tile and SIMULATED shown, a START press through the simulated
fixture's button turns its tile to FAIL naming pin 17, a run from the panel's dialog to PASS, a
monitoring tile that updates live (events, elapsed time, timeline), a fixture unplugged shown as
gone and back, monitoring stopped from the panel. Screenshots in the test's directory; with
TESTER_SCREENSHOTS=DIR also there (docs/screenshots/ for the README)."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import report_browser as rb  # noqa: E402
from station_helpers import FIXTURES, station, wait_for  # noqa: E402

if not rb.available():  # a missing browser is a failure, never a skip: make setup installs it
    pytest.fail(rb.MISSING, pytrace=False)

WIDTH, HEIGHT = 1500, 1150
TILE = 'section.tile[data-key="%s"]'


def js(d, script, *args):
    return d.execute_script(script, *args)


def attr(d, fid, name):
    return js(d, "const e = document.querySelector(arguments[0]); return e ? e.dataset[arguments[1]] : null;", TILE % fid, name)


def text(d, fid, css):
    return js(d, "const t = document.querySelector(arguments[0]); const e = t && t.querySelector(arguments[1]);"
                 " return e ? e.textContent : null;", TILE % fid, css)


def click(d, fid, css):
    """Click a button of a tile (found afresh: tiles are redrawn as they change)."""
    ok = js(d, "const t = document.querySelector(arguments[0]); const b = t && t.querySelector(arguments[1]);"
               " if (!b) return false; b.click(); return true;", TILE % fid, css)
    assert ok, "no %s on %s's tile" % (css, fid)


def display_is(d, fid, *want):
    return (lambda v: v if v in want else None)(attr(d, fid, "display"))


def test_panel_follows_four_simulated_fixtures(tmp_path):
    with station(tmp_path) as (st, server, sims, base), rb.browser(WIDTH, HEIGHT) as d:
        d.get(base + "/")
        wait_for("four idle tiles", lambda: all(attr(d, f, "state") == "idle" for f in FIXTURES))
        assert js(d, "return document.querySelectorAll('section.tile').length") == 4
        for f in FIXTURES:
            assert attr(d, f, "simulated") == "1" and text(d, f, ".badge.sim") == "SIMULATED"
            assert text(d, f, ".big .word") == "IDLE" and text(d, f, "button.press")  # START only on simulated ones
        banner = d.find_element("css selector", "#sim-banner")
        assert banner.is_displayed() and "SIMULATED" in banner.text
        assert d.find_element("css selector", "#live").text == "live"
        size = js(d, "return parseFloat(getComputedStyle(document.querySelector(arguments[0] + ' .big')).fontSize)", TILE % FIXTURES[0])
        assert size >= 56  # the state in letters readable from a metre away

        # START pressed on FX-51000001 through its simulated panel button: pin 17 is high
        click(d, FIXTURES[0], "button.press")
        wait_for("FX-51000001 FAIL", lambda: display_is(d, FIXTURES[0], "FAIL"))
        assert text(d, FIXTURES[0], ".failing-pins") == "17"
        assert text(d, FIXTURES[0], ".big .icon") == "\u2716"  # a word and a sign, not colour alone
        assert js(d, "return document.querySelector(arguments[0] + ' .results li').dataset.verdict", TILE % FIXTURES[0]) == "FAIL"
        assert "(START)" in text(d, FIXTURES[0], ".results li")
        report = js(d, "return document.querySelector(arguments[0] + ' .results li a').getAttribute('href')", TILE % FIXTURES[0])
        assert report.startswith("/results/") and report.endswith("/report.html")

        # a run from the panel's dialog on FX-51000002
        click(d, FIXTURES[1], "button.run")
        dialog = d.find_element("css selector", "#job-dialog")
        assert dialog.is_displayed() and d.find_element("css selector", "#job-form [name=pins]").get_attribute("value") == "40"
        d.find_element("css selector", "#job-form [name=serial]").send_keys("PANEL-1")
        d.find_element("css selector", "#job-go").click()
        wait_for("FX-51000002 PASS", lambda: display_is(d, FIXTURES[1], "PASS"))
        assert "PANEL-1" in text(d, FIXTURES[1], ".results li")

        # monitoring on FX-51000003 (an intermittent contact on pin 9): the tile follows it live
        click(d, FIXTURES[2], "button.monitor")
        secs = d.find_element("css selector", "#job-form [name=seconds]")
        secs.clear()
        secs.send_keys("600")
        d.find_element("css selector", "#job-go").click()
        wait_for("MONITORING", lambda: display_is(d, FIXTURES[2], "MONITORING"))

        def events():
            v = js(d, "const e = document.querySelector(arguments[0] + ' [data-events]'); return e ? +e.dataset.events : 0;",
                   TILE % FIXTURES[2])
            return v or None

        first = wait_for("events on the tile", events)
        first_elapsed = text(d, FIXTURES[2], ".elapsed b")
        wait_for("more events", lambda: events() > first)
        wait_for("the clock moving", lambda: text(d, FIXTURES[2], ".elapsed b") != first_elapsed)
        assert js(d, "return document.querySelectorAll(arguments[0] + ' .timeline rect.ev').length", TILE % FIXTURES[2]) >= 2
        assert text(d, FIXTURES[2], 'tr[data-channel="4"] td:nth-child(2)') == "9-10"

        # FX-51000004 unplugged: gone, and the others unaffected
        sims[3].unplug()
        wait_for("FX-51000004 GONE", lambda: display_is(d, FIXTURES[3], "GONE"))
        assert "vanished" in text(d, FIXTURES[3], ".reason")
        wait_for("more events meanwhile", lambda: events() > first + 2)
        rb.shot(d, tmp_path, "station")
        rb.shot(d, tmp_path, "station-monitor", TILE % FIXTURES[2])

        sims[3].replug()
        wait_for("FX-51000004 back", lambda: attr(d, FIXTURES[3], "state") == "idle")

        # monitoring stopped from the panel: its record is kept, ABORTED
        js(d, "window.confirm = () => true;")
        click(d, FIXTURES[2], "button.stop")
        wait_for("FX-51000003 ABORTED", lambda: display_is(d, FIXTURES[2], "ABORTED"))
        assert "monitor 600 s" in text(d, FIXTURES[2], ".results li")

        # a refused request is said on the page (a toast), nothing started
        js(d, "fetch('/api/fixtures/FX-51000001/run', {method: 'POST', body: '{\"pins\": 41}'})"
              ".then(r => r.json()).then(j => toast(j.error));")
        wait_for("the toast", lambda: d.find_element("css selector", "#toast").is_displayed())
        assert "even" in d.find_element("css selector", "#toast").text
