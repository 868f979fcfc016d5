"""Discontinuity monitoring on the host: one monitored window (the firmware's MONITOR), the
recovery after a host disconnect, the verdict, the record and the events CSV.

A window is one MONITOR command. The host keeps every failure event by its event number `n`
(1, 2, ... per window): live frames and replays (`EVENTS since=K`) land in the same dict, so
nothing is doubled; at the end the host checks it holds exactly 1..N (N from the fixture's
`mdone`), asks again for any hole, and if one is still missing the window is INVALID.

The link can fail in two ways. The port vanishes (a USB cable pulled, the simulated launcher's
unplug): the host reopens the same port until --reconnect-timeout, sends `EVENTS since=K` (K =
the last event it holds without a hole) and `MSTATUS`, and carries on; frames missed meanwhile
are expected and recovered. Anything else (a sequence gap while connected, a garbled frame, an
event that cannot be recovered, any loss the fixture reports) makes the window INVALID: the
evidence is incomplete, so it can be neither PASS nor trusted as FAIL.

Vibration sweep (5861 spec 8.6, "10~55~10 Hz / 1 min, 1.5 mm p-p"): read as MIL-STD-202
method 201 (where the 1.52 mm total excursion comes from): the frequency varied uniformly
(linearly) from 10 to 55 and back to 10 Hz in one minute, 30 s each way. `--sweep log` gives the
logarithmic reading (IEC 60068-2-6 style, same end points and period). The fixture does not drive
the shaker: the sweep frequency of an event is computed from its time into the axis, assuming
the shaker's sweep starts with the axis.
"""

import csv
import io
import json
import math
import time
from pathlib import Path

from tester.exitcodes import FixtureError
from tester.firmware import protocol
from tester.fixture import CommandError
from tester.link import Link, LinkError
from tester.record import atomic_write, host_info, iso, make_dirs, utc_now

# INVALID: data lost. ERROR: the window could not be measured to its end (the fixture ended it:
# lid opened). ABORTED: stopped by the host (Ctrl-C, SIGTERM, SIGHUP): a partial window.
PASS, FAIL, INVALID, ERROR, ABORTED = "PASS", "FAIL", "INVALID", "ERROR", "ABORTED"
STOP_WAIT_S = 5.0  # after MSTOP, how long the host waits for the fixture's summary
SWEEP_LO_HZ, SWEEP_HI_HZ, SWEEP_PERIOD_S = 10.0, 55.0, 60.0
EVENT_COLUMNS = ("window", "seq", "channel", "pins", "axis", "direction", "shock", "t_us", "t_axis_s", "sweep_hz",
                 "length_ns", "open_at_end", "simulated")


def sweep_hz(t_s, mode="linear"):
    """Sweep frequency at t_s seconds into the axis: 10 -> 55 Hz in 30 s, back to 10 in 30 s."""
    ph = (t_s % SWEEP_PERIOD_S) / (SWEEP_PERIOD_S / 2)
    u = ph if ph <= 1.0 else 2.0 - ph
    if mode == "log":
        return SWEEP_LO_HZ * (SWEEP_HI_HZ / SWEEP_LO_HZ) ** u
    return SWEEP_LO_HZ + (SWEEP_HI_HZ - SWEEP_LO_HZ) * u


def worst(verdicts):
    vs = list(verdicts)
    for v in (ABORTED, ERROR, INVALID, FAIL):
        if v in vs:
            return v
    return PASS


class Window:
    """What the host collected of one MONITOR window."""

    def __init__(self, axis=None, label=None, seconds=0, tags=None):
        self.axis = axis
        self.label = label
        self.seconds = seconds
        self.tags = dict(tags or {})
        self.cmd_id = None
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
        if self.done is not None and self.done.get("verdict") == ERROR:
            out.append("the fixture ended the window as ERROR: %s" % (self.done.get("error") or self.done.get("reason")))
        if self.done is None:
            out.append("the fixture's end-of-monitoring summary never arrived")
            return out
        lost = self.done.get("lost") or {}
        where = ""
        first = self.done.get("first_loss_us")
        if isinstance(first, list) and len(first) == 2 and first[0] >= 0:
            if first[1] >= 0:
                where = " (the detector's first loss between %.6f s and %.6f s)" % (first[0] / 1e6, first[1] / 1e6)
            else:
                where = " (the detector's first loss after %.6f s)" % (first[0] / 1e6)
        for k in ("fifo_stalls", "ring_overrun_records", "event_buffer_dropped", "log_overflow"):
            if lost.get(k):
                w = where if k in ("fifo_stalls", "ring_overrun_records") else ""
                out.append("fixture lost data: %s = %d%s" % (k, lost[k], w))
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
            return ABORTED
        if self.done is not None and self.done.get("verdict") == ERROR:
            return ERROR
        if self.problems():
            return INVALID
        if self.events or sum(self.done.get("failures") or []):
            return FAIL
        return PASS

    def summary(self, members):
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
            "losses": d.get("lost"), "first_loss_us": d.get("first_loss_us"), "selfcheck": self.checks,
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
        self.decode_s = 0.0
        self.current = None  # the window being monitored (kept by stop() when the host is interrupted)

    # -- the link ---------------------------------------------------------------------------

    def _read(self, w, t0):
        try:
            f = self.fx.link.read_frame(self.timeout)
            self.frames_decoded += 1
            return f
        except LinkError as e:
            if "lost" not in e.msg:
                raise
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
                    raise LinkError("link to the fixture on %s lost and not back within %.0f s" % (self.fx.port_name, self.reconnect_timeout))
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
        w.replay_ids = getattr(w, "replay_ids", set())
        w.replay_ids.add(link.send("EVENTS", since=w.contiguous()))
        w.mstatus_ids = getattr(w, "mstatus_ids", set())
        w.mstatus_ids.add(link.send("MSTATUS"))

    # -- one window -------------------------------------------------------------------------

    def window(self, seconds, axis=None, label=None, tags=None, on_event=None, on_status=None, on_mon=None):
        w = Window(axis, label, seconds, tags)
        self.current = w
        w.replay_ids, w.mstatus_ids = set(), set()
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


def tag_event(w, p, sweep=None, simulated=False):
    """The CSV row of one event (window tags, axis time, sweep frequency)."""
    t_s = p.get("t_us", 0) / 1e6
    return {
        "window": w.label or w.axis or "",
        "seq": p.get("n"),
        "channel": p.get("ch"),
        "pins": " ".join(str(x) for x in p.get("pins") or []),
        "axis": w.tags.get("axis", w.axis or ""),
        "direction": w.tags.get("direction", ""),
        "shock": w.tags.get("shock", ""),
        "t_us": p.get("t_us"),
        "t_axis_s": round(t_s, 6),
        "sweep_hz": round(sweep_hz(t_s, sweep), 2) if sweep else "",
        "length_ns": p.get("len_ns"),
        "open_at_end": bool(p.get("open_at_end")),
        "simulated": "true" if simulated else "false",
    }


def events_csv(rows):
    buf = io.StringIO()
    wr = csv.DictWriter(buf, fieldnames=EVENT_COLUMNS, lineterminator="\n")
    wr.writeheader()
    for r in rows:
        wr.writerow(r)
    return buf.getvalue()


class MonitorRecord:
    """The JSON record of a monitor / vibration / shock procedure, and its events CSV."""

    def __init__(self, kind, positions, simulated, serial=None, lot=None, operator=None):
        self.started_dt = utc_now()
        self.t0 = time.monotonic()
        self.prior_s = 0.0
        self.windows = []
        self.rows = []
        self.data = {
            "schema": 1, "kind": kind, "verdict": None, "simulated": bool(simulated), "positions": positions,
            "serial": serial, "lot": lot, "operator": operator, "started": iso(self.started_dt), "duration_s": None, "complete": False, "error": None,
            "definition": None, "channels": None, "conditions": {}, "windows": [], "stages": {},
            "events": [], "totals": {}, "firmware": None, "fixture": None, "host": host_info(), "scenario": None,
        }

    @classmethod
    def load(cls, directory):
        """A record written by write(), to carry on with (tester vibration --resume)."""
        from datetime import datetime

        data = json.loads((Path(directory) / "record.json").read_text())
        rec = cls(data["kind"], data["positions"], data.get("simulated"), data.get("serial"))
        rec.data.update(data)
        rec.started_dt = datetime.fromisoformat(data["started"].replace("Z", "+00:00"))
        rec.prior_s = float(data.get("duration_s") or 0.0)  # time spent before this resume
        rec.rows = list(data.get("events") or [])
        rec.data["events"] = list(rec.rows)
        return rec

    def set_fixture(self, fx):
        h = fx.hello or {}
        self.data["firmware"] = {"version": h.get("firmware"), "protocol": h.get("protocol")}
        self.data["fixture"] = fx.info()
        self.data["simulated"] = self.data["simulated"] or bool(h.get("simulated"))

    def set_scenario(self, scenario):
        if scenario is not None:
            self.data["scenario"] = {"path": scenario.path, "content": scenario.text, "normalized": scenario.sim}

    def add_window(self, w, sweep=None):
        if w.mon and self.data["definition"] is None:
            self.data["definition"] = w.mon.get("definition")
            self.data["channels"] = [{"channel": ch, "pins": pins} for ch, pins in w.mon.get("channels", [])]
        members = [(c["channel"], c["pins"]) for c in self.data["channels"] or []]
        self.windows.append(w)
        self.data["windows"].append(w.summary(members))
        for n in sorted(w.events):
            row = tag_event(w, w.events[n], sweep, self.data["simulated"])
            self.rows.append(row)
            self.data["events"].append(row)

    def verdicts(self):
        vs = [x["verdict"] for x in self.data["windows"]]
        vs += [s.get("verdict") for s in self.data["stages"].values() if s.get("verdict") in (PASS, FAIL, INVALID, ABORTED)]
        return vs

    def finish(self, error=None, interrupted_by=None):
        """The verdict: ABORTED when a signal stopped the host (`interrupted_by`, with what the
        windows measured until then in `measured_verdict`), else the worst window or stage."""
        d = self.data
        d["duration_s"] = round(self.prior_s + time.monotonic() - self.t0, 3)
        if interrupted_by:
            from tester import interrupts

            error = error or "%s: the procedure was stopped, the record holds what was measured" % interrupts.describe(interrupted_by)
            d["interrupted_by"] = interrupted_by
        d["error"] = error
        d["complete"] = error is None
        tot = {"events": len(self.rows), "failures": 0, "glitches": 0, "longest_ns": 0, "per_channel": {}}
        for w in d["windows"]:
            tot["failures"] += w["failures"]
            tot["glitches"] += w["glitches"]
            tot["longest_ns"] = max(tot["longest_ns"], w["longest_ns"])
            for c in w["channels"]:
                pc = tot["per_channel"].setdefault(str(c["channel"]), {"pins": c["pins"], "failures": 0, "glitches": 0, "longest_ns": 0})
                pc["failures"] += c["failures"]
                pc["glitches"] += c["glitches"]
                pc["longest_ns"] = max(pc["longest_ns"], c["longest_ns"])
        d["totals"] = tot
        d["failing"] = [{"channel": int(ch), "pins": v["pins"], "failures": v["failures"], "longest_ns": v["longest_ns"]}
                        for ch, v in tot["per_channel"].items() if v["failures"]]
        if interrupted_by:
            # What the windows showed until the stop (a failure seen is a failure; no PASS here).
            vs = self.verdicts()
            d["measured_verdict"] = (FAIL if tot["failures"] or FAIL in vs else INVALID if INVALID in vs or ERROR in vs
                                     else "no failure seen before the stop")
            d["verdict"] = ABORTED
        elif error is not None:
            d["verdict"] = worst(self.verdicts() + [INVALID])
        else:
            d["verdict"] = worst(self.verdicts())

    def to_json(self):
        return json.dumps(self.data, indent=1, sort_keys=False)

    def write(self, directory):
        directory = make_dirs(directory)
        atomic_write(directory / "record.json", self.to_json() + "\n")
        atomic_write(directory / "events.csv", events_csv(self.rows))
        return directory


class MonitorView:
    """Live view: a status line per STATUS_EVERY_S of fixture time (in place on a terminal),
    each failure event (the first MAX_EVENT_LINES of a window), link health."""

    STATUS_EVERY_S = 60
    MAX_EVENT_LINES = 20

    def __init__(self, view):
        self.view = view
        self.shown = 0
        self.last_s = -1e9

    def start_window(self, w, desc):
        self.shown = 0
        self.last_s = -1e9
        self.view.line("monitoring %s: %d s" % (desc, w.seconds))

    def on_event(self, w, p):
        if self.shown < self.MAX_EVENT_LINES:
            self.view.line("  EVENT #%d  channel %d (pins %s)  at %.6f s  %d ns%s" % (
                p["n"], p["ch"], "-".join(str(x) for x in p.get("pins") or []), p["t_us"] / 1e6, p["len_ns"],
                "  (recovered)" if p.get("replay") else ""))
        elif self.shown == self.MAX_EVENT_LINES:
            self.view.line("  ... more events: see events.csv")
        self.shown += 1

    def on_status(self, w, p):
        el = (p.get("elapsed_ms") or 0) / 1000.0
        if el - self.last_s < self.STATUS_EVERY_S and el < w.seconds:
            return
        self.last_s = el
        fails = p.get("failures") or []
        per = ", ".join("ch%d:%d" % (i, n) for i, n in enumerate(fails) if n) or "none"
        lost = p.get("lost") or {}
        lt = w.link_totals()
        self.view.line("  %7.0f/%d s  failures %s  glitches %d  longest %d ns  link: %d reconnect(s), %d lost, %d garbled, fixture losses %d" % (
            el, w.seconds, per, sum(p.get("glitches") or []), max(p.get("longest_ns") or [0]), len(w.disconnects),
            lt["lost"], lt["garbled"], sum(v for k, v in lost.items() if k != "link_bytes_dropped")))


def fixture_error(msg):
    return FixtureError(msg)


_ = math  # (log sweep uses ** only)
