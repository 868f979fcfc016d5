"""Calibration end to end on the simulated fixture through the CLI: applied, expired, corrupt,
missing, overridden; `tester calibrate` against the simulated coupon and reference resistors;
the coupon check; the mating-cycle counter's warning and refusal."""

import json
import subprocess
import sys
from pathlib import Path

from tester.fixture import CommandError, Fixture
from tester.link import Link
from tester.sim.flashable import SimBoard

BIN = Path(sys.executable).parent
TESTER = str(BIN / "tester")

SCEN = '[dut]\npositions = 40\ncontact_mohm = 30.0\nanchor_mohm = 8.0\nspread_mohm = 0.0\nseed = 3\n[fixture]\n%s\n'


def cli(*argv, env=None, timeout=120):
    import os

    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([TESTER, *argv], capture_output=True, text=True, timeout=timeout, env=e)


def run_sim(tmp_path, fixture_toml, *extra):
    sc = tmp_path / "s.toml"
    sc.write_text(SCEN % fixture_toml)
    out = tmp_path / "r"
    r = cli("run", "--pins", "40", "--sim", "--scenario", str(sc), "--out", str(out), "--json", *extra)
    rec = json.loads(r.stdout) if r.stdout.strip() else None
    if rec is None:
        recs = sorted(out.glob("*/record.json"))
        rec = json.loads(recs[-1].read_text()) if recs else None
    return r, rec


def test_factory_calibration_is_applied_and_recorded(tmp_path):
    r, rec = run_sim(tmp_path, 'bulk_mohm = 0.4')
    assert r.returncode == 0, r.stderr
    cal = rec["conditions"]["calibration"]
    assert cal["state"] == "valid" and cal["applied"] and not cal["overridden"] and cal["simulated"]
    assert cal["expiry_checked"] and cal["today"] >= 20260101 and len(cal["id"]) == 8
    for c in rec["contacts"]:
        # the boards' bulk (0.8 +- 0.5 mOhm per position, >> u) was subtracted
        assert abs(c["r_mohm"] - 30.0) <= 4 * c["u_mohm"] + 0.001, c


def test_expired_calibration_refused_then_overridden(tmp_path):
    r, rec = run_sim(tmp_path, 'cal = "expired"')
    assert r.returncode == 3
    assert "expired" in r.stderr and "tester calibrate" in r.stderr and "--allow-expired-cal" in r.stderr
    assert not rec or not rec.get("contacts")
    r, rec = run_sim(tmp_path, 'cal = "expired"', "--allow-expired-cal")
    assert r.returncode == 0, r.stderr
    cal = rec["conditions"]["calibration"]
    assert cal["state"] == "expired" and cal["overridden"] is True and cal["applied"] is True


def test_corrupt_and_missing_calibration_never_used(tmp_path):
    r, _ = run_sim(tmp_path, 'cal = "corrupt"')
    assert r.returncode == 3 and "corrupt" in r.stderr and "tester calibrate" in r.stderr
    r, rec = run_sim(tmp_path, 'cal = "corrupt"\nbulk_mohm = 0.4', "--allow-expired-cal")
    assert r.returncode == 0, r.stderr
    cal = rec["conditions"]["calibration"]
    assert cal["state"] == "corrupt" and cal["overridden"] is True and cal["applied"] is False
    # nothing subtracted: the raw value is reported
    assert all(c["r_mohm"] > 30.3 for c in rec["contacts"])
    r, _ = run_sim(tmp_path, 'cal = "none"')
    assert r.returncode == 3 and "no calibration" in r.stderr


def test_calibrate_sim_then_run_uses_it(tmp_path):
    """A fixture without calibration and with a 0.3 % source gain error: refused; `tester
    calibrate` (coupon, references, store) fixes it; the run then reads the scenario's values."""
    board = SimBoard(tmp_path / "fx")
    sc = {"positions": 40, "contact_mohm": 30.0, "anchor_mohm": 8.0, "spread_mohm": 0.0, "seed": 3,
          "fixture": {"cal": "none", "gain_error_ppm": 3000.0, "bulk_mohm": 0.3}}
    board.set_scenario(sc)
    cal_dir = tmp_path / "cals"
    r = cli("calibrate", "--sim", "--workdir", str(board.workdir), "--yes", "--cal-dir", str(cal_dir), "--due-days", "30")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "gain 0.99" in r.stdout and "SIMULATED" in r.stdout
    copies = list(cal_dir.glob("*/*-SIMULATED.json"))
    assert len(copies) == 1
    doc = json.loads(copies[0].read_text())
    assert doc["simulated"] is True and doc["calibration"]["state"] == "valid"
    assert abs(doc["calibration"]["gain"] - 1 / 1.003) < 2e-4
    assert len(doc["bulk_mohm"]) == 80 and all(0.1 < b < 1.0 for b in doc["bulk_mohm"])
    assert json.loads(board.scenario_path.read_text())["fixture"]["coupon"] is False  # coupon removed again
    with board.boot() as sim:
        out = tmp_path / "r"
        r = cli("run", "--pins", "40", "--port", sim.port, "--out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    cal = rec["conditions"]["calibration"]
    assert cal["id"] == doc["calibration"]["id"] and cal["state"] == "valid" and not cal["overridden"]
    for c in rec["contacts"]:
        assert abs(c["r_mohm"] - 30.0) < 0.02, c  # raw would be (30 + bulk) * 1.003: ~0.7 mOhm off


def test_zero_step_refuses_without_coupon(tmp_path):
    board = SimBoard(tmp_path / "fx")
    with board.boot() as sim:
        link = Link.open(sim.port)
        try:
            fx = Fixture(link, sim.port)
            fx.handshake(timeout=10)
            try:
                fx.command("CAL", timeout=60, step="zero", pins=10)
                raise AssertionError("zero step accepted a connector as a coupon")
            except CommandError as e:
                assert "coupon" in e.msg and "position 1" in e.msg
            try:
                fx.command("CAL", step="store", date=20260101, due=20260401)
                raise AssertionError("store without zero and gain accepted")
            except CommandError as e:
                assert "step=zero and step=gain first" in e.msg
        finally:
            link.close()


CYCLES = """
import json, simhw
from fixture import Fixture
import app
frames = []
class L:
    def send(s, k, p): frames.append((k, p))
    def reply_error(s, i, c, m): frames.append(("err", {"id": i, "code": c, "msg": m}))
    def read_line(s, t=0): return None
    def stats(s): return {}
    repl_requested = False
fx = Fixture(); a = app.App(fx, L())
for _ in range(28):
    fx.store.bump_cycles()
res = {}
def last(kind):
    return [p for k, p in frames if k == kind][-1]
a.handle(b"1 RUN pins=10 date=20261123")           # the 29th mating: fine
res["r29"] = last("run")["conditions"]["mating_cycles"]
a.handle(b"2 RUN pins=10 date=20261123")           # 30th: runs, warns
res["r30"] = last("run")["conditions"]["mating_cycles"]
res["warn"] = [p["msg"] for k, p in frames if k == "log" and p.get("level") == "warning"]
a.handle(b"3 RUN pins=10 date=20261123")           # 31st: refused
res["refused"] = last("err")
a.handle(b"4 RUN pins=10 date=20261123 allow_worn=1")
res["r31"] = last("run")["conditions"]["mating_cycles"]
a.handle(b"5 CYCLES reset=1")
res["reset"] = last("ok")
a.handle(b"6 HELLO")
res["hello_cycles"] = last("hello")["cycles"]
print("RESULT " + json.dumps(res))
"""


def test_mating_cycles_warn_and_refuse(mpy):
    r = mpy(CYCLES, scenario={"positions": 10, "contact_mohm": 30.0}, heapsize="512K")
    d = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][0][7:])
    assert d["r29"]["count"] == 29 and d["r29"]["state"] == "warn" and not d["r29"]["overridden"]
    assert d["r30"]["count"] == 30 and d["r30"]["state"] == "worn"
    assert any("30 of 30" in m for m in d["warn"])
    assert d["refused"]["code"] == "worn" and d["refused"]["id"] == 3 and "30 mating cycles" in d["refused"]["msg"]
    assert d["r31"]["count"] == 31 and d["r31"]["overridden"] is True
    assert d["reset"]["count"] == 0 and d["hello_cycles"] == 0
