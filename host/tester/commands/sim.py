"""`tester sim`: run a simulated fixture in the foreground and print its port, until Ctrl-C.

Then, from another terminal: `tester run --pins 40 --port PORT` (every result it gives is
marked simulated: the fixture says so in its hello)."""

import sys
import time

from tester.commands import common
from tester.scenario import default, load


def add_parser(sub):
    p = sub.add_parser("sim", help="run a SIMULATED fixture in the foreground and print its port")
    p.add_argument("--scenario", metavar="FILE", help="TOML file describing the simulated connector")
    p.add_argument("--pins", type=int, metavar="N", help="positions (default: the scenario's, else 40)")
    p.add_argument("--workdir", metavar="DIR", help="keep the simulated fixture's files here (default: a temporary directory, removed at the end)")
    p.set_defaults(func=run)
    return p


def run(args):
    from tester.sim.launcher import SimFixture

    if args.pins is not None:
        common.check_positions(args.pins, common.board_max_positions())
    if args.scenario:
        sc = load(args.scenario, pins=args.pins)
    else:
        sc = default(args.pins or 40)
    common.check_positions(sc.positions, common.board_max_positions())
    # No --workdir: the launcher owns a temporary one and removes it however tester ends.
    with SimFixture(sc.sim, args.workdir, drop_after_frames=sc.link.get("drop_after_frames")) as sim:
        print("SIMULATED fixture running (%d positions, scenario %s)" % (sc.positions, sc.path or "default good pair"))
        print("port: %s" % sim.port)
        print("log:  %s" % sim.log_path)
        print("try:  tester run --pins %d --port %s" % (sc.positions, sim.port))
        print("Ctrl-C to stop.")
        sys.stdout.flush()
        try:
            while sim.alive():
                time.sleep(0.2)
        except KeyboardInterrupt:
            print("stopped")
            return 0
        print("the simulated fixture exited; log tail:\n%s" % sim.log_tail(), file=sys.stderr)
        return 3
