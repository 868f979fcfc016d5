"""The station's state: one tile per fixture (or per refused port), the jobs, and a change feed.

Workers (threads) change tiles; the web server (asyncio) reads snapshots and streams them. A
single lock guards everything here; a change marks its tile dirty and wakes the server's loop,
which publishes the dirty tiles at most every FLUSH_S (a monitoring burst of events becomes one
update per tile per FLUSH_S, not one per event).

Tile states (what the fixture is doing): connecting, idle, busy, silent (connected, not
answering), gone (unplugged), refused (not a fixture, wrong firmware, duplicate id). What the
panel shows in big letters is `display()`: RUNNING / MONITORING / VIBRATION (WAITING for the
operator's Continue) while busy, else the verdict of the last job (PASS, FAIL, ERROR, INVALID,
ABORTED) or IDLE, and GONE / REFUSED / NO ANSWER.
"""

import copy
import threading
import time
import uuid

CONNECTING, IDLE, BUSY, SILENT, GONE, REFUSED = "connecting", "idle", "busy", "silent", "gone", "refused"
QUEUED, RUNNING, DONE = "queued", "running", "done"
LAST_RESULTS = 8  # results listed per tile
MEASURING = ("run", "monitor", "vibration")  # job kinds that make a record (the others: maintenance, "cycles")
TIMELINE_EVENTS = 60  # events kept for a tile's live timeline
LOG_LINES = 6
JOBS_KEPT = 2000
FLUSH_S = 0.1


def now():
    return time.time()


class Job:
    """One thing a fixture does for the station: a run (asked over HTTP or by the START
    button), a monitoring window or the vibration procedure. Its result is filled in by the worker."""

    def __init__(self, kind, fixture, source, params):
        self.id = uuid.uuid4().hex[:12]
        self.kind = kind  # "run" | "monitor" | "vibration"
        self.fixture = fixture
        self.source = source  # "api" | "panel" | "button"
        self.params = dict(params)
        self.state = QUEUED
        self.created = now()
        self.started = None
        self.ended = None
        self.verdict = None
        self.exit_code = None
        self.error = None
        self.result_dir = None  # relative to the station's --out
        self.failed = []  # failing pins (run) or channels' pins (monitor)
        self.failures = []  # human-readable reasons
        self.simulated = False
        self.stop_reason = None  # set to stop it (panel STOP, station shutting down)
        self.prompt = None  # what the operator is asked to do while the job waits for Continue
        self.proceed = threading.Event()  # the operator's Continue
        self.done_event = threading.Event()

    def as_dict(self):
        d = {k: getattr(self, k) for k in ("id", "kind", "fixture", "source", "params", "state", "created", "started",
                                           "ended", "verdict", "exit_code", "error", "failed", "failures", "simulated",
                                           "prompt")}
        d["result"] = self.result_dir
        if self.result_dir:
            d["record_url"] = "/results/%s/record.json" % self.result_dir
            d["report_url"] = "/results/%s/report.html" % self.result_dir
        return d


class Tile:
    def __init__(self, key, port=None):
        self.key = key  # the fixture id, or "port:<device>" while it has none
        self.fixture_id = None
        self.port = port
        self.state = CONNECTING
        self.simulated = False
        self.can_press = False  # a simulated fixture this station started: START from the panel
        self.firmware = None
        self.board = None
        self.uid = None
        self.max_positions = None
        self.calibration = None
        self.cycles = None  # the test-board connectors' mating cycles: {count, limit, warn_at, state}
        self.reason = None  # why refused / gone / silent
        self.fix = None  # the command that fixes a refusal
        self.lid_closed = None
        self.job = None  # the Job in progress
        self.progress = None  # run: {"done": n, "total": n, "step": str, "failed": [...]}
        self.monitor = None  # monitoring: see jobs.MonitorProgress
        self.procedure = None  # vibration: {"step", "n", "of", "axis", "axis_n", "axes", "sweep"}
        self.results = []  # the last jobs' dicts, newest first
        self.log = []
        self.link = None  # {"frames", "lost", "garbled", "reconnects"} of the connection
        self.changed = now()
        self.since = now()  # when state last changed

    def display(self):
        if self.state == BUSY:
            kind = self.job.kind if self.job is not None else None
            if kind == "vibration":
                return "WAITING" if self.job.prompt else "VIBRATION"
            return "MONITORING" if kind == "monitor" else "RUNNING"
        if self.state == GONE:
            return "GONE"
        if self.state == REFUSED:
            return "REFUSED"
        if self.state == SILENT:
            return "NO ANSWER"
        if self.state == CONNECTING:
            return "CONNECTING"
        if self.results and self.results[0].get("verdict"):
            return self.results[0]["verdict"]
        return "IDLE"

    def snapshot(self):
        return {
            "key": self.key, "fixture_id": self.fixture_id, "port": self.port, "state": self.state,
            "display": self.display(), "simulated": self.simulated, "can_press": self.can_press,
            "firmware": self.firmware, "board": self.board, "uid": self.uid, "max_positions": self.max_positions,
            "calibration": self.calibration, "cycles": dict(self.cycles) if self.cycles else None, "reason": self.reason, "fix": self.fix, "lid_closed": self.lid_closed,
            "job": self.job.as_dict() if self.job is not None else None, "progress": _copy(self.progress),
            "monitor": _copy(self.monitor), "procedure": _copy(self.procedure), "results": [dict(r) for r in self.results], "log": list(self.log),
            "link": dict(self.link) if self.link else None, "changed": self.changed, "since": self.since,
        }


def _copy(d):
    """A copy to publish: workers change these in place (under the model's lock)."""
    return copy.deepcopy(d)


class Model:
    def __init__(self):
        self.lock = threading.RLock()
        self.tiles = {}  # key -> Tile
        self.jobs = {}  # id -> Job (the last JOBS_KEPT)
        self.info = {}  # the station's own settings, for the panel's header
        self._dirty = set()
        self._removed = set()
        self._loop = None
        self._wake = None
        self._wake_pending = False

    # -- tiles ------------------------------------------------------------------------------

    def tile(self, key, port=None):
        """The tile of `key`, made if new."""
        with self.lock:
            t = self.tiles.get(key)
            if t is None:
                t = self.tiles[key] = Tile(key, port)
                self._removed.discard(key)
            return t

    def get(self, key):
        with self.lock:
            return self.tiles.get(key)

    def remove(self, key):
        with self.lock:
            if self.tiles.pop(key, None) is not None:
                self._removed.add(key)
                self._dirty.discard(key)
                self._poke()

    def update(self, key, **fields):
        """Set fields of a tile and publish it."""
        with self.lock:
            t = self.tiles[key]
            if "state" in fields and fields["state"] != t.state:
                t.since = now()
            for k, v in fields.items():
                setattr(t, k, v)
            self.changed(key)

    def changed(self, key):
        """Call after changing a tile in place (under `lock`)."""
        with self.lock:
            t = self.tiles.get(key)
            if t is None:
                return
            t.changed = now()
            self._dirty.add(key)
            self._poke()

    def note(self, key, text):
        """A line in the tile's log (the last LOG_LINES are shown)."""
        with self.lock:
            t = self.tiles.get(key)
            if t is None:
                return
            t.log.append({"t": now(), "msg": str(text)})
            del t.log[:-LOG_LINES]
            self.changed(key)

    def snapshot(self):
        with self.lock:
            return {"station": dict(self.info), "tiles": [t.snapshot() for t in self._ordered()], "t": now()}

    def _ordered(self):
        return sorted(self.tiles.values(), key=lambda t: (t.fixture_id is None, t.key))

    # -- jobs -------------------------------------------------------------------------------

    def add_job(self, job):
        with self.lock:
            self.jobs[job.id] = job
            if len(self.jobs) > JOBS_KEPT:
                for jid in [j for j, x in self.jobs.items() if x.state == DONE][: len(self.jobs) - JOBS_KEPT]:
                    del self.jobs[jid]

    def job(self, job_id):
        with self.lock:
            return self.jobs.get(job_id)

    # -- the change feed (the web server's loop) ----------------------------------------------

    def attach(self, loop, wake):
        """The server's event loop and an asyncio.Event it waits on for changes."""
        with self.lock:
            self._loop, self._wake = loop, wake
            self._wake_pending = False

    def detach(self):
        with self.lock:
            self._loop = self._wake = None

    def _poke(self):
        if self._loop is not None and not self._wake_pending:
            self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # the loop closed (the server stopped)
                self._loop = None

    def take_changes(self):
        """(snapshots of the tiles changed since the last call, keys removed)."""
        with self.lock:
            self._wake_pending = False
            out = [self.tiles[k].snapshot() for k in sorted(self._dirty) if k in self.tiles]
            removed = sorted(self._removed)
            self._dirty.clear()
            self._removed.clear()
            return out, removed
