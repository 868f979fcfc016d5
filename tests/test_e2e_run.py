"""End to end: the real `tester` CLI against the simulated fixture (the real firmware on the
MicroPython interpreter with simulated hardware) over a pseudo-terminal, on the scenario files in
scenarios/. Verdicts, faults, pins, current ratings, partial records and measured values."""

import csv
import json
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
TESTER = str(Path(sys.executable).parent / "tester")


def run_tester(tmp_path, pins, scenario=None, *extra, timeout_s=10, sim=True):
    out = tmp_path / "results"
    argv = [TESTER, "run", "--pins", str(pins), "--out", str(out), "--json", "--timeout", str(timeout_s)]
    if sim:
        argv.append("--sim")
    if scenario:
        argv += ["--scenario", str(SCENARIOS / scenario)]
    r = subprocess.run(argv + list(extra), capture_output=True, text=True, timeout=300)
    rec = json.loads(r.stdout) if r.stdout.strip() else None
    dirs = sorted(out.iterdir()) if out.exists() else []
    return r, rec, dirs


def by_pin(rec):
    return {c["pin"]: c for c in rec["contacts"]}


def by_anchor(rec):
    return {a["anchor"]: a for a in rec["anchors"]}


def assert_complete(rec, n):
    assert rec["complete"] is True, rec["error"]
    assert sorted(by_pin(rec)) == list(range(1, n + 1))
    assert sorted(by_anchor(rec)) == [1, 2]
    assert rec["selfcheck"] and all(c["ok"] for c in rec["selfcheck"])
    assert rec["link"]["lost"] == 0 and rec["link"]["garbled"] == 0


def last_line(r):
    return r.stderr.strip().splitlines()[-1]


def test_good_40_passes_and_is_marked_simulated_everywhere(tmp_path):
    r, rec, dirs = run_tester(tmp_path, 40, "good-40.toml", "--serial", "LOT1-0001")
    assert r.returncode == 0, r.stderr
    assert rec["verdict"] == "PASS"
    assert_complete(rec, 40)
    assert all(c["verdict"] == "PASS" and c["fault"] is None for c in rec["contacts"])
    assert all(a["verdict"] == "PASS" for a in rec["anchors"])
    assert rec["shorts"] == []
    # simulated: record, directory name, CSV column, header, verdict line
    assert rec["simulated"] is True
    assert len(dirs) == 1 and dirs[0].name.endswith("-LOT1-0001-%s-SIMULATED" % rec["fixture"]["id"])
    assert "SIMULATED FIXTURE" in r.stderr.splitlines()[0]
    assert last_line(r) == "PASS (SIMULATED)"
    rows = list(csv.DictReader((dirs[0] / "measurements.csv").open()))
    assert len(rows) == 42 and {row["simulated"] for row in rows} == {"true"}
    assert json.loads((dirs[0] / "record.json").read_text())["verdict"] == "PASS"
    # what the record must carry
    assert rec["serial"] == "LOT1-0001" and rec["stage"] == "initial" and rec["positions"] == 40
    assert rec["firmware"]["protocol"] == 1 and rec["firmware"]["version"]
    assert rec["fixture"]["board"] == "fixture_v1" and rec["fixture"]["id"]
    cond = rec["conditions"]
    assert cond["open_circuit_mv_max"] <= 20.0
    assert 0 < cond["current_ma"] <= 100 and cond["rating_ma"] == 500
    assert cond["method"] and cond["reversal"] is True
    assert rec["limits"] == {"contact_mohm": 70.0, "anchor_mohm": 20.0}
    assert rec["scenario"]["path"].endswith("good-40.toml") and "[dut]" in rec["scenario"]["content"]
    assert 20.0 < by_pin(rec)[1]["r_mohm"] < 40.0


def test_default_sim_without_scenario_passes(tmp_path):
    r, rec, _ = run_tester(tmp_path, 40)
    assert r.returncode == 0, r.stderr
    assert rec["verdict"] == "PASS" and rec["simulated"] is True and rec["scenario"]["path"] is None


def test_high_contact_fails_pin_17(tmp_path):
    r, rec, _ = run_tester(tmp_path, 40, "high-contact-40.toml")
    assert r.returncode == 1, r.stderr
    assert rec["verdict"] == "FAIL"
    assert_complete(rec, 40)
    c = by_pin(rec)[17]
    assert c["verdict"] == "FAIL" and c["fault"] == "high" and c["r_mohm"] > 70.0
    assert [p for p, c in by_pin(rec).items() if c["verdict"] != "PASS"] == [17]
    assert "pin 17: high" in r.stderr and last_line(r) == "FAIL (SIMULATED)"


def test_open_contact_fails_pin_5(tmp_path):
    r, rec, _ = run_tester(tmp_path, 40, "open-contact-40.toml")
    assert r.returncode == 1, r.stderr
    c = by_pin(rec)[5]
    assert c["verdict"] == "FAIL" and c["fault"] == "open" and c["r_mohm"] is None
    assert [p for p, c in by_pin(rec).items() if c["verdict"] != "PASS"] == [5]
    assert "pin 5: open" in r.stderr


@pytest.mark.parametrize(
    "scenario,side,pins",
    [("bridge-plug-40.toml", "plug", [17, 18]), ("bridge-receptacle-40.toml", "receptacle", [30, 31])],
)
def test_bridge_fails_with_side_and_pins(tmp_path, scenario, side, pins):
    r, rec, _ = run_tester(tmp_path, 40, scenario)
    assert r.returncode == 1, r.stderr
    assert rec["verdict"] == "FAIL"
    assert [(s["side"], sorted(s["pins"])) for s in rec["shorts"]] == [(side, pins)]
    assert rec["shorts"][0]["ohm"] < 10.0
    assert "pins %d-%d: short on the %s board" % (pins[0], pins[1], side) in r.stderr
    bad = {p for p, c in by_pin(rec).items() if c["verdict"] != "PASS"}
    assert bad <= set(pins)


def test_high_anchor_fails_initial(tmp_path):
    r, rec, _ = run_tester(tmp_path, 40, "high-anchor-40.toml", "--stage", "initial")
    assert r.returncode == 1, r.stderr
    a = by_anchor(rec)[2]
    assert a["verdict"] == "FAIL" and a["fault"] == "high" and a["limit_mohm"] == 20.0
    assert by_anchor(rec)[1]["verdict"] == "PASS"
    assert all(c["verdict"] == "PASS" for c in rec["contacts"])
    assert "anchor plate 2" in r.stderr


def test_high_anchor_passes_after(tmp_path):
    r, rec, _ = run_tester(tmp_path, 40, "high-anchor-40.toml", "--stage", "after")
    assert r.returncode == 0, r.stderr
    a = by_anchor(rec)[2]
    assert a["verdict"] == "PASS" and a["limit_mohm"] == 30.0 and 20.0 < a["r_mohm"] < 30.0
    assert rec["stage"] == "after" and rec["limits"]["anchor_mohm"] == 30.0


@pytest.mark.parametrize("n,rating", [(10, 500), (40, 500), (42, 300), (80, 300)])
def test_position_counts_and_current_rating(tmp_path, n, rating):
    r, rec, dirs = run_tester(tmp_path, n, "good-%d.toml" % n)
    assert r.returncode == 0, r.stderr
    assert rec["verdict"] == "PASS" and rec["positions"] == n
    assert_complete(rec, n)
    assert rec["conditions"]["rating_ma"] == rating
    assert rec["conditions"]["current_ma"] <= min(rating, 100)
    assert all(c["i_ma"] is None or c["i_ma"] <= rating for c in rec["contacts"])
    rows = list(csv.DictReader((dirs[0] / "measurements.csv").open()))
    assert len(rows) == n + 2


def test_measured_values_agree_with_scenario_within_uncertainty(tmp_path):
    """Every value within 4 reported sigmas of the scenario's, and the reported sigmas honest:
    the normalized errors z = (measured - true) / u have an RMS near 1 and no bias."""
    doc = tomllib.loads((SCENARIOS / "exact-40.toml").read_text())
    assert doc["dut"]["spread_mohm"] == 0.0 and doc["fixture"]["bulk_mohm"] == 0.0
    r, rec, _ = run_tester(tmp_path, 40, "exact-40.toml")
    assert r.returncode == 0, r.stderr
    zs = []
    for pin, c in by_pin(rec).items():
        want = doc.get("pin", {}).get(str(pin), {}).get("contact_mohm", doc["dut"]["contact_mohm"])
        assert c["u_mohm"] is not None and 0 < c["u_mohm"] <= 0.020, c  # 20 uOhm repeatability goal
        zs.append((c["r_mohm"] - want) / c["u_mohm"])
        assert abs(zs[-1]) <= 4.0, (pin, c, want)
    for n, a in by_anchor(rec).items():
        want = doc["anchor"][str(n)]["contact_mohm"]
        assert 0 < a["u_mohm"] <= 0.020, a
        zs.append((a["r_mohm"] - want) / a["u_mohm"])
        assert abs(zs[-1]) <= 4.0, (n, a, want)
    rms = (sum(z * z for z in zs) / len(zs)) ** 0.5
    mean = sum(zs) / len(zs)
    assert 0.5 <= rms <= 1.5, "reported uncertainties are not honest: rms z = %.2f" % rms
    assert abs(mean) <= 0.6, "measured values are biased: mean z = %.2f" % mean


def test_probe_fault_is_a_fixture_error(tmp_path):
    r, rec, _ = run_tester(tmp_path, 40, "probe-fault-40.toml")
    assert r.returncode == 3, r.stderr
    assert rec["verdict"] == "ERROR"
    assert by_pin(rec)[9]["fault"] == "probe"
    assert "pin 9: probe fault" in r.stderr and last_line(r) == "ERROR (SIMULATED)"


def test_fixture_that_stops_answering_leaves_partial_record(tmp_path):
    r, rec, dirs = run_tester(tmp_path, 40, "link-drop-40.toml", timeout_s=3)
    assert r.returncode == 3, r.stderr
    assert rec["complete"] is False and rec["verdict"] == "ERROR"
    assert "stopped answering" in rec["error"]
    assert len(rec["contacts"]) < 40
    on_disk = json.loads((dirs[0] / "record.json").read_text())
    assert on_disk["complete"] is False and on_disk["verdict"] == "ERROR" and "stopped answering" in on_disk["error"]
    assert (dirs[0] / "measurements.csv").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--pins", "41", "--sim"],
        ["--pins", "8", "--sim"],
        ["--pins", "82", "--sim"],
        ["--pins", "40", "--sim", "--current-ma", "200"],
        ["--pins", "40", "--sim", "--stage", "final"],
        ["--pins", "40", "--scenario", str(SCENARIOS / "good-40.toml")],
        ["--pins", "42", "--sim", "--scenario", str(SCENARIOS / "good-40.toml")],
        ["--pins", "40", "--sim", "--scenario", str(SCENARIOS / "missing.toml")],
    ],
)
def test_bad_arguments_exit_2(tmp_path, argv):
    r = subprocess.run([TESTER, "run", "--out", str(tmp_path / "r")] + argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "error" in r.stderr
    assert not (tmp_path / "r").exists()


def test_bad_scenario_file_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[dut]\npositions = 40\n[[short]]\nside = "plug"\npins = [20, 21]\nohm = 0.1\n')
    r = subprocess.run([TESTER, "run", "--pins", "40", "--sim", "--scenario", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert str(bad) in r.stderr and "short[0].pins" in r.stderr and "not neighbours" in r.stderr


def test_no_fixture_and_no_sim_exits_3_naming_sim(tmp_path):
    r = subprocess.run([TESTER, "run", "--pins", "40", "--out", str(tmp_path / "r")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 3
    assert "--sim" in r.stderr
    assert not (tmp_path / "r").exists()  # and it never ran the simulator by itself


def test_tester_sim_serves_a_port_for_tester_run(tmp_path):
    sim = subprocess.Popen([TESTER, "sim", "--pins", "40", "--workdir", str(tmp_path / "sim")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for _ in range(10):
            line = sim.stdout.readline()
            if line.startswith("port: "):
                port = line.split(": ", 1)[1].strip()
                break
        assert port, "tester sim printed no port"
        r, rec, dirs = run_tester(tmp_path, 40, None, "--port", port, sim=False)
        assert r.returncode == 0, r.stderr
        assert rec["verdict"] == "PASS" and rec["simulated"] is True  # the fixture says so itself
        assert dirs[0].name.endswith("-SIMULATED") and last_line(r) == "PASS (SIMULATED)"
    finally:
        sim.send_signal(signal.SIGINT)
        sim.communicate(timeout=20)
    assert sim.returncode == 0
