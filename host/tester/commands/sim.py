"""`tester sim`: run a simulated fixture in the foreground and print its port, until Ctrl-C."""

import sys
import time

from tester import exitcodes
from tester.commands import add_command, common
from tester.scenario import default, load

DESCRIPTION = """\
Run a SIMULATED fixture in the foreground until Ctrl-C: the real firmware on the MicroPython
interpreter, the simulated hardware behind a pseudo-terminal. It prints its port; any tester
command, or mpremote, then talks to it as to a fixture on USB. Every result it gives is marked
simulated (the fixture says so in its hello).

examples:
  tester sim --scenario scenarios/open-contact-40.toml
  tester run --pins 40 --port /dev/pts/7      (from another terminal: the port it printed)
  mpremote connect /dev/pts/7 resume"""


def add_parser(sub):
    p = add_command(sub, "sim", "run a SIMULATED fixture and print its port", DESCRIPTION,
                    exitcodes.TOOLS, run)
    p.add_argument("--scenario", metavar="FILE", help="TOML file describing the simulated connector")
    p.add_argument("--pins", type=int, metavar="N", help="positions (default: the scenario's, else 40)")
    p.add_argument("--workdir", metavar="DIR", help="keep the simulated fixture's files here (default: a temporary directory, removed at the end)")
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
        return exitcodes.FIXTURE
