"""The record of a monitor, vibration or shock procedure (its windows, events and stages), its
events.csv, and the procedure's verdict.

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
import time
from pathlib import Path

from tester import interrupts
from tester.firmware import protocol
from tester.records.base import RECORD_NAME, Record, parse_iso

CSV_NAME = "events.csv"
SWEEP_LO_HZ, SWEEP_HI_HZ, SWEEP_PERIOD_S = 10.0, 55.0, 60.0
EVENT_COLUMNS = ("window", "seq", "channel", "pins", "axis", "direction", "shock", "t_us", "t_axis_s", "sweep_hz",
                 "length_ns", "open_at_end", "simulated")

# Loss counters under the names fixtures and records used before the vocabulary was settled in
# protocol.LOST_*: read as today's names, so older records (import, report, --resume) and an
# older fixture's frames count the same losses.
LOSS_ALIASES = {"event_buffer_dropped": protocol.LOST_EVENT_LOG}


def losses(lost):
    """A `lost` dict (a frame's or a record's) under today's counter names."""
    return {LOSS_ALIASES.get(k, k): v for k, v in (lost or {}).items()}


def sweep_hz(t_s, mode="linear"):
    """Sweep frequency at t_s seconds into the axis: 10 -> 55 Hz in 30 s, back to 10 in 30 s."""
    ph = (t_s % SWEEP_PERIOD_S) / (SWEEP_PERIOD_S / 2)
    u = ph if ph <= 1.0 else 2.0 - ph
    if mode == "log":
        return SWEEP_LO_HZ * (SWEEP_HI_HZ / SWEEP_LO_HZ) ** u
    return SWEEP_LO_HZ + (SWEEP_HI_HZ - SWEEP_LO_HZ) * u


def worst(verdicts):
    """The procedure's verdict from its parts': ABORTED, ERROR, INVALID, FAIL, then PASS."""
    vs = list(verdicts)
    for v in (protocol.ABORTED, protocol.ERROR, protocol.INVALID, protocol.FAIL):
        if v in vs:
            return v
    return protocol.PASS


def tag_event(w, p, sweep=None, simulated=False):
    """The CSV row of one event (window tags, axis time, sweep frequency); `w` the window
    (tester.monitor_session.Window) it arrived in, `p` its event frame's payload."""
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


class MonitorRecord(Record):
    """The JSON record of a monitor / vibration / shock procedure, and its events CSV."""

    CSV_NAME = CSV_NAME
    JSON_INDENT = 1  # thousands of events: kept compact

    def __init__(self, kind, positions, simulated, serial=None, lot=None, operator=None):
        super().__init__(kind, positions, simulated, serial, lot, operator)
        self.t0 = time.monotonic()
        self.prior_s = 0.0
        self.windows = []
        self.rows = []
        self.data.update({
            "definition": None, "channels": None, "conditions": {}, "windows": [], "stages": {}, "events": [], "totals": {},
        })

    @classmethod
    def load(cls, directory):
        """A record written by write(), to carry on with (tester vibration --resume)."""
        data = json.loads((Path(directory) / RECORD_NAME).read_text())
        for w in data.get("windows") or []:
            if w.get("losses"):
                w["losses"] = losses(w["losses"])
        rec = cls(data["kind"], data["positions"], data.get("simulated"), data.get("serial"))
        rec.data.update(data)
        rec.started_dt = parse_iso(data["started"])
        rec.prior_s = float(data.get("duration_s") or 0.0)  # time spent before this resume
        rec.rows = list(data.get("events") or [])
        rec.data["events"] = list(rec.rows)
        return rec

    def add_window(self, w, sweep=None):
        """One monitored window (tester.monitor_session.Window): its summary and its events."""
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
        vs += [s.get("verdict") for s in self.data["stages"].values()
               if s.get("verdict") in (protocol.PASS, protocol.FAIL, protocol.INVALID, protocol.ABORTED)]
        return vs

    def finish(self, error=None, interrupted_by=None):
        """The verdict: ABORTED when a signal stopped the host (`interrupted_by`, with what the
        windows measured until then in `measured_verdict`), else the worst window or stage."""
        d = self.data
        d["duration_s"] = round(self.prior_s + time.monotonic() - self.t0, 3)
        if interrupted_by:
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
            d["measured_verdict"] = (protocol.FAIL if tot["failures"] or protocol.FAIL in vs
                                     else protocol.INVALID if protocol.INVALID in vs or protocol.ERROR in vs
                                     else "no failure seen before the stop")
            d["verdict"] = protocol.ABORTED
        elif error is not None:
            d["verdict"] = worst(self.verdicts() + [protocol.INVALID])
        else:
            d["verdict"] = worst(self.verdicts())

    def csv_text(self):
        return events_csv(self.rows)
