"""`tester flash` for real: mpremote deploys the firmware onto the simulated fixture (the
MicroPython interpreter's REPL behind a raw pseudo-terminal), the simulated fixture then boots
what was deployed, and the handshake shows the deployed version. A deploy that loses its link
half-way is reported and repaired by the next one; a mismatched firmware is refused with the
command that fixes it; the fixture identity survives a deploy."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tester import deploy
from tester.firmware import FIRMWARE_DIR, protocol
from tester.fixture import Fixture
from tester.link import Link
from tester.sim.flashable import SimBoard

BIN = Path(sys.executable).parent
TESTER = str(BIN / "tester")
TEST_VERSION = "9.9.9-flashtest"


def cli(*argv, env=None, timeout=180):
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([TESTER, *argv], capture_output=True, text=True, timeout=timeout, env=e)


def modified_tree(tmp_path):
    """A copy of the firmware whose FIRMWARE_VERSION says it is not the shipped one."""
    src = tmp_path / "fw"
    shutil.copytree(FIRMWARE_DIR, src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    p = src / "protocol.py"
    text = p.read_text()
    assert 'FIRMWARE_VERSION = "%s"' % protocol.FIRMWARE_VERSION in text
    p.write_text(text.replace('FIRMWARE_VERSION = "%s"' % protocol.FIRMWARE_VERSION, 'FIRMWARE_VERSION = "%s"' % TEST_VERSION))
    return src


def hello_of(board, timeout=10):
    with board.boot() as sim:
        link = Link.open(sim.port)
        try:
            fx = Fixture(link, sim.port)
            try:
                fx.handshake(timeout=timeout)
            except Exception:
                pass  # a version mismatch still leaves the hello to look at
            return fx.hello
        finally:
            link.close()


def same_tree(src, fs):
    for loc, dev in deploy.plan(src):
        assert (fs / dev).read_bytes() == loc.read_bytes(), dev


def test_plan_and_command_line(tmp_path):
    files = deploy.plan(FIRMWARE_DIR)
    devs = [d for _, d in files]
    assert "main.py" in devs and "drivers/eeprom.py" in devs and devs[-1] == "board.py"
    assert not any("__pycache__" in d or d.endswith(".pyc") for d in devs)
    argv = deploy.deploy_argv("/dev/ttyACM0", files, tmp_path / "deployed.json")
    assert argv[1:3] == ["connect", "/dev/ttyACM0"] and "resume" not in argv
    assert argv.count("cp") == len(files) + 1 and argv[-1] == ":deployed.json"  # the manifest last
    assert deploy.firmware_version(FIRMWARE_DIR) == (protocol.FIRMWARE_VERSION, protocol.PROTOCOL_VERSION)


def test_flash_deploys_and_the_sim_boots_the_deployed_version(tmp_path):
    src = modified_tree(tmp_path)
    work = tmp_path / "fx"
    r = cli("flash", "--sim", "--workdir", str(work), "--source", str(src), "--fixture-id", "FX-0042")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "firmware %s" % TEST_VERSION in r.stdout and "1 copied" in r.stdout  # only protocol.py differed
    assert "fixture FX-0042 (SIMULATED)" in r.stdout
    board = SimBoard(work)
    same_tree(src, board.fs)
    man = json.loads((board.fs / "deployed.json").read_text())
    assert man["firmware"] == TEST_VERSION and man["files"]["protocol.py"]
    h = hello_of(board)  # a fresh boot runs what is on the simulated flash
    assert h["firmware"] == TEST_VERSION and h["fixture_id"] == "FX-0042"

    # Every other command refuses the mismatched firmware with the command that fixes it.
    with board.boot() as sim:
        r = cli("run", "--pins", "10", "--port", sim.port, "--out", str(tmp_path / "r"))
    assert r.returncode == 3
    assert TEST_VERSION in r.stderr and "tester flash --port %s" % sim.port in r.stderr
    r = cli("calibrate", "--sim", "--workdir", str(work), "--yes", "--cal-dir", str(tmp_path / "c"))
    assert r.returncode == 3 and "tester flash --sim --workdir %s" % work in r.stderr

    # Back to the shipped firmware; the identity in the EEPROM is kept.
    r = cli("flash", "--sim", "--workdir", str(work))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "firmware %s" % protocol.FIRMWARE_VERSION in r.stdout and "fixture FX-0042" in r.stdout
    same_tree(FIRMWARE_DIR, board.fs)


def test_deploy_that_fails_half_way_is_reported_and_repaired(tmp_path):
    src = modified_tree(tmp_path)
    work = tmp_path / "fx"
    (work / "fs").mkdir(parents=True)  # a fixture with an empty flash: every file must be copied
    r = cli("flash", "--sim", "--workdir", str(work), "--source", str(src), env={"TESTER_SIM_DROP_AFTER_FILES": "5"})
    assert r.returncode == 3
    assert "failed after" in r.stderr and "partial firmware" in r.stderr and "USB cable was pulled" in r.stderr
    fs = work / "fs"
    assert not (fs / "deployed.json").exists()
    copied = [p for p in fs.rglob("*.py")]
    assert 1 <= len(copied) < len(deploy.plan(src))
    assert hello_of(SimBoard(work), timeout=2) is None  # what is there does not boot into a fixture

    r = cli("flash", "--sim", "--workdir", str(work), "--source", str(src))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "unchanged" in r.stdout and "firmware %s" % TEST_VERSION in r.stdout
    same_tree(src, fs)
    assert (fs / "deployed.json").exists()
    assert hello_of(SimBoard(work))["firmware"] == TEST_VERSION


def test_flash_needs_a_firmware_tree(tmp_path):
    r = cli("flash", "--sim", "--workdir", str(tmp_path / "fx"), "--source", str(tmp_path))
    assert r.returncode == 2 and "not a firmware tree" in r.stderr


def test_several_fixtures_told_apart_by_usb_serial_number(monkeypatch):
    from types import SimpleNamespace

    from tester import ports
    from tester.commands import flash

    fake = [
        SimpleNamespace(device="/dev/ttyACM0", serial_number="E6614104035A4C2B", description="Board in FS mode"),
        SimpleNamespace(device="/dev/ttyACM1", serial_number="E66138B7133D1234", description="Board in FS mode"),
    ]
    monkeypatch.setattr(ports, "list_fixtures", lambda: list(fake))
    ns = SimpleNamespace(sim=False, port=None, all=False, serial_number="e66138b7133d1234")
    assert flash.targets(ns) == ["/dev/ttyACM1"]
    ns.serial_number, ns.all = None, True
    assert flash.targets(ns) == ["/dev/ttyACM0", "/dev/ttyACM1"]
