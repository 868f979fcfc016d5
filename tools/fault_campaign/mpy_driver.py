# Fault-campaign driver: runs ON the MicroPython interpreter (never imported by CPython).
#
#   micropython driver.py BATCHES.jsonl      (MICROPYPATH: tester.sim.interpreter.in_place_path())
#
# One fixture for the whole file: fixture.Fixture(), app.App with the real link.Link and a real
# (simulated) machine.WDT, served by the real App.loop(). The host side is two in-memory streams.
# The link's two poll objects are swapped for FeedPoll/SinkPoll: the interpreter's poll on a
# Python stream object costs ~1.1 ms of wall time per call (measured: it waits a tick), which the
# simulated select would add to the fixture clock once per received byte; the swap keeps poll's
# contract (ready list, or [] after the timeout in fixture time). The real select/pty path is
# fuzzed end to end by pty_fuzz.py.
#
#   Feed   host -> fixture. A batch is a list of chunks (delay_us, bytes, action). While the
#          app is busy (a run, a monitor window) a chunk with delay_us is released only after that
#          much fixture time: commands arrive mid-run and mid-monitor. When the app is idle and
#          nothing is left, poll raises BatchEnd (a BaseException: no `except Exception` in the
#          firmware can swallow it) and the batch ends there.
#   Sink   fixture -> host: frames go to stdout as they are written. Action "stall" makes it a
#          host that stopped reading (writes return 0, never writable) until "unstall".
#
# stdout, one line each: "#B k" batch start, frames, "#X k <exc>" plus "#T ..." lines when an
# exception escaped App.loop() (a crash), "#E k {state}" at batch end with the simulated
# hardware's own state (relays, source, monitor current, hot switches) read before anything else.
# Nothing that depends on wall time goes on this heap (the firmware's): the same seed then gives
# the same allocations, so a MemoryError found under a busy machine replays on its own.
# Any other line on stdout is something the firmware printed outside the link: a traceback.

import gc
import io
import json
import struct
import sys


import app as appmod
import board
import machine
import simclock
import simhw
from fixture import Fixture
from link import Link

_POLL = 3  # MP_STREAM_POLL
_EINVAL = 22
_IN = 0x0001
_OUT = 0x0004
MAX_CHUNK = 16384  # campaign.MAX_CHUNK: the longest chunk the generator writes
ACTIONS = (None, "lid0", "lid1", "stall", "unstall")  # campaign.ACTIONS

out = sys.stdout.buffer


class BatchEnd(BaseException):
    pass


class Feed(io.IOBase):
    """Reads the batch file as it goes (one preallocated buffer: the harness must not fragment
    the heap the firmware runs in). Records: b"B" k, b"C" delay_us action length data, b"E"."""

    def __init__(self, f, actions):
        self.f = f
        self.actions = actions
        self.buf = bytearray(MAX_CHUNK)
        self.mv = memoryview(self.buf)
        self.hdr = bytearray(9)
        self.n = 0
        self.pos = 0
        self.head = None  # (delay_us, action, length) of the next chunk, its data not read yet
        self.due = None
        self.app = None
        self.in_batch = False
        self.left = 0

    def next_batch(self):
        """-> k of the next batch, or None at the end of the file."""
        t = self.f.read(1)
        if not t:
            return None
        assert t == b"B", t
        self.f.readinto(self.mv[:4])
        self.in_batch = True
        return struct.unpack_from("<I", self.buf, 0)[0]

    def _ready(self):
        if self.pos < self.n:
            return True
        while self.in_batch:
            if self.head is None:
                t = self.f.read(1)
                if t == b"E":
                    self.in_batch = False
                    return False
                self.f.readinto(self.hdr)
                self.head = struct.unpack("<IBI", self.hdr)
            delay, action, length = self.head
            if delay and self.app.busy:
                now = simclock.now_us()
                if self.due is None:
                    self.due = now + delay
                if now < self.due:
                    return False
            self.due = None
            self.head = None
            if action:
                self.actions(action)
            self.n = self.f.readinto(self.mv[:length]) if length else 0
            self.pos = 0
            if self.n:
                return True
        return False

    def skip_rest(self):
        self.left = 0
        self.n = self.pos = 0
        if self.head is not None:
            self.f.read(self.head[2])
            self.head = None
            self.left += 1
        while self.in_batch:
            if self.f.read(1) == b"E":
                self.in_batch = False
                break
            self.f.readinto(self.hdr)
            self.f.read(struct.unpack("<IBI", self.hdr)[2])
            self.left += 1

    def ioctl(self, op, arg):
        if op != _POLL:
            return -_EINVAL  # no file descriptor: poll must use this ioctl
        if self._ready():
            return arg & _IN
        if not self.app.busy:
            raise BatchEnd()
        return 0

    def read(self, n=1):
        if not self._ready():
            return b""
        n = min(n, self.n - self.pos)
        b = bytes(self.mv[self.pos : self.pos + n])
        self.pos += n
        return b


class FeedPoll:
    def __init__(self, feed):
        self.feed = feed

    def poll(self, timeout=-1):
        f = self.feed
        if f._ready():
            return [(f, _IN)]
        if not f.app.busy:
            raise BatchEnd()
        if timeout > 0:
            simclock.advance_us(timeout * 1000)  # the wait the device would make
        return []


class SinkPoll:
    def __init__(self, sink):
        self.sink = sink

    def poll(self, timeout=-1):
        if not self.sink.stalled:
            return [(self.sink, _OUT)]
        if timeout > 0:
            simclock.advance_us(timeout * 1000)
        return []


class Sink(io.IOBase):
    def __init__(self):
        self.stalled = False

    def write(self, b):
        if self.stalled:
            return 0
        mv = memoryview(b)
        n = 0
        while n < len(b):  # a pipe may take part of it: the harness must not lose what it reports
            n += out.write(mv[n:])
        return n

    def ioctl(self, op, arg):
        if op != _POLL:
            return -_EINVAL
        return 0 if self.stalled else arg & _OUT


def hw_state(world, fx, hot0):
    """The simulated parts' own state (and the firmware's view of its relays)."""
    ch = world.chain
    hot = len(ch.hot_switches)
    return {
        "coils": sorted(ch.coils),
        "made": sorted(ch.made_bits()),
        "fw_closed": len(fx.relays.closed()),
        "source_on": world.source_on(),
        "src_en": world.exp_levels.get(board.X_SRC_EN, 0),
        "mon_en": world.mon_en,
        "hot": hot - hot0,
        "hot_at": [list(x) for x in ch.hot_switches[hot0 : hot0 + 4]],
    }


def main(path):
    world = simhw.world()
    sink = Sink()

    def action(code):
        a = ACTIONS[code]
        if a == "lid0":
            world.set_lid(False)
        elif a == "lid1":
            world.set_lid(True)
        elif a == "stall":
            sink.stalled = True
        elif a == "unstall":
            sink.stalled = False

    f = open(path, "rb")
    feed = Feed(f, action)
    fx = Fixture()
    link = Link(feed, sink)
    assert hasattr(link, "_poll") and hasattr(link, "_wpoll"), "link.Link's poll objects were renamed"
    link._poll = FeedPoll(feed)
    link._wpoll = SinkPoll(sink)
    wdt = machine.WDT(timeout=appmod.WDT_MS)  # expiry ends the process: a hang in fixture time
    a = appmod.App(fx, link, wdt)
    feed.app = a

    hot0 = len(world.chain.hot_switches)
    while True:
        k = feed.next_batch()
        if k is None:
            break
        out.write(b"#B %d\n" % k)
        v0 = simclock.now_us()
        entries = 0
        repl = 0
        while True:
            entries += 1
            try:
                a.loop()  # returns only when the host asked for the REPL
                repl += 1
                link.repl_requested = False
            except BatchEnd:
                break
            except BaseException as e:  # a crash: report it, then as main() does, safe
                if type(e).__name__ == "BoardReset":  # the watchdog fired: this board is done
                    out.write(b"#R %d %s\n" % (k, json.dumps(hw_state(world, fx, hot0)).encode()))
                    sys.exit(3)
                out.write(b"#X %d %s\n" % (k, repr(e).encode()))
                s = io.StringIO()
                sys.print_exception(e, s)
                for ln in s.getvalue().splitlines():
                    out.write(b"#T %s\n" % ln.encode())
                fx.safe()
                link.repl_requested = False
        feed.skip_rest()  # nothing, unless BatchEnd came early (then "left" says so)
        st = hw_state(world, fx, hot0)
        hot0 += st["hot"]
        st.update({
            "busy": a.busy,
            "monitoring": a.monitor.running,
            "entries": entries,
            "repl": repl,
            "link": link.stats(),
            "fixture_us": simclock.now_us() - v0,
            "mem_free": gc.mem_free(),
            "left": feed.left,
        })
        out.write(b"#E %d %s\n" % (k, json.dumps(st).encode()))
        # Between batches: the lid closed and the host reading again, as a next test begins.
        world.set_lid(True)
        sink.stalled = False
    fx.safe()
    link.send("log", {"msg": "campaign end"})  # a last frame: drops at the very end show as a gap
    out.write(b"#DONE\n")


main(sys.argv[1])
