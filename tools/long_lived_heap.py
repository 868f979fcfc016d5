"""One fixture kept powered across many commands, in the heap of a real Pico (`make bench`,
tests/test_long_lived.py).

Measured on the MicroPython unix interpreter, in one process per heap size:
- the simulated parts' share and the firmware's compiled code (frozen in flash on the device,
  on the heap here) are measured in a roomy heap, with the firmware's own live heap (after a
  collection, at every frame) over a sequence of RUN, MONITOR, CAL, SELFCHECK, MEASURE;
- the same sequence then runs in a heap of exactly that much plus a real Pico's free heap.

Modelled, not measured: a Pico's free heap after boot (~225 KB, DESIGN.md section 5). Objects
on this 64-bit interpreter are up to twice their size on the RP2040, so the firmware's figure is
conservative.
"""

import json
import os
import subprocess
import tempfile
from pathlib import Path

from tester.sim.interpreter import in_place_path, micropython_exe

MPY_PATH = in_place_path()
PICO_FREE_KIB = 225

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



def run_sequence(heapsize, scenario):
    """Run SEQUENCE on one simulated fixture in -X heapsize; the figures as a dict (None: it did
    not finish, with the interpreter's last words)."""
    exe = micropython_exe()
    with tempfile.TemporaryDirectory() as d:
        sc = Path(d) / "scenario.json"
        sc.write_text(json.dumps(scenario))
        env = dict(os.environ, MICROPYPATH=MPY_PATH, SIM_SCENARIO=str(sc))
        r = subprocess.run([exe, "-X", "heapsize=" + heapsize, "-c", SCRIPT % {"seq": json.dumps(SEQUENCE)}],
                           capture_output=True, text=True, cwd=d, env=env, timeout=300)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        return None, (r.stdout + r.stderr)[-2000:]
    return json.loads(lines[0][7:]), None


def measure(scenario):
    """(roomy figures, figures in the Pico-sized heap, that heap in KiB)."""
    roomy, err = run_sequence("1024K", scenario)
    if roomy is None:
        raise RuntimeError("the sequence did not finish in a 1024K heap: " + err)
    pico = (roomy["sim"] + roomy["code"]) // 1024 + PICO_FREE_KIB
    tight, err = run_sequence("%dK" % pico, scenario)
    if tight is None:
        tight = {"error": err}
    return roomy, tight, pico


def main():
    from tester import scenario as scenario_mod

    roomy, tight, pico = measure(scenario_mod.default(40).sim)
    print("long-lived fixture, %d commands on one fixture (RUN, MONITOR, CAL, SELFCHECK, MEASURE, CALINFO):" % len(SEQUENCE))
    print("  firmware objects (64-bit unix, live after a collection at every frame): %.1f KiB at boot (rings and"
          " event log included), %.1f KiB peak; a Pico has ~%d KiB free (modelled)"
          % (roomy["boot"] / 1024, roomy["peak"] / 1024, PICO_FREE_KIB))
    ok = "error" not in tight and all(s[1] not in (None, "err") for s in tight["steps"])
    print("  in -X heapsize=%dK (simulated parts %.0f KiB + compiled firmware %.0f KiB + the Pico's %d KiB): %s"
          % (pico, roomy["sim"] / 1024, roomy["code"] / 1024, PICO_FREE_KIB, "every command completed" if ok else "FAILED"))


if __name__ == "__main__":
    main()
