"""One definition of what the device's flash filesystem holds (tester.firmware.device_files): the
deploy copies it, the simulated fixture is staged with it, the tests and tools import the firmware
from where its files lie (tests/test_boards.py holds the frozen manifest to it)."""

import os

import pytest

from tester import deploy
from tester.firmware import ENTRY, FIRMWARE_DIR, NATIVE, device_files, import_path, packages, protocol_of
from tester.sim import interpreter
from tester.sim.launcher import stage_filesystem


def test_the_device_holds_the_firmware_its_packages_and_the_board_profile():
    files = device_files()
    devs = [d for _, d in files]
    assert ENTRY in devs and "protocol.py" in devs and devs[-1] == "board.py"
    assert packages(files) == ["drivers"] and "drivers/__init__.py" in devs
    assert "event_merge.mpy" in devs and "event_merge.py" not in devs  # armv6m on a real board
    sim = [d for _, d in device_files(target="unix")]
    assert "event_merge.py" in sim and "event_merge.mpy" not in sim  # the unix port imports the .py
    assert NATIVE == ("event_merge.py",)
    assert not any("__pycache__" in d or d.endswith(".pyc") or d.startswith(".") for d in devs)


def test_deploy_plan_and_sim_staging_are_the_device_files(tmp_path):
    assert deploy.plan() == device_files()
    assert deploy.plan(target="unix") == device_files(target="unix")
    fs = stage_filesystem(tmp_path / "fs")
    staged = sorted(p.relative_to(fs).as_posix() for p in fs.rglob("*") if p.is_file())
    assert staged == sorted(d for _, d in device_files(target="unix"))
    for loc, dev in device_files(target="unix"):
        assert (fs / dev).read_bytes() == loc.read_bytes(), dev


def test_tests_and_tools_import_the_firmware_where_the_device_has_it():
    roots = import_path()
    for loc, dev in device_files(target="unix"):
        assert any(r / dev == loc for r in roots), dev
    path = interpreter.in_place_path().split(":")
    assert path[0] == str(interpreter.SIM_DIR)  # the simulated machine/rp2/time shadow the built-ins
    assert path[1:] == [str(r) for r in roots] == [str(FIRMWARE_DIR), str(FIRMWARE_DIR.parent / "boards" / "fixture_v1")]


def test_protocol_of_another_tree_is_that_trees(tmp_path):
    assert protocol_of(FIRMWARE_DIR).FIRMWARE_VERSION == protocol_of(str(FIRMWARE_DIR) + os.sep).FIRMWARE_VERSION
    (tmp_path / "protocol.py").write_text((FIRMWARE_DIR / "protocol.py").read_text().replace(
        'FIRMWARE_VERSION = "%s"' % protocol_of().FIRMWARE_VERSION, 'FIRMWARE_VERSION = "7.7.7-other"'))
    assert protocol_of(tmp_path).FIRMWARE_VERSION == "7.7.7-other"
    assert deploy.firmware_version(tmp_path) == ("7.7.7-other", protocol_of().PROTOCOL_VERSION)
    (tmp_path / "protocol.py").write_text("PROTOCOL_VERSION = 1\n")
    with pytest.raises(deploy.DeployError, match="FIRMWARE_VERSION"):
        deploy.firmware_version(tmp_path)


def test_board_profile_is_imported_not_read_as_text():
    import sys

    from tester.commands.common import board_max_positions
    from tester.firmware import board_profile

    had = sys.modules.get("analog_board")  # (hardware/tools loads it by its bare name)
    for name in ("fixture_v1", "pico"):
        b = board_profile(name)
        assert b.NAME == name and b.MAX_POSITIONS == board_max_positions(name) == 80
        assert b.REF_CHANNEL < b.EVENT_CHANNELS and b.EXPANDER_ADDR == 0x20  # its names and analog_board's
    assert sys.modules.get("analog_board") is had  # the device's bare names did not leak into the host
    with pytest.raises(FileNotFoundError):
        board_profile("no-such-board")
