"""START runs kept on the fixture's flash until a host collects them (firmware/kept_runs.py), on
the real MicroPython interpreter: a START run with no host reading is kept, KEPT lists it, a
replay gives the same frames, a date stays, drop forgets it; the bounds drop the oldest and count
it (across a reboot); a copy cut short replays as incomplete (ABORTED, never PASS); a flash that
refuses the copy never stops the run nor leaves a relay closed."""

import json
from pathlib import Path

from tester import scenario as scenario_mod

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

# The in-memory host of the tests (fakehost.FakeLink) given the real link's tee: every frame it
# takes is encoded as the link encodes it (its sequence number: the frame's index).
PRELUDE = r"""
import json
import os
import fakehost
import kept_runs
import protocol
def _send(self, kind, payload):
    if self.tee is not None:
        self.tee(protocol.encode_frame(len(self.frames), kind, payload))
    self.frames.append((kind, json.loads(json.dumps(payload))))
    return True
fakehost.FakeLink.send = _send
fakehost.FakeLink.tee = None
def config(pins):
    with open("config.json", "w") as f:
        json.dump({"pins": pins, "stage": "initial"}, f)
out = {}
def since(i):
    return link.frames[i:]
def cmd(line):
    i = len(link.frames)
    a.handle(line)
    return since(i)
def press():
    i = len(link.frames)
    a.start_button()
    fx = a.fx
    return since(i), {"relays_closed": len(fx.relays.closed()), "source_on": fx.source.is_on()}
def reboot_kept():
    # the fixture boots again: what is kept and the counters are read back from the flash
    a.kept = kept_runs.KeptRuns(link)
    a.kept_tee = kept_runs.Tee(link, a.kept)
    a.commands["KEPT"] = (a.kept.command, True)
"""


def _result(r):
    return json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][0][7:])


KEPT_SCRIPT = PRELUDE + r"""
config(40)
a, link = fakehost.boot(wdt=False)
out["hello0"] = cmd(b"1 HELLO")[-1][1]
live, out["safe"] = press()
out["live_run"] = live[0]
out["live_done"] = live[-1]
out["live_n"] = len(live)
out["list"] = cmd(b"2 KEPT")[-1][1]
out["hello"] = cmd(b"3 HELLO")[-1][1]
out["status"] = cmd(b"4 STATUS")[-1][1]
replay = cmd(b"5 KEPT replay=1")
out["replay_same"] = replay[:-1] == live
out["replay_kinds"] = [k for k, p in replay]
out["replay_ok"] = replay[-1]
live = replay = None
out["stamp"] = cmd(b"6 KEPT stamp=1 started=2030-01-02T03:04:05.678Z")[-1][1]
out["restamp"] = cmd(b"7 KEPT stamp=1 started=2031-01-01T00:00:00.000Z")[-1][1]
out["list_dated"] = cmd(b"8 KEPT")[-1][1]
out["two_ops"] = cmd(b"9 KEPT replay=1 drop=1")[-1]
out["started_alone"] = cmd(b"10 KEPT started=2030-01-01")[-1]
out["drop"] = cmd(b"11 KEPT drop=1")[-1]
out["list_after"] = cmd(b"12 KEPT")[-1][1]
out["drop_again"] = cmd(b"13 KEPT drop=1")[-1]
out["files"] = sorted(os.listdir("kept"))
out["status_after"] = cmd(b"14 STATUS")[-1][1]
print("RESULT " + json.dumps(out))
"""


def test_start_run_kept_listed_replayed_dated_dropped(mpy):
    d = _result(mpy(KEPT_SCRIPT, scenario=scenario_mod.load(str(SCENARIOS / "high-contact-40.toml")).sim))
    assert d["hello0"]["stored_runs"] == 0 and d["hello0"]["stored_dropped"] == 0
    run_frame, done = d["live_run"], d["live_done"]
    assert run_frame[0] == "run" and run_frame[1]["source"] == "button" and run_frame[1]["kept"] == 1
    assert done[0] == "done" and done[1]["verdict"] == "FAIL" and done[1]["failed"] == [17]
    assert d["safe"] == {"relays_closed": 0, "source_on": False}
    (run,) = d["list"]["runs"]
    assert run["n"] == 1 and run["verdict"] == "FAIL" and run["complete"] is True and run["frames"] == d["live_n"]
    assert run["started"] is None and run["age_s"] is not None and run["bytes"] > 0
    for k in ("hello", "status", "list"):
        assert d[k]["stored_runs"] == 1 and d[k]["stored_dropped"] == 0 and d[k]["stored_write_failed"] == 0, k
    # the replay: the same frames (every contact, the verdict), then ok
    kinds = d["replay_kinds"]
    assert d["replay_same"] is True and len(kinds) == d["live_n"] + 1
    assert kinds.count("contact") == 40 and kinds.count("anchor") == 2 and kinds[-2] == "done"
    ok = d["replay_ok"]
    assert ok[0] == "ok" and ok[1]["complete"] is True and ok[1]["frames"] == d["live_n"]
    # dated once: a later date does not replace it, and the listing says it
    assert d["stamp"]["started"] == "2030-01-02T03:04:05.678Z"
    assert d["restamp"]["started"] == "2030-01-02T03:04:05.678Z"
    assert d["list_dated"]["runs"][0]["started"] == "2030-01-02T03:04:05.678Z"
    assert d["two_ops"][0] == "err" and d["two_ops"][1]["code"] == "arg"
    assert d["started_alone"][0] == "err" and d["started_alone"][1]["code"] == "arg"
    assert d["drop"] == ["ok", {"id": 11, "dropped": 1}]
    assert d["list_after"]["runs"] == [] and d["status_after"]["stored_runs"] == 0
    assert d["status_after"]["stored_dropped"] == 0  # dropped by the host, once stored: not a loss
    assert d["drop_again"][0] == "err" and d["drop_again"][1]["code"] == "range"
    assert d["files"] == ["state.json"]


BOUND_SCRIPT = PRELUDE + r"""
kept_runs.MAX_RUNS = 3
config(10)
a, link = fakehost.boot(wdt=False)
for _ in range(3):
    press()
out["three"] = cmd(b"1 KEPT")[-1][1]
press()  # the 4th: the oldest (1) goes, counted
out["four"] = cmd(b"2 KEPT")[-1][1]
# a copy cut by the power going, mid-line: replayed as incomplete
size = os.stat("kept/3.frames")[6]
with open("kept/3.frames", "rb") as f:
    data = f.read()
with open("kept/3.frames", "wb") as f:
    f.write(data[: size // 2])
reboot_kept()
out["rebooted"] = cmd(b"3 KEPT")[-1][1]
out["replay_cut"] = cmd(b"4 KEPT replay=3")
out["hello"] = cmd(b"5 HELLO")[-1][1]
# the size bound: room made by dropping the oldest, counted; a run alone over it is cut, counted
kept_runs.MAX_BYTES = 2 * size + size // 4
press()
out["by_size"] = cmd(b"6 KEPT")[-1][1]
kept_runs.MAX_BYTES = size // 3
live, out["safe_over"] = press()
out["over_logs"] = [p for k, p in live if k == "log"]
out["over_done"] = live[-1]
out["over"] = cmd(b"7 KEPT")[-1][1]
print("RESULT " + json.dumps(out))
"""


def test_bounds_drop_the_oldest_counted_and_a_cut_copy_is_incomplete(mpy):
    d = _result(mpy(BOUND_SCRIPT, scenario=scenario_mod.load(str(SCENARIOS / "good-10.toml")).sim))
    assert [r["n"] for r in d["three"]["runs"]] == [1, 2, 3] and d["three"]["stored_dropped"] == 0
    assert all(r["verdict"] == "PASS" for r in d["three"]["runs"])
    assert [r["n"] for r in d["four"]["runs"]] == [2, 3, 4] and d["four"]["stored_dropped"] == 1
    # after a reboot: the same runs and the same count; the cut copy is incomplete, no verdict
    rb = d["rebooted"]
    assert [r["n"] for r in rb["runs"]] == [2, 3, 4] and rb["stored_dropped"] == 1
    cut = [r for r in rb["runs"] if r["n"] == 3][0]
    assert cut["complete"] is False and cut["verdict"] is None and 0 < cut["frames"] < rb["runs"][0]["frames"]
    assert all(r["age_s"] is None for r in rb["runs"])  # of another boot: its age is not known
    replay = d["replay_cut"]
    assert replay[0][0] == "run" and len(replay) == cut["frames"] + 2
    kind, done = replay[-2]
    assert kind == "done" and done["verdict"] == "ABORTED" and done["incomplete"] is True and done["id"] == 0
    assert "before the run's end" in done["error"]
    assert replay[-1][0] == "ok" and replay[-1][1]["complete"] is False
    assert d["hello"]["stored_runs"] == 3 and d["hello"]["stored_dropped"] == 1
    # room for run 5 by size: the oldest two go (counted), run 5 is whole
    by_size = d["by_size"]
    assert [r["n"] for r in by_size["runs"]] == [4, 5] and by_size["stored_dropped"] == 3
    assert by_size["runs"][-1]["complete"] is True and by_size["stored_write_failed"] == 0
    # a run alone over the bound: it runs to its end and leaves the fixture safe; its copy is cut,
    # counted and said
    assert d["over_done"][0] == "done" and d["over_done"][1]["verdict"] == "PASS"
    assert d["safe_over"] == {"relays_closed": 0, "source_on": False}
    assert len(d["over_logs"]) == 1 and "not kept whole" in d["over_logs"][0]["msg"] and d["over_logs"][0]["level"] == "error"
    over = d["over"]
    assert over["stored_write_failed"] == 1 and over["runs"][-1]["n"] == 6 and over["runs"][-1]["complete"] is False


FAIL_SCRIPT = PRELUDE + r"""
config(10)
with open("kept", "w") as f:  # the flash refuses the folder: no copy can be opened
    f.write("not a folder")
a, link = fakehost.boot(wdt=False)
live, out["safe_open"] = press()
out["open_done"] = live[-1]
out["open_logs"] = [p for k, p in live if k == "log"]
out["open_status"] = cmd(b"1 STATUS")[-1][1]
out["open_run_kept"] = live[0][1].get("kept")
os.remove("kept")
# the flash fills mid-run: the 6th line written fails
real_open = open
class Full:
    def __init__(self, f):
        self.f = f
        self.n = 0
    def write(self, b):
        self.n += 1
        if self.n > 5:
            raise OSError(28)
        return self.f.write(b)
    def close(self):
        self.f.close()
def full_open(path, mode="r"):
    f = real_open(path, mode)
    return Full(f) if path.endswith(".frames") and "w" in mode else f
kept_runs.open = full_open
live, out["safe_full"] = press()
out["full_done"] = live[-1]
out["full_logs"] = [p for k, p in live if k == "log"]
out["full_list"] = cmd(b"2 KEPT")[-1][1]
out["full_replay"] = cmd(b"3 KEPT replay=%d" % out["full_list"]["runs"][0]["n"])
print("RESULT " + json.dumps(out))
"""


def test_flash_refusing_the_copy_never_stops_the_run(mpy):
    d = _result(mpy(FAIL_SCRIPT, scenario=scenario_mod.load(str(SCENARIOS / "good-10.toml")).sim))
    # no folder for the copy: the run runs whole, safe at its end, the failure said and counted
    assert d["open_done"][0] == "done" and d["open_done"][1]["verdict"] == "PASS"
    assert d["safe_open"] == {"relays_closed": 0, "source_on": False}
    assert len(d["open_logs"]) == 1 and "not kept whole" in d["open_logs"][0]["msg"]
    assert d["open_status"]["stored_write_failed"] == 1 and d["open_status"]["stored_runs"] == 0
    assert d["open_run_kept"] is None
    # the flash full mid-run: the same, and what was written replays as incomplete
    assert d["full_done"][0] == "done" and d["full_done"][1]["verdict"] == "PASS"
    assert d["safe_full"] == {"relays_closed": 0, "source_on": False}
    assert len(d["full_logs"]) == 1 and "28" in d["full_logs"][0]["msg"] and "not kept whole" in d["full_logs"][0]["msg"]
    (run,) = d["full_list"]["runs"]
    assert run["frames"] == 5 and run["complete"] is False and d["full_list"]["stored_write_failed"] == 2
    replay = d["full_replay"]
    assert len(replay) == 5 + 2 and replay[-2][1]["verdict"] == "ABORTED" and replay[-1][1]["complete"] is False


def _constant(path, name):
    import ast

    for node in ast.parse(Path(path).read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("%s: no %s" % (path, name))


def test_kept_runs_are_device_data_a_deploy_leaves_alone(tmp_path, monkeypatch):
    """The one definition of the device's filesystem knows what the firmware writes there as
    data (its names from the firmware itself); the deploy's plan never names them, and a firmware
    tree that would put code there is refused."""
    import shutil

    from tester import deploy
    from tester.firmware import DEVICE_DATA, FIRMWARE_DIR, device_files

    assert set(DEVICE_DATA) == {_constant(FIRMWARE_DIR / "kept_runs.py", "DIR"), _constant(FIRMWARE_DIR / "app.py", "CONFIG_FILE")}
    files = device_files()
    assert not [dev for _, dev in files if dev.split("/")[0] in DEVICE_DATA]
    monkeypatch.setattr(deploy, "mpremote_exe", lambda: "mpremote")
    argv = deploy.deploy_argv("/dev/ttyACM0", files, json.dumps(deploy.manifest(files, FIRMWARE_DIR, "fixture_v1")))
    assert not [a for a in argv if "kept/" in a or "'kept'" in a or "config.json" in a]
    tree = tmp_path / "fw"
    shutil.copytree(FIRMWARE_DIR, tree, ignore=shutil.ignore_patterns("__pycache__"))
    (tree / "kept").mkdir()
    (tree / "kept" / "x.py").write_text("")
    try:
        device_files(tree)
    except ValueError as e:
        assert "device's own data" in str(e)
    else:
        raise AssertionError("a firmware tree with kept/ was accepted")
