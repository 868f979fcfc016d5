"""The detector's native merge (firmware/event_merge.py: _merge) replayed as RP2040 code.

1. capture(code): runs `code` on the MicroPython unix interpreter with the simulated board, with
   every call of _merge recorded: its three buffers before the call, and after it with its result.
2. replay(call): runs the same call as the armv6m machine code mpy-cross emits for _merge, in
   Unicorn (tools/thumb_cycles.py), from the same buffers. Its result and buffers must equal the
   unix run's: the same code is right on 32-bit words (the RP2040) and on 64-bit ones (the host).
   The Cortex-M0+ cycle estimate comes with it.

Used by tools/bench_detector.py (cycles per record) and tests/test_event_merge.py (32 = 64 bits).
"""

import binascii
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/, also when imported by a test

import thumb_cycles  # noqa: E402
from tester.firmware import FIRMWARE_DIR  # noqa: E402
from tester.sim.interpreter import in_place_path, micropython_exe  # noqa: E402

MICROPYTHON = micropython_exe()
MERGE_SRC = FIRMWARE_DIR / "event_merge.py"

# Wraps _merge before `code` runs; prints one JSON line per call (buffers in hex).
_SPY = r"""
import binascii, json
import drivers.event_detector as _ed
_orig = _ed._merge  # the detector's own name for it (from event_merge import _merge)
def _spy(st, ring, acc):
    before = [binascii.hexlify(bytes(b)).decode() for b in (st, ring, acc)]
    n = _orig(st, ring, acc)
    after = [binascii.hexlify(bytes(b)).decode() for b in (st, ring, acc)]
    print("MERGE " + json.dumps({"before": before, "after": after, "n": n}))
    return n
_ed._merge = _spy
"""


def capture(code, heapsize="2M"):
    """[(before: [st, ring, acc] bytes, after: same, n)] for every _merge call `code` makes."""
    env = dict(os.environ, MICROPYPATH=in_place_path())
    r = subprocess.run([MICROPYTHON, "-X", "heapsize=%s" % heapsize, "-c", _SPY + code], capture_output=True, text=True, env=env, timeout=600)
    if r.returncode:
        raise RuntimeError("MicroPython failed:\n" + r.stdout[-2000:] + r.stderr[-2000:])
    calls = []
    for line in r.stdout.splitlines():
        if line.startswith("MERGE "):
            c = json.loads(line[6:])
            calls.append(([binascii.unhexlify(h) for h in c["before"]], [binascii.unhexlify(h) for h in c["after"]], c["n"]))
    return calls


def replay(call, max_instructions=5_000_000):
    """Run one captured call as armv6m code. Returns (RunResult, same: bool), `same` when the
    result and all three buffers equal the unix interpreter's."""
    before, after, n = call
    bufs = [bytearray(b) for b in before]
    r = thumb_cycles.run_viper(str(MERGE_SRC), "_merge", bufs, max_instructions=max_instructions)
    same = r.value == n and all(bytes(b) == a for b, a in zip(r.buffers, after))
    return r, same
