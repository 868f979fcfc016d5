"""Exit codes of every `tester` command: the one place they are defined and described.

Scripts and production-line software branch on these, so they never change meaning.
"""

import signal
import textwrap

PASS = 0
FAIL = 1
USAGE = 2
FIXTURE = 3
INVALID = 4
# Stopped by a signal: 128 + its number (the shell's convention).
INTERRUPTED = 130  # SIGINT
TERMINATED = 143  # SIGTERM
HANGUP = 129  # SIGHUP

# What each code means, the one table: `tester --help` and every command's --help print it
# (epilog), README.md's list says the same ("<code> <name>": tests/test_cli_help.py holds them equal).
MEANINGS = (
    (PASS, "PASS", "the connector passed; done, for a command that judges no connector"),
    (FAIL, "FAIL", "the connector failed: a contact, an anchor plate, a short, a discontinuity"),
    (USAGE, "usage or configuration error", "a bad option or scenario file, a position count or current the spec "
     "refuses, an unwritable --out, no operator at a prompt"),
    (FIXTURE, "fixture, link or storage error",
     "none found, link lost, version mismatch, self-check failed, fixture probe fault, calibration expired or "
     "corrupt, a monitoring window the fixture ended as ERROR, results that could not be written (then kept "
     "under $TMPDIR/tester-rescue/); for the history and report commands, a database that cannot be opened"),
    (INVALID, "INVALID", "monitoring lost data (FIFO, ring, event log, link): neither PASS nor a trusted FAIL"),
    (INTERRUPTED, "Ctrl-C", "SIGINT. Stopped by a signal, a measuring command tells the fixture to stop and "
     "writes the record of what was measured: verdict ABORTED, `interrupted_by` naming the signal"),
    (TERMINATED, "SIGTERM", "a service manager, kill"),
    (HANGUP, "SIGHUP", "the terminal or the parent process went away"),
)
MEASURING = (PASS, FAIL, USAGE, FIXTURE, INTERRUPTED, TERMINATED, HANGUP)  # tester run; monitoring adds INVALID
TOOLS = (PASS, USAGE, FIXTURE)  # flash, calibrate, sim, the history and report commands


def epilog(codes=None):
    """The exit codes section of a --help: every code, or those in `codes`, one wrapped line each."""
    lines = ["exit codes:"]
    for code, name, detail in MEANINGS:
        if codes is None or code in codes:
            lines += textwrap.wrap("%3d  %s: %s" % (code, name, detail), width=88, initial_indent="  ",
                                   subsequent_indent="       ", break_on_hyphens=False)
    return "\n".join(lines)


def signal_exit_code(sig=None):
    """128 + the signal's number; `sig` a number or a name ("SIGTERM"), None for SIGINT."""
    if sig is None or isinstance(sig, str):
        try:
            sig = signal.Signals[sig or "SIGINT"]
        except KeyError:
            return INTERRUPTED
    return 128 + int(sig)


class TesterError(Exception):
    """An error that ends a command with a given exit code and a message for the user."""

    code = FIXTURE

    def __init__(self, msg, code=None):
        super().__init__(msg)
        self.msg = msg
        if code is not None:
            self.code = code


class UsageError(TesterError):
    code = USAGE


class FixtureError(TesterError):
    code = FIXTURE


class OutputError(TesterError):
    """The result files could not be written (disk full, removed, read-only) after the fixture
    was used: a station error, not the connector's FAIL."""

    code = FIXTURE
