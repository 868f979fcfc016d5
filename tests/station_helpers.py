"""A `tester station` in the test's own process (its simulated fixtures at hand: press START,
unplug, kill), and small HTTP helpers for its API. Waits poll a condition with a deadline
(never a timed assertion: the deadline only ends a wait that would otherwise hang)."""

import contextlib
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"


@contextlib.contextmanager
def station(tmp_path, *extra, sims=4, scenarios=("high-contact-40", "good-40", "intermittent-40", "good-40"), db=None):
    """(Station, Server, [SimFixture], base URL) for `tester station --sim N ...` on a free port."""
    from tester.cli import build_parser
    from tester.commands import station as station_cmd

    argv = ["station", "--listen", "127.0.0.1:0", "--out", str(tmp_path / "results"), "--pins", "40",
            "--operator", "ann", "--lot", "L7", "--timeout", "3", "--db", str(db or tmp_path / "history.sqlite")]
    if sims:
        argv += ["--sim", str(sims)]
        for s in scenarios:
            argv += ["--scenario", str(SCENARIOS / ("%s.toml" % s))]
    args = build_parser().parse_args(argv + list(extra))
    with station_cmd.opened(args, poll_s=0.3) as (st, server, simfx):
        yield st, server, simfx, "http://127.0.0.1:%d" % server.port


def call(base, method, path, data=None, token=None, timeout=30):
    """(HTTP status, decoded JSON body)."""
    req = urllib.request.Request(base + path, method=method, data=None if data is None else json.dumps(data).encode(),
                                 headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def wait_for(what, fn, timeout=60.0, every=0.1):
    """fn() until it returns something true; that value. Fails the test with `what` after
    `timeout` (a hang guard, not a speed requirement)."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("timed out waiting for %s (last: %r)" % (what, v))
        time.sleep(every)


def tile(base, fid):
    status, t = call(base, "GET", "/api/fixtures/%s" % fid)
    return t if status == 200 else None


def tiles(base):
    return {t["key"]: t for t in call(base, "GET", "/api/fixtures")[1]}


def job_done(base, job_id, timeout=60.0):
    return wait_for("job %s" % job_id, lambda: (lambda j: j if j["state"] == "done" else None)(
        call(base, "GET", "/api/jobs/%s?wait=5" % job_id)[1]), timeout=timeout, every=0)


def record(tmp_path, job):
    return json.loads((tmp_path / "results" / job["result"] / "record.json").read_text())


FIXTURES = ["FX-5100000%d" % i for i in range(1, 5)]
sys.path.insert(0, str(Path(__file__).parent))
