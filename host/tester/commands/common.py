"""What several commands share: connection options, checks of positions and current, and
opening a session with a real or a simulated fixture."""

import argparse
import contextlib
import math
import os
import tempfile
from pathlib import Path

from tester import interrupts
from tester import scenario as scenario_mod
from tester.exitcodes import FixtureError, UsageError
from tester.firmware import board_profile, protocol, spec5861
from tester.fixture import Fixture
from tester.link import Link, LinkError

DEFAULT_TIMEOUT_S = 10.0
MAX_WAIT_S = 86400.0  # no wait of the host is longer than a day


def seconds(text):
    """argparse type for a time in seconds: a finite number > 0 and at most a day. NaN and inf
    would switch the link-loss check off (a comparison with NaN is never true): refused."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a number of seconds" % text)
    if not math.isfinite(v) or not 0 < v <= MAX_WAIT_S:
        raise argparse.ArgumentTypeError("%r: give a finite number of seconds above 0, at most %d" % (text, MAX_WAIT_S))
    return v


def check_seconds(name, v):
    """The same check for values that did not come through argparse (a command calling another)."""
    if v is None or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v <= MAX_WAIT_S:
        raise UsageError("%s %r: give a finite number of seconds above 0, at most %d" % (name, v, MAX_WAIT_S))


def add_kept_fixture_args(p, everyone=None):
    """The fixture a maintenance command (flash, calibrate, cycles) works on: a real one by port or
    USB serial number, or the SIMULATED one `tester flash --sim` keeps in --workdir. `everyone`:
    the help of an --all option, when the command has one."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--port", metavar="DEV", help="serial port of the fixture")
    g.add_argument("--serial-number", metavar="USBSN", help="the fixture with this USB serial number")
    if everyone:
        g.add_argument("--all", action="store_true", help=everyone)
    g.add_argument("--sim", action="store_true", help="the SIMULATED fixture kept in --workdir")
    p.add_argument("--workdir", metavar="DIR", help="with --sim: the simulated fixture's directory (its flash fs/ and eeprom.bin;"
                   " default: the one tester flash --sim keeps)")


@contextlib.contextmanager
def kept_fixture(port, timeout, fix=None, same_firmware=False):
    """The Fixture on `port` after its handshake, for a maintenance command; the link closed after.
    A fixture that speaks another protocol (or, with same_firmware, runs other firmware) is refused
    with `fix`, the command that updates it."""
    from tester import deploy
    from tester.fixture import Fixture, VersionMismatch
    from tester.link import Link

    link = Link.open(port)
    try:
        fx = Fixture(link, port)
        try:
            fx.handshake(timeout=max(timeout, 5.0))
        except VersionMismatch:
            if fx.hello is not None:
                deploy.require_same_firmware(fx.hello, port, fix)  # the same refusal, with the right fix
            raise
        if same_firmware:
            deploy.require_same_firmware(fx.hello, port, fix)
        yield fx
    finally:
        link.close()


def add_connection_args(p):
    g = p.add_argument_group("fixture")
    g.add_argument("--port", metavar="DEV", help="serial port of a real fixture (default: find it by USB identity)")
    g.add_argument(
        "--serial-number",
        metavar="USBSN",
        help="pick the fixture with this USB serial number when several are attached (not the connector's --serial)",
    )
    g.add_argument("--sim", action="store_true", help="use the SIMULATED fixture (firmware on the MicroPython interpreter)")
    g.add_argument("--scenario", metavar="FILE", help="with --sim: TOML file describing the simulated connector")
    g.add_argument(
        "--timeout",
        metavar="S",
        type=seconds,
        default=DEFAULT_TIMEOUT_S,
        help="give up when the fixture sends nothing for S seconds (default %(default)s)",
    )


def add_record_args(p):
    """What the commands that produce a record (run, monitor, vibration, shock) also take: where
    the record is stored besides its directory, who and which lot, and an HTML report."""
    g = p.add_argument_group("history and report")
    g.add_argument("--db", metavar="PATH|URL",
                   help="history database to store the record in: a SQLite file or a postgresql:// URL "
                        "(default $TESTER_DB, else SQLite in the user's data directory)")
    g.add_argument("--lot", metavar="LOT", help="production lot (stored in the record and the history)")
    g.add_argument("--operator", metavar="NAME", help="who ran it (stored in the record and the history)")
    g.add_argument("--html", action="store_true", help="also write report.html (self-contained, with plots) in the result directory")


def check_record_args(args):
    for name in ("lot", "operator"):
        v = getattr(args, name, None)
        if v is not None and (not v.strip() or len(v) > 64 or not v.isprintable()):
            raise UsageError("--%s %r: give 1 to 64 printable characters" % (name, v))


def keep_record(args, data, out_dir):
    """After the result directory is written (it always comes first): report.html with --html,
    then the history database. Neither may change the exit code: a failure is one line on stderr
    (`tester report DIR` and `tester import DIR` catch up later)."""
    import sys

    if out_dir is None or data is None:
        return
    if getattr(args, "html", False):
        try:
            from tester.report import render
        except ImportError as e:
            print("tester: warning: --html: the HTML report is not available (%s)" % e, file=sys.stderr)
        else:
            try:
                from tester.records.base import atomic_write

                atomic_write(Path(out_dir) / "report.html", render(data, directory=out_dir))
            except Exception as e:  # noqa: BLE001 - the record is written; a report is extra
                print("tester: warning: report.html not written in %s (%s: %s); `tester report %s` makes it"
                      % (out_dir, type(e).__name__, e, out_dir), file=sys.stderr)
    from tester.history.store import record_after_command

    record_after_command(args, data, out_dir)


def board_max_positions(board="fixture_v1"):
    """MAX_POSITIONS of a board profile in boards/ (tester.firmware.board_profile)."""
    return board_profile(board).MAX_POSITIONS


def check_positions(pins, fixture_max):
    problem = spec5861.positions_error(pins, fixture_max)
    if problem:
        raise UsageError("--pins %d: %s" % (pins, problem))


def check_current(pins, current_ma):
    if current_ma is None:
        return
    if current_ma < 1:
        raise UsageError("--current-ma %d: the test current must be at least 1 mA" % current_ma)
    limit = spec5861.current_limit_ma(pins)
    if current_ma > limit:
        rating = spec5861.contact_rating_ma(pins)
        reasons = []
        if current_ma > spec5861.LLCR_CURRENT_MA_MAX:
            reasons.append(
                "the low-level contact resistance method (dry circuit, spec 9.3) allows at most %d mA"
                % spec5861.LLCR_CURRENT_MA_MAX
            )
        if current_ma > rating:
            reasons.append("the %d-position connector is rated %d mA per contact" % (pins, rating))
        raise UsageError("--current-ma %d is above %d mA: %s" % (current_ma, limit, "; ".join(reasons)))


def check_serial(serial):
    if serial is None:
        return
    try:
        protocol.check_args("RUN", {"pins": 10, "serial": serial})
    except protocol.ProtocolError as e:
        raise UsageError("--serial %r: %s" % (serial, e.msg))


def check_connection_args(args):
    if args.scenario and not args.sim:
        raise UsageError("--scenario describes a simulated connector: it needs --sim")
    if args.sim and (args.port or args.serial_number):
        raise UsageError("--sim runs the simulated fixture: it does not take --port or --serial-number")
    check_seconds("--timeout", args.timeout)


def check_out_dir(path):
    """--out: create it and write a file in it BEFORE the fixture is touched, so a bad path is a
    usage error (exit 2), never a traceback after a measurement."""
    from tester.records.base import make_dirs

    p = Path(path)
    created = [d for d in [p] + list(p.parents) if not d.exists()]
    try:
        make_dirs(p)
        fd, tmp = tempfile.mkstemp(prefix=".tester-write-check-", dir=str(p))
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise UsageError("--out %s: results cannot be written there (%s)" % (path, e.strerror or e))
    finally:
        for d in created:  # nothing is left behind until there is a result to keep
            try:
                d.rmdir()
            except OSError:
                pass


def calibration_problem(hello, today):
    """Why the fixture's calibration (from its hello) is not fit for a measurement today, or None.
    The fixture judges RUN itself (allow_expired_cal=1); the host judges the other measuring
    commands the same way from the hello."""
    cal = (hello or {}).get("calibration")
    if not cal:
        return None  # a firmware that does not report it: the fixture's own checks apply
    state = cal.get("state")
    if state == "valid" and cal.get("due") and today > int(cal["due"]):
        return "the calibration expired on %s (today %d)" % (cal["due"], today)
    if state in (None, "valid"):
        return None
    return {
        "expired": "the calibration expired on %s" % cal.get("due"),
        "corrupt": "the stored calibration is corrupt (CRC mismatch)",
        "none": "the fixture has no calibration",
        "incomplete": "the calibration does not cover every position",
    }.get(state, "calibration state %s" % state)


def check_calibration(fx, allow, command):
    """Refuse (exit 3, as RUN's refusal) unless --allow-expired-cal; returns what the record keeps."""
    from tester.calibration import today

    cal = dict((fx.hello or {}).get("calibration") or {})
    problem = calibration_problem(fx.hello, today())
    if problem and not allow:
        raise FixtureError("%s: calibrate the fixture (tester calibrate --port %s) or, knowingly, %s --allow-expired-cal"
                           % (problem, fx.port_name, command))
    cal["problem"] = problem
    cal["overridden"] = bool(problem)
    return cal


def load_scenario(args, pins):
    if not args.sim:
        return None
    if args.scenario:
        return scenario_mod.load(args.scenario, pins=pins)
    return scenario_mod.default(pins)


@contextlib.contextmanager
def session(args, scenario=None, keep_workdir=None):
    """Yield (Fixture, SimFixture or None) after a successful handshake."""
    stack = contextlib.ExitStack()
    try:
        sim = None
        if args.sim:
            from tester.sim.launcher import SimFixture

            with interrupts.deferred():  # the directory and the child are registered for clean-up first
                # workdir None: the launcher owns a temporary one and removes it however tester
                # ends (a reaper process covers SIGKILL)
                sim = stack.enter_context(
                    SimFixture(scenario.sim, keep_workdir, drop_after_frames=scenario.link.get("drop_after_frames"))
                )
            if scenario.link.get("unplug_after_frames") is not None:  # a scripted cable pull
                sim.unplug_for_s = float(scenario.link.get("unplug_for_s", 1.0))
                sim.unplug_after_frames = int(scenario.link["unplug_after_frames"])
            if scenario.link.get("garble_kind"):  # a corrupted transfer on the simulated link
                sim.garble_kind = str(scenario.link["garble_kind"])
            port = sim.port
        elif args.port:
            port = args.port
        else:
            from tester.ports import find_fixture

            port = find_fixture(args.serial_number)
        link = Link.open(port)
        stack.callback(link.close)
        fx = Fixture(link, port)
        try:
            fx.handshake(timeout=max(args.timeout, 5.0))
        except LinkError as e:
            if sim is not None:
                raise FixtureError("%s\nsimulated fixture log (%s):\n%s" % (e.msg, sim.log_path, sim.log_tail()))
            raise
        if args.sim and not fx.simulated:
            raise FixtureError("asked for the simulated fixture but the fixture on %s says it is real" % port)
        yield fx, sim
    finally:
        with interrupts.deferred():  # a signal now must not leave the child running or its directory
            stack.close()


def unique_dir(base):
    """`base`, or `base_2`, `base_3`... whichever does not exist yet: a result never overwrites
    another."""
    d = base
    n = 2
    while d.exists():
        d = base.with_name("%s_%d" % (base.name, n))
        n += 1
    return d
