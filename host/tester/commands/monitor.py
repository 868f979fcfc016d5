"""`tester monitor`, `tester vibration`, `tester shock`: discontinuity monitoring (5861 spec 8.6,
8.7) with the fixture's PIO event detector, each window through tester.monitor_session, the
record tester.records.monitor. Stopped by Ctrl-C, SIGTERM or SIGHUP, the window in progress is
ended on the fixture (MSTOP) and kept in the record (verdict ABORTED); `tester vibration
--resume DIR` then continues from the next axis not completed."""

import argparse
import contextlib
import os
import re
import sys
from pathlib import Path

import json
import shutil

from tester import exitcodes, interrupts
from tester.commands import add_command, common
from tester.commands import run as run_cmd
from tester.exitcodes import OutputError, UsageError
from tester.firmware import protocol
from tester.fixture import CommandError
from tester.link import LinkError
from tester.monitor_session import Monitor
from tester.records.base import RECORD_NAME, iso, result_dir_name, utc_now, write_or_rescue
from tester.records.monitor import MonitorRecord
from tester.render import LiveView, monitor_view

# The procedures of spec 8.6 (vibration) and 8.7 (shock): the fixture monitors, the operator's
# shaker and shock machine apply these.
AXES = ("X", "Y", "Z")
AXIS_DURATION_S = 2 * 3600
SWEEP_AMPLITUDE_MM_PP = 1.5
DIRECTIONS = ("+X", "-X", "+Y", "-Y", "+Z", "-Z")
SHOCKS_PER_DIRECTION = 3
SHOCK_PEAK_G, SHOCK_PULSE_MS = 50, 11  # half-sine
VERDICT_EXIT = {protocol.PASS: exitcodes.PASS, protocol.FAIL: exitcodes.FAIL, protocol.INVALID: exitcodes.INVALID,
                protocol.ERROR: exitcodes.FIXTURE}
SHOCK_WINDOW_S = 5  # default: time to fire after "fire now" (the self-check comes first)
SWEEP_MODES = ("linear", "log")  # how the sweep is read to tag events (tester.records.monitor.sweep_hz)


def duration(text):
    """'2h', '90m', '30s', '1h30m', '45' (seconds) -> seconds (int)."""
    t = text.strip().lower()
    if t.isdigit():
        s = int(t)
    else:
        m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", t)
        if not m or not any(m.groups()):
            raise argparse.ArgumentTypeError("%r is not a duration (e.g. 2h, 90m, 30s)" % text)
        h, mi, se = (int(g or 0) for g in m.groups())
        s = h * 3600 + mi * 60 + se
    if not 1 <= s <= 86400:
        raise argparse.ArgumentTypeError("%r: a window is 1 s to 24 h" % text)
    return s


def _common(p):
    p.add_argument("--pins", type=int, required=True, metavar="N", help="positions of the connector (even, 10 and up)")
    p.add_argument("--serial", metavar="SN", help="the connector pair's serial number (stored in the record)")
    p.add_argument("--json", action="store_true", help="print the JSON record on stdout (the live view goes to stderr)")
    p.add_argument("--out", metavar="DIR", default="results", help="where result directories go (default ./results)")
    p.add_argument("--reconnect-timeout", type=common.seconds, default=60.0, metavar="S",
                   help="how long to wait for the fixture to come back after the port vanishes (default 60 s)")
    p.add_argument("--allow-expired-cal", action="store_true",
                   help="measure although the fixture's calibration is expired, corrupt or missing (the record says so)")
    p.add_argument("--plain", action="store_true",
                   help="plain lines (a status line every minute, a line per event) even on a terminal, "
                        "instead of the redrawn table; pipes, logs and TERM=dumb get them anyway")
    common.add_record_args(p)
    common.add_connection_args(p)


MONITORING = (
    "Every contact is watched for discontinuities: an event of 1 us or longer fails, shorter\n"
    "glitches are counted per channel in a histogram of widths. A window that lost data is INVALID\n"
    "(never PASS); one the fixture ended (lid opened) ERROR. The result directory holds\n"
    "record.json and events.csv; the record also goes to the history database.\n"
    "On a terminal the live view is a table redrawn as the frames arrive, at most 4 times a second\n"
    "(per channel: events, glitches, longest, last event; link health, verdict so far), kept on\n"
    "screen when the window ends; piped, logged, with TERM=dumb or --plain it is plain lines (a\n"
    "status line every minute, one line per event). NO_COLOR keeps the table without colours.")

MONITOR_DESCRIPTION = """\
Monitor a mated pair for a time: one window of --duration.

%s

examples:
  tester monitor --pins 40 --duration 2h --serial LOT7-0042
  tester monitor --pins 40 --duration 30s --sim --scenario scenarios/intermittent-40.toml
  tester monitor --pins 40 --duration 8h --plain    # plain lines on a terminal (screen, tmux logs)""" % MONITORING

VIBRATION_DESCRIPTION = """\
The vibration procedure of spec 8.6: contact resistance (initial), axes X, Y and Z monitored
for --axis-duration each (%d h by the spec) while the shaker sweeps 10-55-10 Hz per minute at
%s mm p-p, contact resistance (after). The operator is prompted to mount and turn the fixture
(--yes for automation); events are tagged with axis, time into the axis and sweep frequency.
An interrupted procedure continues with --resume from the next axis not completed.

%s

examples:
  tester vibration --pins 40 --serial LOT7-0042
  tester vibration --pins 40 --resume results/20260301T080000Z-LOT7-0042-FX-0007-vibration""" % (
    AXIS_DURATION_S // 3600, SWEEP_AMPLITUDE_MM_PP, MONITORING)

SHOCK_DESCRIPTION = """\
The shock procedure of spec 8.7: %d shocks of %d G, %d ms half-sine, %d per direction
(%s), each a monitored window of --window seconds. Before each shock the
operator arms the machine and presses Enter, then fires at "FIRE NOW" (--yes: the
machine's own controller times the shocks). Events are tagged with shock number and direction.

%s

examples:
  tester shock --pins 40 --serial LOT7-0042
  tester shock --pins 40 --yes --window 3""" % (
    SHOCKS_PER_DIRECTION * len(DIRECTIONS), SHOCK_PEAK_G, SHOCK_PULSE_MS, SHOCKS_PER_DIRECTION, " ".join(DIRECTIONS),
    MONITORING)

MONITORING_CODES = exitcodes.MEASURING + (exitcodes.INVALID,)


def add_parser(sub):
    p = add_command(sub, "monitor", "watch every contact for discontinuities for a time",
                    MONITOR_DESCRIPTION, MONITORING_CODES, cmd_monitor)
    _common(p)
    p.add_argument("--duration", type=duration, required=True, metavar="T", help="how long: 2h, 90m, 30s")
    p.add_argument("--axis", choices=AXES + DIRECTIONS, help="the vibration axis (tags every event)")

    v = add_command(sub, "vibration", "spec 8.6: resistance, axes X/Y/Z monitored, resistance",
                    VIBRATION_DESCRIPTION, MONITORING_CODES, cmd_vibration)
    _common(v)
    v.add_argument("--axis-duration", type=duration, default=AXIS_DURATION_S, metavar="T",
                   help="time per axis (spec: %dh)" % (AXIS_DURATION_S // 3600))
    v.add_argument("--sweep", choices=SWEEP_MODES, default="linear",
                   help="how the 10-55-10 Hz/min sweep is read to tag events (default linear, MIL-STD-202 method 201)")
    v.add_argument("--yes", action="store_true", help="do not prompt the operator between axes (automation)")
    v.add_argument("--resume", metavar="DIR",
                   help="continue the interrupted vibration procedure recorded in DIR from the next axis not completed")

    s = add_command(sub, "shock", "spec 8.7: 18 shocks, each a monitored window",
                    SHOCK_DESCRIPTION, MONITORING_CODES, cmd_shock)
    _common(s)
    s.add_argument("--window", type=duration, default=SHOCK_WINDOW_S, metavar="T",
                   help="monitored window per shock, from 'fire now' (default %d s)" % SHOCK_WINDOW_S)
    s.add_argument("--yes", action="store_true",
                   help="do not prompt before each shock (automation: the shock machine is triggered by its own controller)")
    return p


def _validate(args):
    common.check_connection_args(args)
    common.check_positions(args.pins, common.board_max_positions())
    common.check_serial(args.serial)
    common.check_record_args(args)
    common.check_seconds("--reconnect-timeout", args.reconnect_timeout)
    scenario = common.load_scenario(args, args.pins)
    common.check_out_dir(args.out)
    return scenario


def _out_dir(args, rec, fx, kind):
    base = Path(args.out) / (result_dir_name(rec.started_dt, args.serial, fx.info().get("id") if fx else None, rec.data["simulated"]) + "-" + kind)
    return common.unique_dir(base)


def _prompt(args, view, text):
    """`text` or (text, what the operator does); the prompt goes where the view goes (stderr
    with --json: stdout holds only the record)."""
    text, action = text if isinstance(text, tuple) else (text, "press Enter when ready")
    if getattr(args, "yes", False):
        view.line(text)
        return
    view.line("%s -- %s (Ctrl-C to stop)" % (text, action))
    try:
        input()
    except EOFError:
        raise UsageError("no operator input (stdin closed): use --yes for unattended runs")


def _save(rec, out_dir, view):
    """Write the record as it stands; a disk that fails mid-procedure does not stop the
    measurement (the final write says where the record went). Returns False on failure."""
    try:
        rec.write(out_dir)
        return True
    except OSError as e:
        view.line("warning: the record could not be written in %s (%s): measuring on, kept in memory" % (out_dir, e.strerror or e))
        return False


def _finish(args, view, rec, out_dir, error=None, interrupted=None):
    with interrupts.deferred():
        rec.finish(error, interrupted)
        write_error = None
        try:
            out_dir = write_or_rescue(rec.write, out_dir)
        except OutputError as e:
            write_error = e
            out_dir = e.rescue_dir
    d = rec.data
    for w in d["windows"]:
        if w["problems"]:
            view.line("%s: %s: %s" % (w["label"] or w["axis"], w["verdict"], "; ".join(w["problems"])))
    for f in d["failing"]:
        view.line("FAIL: channel %d (pins %s): %d event(s) >= 1 us, longest %d ns" % (
            f["channel"], "-".join(str(x) for x in f["pins"]), f["failures"], f["longest_ns"]))
    for name, st in d["stages"].items():
        view.line("contact resistance %s: %s (%s)" % (name, st.get("verdict"), st.get("dir")))
    t = d["totals"]
    view.line("events %d, glitches %d, longest %d ns; record: %s" % (t["events"], t["glitches"], t["longest_ns"], out_dir))
    if d["error"]:
        view.line("error: %s" % d["error"])
    if interrupted and rec.data["kind"] == "vibration" and out_dir is not None:
        view.line("continue with: tester vibration --pins %d --resume %s%s" % (args.pins, out_dir, " --sim" if args.sim else ""))
    view.line("%s%s" % (d["verdict"], " (SIMULATED)" if d["simulated"] else ""))
    if args.json:
        try:
            sys.stdout.write(rec.to_json() + "\n")
            sys.stdout.flush()
        except OSError:  # stdout gone (SIGHUP): the record is on disk
            pass
    common.keep_record(args, rec.data, out_dir)  # report.html, history database: after the files
    if write_error is not None:
        raise write_error
    if interrupted:
        return interrupts.exit_code()
    if getattr(rec, "usage_error", False):
        return exitcodes.USAGE
    if error and d["verdict"] != protocol.INVALID:
        return exitcodes.FIXTURE
    return VERDICT_EXIT[d["verdict"]]


def _monitored(args, scenario, kind, windows, view, rec, out_dir=None, sweep=None):
    """Open a session, run `windows` [(seconds, axis, label, tags, prompt)], record them into
    `rec` (in `out_dir`, made from the fixture's id if None). Returns (out_dir, error, interrupted)."""
    error = None
    interrupted = None
    try:
        with common.session(args, scenario) as (fx, sim):
            rec.set_fixture(fx.hello, fx.info())
            rec.data["calibration"] = common.check_calibration(fx, args.allow_expired_cal, "tester %s" % kind)
            if out_dir is None:
                out_dir = _out_dir(args, rec, fx, kind)
            rec.data["error"] = "in progress"
            write_or_rescue(rec.write, out_dir)
            mon = Monitor(fx, args.pins, view, args.reconnect_timeout, args.timeout)
            try:
                view.header(fx.hello, fx.info(), "%s, %d positions, serial %s" % (kind, args.pins, args.serial or "-"), rec.data["simulated"])
                if rec.data["calibration"].get("overridden"):
                    view.line("warning: %s (--allow-expired-cal)" % rec.data["calibration"]["problem"])
                mv = monitor_view(view, args.plain, rec.data["simulated"], sweep, lambda: mon.fx.link.stats.as_dict())

                def on_mon(w):
                    if kind == "shock":
                        view.line(">>> FIRE NOW: shock %s, direction %s (window %d s)" % (w.tags.get("shock"), w.tags.get("direction"), w.seconds))
                    mv.on_mon(w)
                for seconds, axis, label, tags, prompt in windows:
                    if prompt:
                        _prompt(args, view, prompt)
                    mv.start_window(label or axis or "", seconds, tags)
                    try:
                        w = mon.window(seconds, axis, label, tags, mv.on_event, mv.on_status, on_mon=on_mon)
                    finally:  # the table's last state stays on screen, the cursor shown (Ctrl-C too)
                        with interrupts.deferred():
                            mv.end_window(mon.current)
                    rec.add_window(w, sweep)
                    view.line("  %s: %s, %d event(s), %d glitch(es)" % (label or axis or "window", w.verdict(), len(w.events),
                                                                        sum((w.done or {}).get("glitches") or [])))
                    _save(rec, out_dir, view)
                    if w.verdict() == protocol.ERROR:
                        error = "%s ended as ERROR: %s" % (label or axis or "the window", "; ".join(w.problems()))
                        break
            except KeyboardInterrupt:  # SIGINT, SIGTERM, SIGHUP: keep the window in progress
                interrupted = interrupts.note_keyboard_interrupt()
                view.line("%s: stopping the monitoring (MSTOP), keeping what was measured" % interrupts.describe(interrupted))
                with interrupts.deferred():
                    w = mon.stop(interrupted)
                    if w is not None:
                        rec.add_window(w, sweep)
            except UsageError as e:  # no operator at a prompt (stdin closed)
                error = e.msg
                rec.usage_error = True
            except (LinkError, CommandError) as e:
                error = e.msg
                if sim is not None and not sim.alive():
                    error += " (the simulated fixture exited)"
                w = mon.current  # what arrived of the window before the link failed
                if w is not None:
                    w.error = error
                    rec.add_window(w, sweep)
            rec.data["host_ingest"] = {"frames": mon.frames_decoded}
    except KeyboardInterrupt:  # while the session opened or closed
        if out_dir is None:
            raise  # nothing measured, no record to keep
        interrupted = interrupts.note_keyboard_interrupt()
    except exitcodes.TesterError as e:  # the session could not open (or a refusal before monitoring)
        if out_dir is None or isinstance(e, OutputError):
            raise
        error = e.msg
    return out_dir, error, interrupted


def cmd_monitor(args):
    view = LiveView(stream=sys.stderr if args.json else sys.stdout)
    scenario = _validate(args)
    label = "monitor-%s" % args.axis if args.axis else "monitor"
    rec = MonitorRecord("monitor", args.pins, args.sim, args.serial, args.lot, args.operator)
    rec.set_scenario(scenario)
    rec.data["conditions"] = {"duration_s": args.duration, "axis": args.axis}
    out_dir, error, interrupted = _monitored(
        args, scenario, "monitor", [(args.duration, args.axis, label, {"axis": args.axis or ""}, None)], view, rec)
    return _finish(args, view, rec, out_dir, error, interrupted)


def _llcr(args, stage, out, view):
    """Contact resistance at `stage`: the `tester run` command itself, into out/."""
    # `tester run`'s own parser gives every option it has its default; ours are passed through.
    parser = argparse.ArgumentParser(prog="tester")
    run_cmd.add_parser(parser.add_subparsers())
    argv = ["run", "--pins", str(args.pins), "--stage", stage, "--out", str(out), "--timeout", str(args.timeout)]
    if args.serial:
        argv += ["--serial", args.serial]
    if args.sim:
        argv.append("--sim")
    if args.scenario:
        argv += ["--scenario", args.scenario]
    if args.port:
        argv += ["--port", args.port]
    if args.serial_number:
        argv += ["--serial-number", args.serial_number]
    if args.allow_expired_cal:
        argv.append("--allow-expired-cal")
    for opt in ("db", "lot", "operator"):  # the stage run is stored like the procedure (not --html: its report covers it)
        if getattr(args, opt, None):
            argv += ["--" + opt, getattr(args, opt)]
    ns = parser.parse_args(argv)
    view.line("contact resistance, stage %s (tester run)" % stage)
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        try:
            code = run_cmd.run(ns)
        except KeyboardInterrupt:  # before the run's own record existed
            interrupts.note_keyboard_interrupt()
            code = interrupts.exit_code()
    dirs = sorted(p for p in Path(out).iterdir() if p.is_dir()) if Path(out).exists() else []
    st = stage_summary(code, dirs[-1] if dirs else None)
    if interrupts.received():
        st["verdict"] = protocol.ABORTED
        st["interrupted_by"] = interrupts.received()
    elif code not in (exitcodes.PASS, exitcodes.FAIL):
        st["verdict"] = protocol.ERROR
    return st


def stage_summary(code, run_dir):
    """What a vibration record keeps of a contact resistance stage: the run's exit code, verdict,
    directory, failing contacts and fixture (from the run's record.json in `run_dir`)."""
    st = {"exit_code": code, "verdict": None, "dir": str(run_dir) if run_dir else None}
    if run_dir is not None and (Path(run_dir) / RECORD_NAME).exists():
        r = json.loads((Path(run_dir) / RECORD_NAME).read_text())
        st.update(verdict=r.get("verdict"),
                  failures=[c for c in r.get("contacts", []) + r.get("anchors", []) if c.get("verdict") != protocol.PASS],
                  fixture_id=(r.get("fixture") or {}).get("id"))
    return st


def stage_dir(out_dir, name):
    """Where the contact resistance record of stage `name` goes: inside the procedure's directory
    (a stage run again on resume keeps the earlier attempt beside it)."""
    return common.unique_dir(Path(out_dir) / ("contact-resistance-%s" % name))


def vibration_conditions(axis_s, sweep):
    """The conditions a vibration record states (tester vibration and the station's job)."""
    return {
        "procedure": "5861 spec 8.6 vibration", "sweep": "10-55-10 Hz per minute, %s" % sweep, "sweep_mode": sweep,
        "amplitude_mm_pp": SWEEP_AMPLITUDE_MM_PP, "monitor_current_ma": 100, "axis_duration_s": axis_s, "axes": list(AXES),
        "sweep_reading": "MIL-STD-202 method 201: uniform (linear) 10->55->10 Hz in 1 min" if sweep == "linear"
        else "logarithmic 10->55->10 Hz in 1 min (30 s each way)",
    }


def vibration_windows(axis_s, done=()):
    """The axes still to monitor, as windows [(seconds, axis, label, tags, operator prompt)]."""
    windows = []
    for i, ax in enumerate(AXES):
        if ax in done:
            continue
        if i == 0:
            prompt = "mount the fixture for axis X on the shaker (10-55-10 Hz/min, %s mm p-p)" % SWEEP_AMPLITUDE_MM_PP
        else:
            prompt = "turn the fixture to axis %s (spec 8.6: %d h per axis)" % (ax, AXIS_DURATION_S // 3600)
        windows.append((axis_s, ax, "axis-%s" % ax, {"axis": ax}, prompt))
    return windows


def _place_stage(name, st, out_dir):
    """A contact resistance record goes inside the procedure's directory (stage_dir)."""
    src = Path(st["dir"]) if st.get("dir") else None
    if src is not None and src.exists():
        dst = stage_dir(out_dir, name)
        shutil.move(str(src), str(dst))
        st["dir"] = str(dst)


def stage_done(st):
    return bool(st) and st.get("verdict") in (protocol.PASS, protocol.FAIL)


def axis_done(w):
    # A window that ran to its end; its verdict (even INVALID) stands. Before this field existed:
    # not interrupted and the fixture's summary arrived with reason "done".
    if "complete" in w:
        return bool(w["complete"])
    return w.get("reason") == "done" and not w.get("interrupted_by")


def load_resume(path, pins):
    """The record of an interrupted vibration procedure in `path`, or UsageError."""
    d = Path(path)
    f = d / RECORD_NAME
    if not f.is_file():
        raise UsageError("--resume %s: no record.json there: not a result directory of tester vibration" % path)
    try:
        rec = MonitorRecord.load(d)
    except (OSError, ValueError, KeyError) as e:
        raise UsageError("--resume %s: record.json cannot be read (%s)" % (path, e))
    data = rec.data
    if data.get("kind") != "vibration":
        raise UsageError("--resume %s: this is a %s record, not a vibration procedure" % (path, data.get("kind")))
    if data.get("complete") or (stage_done(data["stages"].get("after"))
                                and all(any(axis_done(w) and w["axis"] == a for w in data["windows"]) for a in AXES)):
        raise UsageError("--resume %s: this vibration procedure is finished (verdict %s): nothing to resume"
                         % (path, data.get("verdict")))
    if data.get("positions") != pins:
        raise UsageError("--resume %s: the procedure was started with --pins %s, not %d" % (path, data.get("positions"), pins))
    return rec


def go_on(rec):
    """An interrupted procedure's record made ready to go on (tester vibration --resume and the
    station's): the windows of axes not completed set aside, kept for the history but not judged
    (those axes are monitored again in full), the resumption noted. Returns the axes done."""
    kept = [w for w in rec.data["windows"] if axis_done(w)]
    dropped = [w for w in rec.data["windows"] if not axis_done(w)]
    if dropped:
        labels = {w["label"] for w in dropped}
        rec.data.setdefault("superseded_windows", []).extend(dropped)
        rec.data.setdefault("superseded_events", []).extend(e for e in rec.rows if e["window"] in labels)
        rec.rows = [e for e in rec.rows if e["window"] not in labels]
        rec.data["events"] = list(rec.rows)
        rec.data["windows"] = kept
    rec.data.pop("interrupted_by", None)
    rec.data.pop("measured_verdict", None)
    rec.data.setdefault("resumed", []).append({"at": iso(utc_now()), "axes_done": [w["axis"] for w in kept]})
    return [w["axis"] for w in kept]


def supersede(stages, name):
    """A stage run again keeps its earlier attempt in the record, beside the new one."""
    if stages.get(name):
        stages.setdefault("superseded", []).append(stages.pop(name))


def cmd_vibration(args):
    view = LiveView(stream=sys.stderr if args.json else sys.stdout)
    if args.resume:
        rec = load_resume(args.resume, args.pins)
        args.out = str(Path(args.resume).parent)
    scenario = _validate(args)
    if args.resume:
        out_dir = Path(args.resume)
        cond = rec.data["conditions"]
        T, sweep = int(cond.get("axis_duration_s") or args.axis_duration), cond.get("sweep_mode") or args.sweep
        done = go_on(rec)
        view.line("resuming %s: axes done %s" % (out_dir, ", ".join(done) or "none"))
    else:
        out_dir = None
        T, sweep = args.axis_duration, args.sweep
        rec = MonitorRecord("vibration", args.pins, args.sim, args.serial, args.lot, args.operator)
        rec.set_scenario(scenario)
        rec.data["conditions"] = vibration_conditions(T, sweep)
    stages_dir = Path(args.out) / (".vibration-stages-%d" % os.getpid())
    try:
        return _vibration(args, view, scenario, rec, out_dir, stages_dir, T, sweep)
    finally:
        shutil.rmtree(stages_dir, ignore_errors=True)


def _vibration(args, view, scenario, rec, out_dir, stages_dir, T, sweep):
    stages = rec.data["stages"]
    if not stage_done(stages.get("initial")):
        supersede(stages, "initial")
        st = _llcr(args, "initial", stages_dir / "initial", view)
        stages["initial"] = st
        if out_dir is None:  # the procedure's directory, named after the fixture the run found
            rec.data["simulated"] = rec.data["simulated"] or bool(st.get("dir") and "SIMULATED" in st["dir"])
            out_dir = common.unique_dir(Path(args.out) / (result_dir_name(
                rec.started_dt, args.serial, st.get("fixture_id"), rec.data["simulated"]) + "-vibration"))
        _place_stage("initial", st, out_dir)
        if st["verdict"] == protocol.ABORTED:
            return _finish(args, view, rec, out_dir, None, interrupts.received())
        if st["verdict"] == protocol.ERROR:
            msg = "contact resistance at stage initial did not complete (exit %d): vibration not started" % st["exit_code"]
            code = _finish(args, view, rec, out_dir, msg)
            return st["exit_code"] if st["exit_code"] != exitcodes.FAIL else code
    windows = vibration_windows(T, {w["axis"] for w in rec.data["windows"] if axis_done(w)})
    error = interrupted = None
    if windows:
        out_dir, error, interrupted = _monitored(args, scenario, "vibration", windows, view, rec, out_dir, sweep=sweep)
    if error is None and not interrupted:
        st = _llcr(args, "after", stages_dir / "after", view)
        supersede(stages, "after")
        stages["after"] = st
        _place_stage("after", st, out_dir)
        if st["verdict"] == protocol.ABORTED:
            interrupted = interrupts.received()
        elif st["verdict"] == protocol.ERROR:
            error = "contact resistance at stage after did not complete"
    return _finish(args, view, rec, out_dir, error, interrupted)


def cmd_shock(args):
    view = LiveView(stream=sys.stderr if args.json else sys.stdout)
    scenario = _validate(args)
    windows = []
    k = 0
    total = len(DIRECTIONS) * SHOCKS_PER_DIRECTION
    for d in DIRECTIONS:
        for j in range(SHOCKS_PER_DIRECTION):
            k += 1
            # One prompt per shock: each window waits for its shock (a person fires it after
            # "fire now"); with --yes the shock machine's own controller times the shocks.
            prompt = ("shock %d/%d, direction %s (%d G, %d ms half-sine)%s" % (
                k, total, d, SHOCK_PEAK_G, SHOCK_PULSE_MS, ": mount the fixture for direction %s" % d if j == 0 else ""),
                "arm the shock machine, press Enter, then fire at 'FIRE NOW'")
            windows.append((args.window, d, "shock-%02d" % k, {"shock": k, "direction": d, "axis": d[1]}, prompt))
    rec = MonitorRecord("shock", args.pins, args.sim, args.serial, args.lot, args.operator)
    rec.set_scenario(scenario)
    rec.data["conditions"] = {"procedure": "5861 spec 8.7 shock", "peak_g": SHOCK_PEAK_G, "pulse_ms": SHOCK_PULSE_MS,
                              "shocks_per_direction": SHOCKS_PER_DIRECTION, "directions": list(DIRECTIONS),
                              "window_s": args.window, "monitor_current_ma": 100,
                              "triggered_by": "automation (--yes)" if args.yes else "operator prompt per shock"}
    out_dir, error, interrupted = _monitored(args, scenario, "shock", windows, view, rec)
    return _finish(args, view, rec, out_dir, error, interrupted)
