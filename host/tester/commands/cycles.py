"""`tester cycles`: the fixture's mating-cycle counter of its test-board connectors.

The 5861 is rated for 30 mating cycles (spec 8.5) and every run mates the fixture's test-board
connectors with the pair under test once, so the fixture counts runs on its EEPROM, warns from 25
and refuses a run at 30. After the test-board connectors are replaced the count starts again:
`tester cycles --reset` (the operator confirms the replacement; --yes for automation).
"""

import json
import sys

from tester import exitcodes
from tester.commands import add_command, common
from tester.commands.flash import default_sim_workdir
from tester.exitcodes import UsageError

DESCRIPTION = """\
Show the mating cycles of the fixture's test-board connectors (5861 spec 8.5: rated 30; every run
is one), or start the count again after replacing them (--reset). A fixture at 30 refuses runs
until then.

examples:
  tester cycles --port /dev/ttyACM0
  tester cycles --port /dev/ttyACM0 --reset     after replacing the test-board connectors
  tester cycles --sim --reset --yes             the SIMULATED fixture of tester flash --sim"""


def add_parser(sub):
    p = add_command(sub, "cycles", "test-board connectors' mating cycles; --reset once replaced",
                    DESCRIPTION, exitcodes.TOOLS, run)
    common.add_kept_fixture_args(p)
    p.add_argument("--reset", action="store_true", help="the test-board connectors were replaced: count from 0")
    p.add_argument("--yes", action="store_true", help="with --reset: do not ask for the replacement to be confirmed")
    p.add_argument("--json", action="store_true", help="print the counter as JSON")
    p.add_argument("--timeout", type=common.seconds, default=10.0, metavar="S", help="longest silence of the fixture (s)")
    return p


def describe(c):
    """One line for a CYCLES answer (or a hello's count)."""
    state = {"ok": "", "warn": ": plan the test-board connectors' replacement",
             "worn": ": runs are refused; replace the test-board connectors, then tester cycles --reset"}
    return "%d of %d rated mating cycles (5861 spec 8.5)%s" % (c["count"], c["limit"], state.get(c["state"], ""))


def run(args, out=None):
    out = out or sys.stdout
    if args.workdir and not args.sim:
        raise UsageError("--workdir is for the simulated fixture (--sim)")
    if args.yes and not args.reset:
        raise UsageError("--yes goes with --reset")
    if args.sim:
        from tester.sim.flashable import SimBoard

        board = SimBoard(args.workdir or default_sim_workdir())
        with board.boot(json.loads(board.scenario_path.read_text())) as sim:
            return _cycles(args, sim.port, out, fix="tester flash --sim --workdir %s" % board.workdir)
    port = args.port
    if not port:
        from tester.ports import find_fixture

        port = find_fixture(args.serial_number)
    return _cycles(args, port, out)


def _cycles(args, port, out, fix=None):
    with common.kept_fixture(port, args.timeout, fix) as fx:
        hello = fx.hello
        label = " (SIMULATED)" if hello.get("simulated") else ""
        before = fx.command("CYCLES", timeout=args.timeout).payload
        if not args.json:
            out.write("fixture %s%s on %s: %s\n" % (hello.get("fixture_id"), label, port, describe(before)))
        if not args.reset:
            if args.json:
                out.write(json.dumps(dict(before, fixture_id=hello.get("fixture_id"), simulated=bool(hello.get("simulated")))) + "\n")
            return exitcodes.PASS
        if not args.yes:
            try:
                answer = input("Were the test-board connectors replaced? Type yes to count from 0: ")
            except EOFError:
                raise UsageError("no operator input (stdin closed): use --yes to reset unattended")
            if answer.strip().lower() != "yes":
                raise UsageError("not reset: the count stays %d" % before["count"])
        after = fx.command("CYCLES", timeout=args.timeout, reset=1).payload
        if args.json:
            out.write(json.dumps(dict(after, before=before["count"], fixture_id=hello.get("fixture_id"),
                                      simulated=bool(hello.get("simulated")))) + "\n")
        else:
            out.write("reset: %s (was %d)\n" % (describe(after), before["count"]))
        return exitcodes.PASS
