# Runs ON the MicroPython interpreter with the simulated board (see tools/bench.py): the real
# firmware sequence for a 40-position pair, timed on the fixture's own (virtual) clock, plus the
# repeatability of one contact. Prints one JSON line.
import gc
import json
import sys

import spec5861
from fixture import Fixture
from sequencer import Sequencer


class CountingLink:
    """Stands in for the USB link: keeps the frames the sequence sends (for the figures)."""

    def __init__(self):
        self.frames = []

    def send(self, kind, payload):
        self.frames.append((kind, payload))

    def reply_error(self, cmd_id, code, msg):
        self.send("err", {"id": cmd_id, "code": code, "msg": msg})


mode = sys.argv[1] if len(sys.argv) > 1 else "run"
if mode == "simshare":  # what the simulated hardware alone keeps on the heap
    import machine
    import simhw

    simhw.world()
    gc.collect()
    print(json.dumps({"sim_heap": gc.mem_alloc()}))
    sys.exit(0)
fx = Fixture()
link = CountingLink()
seq = Sequencer(fx, link)
if mode == "run":
    gc.collect()
    verdict = seq.run(1, 40, "initial", spec5861.LLCR_CURRENT_MA_DEFAULT, None, "bench")
    per = [p["fixture_us"] for k, p in link.frames if k in ("contact", "anchor")]
    done = [p for k, p in link.frames if k == "done"][0]
    steps = {}
    for k, p in link.frames:
        if k in ("contact", "anchor"):
            steps.setdefault(k, 0)
            steps[k] += p["fixture_us"]
    gc.collect()
    print(json.dumps({"verdict": verdict, "per_item_us": per, "run_us": done["fixture_us"],
                      "contacts_anchors_us": steps.get("contact", 0) + steps.get("anchor", 0),
                      "heap_after_run": gc.mem_alloc()}))
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
