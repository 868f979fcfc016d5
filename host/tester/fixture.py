"""A session with one fixture: handshake, commands, the frames of a run.

Every CLI command that talks to a fixture (`run`, `monitor`, `vibration`, `shock`, `calibrate`,
`flash`'s check after the deploy) works through a `Fixture`: it owns the `Link`, knows what the
fixture said in its hello, and turns the fixture's `err` replies into exceptions.
"""

import time

from tester.exitcodes import FixtureError, UsageError
from tester.firmware import protocol
from tester.link import LinkError, LinkLost

HANDSHAKE_TIMEOUT_S = 10.0
HELLO_RETRY_S = 1.0


class CommandError(FixtureError):
    """The fixture refused or failed a command (`err` frame)."""

    def __init__(self, verb, code, msg):
        super().__init__("the fixture refused %s: %s (%s)" % (verb, msg, code))
        self.verb = verb
        self.err_code = code


class VersionMismatch(FixtureError):
    pass


# A RUN the fixture refuses for its own state: what the operator does about it.
RUN_REFUSAL_FIX = {
    protocol.E_CAL: "Calibrate it: tester calibrate --port %(port)s (or, knowingly, tester run --allow-expired-cal)",
    protocol.E_WORN: "Once they are replaced: tester cycles --reset --port %(port)s (or, knowingly, tester run --allow-worn)",
}


class Fixture:
    def __init__(self, link, port_name=None):
        self.link = link
        self.port_name = port_name or link.name
        self.hello = None
        self.on_frame = None  # optional callback for frames nobody asked for (logs, button runs)

    # -- handshake ------------------------------------------------------------------------

    def handshake(self, timeout=HANDSHAKE_TIMEOUT_S):
        """HELLO until the fixture answers (it may still be booting); check the protocol."""
        deadline = time.monotonic() + timeout
        sent = set()
        while True:
            sent.add(self.link.send("HELLO"))
            retry_at = min(deadline, time.monotonic() + HELLO_RETRY_S)
            while True:
                left = retry_at - time.monotonic()
                if left <= 0:
                    break
                try:
                    f = self.link.read_frame(left)
                except LinkError as e:
                    if time.monotonic() >= deadline or isinstance(e, LinkLost):
                        raise type(e)(self._no_hello(timeout, e))
                    break
                if f.kind == protocol.K_HELLO and f.id in sent:
                    self.hello = f.payload
                    self.link.reset_stats(seq=f.seq)
                    self._check_versions()
                    return self.hello
                self._unsolicited(f)
            if time.monotonic() >= deadline:
                raise LinkError(self._no_hello(timeout))

    def _no_hello(self, timeout, err=None):
        msg = "no answer from a fixture on %s within %.0f s" % (self.port_name, timeout)
        if isinstance(err, LinkLost):
            msg = err.msg
        if self.link.noise:
            msg += "; it printed instead:\n  " + "\n  ".join(self.link.noise[-8:])
        return msg + "\n(is it running the tester firmware? `tester flash --port %s` installs it)" % self.port_name

    def _check_versions(self):
        h = self.hello
        if h.get("protocol") == protocol.PROTOCOL_VERSION and h.get("firmware") != protocol.FIRMWARE_VERSION:
            raise VersionMismatch(
                "the fixture on %s runs firmware %s; this tester ships firmware %s (protocol %d). "
                "Update the fixture's firmware: tester flash --port %s"
                % (self.port_name, h.get("firmware"), protocol.FIRMWARE_VERSION, protocol.PROTOCOL_VERSION, self.port_name)
            )
        if h.get("protocol") != protocol.PROTOCOL_VERSION:
            raise VersionMismatch(
                "the fixture on %s runs firmware %s speaking protocol %s; this tester speaks protocol %d "
                "(firmware %s). Update the fixture's firmware: tester flash --port %s"
                % (
                    self.port_name,
                    h.get("firmware"),
                    h.get("protocol"),
                    protocol.PROTOCOL_VERSION,
                    protocol.FIRMWARE_VERSION,
                    self.port_name,
                )
            )

    @property
    def simulated(self):
        return bool(self.hello and self.hello.get("simulated"))

    @property
    def max_positions(self):
        return int((self.hello or {}).get("max_positions") or 0)

    def info(self):
        h = self.hello or {}
        return {
            "id": h.get("fixture_id"),
            "board": h.get("board"),
            "uid": h.get("uid"),
            "port": self.port_name,
            "max_positions": h.get("max_positions"),
        }

    # -- commands -------------------------------------------------------------------------

    def _unsolicited(self, f):
        if self.on_frame is not None:
            self.on_frame(f)

    def command(self, verb, timeout=5.0, reply=None, **args):
        """Send `verb`, return the reply frame (`ok` or the kind in `reply`); err -> CommandError."""
        cmd_id = self.link.send(verb, **args)
        want = {protocol.K_OK} | ({reply} if reply else set())
        deadline = time.monotonic() + timeout
        while True:
            f = self.link.read_frame(max(0.01, deadline - time.monotonic()))
            if f.id == cmd_id:
                if f.kind == protocol.K_ERR:
                    raise CommandError(verb, f.get("code"), f.get("msg"))
                if f.kind in want:
                    return f
            self._unsolicited(f)

    def status(self):
        return self.command("STATUS", reply=protocol.K_STATUS).payload

    def safe(self):
        return self.command("SAFE")

    def start_run(self, pins, stage="initial", current_ma=None, serial=None, date=None, allow_expired_cal=False,
                  allow_worn=False):
        args = {"pins": pins, "stage": stage}
        if allow_worn:
            args["allow_worn"] = 1
        if date is not None:  # the fixture has no clock: it checks the calibration's due date with ours
            args["date"] = date
        if allow_expired_cal:
            args["allow_expired_cal"] = 1
        if current_ma is not None:
            args["current_ma"] = current_ma
        if serial:
            args["serial"] = serial
        return self.link.send("RUN", **args)

    def run_frames(self, run_id, timeout):
        """Yield the frames of run `run_id` until its `done` (inclusive). An `err` for the run
        raises CommandError; `timeout` is the longest silence tolerated."""
        while True:
            f = self.link.read_frame(timeout)
            if f.id != run_id:
                self._unsolicited(f)
                continue
            if f.kind == protocol.K_ERR:
                fix = RUN_REFUSAL_FIX.get(f.get("code"))
                if fix is not None:  # the fixture's reason, then the tester command that mends it
                    raise CommandError("RUN", f.get("code"), "%s. %s" % (f.get("msg"), fix % {"port": self.port_name}))
                if f.get("code") in (protocol.E_RANGE, protocol.E_ARG):
                    raise UsageError("the fixture refused the run: %s" % f.get("msg"))
                raise CommandError("RUN", f.get("code"), f.get("msg"))
            yield f
            if f.kind == protocol.K_DONE:
                return

    def abort(self, timeout=3.0):
        """Send ABORT; best effort (returns the ABORT's id, or None if the link is gone)."""
        try:
            return self.link.send("ABORT")
        except LinkError:
            return None

    def close(self):
        self.link.close()
