"""Real records for the report tests and tools/bench_report.py, made once per process by the tester
CLI on the simulated fixture (the commands run in parallel), and a synthetic history built from
them."""

import atexit
import copy
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTER = str(Path(sys.executable).parent / "tester")
SCEN = REPO / "scenarios"

# name -> tester arguments (all --sim, --yes where the procedure prompts)
DEFECTS = str(SCEN / "report-defects-40.toml")
COMMANDS = {
    "run": ["run", "--pins", "40", "--scenario", DEFECTS],
    "monitor": ["monitor", "--pins", "40", "--duration", "5", "--scenario", DEFECTS],
    # the procedure with passing contact resistance stages and events on every axis
    "vibration": ["vibration", "--pins", "40", "--axis-duration", "2", "--yes", "--scenario", str(SCEN / "intermittent-40.toml")],
    "shock": ["shock", "--pins", "40", "--window", "1", "--yes", "--scenario", DEFECTS],
}

_made = {}


def records():
    """{name: result directory}; made on first use, removed when the process ends."""
    if _made:
        return dict(_made)
    root = Path(tempfile.mkdtemp(prefix="tester-report-records-"))
    atexit.register(shutil.rmtree, root, True)
    procs = {}
    for name, args in COMMANDS.items():
        out = root / name
        out.mkdir()
        procs[name] = (out, subprocess.Popen([TESTER] + args + ["--sim", "--out", str(out)],
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                             env=_env(root)))
    try:
        for name, (out, p) in procs.items():
            _, err = p.communicate(timeout=120)
            dirs = [d for d in out.iterdir() if (d / "record.json").is_file()]
            assert len(dirs) == 1, "%s: tester exited %s, no record: %s" % (name, p.returncode, err.decode()[-500:])
            _made[name] = dirs[0]
    finally:
        for _, p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    return dict(_made)


_html = {}


def html(name):
    """The report of record `name`, rendered once per test process (both report test modules)."""
    if name not in _html:
        from tester import report

        _html[name] = report.render(load(name), records()[name])
    return _html[name]


def _env(root):
    import os

    env = dict(os.environ)
    env["TESTER_DB"] = str(root / "history.db")  # the commands store into a throwaway database
    return env


def load(name):
    return json.loads((records()[name] / "record.json").read_text())


def synthetic_lot(base, n=30, lot="L7", rising_pin=12, failing_every=6):
    """n contact resistance records of one lot derived from a real one: pin `rising_pin` rises
    0.6 mOhm per run, every `failing_every`-th connector fails pin 17 high. Simulated, as their
    source."""
    t0 = datetime.datetime(2026, 11, 1, 8, 0, tzinfo=datetime.timezone.utc)
    out = []
    for i in range(n):
        r = copy.deepcopy(base)
        r["serial"] = "%s-%04d" % (lot, i + 1)
        r["lot"] = lot
        r["started"] = (t0 + datetime.timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        failed = []
        for c in r["contacts"]:
            c["r_mohm"] = 30.0 + 0.1 * ((c["pin"] * 7 + i * 3) % 5)
            c["verdict"], c["fault"] = "PASS", None
            if c["pin"] == rising_pin:
                c["r_mohm"] = 30.0 + 0.6 * i
            if c["pin"] == 17 and i % failing_every == failing_every - 1:
                c["r_mohm"], c["verdict"], c["fault"] = 75.0, "FAIL", "high"
                failed.append(17)
        r["shorts"] = []
        r["failed"] = failed
        r["verdict"] = "FAIL" if failed else "PASS"
        out.append(r)
    return out
