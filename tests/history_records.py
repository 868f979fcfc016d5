"""Records for the history tests: real runs of the simulated fixture (a few, in parallel), and
lots made from them by varying serial, start time, lot and a little noise (in-process: fifty
`tester run --sim` of ~3 s each would not fit the suite's time)."""

import copy
import json
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTER = str(Path(sys.executable).parent / "tester")
SCENARIOS = REPO / "scenarios"

# scenario -> what the lot test expects of it (the scenario's known defect)
LOT_SCENARIOS = {
    "good-40": "PASS",
    "high-contact-40": "FAIL",  # pin 17 high
    "open-contact-40": "FAIL",  # pin 5 open
    "bridge-plug-40": "FAIL",  # short 17-18 on the plug board
    "high-anchor-40": "FAIL",  # anchor plate at stage initial
}


def run_parallel(argvs, cwd, parallel=5, timeout=120, env=None, stagger_s=0.0):
    """Run `tester ARGV...` for each argv, `parallel` at a time, starts at least `stagger_s`
    apart; every process ends (killed at the timeout). Returns [(returncode, stdout, stderr)]."""
    results = [None] * len(argvs)
    running = []
    todo = list(enumerate(argvs))
    try:
        while todo or running:
            while todo and len(running) < parallel:
                i, argv = todo.pop(0)
                if i and stagger_s:
                    time.sleep(stagger_s)
                p = subprocess.Popen([TESTER] + [str(a) for a in argv], cwd=str(cwd), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)
                running.append((i, p, time.monotonic()))
            i, p, t0 = running.pop(0)
            out, err = p.communicate(timeout=max(1, timeout - (time.monotonic() - t0)))
            results[i] = (p.returncode, out, err)
    finally:
        for _, p, _ in running:
            p.kill()
            p.wait()
    return results


def result_dirs(out):
    return sorted(p.parent for p in Path(out).glob("*/record.json"))


def make_base_records(out, db):
    """One real simulated run per LOT_SCENARIOS entry, into out/<scenario>/. Returns
    {scenario: (record dict, result dir)}."""
    names = list(LOT_SCENARIOS)
    argvs = [["run", "--pins", "40", "--sim", "--scenario", SCENARIOS / (n + ".toml"), "--serial", "BASE-" + n,
              "--out", Path(out) / n, "--db", db] for n in names]
    res = run_parallel(argvs, out)
    base = {}
    for n, (rc, o, e) in zip(names, res):
        assert rc in (0, 1), "%s: exit %d\n%s\n%s" % (n, rc, o, e)
        (d,) = result_dirs(Path(out) / n)
        base[n] = (json.loads((d / "record.json").read_text()), d)
        assert base[n][0]["verdict"] == LOT_SCENARIOS[n], n
    return base


T0 = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)


def vary(record, serial, started, lot, seed, simulated=None):
    """A copy of `record` as another connector's run: its serial, start, lot, and each
    resistance moved by up to +-0.2 mOhm (the verdicts stay: no value crosses its limit)."""
    r = copy.deepcopy(record)
    rnd = random.Random(seed)
    r["serial"] = serial
    r["lot"] = lot
    r["started"] = started.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if simulated is not None:
        r["simulated"] = simulated
    for m in r["contacts"] + r["anchors"]:
        if m.get("r_mohm") is not None:
            v = round(m["r_mohm"] + rnd.uniform(-0.2, 0.2), 4)
            lim = m.get("limit_mohm")
            if lim is None or (v > lim) == (m["r_mohm"] > lim):
                m["r_mohm"] = v
    return r


def lot_plan():
    """The lot of 50 simulated connectors with known defects, and its retests: [(scenario, serial,
    attempt)]. 40 good, 4 high pin 17, 3 open pin 5, 2 bridged 17-18, 1 high anchor plate; each
    failing connector is retested once and passes (not a first pass)."""
    counts = {"good-40": 40, "high-contact-40": 4, "open-contact-40": 3, "bridge-plug-40": 2, "high-anchor-40": 1}
    plan = []
    k = 0
    for name, n in counts.items():
        for _ in range(n):
            k += 1
            plan.append((name, "L1-%03d" % k, 1))
            if name != "good-40":
                plan.append(("good-40", "L1-%03d" % k, 2))
    return plan


def lot_records(base, lot="L1"):
    """The records of lot_plan(), spread over two days (for --by day), in start order."""
    out = []
    for i, (name, serial, attempt) in enumerate(lot_plan()):
        started = T0 + timedelta(minutes=3 * i) + (timedelta(days=1) if i >= 30 else timedelta())
        if attempt == 2:
            started += timedelta(days=2)  # the retest comes after the first pass
        out.append(vary(base[name][0], serial, started, lot, seed=i))
    return out


def fresh_db(kind, tmp_path, request):
    """A new, empty history database: a SQLite file, or a new database on the session's
    PostgreSQL server. Returns its --db value."""
    if kind == "sqlite":
        return str(tmp_path / "history.sqlite")
    import uuid

    import psycopg

    url = request.getfixturevalue("pg_url")
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE %s" % name)
    return url.replace("/postgres?", "/%s?" % name, 1)
