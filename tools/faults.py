"""The fault campaign at full size: `make faults` (also run by `make bench`).

    python tools/faults.py [--inputs 30000] [--seed 1] [--jobs 2] [--pty-inputs 600]

Protocol fuzzing of the firmware in-process on the MicroPython interpreter (fault_campaign: one
simulated fixture per worker, the real App.loop, Link and watchdog), split over --jobs workers with
seeds seed, seed+1, ...; then the end-to-end byte fuzz through the simulated fixture's real
pseudo-terminal. Prints the counts table; exit status 1 if any fault count is not 0, with the
failing seed, batch and inputs. Measured: everything in the table (counted from what the firmware
sent and from the simulated parts' own state). Modelled: the host (in-memory streams, or a pty).
"""

import argparse
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from fault_campaign import campaign, oracle, pty_fuzz  # tools/fault_campaign: also the tests'


def _worker(args):
    seed, n, tmp = args
    r = campaign.run_campaign(seed, n, Path(tmp) / ("w%d" % seed))
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--inputs", type=int, default=30000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--pty-inputs", type=int, default=600)
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    total = campaign.Result(a.seed)
    with tempfile.TemporaryDirectory(prefix="faults-") as tmp:
        per = -(-a.inputs // a.jobs)
        jobs = [(a.seed + i, per, tmp) for i in range(a.jobs)]
        with ProcessPoolExecutor(max_workers=a.jobs) as ex:
            for r in ex.map(_worker, jobs):
                total.add(r)
                if r.findings:
                    print(campaign.describe(r), file=sys.stderr)
        wall_fw = time.monotonic() - t0
        p = pty_fuzz.run(a.seed, a.pty_inputs, Path(tmp) / "pty")
    c = total.counts
    print("Fault campaign (seeds %d..%d): firmware in-process on MicroPython, %.0f s wall on %d workers"
          % (a.seed, a.seed + a.jobs - 1, wall_fw, a.jobs))
    print("  %-22s %10s" % ("", "count"))
    for k in oracle.COUNTS:
        print("  %-22s %10d%s" % (k.replace("_", " "), c[k], "" if k not in oracle.FAULTS else ("   <-- FAULT" if c[k] else "")))
    print("  %-22s %10d   (%s)" % ("frames received", total.frames,
                                   ", ".join("%s %d" % kv for kv in sorted(total.kinds.items(), key=lambda kv: -kv[1])[:8])))
    print("  %-22s %10d" % ("interpreters started", total.processes))
    print("End to end through the simulated fixture's pseudo-terminal (seed %d), %.0f s wall:" % (a.seed, p.wall_s))
    for k, v in p.counts.items():
        print("  %-22s %10d%s" % (k.replace("_", " "), v, "   <-- FAULT" if k in pty_fuzz.FAULTS and v else ""))
    for f in p.findings[:5]:
        print("  finding: %s" % f, file=sys.stderr)
    bad = total.faults() or p.faults()
    print("Goal: 0 of each fault over >= 30,000 inputs: %s" % ("MET" if not bad and c["inputs"] >= 30000 else
                                                                 "NOT MET" + (" (%s)" % bad if bad else " (fewer inputs)")))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
