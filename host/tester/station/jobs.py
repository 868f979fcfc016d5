"""What a worker does on its fixture: a contact resistance run (asked over HTTP, or started by
the operator's START button and streamed by the fixture), a monitoring window, and the vibration
procedure of spec 8.6 (tester vibration's: stages and axes, the operator's Continue between axes).

The records are the ones `tester run` and `tester monitor` write (tester.records: RunRecord,
MonitorRecord; tester.monitor_session.Monitor for the window): the same result directory,
files, verdict and history row; only the live view differs (the panel's tile instead of the
terminal). A job stopped (the panel's STOP, the station shutting down) ends as `tester run`
ends on Ctrl-C: ABORT or MSTOP to the fixture, what was measured kept, verdict ABORTED.

A START run is also kept on the fixture's flash (firmware/kept_runs.py; its run frame says
`kept`: N). Once its record is written and in the history the fixture is told to forget it
(KEPT drop=N); a live run is first dated with its record's start (KEPT stamp=N), so that a copy
collected again later (the drop's answer lost) is known to the history. A run the fixture kept
while no host was attached is replayed (worker.collect_stored) and recorded here like a live one,
`collected` in its record; a replay the link spoiled is not recorded (the fixture still has it).
"""

import time
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa

from tester.calibration import today
from tester.commands import common
from tester.commands import monitor as monitor_cmd
from tester.commands.monitor import VERDICT_EXIT
from tester import exitcodes
from tester.exitcodes import FIXTURE, FixtureError, OutputError, UsageError, signal_exit_code
from tester.firmware import protocol
from tester.fixture import CommandError
from tester.history import db as history_db
from tester.history import schema as history_schema
from tester.history.store import identity
from tester.link import LinkError
from tester.monitor_session import Monitor
from tester.records.base import RECORD_NAME, iso, parse_iso, result_dir_name, utc_now, write_or_rescue, write_text
from tester.records.monitor import MonitorRecord, sweep_hz
from tester.records.run import RunRecord
from tester.station import model

ABORT_WAIT_S = 3.0  # as tester run: how long the fixture has to confirm an ABORT
TIMELINE_EVENTS = 60  # the last events, with their details (the panel's tooltips)
TIMELINE_BINS = 120  # the whole window in bins: events per bin per channel (the panel's timeline)
WAIT_POLL_S = 0.2  # waiting for the operator: how soon a stop is seen


class StopRequested(Exception):
    """Raised inside a job when it is asked to stop; `reason` goes into the record's
    interrupted_by ("SIGTERM", "SIGINT", "panel STOP")."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def check_stop(job):
    if job.stop_reason:
        raise StopRequested(job.stop_reason)


# -- a run ------------------------------------------------------------------------------------


def run(worker, job, first=None, out_dir=None):
    """A contact resistance run. `first`: the `run` frame of a run the fixture started itself
    (START button, id 0), already read, live or replayed from the fixture's flash (job.params
    `collected`, with the start the fixture keeps for it); otherwise RUN is sent with the job's
    parameters. `out_dir`: where its record goes (a procedure's stage), else a new directory
    in --out."""
    fx, st = worker.fx, worker.settings
    p = job.params
    button = first is not None
    kept = first.get("kept") if button else None  # the fixture's copy of this START run
    collected = bool(button and p.get("collected"))
    if button:
        positions = first.get("positions")
        stage = first.get("stage") or "initial"
        serial = first.get("serial")
    else:
        positions, stage, serial = p["pins"], p.get("stage") or "initial", p.get("serial")
    started = parse_iso(p["started"]) if collected else None
    record = RunRecord(positions, stage, serial=serial, simulated=fx.simulated, started=started, lot=st.lot, operator=st.operator)
    record.set_fixture(fx.hello, fx.info())
    record.set_scenario(worker.scenario)
    if collected:
        record.data["collected"] = {"kept": kept, "at": iso(utc_now()), "started_from": p.get("started_from")}
    job.simulated = record.data["simulated"]
    if out_dir is None:
        out_dir = common.unique_dir(Path(st.out) / result_dir_name(record.started_dt, serial, fx.info().get("id"), job.simulated))
    record.data["error"] = "run in progress (no final result yet)"
    try:
        if not collected:  # a replay is written once, whole (nothing is measured meanwhile)
            write_or_rescue(record.write, out_dir)
    except OutputError as e:
        if not button:  # as tester run: nothing is started when its record cannot be written
            return _refused(worker, job, e)
        worker.note("warning: %s" % e.msg)  # the fixture runs anyway: the final write tries again
    worker.start_progress(job, {"done": 0, "total": positions + 2, "step": "starting", "failed": [], "positions": positions,
                                "stage": stage, "serial": serial})
    fx.link.reset_stats(seq=fx.link.stats.last_seq)  # this run's link health, not the connection's
    worker.on_log = lambda f: record.add_frame(f)
    error = interrupted = None
    run_id = 0 if button else None
    try:
        if button:
            record.add_frame(first)
            worker.run_progress(job, first)  # its conditions: the mating count after this run
        else:
            run_id = fx.start_run(positions, stage, p.get("current_ma"), serial, today(), p.get("allow_expired_cal"))
        for f in worker.run_frames(run_id, job):
            if f.kind == protocol.K_HELLO:  # the fixture booted again: this run is over
                raise LinkError("the fixture restarted during the run (reset cause %s)" % f.get("reset_cause"))
            record.add_frame(f)
            worker.run_progress(job, f)
    except StopRequested as e:
        interrupted = e.reason
        worker.note("%s: aborting the run" % e.reason)
        if not collected:
            _abort(worker, run_id, record)
    except LinkError as e:
        error = "link lost: %s" % e.msg
        if worker.sim is not None and not worker.sim.alive():
            error += " (the simulated fixture exited; see sim.log)"
    except (CommandError, UsageError) as e:  # the fixture refused the run
        error = e.msg
    finally:
        worker.on_log = None
    record.data["error"] = None
    record.set_link(fx.link.stats, fx.link.noise)
    record.finish(error=error, interrupted=interrupted)
    whole = record.data["done"] is not None and not error and not (fx.link.stats.lost or fx.link.stats.garbled)
    if collected:
        record.data["duration_s"] = record.data.get("fixture_time_s")  # the run's, not the time since it
        if not whole or interrupted:  # the fixture keeps it: replayed again, nothing recorded twice
            job.error = "the replay of START run %s kept on the fixture was not whole (%s): the fixture keeps it" % (
                kept, interrupted or error or "%d frames lost" % fx.link.stats.lost)
            job.exit_code = FIXTURE
            worker.note(job.error)
            return job
    elif kept is not None and whole:
        worker.kept_command(stamp=kept, started=record.data["started"])  # the copy is this record
    elif kept is not None and not interrupted:
        # frames lost on the way (a congested or pulled cable): the fixture's copy on its flash is
        # whole, and recorded once when it is collected; a second, partial record of the same press
        # is not made
        _discard_in_progress(out_dir)
        job.error = ("START run %s reached the station incomplete (%s): the fixture keeps it whole; it is recorded "
                     "when the station collects it" % (kept, error or "%d frame(s) lost" % fx.link.stats.lost))
        job.exit_code = FIXTURE
        worker.note(job.error)
        return job
    out_dir = _write(worker, job, record, out_dir)
    if kept is not None and (collected or whole):
        if out_dir is not None and in_history(worker, identity(record.data)):
            worker.kept_command(drop=kept)
        else:
            worker.note("START run %s stays on the fixture: its record is not in the history yet" % kept)
    job.failed = list(record.data.get("failed") or [])
    job.failures = record.failures()
    return _done(worker, job, record.data, out_dir, record.exit_code())


def _discard_in_progress(out_dir):
    """The directory this job wrote at its start ("run in progress"), when nothing else is in it."""
    out_dir = Path(out_dir)
    if out_dir.is_dir() and {p.name for p in out_dir.iterdir()} <= {RECORD_NAME, RunRecord.CSV_NAME}:
        for p in out_dir.iterdir():
            p.unlink()
        out_dir.rmdir()


def kept_identity(worker, started):
    """The history's identity of the record a kept START run (no serial) dated `started` makes."""
    rec = RunRecord(0, "initial", started=parse_iso(started))
    rec.set_fixture(worker.fx.hello, worker.fx.info())
    return identity(rec.data)


def in_history(worker, rid):
    """True if the station's history database holds the record `rid`."""
    try:
        engine = history_db.open_db(worker.settings.db)
        runs = history_schema.runs
        with engine.connect().execution_options(readonly=True) as conn:
            return conn.execute(sa.select(runs.c.id).where(runs.c.id == rid)).first() is not None
    except Exception as e:  # noqa: BLE001 - not known to be stored: the fixture keeps its copy
        worker.note("the history database cannot be read (%s: %s)" % (type(e).__name__, e))
        return False


def _abort(worker, run_id, record):
    """As tester run on Ctrl-C: ABORT (the fixture opens every relay), collect what is left."""
    if run_id is None:
        return
    fx = worker.fx
    fx.abort()
    deadline = time.monotonic() + ABORT_WAIT_S
    try:
        while time.monotonic() < deadline:
            f = fx.link.read_frame(max(0.05, deadline - time.monotonic()))
            if f.id == run_id and f.kind != protocol.K_HELLO:
                record.add_frame(f)
                if f.kind == protocol.K_DONE:
                    return
    except LinkError:
        pass
    worker.note("the fixture did not confirm the abort")


# -- a monitoring window ------------------------------------------------------------------------


class _TileView:
    """What tester.monitor_session.Monitor says (link lost, reconnecting) goes to the tile's
    log; a stop requested meanwhile ends the window."""

    def __init__(self, worker, job):
        self.worker, self.job = worker, job

    def line(self, text=""):
        self.worker.note(text)
        check_stop(self.job)


def monitor(worker, job):
    fx, st = worker.fx, worker.settings
    p = job.params
    pins, seconds, serial, axis = p["pins"], int(p["seconds"]), p.get("serial"), p.get("axis")
    try:
        rec, out_dir = _monitor_record(worker, job, "monitor", {"duration_s": seconds, "axis": axis})
    except (FixtureError, OutputError) as e:  # as tester monitor: refused before anything is measured
        return _refused(worker, job, e)
    live = worker.start_monitor(job, seconds)
    mon = Monitor(fx, pins, _TileView(worker, job), st.reconnect_timeout, st.timeout)
    label = "monitor-%s" % axis if axis else "monitor"
    error, interrupted = _window(worker, job, mon, rec, live, (seconds, axis, label, {"axis": axis or ""}))
    rec.data["host_ingest"] = {"frames": mon.frames_decoded}
    return _monitor_end(worker, job, rec, out_dir, error, interrupted)


def _monitor_record(worker, job, kind, conditions):
    """(record, directory) of a monitoring job of `kind`, written "in progress"; FixtureError
    (the calibration refused) or OutputError (not writable): nothing measured, no record."""
    fx, st, p = worker.fx, worker.settings, job.params
    rec = MonitorRecord(kind, p["pins"], fx.simulated, p.get("serial"), st.lot, st.operator)
    rec.set_scenario(worker.scenario)
    rec.data["conditions"] = conditions
    rec.set_fixture(fx.hello, fx.info())
    job.simulated = rec.data["simulated"]
    rec.data["calibration"] = common.check_calibration(fx, p.get("allow_expired_cal"), "tester %s" % kind)
    out_dir = common.unique_dir(Path(st.out) / (result_dir_name(rec.started_dt, p.get("serial"), fx.info().get("id"),
                                                                job.simulated) + "-" + kind))
    rec.data["error"] = "in progress"
    write_or_rescue(rec.write, out_dir)
    return rec, out_dir


def _window(worker, job, mon, rec, live, window, sweep=None):
    """One monitored window (seconds, axis, label, tags) into `rec`, followed on the tile
    (`live`: a MonitorProgress). Returns (error, interrupted): a window ended as ERROR or a
    link lost (what arrived of it kept), or the stop asked for (MSTOP, the window kept)."""
    fx = worker.fx
    seconds, axis, label, tags = window

    def on_event(w, ev):
        with worker.model.lock:
            live.event(w, ev)
            worker.changed()
        check_stop(job)

    def on_status(w, s):
        with worker.model.lock:
            live.status(w, s, fx.link.stats)
            worker.changed()
        check_stop(job)

    def on_mon(w):
        with worker.model.lock:
            live.started(w)
            worker.changed()

    try:
        check_stop(job)
        w = mon.window(seconds, axis, label, tags, on_event, on_status, on_mon=on_mon)
        rec.add_window(w, sweep)
        with worker.model.lock:
            live.status(w, w.done or {}, fx.link.stats)
            live.d["verdict"] = w.verdict()
            worker.changed()
        if w.verdict() == protocol.ERROR:
            return "%s ended as ERROR: %s" % (label, "; ".join(w.problems())), None
    except StopRequested as e:
        worker.note("%s: stopping the monitoring (MSTOP), keeping what was measured" % e.reason)
        w = mon.stop(e.reason)
        if w is not None:
            rec.add_window(w, sweep)
        return None, e.reason
    except (LinkError, CommandError) as e:
        error = e.msg
        if worker.sim is not None and not worker.sim.alive():
            error += " (the simulated fixture exited)"
        w = mon.current
        if w is not None:
            w.error = error
            rec.add_window(w, sweep)
        return error, None
    return None, None


def _monitor_end(worker, job, rec, out_dir, error, interrupted, code=None):
    """The end of a monitoring job (one window or a procedure): the verdict, the record written
    and stored, the tile's failing pins and reasons, the exit code tester monitor/vibration give."""
    rec.finish(error, interrupted)
    out_dir = _write(worker, job, rec, out_dir)
    d = rec.data
    job.failed = sorted({pin for f in d.get("failing") or [] for pin in f.get("pins") or []})
    job.failures = ["channel %d (pins %s): %d event(s) >= 1 us, longest %d ns"
                    % (f["channel"], "-".join(str(x) for x in f["pins"]), f["failures"], f["longest_ns"])
                    for f in d.get("failing") or []]
    for wd in d["windows"]:
        job.failures += ["%s: %s" % (wd.get("label") or "window", x) for x in wd.get("problems") or []]
    for name, stage in d["stages"].items():
        if name in ("initial", "after") and stage.get("verdict") != protocol.PASS:
            job.failures.append("contact resistance %s: %s" % (name, stage.get("verdict")))
    if code is None:
        if interrupted:
            code = signal_exit_code(interrupted)
        elif error and d["verdict"] != protocol.INVALID:
            code = FIXTURE
        else:
            code = VERDICT_EXIT[d["verdict"]]
    return _done(worker, job, d, out_dir, code)


# -- the vibration procedure (spec 8.6) -------------------------------------------------------------


class _StageJob(model.Job):
    """A contact resistance stage of a procedure, run by run(): stopped with its procedure."""

    def __init__(self, parent, stage):
        super().__init__("run", parent.fixture, parent.source, {
            "pins": parent.params["pins"], "stage": stage, "serial": parent.params.get("serial"), "current_ma": None,
            "allow_expired_cal": parent.params.get("allow_expired_cal")})
        self.parent = parent

    @property
    def stop_reason(self):
        return self.parent.stop_reason

    @stop_reason.setter
    def stop_reason(self, value):  # set by Job() only: a stage stops when its procedure does
        pass


def vibration(worker, job):
    """tester vibration on the station: contact resistance "initial", axes X, Y, Z monitored
    (the operator mounts and turns the fixture: the job waits for Continue unless `yes`),
    contact resistance "after". One record (the stages' inside its directory), as the CLI's."""
    fx, st = worker.fx, worker.settings
    p = job.params
    pins, axis_s, sweep = p["pins"], int(p["axis_seconds"]), p["sweep"]
    try:
        if p.get("resume"):  # tester vibration --resume, on the station: the same record goes on
            rec, out_dir = _resumed_record(worker, job)
        else:
            rec, out_dir = _monitor_record(worker, job, "vibration", monitor_cmd.vibration_conditions(axis_s, sweep))
    except (FixtureError, OutputError, UsageError) as e:  # as tester vibration: refused before anything is measured
        return _refused(worker, job, e)
    windows = monitor_cmd.vibration_windows(axis_s, {w["axis"] for w in rec.data["windows"] if monitor_cmd.axis_done(w)})
    steps = len(windows) + 2

    if not monitor_cmd.stage_done(rec.data["stages"].get("initial")):
        monitor_cmd.supersede(rec.data["stages"], "initial")
        st0 = _stage(worker, job, rec, out_dir, "initial", 1, steps)
        if st0["verdict"] == protocol.ABORTED:
            return _monitor_end(worker, job, rec, out_dir, None, job.stop_reason)
        if st0["verdict"] == protocol.ERROR:
            msg = "contact resistance at stage initial did not complete (exit %s): vibration not started" % st0["exit_code"]
            code = st0["exit_code"] if st0["exit_code"] not in (None, exitcodes.FAIL) else None
            return _monitor_end(worker, job, rec, out_dir, msg, None, code)
    mon = Monitor(fx, pins, _TileView(worker, job), st.reconnect_timeout, st.timeout)
    error = interrupted = None
    for i, (seconds, axis, label, tags, prompt) in enumerate(windows):
        worker.set_procedure(job, step="axis %s" % axis, n=i + 2, of=steps, axis=axis,
                             axis_n=i + 1, axes=len(windows), sweep=sweep)
        try:
            if p.get("yes"):
                worker.note(prompt)
            else:
                _wait_operator(worker, job, prompt)
        except StopRequested as e:
            interrupted = e.reason
            worker.note("%s while waiting for the operator: stopped, keeping what was measured" % e.reason)
            break
        live = worker.start_monitor(job, seconds, sweep)
        error, interrupted = _window(worker, job, mon, rec, live, (seconds, axis, label, tags), sweep)
        _save(worker, rec, out_dir)
        if error or interrupted:
            break
    rec.data["host_ingest"] = {"frames": mon.frames_decoded}
    if error is None and not interrupted:
        monitor_cmd.supersede(rec.data["stages"], "after")
        st1 = _stage(worker, job, rec, out_dir, "after", steps, steps)
        if st1["verdict"] == protocol.ABORTED:
            interrupted = job.stop_reason
        elif st1["verdict"] == protocol.ERROR:
            error = "contact resistance at stage after did not complete"
    return _monitor_end(worker, job, rec, out_dir, error, interrupted)


def _resumed_record(worker, job):
    """(record, directory) of the interrupted procedure job.params["resume"] names, made ready to
    go on (commands.monitor.go_on) and written "in progress" again; UsageError if it cannot."""
    fx, st, p = worker.fx, worker.settings, job.params
    out_dir = Path(st.out) / p["resume"]
    rec = monitor_cmd.load_resume(out_dir, p["pins"])
    done = monitor_cmd.go_on(rec)
    rec.data["calibration"] = common.check_calibration(fx, p.get("allow_expired_cal"), "tester vibration")
    job.simulated = rec.data["simulated"]
    rec.data["error"] = "in progress"
    write_or_rescue(rec.write, out_dir)
    worker.note("resuming %s: axes done %s" % (p["resume"], ", ".join(done) or "none"))
    return rec, out_dir


def _stage(worker, job, rec, out_dir, name, n, steps):
    """Contact resistance at stage `name`, its record inside the procedure's directory; what
    the procedure keeps of it (commands.monitor.stage_summary) goes into rec's stages."""
    worker.set_procedure(job, step="contact resistance %s" % name, n=n, of=steps)
    sub = _StageJob(job, name)
    run_dir = monitor_cmd.stage_dir(out_dir, name)
    run(worker, sub, out_dir=run_dir)
    stage = monitor_cmd.stage_summary(sub.exit_code, run_dir if (run_dir / RECORD_NAME).exists() else None)
    if job.stop_reason:
        stage["verdict"] = protocol.ABORTED
        stage["interrupted_by"] = job.stop_reason
    elif sub.exit_code not in (exitcodes.PASS, exitcodes.FAIL):
        stage["verdict"] = protocol.ERROR
        if sub.error:
            stage["error"] = sub.error
    rec.data["stages"][name] = stage
    _save(worker, rec, out_dir)
    with worker.model.lock:
        t = worker.model.tiles.get(worker.key)
        if t is not None:
            t.progress = None
            worker.changed()
    return stage


def _wait_operator(worker, job, prompt):
    """The operator mounts or turns the fixture: the job waits for Continue (the panel, POST
    /api/jobs/ID/continue); a stop meanwhile raises StopRequested."""
    with worker.model.lock:
        job.proceed.clear()
        job.prompt = prompt
        worker.changed()
    worker.note("waiting for the operator: %s" % prompt)
    try:
        while not job.proceed.wait(WAIT_POLL_S):
            check_stop(job)
        check_stop(job)
    finally:
        with worker.model.lock:
            job.prompt = None
            worker.changed()


def _save(worker, rec, out_dir):
    """The record as it stands (a disk failing mid-procedure does not stop it: said on the tile)."""
    try:
        rec.write(out_dir)
    except OSError as e:
        worker.note("warning: the record could not be written in %s (%s): measuring on" % (out_dir, e.strerror or e))


class MonitorProgress:
    """The live state of a monitoring tile: elapsed time, events per channel, the longest,
    link health and the last events for the timeline. Its dict is the tile's `monitor`."""

    def __init__(self, seconds, sweep=None):
        self.sweep = sweep  # vibration: the sweep frequency now, read as the record reads it
        self.d = {"seconds": seconds, "elapsed_s": 0.0, "events": 0, "glitches": 0, "longest_ns": 0,
                  "channels": {}, "timeline": [], "bins": {}, "bin_s": max(seconds, 1) / TIMELINE_BINS,
                  "reconnects": 0, "link": {}, "lost": {}, "verdict": None, "axis": None,
                  "sweep": sweep, "sweep_hz": round(sweep_hz(0, sweep), 1) if sweep else None}

    def started(self, w):
        self.d["axis"] = w.axis
        self.d["pins_of"] = {str(ch): pins for ch, pins in (w.mon or {}).get("channels", [])}

    def event(self, w, ev):
        d = self.d
        d["events"] = len(w.events)
        ch = str(ev.get("ch"))
        c = d["channels"].setdefault(ch, {"pins": ev.get("pins"), "events": 0, "glitches": 0, "longest_ns": 0})
        c["events"] += 1
        c["longest_ns"] = max(c["longest_ns"], int(ev.get("len_ns") or 0))
        d["longest_ns"] = max(d["longest_ns"], int(ev.get("len_ns") or 0))
        t_s = (ev.get("t_us") or 0) / 1e6
        d["timeline"].append({"t_s": round(t_s, 3), "ch": ev.get("ch"), "pins": ev.get("pins"),
                              "len_ns": ev.get("len_ns"), "n": ev.get("n")})
        del d["timeline"][:-TIMELINE_EVENTS]
        bins = d["bins"].setdefault(ch, [0] * TIMELINE_BINS)
        bins[min(TIMELINE_BINS - 1, max(0, int(t_s / d["bin_s"])))] += 1

    def status(self, w, s, link_stats):
        d = self.d
        d["elapsed_s"] = round((s.get("elapsed_ms") or 0) / 1000.0, 1)
        if self.sweep:
            d["sweep_hz"] = round(sweep_hz((s.get("elapsed_ms") or 0) / 1000.0, self.sweep), 1)
        fails, glitches, longest = s.get("failures") or [], s.get("glitches") or [], s.get("longest_ns") or []
        pins_of = d.get("pins_of") or {}
        for i, n in enumerate(fails):
            g = glitches[i] if i < len(glitches) else 0
            if not n and not g:
                continue
            c = d["channels"].setdefault(str(i), {"pins": pins_of.get(str(i)), "events": 0, "glitches": 0, "longest_ns": 0})
            c["events"] = max(c["events"], n)
            c["glitches"] = g
            c["longest_ns"] = max(c["longest_ns"], longest[i] if i < len(longest) else 0)
        d["events"] = max(len(w.events), s.get("events") or 0)
        d["glitches"] = sum(glitches)
        d["longest_ns"] = max([d["longest_ns"]] + list(longest))
        d["reconnects"] = len(w.disconnects)
        tot = w.link_totals()
        cur = link_stats.as_dict()
        d["link"] = {k: tot.get(k, 0) + cur.get(k, 0) for k in ("frames", "lost", "garbled")}
        d["lost"] = {k: v for k, v in (s.get("lost") or {}).items() if v}


# -- the end of a job -------------------------------------------------------------------------------


def _write(worker, job, record, out_dir):
    """The final record, as tester run writes it: the directory (or the rescue directory when
    the disk fails), the simulated fixture's log, then report.html (--html) and the history
    database. Returns the directory written (or None)."""
    try:
        out_dir = write_or_rescue(record.write, out_dir)
    except OutputError as e:
        worker.note("error: %s" % e.msg)
        job.error = e.msg
        out_dir = e.rescue_dir
    if worker.sim is not None and out_dir is not None:
        try:
            write_text(Path(out_dir) / "sim.log", worker.sim.log_tail(400) + "\n")
        except OSError:
            pass
    st = worker.settings
    common.keep_record(SimpleNamespace(html=st.html, db=st.db), record.data, out_dir)
    return out_dir


def _done(worker, job, data, out_dir, code):
    job.verdict = data.get("verdict")
    job.error = job.error or data.get("error")
    job.exit_code = code
    if out_dir is not None:
        try:
            job.result_dir = str(Path(out_dir).resolve().relative_to(Path(worker.settings.out).resolve()))
        except ValueError:  # a rescue directory outside --out: named in the error
            job.result_dir = None
            job.error = (job.error or "") + " (record kept in %s)" % out_dir
    return job


def cycles_reset(worker, job):
    """The operator replaced the fixture's test-board connectors: their mating count starts again
    (CYCLES reset=1). No record: the tile's log keeps it."""
    before = (worker.model.get(worker.key).cycles or {}).get("count") if worker.model.get(worker.key) else None
    c = worker.ask_cycles(reset=True)
    if c is None:
        job.error = "the fixture did not reset its mating-cycle count"
        job.exit_code = FIXTURE
        return job
    worker.note("test-board connectors replaced: mating cycles %s -> %d of %d" % (before, c["count"], c["limit"]))
    job.exit_code = 0
    return job


def _refused(worker, job, err):
    """Nothing was measured (no record): the job ends with the reason and the exit code
    `tester run`/`monitor` would give (a TesterError's)."""
    job.verdict = None
    job.error = err.msg
    job.exit_code = err.code
    worker.note(err.msg)
    return job
