"""One fixture kept powered across many commands (tools/long_lived_heap.py has the sequence and
says what is measured and what is modelled): in the heap of a real Pico, and over the real link
as `tester vibration` uses it."""

import sys
from pathlib import Path

import pytest

from tester import scenario as scenario_mod
from tester.link import Link
from tester.sim.launcher import SimFixture

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
import long_lived_heap as llh  # noqa: E402

MARGIN = 0.6  # the firmware's own objects stay under 60 % of the Pico's free heap


def check_steps(d):
    assert "error" not in d, d.get("error")
    for line, kind, verdict, msg in d["steps"]:
        assert kind is not None, "%s: no final answer" % line
        assert kind != "err", "%s: refused: %s" % (line, msg)
        if line.split()[1] in ("RUN", "MONITOR"):
            assert verdict == "PASS", "%s: %s" % (line, verdict)
    assert d["relays"] == 0 and not d["source"]


def test_one_fixture_runs_monitor_calibrate_in_any_order_in_a_pico_heap():
    roomy, tight, pico = llh.measure(scenario_mod.default(40).sim)
    check_steps(roomy)
    assert roomy["boot"] / 1024 > 32, "the detector's rings are not allocated at boot"
    assert roomy["peak"] / 1024 < MARGIN * llh.PICO_FREE_KIB, roomy
    check_steps(tight)


def test_vibration_shape_on_one_simulated_fixture_process(tmp_path):
    """RUN, MONITOR x3, RUN over the real link on ONE fixture process (as `tester vibration`),
    then the fixture still answers and is safe."""
    with SimFixture(scenario_mod.default(40).sim, tmp_path / "sim") as sim:
        link = Link.open(sim.port)
        try:
            seq = ["RUN pins=40", "MONITOR pins=40 seconds=2 axis=X", "MONITOR pins=40 seconds=2 axis=Y",
                   "MONITOR pins=40 seconds=2 axis=Z", "RUN pins=40 stage=after"]
            for cmd in seq:
                verb, *args = cmd.split()
                kw = dict(a.split("=") for a in args)
                kw = {k: (int(v) if v.isdigit() else v) for k, v in kw.items()}
                cid = link.send(verb, allow_expired_cal=1, **kw) if verb == "RUN" else link.send(verb, **kw)
                want = "done" if verb == "RUN" else "mdone"
                while True:
                    f = link.read_frame(timeout=30)
                    kind, p = f.kind, f.payload
                    if p.get("id") == cid and kind == "err":
                        pytest.fail("%s refused: %s" % (cmd, p))
                    if p.get("id") == cid and kind == want:
                        assert p["verdict"] == "PASS", (cmd, p)
                        break
            cid = link.send("STATUS")
            while True:
                f = link.read_frame(timeout=10)
                if f.kind == "status" and f.id == cid:
                    assert f.get("relays_closed") == 0 and f.get("source_on") is False and f.get("busy") is False
                    break
        finally:
            link.close()
        assert sim.alive()
