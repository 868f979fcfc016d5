"""Exit codes of every `tester` command: the one place they are defined.

Scripts and production-line software branch on these, so they never change meaning.
"""

PASS = 0  # the connector passed
FAIL = 1  # the connector failed (a contact, an anchor plate, a short)
USAGE = 2  # bad arguments, bad scenario file, a position count or current the spec refuses
FIXTURE = 3  # fixture or link error: none found, link lost, version mismatch, self-check, probe
INVALID = 4  # monitoring: data was lost (FIFO, ring, event log, link): neither PASS nor a trusted FAIL
INTERRUPTED = 130  # Ctrl-C: the run was aborted, a partial record was written

NAMES = {
    PASS: "PASS",
    FAIL: "FAIL",
    USAGE: "usage or configuration error",
    FIXTURE: "fixture or link error",
    INVALID: "INVALID (data lost)",
    INTERRUPTED: "interrupted",
}


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
