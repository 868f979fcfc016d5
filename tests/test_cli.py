"""The `tester` CLI: argument refusals (exit 2), fixture discovery, and the run command against a
FAKE fixture (tests/fake_fixture.py, CPython) behind the same pseudo-terminal bridge the
simulated fixture uses: version mismatch, garbled and lost frames, self-check and probe faults,
a cable pulled mid-run, Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tester import ports
from tester.cli import main
from tester.sim.launcher import PtyBridge

HERE = Path(__file__).resolve().parent
TESTER = str(Path(sys.executable).parent / "tester")


# -- argument and configuration refusals: exit 2, nothing started ----------------------------

@pytest.mark.parametrize(
    "argv,needle",
    [
        (["run", "--pins", "9", "--sim"], "starts at 10"),
        (["run", "--pins", "41", "--sim"], "even"),
        (["run", "--pins", "82", "--sim"], "at most 80"),
        (["run", "--pins", "40", "--sim", "--current-ma", "150"], "allows at most 100 mA"),
        (["run", "--pins", "42", "--sim", "--current-ma", "400"], "rated 300 mA per contact"),
        (["run", "--pins", "40", "--sim", "--current-ma", "0"], "at least 1 mA"),
        (["run", "--pins", "40", "--scenario", "x.toml"], "needs --sim"),
        (["run", "--pins", "40", "--sim", "--port", "/dev/ttyACM0"], "does not take --port"),
        (["run", "--pins", "40", "--sim", "--serial", "A=B"], "--serial"),
    ],
)
def test_refusals_exit_2(argv, needle, tmp_path, capsys):
    rc = main(argv + ["--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert needle in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "argv",
    [["run"], ["run", "--pins", "forty"], ["run", "--pins", "40", "--stage", "during"], ["bogus"], []],
)
def test_argparse_errors_exit_2(argv):
    with pytest.raises(SystemExit) as ei:
        main(argv)
    assert ei.value.code == 2


def test_current_refusal_names_both_reasons(capsys):
    assert main(["run", "--pins", "42", "--sim", "--current-ma", "350"]) == 2
    err = capsys.readouterr().err
    assert "100 mA" in err and "300 mA" in err and "42-position" in err


# -- finding the fixture --------------------------------------------------------------------

def fake_port(dev, sn):
    return SimpleNamespace(device=dev, serial_number=sn, description="Board in FS mode", vid=0x2E8A, pid=0x0005)


def test_no_fixture_exits_3_naming_sim(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(ports, "list_fixtures", lambda: [])
    assert main(["run", "--pins", "40", "--out", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert "--sim" in err and "no fixture" in err
    assert list(tmp_path.iterdir()) == []


def test_no_fixture_real_enumeration_exits_3(capsys, tmp_path):
    # this machine has no fixture attached: the real USB enumeration finds none
    assert main(["run", "--pins", "40", "--out", str(tmp_path)]) == 3
    assert "--sim" in capsys.readouterr().err


def test_several_fixtures_exit_2_listing_them(monkeypatch, capsys):
    monkeypatch.setattr(ports, "list_fixtures", lambda: [fake_port("/dev/ttyACM0", "E6A1"), fake_port("/dev/ttyACM1", "E6B2")])
    assert main(["run", "--pins", "40"]) == 2
    err = capsys.readouterr().err
    assert "/dev/ttyACM0" in err and "/dev/ttyACM1" in err and "E6B2" in err and "--serial-number" in err


def test_serial_number_picks_one(monkeypatch):
    monkeypatch.setattr(ports, "list_fixtures", lambda: [fake_port("/dev/ttyACM0", "E6A1"), fake_port("/dev/ttyACM1", "E6B2")])
    assert ports.find_fixture("e6b2") == "/dev/ttyACM1"
    with pytest.raises(ports.FixtureError, match="E6C3"):
        ports.find_fixture("E6C3")


# -- against the fake fixture -----------------------------------------------------------------

@pytest.fixture
def fake(tmp_path):
    bridges = []

    def start(cfg=None, drop_after_frames=None):
        env = dict(os.environ, FAKE_FIXTURE=json.dumps(cfg or {}))
        b = PtyBridge([sys.executable, str(HERE / "fake_fixture.py")], tmp_path / ("fake%d" % len(bridges)),
                      env=env, drop_after_frames=drop_after_frames)
        bridges.append(b.start())
        return b

    yield start
    for b in bridges:
        b.close()


def run_cli(port, tmp_path, *extra, pins=40):
    out = tmp_path / "results"
    r = subprocess.run([TESTER, "run", "--pins", str(pins), "--port", port, "--out", str(out), "--json", "--timeout", "3", *extra],
                       capture_output=True, text=True, timeout=60)
    rec = json.loads(r.stdout) if r.stdout.strip() else None
    dirs = sorted(out.iterdir()) if out.exists() else []
    return r, rec, dirs


def test_fake_pass_json_and_result_dir(fake, tmp_path):
    b = fake()
    r, rec, dirs = run_cli(b.port, tmp_path, "--serial", "LOT7-0042")
    assert r.returncode == 0, r.stderr
    assert rec["verdict"] == "PASS" and rec["complete"] and rec["serial"] == "LOT7-0042"
    assert len(dirs) == 1 and dirs[0].name.endswith("-LOT7-0042-FAKE-1-SIMULATED")
    assert json.loads((dirs[0] / "record.json").read_text()) == rec
    assert r.stderr.strip().splitlines()[-1] == "PASS (SIMULATED)"
    assert "SIMULATED FIXTURE" in r.stderr.splitlines()[0]
    assert rec["link"]["lost"] == 0 and rec["link"]["garbled"] == 0 and rec["link"]["frames"] > 40


def test_fake_fail_names_pins(fake, tmp_path):
    b = fake({"contacts": {"17": 74.0}, "open": [5], "shorts": [["receptacle", 30, 31, 0.3]]})
    r, rec, _ = run_cli(b.port, tmp_path)
    assert r.returncode == 1
    assert rec["verdict"] == "FAIL"
    assert "pin 17: high: 74.00 mOhm > limit 70 mOhm" in r.stderr
    assert "pin 5: open" in r.stderr
    assert "pins 30-31: short on the receptacle board" in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "FAIL (SIMULATED)"


def test_protocol_mismatch_exits_3_with_flash_command(fake, tmp_path):
    b = fake({"protocol": 2, "firmware": "0.0.9"})
    r, rec, dirs = run_cli(b.port, tmp_path)
    assert r.returncode == 3
    assert "protocol 2" in r.stderr and "tester flash --port %s" % b.port in r.stderr
    assert rec is None and dirs == []


def test_garbled_frame_turns_pass_into_error(fake, tmp_path):
    b = fake({"garble_frame": 20})
    r, rec, _ = run_cli(b.port, tmp_path)
    assert r.returncode == 3
    assert rec["verdict"] == "ERROR" and rec["link"]["garbled"] == 1
    assert "garbled" in rec["error"]


def test_seq_gap_turns_pass_into_error(fake, tmp_path):
    b = fake({"skip_seq": 25})
    r, rec, _ = run_cli(b.port, tmp_path)
    assert r.returncode == 3
    assert rec["verdict"] == "ERROR" and rec["link"]["lost"] == 1 and "1 frames lost" in rec["error"]


def test_fixture_saying_pass_with_a_failed_pin_is_error(fake, tmp_path):
    b = fake({"contacts": {"3": 90.0}, "wrong_done": True})
    r, rec, _ = run_cli(b.port, tmp_path)
    assert r.returncode == 3 and rec["verdict"] == "ERROR" and "cannot confirm" in rec["error"]


def test_selfcheck_failure_exits_3(fake, tmp_path):
    b = fake({"selfcheck_fail": True})
    r, rec, _ = run_cli(b.port, tmp_path)
    assert r.returncode == 3 and rec["verdict"] == "ERROR"
    assert rec["selfcheck"][0]["ok"] is False and rec["contacts"] == []
    assert "self-check" in r.stderr


def test_probe_fault_exits_3_blaming_the_fixture(fake, tmp_path):
    b = fake({"probe": [9]})
    r, rec, _ = run_cli(b.port, tmp_path)
    assert r.returncode == 3 and rec["verdict"] == "ERROR"
    assert "pin 9: probe fault" in r.stderr and "fixture needs repair" in r.stderr


def test_fixture_that_goes_silent_leaves_partial_record(fake, tmp_path):
    b = fake(drop_after_frames=20)
    r, rec, dirs = run_cli(b.port, tmp_path)
    assert r.returncode == 3
    assert rec["complete"] is False and rec["verdict"] == "ERROR"
    assert "stopped answering" in rec["error"]
    assert 0 < len(rec["contacts"]) < 40
    on_disk = json.loads((dirs[0] / "record.json").read_text())
    assert on_disk["complete"] is False and "stopped answering" in on_disk["error"]


def _wait_for(pred, timeout=20):
    t = time.monotonic() + timeout
    while time.monotonic() < t:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _running_cli(port, out, *extra):
    return subprocess.Popen([TESTER, "run", "--pins", "40", "--port", port, "--out", str(out), "--timeout", "5", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cable_pulled_mid_run_exits_3_fast(fake, tmp_path):
    b = fake({"delay_s": 0.1})
    out = tmp_path / "results"
    p = _running_cli(b.port, out)
    assert _wait_for(lambda: out.exists() and any(out.iterdir()))
    time.sleep(0.5)
    t0 = time.monotonic()
    b.unplug()
    so, se = p.communicate(timeout=30)
    assert p.returncode == 3, se
    assert time.monotonic() - t0 < 4  # not the 5 s silence timeout: the port itself failed
    rec = json.loads(next(out.iterdir()).joinpath("record.json").read_text())
    assert rec["complete"] is False and "lost" in rec["error"]


def test_ctrl_c_aborts_and_writes_partial_record(fake, tmp_path):
    b = fake({"delay_s": 0.1})
    out = tmp_path / "results"
    p = _running_cli(b.port, out)
    assert _wait_for(lambda: out.exists() and any(out.iterdir()))
    time.sleep(0.8)
    p.send_signal(signal.SIGINT)
    so, se = p.communicate(timeout=30)
    assert p.returncode == 130, se
    rec = json.loads(next(out.iterdir()).joinpath("record.json").read_text())
    assert rec["verdict"] == "ABORTED" and rec["complete"] is False and "Ctrl-C" in rec["error"]
    assert rec["done"]["verdict"] == "ABORTED"  # the fixture confirmed the abort
    assert 0 < len(rec["contacts"]) < 40
    assert so.strip().splitlines()[-1] == "ABORTED (SIMULATED)"


def test_fixture_too_small_for_pins_exits_2(fake, tmp_path):
    b = fake({"max_positions": 40})
    r, rec, dirs = run_cli(b.port, tmp_path, pins=42)
    assert r.returncode == 2
    assert "at most 40 positions" in r.stderr and dirs == []


def test_real_fixture_output_is_not_marked_simulated(fake, tmp_path):
    b = fake({"simulated": False})
    r, rec, dirs = run_cli(b.port, tmp_path)
    assert r.returncode == 0, r.stderr
    assert rec["simulated"] is False and "SIMULATED" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "PASS"
    assert not dirs[0].name.endswith("SIMULATED")
