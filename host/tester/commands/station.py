"""`tester station`: serve every fixture of this PC at once, record each START press, and show
them all on a live web panel.

Fixtures are found by their USB identity (as `tester run` finds one) and picked up or dropped as
they are plugged in or pulled; --port DEV watches given ports instead, --sim N starts N
SIMULATED fixtures. Each START press on a fixture is recorded like `tester run` (result
directory, history database) with the fixture's id and this station's --operator and --lot;
runs and monitoring windows can also be started from the panel or `tester run --station URL
--fixture ID`. The panel is served on 127.0.0.1 unless --listen says otherwise, and then only
with a token. Ctrl-C, SIGTERM or SIGHUP stops everything: a job in progress is aborted on its
fixture and recorded ABORTED; the simulated fixtures end with the station."""

import contextlib
import os
import sys
import threading
import time
from datetime import datetime

from tester import exitcodes, interrupts
from tester.commands import add_command, common
from tester.exitcodes import UsageError
from tester.firmware import spec5861

TOKEN_ENV = "TESTER_STATION_TOKEN"
DEFAULT_LISTEN = "127.0.0.1:8765"
MAX_SIMS = 16

DESCRIPTION = __doc__ + """

examples:
  tester station                      every fixture found by its USB identity, panel on %s
  tester station --sim 3 --pins 40    three SIMULATED fixtures
  tester station --listen 0.0.0.0:8765 --lot L7    the line's network, the token from $%s""" % (
    DEFAULT_LISTEN, TOKEN_ENV)


def add_parser(sub):
    p = add_command(sub, "station", "serve every fixture of this PC, with a live web panel", DESCRIPTION,
                    (exitcodes.USAGE, exitcodes.FIXTURE, exitcodes.INTERRUPTED, exitcodes.TERMINATED, exitcodes.HANGUP))
    g = p.add_argument_group("fixtures")
    g.add_argument("--port", metavar="DEV", action="append",
                   help="watch this serial port (repeat for several; default: every fixture found by its USB identity)")
    g.add_argument("--sim", type=int, metavar="N", help="start N SIMULATED fixtures (ids FX-51000001...)")
    g.add_argument("--scenario", metavar="FILE", action="append",
                   help="with --sim: the simulated connector (repeat: the fixtures take them in turn)")
    g.add_argument("--timeout", metavar="S", type=common.seconds, default=common.DEFAULT_TIMEOUT_S,
                   help="a fixture silent this long during a run has lost its link (default %(default)s)")
    r = p.add_argument_group("what START runs and what the records say")
    r.add_argument("--pins", type=int, metavar="N", help="positions START measures (sent to each fixture as CONFIG; "
                                                        "default: what the fixture keeps)")
    r.add_argument("--stage", choices=spec5861.STAGES, default="initial", help="the stage START measures at")
    r.add_argument("--out", metavar="DIR", default="results", help="where result directories go (default ./results)")
    common.add_record_args(p)
    w = p.add_argument_group("the panel")
    w.add_argument("--listen", metavar="HOST:PORT", default=DEFAULT_LISTEN,
                   help="where the panel is served (default %(default)s: this PC only)")
    w.add_argument("--token", metavar="T",
                   help="every request must carry it (required to listen beyond this PC; or $%s)" % TOKEN_ENV)
    p.set_defaults(func=run)
    return p


def validate(args):
    from tester.station import web

    if args.scenario and not args.sim:
        raise UsageError("--scenario describes a simulated connector: it needs --sim N")
    if args.sim is not None and not 1 <= args.sim <= MAX_SIMS:
        raise UsageError("--sim %d: start 1 to %d simulated fixtures" % (args.sim, MAX_SIMS))
    common.check_seconds("--timeout", args.timeout)
    if args.pins is not None:
        common.check_positions(args.pins, common.board_max_positions())
    common.check_record_args(args)
    common.check_out_dir(args.out)
    host, port = web.parse_listen(args.listen)
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if token is not None and (len(token) < 8 or not token.isprintable() or " " in token):
        raise UsageError("--token: give at least 8 printable characters, no spaces")
    if not web.is_loopback(host) and not token:
        raise UsageError("--listen %s shares the panel beyond this PC: give it a token (--token T or $%s); "
                         "anyone who can reach the port could otherwise start runs" % (args.listen, TOKEN_ENV))
    scenarios = None
    if args.sim:
        from tester.station.discovery import load_scenarios

        scenarios = load_scenarios(args.scenario, args.pins)
    return host, port, token, scenarios


def _sim_link(sim, scenario):
    """A scenario's [link] faults, as tester run --sim applies them (common.session)."""
    link = scenario.link or {}
    if link.get("unplug_after_frames") is not None:
        sim.unplug_for_s = float(link.get("unplug_for_s", 1.0))
        sim.unplug_after_frames = int(link["unplug_after_frames"])
    if link.get("garble_kind"):
        sim.garble_kind = str(link["garble_kind"])


_SAY = threading.Lock()


def say(text):
    """One whole line at a time: the workers' threads speak at once, and a line split by another
    is unreadable to an operator and to a log parser."""
    try:
        with _SAY:
            sys.stdout.write("%s  %s\n" % (datetime.now().strftime("%H:%M:%S"), text))
            sys.stdout.flush()
    except OSError:  # the terminal went away (SIGHUP): the station stops anyway
        pass


@contextlib.contextmanager
def opened(args, poll_s=None):
    """The station of `args`, serving: yields (Station, web.Server, [SimFixture]). Everything it
    started ends when the block does (jobs aborted and recorded first)."""
    from tester.sim.launcher import SimFixture
    from tester.station import core, discovery, web

    host, port, token, scenarios = validate(args)
    settings = core.Settings(out=args.out, db=args.db, html=args.html, lot=args.lot, operator=args.operator,
                             pins=args.pins, stage=args.stage, timeout=args.timeout)
    disc = discovery.Discovery(ports=args.port or (), usb=not args.port and not args.sim)
    station = core.Station(settings, disc)
    station.say = say
    server = web.Server(station, host, port, token)  # binds now: a port in use is a usage error
    server.token = token
    sims = []
    stack = contextlib.ExitStack()
    stack.callback(server.sock.close)
    try:
        _open_history(args.db)
        for i in range(args.sim or 0):
            sc = scenarios[i % len(scenarios)]
            with interrupts.deferred():  # the child and its directory are registered for clean-up first
                sim = stack.enter_context(SimFixture(sc.sim, drop_after_frames=sc.link.get("drop_after_frames"),
                                                     uid=discovery.sim_uid(i + 1)))
            _sim_link(sim, sc)
            disc.add_sim(sim, sc)
            sims.append(sim)
        station.start(**({"poll_s": poll_s} if poll_s else {}))
        stack.callback(_stop, station, server)
        server.start()
        yield station, server, sims
    finally:
        with interrupts.deferred():  # a second signal must not leave a simulated fixture running
            stack.close()


def _stop(station, server):
    reason = interrupts.received() or "station stopped"
    left = station.shutdown(reason)
    for w in left:
        say("warning: the worker of %s did not stop in time" % w.device)
    server.stop()


def _open_history(db):
    """Create or migrate the history database now, once, before several fixtures store at once;
    if it cannot be reached the records still go to their directories (one warning)."""
    try:
        from tester.history import db as hdb

        hdb.open_db(db)
    except Exception as e:  # noqa: BLE001 - the result directories are the records; the database catches up
        print("tester: warning: the history database is not reachable (%s: %s); records go to their directories, "
              "`tester import` stores them later" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""),
              file=sys.stderr)


def run(args):
    with opened(args) as (station, server, sims):
        url = server.url + ("?token=%s" % server.token if server.token else "")
        what = " and ".join(x for x in ("%d SIMULATED fixture(s)" % len(sims) if sims else "",
                                         "ports %s" % ", ".join(args.port) if args.port else "") if x) \
            or "every fixture found by its USB identity"
        say("tester station: %s; results in %s; panel: %s" % (what, args.out, url))
        say("Ctrl-C stops the station (a run in progress is aborted and recorded)")
        try:
            while server.thread.is_alive():
                time.sleep(1.0)
        except KeyboardInterrupt:  # SIGINT, SIGTERM, SIGHUP (tester.interrupts)
            reason = interrupts.note_keyboard_interrupt()
            say("%s: stopping the station" % interrupts.describe(reason))
            return interrupts.exit_code()
    say("the panel's web server stopped")
    return exitcodes.FIXTURE
