"""The station: its settings, the workers (one per port), hot-plug, and the jobs it accepts.

Everything the web server asks goes through here; every answer is decided under the model's
lock, so two requests for one fixture cannot both start a job: the first marks the tile busy,
the second gets StationError(409) and nothing is started.
"""

import logging
import threading
import time
from pathlib import Path

from tester.commands import common
from tester.commands.monitor import AXES, AXIS_DURATION_S, DIRECTIONS, SWEEP_MODES, load_resume
from tester.exitcodes import UsageError
from tester.firmware import spec5861
from tester.station import discovery, model
from tester.station.worker import Worker

log = logging.getLogger(__name__)

OPEN_RETRY_S = 5.0  # a port that could not be opened (held by another program) is tried again
MONITOR_MAX_S = 86400


class Settings:
    """What the station applies to every fixture (tester station's options)."""

    def __init__(self, out="results", db=None, html=False, lot=None, operator=None, pins=None, stage="initial",
                 timeout=common.DEFAULT_TIMEOUT_S, reconnect_timeout=60.0):
        self.out = Path(out)
        self.db = db
        self.html = html
        self.lot = lot
        self.operator = operator
        self.pins = pins
        self.stage = stage
        self.timeout = timeout
        self.reconnect_timeout = reconnect_timeout

    def as_dict(self):
        return {"out": str(self.out), "lot": self.lot, "operator": self.operator, "pins": self.pins, "stage": self.stage,
                "html": self.html}


class StationError(Exception):
    """A request the station refuses: `status` is the HTTP status (400, 404, 409)."""

    def __init__(self, status, msg):
        super().__init__(msg)
        self.status = status
        self.msg = msg


class Station:
    def __init__(self, settings, disc):
        self.settings = settings
        self.discovery = disc
        self.model = model.Model()
        self.lock = self.model.lock
        self.workers = {}  # device -> Worker
        self.refused = {}  # device -> monotonic time it may be tried again (None: when it is plugged in again)
        self.by_fixture = {}  # fixture id -> Worker serving it
        self._stopping = None
        self._stop = threading.Event()
        self._poller = None
        self.say = None  # a line for the station's console (tester station prints them)
        self.model.info = dict(settings.as_dict(), started=model.now())

    # -- hot-plug -------------------------------------------------------------------------------

    def start(self, poll_s=discovery.POLL_S):
        self.poll()
        self._poller = threading.Thread(target=self._poll_loop, args=(poll_s,), name="station-hotplug", daemon=True)
        self._poller.start()
        return self

    def _poll_loop(self, poll_s):
        while not self._stop.wait(poll_s):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - the next poll tries again
                log.exception("hot-plug poll failed")

    def poll(self):
        """Start a worker for every port that appeared; forget refusals of ports that vanished."""
        present = self.discovery.present()
        now = time.monotonic()
        with self.lock:
            if self._stopping:
                return
            for dev, cand in present.items():
                w = self.workers.get(dev)
                if w is not None and w.is_alive():
                    continue
                if dev in self.refused:
                    again = self.refused[dev]
                    if again is None or now < again:
                        continue
                    del self.refused[dev]
                w = self.workers[dev] = Worker(self, cand)
                w.start()
            for dev in list(self.refused):
                if dev not in present:  # unplugged: tried again when it comes back (flashed, replaced)
                    del self.refused[dev]
                    self.model.remove(port_key(dev))

    def retry(self, device):
        """The panel's RETRY on a refused port."""
        with self.lock:
            if device not in self.refused:
                raise StationError(404, "no refused port %s" % device)
            self.refused[device] = 0.0
        self.poll()

    # -- workers --------------------------------------------------------------------------------

    def claim(self, fid, worker):
        """Worker `worker` found fixture `fid`: None if it may serve it, else the worker that
        already does (two fixtures answering with one id)."""
        with self.lock:
            other = self.by_fixture.get(fid)
            if other is not None and other is not worker and other.is_alive():
                return other
            self.by_fixture[fid] = worker
            self.model.remove(port_key(worker.device))  # a refusal of this port is over
        return None

    def connected(self, worker):
        """Said once the fixture's tile is up: whoever reads the line can ask for it at once."""
        self._say("%s connected on %s%s" % (worker.key, worker.device, " (SIMULATED)" if worker.sim is not None else ""))

    def worker_ended(self, worker, outcome, reason):
        m = self.model
        with self.lock:
            if self.workers.get(worker.device) is worker:
                del self.workers[worker.device]
            if worker.key is not None and self.by_fixture.get(worker.key) is worker:
                del self.by_fixture[worker.key]
            if outcome in ("refused", "unopenable"):
                msg, hello = reason if outcome == "refused" else (reason, None)
                again = time.monotonic() + OPEN_RETRY_S if outcome == "unopenable" else None
                self.refused[worker.device] = again
                key = port_key(worker.device)
                m.tile(key, worker.device)
                h = hello or {}
                fields = dict(state=model.REFUSED, reason=msg, port=worker.device, firmware=h.get("firmware"),
                              simulated=bool(h.get("simulated")), fixture_id=None, uid=h.get("uid"),
                              fix=None if outcome == "unopenable" else "tester flash --port %s" % worker.device)
                if h.get("fixture_id"):
                    fields["reason"] = "%s (fixture id %s)" % (msg, h["fixture_id"])
                m.update(key, **fields)
                self._say("%s refused: %s" % (worker.device, fields["reason"]))
            elif worker.key is not None and worker.key in m.tiles and not self._stopping:
                m.update(worker.key, state=model.GONE, reason=reason or "the port %s vanished" % worker.device, job=None)
                m.note(worker.key, "gone: %s" % (reason or worker.device))
                self._say("%s gone: %s" % (worker.key, reason or worker.device))

    def button_job(self, worker, run_frame):
        """A run the operator started with START (the fixture streams it): a job like any other."""
        job = model.Job("run", worker.key, "button", {"pins": run_frame.get("positions"), "stage": run_frame.get("stage")})
        self.model.add_job(job)
        return job

    def job_ended(self, job):
        self._say("%s: %s %s (%s): %s%s%s%s" % (
            job.fixture, job.kind, job.id, "START" if job.source == "button" else job.source, job.verdict or "no result",
            " pins %s" % ", ".join(str(p) for p in job.failed) if job.failed else "",
            " (%s)" % job.error if job.error else "", " -> %s" % job.result_dir if job.result_dir else ""))

    def _say(self, text):
        log.info("%s", text)
        if self.say is not None:
            self.say(text)

    # -- requests -------------------------------------------------------------------------------

    def _tile_for_job(self, fid):
        t = self.model.tiles.get(fid)
        if t is None:
            known = ", ".join(sorted(k for k in self.model.tiles if not k.startswith("port:"))) or "none"
            raise StationError(404, "no fixture %s at this station (fixtures: %s)" % (fid, known))
        w = self.by_fixture.get(fid)
        if t.state == model.GONE or w is None or not w.is_alive():
            raise StationError(409, "fixture %s is not connected (%s)" % (fid, t.reason or t.state))
        if t.state == model.BUSY or t.job is not None:
            j = t.job
            what = "a %s (%s, job %s)" % (j.kind, j.source, j.id) if j is not None else "a job"
            raise StationError(409, "fixture %s is busy with %s: nothing started" % (fid, what))
        if t.state == model.SILENT:
            raise StationError(409, "fixture %s does not answer (%s): nothing started" % (fid, t.reason))
        if t.state != model.IDLE:
            raise StationError(409, "fixture %s is %s: nothing started" % (fid, t.state))
        return t, w

    def submit(self, fid, kind, params, source="api"):
        """Queue a run or a monitoring window on fixture `fid`; returns the Job. StationError:
        404 unknown fixture, 409 busy / not connected, 400 bad parameters."""
        with self.lock:
            if self._stopping:
                raise StationError(409, "the station is stopping: nothing started")
            t, w = self._tile_for_job(fid)
            try:
                params = check_params(kind, params, t.max_positions, self.settings)
            except UsageError as e:
                raise StationError(400, e.msg)
            job = model.Job(kind, fid, source, params)
            job.simulated = t.simulated
            self.model.add_job(job)
            t.job = job
            t.state = model.BUSY
            t.since = model.now()
            self.model.changed(fid)
            w.submit(job)
            return job

    def stop_job(self, fid, reason="panel STOP"):
        with self.lock:
            t = self.model.tiles.get(fid)
            if t is None:
                raise StationError(404, "no fixture %s at this station" % fid)
            job = t.job
            if job is None:
                raise StationError(409, "fixture %s has no job in progress" % fid)
            job.stop_reason = reason
            return job

    def continue_job(self, job_id):
        """The operator's Continue: a job waiting for it (a vibration axis) goes on."""
        with self.lock:
            job = self.model.jobs.get(job_id)
            if job is None:
                raise StationError(404, "no job %s at this station" % job_id)
            if job.state == model.DONE or not job.prompt:
                raise StationError(409, "job %s is not waiting for the operator (%s)" % (job_id, job.state))
            job.proceed.set()
            self.model.note(job.fixture, "operator: continue")
            return job

    def press(self, fid):
        """START on a simulated fixture this station started (the panel's button for it)."""
        with self.lock:
            t, w = self._tile_for_job(fid)
            if w.sim is None:
                raise StationError(409, "fixture %s is not a simulated fixture of this station: press START on it" % fid)
            w.sim.press_start()
            self.model.note(fid, "START pressed (simulated panel)")

    # -- the end --------------------------------------------------------------------------------

    def shutdown(self, reason="SIGTERM", timeout=15.0):
        """Stop every worker (a job in progress is aborted and recorded ABORTED, as tester run
        does on a signal) and wait for them, at most `timeout`."""
        with self.lock:
            self._stopping = reason
            workers = list(self.workers.values())
        self._stop.set()
        for w in workers:
            w.stop(reason)
        deadline = time.monotonic() + timeout
        for w in workers:
            w.join(max(0.0, deadline - time.monotonic()))
        if self._poller is not None:
            self._poller.join(2.0)
        return [w for w in workers if w.is_alive()]


def port_key(device):
    return "port:%s" % device


JOB_KEYS = {"run": {"stage", "current_ma"}, "monitor": {"seconds", "axis"},
            "vibration": {"axis_seconds", "sweep", "yes", "resume"}}


def check_params(kind, params, max_positions, settings):
    """The parameters of a run or a monitoring window, checked as tester run/monitor check
    their options (UsageError). Returns them normalized."""
    params = dict(params or {})
    if kind == "cycles":  # the operator replaced the test-board connectors
        if params != {"reset": True}:
            raise UsageError('cycles: {"reset": true} once the test-board connectors are replaced')
        return {"reset": True}
    if kind not in JOB_KEYS:
        raise UsageError("unknown job kind %r" % kind)
    unknown = set(params) - JOB_KEYS[kind] - {"pins", "serial", "allow_expired_cal"}
    if unknown:  # another kind's parameter is a mistake too (a run given seconds= would not monitor)
        raise UsageError("unknown parameter(s) of a %s: %s" % (kind, ", ".join(sorted(unknown))))
    pins = params.get("pins") or settings.pins
    if pins is None:
        raise UsageError("pins: give the connector's positions (the station has no --pins)")
    if not isinstance(pins, int) or isinstance(pins, bool):
        raise UsageError("pins %r: give an even whole number, 10 and up" % (pins,))
    common.check_positions(pins, max_positions or common.board_max_positions())
    out = {"pins": pins}
    serial = params.get("serial") or None
    common.check_serial(serial)
    out["serial"] = serial
    out["allow_expired_cal"] = bool(params.get("allow_expired_cal"))
    if kind == "run":
        stage = params.get("stage") or settings.stage or "initial"
        if stage not in spec5861.STAGES:
            raise UsageError("stage %r: one of %s" % (stage, ", ".join(spec5861.STAGES)))
        out["stage"] = stage
        cur = params.get("current_ma")
        if cur is not None and (not isinstance(cur, int) or isinstance(cur, bool)):
            raise UsageError("current_ma %r: a whole number of mA" % (cur,))
        common.check_current(pins, cur)
        out["current_ma"] = cur
    elif kind == "monitor":
        s = params.get("seconds")
        if not isinstance(s, int) or isinstance(s, bool) or not 1 <= s <= MONITOR_MAX_S:
            raise UsageError("seconds %r: a window is 1 to %d whole seconds" % (s, MONITOR_MAX_S))
        out["seconds"] = s
        axis = params.get("axis") or None
        if axis is not None and axis not in AXES + DIRECTIONS:
            raise UsageError("axis %r: one of %s" % (axis, ", ".join(AXES + DIRECTIONS)))
        out["axis"] = axis
    elif kind == "vibration" and params.get("resume") is not None:
        # an interrupted procedure goes on in its own directory, at its own axis time and sweep
        name = params["resume"]
        if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
            raise UsageError("resume %r: the name of a result directory of this station" % (name,))
        if "axis_seconds" in params or "sweep" in params:
            raise UsageError("resume: the axis time and the sweep are the procedure's own (its record says them)")
        rec = load_resume(Path(settings.out) / name, pins)  # UsageError: not one, finished, other pins
        cond = rec.data["conditions"]
        out.update(resume=name, axis_seconds=int(cond["axis_duration_s"]), sweep=cond["sweep_mode"],
                   yes=bool(params.get("yes")))
    elif kind == "vibration":
        s = params.get("axis_seconds", AXIS_DURATION_S)
        if not isinstance(s, int) or isinstance(s, bool) or not 1 <= s <= MONITOR_MAX_S:
            raise UsageError("axis_seconds %r: an axis is 1 to %d whole seconds (the spec: %d)" % (s, MONITOR_MAX_S, AXIS_DURATION_S))
        out["axis_seconds"] = s
        sweep = params.get("sweep") or "linear"
        if sweep not in SWEEP_MODES:
            raise UsageError("sweep %r: one of %s" % (sweep, ", ".join(SWEEP_MODES)))
        out["sweep"] = sweep
        out["yes"] = bool(params.get("yes"))
    return out
