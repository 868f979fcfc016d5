"""The record of a contact resistance run (`tester run`), its measurements.csv, and the host's
verdict.

The host never reports PASS on its own authority alone: PASS needs every contact and both
anchor plates measured, the self-check passed, no frame lost or garbled, and the fixture's own
`done` saying PASS.
"""

import csv
import io

from tester import exitcodes, interrupts
from tester.firmware import protocol, spec5861
from tester.records.base import Record, utc_now

KIND = "contact_resistance"
CSV_NAME = "measurements.csv"

# r_raw_mohm: before the fixture's calibration (gain, test-board bulk) was applied.
CONTACT_FIELDS = ("pin", "r_mohm", "u_mohm", "emf_uv", "limit_mohm", "verdict", "fault", "i_ma", "n", "fixture_us", "r_raw_mohm")
ANCHOR_FIELDS = ("anchor", "r_mohm", "u_mohm", "emf_uv", "limit_mohm", "verdict", "fault", "i_ma", "n", "fixture_us", "r_raw_mohm")

CSV_COLUMNS = (
    "kind",
    "position",
    "quantity",
    "value",
    "unit",
    "uncertainty",
    "emf_uv",
    "limit",
    "verdict",
    "fault",
    "i_ma",
    "samples",
    "stage",
    "current_ma",
    "open_circuit_mv_max",
    "method",
    "adc_rate_sps",
    "adc_gain",
    "serial",
    "fixture_id",
    "simulated",
)


class RunRecord(Record):
    """Collects the frames of one run into a record."""

    CSV_NAME = CSV_NAME

    def __init__(self, positions, stage, serial=None, simulated=False, started=None, lot=None, operator=None):
        super().__init__(KIND, positions, simulated, serial, lot, operator, started)
        self.interrupted = False
        self.data.update({
            "stage": stage,
            "source": "host",
            "fixture_time_s": None,
            "contacts": [],
            "anchors": [],
            "shorts": [],
            "selfcheck": [],
            "failed": [],
            "conditions": {},
            "limits": {},
            "link": {"frames": 0, "lost": 0, "garbled": 0, "noise_lines": 0},
            "spec": {"series": spec5861.SERIES, "spec_no": spec5861.SPEC_NO},
            "done": None,
            "log": [],
        })

    # -- filling it -----------------------------------------------------------------------

    def add_frame(self, f):
        """Account for one frame of the run (a tester.link.Frame)."""
        p = f.payload
        k = f.kind
        if k == protocol.K_RUN:
            d = self.data
            d["source"] = p.get("source", "host")
            d["limits"] = p.get("limits") or {}
            cond = dict(p.get("conditions") or {})
            cond.setdefault("rating_ma", spec5861.contact_rating_ma(d["positions"]))
            d["conditions"] = cond
            d["calibration"] = cond.get("calibration")  # which one, and whether it was overridden
            if p.get("simulated"):
                d["simulated"] = True
        elif k == protocol.K_CHECK:
            self.data["selfcheck"].append(_pick(p, ("name", "value", "unit", "lo", "hi", "ok")))
        elif k == protocol.K_SHORT:
            self.data["shorts"].append({"side": p.get("side"), "pins": list(p.get("pins") or []), "ohm": p.get("ohm")})
        elif k == protocol.K_CONTACT:
            self.data["contacts"].append(_pick(p, CONTACT_FIELDS))
        elif k == protocol.K_ANCHOR:
            self.data["anchors"].append(_pick(p, ANCHOR_FIELDS))
        elif k == protocol.K_DONE:
            self.data["done"] = _pick(p, ("verdict", "failed", "error", "fixture_us"))
            self.data["failed"] = list(p.get("failed") or [])
            if p.get("fixture_us") is not None:
                self.data["fixture_time_s"] = p["fixture_us"] / 1e6
        elif k == protocol.K_LOG:
            self.data["log"].append({"level": p.get("level"), "msg": p.get("msg")})
            del self.data["log"][:-200]

    def set_link(self, stats, noise=None):
        self.data["link"] = stats.as_dict() if hasattr(stats, "as_dict") else dict(stats)
        if noise:
            self.data["link"]["noise_tail"] = list(noise)[-20:]

    # -- the verdict ----------------------------------------------------------------------

    def problems(self):
        """Why this record could not be a PASS, whatever the fixture said (empty if none)."""
        d = self.data
        out = []
        n = d["positions"]
        pins = [c.get("pin") for c in d["contacts"]]
        missing = sorted(set(range(1, n + 1)) - set(pins))
        if missing:
            out.append("%d of %d contacts not measured (%s)" % (len(missing), n, _ranges(missing)))
        if len(pins) != len(set(pins)) or any(p not in range(1, n + 1) for p in pins):
            out.append("contact results duplicated or out of range")
        anchors = sorted(a.get("anchor") for a in d["anchors"])
        if anchors != list(range(1, spec5861.ANCHORS + 1)):
            out.append("anchor plates measured: %s, expected 1 and 2" % (anchors or "none"))
        if not d["selfcheck"] or not all(c.get("ok") for c in d["selfcheck"]):
            out.append("fixture self-check missing or failed")
        link = d["link"]
        if link.get("lost"):
            out.append("%d frames lost on the link" % link["lost"])
        if link.get("garbled"):
            out.append("%d garbled frames on the link" % link["garbled"])
        for c in d["contacts"] + d["anchors"]:
            if c.get("verdict") != protocol.PASS or c.get("r_mohm") is None:
                out.append("a measurement is not PASS")
                break
            if c.get("limit_mohm") is not None and c["r_mohm"] > c["limit_mohm"]:
                out.append("a resistance above its limit was marked PASS")
                break
        if d["shorts"]:
            out.append("shorts found")
        return out

    def finish(self, error=None, interrupted=False):
        """Decide the host's verdict (PASS, FAIL, ERROR or ABORTED) and return it."""
        d = self.data
        self.interrupted = interrupted
        d["duration_s"] = round((utc_now() - self.started_dt).total_seconds(), 3)
        done = d["done"]
        d["complete"] = done is not None and error is None and not interrupted
        if interrupted:  # True (Ctrl-C) or the signal's name
            name = interrupted if isinstance(interrupted, str) else "SIGINT"
            d["verdict"] = protocol.ABORTED
            d["interrupted_by"] = name
            d["error"] = error or "%s: the run was aborted" % interrupts.describe(name)
            d["complete"] = False
            return d["verdict"]
        if done is None or error is not None:
            d["verdict"] = protocol.ERROR
            d["error"] = error or "the run ended without the fixture's final result"
            d["complete"] = False
            return d["verdict"]
        fv = done.get("verdict")
        if fv == protocol.PASS:
            problems = self.problems()
            if problems:
                d["verdict"] = protocol.ERROR
                d["error"] = "the fixture said PASS but the host cannot confirm it: " + "; ".join(problems)
            else:
                d["verdict"] = protocol.PASS
        elif fv == protocol.FAIL:
            d["verdict"] = protocol.FAIL
            link = d["link"]
            if link.get("lost") or link.get("garbled"):
                d["error"] = "link trouble during the run: %d frames lost, %d garbled (the failure list may be incomplete)" % (
                    link.get("lost", 0),
                    link.get("garbled", 0),
                )
        elif fv == protocol.ABORTED:
            d["verdict"] = protocol.ABORTED
            d["error"] = done.get("error") or "the fixture aborted the run"
            d["complete"] = False
        else:
            d["verdict"] = protocol.ERROR
            d["error"] = done.get("error") or "the fixture reported an error"
        return d["verdict"]

    def failures(self):
        """Human-readable reasons, one per failing pin, anchor plate, short or check."""
        d = self.data
        out = []
        for c in d["selfcheck"]:
            if not c.get("ok"):
                out.append("self-check %s: %s %s outside %s..%s" % (c.get("name"), c.get("value"), c.get("unit") or "", c.get("lo"), c.get("hi")))
        for s in d["shorts"]:
            a, b = (s.get("pins") or [None, None])[:2]
            out.append("pins %s-%s: short on the %s board (%s)" % (a, b, s.get("side"), _ohm(s.get("ohm"))))
        for c in d["contacts"]:
            if c.get("verdict") != protocol.PASS:
                why = _why(c)
                if c.get("fault") == protocol.FAULT_SHORT:
                    mates = ["pin %s on the %s board" % (b if a == c.get("pin") else a, s.get("side"))
                             for s in d["shorts"] for a, b in [tuple((s.get("pins") or [None, None])[:2])]
                             if c.get("pin") in (a, b)]
                    if mates:
                        why = "short to " + ", ".join(mates)
                out.append("pin %s: %s" % (c.get("pin"), why))
        for a in d["anchors"]:
            if a.get("verdict") != protocol.PASS:
                out.append("anchor plate %s: %s" % (a.get("anchor"), _why(a)))
        return out

    def exit_code(self):
        v = self.data["verdict"]
        if v == protocol.ABORTED and not self.interrupted:
            return exitcodes.FIXTURE  # the fixture aborted by itself (lid opened, STOP): not the operator's Ctrl-C
        if v == protocol.ABORTED:
            return exitcodes.signal_exit_code(self.data.get("interrupted_by"))
        return {protocol.PASS: exitcodes.PASS, protocol.FAIL: exitcodes.FAIL}.get(v, exitcodes.FIXTURE)

    # -- writing --------------------------------------------------------------------------

    def csv_text(self):
        d = self.data
        cond = d["conditions"]
        adc = cond.get("adc") or {}
        common = {
            "stage": d["stage"],
            "current_ma": cond.get("current_ma"),
            "open_circuit_mv_max": cond.get("open_circuit_mv_max"),
            "method": cond.get("method"),
            "adc_rate_sps": adc.get("rate_sps"),
            "adc_gain": adc.get("gain"),
            "serial": d["serial"] or "",
            "fixture_id": d["fixture"].get("id"),
            "simulated": "true" if d["simulated"] else "false",
        }
        buf = io.StringIO()
        w = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n")
        w.writeheader()
        for kind, key, items in ((protocol.K_CONTACT, "pin", d["contacts"]), (protocol.K_ANCHOR, "anchor", d["anchors"])):
            for m in items:
                row = dict(common)
                row.update(
                    kind=kind,
                    position=m.get(key),
                    quantity="resistance",
                    value=_cell(m.get("r_mohm")),
                    unit="mohm",
                    uncertainty=_cell(m.get("u_mohm")),
                    emf_uv=_cell(m.get("emf_uv")),
                    limit=_cell(m.get("limit_mohm")),
                    verdict=m.get("verdict"),
                    fault=m.get("fault") or "",
                    i_ma=_cell(m.get("i_ma")),
                    samples=_cell(m.get("n")),
                )
                w.writerow(row)
        return buf.getvalue()


def _pick(p, keys):
    return {k: p.get(k) for k in keys}


def _cell(v):
    return "" if v is None else v


def _ohm(v):
    if v is None:
        return "? ohm"
    return "%.3g ohm" % v


def _why(m):
    fault = m.get("fault")
    r = m.get("r_mohm")
    lim = m.get("limit_mohm")
    if fault == protocol.FAULT_OPEN:
        return "open (no continuity)"
    if fault == protocol.FAULT_PROBE:
        return "probe fault: a sense lead of the fixture is open (fixture needs repair, not the connector)"
    if fault == protocol.FAULT_SHORT:
        return "short to a neighbour"
    if r is not None and lim is not None:
        return "%s: %.2f mOhm > limit %.0f mOhm" % (fault or protocol.FAULT_HIGH, r, lim)
    return "%s" % (fault or m.get("verdict"))


def _ranges(nums):
    out = []
    start = prev = None
    for n in nums:
        if start is None:
            start = prev = n
        elif n == prev + 1:
            prev = n
        else:
            out.append("%d" % start if start == prev else "%d-%d" % (start, prev))
            start = prev = n
    if start is not None:
        out.append("%d" % start if start == prev else "%d-%d" % (start, prev))
    return ", ".join(out)
