# The test run: self-check, opens and shorts, every contact, both anchor plates. Streams each
# result as a frame while it works and returns the verdict; the same sequence runs when the host
# sends RUN and when the operator presses START. Its pieces also answer SELFCHECK and MEASURE.

import time

import protocol
import relay_map
import spec5861
from measure import Measurer


class Aborted(Exception):
    pass


class RunError(Exception):
    """The fixture cannot go on (self-check failed, lid opened). Not a connector failure."""


def _r(x, nd=4):
    return None if x is None else round(x, nd)


def run_args(args, max_positions):
    """(positions, stage, current_ma) of RUN, SELFCHECK, MEASURE, CONFIG or CAL step=zero, checked
    against the series and this fixture; raises ProtocolError."""
    pins = args["pins"]
    why = spec5861.positions_error(pins, max_positions)
    if why:
        raise protocol.ProtocolError(protocol.E_RANGE, "pins=%d: %s" % (pins, why))
    stage = args.get("stage", "initial")
    cur = args.get("current_ma", spec5861.LLCR_CURRENT_MA_DEFAULT)
    lim = spec5861.current_limit_ma(pins)
    if cur > lim:
        if lim == spec5861.LLCR_CURRENT_MA_MAX:
            why = "the low-level method allows at most %d mA" % lim
        else:
            why = "the %d-position rating is %d mA per contact" % (pins, lim)
        raise protocol.ProtocolError(protocol.E_RANGE, "current_ma=%d: %s" % (cur, why))
    return pins, stage, cur


def require_lid_closed(fx):
    if not fx.panel.lid_closed():
        raise protocol.ProtocolError(protocol.E_STATE, "the lid is open: close it to measure")


class Sequencer:
    def __init__(self, fx, link, measurer=None):
        self.fx = fx
        self.link = link
        self.m = measurer or Measurer(fx)
        self.abort_check = None  # callable() -> True to abort; set by the app

    def _check_live(self):
        if self.abort_check is not None and self.abort_check():
            raise Aborted()
        if not self.fx.panel.lid_closed():
            raise RunError("lid opened during the run")

    def run(self, cmd_id, positions, stage, current_ma, serial, source, calibration=None, cycles=None):
        """Run the whole test. Returns the verdict. Leaves the fixture safe whatever happens.

        `calibration`: what the app decided about the calibration (id, date, due, state, applied,
        overridden), recorded in the run frame's conditions; the Measurer applies it.
        `cycles`: the mating-cycle counter of the fixture's test boards after this run's count."""
        fx = self.fx
        link = self.link
        t0 = time.ticks_us()
        limit_contact = spec5861.CONTACT_LIMIT_MOHM
        limit_anchor = spec5861.ANCHOR_LIMIT_MOHM[stage]
        rating = spec5861.contact_rating_ma(positions)
        cond = {
            "current_ma": current_ma,
            "current_limit_ma": spec5861.current_limit_ma(positions),
            "rating_ma": rating,
            "anchor_rating_ma": spec5861.ANCHOR_RATING_MA,
            "open_circuit_mv_max": fx.board.SOURCE_COMPLIANCE_MV,
            "method": spec5861.METHOD,
            "short_test_current_ma": spec5861.SHORT_TEST_CURRENT_MA,
            "short_limit_ohm": spec5861.SHORT_LIMIT_OHM,
        }
        cond.update(self.m.conditions())
        if calibration is not None:
            cond["calibration"] = calibration
        if cycles is not None:
            cond["mating_cycles"] = cycles
        link.send(
            protocol.K_RUN,
            {
                "id": cmd_id,
                "source": source,
                "positions": positions,
                "stage": stage,
                "serial": serial,
                "limits": {"contact_mohm": limit_contact, "anchor_mohm": limit_anchor},
                "conditions": cond,
                "simulated": fx.simulated,
            },
        )
        failed = []
        verdict = protocol.PASS
        error = None
        fx.panel.leds(False, False, True)
        try:
            fx.source.set_limit_ma(spec5861.current_limit_ma(positions))
            self._selfcheck(cmd_id, current_ma)
            shorted = self._shorts(cmd_id, positions)
            for p, _ in shorted:
                if p not in failed:
                    failed.append(p)
            verdict = self._contacts(cmd_id, positions, current_ma, limit_contact, shorted, failed)
            fx.source.set_limit_ma(spec5861.current_limit_ma(positions, anchor=True))
            v2 = self._anchors(cmd_id, current_ma, limit_anchor, failed)
            if v2 == protocol.ERROR or verdict == protocol.ERROR:
                verdict = protocol.ERROR
                error = "fixture probe fault: a sense lead of the fixture is open (see faults)"
            elif v2 == protocol.FAIL or failed:
                verdict = protocol.FAIL
        except Aborted:
            verdict = protocol.ABORTED
            error = "aborted by the host"
        except RunError as e:
            verdict = protocol.ERROR
            error = str(e)
        except Exception as e:  # a driver failure (ADC checksum, relay refusal): fixture fault
            verdict = protocol.ERROR
            error = "%s: %s" % (type(e).__name__, e)
        finally:
            fx.safe()
        fx.panel.leds(verdict == protocol.PASS, verdict != protocol.PASS, verdict == protocol.ERROR)
        link.send(
            protocol.K_DONE,
            {
                "id": cmd_id,
                "verdict": verdict,
                "failed": failed,
                "error": error,
                "fixture_us": time.ticks_diff(time.ticks_us(), t0),
            },
        )
        return verdict

    # -- steps -------------------------------------------------------------------------------

    def _step(self, cmd_id, name, total):
        self.link.send(protocol.K_STEP, {"id": cmd_id, "step": name, "total": total})

    def _check(self, cmd_id, name, value, unit, lo, hi, ok):
        self.link.send(
            protocol.K_CHECK,
            {"id": cmd_id, "name": name, "value": value, "unit": unit, "lo": lo, "hi": hi, "ok": ok},
        )
        return ok

    def _selfcheck(self, cmd_id, current_ma):
        """Prove the fixture measures before it measures a connector."""
        fx = self.fx
        b = fx.board
        refs = b.REF_RESISTORS_MOHM
        self._step(cmd_id, "selfcheck", 3 + len(refs))
        ok = True
        ok &= self._check(cmd_id, "lid_closed", 1 if fx.panel.lid_closed() else 0, "", 1, 1, fx.panel.lid_closed())
        dev = fx.adc.read_id() >> 5
        ok &= self._check(cmd_id, "adc_id", dev, "", 0, 0, dev == 0)
        clamp = self.m.open_circuit_ok(spec5861.SHORT_TEST_CURRENT_MA)
        ok &= self._check(cmd_id, "open_circuit_clamps", 1 if clamp else 0, "", 1, 1, clamp)
        if not ok:
            raise RunError("fixture self-check failed")
        for k in range(len(refs)):
            r = self.m.reference(k, current_ma)
            nom = refs[k]
            lo = nom * (1 - b.REF_TOLERANCE_PCT / 100)
            hi = nom * (1 + b.REF_TOLERANCE_PCT / 100)
            good = r.r_mohm is not None and lo <= r.r_mohm <= hi
            ok &= self._check(cmd_id, "reference_%d" % (k + 1), _r(r.r_mohm), "mOhm", _r(lo), _r(hi), good)
            self._check_live()
        if not ok:
            raise RunError("fixture self-check failed: reference resistor out of tolerance")

    def _shorts(self, cmd_id, positions):
        """Neighbour isolation on both boards. A bridge on one board also shows from the other
        through two contacts; the side that reads lower is where the bridge is."""
        pairs = spec5861.neighbour_pairs(positions)
        self._step(cmd_id, "shorts", 2 * len(pairs))
        found = {}  # type: dict
        i_ma = spec5861.SHORT_TEST_CURRENT_MA
        for side in (relay_map.PLUG, relay_map.RECEPTACLE):
            for a, b in pairs:
                self._check_live()
                ohm = self.m.isolation_ohm(side, a, b, i_ma)
                if ohm is not None and ohm < spec5861.SHORT_LIMIT_OHM:
                    prev = found.get((a, b))
                    if prev is None or ohm < prev[1]:
                        found[(a, b)] = (side, ohm)
        shorted = []
        for (a, b), (side, ohm) in sorted(found.items()):
            self.link.send(
                protocol.K_SHORT,
                {"id": cmd_id, "side": relay_map.SIDE_NAMES[side], "pins": [a, b], "ohm": _r(ohm)},
            )
            shorted.append((a, b))
            shorted.append((b, a))
        return shorted

    def _contacts(self, cmd_id, positions, current_ma, limit, shorted, failed):
        self._step(cmd_id, "contacts", positions)
        verdict = protocol.PASS
        bridged = [p for p, _ in shorted]
        for pin in range(1, positions + 1):
            self._check_live()
            r = self.m.contact(pin, current_ma)
            if r.fault is None and pin in bridged:
                r.fault = protocol.FAULT_SHORT
            v = self.judge(r, limit)
            if v == protocol.ERROR:
                verdict = protocol.ERROR
            elif v == protocol.FAIL and pin not in failed:
                failed.append(pin)
            self.send_result(protocol.K_CONTACT, "pin", pin, cmd_id, r, limit, v)
        return verdict

    def _anchors(self, cmd_id, current_ma, limit, failed):
        self._step(cmd_id, "anchors", spec5861.ANCHORS)
        verdict = protocol.PASS
        for a in range(1, spec5861.ANCHORS + 1):
            self._check_live()
            r = self.m.anchor(a, current_ma)
            v = self.judge(r, limit)
            if v == protocol.ERROR:
                verdict = protocol.ERROR
            elif v == protocol.FAIL:
                verdict = protocol.FAIL if verdict == protocol.PASS else verdict
                failed.append("A%d" % a)
            self.send_result(protocol.K_ANCHOR, "anchor", a, cmd_id, r, limit, v)
        return verdict

    @staticmethod
    def judge(r, limit):
        """A 4-wire result against its limit: PASS, FAIL (open, high, short) or ERROR (the
        fixture's own probe fault). Marks r.fault FAULT_HIGH when the value is over the limit."""
        if r.fault is None and r.r_mohm is not None and r.r_mohm > limit:
            r.fault = protocol.FAULT_HIGH
        if r.fault is None:
            return protocol.PASS
        return protocol.ERROR if r.fault == protocol.FAULT_PROBE else protocol.FAIL

    def send_result(self, kind, key, number, cmd_id, r, limit, verdict):
        self.link.send(
            kind,
            {
                "id": cmd_id,
                key: number,
                "r_mohm": _r(r.r_mohm),
                "r_raw_mohm": _r(getattr(r, "raw_mohm", None)),
                "u_mohm": _r(r.u_mohm, 5),
                "emf_uv": _r(r.emf_uv, 2),
                "limit_mohm": limit,
                "verdict": verdict,
                "fault": r.fault,
                "i_ma": r.i_ma,
                "n": r.n,
                "fixture_us": r.fixture_us,
            },
        )

    # -- single commands -------------------------------------------------------------------

    def selfcheck(self, cmd_id, args):
        """SELFCHECK: the run's self-check alone; ok {ok: bool}."""
        pins, _, cur = run_args(args, self.fx.board.MAX_POSITIONS)
        require_lid_closed(self.fx)
        self.fx.source.set_limit_ma(spec5861.current_limit_ma(pins))
        try:
            self._selfcheck(cmd_id, cur)
            ok = True
        except RunError:
            ok = False
        except Aborted:
            raise protocol.ProtocolError(protocol.E_ABORT, "SELFCHECK aborted by the host")
        finally:
            self.fx.safe()
        self.link.send(protocol.K_OK, {"id": cmd_id, "ok": ok})

    def measure(self, cmd_id, args):
        """MEASURE: one contact or one anchor plate, judged as a run judges it."""
        pins, _, cur = run_args(args, self.fx.board.MAX_POSITIONS)
        require_lid_closed(self.fx)
        if ("pin" in args) == ("anchor" in args):
            raise protocol.ProtocolError(protocol.E_ARG, "MEASURE needs exactly one of pin= or anchor=")
        m = self.m
        stage = args.get("stage", "initial")
        if "pin" in args and args["pin"] > pins:
            raise protocol.ProtocolError(protocol.E_RANGE, "pin=%d: a %d-position pair has pins 1..%d" % (args["pin"], pins, pins))
        self.fx.source.set_limit_ma(spec5861.current_limit_ma(pins, anchor="anchor" in args))
        try:
            if "pin" in args:
                r = m.contact(args["pin"], cur)
                lim = spec5861.CONTACT_LIMIT_MOHM
                kind, key, n = protocol.K_CONTACT, "pin", args["pin"]
            else:
                r = m.anchor(args["anchor"], cur)
                lim = spec5861.ANCHOR_LIMIT_MOHM[stage]
                kind, key, n = protocol.K_ANCHOR, "anchor", args["anchor"]
            self.send_result(kind, key, n, cmd_id, r, lim, self.judge(r, lim))
        finally:
            self.fx.safe()
        self.link.send(protocol.K_OK, {"id": cmd_id})
