"""The operator's panel while a command runs: the lid opened during monitoring ends the window as
ERROR with the monitor currents off at once; START pressed during a long command is latched and
runs when the command ends."""

import json

from tester import scenario as scenario_mod

BOOT = r"""
import json, simhw, simclock
import fakehost
a, link = fakehost.boot()
frames = link.frames
fx = a.fx
w = simhw.world()
"""
LID = BOOT + r"""
t0 = simclock.now_us()
seen = {}
def lid(now):
    if "open" not in seen and now - t0 > 1500000 and w.mon_en:
        seen["open"] = now
        w.set_lid(False)
    if "open" in seen and "off" not in seen and not w.mon_en:
        seen["off"] = now
simclock.add_hook(lid)
a.handle(b"1 MONITOR pins=40 seconds=10")
done = [p for k, p in frames if k == "mdone"]
print("RESULT " + json.dumps({"mdone": done[-1] if done else None, "off_after_us": seen.get("off", 0) - seen.get("open", 0),
      "mon_en": w.mon_en, "relays": len(w.chain.made_bits()), "source": bool(w.source_on())}))
"""


def result(r):
    return json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][0][7:])


def test_lid_opened_during_monitoring_ends_it_as_error_currents_off(mpy):
    d = result(mpy(LID, scenario=scenario_mod.default(40).sim))
    m = d["mdone"]
    assert m is not None and m["verdict"] == "ERROR" and m["reason"] == "lid opened"
    assert "lid was opened" in m["error"]
    assert m["elapsed_ms"] < 3000  # not the 10 s asked for
    # monitor currents off within one host period (100 ms) of the lid opening
    assert 0 < d["off_after_us"] <= 120000
    assert d["mon_en"] == 0 and d["relays"] == 0 and not d["source"]


START = BOOT + r"""
with open("config.json", "w") as f:
    json.dump({"pins": 10, "stage": "initial"}, f)
t0 = simclock.now_us()
press = {}
def button(now):
    # a 150 ms press in the middle of the host's run
    if "down" not in press and now - t0 > 200000:
        press["down"] = now
        w.press_start()
    elif "down" in press and "up" not in press and now - press["down"] > 150000:
        press["up"] = now
        w.release_start()
simclock.add_hook(button)
a.handle(b"1 RUN pins=10 allow_expired_cal=1")
runs_during = [p["source"] for k, p in frames if k == "run"]
latched = a.start_latched
for _ in range(5):  # the idle loop's turns
    a.link.read_line(20)
    if a.start_latched or fx.panel.start_pressed():
        a.start_button()
runs = [p["source"] for k, p in frames if k == "run"]
dones = [p["verdict"] for k, p in frames if k == "done"]
logs = [p["msg"] for k, p in frames if k == "log"]
print("RESULT " + json.dumps({"during": runs_during, "latched": latched, "runs": runs, "dones": dones, "logs": logs,
      "pressed_ms": (press.get("up", 0) - press.get("down", 0)) // 1000}))
"""


def test_start_pressed_during_a_run_is_latched_and_runs_after_it(mpy, tmp_path):
    d = result(mpy(START, scenario=scenario_mod.default(10).sim))
    assert d["pressed_ms"] >= 150
    assert d["during"] == ["host"] and d["latched"] is True
    assert any("START pressed while busy" in m for m in d["logs"])
    assert d["runs"] == ["host", "button"] and d["dones"] == ["PASS", "PASS"]
