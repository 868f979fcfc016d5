# Tests only, on MicroPython: a host in the same interpreter as the firmware. FakeLink has the
# firmware Link's interface: it keeps every frame and hands out queued command lines.
import machine


class FakeLink:
    repl_requested = False
    bytes_dropped = 0
    frames_dropped = 0

    def __init__(self):
        self.frames = []  # (kind, payload)
        self.pending = []  # command lines read_line() returns, in order

    def send(self, kind, payload):
        self.frames.append((kind, payload))
        return True

    def reply_error(self, cmd_id, code, msg):
        self.send("err", {"id": cmd_id, "code": code, "msg": msg})

    def read_line(self, timeout_ms=0):
        return self.pending.pop(0) if self.pending else None

    def stats(self):
        return {}


def boot(wdt=True):
    """The firmware booted as app.main() boots it: (App, FakeLink)."""
    import app
    import fixture
    import monitor

    bufs = monitor.Buffers()
    fx = fixture.Fixture()
    link = FakeLink()
    return app.App(fx, link, machine.WDT(timeout=app.WDT_MS) if wdt else None, bufs), link
