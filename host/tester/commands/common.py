"""What several commands share: connection options, checks of positions and current, and
opening a session with a real or a simulated fixture."""

import contextlib
import re
import shutil
import tempfile

from tester import scenario as scenario_mod
from tester.exitcodes import FixtureError, UsageError
from tester.firmware import BOARDS_DIR, protocol, spec5861
from tester.fixture import Fixture
from tester.link import Link, LinkError

DEFAULT_TIMEOUT_S = 10.0


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
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="give up when the fixture sends nothing for S seconds (default %(default)s)",
    )


def board_max_positions(board="fixture_v1"):
    """MAX_POSITIONS of a board definition in boards/ (read, not imported: it is device code)."""
    text = (BOARDS_DIR / board / "board.py").read_text()
    m = re.search(r"^MAX_POSITIONS\s*=\s*(\d+)", text, re.M)
    return int(m.group(1))


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
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError("--timeout must be positive")


def load_scenario(args, pins):
    if not args.sim:
        return None
    if args.scenario:
        return scenario_mod.load(args.scenario, pins=pins)
    return scenario_mod.default(pins)


@contextlib.contextmanager
def session(args, scenario=None, keep_workdir=None):
    """Yield (Fixture, SimFixture or None) after a successful handshake."""
    with contextlib.ExitStack() as stack:
        sim = None
        if args.sim:
            from tester.sim.launcher import SimFixture

            workdir = keep_workdir or tempfile.mkdtemp(prefix="tester-sim-")
            if keep_workdir is None:
                stack.callback(shutil.rmtree, workdir, True)
            sim = stack.enter_context(
                SimFixture(scenario.sim, workdir, drop_after_frames=scenario.link.get("drop_after_frames"))
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


def unique_dir(base):
    """`base`, or `base_2`, `base_3`... whichever does not exist yet: a result never overwrites
    another."""
    d = base
    n = 2
    while d.exists():
        d = base.with_name("%s_%d" % (base.name, n))
        n += 1
    return d
