"""The `tester` command line: one subcommand per module in tester.commands."""

import argparse
import logging
import signal
import sys
import threading

from tester import __version__, exitcodes, interrupts
from tester.commands import run as run_cmd
from tester.commands import monitor as monitor_cmd
from tester.commands import sim as sim_cmd
from tester.commands import flash as flash_cmd
from tester.commands import calibrate as calibrate_cmd
from tester.commands import cycles as cycles_cmd
from tester.commands import history as history_cmd
from tester.commands import report as report_cmd
from tester.commands import station as station_cmd

COMMANDS = (run_cmd, sim_cmd, monitor_cmd, flash_cmd, calibrate_cmd, cycles_cmd, history_cmd, report_cmd, station_cmd)


def build_parser():
    p = argparse.ArgumentParser(
        prog="tester",
        description="The host of the Kyocera 5861 connector test fixture: measure and monitor mated pairs,\n"
                    "calibrate and flash fixtures, ask the history of results.\n"
                    "`tester COMMAND --help` says what a command does, with an example.",
        epilog=exitcodes.epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    saved = _install_signals()
    try:
        return args.func(args)  # a command that caught a signal returns its code itself
    except exitcodes.TesterError as e:
        _say("tester: error: %s" % e.msg)
        return e.code
    except KeyboardInterrupt:
        interrupts.note_keyboard_interrupt()
        _say("tester: %s" % interrupts.describe())
        return interrupts.exit_code()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _install_signals():
    """SIGINT/SIGTERM/SIGHUP -> interrupts.Interrupted; returns the handlers to restore (main()
    is also called in-process by tests)."""
    interrupts.reset()
    if threading.current_thread() is not threading.main_thread():
        return {}
    saved = {sig: signal.getsignal(sig) for sig in interrupts.HANDLED}
    interrupts.install()
    return saved


def _say(text):
    try:
        print(text, file=sys.stderr)
    except OSError:  # the terminal is gone (SIGHUP)
        pass


if __name__ == "__main__":
    sys.exit(main())
