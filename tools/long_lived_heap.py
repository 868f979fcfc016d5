"""One fixture kept powered across many commands, in the heap of a real Pico (`make bench`,
tests/test_long_lived.py).

Measured on the MicroPython unix interpreter, in one process per heap size, running the firmware
from .mpy files (mpy-cross: the bytecode a frozen build holds; from .py the interpreter's parser
would fragment the heap in a way the device, whose code is frozen, never sees):
- the simulated parts' share and the firmware's loaded code (in flash on the device, on the heap
  here) are measured in a roomy heap, with the firmware's own live heap (after a collection, at
  every frame) over a sequence of RUN, MONITOR, CAL, SELFCHECK, MEASURE;
- the same sequence then runs in a heap of exactly that much plus a real Pico's free heap;
- `make bench` also finds the smallest heap the sequence completes in (bisection): the margin.

Modelled, not measured: a Pico's free heap after boot (~225 KB, DESIGN.md section 5). Objects
on this 64-bit interpreter are up to twice their size on the RP2040, so the firmware's figure is
conservative.
"""

import json
import os
import subprocess
import tempfile
from pathlib import Path

from tester.deploy import mpy_cross_exe
from tester.firmware import import_path
from tester.sim.interpreter import SIM_DIR, micropython_exe
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



def compile_firmware(out, board="fixture_v1"):
    """The device's modules as .mpy in `out` (the native merge for this interpreter's machine);
    MICROPYPATH that runs them with the simulated board."""
    for folder in import_path(board):
        for f in folder.rglob("*.py"):
            if f.name == "manifest.py":  # the frozen build's recipe, not a device module
                continue
            dst = (Path(out) / f.relative_to(folder)).with_suffix(".mpy")
            dst.parent.mkdir(parents=True, exist_ok=True)
            arch = ["-march=x64"] if f.name == "event_merge.py" else []  # viper: machine code
            subprocess.run([mpy_cross_exe(), *arch, "-o", str(dst), str(f)], check=True, capture_output=True)
    return "%s:%s" % (SIM_DIR, out)


def run_sequence(heapsize, scenario, path):
    """Run SEQUENCE on one simulated fixture in -X heapsize; the figures as a dict (None: it did
    not finish, with the interpreter's last words)."""
    exe = micropython_exe()
    with tempfile.TemporaryDirectory() as d:
        sc = Path(d) / "scenario.json"
        sc.write_text(json.dumps(scenario))
        env = dict(os.environ, MICROPYPATH=path, SIM_SCENARIO=str(sc))
        r = subprocess.run([exe, "-X", "heapsize=" + heapsize, "-c", SCRIPT % {"seq": json.dumps(SEQUENCE)}],
                           capture_output=True, text=True, cwd=d, env=env, timeout=300)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    if not lines:
        return None, (r.stdout + r.stderr)[-2000:]
    return json.loads(lines[0][7:]), None


def completed(d):
    return d is not None and "error" not in d and all(s[1] not in (None, "err") for s in d["steps"])


def measure(scenario, smallest=False):
    """(roomy figures, figures in the Pico-sized heap, that heap in KiB[, the smallest heap in KiB
    the sequence completes in])."""
    with tempfile.TemporaryDirectory() as out:
        path = compile_firmware(out)
        roomy, err = run_sequence("1024K", scenario, path)
        if roomy is None:
            raise RuntimeError("the sequence did not finish in a 1024K heap: " + err)
        pico = (roomy["sim"] + roomy["code"]) // 1024 + PICO_FREE_KIB
        tight, err = run_sequence("%dK" % pico, scenario, path)
        if tight is None:
            tight = {"error": err}
        if not smallest:
            return roomy, tight, pico
        lo, hi = (roomy["sim"] + roomy["code"] + roomy["boot"]) // 1024, 1024
        while hi - lo > 2:
            mid = (lo + hi) // 2
            if completed(run_sequence("%dK" % mid, scenario, path)[0]):
                hi = mid
            else:
                lo = mid
        return roomy, tight, pico, hi


def main():
    from tester import scenario as scenario_mod

    roomy, tight, pico, least = measure(scenario_mod.default(40).sim, smallest=True)
    print("long-lived fixture, %d commands on one fixture (RUN, MONITOR, CAL, SELFCHECK, MEASURE, CALINFO):" % len(SEQUENCE))
    print("  firmware objects (64-bit unix, live after a collection at every frame): %.1f KiB at boot (rings and"
          " event log included), %.1f KiB peak; a Pico has ~%d KiB free (modelled)"
          % (roomy["boot"] / 1024, roomy["peak"] / 1024, PICO_FREE_KIB))
    print("  in -X heapsize=%dK (simulated parts %.0f KiB + firmware bytecode from .mpy %.0f KiB + the Pico's %d KiB): %s"
          % (pico, roomy["sim"] / 1024, roomy["code"] / 1024, PICO_FREE_KIB,
             "every command completed" if completed(tight) else "FAILED"))
    print("  smallest heap the sequence completes in: %dK, so the firmware needs %d of the Pico's %d KiB here"
          " (fragmentation included; 64-bit objects: about half on the RP2040, modelled)"
          % (least, least - (roomy["sim"] + roomy["code"]) // 1024, PICO_FREE_KIB))


if __name__ == "__main__":
    main()
