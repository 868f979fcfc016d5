"""`tester run --station URL --fixture ID`: the run is asked of a running `tester station`,
which measures and records it as it records any run; this process starts nothing itself. It
waits for the result, prints it and exits with the run's exit code (0 PASS, 1 FAIL, 3...).
Ctrl-C (or SIGTERM, SIGHUP) asks the station to abort the run, which it records ABORTED.

HTTP errors: 400/401/404 (bad parameters, no or wrong token, no such fixture) exit 2; 409 (the
fixture is busy or not connected: nothing started) and a station that does not answer exit 3.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from tester import exitcodes, interrupts
from tester.exitcodes import FixtureError, UsageError

TOKEN_ENV = "TESTER_STATION_TOKEN"
WAIT_S = 30  # one long poll
STOP_WAIT_S = 20.0  # after asking for an abort: the station's ABORT and the record being written
HTTP_TIMEOUT_S = WAIT_S + 15


class Station:
    def __init__(self, url, token=None):
        if "://" not in url:
            url = "http://" + url
        self.url = url.rstrip("/") + "/"
        self.token = token

    def call(self, method, path, data=None, timeout=HTTP_TIMEOUT_S):
        req = urllib.request.Request(urllib.parse.urljoin(self.url, path.lstrip("/")), method=method,
                                     data=None if data is None else json.dumps(data).encode(),
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            try:
                msg = json.loads(e.read()).get("error") or e.reason
            except ValueError:
                msg = e.reason
            if e.code == 409:
                raise FixtureError("the station refused: %s" % msg)
            if e.code in (400, 401, 404):
                raise UsageError("the station refused: %s" % msg)
            raise FixtureError("the station answered HTTP %d: %s" % (e.code, msg))
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise FixtureError("no station answers at %s (%s): is `tester station` running there?" % (self.url, reason))

    def link(self, path):
        return urllib.parse.urljoin(self.url, path.lstrip("/"))


def check_args(args):
    if not args.fixture:
        raise UsageError("--station needs --fixture ID (the fixture's id on the station's panel)")
    if not args.station:
        raise UsageError("--fixture ID picks a fixture of a station: give --station URL")
    if args.sim or args.port or args.serial_number or args.scenario:
        raise UsageError("--station runs on the station's fixture: it does not take --sim, --scenario, --port or --serial-number")
    for opt in ("lot", "operator", "db"):
        if getattr(args, opt, None):
            raise UsageError("--%s: with --station the station's own applies (tester station --%s)" % (opt, opt))
    if args.html:
        raise UsageError("--html: with --station the report is on the station (its link is printed)")


def run_on_station(args):
    check_args(args)
    st = Station(args.station, args.token or os.environ.get(TOKEN_ENV))
    out = sys.stderr if args.json else sys.stdout
    params = {"pins": args.pins, "stage": args.stage, "serial": args.serial, "current_ma": args.current_ma,
              "allow_expired_cal": bool(args.allow_expired_cal)}
    fid = urllib.parse.quote(args.fixture, safe="")
    job = st.call("POST", "/api/fixtures/%s/run" % fid, {k: v for k, v in params.items() if v is not None})
    print("run %s on %s at %s: measuring" % (job["id"], args.fixture, st.url), file=out, flush=True)
    interrupted = None
    try:
        while job["state"] != "done":
            job = st.call("GET", "/api/jobs/%s?wait=%d" % (job["id"], WAIT_S))
    except KeyboardInterrupt:  # SIGINT, SIGTERM, SIGHUP: the station aborts the run and records it
        interrupted = interrupts.note_keyboard_interrupt()
        print("%s: asking the station to abort the run" % interrupts.describe(interrupted), file=out, flush=True)
        with interrupts.deferred():
            job = _stop(st, fid, job, interrupted)
    _show(st, job, out)
    if args.json and job.get("record_url"):
        try:
            rec = st.call("GET", job["record_url"])
            sys.stdout.write(json.dumps(rec, indent=2) + "\n")
            sys.stdout.flush()
        except (exitcodes.TesterError, OSError) as e:
            print("tester: warning: the record could not be fetched: %s" % getattr(e, "msg", e), file=sys.stderr)
    if interrupted:
        return interrupts.exit_code()
    if job.get("exit_code") is None:
        return exitcodes.FIXTURE
    return job["exit_code"]


def _stop(st, fid, job, reason):
    try:
        st.call("POST", "/api/fixtures/%s/stop" % fid, {"reason": reason}, timeout=5)
    except exitcodes.TesterError:
        pass  # it ended meanwhile
    deadline = time.monotonic() + STOP_WAIT_S
    while job["state"] != "done" and time.monotonic() < deadline:
        try:
            job = st.call("GET", "/api/jobs/%s?wait=5" % job["id"], timeout=10)
        except exitcodes.TesterError:
            break
    return job


def _show(st, job, out):
    for line in job.get("failures") or []:
        print("  " + line, file=out)
    if job.get("error") and job.get("verdict") != "PASS":
        print("error: %s" % job["error"], file=out)
    if job.get("result"):
        print("record: %s (on the station, under its --out)" % job["result"], file=out)
        print("report: %s" % st.link(job["report_url"]), file=out)
    print("%s%s" % (job.get("verdict") or "NO RESULT", " (SIMULATED)" if job.get("simulated") else ""), file=out, flush=True)
