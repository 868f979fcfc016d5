"""The vibration procedure (spec 8.6) as a station job: POST /api/fixtures/ID/vibration, one
record as `tester vibration` writes it (stages inside its directory, windows X/Y/Z tagged with
the sweep), the operator's Continue between axes, a stop while waiting, bad requests refused."""

import json
import sys
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from station_helpers import FIXTURES, call, job_done, record, station, tile, wait_for  # noqa: E402

from tester.history import db as hdb  # noqa: E402
from tester.history import store  # noqa: E402

FX = FIXTURES[0]


def one_fixture(tmp_path):
    return station(tmp_path, sims=1, scenarios=("good-40",))


def idle(base):
    return (lambda t: t if t and t["state"] == "idle" else None)(tile(base, FX))


def db_rows(path):
    with hdb.open_db(str(path)).connect() as c:
        return c.execute(sa.text("SELECT id, kind, verdict, parent_id FROM runs")).all()


def waiting(base, n_axis):
    """The tile once it waits for the operator before axis number `n_axis` (1..3)."""
    def ready():
        t = tile(base, FX)
        proc = t.get("procedure") or {}
        return t if t["job"] and t["job"]["prompt"] and proc.get("axis_n") == n_axis else None
    return wait_for("the prompt before axis %d" % n_axis, ready)


def test_vibration_job_passes_with_one_record_like_the_cli(tmp_path):
    with one_fixture(tmp_path) as (st, server, sims, base):
        wait_for("idle", lambda: idle(base))
        status, job = call(base, "POST", "/api/fixtures/%s/vibration" % FX,
                           {"pins": 40, "serial": "VIB-1", "axis_seconds": 2, "yes": True, "sweep": "log"})
        assert status == 202 and job["kind"] == "vibration" and job["params"]["axis_seconds"] == 2
        # the tile says where the procedure is, and the sweep while an axis is monitored
        t = wait_for("an axis monitored", lambda: (lambda t: t if (t["procedure"] or {}).get("axis") and t["monitor"] else None)(
            tile(base, FX)))
        assert t["display"] == "VIBRATION" and t["procedure"]["axes"] == 3 and t["procedure"]["of"] == 5
        assert t["monitor"]["sweep"] == "log" and 10.0 <= t["monitor"]["sweep_hz"] <= 55.0
        done = job_done(base, job["id"])
    assert done["verdict"] == "PASS" and done["exit_code"] == 0 and done["simulated"], done
    results = tmp_path / "results"
    [d] = [p for p in results.iterdir()]  # ONE result directory: the procedure's
    assert d.name.endswith("-vibration") and "SIMULATED" in d.name and done["result"] == d.name
    rec = record(tmp_path, done)
    assert rec["kind"] == "vibration" and rec["verdict"] == "PASS" and rec["complete"] and rec["serial"] == "VIB-1"
    assert rec["conditions"]["axis_duration_s"] == 2 and rec["conditions"]["sweep_mode"] == "log"
    assert rec["conditions"]["procedure"] == "5861 spec 8.6 vibration" and rec["conditions"]["amplitude_mm_pp"] == 1.5
    assert [w["axis"] for w in rec["windows"]] == ["X", "Y", "Z"]
    assert [w["label"] for w in rec["windows"]] == ["axis-X", "axis-Y", "axis-Z"]
    assert all(w["verdict"] == "PASS" and w["tags"]["axis"] == w["axis"] for w in rec["windows"])
    for name in ("initial", "after"):
        stage = rec["stages"][name]
        assert stage["verdict"] == "PASS" and stage["exit_code"] == 0 and stage["fixture_id"] == FX
        sub = Path(stage["dir"])
        assert sub.parent == d and sub.name == "contact-resistance-%s" % name
        r = json.loads((sub / "record.json").read_text())
        assert r["kind"] == "contact_resistance" and r["stage"] == name and len(r["contacts"]) == 40 and r["serial"] == "VIB-1"
    # stored as the CLI stores it: the procedure, and its two stage runs under it
    rows = db_rows(tmp_path / "history.sqlite")
    proc = [r for r in rows if r.kind == "vibration"]
    assert len(proc) == 1 and proc[0].id == store.identity(rec) and proc[0].verdict == "PASS"
    stages = [r for r in rows if r.kind == "run"]
    assert len(rows) == 3 and len(stages) == 2 and all(r.parent_id == proc[0].id for r in stages)


def test_vibration_with_sweep_tags_on_events(tmp_path):
    with station(tmp_path, sims=1, scenarios=("intermittent-40",)) as (st, server, sims, base):
        wait_for("idle", lambda: idle(base))
        status, job = call(base, "POST", "/api/fixtures/%s/vibration" % FX, {"axis_seconds": 2, "yes": True})
        assert status == 202 and job["params"]["sweep"] == "linear" and job["params"]["pins"] == 40
        done = job_done(base, job["id"])
    rec = record(tmp_path, done)
    assert done["verdict"] == "FAIL" and 9 in done["failed"] and rec["verdict"] == "FAIL"
    assert rec["events"] and {e["axis"] for e in rec["events"]} <= {"X", "Y", "Z"}
    assert all(10.0 <= e["sweep_hz"] <= 55.0 for e in rec["events"])


def test_operator_continues_each_axis(tmp_path):
    with one_fixture(tmp_path) as (st, server, sims, base):
        wait_for("idle", lambda: idle(base))
        status, job = call(base, "POST", "/api/fixtures/%s/vibration" % FX, {"pins": 40, "axis_seconds": 1})
        assert status == 202
        prompts = []
        for n in (1, 2, 3):
            t = waiting(base, n)
            assert t["display"] == "WAITING" and t["state"] == "busy"
            prompts.append(t["job"]["prompt"])
            status, j = call(base, "POST", "/api/jobs/%s/continue" % job["id"])
            assert status == 202 and j["id"] == job["id"]
        assert "mount the fixture for axis X" in prompts[0]
        assert "turn the fixture to axis Y" in prompts[1] and "turn the fixture to axis Z" in prompts[2]
        done = job_done(base, job["id"])
        assert call(base, "POST", "/api/jobs/%s/continue" % job["id"])[0] == 409  # nothing waits now
    assert done["verdict"] == "PASS", done
    rec = record(tmp_path, done)
    assert [w["axis"] for w in rec["windows"]] == ["X", "Y", "Z"] and rec["stages"]["after"]["verdict"] == "PASS"


def test_stop_while_waiting_keeps_an_aborted_record(tmp_path):
    with one_fixture(tmp_path) as (st, server, sims, base):
        wait_for("idle", lambda: idle(base))
        status, job = call(base, "POST", "/api/fixtures/%s/vibration" % FX, {"pins": 40, "axis_seconds": 1})
        t = waiting(base, 1)
        assert "mount" in t["job"]["prompt"]
        assert call(base, "POST", "/api/fixtures/%s/stop" % FX)[0] == 202
        done = job_done(base, job["id"])
        assert wait_for("idle again", lambda: idle(base))["display"] == "ABORTED"
    assert done["verdict"] == "ABORTED" and done["exit_code"] == 130
    rec = record(tmp_path, done)
    assert rec["kind"] == "vibration" and rec["verdict"] == "ABORTED" and rec["interrupted_by"] == "panel STOP"
    assert rec["stages"]["initial"]["verdict"] == "PASS" and "after" not in rec["stages"] and rec["windows"] == []
    assert len(db_rows(tmp_path / "history.sqlite")) == 2  # the procedure and its initial stage


def test_bad_requests_refused_with_nothing_started(tmp_path):
    with one_fixture(tmp_path) as (st, server, sims, base):
        wait_for("idle", lambda: idle(base))
        path = "/api/fixtures/%s/vibration" % FX
        for bad, why in (({"axis_seconds": 0}, "axis_seconds"), ({"axis_seconds": "2h"}, "axis_seconds"),
                         ({"sweep": "cubic"}, "sweep"), ({"pins": 41}, "even"), ({"axes": 2}, "unknown")):
            status, body = call(base, "POST", path, bad)
            assert status == 400 and why in body["error"], (bad, body)
        assert call(base, "POST", "/api/fixtures/FX-NOPE/vibration", {"axis_seconds": 2})[0] == 404
        results = tmp_path / "results"
        assert idle(base)["job"] is None and not (results.exists() and any(results.iterdir()))
        status, job = call(base, "POST", path, {"axis_seconds": 60})
        assert status == 202
        status, body = call(base, "POST", path, {"axis_seconds": 2, "yes": True})  # busy (waiting for the operator)
        assert status == 409 and "busy" in body["error"] and job["id"] in body["error"]
        assert call(base, "POST", "/api/jobs/0123456789ab/continue")[0] == 404
        call(base, "POST", "/api/fixtures/%s/stop" % FX)
        done = job_done(base, job["id"])
    assert done["verdict"] == "ABORTED"
    assert len(st.model.jobs) == 1  # the refused requests made no job


def test_panel_vibration_dialog_prompt_and_continue(tmp_path):
    """In the browser: Vibration... opens the dialog (SIMULATED said), the tile shows the
    prompt with its Continue button before each axis, then the axis and sweep, then PASS."""
    import report_browser as rb

    tile_css = 'section.tile[data-key="%s"]' % FX

    def q(d, script):
        return d.execute_script("const t = document.querySelector(arguments[0]); " + script, tile_css)

    def display(d):
        return q(d, "return t ? t.dataset.display : null;")

    with one_fixture(tmp_path) as (st, server, sims, base), rb.browser(1200, 1000) as d:
        d.get(base + "/")
        wait_for("an idle tile", lambda: q(d, "return t && t.dataset.state === 'idle';"))
        q(d, "t.querySelector('button.vibration').click();")
        assert d.find_element("css selector", "#job-dialog").is_displayed()
        assert "Vibration" in d.find_element("css selector", "#job-title").text
        assert "SIMULATED" in d.find_element("css selector", "#job-sim").text
        assert not d.find_element("css selector", "#job-form [name=seconds]").is_displayed()
        secs = d.find_element("css selector", "#job-form [name=axis_seconds]")
        assert secs.get_attribute("value") == "7200"
        secs.clear()
        secs.send_keys("1")
        d.find_element("css selector", "#job-form [name=serial]").send_keys("PANEL-V")
        d.find_element("css selector", "#job-go").click()
        def waiting_for(axis):
            return display(d) == "WAITING" and q(
                d, "const p = t.querySelector('.procedure'); return p && p.textContent.includes('axis %s');" % axis)

        for axis in ("X", "Y", "Z"):
            wait_for("the prompt before axis %s" % axis, lambda: waiting_for(axis))
            prompt = q(d, "return t.querySelector('.prompt').textContent;")
            assert ("axis %s" % axis) in prompt and "Continue" in prompt
            if axis == "Y":
                rb.shot(d, tmp_path, "station-vibration-waiting", tile_css)
                # the state's word fits its badge in the narrowest tile (it once ran off both sides)
                assert q(d, "const b = t.querySelector('.big'); return b.scrollWidth <= b.clientWidth;")
            q(d, "t.querySelector('button.continue').click();")
            # the axis goes by quickly (simulated time): the next prompt may be up at once
            wait_for("axis %s continued" % axis, lambda: not waiting_for(axis))
        wait_for("PASS", lambda: display(d) == "PASS")
        row = q(d, "return t.querySelector('.results li').textContent;")
        assert "vibration 3 \u00d7 1 s" in row and "PANEL-V" in row and "SIMULATED" in row
        assert q(d, "return !!t.querySelector('[data-sweep-hz]');")  # the last axis's figures stay, with its sweep
        rb.shot(d, tmp_path, "station-vibration", tile_css)


def test_interrupted_procedure_resumed_from_its_next_axis(tmp_path):
    """Stopped while waiting before axis Y (X monitored): Resume (POST .../vibration {"resume": dir})
    goes on in the same directory and record from Y, at the procedure's own axis time and sweep:
    one result directory, PASS, the initial stage not run again, the history's row brought up to
    date (not a second procedure)."""
    with one_fixture(tmp_path) as (st, server, sims, base):
        wait_for("idle", lambda: idle(base))
        status, job = call(base, "POST", "/api/fixtures/%s/vibration" % FX, {"pins": 40, "axis_seconds": 1, "sweep": "log"})
        waiting(base, 1)
        assert call(base, "POST", "/api/jobs/%s/continue" % job["id"])[0] == 202
        waiting(base, 2)
        assert call(base, "POST", "/api/fixtures/%s/stop" % FX)[0] == 202
        first = job_done(base, job["id"])
        assert first["verdict"] == "ABORTED"
        wait_for("idle", lambda: idle(base))

        path = "/api/fixtures/%s/vibration" % FX
        for bad, why in (({"pins": 40, "resume": "nope"}, "no record.json"),
                         ({"pins": 40, "resume": first["result"], "sweep": "linear"}, "the procedure's own"),
                         ({"pins": 42, "resume": first["result"]}, "not 42")):
            status, body = call(base, "POST", path, bad)
            assert status == 400 and why in body["error"], (bad, body)
        status, job = call(base, "POST", path, {"pins": 40, "resume": first["result"], "yes": True})
        assert status == 202 and job["params"]["axis_seconds"] == 1 and job["params"]["sweep"] == "log"
        done = job_done(base, job["id"])
        status, body = call(base, "POST", path, {"pins": 40, "resume": first["result"]})
        assert status == 400 and "finished" in body["error"]
    assert done["verdict"] == "PASS" and done["result"] == first["result"], done
    assert [p.name for p in (tmp_path / "results").iterdir()] == [first["result"]]
    rec = record(tmp_path, done)
    assert rec["complete"] and rec["verdict"] == "PASS" and "interrupted_by" not in rec
    assert [w["axis"] for w in rec["windows"]] == ["X", "Y", "Z"] and rec["resumed"][0]["axes_done"] == ["X"]
    assert rec["stages"]["initial"]["verdict"] == "PASS" and rec["stages"]["after"]["verdict"] == "PASS"
    assert "superseded" not in rec["stages"]  # the initial stage was done: not run again
    rows = db_rows(tmp_path / "history.sqlite")
    assert sorted(r.kind for r in rows).count("vibration") == 1 and len(rows) == 3  # the procedure and its two stages
    assert [r.verdict for r in rows if r.kind == "vibration"] == ["PASS"]


def test_panel_resume_button_goes_on_with_the_same_procedure(tmp_path):
    """In the browser: an ABORTED vibration's row has Resume; it starts the same procedure again
    (the tile waits for the operator before its next axis)."""
    import report_browser as rb

    tile_css = 'section.tile[data-key="%s"]' % FX
    with one_fixture(tmp_path) as (st, server, sims, base), rb.browser(1200, 1000) as d:
        wait_for("idle", lambda: idle(base))
        status, job = call(base, "POST", "/api/fixtures/%s/vibration" % FX, {"pins": 40, "axis_seconds": 1})
        waiting(base, 1)
        assert call(base, "POST", "/api/fixtures/%s/stop" % FX)[0] == 202
        first = job_done(base, job["id"])
        d.get(base + "/")
        q = lambda script: d.execute_script("const t = document.querySelector(arguments[0]); " + script, tile_css)  # noqa: E731
        wait_for("Resume on the ABORTED row", lambda: q("return !!t && !!t.querySelector('.results li button.resume');"))
        rb.shot(d, tmp_path, "station-vibration-resume", tile_css)
        d.execute_script("window.confirm = () => true;")
        q("t.querySelector('.results li button.resume').click();")
        t = waiting(base, 1)
        assert t["job"]["params"]["resume"] == first["result"] and t["job"]["id"] != first["id"]
        assert call(base, "POST", "/api/fixtures/%s/stop" % FX)[0] == 202
