# Runs ON the MicroPython interpreter with the simulated board (see tools/bench.py): the real
# firmware sequence for a 40-position pair, timed on the fixture's own (virtual) clock, plus the
# repeatability of one contact. Prints one JSON line.
import gc
import json
import sys

# Build the simulated hardware first, so what it keeps is known apart from the firmware.
import machine  # noqa: F401  (the simulated board's)
import simhw

simhw.world()
gc.collect()
SIM_BASE = gc.mem_alloc()

import protocol
import spec5861
from fixture import Fixture
from sequencer import Sequencer


class CountingLink:
    """Stands in for the USB link: encodes every frame as the real link does, then keeps only the
    figures (keeping whole frames would put the bench's memory on the firmware's account)."""

    def __init__(self):
        self.frames = []  # (kind, fixture_us) of results, and the done payload
        self.done = None
        self.peak = 0  # live heap at frame boundaries (after a collection)

    def send(self, kind, payload):
        protocol.encode_frame(0, kind, payload)
        gc.collect()
        a = gc.mem_alloc()
        if a > self.peak:
            self.peak = a
        if kind in ("contact", "anchor"):
            self.frames.append((kind, payload["fixture_us"]))
        elif kind == "done":
            self.done = payload

    def reply_error(self, cmd_id, code, msg):
        self.send("err", {"id": cmd_id, "code": code, "msg": msg})


mode = sys.argv[1] if len(sys.argv) > 1 else "run"
fx = Fixture()
link = CountingLink()
seq = Sequencer(fx, link)
gc.collect()
resident = gc.mem_alloc()  # simulated hardware + firmware code and objects, before the run
if mode == "run":
    verdict = seq.run(1, 40, "initial", spec5861.LLCR_CURRENT_MA_DEFAULT, None, "bench")
    per = [us for _, us in link.frames]
    gc.collect()
    print(json.dumps({"verdict": verdict, "per_item_us": per, "run_us": link.done["fixture_us"],
                      "contacts_anchors_us": sum(per),
                      "heap_after_run": gc.mem_alloc(), "resident": resident,
                      "sim_base": SIM_BASE, "peak_live": link.peak,
                      "modules": [m for m in sys.modules]}))
else:
    n = int(mode)
    fx.source.set_limit_ma(spec5861.current_limit_ma(40))
    rs = []
    for _ in range(n):
        r = seq.m.contact(1, spec5861.LLCR_CURRENT_MA_DEFAULT)
        rs.append(r.r_mohm)
    fx.safe()
    mean = sum(rs) / n
    sd = (sum((x - mean) ** 2 for x in rs) / (n - 1)) ** 0.5
    print(json.dumps({"n": n, "mean_mohm": mean, "sd_uohm": sd * 1000.0, "u_reported_uohm": r.u_mohm * 1000.0}))
