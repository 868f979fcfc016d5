"""One thread per port: the only code that reads or writes that fixture's link.

The Fixture API is synchronous, so each fixture gets a thread that owns it from the handshake
to the end: a slow or dead fixture blocks its own thread and nobody else's. The worker

1. opens the port and shakes hands (not a fixture, or the wrong firmware: the tile says
   "refused" with the fix, and the port is closed again so `tester flash` can use it);
2. tells the fixture what START runs (CONFIG pins/stage, when the station has them);
3. collects what the fixture kept while no host was attached (see collect_stored());
4. idles: reads what the fixture sends by itself (a START run, a log line, a reboot's hello),
   takes the jobs the web server queues, and asks STATUS every HEARTBEAT_S to tell a silent
   fixture from an idle one;
5. ends when its port vanishes (the tile goes to "gone") or the station stops (a job in
   progress is aborted and recorded ABORTED first).
"""

import collections
import logging
import queue
import threading
import time
from datetime import timedelta

from tester.exitcodes import FIXTURE
from tester.firmware import protocol
from tester.fixture import CommandError, Fixture, VersionMismatch
from tester.link import Link, LinkError, LinkLost, LinkSilent
from tester.records.base import iso, utc_now
from tester.station import jobs, model

log = logging.getLogger(__name__)

HANDSHAKE_S = 5.0
IDLE_POLL_S = 0.2  # how long the idle loop waits for a frame before looking at its job queue
HEARTBEAT_S = 5.0
STATUS_TIMEOUT_S = 2.0
REPLAY_TRIES = 3  # replays of one kept START run the link spoiled, per connection


class Gone(Exception):
    """The port vanished (a USB cable pulled, the fixture powered off)."""


class Worker(threading.Thread):
    def __init__(self, station, candidate):
        super().__init__(name="fixture-%s" % candidate.device, daemon=True)
        self.station = station
        self.model = station.model
        self.settings = station.settings
        self.device = candidate.device
        self.candidate = candidate
        self.sim = candidate.sim
        self.scenario = candidate.scenario
        self.fx = None
        self.key = None  # the tile: the fixture id once known
        self.jobs = queue.Queue()
        self.pending = collections.deque(maxlen=100000)  # frames that came while answering something else
        self.stopping = None  # the reason the station stops this worker
        self.current = None  # the Job in progress
        self.on_log = None  # a job's hook for the fixture's log frames (they go into its record)
        self.kept_tries = {}  # kept START run -> replays tried on this connection

    # -- for the station ------------------------------------------------------------------------

    def stop(self, reason):
        self.stopping = reason
        job = self.current
        if job is not None:
            job.stop_reason = reason

    def submit(self, job):
        self.jobs.put(job)

    # -- the thread -----------------------------------------------------------------------------

    def run(self):
        outcome, reason = "gone", None
        try:
            outcome, reason = self._serve()
        except Gone as e:  # the tile says it plainly; the port's own words go to its log
            outcome, reason = "gone", "the port %s vanished (unplugged or powered off)" % self.device
            self.note(str(e))
        except Exception as e:  # noqa: BLE001 - a bug here must not take the station down
            log.exception("worker for %s failed", self.device)
            outcome, reason = "gone", "the station's worker failed: %s: %s" % (type(e).__name__, e)
        finally:
            if self.fx is not None:
                self.fx.close()
            self._drop_queued("not started: %s" % (self.stopping and "the station stopped" or "the fixture is gone"))
            self.station.worker_ended(self, outcome, reason)

    def _serve(self):
        try:
            link = Link.open(self.device)
        except LinkError as e:
            return "unopenable", e.msg
        self.fx = fx = Fixture(link, self.device)
        fx.on_frame = self._unsolicited
        try:
            fx.handshake(timeout=HANDSHAKE_S)
        except VersionMismatch as e:
            return "refused", (e.msg, fx.hello)
        except LinkLost as e:
            raise Gone(e.msg)
        except LinkError as e:
            return "refused", (e.msg, None)
        # the hello the fixture sent at boot, met during the handshake: not a restart
        kept = [f for f in self.pending if f.kind != protocol.K_HELLO]
        self.pending.clear()
        self.pending.extend(kept)
        fid = fx.hello.get("fixture_id") or "uid-%s" % fx.hello.get("uid")
        other = self.station.claim(fid, self)
        if other is not None:
            return "refused", ("another fixture on %s answers with the same id %s: give this one its own "
                               "(tester flash --port %s --fixture-id NEW)" % (other.device, fid, self.device), fx.hello)
        self.key = fid
        self._attached()
        self.station.connected(self)
        self.configure()
        self.ask_cycles()
        if (fx.hello or {}).get(protocol.STORED_RUNS):
            self.collect_stored()
        self._idle()
        return "stopped", None

    def _attached(self):
        fx = self.fx
        h = fx.hello or {}
        cal = h.get("calibration") or {}
        self.model.tile(self.key, self.device)
        self.model.update(self.key, fixture_id=self.key, port=self.device, state=model.IDLE, simulated=fx.simulated,
                          can_press=self.sim is not None, firmware=h.get("firmware"), board=h.get("board"), uid=h.get("uid"),
                          max_positions=h.get("max_positions"), reason=None, fix=None,
                          calibration={"state": cal.get("state"), "due": cal.get("due")} if cal else None,
                          link=fx.link.stats.as_dict())
        self.note("connected on %s (firmware %s%s)" % (self.device, h.get("firmware"), ", SIMULATED" if fx.simulated else ""))

    def ask_cycles(self, reset=False):
        """The mating-cycle counter of the fixture's test-board connectors (CYCLES [reset=1]) onto
        its tile; returns the fixture's answer, None if it gave none."""
        args = {"reset": 1} if reset else {}
        try:
            c = self.fx.command("CYCLES", timeout=STATUS_TIMEOUT_S, **args).payload
        except LinkLost as e:
            raise Gone(e.msg)
        except (LinkError, CommandError) as e:
            self.note("CYCLES: %s" % e.msg)
            return None
        self.model.update(self.key, cycles={k: c.get(k) for k in ("count", "limit", "warn_at", "state")})
        return c

    def configure(self):
        """What START runs: the station's --pins/--stage (a simulated fixture: its scenario's
        positions), stored on the fixture (CONFIG). Without them the fixture keeps its own."""
        pins = self.settings.pins or (self.scenario.positions if self.scenario is not None else None)
        if not pins:
            return
        try:
            self.fx.command("CONFIG", pins=pins, stage=self.settings.stage or "initial", timeout=STATUS_TIMEOUT_S)
        except LinkLost as e:
            raise Gone(e.msg)
        except (LinkError, CommandError) as e:
            self.note("START not configured: %s" % e.msg)

    def collect_stored(self):
        """START runs the fixture finished while no host was attached (its hello and STATUS say
        how many: stored_runs), each kept on its flash (firmware/kept_runs.py). Each one, oldest
        first: dated if no host dated it yet (the fixture has no clock: from its uptime when the
        run is of this boot, else now), looked up in the history (a record already stored, the
        fixture's drop answer lost, is not stored twice), replayed (KEPT replay=N) and recorded
        through jobs.run(self, job, first=its run frame) exactly like a live START run; jobs.run
        tells the fixture to forget it (KEPT drop=N) only after its record is written and stored.
        A replay the link spoils is tried again (REPLAY_TRIES), then left on the fixture."""
        try:
            listing = self.fx.command("KEPT", timeout=STATUS_TIMEOUT_S).payload
        except LinkLost as e:
            raise Gone(e.msg)
        except (LinkError, CommandError) as e:  # busy (a START run now), or an older firmware
            self.note("kept START runs not collected now: %s" % e.msg)
            return
        for run in listing.get("runs") or []:
            if self.stopping is not None:
                return
            if self.kept_tries.get(run.get("n"), 0) < REPLAY_TRIES:
                self._collect(run)

    def _collect(self, run):
        n = run["n"]
        if not run.get("frames"):  # the flash refused its copy from the start: nothing to collect
            self.note("START run %d kept on the fixture is empty (its copy could not be written): forgotten" % n)
            self.kept_command(drop=n)
            return
        started, how = run.get("started"), "the first host that collected it"
        if started is None:
            age = run.get("age_s")
            if age is not None:
                when, how = utc_now() - timedelta(seconds=age), "the fixture's uptime"
            else:
                when, how = utc_now(), "the time it was collected (the fixture was powered off since the run)"
            started = (self.kept_command(stamp=n, started=iso(when)) or {}).get("started")
            if started is None:
                return
        if jobs.in_history(self, jobs.kept_identity(self, started)):
            self.note("START run %d kept on the fixture is already in the history: forgotten on the fixture" % n)
            self.kept_command(drop=n)
            return
        self.kept_tries[n] = self.kept_tries.get(n, 0) + 1
        # the fixture was idle when it listed its runs: a START run's frames set aside before
        # now are the tail of a run whose start this station missed (its copy is collected)
        stale = [f for f in self.pending if f.id == 0]
        if stale:
            rest = [f for f in self.pending if f.id != 0]
            self.pending.clear()
            self.pending.extend(rest)
        try:
            cmd_id = self.fx.link.send("KEPT", replay=n)
        except LinkLost as e:
            raise Gone(e.msg)
        first = self._replay_first(cmd_id, n)
        if first is None:
            return
        job = self.station.button_job(self, first)
        job.params.update(collected=True, kept=n, started=started, started_from=how)
        self.note("collecting START run %d kept on the fixture (%s frames, %s)" % (n, run.get("frames"), run.get("verdict") or "incomplete"))
        self._do(job, first=first)

    def _replay_first(self, cmd_id, n):
        """The run frame of the replay of kept run n (others met meanwhile set aside), or None
        when the fixture refuses it."""
        deadline = time.monotonic() + self.settings.timeout
        while True:
            try:
                f = self.fx.link.read_frame(max(0.05, deadline - time.monotonic()))
            except LinkLost as e:
                raise Gone(e.msg)
            except LinkError as e:
                self.note("KEPT replay=%d: %s" % (n, e.msg))
                return None
            if f.id == cmd_id and f.kind == protocol.K_ERR:
                self.note("KEPT replay=%d refused: %s" % (n, f.get("msg")))
                return None
            if f.id == 0 and f.kind == protocol.K_RUN and f.get("kept") == n:
                return f
            self._unsolicited(f)

    def kept_command(self, **args):
        """KEPT stamp=/drop= on the fixture: its ok's payload, or None (said on the tile)."""
        try:
            return self.fx.command("KEPT", timeout=STATUS_TIMEOUT_S, **args).payload
        except LinkLost as e:
            raise Gone(e.msg)
        except (LinkError, CommandError) as e:
            self.note("KEPT %s: %s" % (" ".join("%s=%s" % kv for kv in sorted(args.items())), e.msg))
            return None

    # -- idle -------------------------------------------------------------------------------------

    def _idle(self):
        beat = time.monotonic() + HEARTBEAT_S
        while self.stopping is None:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                job = None
            if job is not None:
                self._do(job)
                beat = time.monotonic() + HEARTBEAT_S
                continue
            f = self._next_frame(IDLE_POLL_S)
            if f is not None:
                self._idle_frame(f)
                beat = time.monotonic() + HEARTBEAT_S
            elif time.monotonic() >= beat:
                self._heartbeat()
                beat = time.monotonic() + HEARTBEAT_S

    def _next_frame(self, timeout):
        if self.pending:
            return self.pending.popleft()
        try:
            return self.fx.link.read_frame(timeout)
        except LinkLost as e:
            raise Gone(e.msg)
        except LinkError:  # nothing for `timeout`: an idle fixture is quiet
            return None

    def _idle_frame(self, f):
        tile = self.model.get(self.key)
        if tile is not None and tile.state == model.SILENT:
            self.model.update(self.key, state=model.IDLE, reason=None)
        if f.kind == protocol.K_RUN and f.get("source") == "button":
            job = self.station.button_job(self, f)
            self._do(job, first=f)
        elif f.kind == protocol.K_HELLO:  # the fixture booted again (watchdog, power) on the same port
            self.fx.hello = f.payload
            self.note("the fixture restarted (reset cause %s)" % f.get("reset_cause"))
            self._attached()
            self.configure()
            if f.get(protocol.STORED_RUNS):
                self.collect_stored()
        elif f.kind == protocol.K_LOG:
            self._log(f)

    def _unsolicited(self, f):
        """Frames nobody asked for, met while waiting for something else (fx.on_frame)."""
        if f.kind == protocol.K_LOG:
            self._log(f)
            if self.on_log is not None:
                self.on_log(f)
        else:
            self.pending.append(f)

    def _log(self, f):
        self.note("fixture: %s" % f.get("msg"))

    def _heartbeat(self):
        try:
            s = self.fx.command("STATUS", reply=protocol.K_STATUS, timeout=STATUS_TIMEOUT_S).payload
        except LinkLost as e:
            raise Gone(e.msg)
        except LinkError:
            self.model.update(self.key, state=model.SILENT, reason="no answer to STATUS within %.0f s" % STATUS_TIMEOUT_S)
            return
        except CommandError as e:
            self.note("STATUS: %s" % e.msg)
            return
        fields = {"lid_closed": s.get("lid_closed"), "link": self.fx.link.stats.as_dict()}
        tile = self.model.get(self.key)
        if tile is not None and tile.state == model.SILENT:
            fields.update(state=model.IDLE, reason=None)
        self.model.update(self.key, **fields)
        if s.get(protocol.STORED_RUNS) and not s.get("busy"):  # a copy left by a live run, or kept meanwhile
            self.collect_stored()

    # -- jobs -------------------------------------------------------------------------------------

    def _do(self, job, first=None):
        m = self.model
        with m.lock:
            job.state = model.RUNNING
            job.started = model.now()
            self.current = job
            if self.stopping is not None:
                job.stop_reason = self.stopping
            t = m.tiles[self.key]
            t.job = job
            t.progress = t.monitor = t.procedure = None
            if t.state != model.BUSY:
                t.since = model.now()
            t.state = model.BUSY
            m.changed(self.key)
        try:
            if job.kind == "monitor":
                jobs.monitor(self, job)
            elif job.kind == "vibration":
                jobs.vibration(self, job)
            elif job.kind == "cycles":
                jobs.cycles_reset(self, job)
            else:
                jobs.run(self, job, first)
        except Gone:
            raise
        except Exception as e:  # noqa: BLE001 - a bug: this job fails, the fixture is still served
            log.exception("job %s on %s failed", job.id, self.key)
            job.error = "the station failed during this job: %s: %s" % (type(e).__name__, e)
            job.exit_code = FIXTURE
        finally:
            self._job_ended(job)

    def _job_ended(self, job):
        m = self.model
        with m.lock:
            job.state = model.DONE
            job.ended = model.now()
            self.current = None
            t = m.tiles.get(self.key)
            if t is not None:
                if t.job is job:
                    t.job = None
                if t.state == model.BUSY:
                    t.state = model.IDLE
                    t.since = model.now()
                if t.progress is not None:
                    t.progress["step"] = "done"
                if job.kind in model.MEASURING:  # a maintenance job is in the tile's log, not its results
                    t.results.insert(0, job.as_dict())
                    del t.results[model.LAST_RESULTS:]
                t.link = self.fx.link.stats.as_dict()
                m.changed(self.key)
        job.done_event.set()
        self.station.job_ended(job)

    def _drop_queued(self, why):
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                return
            job.state = model.DONE
            job.ended = model.now()
            job.error = why
            job.exit_code = FIXTURE
            with self.model.lock:
                t = self.model.tiles.get(self.key)
                if t is not None and t.job is job:
                    t.job = None
                    self.model.changed(self.key)
            job.done_event.set()

    def run_frames(self, run_id, job):
        """The frames of run `run_id` until its `done`: those already set aside first (a START
        run that began while a command was being answered), then the link's. Silence is
        tolerated for --timeout (a run's steps are short); a stop request is seen within
        IDLE_POLL_S."""
        timeout = self.settings.timeout
        mine = [f for f in self.pending if f.id == run_id]
        if mine:
            rest = [f for f in self.pending if f.id != run_id]
            self.pending.clear()
            self.pending.extend(rest)
            for f in mine:
                yield f
                if f.kind == protocol.K_DONE:
                    return
        quiet = time.monotonic()
        while True:
            jobs.check_stop(job)
            try:
                for f in self.fx.run_frames(run_id, IDLE_POLL_S):
                    yield f
                    quiet = time.monotonic()
                    jobs.check_stop(job)
                return
            except LinkSilent:  # a step's pause, until --timeout; a lost port (LinkLost) goes on up
                if time.monotonic() - quiet >= timeout:
                    raise LinkSilent("the fixture on %s stopped answering (nothing for %.1f s)" % (self.device, timeout))

    # -- the tile ---------------------------------------------------------------------------------

    def note(self, text):
        if self.key is not None:
            self.model.note(self.key, text)

    def changed(self):
        self.model.changed(self.key)

    def start_progress(self, job, d):
        with self.model.lock:
            t = self.model.tiles[self.key]
            t.progress = d
            self.model.changed(self.key)

    def run_progress(self, job, f):
        k = f.kind
        with self.model.lock:
            t = self.model.tiles.get(self.key)
            if t is None or t.progress is None:
                return
            p = t.progress
            if k == protocol.K_STEP:
                p["step"] = f.get("step")
            elif k == protocol.K_CHECK:
                p["step"] = "self-check"
                if not f.get("ok"):
                    p["failed"].append("self-check %s" % f.get("name"))
            elif k in (protocol.K_CONTACT, protocol.K_ANCHOR):
                p["done"] += 1
                p["step"] = "contact resistance"
                if f.get("verdict") != protocol.PASS:
                    p["failed"].append(f.get("pin") if k == protocol.K_CONTACT else "anchor %s" % f.get("anchor"))
            elif k == protocol.K_SHORT:
                p["step"] = "opens and shorts"
            elif k == protocol.K_DONE:
                p["step"] = "done"
            elif k == protocol.K_RUN and (f.get("conditions") or {}).get("mating_cycles"):
                c = f.get("conditions")["mating_cycles"]
                t.cycles = {k2: c.get(k2) for k2 in ("count", "limit", "warn_at", "state")}
            else:
                return
            self.model.changed(self.key)

    def set_procedure(self, job, **step):
        """Where a procedure (vibration) is: its step, shown on the tile."""
        with self.model.lock:
            t = self.model.tiles[self.key]
            t.procedure = step
            self.model.changed(self.key)

    def start_monitor(self, job, seconds, sweep=None):
        live = jobs.MonitorProgress(seconds, sweep)
        with self.model.lock:
            self.model.tiles[self.key].monitor = live.d
            self.model.changed(self.key)
        return live

