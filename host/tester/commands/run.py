"""`tester run`: low-level contact resistance of every contact and both anchor plates, opens
and shorts, self-check first; a record in a result directory; the verdict as the exit code."""

import sys
import time
from pathlib import Path

from tester import exitcodes, interrupts
from tester.commands import add_command, common
from tester.exitcodes import OutputError, UsageError
from tester.firmware import protocol, spec5861
from tester.fixture import CommandError
from tester.link import LinkError
from tester.records.base import result_dir_name, write_or_rescue, write_text
from tester.records.run import RunRecord
from tester.render import LiveView

ABORT_WAIT_S = 3.0


DESCRIPTION = """\
Measure a mated 5861 pair: the fixture's self-check, opens and shorts between neighbouring
pins on both test boards, then the 4-wire contact resistance of every contact and both anchor
plates against the spec's limits (contacts %.0f mOhm; anchor plates %.0f mOhm initial, %.0f
mOhm after mechanical or environmental tests). The record goes to a result directory under
--out (record.json, measurements.csv) and to the history database; the verdict is the exit code.

examples:
  tester run --pins 40 --serial LOT7-0042 --stage after
  tester run --pins 40 --sim --scenario scenarios/high-contact-40.toml""" % (
    spec5861.CONTACT_LIMIT_MOHM, spec5861.ANCHOR_LIMIT_MOHM["initial"], spec5861.ANCHOR_LIMIT_MOHM["after"])


def add_parser(sub):
    p = add_command(sub, "run", "measure a pair: self-check, shorts, 4-wire resistance",
                    DESCRIPTION, exitcodes.MEASURING, run)
    p.add_argument("--pins", type=int, required=True, metavar="N", help="positions of the connector (even, 10 and up)")
    p.add_argument("--stage", choices=spec5861.STAGES, default="initial", help="which anchor plate limit applies (default initial)")
    p.add_argument("--current-ma", type=int, metavar="I", help="test current (default %d mA)" % spec5861.LLCR_CURRENT_MA_DEFAULT)
    p.add_argument("--serial", metavar="SN", help="the connector pair's serial number (stored in the record)")
    p.add_argument("--json", action="store_true", help="print the JSON record on stdout (the live view goes to stderr)")
    p.add_argument("--out", metavar="DIR", default="results", help="where result directories go (default ./results)")
    p.add_argument(
        "--allow-expired-cal",
        action="store_true",
        help="run although the fixture's calibration is expired, corrupt or missing (the record says so)",
    )
    p.add_argument(
        "--allow-worn",
        action="store_true",
        help="run although the fixture's test-board connectors reached their rated mating cycles (the record says so;"
        " replace them and tester cycles --reset)",
    )
    common.add_record_args(p)
    common.add_connection_args(p)
    g = p.add_argument_group("on a station (tester station)")
    g.add_argument("--station", metavar="URL", help="ask a running tester station to run it (nothing starts here)")
    g.add_argument("--fixture", metavar="ID", help="with --station: the fixture's id, as on the station's panel")
    g.add_argument("--token", metavar="T", help="with --station: the station's token (or $TESTER_STATION_TOKEN)")
    return p


def validate(args):
    common.check_connection_args(args)
    common.check_positions(args.pins, common.board_max_positions())
    common.check_current(args.pins, args.current_ma)
    common.check_serial(args.serial)
    common.check_record_args(args)
    scenario = common.load_scenario(args, args.pins)
    common.check_out_dir(args.out)
    return scenario


def run(args):
    if getattr(args, "station", None) or getattr(args, "fixture", None):
        from tester.station.client import run_on_station

        return run_on_station(args)
    view = LiveView(stream=sys.stderr if args.json else sys.stdout)
    scenario = validate(args)
    with common.session(args, scenario) as (fx, sim):
        common.check_positions(args.pins, fx.max_positions or common.board_max_positions())
        hello = fx.hello
        simulated = fx.simulated or args.sim
        record = RunRecord(args.pins, args.stage, serial=args.serial, simulated=simulated,
                           lot=getattr(args, "lot", None), operator=getattr(args, "operator", None))
        record.set_fixture(hello, fx.info())
        record.set_scenario(scenario)
        out_dir = common.unique_dir(
            Path(args.out) / result_dir_name(record.started_dt, args.serial, fx.info().get("id"), simulated)
        )
        record.data["error"] = "run in progress (no final result yet)"
        write_or_rescue(record.write, out_dir)
        error = None
        interrupted = None
        refused = False
        run_id = None
        try:
            view.header(
                hello,
                fx.info(),
                "%d positions, stage %s, serial %s%s"
                % (args.pins, args.stage, args.serial or "-", ", scenario %s" % scenario.path if scenario and scenario.path else ""),
                simulated,
            )
            fx.on_frame = lambda f: (record.add_frame(f), view.on_log(f.payload)) if f.kind == protocol.K_LOG else None
            from tester.calibration import today

            run_id = fx.start_run(args.pins, args.stage, args.current_ma, args.serial, today(), args.allow_expired_cal,
                                  args.allow_worn)
            for f in fx.run_frames(run_id, args.timeout):
                _show(f, record, view, args.pins)
        except KeyboardInterrupt:  # SIGINT, SIGTERM, SIGHUP (tester.interrupts)
            interrupted = interrupts.note_keyboard_interrupt()
            view.line("%s: aborting the run" % interrupts.describe(interrupted))
            _abort(fx, run_id, record, view)
        except LinkError as e:
            error = "link lost: %s" % e.msg
            if sim is not None and not sim.alive():
                error += " (the simulated fixture exited; see sim.log)"
        except CommandError as e:
            error = e.msg
        except UsageError as e:  # the fixture refused the run's arguments
            error = e.msg
            refused = True
        with interrupts.deferred():  # what was measured is written whatever arrives now
            record.data["error"] = None
            record.set_link(fx.link.stats, fx.link.noise)
            record.finish(error=error, interrupted=interrupted)
            write_error = None
            try:
                out_dir = write_or_rescue(record.write, out_dir)
            except OutputError as e:  # the disk failed during the run: kept elsewhere if possible
                write_error = e
                out_dir = e.rescue_dir
            if sim is not None and out_dir is not None:
                try:  # the interpreter's stderr and the end of what it wrote on the port
                    write_text(out_dir / "sim.log", sim.log_tail(400) + "\n")
                except OSError:
                    pass
    view.finish(record, out_dir)
    if args.json:
        try:
            sys.stdout.write(record.to_json() + "\n")
            sys.stdout.flush()
        except OSError:  # stdout is gone (SIGHUP); the record is on disk
            pass
    common.keep_record(args, record.data, out_dir)  # report.html, history database: after the files
    if write_error is not None:
        raise write_error
    return exitcodes.USAGE if refused else record.exit_code()


def _show(f, record, view, positions):
    record.add_frame(f)
    k = f.kind
    if k == protocol.K_RUN:
        view.on_run(record.data, positions)
    elif k == protocol.K_STEP:
        view.on_step(f.payload)
    elif k == protocol.K_CHECK:
        view.on_check(f.payload)
    elif k == protocol.K_SHORT:
        view.on_short(f.payload)
    elif k == protocol.K_CONTACT:
        view.on_contact(f.payload)
    elif k == protocol.K_ANCHOR:
        view.on_anchor(f.payload)


def _abort(fx, run_id, record, view):
    """Ctrl-C: tell the fixture to stop (it opens every relay), collect what is left."""
    if run_id is None:
        return
    fx.abort()
    deadline = time.monotonic() + ABORT_WAIT_S
    try:
        while time.monotonic() < deadline:
            f = fx.link.read_frame(max(0.05, deadline - time.monotonic()))
            if f.id == run_id:
                record.add_frame(f)
                if f.kind == protocol.K_DONE:
                    return
    except (LinkError, KeyboardInterrupt):
        pass
    view.line("the fixture did not confirm the abort")

