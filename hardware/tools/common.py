"""Shared helpers of the hardware generators and checkers: repo paths and loading the firmware's
own rule modules (relay_map, channel_map) and the board profiles exactly as the device has them."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HARDWARE = REPO / "hardware"
FIRMWARE = REPO / "firmware"
BOARDS = REPO / "boards"


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def relay_map():
    return load(FIRMWARE / "relay_map.py", "_hw_relay_map")


def channel_map():
    return load(FIRMWARE / "channel_map.py", "_hw_channel_map")


def spec5861():
    return load(FIRMWARE / "spec5861.py", "_hw_spec5861")


def board(name="fixture_v1"):
    import sys

    if str(FIRMWARE) not in sys.path:  # board.py imports firmware/analog_board.py, as on the device
        sys.path.append(str(FIRMWARE))
    return load(BOARDS / name / "board.py", "_hw_board_" + name)
