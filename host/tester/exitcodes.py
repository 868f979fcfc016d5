"""Exit codes of every `tester` command: the one place they are defined.

Scripts and production-line software branch on these, so they never change meaning.
"""

import signal

PASS = 0  # the connector passed
FAIL = 1  # the connector failed (a contact, an anchor plate, a short)
USAGE = 2  # bad arguments, bad scenario file, a position count or current the spec refuses
FIXTURE = 3  # fixture or link error: none found, link lost, version mismatch, self-check, probe
INVALID = 4  # monitoring: data was lost (FIFO, ring, event log, link): neither PASS nor a trusted FAIL
# Stopped by a signal: 128 + its number (the shell's convention). The fixture was told to stop,
# the record of what was measured written (verdict ABORTED, `interrupted_by` names the signal).
INTERRUPTED = 130  # SIGINT, Ctrl-C
HANGUP = 129  # SIGHUP: the terminal or the parent went away
TERMINATED = 143  # SIGTERM

NAMES = {
    PASS: "PASS",
    FAIL: "FAIL",
    USAGE: "usage or configuration error",
    FIXTURE: "fixture or link error",
    INVALID: "INVALID (data lost)",
    INTERRUPTED: "interrupted (SIGINT)",
    HANGUP: "hung up (SIGHUP)",
    TERMINATED: "terminated (SIGTERM)",
}

# What every command's --help says about them.
SUMMARY = ("Exit codes: 0 PASS, 1 FAIL, 2 usage or configuration (incl. an unwritable --out), 3 fixture, link or "
           "result-writing error (incl. monitoring ended as ERROR), 4 INVALID (monitoring: data lost), "
           "130 SIGINT/Ctrl-C, 143 SIGTERM, 129 SIGHUP (the record of what was measured is written, verdict ABORTED).")


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
