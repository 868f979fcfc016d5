"""The pseudo-terminal bridge the simulated fixture sits behind: a port pyserial opens like a real
one, a cable that can be pulled and plugged back, a link that dies after K frames."""

import json
import os
import sys
from pathlib import Path

import pytest

from tester.fixture import Fixture
from tester.link import Link, LinkError
from tester.sim import launcher
from tester.sim.launcher import PtyBridge, SimFixture, stage_filesystem
from tester.firmware import FIRMWARE_DIR

HERE = Path(__file__).resolve().parent


def bridge(tmp_path, cfg=None, **kw):
    env = dict(os.environ, FAKE_FIXTURE=json.dumps(cfg or {}))
    return PtyBridge([sys.executable, str(HERE / "fake_fixture.py")], tmp_path / "b", env=env, **kw)


def test_unplug_makes_reads_fail_and_replug_works(tmp_path):
    with bridge(tmp_path) as b:
        link = Link.open(b.port)
        fx = Fixture(link, b.port)
        assert fx.handshake(timeout=5)["fixture_id"] == "FAKE-1"
        assert fx.status()["busy"] is False
        b.unplug()
        assert not os.path.exists(b.port)  # the port vanished, as a pulled USB device's does
        with pytest.raises(LinkError, match="lost"):
            link.read_frame(3.0)
        link.close()
        b.replug()
        link = Link.open(b.port)
        fx = Fixture(link, b.port)
        assert fx.handshake(timeout=5)["protocol"] == 1
        assert fx.status()["lid_closed"] is True
        link.close()


def test_drop_after_frames(tmp_path):
    with bridge(tmp_path, drop_after_frames=3) as b:
        link = Link.open(b.port)
        fx = Fixture(link, b.port)
        fx.handshake(timeout=5)
        answered = 0
        with pytest.raises(LinkError, match="stopped answering"):
            for _ in range(5):
                fx.command("STATUS", timeout=1.0, reply="status")
                answered += 1
        assert b.frames_forwarded == 3 and answered < 3
        link.close()


def test_stage_filesystem_is_a_deploy(tmp_path):
    fs = stage_filesystem(tmp_path / "fs")
    assert (fs / "protocol.py").read_text() == (FIRMWARE_DIR / "protocol.py").read_text()
    assert "MAX_POSITIONS = 80" in (fs / "board.py").read_text()
    assert not list(fs.rglob("__pycache__"))


def test_sim_fixture_stages_scenario_and_env(tmp_path):
    sc = {"positions": 10, "contact_mohm": 30.0, "pins": {}, "anchors": {}, "shorts": [], "fixture": {}, "intermittent": []}
    s = SimFixture(sc, tmp_path / "w")
    assert json.loads((tmp_path / "w" / "scenario.json").read_text()) == sc
    assert s._env["SIM_SCENARIO"] == str(tmp_path / "w" / "scenario.json")
    assert s._env["MICROPYPATH"].split(":")[0].endswith("boards/sim")
    # simboot.py runs main.py from the staged filesystem (the working directory), as the device boots
    assert s._argv[-3:-1] == ["-X", "heapsize=%s" % launcher.HEAPSIZE] and s._argv[-1].endswith("boards/sim/simboot.py")
    assert s._cwd == str(tmp_path / "w" / "fs") and (s.fs / "main.py").exists()
