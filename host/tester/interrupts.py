"""How `tester` stops when it is told to: SIGINT (Ctrl-C), SIGTERM (a service manager, `kill`),
SIGHUP (the terminal went away, e.g. an ssh session or a parent that died).

Each of them raises `Interrupted` (a KeyboardInterrupt, so every `except KeyboardInterrupt`
path that aborts the fixture and writes the partial record handles all three). Only the first
signal raises: the ones after it are noted and ignored, so the clean-up it started (ABORT or
MSTOP to the fixture, the record written, the simulated child killed, its directory removed)
runs to its end; every step of that clean-up is bounded in time.

Inside `deferred()` (a record being written, a child being killed) the first signal is held
and raised when the block ends, so a file or a process is never left half done.

Exit codes: 128 + the signal's number, the shell's convention: 130 SIGINT, 143 SIGTERM,
129 SIGHUP (tester.exitcodes).
"""

import contextlib
import signal

from tester import exitcodes

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_received = None  # the name of the first signal, e.g. "SIGTERM"
_code = None
_raised = False
_depth = 0


class Interrupted(KeyboardInterrupt):
    def __init__(self, signame="SIGINT", code=exitcodes.INTERRUPTED):
        super().__init__(signame)
        self.signame = signame
        self.code = code


def install():
    """Route SIGINT, SIGTERM and SIGHUP to `Interrupted` (main thread only)."""
    reset()
    for sig in HANDLED:
        signal.signal(sig, _handler)


def reset():
    global _received, _code, _raised, _depth
    _received, _code, _raised, _depth = None, None, False, 0


def _handler(signum, frame):
    global _received, _code, _raised
    if _received is not None:
        return  # already stopping: let the clean-up finish
    _received = signal.Signals(signum).name
    _code = exitcodes.signal_exit_code(signum)
    if _depth == 0:
        _raised = True
        raise Interrupted(_received, _code)


def received():
    """The name of the signal that stops us ("SIGTERM"...), or None."""
    return _received


def exit_code(default=exitcodes.INTERRUPTED):
    return _code if _code is not None else default


def describe(name=None):
    name = name or _received or "SIGINT"
    return {
        "SIGINT": "interrupted by the operator (Ctrl-C, SIGINT)",
        "SIGTERM": "terminated (SIGTERM)",
        "SIGHUP": "hung up (SIGHUP: the terminal or the parent process went away)",
    }.get(name, "interrupted by %s" % name)


def note_keyboard_interrupt():
    """A KeyboardInterrupt that did not pass through our handler (handler not installed: tests
    calling main() in-process): count it as SIGINT."""
    global _received, _code
    if _received is None:
        _received, _code = "SIGINT", exitcodes.INTERRUPTED
    return _received


@contextlib.contextmanager
def deferred():
    """Hold the first signal until the block ends (then raise it, unless an exception is
    already on its way out)."""
    global _depth, _raised
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    if _depth == 0 and _received is not None and not _raised:
        _raised = True
        raise Interrupted(_received, _code)
