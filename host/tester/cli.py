"""The `tester` command line: one subcommand per module in tester.commands."""

import argparse
import logging
import sys

from tester import __version__, exitcodes
from tester.commands import run as run_cmd
from tester.commands import monitor as monitor_cmd
from tester.commands import sim as sim_cmd
from tester.commands import flash as flash_cmd
from tester.commands import calibrate as calibrate_cmd

COMMANDS = (run_cmd, sim_cmd, monitor_cmd, flash_cmd, calibrate_cmd)


def build_parser():
    p = argparse.ArgumentParser(
        prog="tester",
        description="Kyocera 5861 connector test fixture. Exit codes: 0 PASS, 1 FAIL, 2 usage or configuration, "
        "3 fixture or link, 4 INVALID (monitoring: data lost), 130 interrupted.",
    )
    p.add_argument("--version", action="version", version="tester %s" % __version__)
    p.add_argument("-v", "--verbose", action="count", default=0, help="log link traffic to stderr (-vv: every frame)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in COMMANDS:
        mod.add_parser(sub)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)  # bad arguments: argparse exits 2
    level = logging.WARNING if args.verbose == 0 else (logging.INFO if args.verbose == 1 else logging.DEBUG)
    logging.basicConfig(level=level, format="%(name)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except exitcodes.TesterError as e:
        print("tester: error: %s" % e.msg, file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        print("tester: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
