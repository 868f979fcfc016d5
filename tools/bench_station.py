"""Load test of `tester station` (make bench): eight SIMULATED fixtures running back to back
under one station for N minutes (default 10).

A `tester station --sim 8` process serves them; one client thread per fixture asks for a run,
waits for its result and asks again (every fourth one by the simulated START button instead);
an event-stream client measures the panel's update latency (from the moment a tile changed in
the station to the moment the update is read here, same clock); a prober asks for the panel's
page and the station's state every 2 s. At the end the station is stopped (SIGINT) and every
record is checked: complete, the verdict its scenario gives, stored exactly once in the
history database (a fresh SQLite file).

Prints runs per minute for the station, the panel's update latency (median, 95th percentile,
max), the page's answer time, and the record checks; exits 1 if a check fails.

    python tools/bench_station.py [--minutes M] [--fixtures N]
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PRESS_TIMEOUT_S = 60  # a START run takes a few seconds; a press with no result is a problem, counted
TESTER = str(Path(sys.executable).parent / "tester")
SCENARIOS = [("good-40", "PASS", []), ("high-contact-40", "FAIL", [17]), ("open-contact-40", "FAIL", [5]),
             ("good-40", "PASS", [])]


def call(base, method, path, data=None, timeout=90):
    req = urllib.request.Request(base + path, method=method, data=None if data is None else json.dumps(data).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read() or b"{}")


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


class Bench:
    def __init__(self, base, fixtures, until):
        self.base = base
        self.fixtures = fixtures
        self.until = until
        self.jobs = []  # (fixture, job dict at its end)
        self.errors = []
        self.latency = []
        self.page_s = []
        self.replaced = 0  # test-board replacements (the mating count reset)
        self.lock = threading.Lock()

    def client(self, i, fid):
        n = 0
        while time.time() < self.until:
            n += 1
            try:
                # the operator replaces the test-board connectors when the tile says so (30 matings)
                cyc = call(self.base, "GET", "/api/fixtures/%s" % fid)[1].get("cycles") or {}
                if cyc.get("state") == "worn":
                    _, job = call(self.base, "POST", "/api/fixtures/%s/cycles" % fid, {"reset": True})
                    while job["state"] != "done":
                        _, job = call(self.base, "GET", "/api/jobs/%s?wait=30" % job["id"])
                    with self.lock:
                        self.replaced += 1
                if n % 4 == 0:  # the operator's START button (the panel's simulated press)
                    # the tile lists its last few results: a new one is told by its id, not the count
                    last = call(self.base, "GET", "/api/fixtures/%s" % fid)[1]["results"]
                    before = last[0]["id"] if last else None
                    call(self.base, "POST", "/api/fixtures/%s/press" % fid)
                    give_up = time.monotonic() + PRESS_TIMEOUT_S
                    while True:
                        t = call(self.base, "GET", "/api/fixtures/%s" % fid)[1]
                        if t["results"] and t["results"][0]["id"] != before and t["state"] == "idle":
                            job = t["results"][0]
                            break
                        if time.monotonic() > give_up:
                            raise TimeoutError("START pressed, no result within %d s: %s" % (PRESS_TIMEOUT_S, t["log"][-1:]))
                        time.sleep(0.1)
                else:
                    _, job = call(self.base, "POST", "/api/fixtures/%s/run" % fid, {"serial": "B%d-%05d" % (i, n)})
                    while job["state"] != "done":
                        _, job = call(self.base, "GET", "/api/jobs/%s?wait=30" % job["id"])
                with self.lock:
                    self.jobs.append((fid, job))
            except Exception as e:  # noqa: BLE001 - counted and shown
                with self.lock:
                    self.errors.append("%s: %s: %s" % (fid, type(e).__name__, e))
                time.sleep(0.5)

    def events(self):
        """The panel's stream: latency of each tile update (read time - the tile's change time)."""
        try:
            with urllib.request.urlopen(self.base + "/api/events", timeout=30) as r:
                event = None
                for raw in r:
                    line = raw.decode().rstrip("\r\n")
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:") and event == "tiles":
                        now = time.time()
                        d = json.loads(line[5:])
                        with self.lock:
                            self.latency += [now - t["changed"] for t in d["tiles"]]
                    if time.time() > self.until:
                        return
        except Exception as e:  # noqa: BLE001
            with self.lock:
                self.errors.append("event stream: %s: %s" % (type(e).__name__, e))

    def prober(self):
        while time.time() < self.until:
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(self.base + "/", timeout=10) as r:
                    ok = b"panel.js" in r.read()
                call(self.base, "GET", "/api/station", timeout=10)
                if ok:
                    self.page_s.append(time.monotonic() - t0)
                else:
                    self.errors.append("the panel's page did not come whole")
            except Exception as e:  # noqa: BLE001
                self.errors.append("panel page: %s: %s" % (type(e).__name__, e))
            time.sleep(2.0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--fixtures", type=int, default=8)
    a = ap.parse_args(argv)
    # stopped by SIGTERM too, the station (and its simulated fixtures) ends with the bench
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="bench-station-"))
    out, db = work / "results", work / "history.sqlite"
    argv = [TESTER, "station", "--sim", str(a.fixtures), "--pins", "40", "--listen", "127.0.0.1:0", "--out", str(out),
            "--db", str(db), "--operator", "bench", "--lot", "BENCH"]
    for name, _, _ in SCENARIOS:
        argv += ["--scenario", str(REPO / "scenarios" / ("%s.toml" % name))]
    fids = ["FX-%08x" % (0x51000000 + i + 1) for i in range(a.fixtures)]
    expect = {fid: SCENARIOS[i % len(SCENARIOS)] for i, fid in enumerate(fids)}
    err = open(work / "station.stderr", "w")  # a file, not a pipe nobody reads (it would fill and block)
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        lines = []
        while sum(" connected on " in x for x in lines) < a.fixtures:
            line = p.stdout.readline()
            if not line:
                sys.exit("the station ended: %s" % (work / "station.stderr").read_text())
            lines.append(line)
        base = [x for x in lines if "panel: " in x][0].split("panel: ")[1].strip().rstrip("/")
        threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()  # keep its output flowing
        t0 = time.time()
        b = Bench(base, fids, t0 + a.minutes * 60)
        threads = [threading.Thread(target=b.client, args=(i, f)) for i, f in enumerate(fids)]
        threads += [threading.Thread(target=b.events, daemon=True), threading.Thread(target=b.prober)]
        for t in threads:
            t.start()
        for t in threads[:-2] + threads[-1:]:
            t.join()
        wall = time.time() - t0
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    # -- the records ------------------------------------------------------------------------
    import sqlalchemy as sa

    from tester.history import db as hdb
    from tester.history import store

    problems = list(b.errors)
    dirs = sorted(d for d in out.iterdir() if d.is_dir())
    records = {d.name: json.loads((d / "record.json").read_text()) for d in dirs}
    engine = hdb.open_db(str(db))
    with engine.connect() as c:
        ids = [r[0] for r in c.execute(sa.text("SELECT id FROM runs"))]
    if len(ids) != len(set(ids)):
        problems.append("a run stored twice in the database")
    if sorted(ids) != sorted(store.identity(r) for r in records.values()):
        problems.append("database rows (%d) and result directories (%d) differ" % (len(ids), len(records)))
    for fid, job in b.jobs:
        _, want, pins = expect[fid]
        r = records.get(job.get("result"))
        if r is None:
            problems.append("%s job %s: no record (%s)" % (fid, job["id"], job.get("error")))
            continue
        if not r["complete"] or r["verdict"] != want or r["failed"] != pins or r["fixture"]["id"] != fid:
            problems.append("%s %s: %s complete=%s failed=%s" % (fid, job["result"], r["verdict"], r["complete"], r["failed"]))
    extra = len(records) - len(b.jobs)  # runs in progress when the station stopped: ABORTED records
    aborted = [n for n, r in records.items() if r["verdict"] == "ABORTED"]
    if extra != len(aborted) or extra > a.fixtures:
        problems.append("%d records besides the finished jobs, %d of them ABORTED" % (extra, len(aborted)))
    buttons = sum(1 for _, j in b.jobs if j.get("source") == "button")

    print("tester station, %d SIMULATED fixtures back to back for %.1f min (this machine, %d cores):"
          % (a.fixtures, wall / 60, os.cpu_count()))
    print("  runs finished: %d (%d by the START button), %.1f runs/min per station, %.2f per fixture"
          % (len(b.jobs), buttons, len(b.jobs) / (wall / 60), len(b.jobs) / (wall / 60) / a.fixtures))
    print("  records: %d written, %d stored in the database, each once; %d ABORTED by the station's stop"
          % (len(records), len(ids), len(aborted)))
    print("  test boards replaced %d times (the fixtures' mating count at 30, spec 8.5)" % b.replaced)
    print("  panel update latency (tile changed -> event read): median %.0f ms, p95 %.0f ms, max %.0f ms (%d updates)"
          % (1000 * statistics.median(b.latency or [float("nan")]), 1000 * pct(b.latency, 0.95),
             1000 * max(b.latency or [float("nan")]), len(b.latency)))
    print("  panel page and state answered %d times: median %.0f ms, max %.0f ms"
          % (len(b.page_s), 1000 * statistics.median(b.page_s or [float("nan")]), 1000 * max(b.page_s or [float("nan")])))
    print("  station exit code %s" % p.returncode)
    if problems:
        print("  PROBLEMS (%d):" % len(problems))
        for x in problems[:20]:
            print("    " + x)
        return 1
    print("  every record complete with its scenario's verdict, stored exactly once")
    return 0


if __name__ == "__main__":
    sys.exit(main())
