"""`tester monitor`, `tester vibration`, `tester shock`: discontinuity monitoring (5861 spec 8.6,
8.7) with the fixture's PIO event detector. Exit codes as `tester run`, plus 4 INVALID (data was
lost: the result can be neither PASS nor a trusted FAIL)."""

import argparse
import contextlib
import re
import sys
from pathlib import Path

from tester import exitcodes, monitoring
from tester.commands import common
from tester.commands import run as run_cmd
from tester.exitcodes import UsageError
from tester.fixture import CommandError
from tester.link import LinkError
from tester.record import result_dir_name
from tester.render import LiveView

AXES = ("X", "Y", "Z")
DIRECTIONS = ("+X", "-X", "+Y", "-Y", "+Z", "-Z")
SHOCKS_PER_DIRECTION = 3
VERDICT_EXIT = {monitoring.PASS: exitcodes.PASS, monitoring.FAIL: exitcodes.FAIL, monitoring.INVALID: exitcodes.INVALID}


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
    p.add_argument("--reconnect-timeout", type=float, default=60.0, metavar="S",
                   help="how long to wait for the fixture to come back after the port vanishes (default 60 s)")
    common.add_connection_args(p)


def add_parser(sub):
    p = sub.add_parser("monitor", help="monitor every contact for discontinuities (>= 1 us) for a time",
                       description=__doc__)
    _common(p)
    p.add_argument("--duration", type=duration, required=True, metavar="T", help="how long: 2h, 90m, 30s")
    p.add_argument("--axis", choices=AXES + DIRECTIONS, help="the vibration axis (tags every event)")
    p.set_defaults(func=cmd_monitor)

    v = sub.add_parser("vibration", help="spec 8.6: contact resistance, X/Y/Z 2 h each monitored, contact resistance",
                       description=__doc__)
    _common(v)
    v.add_argument("--axis-duration", type=duration, default=7200, metavar="T", help="time per axis (spec: 2h)")
    v.add_argument("--sweep", choices=("linear", "log"), default="linear",
                   help="how the 10-55-10 Hz/min sweep is read to tag events (default linear, MIL-STD-202 method 201)")
    v.add_argument("--yes", action="store_true", help="do not prompt the operator between axes (automation)")
    v.set_defaults(func=cmd_vibration)

    s = sub.add_parser("shock", help="spec 8.7: 18 shocks (3 per direction +-X +-Y +-Z), each a monitored window",
                       description=__doc__)
    _common(s)
    s.add_argument("--window", type=duration, default=1, metavar="T", help="monitored window per shock (default 1 s)")
    s.add_argument("--yes", action="store_true", help="do not prompt the operator (automation)")
    s.set_defaults(func=cmd_shock)
    return p


def _validate(args):
    common.check_connection_args(args)
    common.check_positions(args.pins, common.board_max_positions())
    common.check_serial(args.serial)
    if args.reconnect_timeout <= 0:
        raise UsageError("--reconnect-timeout must be positive")
    return common.load_scenario(args, args.pins)


def _out_dir(args, rec, fx, kind):
    base = Path(args.out) / (result_dir_name(rec.started_dt, args.serial, fx.info().get("id") if fx else None, rec.data["simulated"]) + "-" + kind)
    return common.unique_dir(base)


def _prompt(args, view, text):
    view.line(text)
    if getattr(args, "yes", False):
        return
    try:
        input("%s -- press Enter when ready (Ctrl-C to stop) " % text)
    except EOFError:
        raise UsageError("no operator input (stdin closed): use --yes for unattended runs")


def _finish(args, view, rec, out_dir, error=None):
    rec.finish(error)
    rec.write(out_dir)
    d = rec.data
    for w in d["windows"]:
        if w["problems"]:
            view.line("%s: INVALID: %s" % (w["label"] or w["axis"], "; ".join(w["problems"])))
    for f in d["failing"]:
        view.line("FAIL: channel %d (pins %s): %d event(s) >= 1 us, longest %d ns" % (
            f["channel"], "-".join(str(x) for x in f["pins"]), f["failures"], f["longest_ns"]))
    for name, st in d["stages"].items():
        view.line("contact resistance %s: %s (%s)" % (name, st.get("verdict"), st.get("dir")))
    t = d["totals"]
    view.line("events %d, glitches %d, longest %d ns; record: %s" % (t["events"], t["glitches"], t["longest_ns"], out_dir))
    if error:
        view.line("error: %s" % error)
    view.line("%s%s" % (d["verdict"], " (SIMULATED)" if d["simulated"] else ""))
    if args.json:
        sys.stdout.write(rec.to_json() + "\n")
        sys.stdout.flush()
    if error and d["verdict"] != monitoring.INVALID:
        return exitcodes.FIXTURE
    return VERDICT_EXIT[d["verdict"]]


def _monitored(args, scenario, kind, windows, view, rec_setup=None, sweep=None):
    """Open a session, run `windows` [(seconds, axis, label, tags, prompt)], record them."""
    rec = monitoring.MonitorRecord(kind, args.pins, args.sim, args.serial)
    rec.set_scenario(scenario)
    if rec_setup:
        rec_setup(rec)
    out_dir = None
    error = None
    with common.session(args, scenario) as (fx, sim):
        rec.set_fixture(fx)
        out_dir = _out_dir(args, rec, fx, kind)
        rec.data["error"] = "in progress"
        rec.write(out_dir)
        view.header(fx.hello, fx.info(), "%s, %d positions, serial %s" % (kind, args.pins, args.serial or "-"), rec.data["simulated"])
        mon = monitoring.Monitor(fx, args.pins, view, args.reconnect_timeout, args.timeout)
        mv = monitoring.MonitorView(view)
        try:
            for seconds, axis, label, tags, prompt in windows:
                if prompt:
                    _prompt(args, view, prompt)
                w = monitoring.Window(axis, label, seconds, tags)
                mv.start_window(w, label or axis or "")
                w = mon.window(seconds, axis, label, tags, mv.on_event, mv.on_status)
                rec.add_window(w, sweep)
                view.line("  %s: %s, %d event(s), %d glitch(es)" % (label or axis or "window", w.verdict(), len(w.events),
                                                                    sum((w.done or {}).get("glitches") or [])))
                rec.write(out_dir)
        except KeyboardInterrupt:
            error = "interrupted"
            try:
                fx.link.send("MSTOP")
            except LinkError:
                pass
        except (LinkError, CommandError) as e:
            error = e.msg
            if sim is not None and not sim.alive():
                error += " (the simulated fixture exited)"
        rec.data["host_ingest"] = {"frames": mon.frames_decoded}
    return rec, out_dir, error


def cmd_monitor(args):
    view = LiveView(stream=sys.stderr if args.json else sys.stdout)
    scenario = _validate(args)
    label = "monitor-%s" % args.axis if args.axis else "monitor"
    rec, out_dir, error = _monitored(args, scenario, "monitor", [(args.duration, args.axis, label, {"axis": args.axis or ""}, None)], view)
    rec.data["conditions"] = {"duration_s": args.duration, "axis": args.axis}
    code = _finish(args, view, rec, out_dir, error)
    return exitcodes.INTERRUPTED if error == "interrupted" else code


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
    ns = parser.parse_args(argv)
    view.line("contact resistance, stage %s (tester run)" % stage)
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        code = run_cmd.run(ns)
    dirs = sorted(p for p in Path(out).iterdir() if p.is_dir()) if Path(out).exists() else []
    st = {"exit_code": code, "verdict": None, "dir": str(dirs[-1]) if dirs else None}
    if dirs and (dirs[-1] / "record.json").exists():
        import json

        r = json.loads((dirs[-1] / "record.json").read_text())
        st.update(verdict=r.get("verdict"), failures=[c for c in r.get("contacts", []) + r.get("anchors", []) if c.get("verdict") != "PASS"])
    if code not in (exitcodes.PASS, exitcodes.FAIL):
        st["verdict"] = "ERROR"
    return st


def cmd_vibration(args):
    view = LiveView(stream=sys.stderr if args.json else sys.stdout)
    scenario = _validate(args)
    work = Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    stages_dir = work / ".vibration-stages"
    initial = _llcr(args, "initial", stages_dir / "initial", view)
    if initial["verdict"] == "ERROR":
        view.line("contact resistance at stage initial did not complete (exit %d): vibration not started" % initial["exit_code"])
        return initial["exit_code"]
    T = args.axis_duration
    windows = []
    for i, ax in enumerate(AXES):
        prompt = None if i == 0 else "turn the fixture to axis %s (spec 8.6: 2 h per axis)" % ax
        if i == 0:
            prompt = "mount the fixture for axis X on the shaker (10-55-10 Hz/min, 1.5 mm p-p)"
        windows.append((T, ax, "axis-%s" % ax, {"axis": ax}, prompt))

    def setup(rec):
        rec.data["conditions"] = {
            "procedure": "5861 spec 8.6 vibration", "sweep": "10-55-10 Hz per minute, %s" % args.sweep,
            "amplitude_mm_pp": 1.5, "monitor_current_ma": 100, "axis_duration_s": T, "axes": list(AXES),
            "sweep_reading": "MIL-STD-202 method 201: uniform (linear) 10->55->10 Hz in 1 min" if args.sweep == "linear"
            else "logarithmic 10->55->10 Hz in 1 min (30 s each way)",
        }
        rec.data["stages"]["initial"] = initial

    rec, out_dir, error = _monitored(args, scenario, "vibration", windows, view, setup, sweep=args.sweep)
    if error is None:
        rec.data["stages"]["after"] = _llcr(args, "after", stages_dir / "after", view)
        if rec.data["stages"]["after"]["verdict"] == "ERROR":
            error = "contact resistance at stage after did not complete"
    _move_stages(stages_dir, out_dir, rec)
    code = _finish(args, view, rec, out_dir, error)
    return exitcodes.INTERRUPTED if error == "interrupted" else code


def _move_stages(stages_dir, out_dir, rec):
    """The two contact resistance records go inside the procedure's result directory."""
    import shutil

    for name, st in rec.data["stages"].items():
        src = Path(st["dir"]) if st.get("dir") else None
        if src is not None and src.exists():
            dst = out_dir / ("contact-resistance-%s" % name)
            shutil.move(str(src), str(dst))
            st["dir"] = str(dst)
    shutil.rmtree(stages_dir, ignore_errors=True)


def cmd_shock(args):
    view = LiveView(stream=sys.stderr if args.json else sys.stdout)
    scenario = _validate(args)
    windows = []
    k = 0
    for d in DIRECTIONS:
        for j in range(SHOCKS_PER_DIRECTION):
            k += 1
            prompt = "mount the fixture for direction %s (50 G, 11 ms half-sine)" % d if j == 0 else None
            windows.append((args.window, d, "shock-%02d" % k, {"shock": k, "direction": d, "axis": d[1]}, prompt))

    def setup(rec):
        rec.data["conditions"] = {"procedure": "5861 spec 8.7 shock", "peak_g": 50, "pulse_ms": 11,
                                  "shocks_per_direction": SHOCKS_PER_DIRECTION, "directions": list(DIRECTIONS),
                                  "window_s": args.window, "monitor_current_ma": 100}

    rec, out_dir, error = _monitored(args, scenario, "shock", windows, view, setup)
    code = _finish(args, view, rec, out_dir, error)
    return exitcodes.INTERRUPTED if error == "interrupted" else code
