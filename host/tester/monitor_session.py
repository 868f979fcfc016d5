"""Discontinuity monitoring over a `Fixture`: one monitored window (the firmware's MONITOR), the
recovery after a host disconnect, and each window's verdict.

A window is one MONITOR command. The host keeps every failure event by its event number `n`
(1, 2, ... per window): live frames and replays (`EVENTS since=K`) land in the same dict, so
nothing is doubled; at the end the host checks it holds exactly 1..N (N from the fixture's
`mdone`), asks again for any hole, and if one is still missing the window is INVALID.

The link can fail in two ways. The port vanishes (a USB cable pulled, the simulated launcher's
unplug: `LinkLost`): the host reopens the same port until --reconnect-timeout, sends
`EVENTS since=K` (K = the last event it holds without a hole) and `MSTATUS`, and carries on;
frames missed meanwhile are expected and recovered. Anything else (a sequence gap while
connected, a garbled frame, an event that cannot be recovered, any loss the fixture reports)
makes the window INVALID: the evidence is incomplete, so it can be neither PASS nor trusted as
FAIL. The record of the windows is tester.records.monitor; the live view tester.render.
"""

import time

from tester.firmware import protocol
from tester.fixture import CommandError
from tester.link import Link, LinkError, LinkLost
from tester.records.monitor import losses

STOP_WAIT_S = 5.0  # after MSTOP, how long the host waits for the fixture's summary
# The detector's own losses, which the fixture can place in time (first_loss_us).
DETECTOR_LOSSES = (protocol.LOST_FIFO_STALLS, protocol.LOST_RING_OVERRUN)


class Window:
    """What the host collected of one MONITOR window.

    Verdict: INVALID when data was lost; ERROR when the window could not be measured to its end
    (the fixture ended it: lid opened); ABORTED when the host was stopped (Ctrl-C, SIGTERM,
    SIGHUP): a partial window."""

    def __init__(self, axis=None, label=None, seconds=0, tags=None):
        self.axis = axis
        self.label = label
        self.seconds = seconds
        self.tags = dict(tags or {})
        self.cmd_id = None
        self.replay_ids = set()  # ids of our EVENTS requests: their event frames are this window's
        self.mstatus_ids = set()  # ids of our MSTATUS/MSTOP requests
        self.mon = None
        self.checks = []
        self.events = {}  # n -> payload
        self.duplicates = 0  # frames of an event already held (replays): dropped
        self.status = None
        self.done = None
        self.disconnects = []  # {"at_s": wall s into the window, "reconnected_after_s": ...}
        self.recovered = 0  # events first received by a replay
        self.missing = []
        self.link_segments = []  # link stats of each connection during the window
        self.error = None
        self.interrupted_by = None  # the signal that stopped the host during this window

    def contiguous(self):
        n = 0
        while (n + 1) in self.events:
            n += 1
        return n

    def add_event(self, p):
        n = p.get("n")
        if n in self.events:
            self.duplicates += 1
            return False
        self.events[n] = p
        if p.get("replay"):
            self.recovered += 1
        return True

    def link_totals(self):
        tot = {"frames": 0, "lost": 0, "garbled": 0, "noise_lines": 0}
        for s in self.link_segments:
            for k in tot:
                tot[k] += s.get(k, 0)
        return tot

    def problems(self):
        out = []
        if self.interrupted_by:
            out.append("stopped before its end: %s" % self.interrupted_by)
        if self.error:
            out.append(self.error)
        if self.done is not None and self.done.get("verdict") == protocol.ERROR:
            out.append("the fixture ended the window as ERROR: %s" % (self.done.get("error") or self.done.get("reason")))
        if self.done is None:
            out.append("the fixture's end-of-monitoring summary never arrived")
            return out
        lost = losses(self.done.get("lost"))
        where = ""
        first = self.done.get("first_loss_us")
        if isinstance(first, list) and len(first) == 2 and first[0] >= 0:
            if first[1] >= 0:
                where = " (the detector's first loss between %.6f s and %.6f s)" % (first[0] / 1e6, first[1] / 1e6)
            else:
                where = " (the detector's first loss after %.6f s)" % (first[0] / 1e6)
        for k in protocol.LOSSES_OF_DATA:
            if lost.get(k):
                out.append("fixture lost data: %s = %d%s" % (k, lost[k], where if k in DETECTOR_LOSSES else ""))
        if self.missing:
            out.append("%d event(s) never received: %s" % (len(self.missing), self.missing[:10]))
        lt = self.link_totals()
        if lt["lost"]:
            out.append("%d frame(s) lost on the link while connected" % lt["lost"])
        if lt["garbled"]:
            out.append("%d garbled frame(s) on the link" % lt["garbled"])
        return out

    def verdict(self):
        if self.interrupted_by:
            return protocol.ABORTED
        if self.done is not None and self.done.get("verdict") == protocol.ERROR:
            return protocol.ERROR
        if self.problems():
            return protocol.INVALID
        if self.events or sum(self.done.get("failures") or []):
            return protocol.FAIL
        return protocol.PASS

    def summary(self, members):
        """The window as the record keeps it; `members` [(channel, pins)]."""
        d = self.done or self.status or {}
        chans = []
        for ch, pins in members:
            f = (d.get("failures") or [0] * 32)[ch]
            g = (d.get("glitches") or [0] * 32)[ch]
            chans.append({"channel": ch, "pins": pins, "failures": f, "glitches": g,
                          "longest_ns": (d.get("longest_ns") or [0] * 32)[ch],
                          "hist": (d.get("hist") or [[]] * 32)[ch] if d.get("hist") else None})
        return {
            "axis": self.axis, "label": self.label, "tags": self.tags, "seconds": self.seconds,
            "elapsed_s": (d.get("elapsed_ms") or 0) / 1000.0, "verdict": self.verdict(), "problems": self.problems(),
            "events": len(self.events), "failures": sum(c["failures"] for c in chans),
            "glitches": sum(c["glitches"] for c in chans), "longest_ns": max([c["longest_ns"] for c in chans] or [0]),
            "channels": chans, "hist_edges_ns": d.get("hist_edges_ns"),  # the fixture's bins, as sent
            "losses": None if d.get("lost") is None else losses(d["lost"]), "first_loss_us": d.get("first_loss_us"),
            "selfcheck": self.checks,
            "disconnects": self.disconnects, "recovered_events": self.recovered, "duplicates_dropped": self.duplicates,
            "link": self.link_totals(), "fixture_verdict": (self.done or {}).get("verdict"),
            "reason": (self.done or {}).get("reason"), "interrupted_by": self.interrupted_by,
            "complete": self.done is not None and not self.interrupted_by and (self.done or {}).get("reason") == "done",
        }


class Monitor:
    """Runs MONITOR windows on a session; reconnects when the port vanishes."""

    def __init__(self, fx, pins, view=None, reconnect_timeout=60.0, timeout=10.0):
        self.fx = fx
        self.pins = pins
        self.view = view
        self.reconnect_timeout = reconnect_timeout
        self.timeout = timeout
        self.frames_decoded = 0
        self.current = None  # the window being monitored (kept by stop() when the host is interrupted)

    # -- the link ---------------------------------------------------------------------------

    def _read(self, w, t0):
        try:
            f = self.fx.link.read_frame(self.timeout)
            self.frames_decoded += 1
            return f
        except LinkLost as e:
            self._reconnect(w, t0, e.msg)
            return None

    def _reconnect(self, w, t0, why):
        link = self.fx.link
        w.link_segments.append(link.stats.as_dict())
        link.close()
        t_lost = time.monotonic()
        if self.view:
            self.view.line("link lost (%s): reconnecting to %s ..." % (why, self.fx.port_name))
        deadline = t_lost + self.reconnect_timeout
        while True:
            try:
                new = Link.open(self.fx.port_name)
                break
            except LinkError:
                if time.monotonic() >= deadline:
                    raise LinkLost("link to the fixture on %s lost and not back within %.0f s" % (self.fx.port_name, self.reconnect_timeout))
                time.sleep(0.1)
        new._next_id = link._next_id + 1000  # ids stay unique across the reconnect
        self.fx.link = new
        w.disconnects.append({"at_s": round(t_lost - t0, 3), "reconnected_after_s": round(time.monotonic() - t_lost, 3),
                              "events_held": len(w.events), "contiguous_upto": w.contiguous()})
        if self.view:
            self.view.line("reconnected: asking for the events after #%d" % w.contiguous())
        self._ask_missed(w)

    def _ask_missed(self, w):
        link = self.fx.link
        w.replay_ids.add(link.send("EVENTS", since=w.contiguous()))
        w.mstatus_ids.add(link.send("MSTATUS"))

    # -- one window -------------------------------------------------------------------------

    def window(self, seconds, axis=None, label=None, tags=None, on_event=None, on_status=None, on_mon=None):
        w = Window(axis, label, seconds, tags)
        self.current = w
        args = {"pins": self.pins, "seconds": int(seconds)}
        if axis:
            args["axis"] = axis
        if label:
            args["label"] = label
        t0 = time.monotonic()
        w.cmd_id = self.fx.link.send("MONITOR", **args)
        while w.done is None:
            f = self._read(w, t0)
            if f is None:
                continue
            had_mon = w.mon is not None
            self._frame(w, f, on_event, on_status)
            if on_mon is not None and not had_mon and w.mon is not None:
                on_mon(w)  # the detector runs from now on
        self._recover(w, t0, on_event)
        w.link_segments.append(self.fx.link.stats.as_dict())
        self.fx.link.reset_stats(seq=self.fx.link.stats.last_seq)
        self.current = None
        return w

    def stop(self, why, wait_s=STOP_WAIT_S):
        """The host is stopping (a signal): end the window in progress on the fixture (MSTOP: its
        currents off, the safe state) and keep what it measured. Bounded by `wait_s`; returns the
        window (marked interrupted) or None if none was running."""
        w, self.current = self.current, None
        if w is None:
            return None
        w.interrupted_by = why
        self.timeout, self.reconnect_timeout = min(self.timeout, wait_s), 0.0  # no long waits now
        deadline = time.monotonic() + wait_s
        try:
            if w.done is None and w.cmd_id is not None:
                w.mstatus_ids.add(self.fx.link.send("MSTOP"))
                while w.done is None and time.monotonic() < deadline:
                    try:
                        f = self.fx.link.read_frame(max(0.05, deadline - time.monotonic()))
                    except LinkError:
                        break
                    self.frames_decoded += 1
                    self._frame(w, f, None, None)
        except (LinkError, CommandError):
            pass  # the link is gone: what arrived is kept
        w.link_segments.append(self.fx.link.stats.as_dict())
        total = int((w.done or {}).get("events") or 0)
        w.missing = [n for n in range(1, total + 1) if n not in w.events]
        return w

    def _frame(self, w, f, on_event, on_status):
        p = f.payload
        k = f.kind
        fid = f.id
        mine = fid == w.cmd_id
        if k == protocol.K_ERR and (mine or fid in w.replay_ids or fid in w.mstatus_ids):
            raise CommandError("MONITOR", p.get("code"), p.get("msg"))
        if k == protocol.K_EVENT and (mine or fid in w.replay_ids):
            if w.add_event(p) and on_event:
                on_event(w, p)
        elif k == protocol.K_CHECK and mine:
            w.checks.append(p)
        elif k == protocol.K_MON and mine:
            w.mon = p
        elif k == protocol.K_MSTATUS and (mine or fid in w.mstatus_ids):
            if p.get("session") not in (None, w.cmd_id):
                return
            w.status = p
            last = p.get("last")
            if not p.get("running") and last and last.get("session") == w.cmd_id:
                w.done = last  # the window ended while we were away
            elif on_status:
                on_status(w, p)
        elif k == protocol.K_MDONE and mine:
            w.done = p
        elif self.fx.on_frame is not None:
            self.fx.on_frame(f)

    def _recover(self, w, t0, on_event):
        """Ask for every hole in 1..N until none is left or the fixture has no more."""
        total = int(w.done.get("events") or 0)
        for _ in range(3):
            missing = [n for n in range(1, total + 1) if n not in w.events]
            if not missing:
                break
            since = missing[0] - 1
            rid = self.fx.link.send("EVENTS", since=since)
            w.replay_ids.add(rid)
            while True:
                f = self._read(w, t0)
                if f is None:
                    continue
                if f.kind == protocol.K_OK and f.id == rid:
                    break
                self._frame(w, f, on_event, None)
        w.missing = [n for n in range(1, total + 1) if n not in w.events]
