# Discontinuity monitoring (5861 spec 8.6 vibration, 8.7 shock): the fixture watches every
# channel of the mated pair with the PIO detector (drivers/event_detector.py) for a given time,
# with the 100 mA monitor sources on, and streams what it sees.
#
#   MONITOR pins=N seconds=S [axis=X] [label=...]     (protocol.COMMANDS has the ranges)
#
# 1. Self-check: the reference interrupter opens its switch for 0.5, 1.0 and 2.0 us; the detector
#    must measure each within its resolution (16 ns), the 0.5 us one as a glitch and the other two
#    as failures. One `check` frame each; a failed self-check refuses the run (err, hardware).
# 2. `mon` frame: the event definition (threshold, current, minimum duration, resolution), the
#    channels and the contacts on each, the loop's timing.
# 3. The loop: wait DRAIN_MS (time.sleep_ms: on the simulated fixture that is virtual time, so a
#    6-hour run goes by in fast-forward), drain the DMA ring, move every failure (>= 1 us) into
#    the event log and send it as an `event` frame (seq n from 1, channel, pins, t_us since the
#    start, len_ns); glitches (< 1 us) are only counted, in the per-channel histograms; a
#    `mstatus` frame every second (elapsed, counts, longest, losses); the host's commands are
#    answered without stopping (MSTATUS, MSTOP, EVENTS since=K, STATUS, HELLO). The lid is read
#    every HOST_MS: opened, the monitor currents go off at once and the window ends as ERROR (the
#    pair may have been unmated under current; nothing after that is a measurement).
# 4. `mdone`: the verdict and the whole summary (histograms too). Safe state at the end and on
#    any error (monitor sources off, relays open).
#
# The detector and the event log are allocated once, when the app boots (app.py), and reused by
# every window: a fixture stays powered across RUN, MONITOR and CAL for days. Every host period
# calls the app's tick() (watchdog, START latch). A host that stops reading costs nothing here: the link
# drops frames without blocking (link.py) and the events wait in the log for EVENTS since=K.
#
# The event log is a ring of LOG_N failures that outlives the frames: a host that was away asks
# `EVENTS since=K` and gets every event after K again (frames carry `replay`), so nothing is lost
# or doubled as long as it asks before LOG_N newer events push them out. Losses, all counted and
# reported: FIFO stalls, ring overruns, the detector's own event buffer overflowing, events pushed
# out of the log before they were ever sent (`log_overflow`), and bytes the link could not send.
# Any loss in the pipeline makes the verdict INVALID (never PASS; a FAIL seen with broken timing is
# not trusted either). `first_loss_us` (summary, status) says when the detector first lost data:
# [from, until], the last good record before the first FIFO stall or ring overrun and the first
# one after it, in us since the detector started (-1: none / not known).
#
# Sizing: each of the detector's three SMs has a ring of RING_BITS = 13 (8 KiB = 1024 records =
# 512 events, every edge being seen by all three), i.e. 20,000 events per second over one
# DRAIN_MS = 20 ms period (800 records) with margin for a late drain; the detector's event
# buffer holds 1024 events.

import array
import time

import board
import busy
import channel_map
import protocol
import spec5861
from drivers import event_detector as ed

DRAIN_MS = 20
STATUS_MS = 1000
HOST_MS = 100  # how often the host's commands are read while monitoring
RING_BITS = 13
DET_EVENTS = 1024
LOG_N = 1024  # failures kept for EVENTS since=K
SEND_BURST = 64  # event frames per drain at most (the rest follow next time: never lost)
SELF_CHECK_US = (0.5, 1.0, 2.0)
STOP_VERBS = ("MSTOP", "ABORT")  # end a window early (MSTOP: the refusals name it)

LID_OPENED = "lid opened"  # stop reason: the window could not be measured to its end (ERROR)


class SelfCheckError(Exception):
    pass


class Buffers:
    """The monitor's large buffers: the detector with its rings (3 x 8 KiB, aligned) and event
    buffer, and the event log (13 KiB). app.main() makes them first thing at boot, while the heap
    is in one piece; every monitoring window reuses them. Arrays are made from bytearrays: no
    temporary list of the same length on the heap."""

    def __init__(self):
        self.det = ed.EventDetector(pin_base=board.EVENT_PIN_BASE, channels=board.EVENT_CHANNELS, ring_bits=RING_BITS,
                                    max_events=DET_EVENTS)
        self.log_ch = array.array("B", bytearray(LOG_N))
        self.log_t = array.array("q", bytearray(8 * LOG_N))
        self.log_len = array.array("I", bytearray(4 * LOG_N))


class Monitor:
    """The monitoring windows: MONITOR, MSTATUS, MSTOP and EVENTS, during a window and between."""

    def __init__(self, fx, link, answers=None, tick=None, bufs=None):
        self.fx = fx
        self.link = link
        # What the host is answered during a window (busy.poll_host): the app's (STATUS, HELLO)
        # and the window's own.
        self.answers = dict(answers or {})
        self.answers["MSTATUS"] = self.mstatus
        self.answers["EVENTS"] = self.events
        self.tick = tick  # callable(polled) once per host period: the app's watchdog feed and START latch
        bufs = bufs or Buffers()
        self.det = bufs.det
        self.ref = None  # type: ed.ReferenceInterrupter | None
        self.log_ch = bufs.log_ch
        self.log_t = bufs.log_t
        self.log_len = bufs.log_len
        self.members = []  # type: list
        self.running = False
        self.session = None  # type: int | None
        self.last = None  # type: dict | None
        self._reset()

    def _reset(self):
        self.n_events = 0  # failures logged (their seq numbers are 1..n_events)
        self.sent_upto = 0  # events sent live (seq)
        self.log_overflow = 0
        self.stop_reason = None  # type: str | None
        self.elapsed_ms = 0
        self.positions = 0
        self.axis = None  # type: str | None
        self.label = None  # type: str | None
        self.checks = []  # type: list
        self.open_at_end = []  # type: list
        self.error = None  # type: str | None

    # -- self-check ------------------------------------------------------------------------

    def self_check(self, cmd_id):
        """Reference openings measured by the detector; raises SelfCheckError if one is wrong."""
        det = self.det
        det.channel_mask = 1 << board.REF_CHANNEL
        det.log_min_ns = 0  # the 0.5 us opening is a glitch: it must be in the log too
        det.start()
        if self.ref is None:
            self.ref = ed.ReferenceInterrupter(board.REF_INTERRUPTER_PIN)
        ok_all = True
        res = ed.RESOLUTION_NS
        min_ns = spec5861.EVENT_MIN_NS
        for us in SELF_CHECK_US:
            n = self.ref.cycles_for_us(us)
            time.sleep_us(10)
            det.drain()
            det.ev_n = 0
            nominal = self.ref.open(n)
            time.sleep_us(20)
            det.drain()
            measured = None
            count = 0
            for i in range(det.ev_n):
                if det.ev_ch[i] == board.REF_CHANNEL:
                    measured = det.ev_len_ns[i]
                    count += 1
            det.ev_n = 0
            want_fail = nominal >= min_ns
            ok = count == 1 and measured is not None and abs(measured - nominal) <= res
            if ok and measured is not None:
                ok = (measured >= min_ns) == want_fail
            ok_all = ok_all and ok
            self.checks.append({"name": "ref_%s_us" % us, "value": measured, "nominal_ns": nominal,
                                "failure": measured is not None and measured >= min_ns, "ok": ok})
            self.link.send(
                protocol.K_CHECK,
                {"id": cmd_id, "name": "reference opening %s us" % us, "value": measured, "unit": "ns",
                 "lo": nominal - res, "hi": nominal + res, "nominal_ns": nominal, "counted_as": (
                     "failure" if measured is not None and measured >= min_ns else "glitch"),
                 "expect": "failure" if want_fail else "glitch", "events": count, "ok": ok},
            )
        lost = det.stalls + det.overrun_records + det.ev_dropped
        self._stop_detector()
        if lost:
            ok_all = False
        if not ok_all:
            raise SelfCheckError("the detector did not measure the reference openings right (see the check frames)")

    # -- the session -----------------------------------------------------------------------

    def run(self, cmd_id, positions, seconds, axis=None, label=None):
        """Monitor for `seconds`. Returns the verdict. Leaves the fixture safe."""
        fx = self.fx
        self._reset()
        self.session = cmd_id
        self.positions = positions
        self.axis = axis
        self.label = label
        chans = channel_map.channels(positions, board.EVENT_CHANNELS, board.REF_CHANNEL)
        members = [()] * board.EVENT_CHANNELS  # type: list
        mask = 0
        for ch, mem in chans:
            members[ch] = mem
            mask |= 1 << ch
        self.members = [list(m) for m in members]
        self.running = True
        try:
            fx.safe()
            fx.monitor(True)
            self.self_check(cmd_id)
            det = self.det
            det.channel_mask = mask
            det.log_min_ns = spec5861.EVENT_MIN_NS  # glitches only in the histograms: the log holds failures
            self.link.send(
                protocol.K_MON,
                {"id": cmd_id, "positions": positions, "seconds": seconds, "axis": axis, "label": label,
                 "definition": ed.event_definition(), "channels": [[ch, list(mem)] for ch, mem in chans],
                 "ref_channel": board.REF_CHANNEL, "drain_ms": DRAIN_MS, "status_ms": STATUS_MS,
                 "log_size": LOG_N, "ring_bytes": 1 << RING_BITS, "rings": ed.N_SM, "hist_edges_ns": list(ed.HIST_EDGES_NS),
                 "checks": self.checks},
            )
            det.start()
            self._loop(cmd_id, seconds * 1000)
            if self.stop_reason == LID_OPENED:
                fx.safe()  # before anything else: the currents off
            det.stop()
            det.drain()
            self._stop_detector()
            self._collect()
            if self.stop_reason != LID_OPENED:  # an event open when the lid opened is no measurement
                self._open_at_end()
            self._send_pending(1 << 30)
        finally:
            self._stop_detector()
            fx.safe()
            self.running = False
        verdict = self.verdict()
        self.last = self.summary(cmd_id)
        self.link.send(protocol.K_MDONE, self.last)
        return verdict

    def _stop_detector(self):
        self.det.release()  # free the DMA channels now (start() takes new ones)

    def _loop(self, cmd_id, total_ms):
        det = self.det
        t0 = time.ticks_ms()
        next_drain = DRAIN_MS
        next_status = STATUS_MS
        next_host = 0
        tick = self.tick
        panel = self.fx.panel
        while True:
            el = time.ticks_diff(time.ticks_ms(), t0)
            wait = next_drain - el
            if wait > 0:
                time.sleep_ms(wait)
                el = time.ticks_diff(time.ticks_ms(), t0)
            next_drain = el - el % DRAIN_MS + DRAIN_MS
            det.drain()
            self._collect()
            self._send_pending(SEND_BURST)
            self.elapsed_ms = el
            if el >= next_status:
                self.send_status(cmd_id)
                next_status = el - el % STATUS_MS + STATUS_MS
            if el >= total_ms:
                self.stop_reason = "done"
                return
            if el >= next_host:
                # The panel (one I2C read each) once a host period, not every drain: its edges
                # also cost the detector FIFO bandwidth (GP28/29), and 10 Hz feeds the watchdog
                # and catches a START press held 100 ms (the debounce needs two samples).
                panel.poll()  # START and the lid in one read
                if tick is not None:
                    tick(True)
                if not panel.lid:
                    self.fx.monitor(False)  # the currents off now; safe() follows
                    self.stop_reason = LID_OPENED
                    self.error = "the lid was opened during monitoring at %d ms: monitor currents switched off" % el
                    return
                self._host(cmd_id)  # the host's commands, answered within HOST_MS
                next_host = el - el % HOST_MS + HOST_MS
                if self.stop_reason is not None:
                    return

    # -- events ----------------------------------------------------------------------------

    def _collect(self):
        """Failures from the detector's buffer into the event log (no allocation)."""
        det = self.det
        min_ns = spec5861.EVENT_MIN_NS
        for i in range(det.ev_n):
            ln = det.ev_len_ns[i]
            if ln >= min_ns:
                self._log(det.ev_ch[i], det.ev_start_us[i], ln)
        det.ev_n = 0

    def _log(self, ch, t_us, ln):
        k = self.n_events % LOG_N
        if self.n_events - self.sent_upto >= LOG_N:
            self.log_overflow += 1  # the oldest unsent event is overwritten: lost
            self.sent_upto += 1
        self.log_ch[k] = ch
        self.log_t[k] = t_us
        self.log_len[k] = ln
        self.n_events += 1

    def _open_at_end(self):
        """A channel still in an event when monitoring stops: a failure as long as it lasted."""
        det = self.det
        now_us = self.elapsed_ms * 1000
        for c in range(det.channels):
            ev = det.open_event(c, now_us)
            if ev is None:
                continue
            t_us, ln = ev
            if ln < spec5861.EVENT_MIN_NS:
                continue
            ln = min(ln, 0xFFFFFFFF)
            det.failures[c] += 1
            if ln > det.longest_ns[c]:
                det.longest_ns[c] = ln
            self.open_at_end.append(self.n_events + 1)
            self._log(c, t_us, ln)

    def _event_frame(self, cmd_id, seq, replay):
        k = (seq - 1) % LOG_N
        ch = self.log_ch[k]
        p = {"id": cmd_id, "n": seq, "ch": ch, "pins": self.members[ch], "t_us": self.log_t[k], "len_ns": self.log_len[k]}
        if replay:
            p["replay"] = True
        if seq in self.open_at_end:
            p["open_at_end"] = True
        return self.link.send(protocol.K_EVENT, p)

    def _send_pending(self, burst):
        n = 0
        while self.sent_upto < self.n_events and n < burst:
            if not self._event_frame(self.session, self.sent_upto + 1, False):
                return  # the host is not reading: the event stays unsent in the log
            self.sent_upto += 1
            n += 1

    def replay(self, cmd_id, since):
        """EVENTS since=K: every logged event after K again, then ok (first, last, missing)."""
        first = self.n_events - LOG_N + 1
        if first < 1:
            first = 1
        start = since + 1
        missing = 0
        if start < first:
            missing = first - start
            start = first
        upto = self.sent_upto  # unsent ones follow live, in order
        for s in range(start, upto + 1):
            self._event_frame(cmd_id, s, True)
        self.link.send(
            protocol.K_OK,
            {"id": cmd_id, "session": self.session, "since": since, "first": start, "last": upto,
             "missing": missing, "events": self.n_events, "running": self.running},
        )

    # -- host commands -----------------------------------------------------------------------

    def command(self, cmd_id, args):
        """MONITOR pins= seconds= [axis=] [label=]: one window (the app marks itself busy)."""
        fx = self.fx
        pins = args["pins"]
        why = spec5861.positions_error(pins, fx.board.MAX_POSITIONS)
        if why:
            raise protocol.ProtocolError(protocol.E_RANGE, "pins=%d: %s" % (pins, why))
        if not fx.panel.lid_closed():
            raise protocol.ProtocolError(protocol.E_STATE, "the lid is open: close it to monitor")
        try:
            self.run(cmd_id, pins, args["seconds"], args.get("axis"), args.get("label"))
        except SelfCheckError as e:
            raise protocol.ProtocolError(protocol.E_HW, "self-check: %s" % e)
        finally:
            fx.safe()

    def mstatus(self, cmd_id, args):
        """MSTATUS: the window running or the last one, histograms too."""
        if self.session is None:  # nothing monitored since boot
            self.link.send(protocol.K_MSTATUS, {"id": cmd_id, "session": None, "running": False})
        else:
            self.send_status(cmd_id, True)

    def events(self, cmd_id, args):
        """EVENTS since=K: the window's logged events after K again."""
        if self.session is None:
            self.link.send(protocol.K_OK, {"id": cmd_id, "session": None, "since": args["since"], "first": 1, "last": 0,
                                           "missing": 0, "events": 0, "running": False})
        else:
            self.replay(cmd_id, args["since"])

    def mstop(self, cmd_id, args):
        """MSTOP with no window running (during one, _host ends it)."""
        self.link.send(protocol.K_OK, {"id": cmd_id, "running": False})

    def _host(self, cmd_id):
        """The host's commands during a window: MSTOP (or ABORT) ends it."""
        stop = busy.poll_host(self.link, STOP_VERBS, self.answers, "monitoring is in progress")
        if stop is not None:
            self.stop_reason = "stopped" if stop == "MSTOP" else "aborted"

    # -- reports ---------------------------------------------------------------------------

    def losses(self):
        det = self.det
        return {
            protocol.LOST_FIFO_STALLS: det.stalls,
            protocol.LOST_RING_OVERRUN: det.overrun_records,
            protocol.LOST_EVENT_LOG: det.ev_dropped,
            protocol.LOST_LOG_OVERFLOW: self.log_overflow,
            protocol.LOST_LINK_BYTES: self.link.bytes_dropped,
            protocol.LOST_LINK_FRAMES: self.link.frames_dropped,
            protocol.LOST_UNMEASURED: det.unmeasured,  # open across a loss: no length (the run is INVALID)
        }

    def lost_data(self):
        lost = self.losses()
        return sum(lost[k] for k in protocol.LOSSES_OF_DATA)

    def verdict(self):
        if self.stop_reason == LID_OPENED:
            return protocol.ERROR
        if self.lost_data():
            return protocol.INVALID
        det = self.det
        for c in range(det.channels):
            if det.failures[c]:
                return protocol.FAIL
        return protocol.PASS

    def send_status(self, cmd_id, full=False):
        det = self.det
        p = {"id": cmd_id, "session": self.session, "running": self.running, "elapsed_ms": self.elapsed_ms,
             "events": self.n_events, "failures": list(det.failures), "glitches": list(det.glitches),
             "longest_ns": list(det.longest_ns), "lost": self.losses(), "first_loss_us": det.first_loss_us(), "records": det.records}
        if full:
            p["hist"] = [list(det.hist[c * ed.N_BINS:(c + 1) * ed.N_BINS]) for c in range(det.channels)]
            p["axis"] = self.axis
            if not self.running and self.last is not None:
                p["last"] = self.last
        self.link.send(protocol.K_MSTATUS, p)

    def summary(self, cmd_id):
        det = self.det
        return {
            "id": cmd_id, "session": self.session, "verdict": self.verdict(), "reason": self.stop_reason,
            "positions": self.positions, "axis": self.axis, "label": self.label, "elapsed_ms": self.elapsed_ms,
            "events": self.n_events, "failures": list(det.failures), "glitches": list(det.glitches),
            "longest_ns": list(det.longest_ns), "hist_edges_ns": list(ed.HIST_EDGES_NS),
            "hist": [list(det.hist[c * ed.N_BINS:(c + 1) * ed.N_BINS]) for c in range(det.channels)],
            "lost": self.losses(), "first_loss_us": det.first_loss_us(), "records": det.records,
            "definition": ed.event_definition(),
            "checks": self.checks, "open_at_end": self.open_at_end, "error": self.error,
            "link": self.link.stats(),
        }
