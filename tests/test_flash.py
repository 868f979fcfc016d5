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
    for loc, dev in deploy.plan(src, target="unix"):
        assert (fs / dev).read_bytes() == loc.read_bytes(), dev
    assert not list(fs.glob("*.new")) and not list(fs.glob("*.old"))  # no staging left behind


def test_plan_and_command_line(tmp_path):
    files = deploy.build(deploy.plan(FIRMWARE_DIR), tmp_path)
    devs = [d for _, d in files]
    assert "main.py" in devs and "drivers/eeprom.py" in devs and devs[-1] == "board.py"
    assert not any("__pycache__" in d or d.endswith(".pyc") for d in devs)
    text = json.dumps(deploy.manifest(files, FIRMWARE_DIR, "fixture_v1"))
    argv = deploy.deploy_argv("/dev/ttyACM0", files, text)
    assert argv[1:3] == ["connect", "/dev/ttyACM0"] and "resume" not in argv
    assert argv.count("cp") == len(files) and argv[-2] == "exec"  # the commit (it writes the manifest) last
    assert ":drivers.new/eeprom.py" in argv and ":main.py" in argv  # packages staged, then swapped
    assert deploy.firmware_version(FIRMWARE_DIR) == (protocol.FIRMWARE_VERSION, protocol.PROTOCOL_VERSION)


def test_native_merge_goes_as_armv6m_mpy_on_a_real_board_and_as_py_on_the_sim(tmp_path):
    if not (FIRMWARE_DIR / "event_merge.py").exists():
        return  # nothing native in this tree: the plan has nothing to compile
    rp2 = dict((d, loc) for loc, d in deploy.build(deploy.plan(FIRMWARE_DIR), tmp_path))
    mpy = rp2["event_merge.mpy"].read_bytes()
    # .mpy header: 'M', version 6, then the native arch in bits 2..7 of the flags byte
    assert mpy[0:2] == b"M\x06" and (mpy[2] >> 2) == 4, mpy[:4]  # MP_NATIVE_ARCH_ARMV6M
    assert "event_merge.py" not in rp2 and deploy.stale(list((l, d) for d, l in rp2.items())) == ["event_merge.py"]
    sim = [d for _, d in deploy.plan(FIRMWARE_DIR, target="unix")]
    assert "event_merge.py" in sim and "event_merge.mpy" not in sim
    assert deploy.stale([(None, d) for d in sim]) == ["event_merge.mpy"]


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


def test_a_failed_deploy_leaves_every_package_whole_and_the_next_one_swaps_it_in(tmp_path):
    """A partial /drivers would hide the frozen drivers package of a fixture_v1 build: the
    installed package stays the old, complete one until the new one is all there and checked."""
    src = modified_tree(tmp_path)
    for p in sorted((src / "drivers").glob("*.py")):
        p.write_text(p.read_text() + "\n# changed by the test\n")
    for i in range(4):  # new files: the simulated cable is pulled after the 2nd is written
        (src / "drivers" / ("extra_%d.py" % i)).write_text("X = %d\n" % i)
    work = tmp_path / "fx"
    board = SimBoard(work)  # a fixture holding the shipped firmware
    before = {p.name: p.read_bytes() for p in (board.fs / "drivers").glob("*.py")}
    n_drivers = len(before)
    # the device seeds drivers.new with the installed files (n_drivers new files on the flash),
    # then the copy starts: pull the cable once two of the extra files are written
    r = cli("flash", "--sim", "--workdir", str(work), "--source", str(src),
            env={"TESTER_SIM_DROP_AFTER_FILES": str(n_drivers + 2)})
    assert r.returncode == 3, r.stdout + r.stderr
    assert "partial firmware" in r.stderr and "still whole" in r.stderr
    after = {p.name: p.read_bytes() for p in (board.fs / "drivers").glob("*.py")}
    assert after == before  # untouched: the old package, whole
    assert (board.fs / "drivers.new").is_dir() and not (board.fs / "deployed.json").exists()

    r = cli("flash", "--sim", "--workdir", str(work), "--source", str(src))
    assert r.returncode == 0, r.stdout + r.stderr
    same_tree(src, board.fs)
    assert "# changed by the test" in (board.fs / "drivers" / "eeprom.py").read_text()
    assert hello_of(board)["firmware"] == TEST_VERSION


def test_flash_to_a_port_that_does_not_exist_claims_nothing(tmp_path):
    r = cli("flash", "--port", str(tmp_path / "nonexistent"), timeout=60)
    assert r.returncode == 3
    assert "no such port" in r.stderr and "nothing was flashed" in r.stderr
    assert "partial" not in r.stderr and "failed after" not in r.stderr


# A firmware from before the REPL verb: every command is an unknown verb.
OLD_FIRMWARE = """
import sys
from tester_firmware import protocol
for n, line in enumerate(sys.stdin.buffer):
    cid = int(line.split()[0])
    sys.stdout.buffer.write(protocol.encode_frame(n, protocol.K_ERR, {"id": cid, "code": protocol.E_VERB, "msg": "?"}))
    sys.stdout.buffer.flush()
"""


def test_repl_request_before_mpremote(tmp_path):
    """The app answers REPL with ok and ends (the port goes to MicroPython's REPL); a fixture
    that does not know REPL, or nothing listening, is simply a `False`: mpremote goes on."""
    from tester.commands.flash import request_repl

    board = SimBoard(tmp_path / "fx")
    with board.boot() as sim:
        link = Link.open(sim.port)
        try:
            Fixture(link, sim.port).handshake(timeout=10)
        finally:
            link.close()
        assert request_repl(sim.port) is True
        assert sim.proc.wait(timeout=5) == 0  # main.py returned: on a Pico, the REPL now has the port
    from tester.sim.launcher import PtyBridge

    fake = PtyBridge([sys.executable, "-c", OLD_FIRMWARE], tmp_path / "fake")
    with fake:
        assert request_repl(fake.port) is False and fake.alive()  # an `err` (unknown verb) answer
    silent = PtyBridge([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "silent")
    with silent:
        assert request_repl(silent.port, timeout=0.5) is False
