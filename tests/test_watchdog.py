"""A hang (a bus that never finishes) during a run with relays closed and the source on: the
watchdog resets the RP2040, the parts outside it keep their state, and the firmware's boot puts
everything safe and tells the host why it restarted (HELLO reset_cause)."""

import json

from tester import scenario as scenario_mod

SCRIPT = r"""
import json, sys, simhw, simclock, simboot
import fakehost
def boot():
    global frames
    a, link = fakehost.boot()
    frames = link.frames
    return a
a = boot()
hazard = {}
def hang(now):
    if hazard:
        return  # once
    snap = simboot.safety_snapshot()
    if snap["relays_made"] and snap["source_on"]:
        hazard.update(snap)
        simhw.i2c_stuck = True  # the expander's bus hangs with the current flowing
t0 = simclock.now_us()
try:
    a.handle(b"1 RUN pins=10 allow_expired_cal=1")
    out = {"reset": False}
except simhw.BoardReset as e:
    stuck_ms = (simclock.now_us() - t0) // 1000
    at_reset = simboot.safety_snapshot()
    out = {"reset": True, "cause": e.cause, "at_reset": at_reset, "hazard": hazard, "ms": stuck_ms}
    simhw.i2c_stuck = False
    a = None
    simhw.reboot()
    simboot.forget_firmware()
    a = boot()
    out["after_boot"] = simboot.safety_snapshot()
    a.handle(b"2 HELLO")
    out["hello"] = [p for k, p in frames if k == "hello"][-1]
print("RESULT " + json.dumps(out))
"""


def test_stuck_bus_mid_run_ends_in_the_safe_state_after_a_watchdog_reset(mpy):
    # the hook is armed from the script: it watches the simulated parts at every clock advance
    code = SCRIPT.replace("t0 = simclock.now_us()", "simclock.add_hook(hang)\nt0 = simclock.now_us()")
    r = mpy(code, scenario=scenario_mod.default(10).sim)
    d = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][0][7:])
    assert d["reset"], "the hang was not ended by the watchdog"
    assert d["hazard"]["relays_made"] and d["hazard"]["source_on"]
    assert d["cause"] == 3  # machine.WDT_RESET
    # The reset alone changes nothing outside the RP2040 (honest model of the board) ...
    assert d["at_reset"]["relays_made"] and d["at_reset"]["source_on"]
    # ... the boot does: every relay open, every current off, before anything else.
    assert d["after_boot"] == {"relays_made": 0, "source_on": False, "monitor_on": False}
    assert d["hello"]["reset_cause"] == "watchdog" and d["hello"]["watchdog_ms"] <= 8388
    # The watchdog fired within its timeout of the last feed (the run fed it between measurements).
    assert d["ms"] < 5000 + 2000
