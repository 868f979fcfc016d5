"""One fixture kept powered across many commands, in the heap of a real Pico.

A real fixture stays powered between `tester run`, `tester monitor` and `tester calibrate`;
`tester vibration` is RUN, MONITOR x3, RUN on one fixture. The firmware allocates its large
buffers at boot (app.main: the detector first), so no later command needs a big free block in a
fragmented heap. Measured here on the MicroPython unix interpreter:

- the simulated parts' share and the firmware's compiled code (in flash on the device, on the
  heap here) are measured in one run; the same command sequence then runs in a heap of exactly
  that much plus a real Pico's free heap (PICO_FREE_KIB): it must complete every command;
- the firmware's own live heap (after a collection, at every frame) must stay within the Pico's
  free heap with margin.

Modelled, not measured: a Pico's free heap after boot (~225 KB, DESIGN.md section 5). Objects
on this 64-bit interpreter are up to twice their size on the RP2040, so the check is
conservative for the firmware's objects.
"""

import json

import pytest

from tester.sim.launcher import SimFixture
from tester.link import Link
from tester import scenario as scenario_mod

PICO_FREE_KIB = 225
MARGIN = 0.6  # the firmware's own objects stay under 60 % of the Pico's free heap

SEQUENCE = [
    "1 RUN pins=40 date=20261203",
    "2 MONITOR pins=40 seconds=2",
    "3 CAL step=gain",
    "4 RUN pins=40 date=20261203",
    "5 MONITOR pins=40 seconds=2 axis=X",
    "6 SELFCHECK pins=40",
    "7 MONITOR pins=40 seconds=2 axis=Y",
    "8 MEASURE pins=40 anchor=2 stage=after",
    "9 CALINFO date=20261203",
    "10 MONITOR pins=40 seconds=2 axis=Z",
    "11 RUN pins=40 stage=after date=20261203",
]

SCRIPT = r"""
import gc, json
gc.collect()
a0 = gc.mem_alloc()
import simhw
simhw.world()
gc.collect()
a1 = gc.mem_alloc()
import app, monitor, calibration, fixture, link, sequencer, measure
gc.collect()
a2 = gc.mem_alloc()
SEQ = %(seq)s
final = {"RUN": "done", "MONITOR": "mdone", "CAL": "ok", "CALINFO": "ok", "SELFCHECK": "ok", "MEASURE": "ok"}
live = []
frames = []
class L:
    repl_requested = False
    bytes_dropped = 0
    frames_dropped = 0
    def send(s, k, p):
        frames.append((k, p.get("id"), p.get("verdict"), p.get("code"), p.get("msg")))
        gc.collect()
        live.append(gc.mem_alloc())
        return True
    def reply_error(s, i, c, m): s.send("err", {"id": i, "code": c, "msg": m})
    def read_line(s, t=0): return None
    def stats(s): return {}
det = monitor.Buffers()
fx = fixture.Fixture()
a = app.App(fx, L(), None, det)
gc.collect()
boot = gc.mem_alloc()
out = []
for line in SEQ:
    n0 = len(frames)
    a.handle(line.encode())
    cid = int(line.split()[0])
    verb = line.split()[1]
    mine = [f for f in frames[n0:] if f[1] == cid and f[0] in (final[verb], "err")]
    out.append([line, mine[-1][0] if mine else None, mine[-1][2] if mine else None, mine[-1][4] if mine else None])
print("RESULT " + json.dumps({"sim": a1 - a0, "code": a2 - a1, "boot": boot - a2, "peak": max(live) - a2, "steps": out,
                              "relays": len(fx.relays.closed()), "source": fx.source.is_on()}))
"""


def run_sequence(mpy, heapsize):
    r = mpy(SCRIPT % {"seq": json.dumps(SEQUENCE)}, scenario=scenario_mod.default(40).sim, heapsize=heapsize, check=False)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, "the sequence did not finish in heapsize=%s:\n%s\n%s" % (heapsize, r.stdout[-2000:], r.stderr[-2000:])
    return json.loads(lines[0][7:])


def check_steps(d):
    for line, kind, verdict, msg in d["steps"]:
        assert kind is not None, "%s: no final answer" % line
        assert kind != "err", "%s: refused: %s" % (line, msg)
        if line.split()[1] in ("RUN", "MONITOR"):
            assert verdict == "PASS", "%s: %s" % (line, verdict)
    assert d["relays"] == 0 and not d["source"]


def test_one_fixture_runs_monitor_calibrate_in_any_order_in_a_pico_heap(mpy):
    roomy = run_sequence(mpy, "1024K")
    check_steps(roomy)
    firmware_kib = roomy["peak"] / 1024
    # The firmware's own objects, at their peak over the whole sequence, in a real Pico's heap
    # with margin (boot: the detector's rings and the event log are part of it).
    assert roomy["boot"] / 1024 > 32, "the detector's rings are not allocated at boot"
    assert firmware_kib < MARGIN * PICO_FREE_KIB, roomy
    # The same sequence in a heap of what this interpreter needs for the simulated parts and the
    # compiled firmware, plus a Pico's free heap: nothing may need more.
    pico = (roomy["sim"] + roomy["code"]) // 1024 + PICO_FREE_KIB
    tight = run_sequence(mpy, "%dK" % pico)
    check_steps(tight)
    print("firmware objects: %.1f KiB at boot, %.1f KiB peak; simulated parts %.1f KiB, compiled firmware %.1f KiB; "
          "the sequence ran in -X heapsize=%dK" % (roomy["boot"] / 1024, firmware_kib, roomy["sim"] / 1024, roomy["code"] / 1024, pico))


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
