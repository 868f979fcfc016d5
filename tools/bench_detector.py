"""Benchmark of the PIO discontinuity detector (issue 3). Run: .venv/bin/python tools/bench_detector.py

Prints:
  1. resolution and 1 us boundary accuracy of the detector program on its three state machines,
     measured cycle-accurately in rp2040py on a sweep of events from 0.1 to 10 us on all 24
     channels, and in a burst;
  2. the event rate (all channels together) the firmware's decode pipeline (EventDetector.decode
     merging the three DMA rings) sustains on the MicroPython unix interpreter at
     -X heapsize=200K, native (_merge) and Python (_step);
  3. the RP2040 estimate: _merge's own armv6m code replayed in Unicorn with the Cortex-M0+
     timings (tools/merge_on_m0plus.py), in cycles per record and events/s at 125 MHz.
"""

import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "pio"))
sys.path.insert(0, str(REPO / "tests"))

import harness as h  # noqa: E402
from conftest import MICROPYTHON, micropython_path  # noqa: E402

NS = 8
LENGTHS = list(range(12, 140)) + [250, 625, 1250]

DECODE_BENCH = r"""
import utime as time, gc
import drivers.event_detector as ed
d = ed.EventDetector(ring_bits=12)
n = d.ring_words
# Three rings full of realistic records: events on rotating channels, 1 us apart, alternating
# failures and glitches; every edge is seen by SM0 first, then by SM1 and SM2 in the same loop
# (2 records per event per SM, 6 in all).
word = 0xFFFFFF
for r in d.rings:
    r[0] = word; r[1] = 0  # start record
c = 0xFFFFFFFF
i = 2
k = 0
while i + 3 < n:
    ch = k % 23
    c = (c - 25) & 0xFFFFFFFF
    for r in d.rings:
        r[i] = word & ~(1 << ch); r[i + 1] = c
    c = (c - (30 if k & 1 else 10)) & 0xFFFFFFFF
    for r in d.rings:
        r[i + 2] = word; r[i + 3] = c
    i += 4
    k += 1
reps = 20
for native in (True, False):
    d.native = native
    gc.collect()
    f0 = gc.mem_free()
    recs = 0
    nat = 0
    t = time.ticks_us()
    for rep in range(reps if native else 2):
        d.reset_counters()
        recs += d.decode([i, i, i], -1)
        nat += d.native_records
    dt = time.ticks_diff(time.ticks_us(), t)
    f1 = gc.mem_free()
    print(recs, nat, dt, f0 - f1)
# The fixed cost of one native call (state in and out of `st`, nothing to merge), as in a drain
d.native = True
reps = 500
t = time.ticks_us()
for rep in range(reps):
    d._native(-1)
print(reps, time.ticks_diff(time.ticks_us(), t))
"""


def sweep():
    wf, t = [], 40
    for k, n in enumerate(LENGTHS * 2):
        wf.append((k % 24, t + k % 5, n))
        t += n + 60
    return wf, t + 50


def emulator_figures():
    """The firmware's program on three SMs in rp2040py, merged by harness.decode_x3 (the CPython
    transcription of EventDetector.decode, held equal to it by tests/test_pio_driver.py)."""
    wf, cycles = sweep()
    t0 = time.time()
    outs, fdebug = h.run_x3(wf, cycles)
    wall = time.time() - t0
    got = h.decode_x3(outs)
    want = sorted(wf, key=lambda e: (e[1], e[0]))
    assert len(got) == len(want)
    errs = [g[2] - n * NS for g, (_, _, n) in zip(got, want)]
    fail_ok = all(g[2] >= 1000 for g, w in zip(got, want) if w[2] * NS >= 1000)
    short_ok = all(g[2] < 1000 for g, w in zip(got, want) if w[2] * NS <= 1000 - 16)
    shortest_fail = min(w[2] * NS for g, w in zip(got, want) if g[2] >= 1000)
    longest_pass = max(w[2] * NS for g, w in zip(got, want) if g[2] < 1000)
    burst = [(i % 24, 400 + 11 * i, 125 + i % 7) for i in range(60)]
    bo, _ = h.run_x3(burst, 400 + 11 * 60 + 300)
    bgot = h.decode_x3(bo)
    bwant = sorted(burst, key=lambda e: (e[1], e[0]))
    berr = max(abs(g[2] - w[2] * NS) for g, w in zip(bgot, bwant))
    return len(wf), cycles, wall, min(errs), max(errs), fail_ok, short_ok, shortest_fail, longest_pass, fdebug, berr


def emulator_report():
    n, cycles, wall, emin, emax, fail_ok, short_ok, shortest_fail, longest_pass, fdebug, berr = emulator_figures()
    print("PIO event detector (firmware/drivers/event_detector.py), RP2040 at 125 MHz, 3 SMs merged")
    print("  resolution                   : largest gap of the merged samples = 2 cycles = 16 ns (goal <= 16 ns)")
    print("  rp2040py sweep               : %d isolated events, 0.1..10 us, all 24 channels, %d cycles in %.2f s" % (n, cycles, wall))
    print("  length error (measured-true) : %+d .. %+d ns" % (emin, emax))
    print("  1 us boundary                : every event >= 1.000 us a failure: %s; none <= 0.984 us a failure: %s" % (fail_ok, short_ok))
    print("                                 shortest true length called a failure: %d ns; longest passed: %d ns" % (shortest_fail, longest_pass))
    print("  burst (edges 11 cycles apart): length error up to %d ns (all 3 SMs in their record path at once)" % berr)
    print("  FDEBUG after the sweep       : 0x%08x" % fdebug)


def decode_report():
    import os

    env = dict(os.environ, MICROPYPATH=micropython_path())
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=200K", "-c", DECODE_BENCH], capture_output=True, text=True, env=env, timeout=300)
    if r.returncode:
        print(r.stderr)
        raise SystemExit(1)
    lines = r.stdout.split("\n")
    print("Decode pipeline (EventDetector.decode, 3 rings merged) on the MicroPython unix port (-X heapsize=200K)")
    rates = {}
    for name, line in (("native", lines[0]), ("python", lines[1])):
        recs, nat, us, alloc = map(int, line.split())
        rec_s = recs * 1e6 / us
        rates[name] = rec_s / 6
        how = "_merge (viper), %d of %d records" % (nat, recs) if name == "native" else "_step (Python reference)"
        print("  %-7s: %7d records (%d events) in %6.1f ms = %8.0f records/s = %7.0f events/s; heap allocated %d bytes  [%s]"
              % (name, recs, recs // 6, us / 1000, rec_s, rec_s / 6, alloc, how))
    calls, us = map(int, lines[2].split())
    call_us = us / calls
    print("  native call, fixed cost (state into/out of 32-bit words, nothing to merge): %.1f us" % call_us)
    print("  unix/Python speed-up of the native merge: %.0fx" % (rates["native"] / rates["python"]))
    return call_us


M0_CODE = DECODE_BENCH[: DECODE_BENCH.index("reps = 20")] + "d.reset_counters()\nd.native = True\nd.decode([i, i, i], -1)\n"
ASSUMED_FACTOR = (30, 60)  # unix-port Python / RP2040 Python speed: an assumption, not measured here


def m0plus_report(call_us):
    """Cycles per record of _merge's own armv6m code (mpy-cross -march=armv6m, run in Unicorn with
    the Cortex-M0+ timings: tools/thumb_cycles.py), on the same rings as the unix decode above."""
    sys.path.insert(0, str(REPO / "tools"))
    import merge_on_m0plus as m0

    calls = m0.capture(M0_CODE)
    cycles = recs = 0
    same = True
    for call in calls:
        r, ok = m0.replay(call)
        same = same and ok
        cycles += r.cycles
        recs += call[2]
    per_rec = cycles / recs
    ev_s = 125e6 / per_rec / 6
    print("Cortex-M0+ at 125 MHz: _merge's armv6m code (mpy-cross 1.29) in Unicorn, Cortex-M0+ TRM timings")
    print("  %d records in %d cycles = %.0f cycles/record = %.0f cycles/event (6 records)" % (recs, cycles, per_rec, per_rec * 6))
    print("  same result and state as the unix port (32-bit words = 64-bit words): %s" % same)
    print("  native merge alone: %.0f events/s" % ev_s)
    drains = 1000 / 20  # monitor.DRAIN_MS
    for f in ASSUMED_FACTOR:
        busy = call_us * f * drains / 1e6  # the Python part of each drain (state in/out of `st`)
        print("  with the Python part of 50 drains/s (%.1f us on unix x %d, assumed): %.1f%% of the CPU -> %.0f events/s sustained"
              % (call_us, f, busy * 100, ev_s * (1 - busy)))
    print("  (an estimate from the emitted code: zero-wait SRAM, no DMA contention; not a board measurement)")
    return ev_s


def main():
    emulator_report()
    call_us = decode_report()
    m0plus_report(call_us)


if __name__ == "__main__":
    main()
