"""The live view: a progress bar redrawn in place on a terminal, plain lines elsewhere."""

import io

from tester.records.run import RunRecord
from tester.render import LiveView


def feed(view, n=10):
    view.on_run({"conditions": {"current_ma": 100}, "limits": {}}, n)
    view.on_step({"step": "contacts"})
    for pin in range(1, n + 1):
        view.on_contact({"pin": pin, "r_mohm": 30.0, "u_mohm": 0.01, "emf_uv": 1.0, "limit_mohm": 70.0, "verdict": "PASS"})
    view.on_step({"step": "anchors"})
    for a in (1, 2):
        view.on_anchor({"anchor": a, "r_mohm": 8.0, "u_mohm": 0.01, "emf_uv": 0.2, "limit_mohm": 20.0, "verdict": "PASS"})


def test_tty_has_progress_bar():
    buf = io.StringIO()
    view = LiveView(buf, tty=True)
    feed(view)
    out = buf.getvalue()
    assert "\r[" in out and "100%  12/12" in out and "\x1b[K" in out
    assert "pin 10" in out and "anchor 2" in out


def test_plain_output_has_no_control_characters():
    buf = io.StringIO()
    view = LiveView(buf, tty=False)
    feed(view)
    rec = RunRecord(10, "initial", simulated=True)
    rec.data["verdict"] = "PASS"
    view.finish(rec, "results/x")
    out = buf.getvalue()
    assert "\r" not in out and "\x1b" not in out
    assert "-- contacts" in out and "pin 7" in out
    assert out.strip().splitlines()[-1] == "PASS (SIMULATED)"


def test_real_fixture_verdict_line_is_plain():
    buf = io.StringIO()
    rec = RunRecord(10, "initial", simulated=False)
    rec.data["verdict"] = "FAIL"
    rec.data["contacts"] = [{"pin": 4, "verdict": "FAIL", "fault": "open", "r_mohm": None}]
    LiveView(buf, tty=False).finish(rec)
    lines = buf.getvalue().strip().splitlines()
    assert lines[-1] == "FAIL" and "pin 4: open (no continuity)" in lines[0]
    assert "SIMULATED" not in buf.getvalue()
