"""Single commands judged as a run judges them: MEASURE against its limit and stage, SELFCHECK
aborted by the host answered as aborted (not as a hardware fault), CAL step=gain refusing a
current above the low-level method's limit."""

import json
from pathlib import Path

from tester import scenario as scenario_mod

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

SCRIPT = r"""
import json
import fakehost
a, link = fakehost.boot(wdt=False)
frames = link.frames
def last(cid):
    return [(k, p) for k, p in frames if p.get("id") == cid][-1]
out = {}
a.handle(b"1 MEASURE pins=40 pin=17")
out["pin17"] = [p for k, p in frames if k == "contact" and p["id"] == 1][0]
a.handle(b"2 MEASURE pins=40 pin=16")
out["pin16"] = [p for k, p in frames if k == "contact" and p["id"] == 2][0]
a.handle(b"3 MEASURE pins=40 anchor=2")
out["a2_initial"] = [p for k, p in frames if k == "anchor" and p["id"] == 3][0]
a.handle(b"4 MEASURE pins=40 anchor=2 stage=after")
out["a2_after"] = [p for k, p in frames if k == "anchor" and p["id"] == 4][0]
a.link.pending.append(b"6 ABORT")
a.handle(b"5 SELFCHECK pins=40")
out["selfcheck"] = last(5)
out["abort_ok"] = last(6)
a.handle(b"7 CAL step=gain current_ma=500")
out["cal"] = last(7)
print("RESULT " + json.dumps(out))
"""


def test_measure_selfcheck_abort_and_cal_current(mpy):
    sc = scenario_mod.load(str(SCENARIOS / "high-contact-40.toml")).sim
    sc["anchors"] = scenario_mod.load(str(SCENARIOS / "high-anchor-40.toml")).sim["anchors"]
    r = mpy(SCRIPT, scenario=sc)
    d = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][0][7:])
    # pin 17 reads ~74 mOhm: over the 70 mOhm limit, a FAIL with its fault (no open, no short)
    assert d["pin17"]["r_mohm"] > 70 and d["pin17"]["verdict"] == "FAIL" and d["pin17"]["fault"] == "high"
    assert d["pin16"]["verdict"] == "PASS" and d["pin16"]["fault"] is None
    # anchor 2 reads ~25 mOhm: over the initial 20 mOhm limit, under the 30 mOhm after-test limit
    assert d["a2_initial"]["limit_mohm"] == 20.0 and d["a2_initial"]["verdict"] == "FAIL"
    assert d["a2_after"]["limit_mohm"] == 30.0 and d["a2_after"]["verdict"] == "PASS"
    kind, p = d["selfcheck"]
    assert kind == "err" and p["code"] == "aborted", p
    assert d["abort_ok"][0] == "ok" and d["abort_ok"][1]["running"] is True
    kind, p = d["cal"]
    assert kind == "err" and p["code"] == "range" and "100 mA" in p["msg"], p


TABLE_SCRIPT = r"""
import fakehost
import protocol
a, link = fakehost.boot(wdt=False)
print("VERBS " + " ".join(sorted(protocol.COMMANDS)))
print("TABLE " + " ".join(sorted(a.commands)))
print("BUSY " + " ".join(sorted(v for v, (h, b) in a.commands.items() if b)))
"""


def test_every_protocol_verb_has_exactly_one_handler(mpy):
    """The app's command table and protocol.COMMANDS name the same verbs: a verb added to the
    protocol without a handler (or a handler no host can reach) fails here, not on the line."""
    out = dict(ln.split(" ", 1) for ln in mpy(TABLE_SCRIPT).stdout.splitlines() if ln[:4] in ("VERB", "TABL", "BUSY"))
    assert out["VERBS"] == out["TABLE"]
    # the long procedures keep the fixture busy (STATUS says so, START is latched); queries do not
    assert {"RUN", "MONITOR", "CAL", "SELFCHECK"} <= set(out["BUSY"].split())
    assert not {"STATUS", "HELLO", "ABORT", "MSTOP", "MSTATUS", "EVENTS"} & set(out["BUSY"].split())
