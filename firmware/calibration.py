# The fixture's calibration and the mating cycles of its test boards: the CAL, CALINFO and CYCLES
# commands, and what a run checks of both before it measures. The EEPROM layout is in
# fixture_store.py.
#
# Calibration, as the operator does it (the host's `tester calibrate` walks through it):
#   CAL step=zero pins=N   with the zero-reference coupon fitted (it shorts every position right
#                          at the connector footprint): each position then reads only the bulk
#                          of the two test boards, which the runs subtract; a reading above
#                          CAL_BULK_MAX_MOHM means the coupon is not fitted (refused).
#   CAL step=gain          with the reference resistors (the matrix's 4-terminal standards,
#                          board.REF_RESISTORS_MOHM): gain = nominal / measured, averaged.
#   CAL step=store date=YYYYMMDD due=YYYYMMDD   writes it (CRC-32, slot A/B) and reads it back.
# A run then reports R = gain * R_measured - bulk[position].

import fixture_store
import protocol
import spec5861
from sequencer import require_lid_closed, run_args

CAL_BULK_MAX_MOHM = 5.0
CAL_GAIN_TOLERANCE = 0.02  # a reference reading more than 2 % off: not a calibration, a fault
CAL_GAIN_AGREE = 0.005  # the references must agree on the gain within 0.5 %


class Calibrator:
    """The calibration in the EEPROM (read at boot and after every store; the Measurer applies it)
    and the CAL steps taken since the last store. The fixture has no clock: `today` is the last
    date a host sent (RUN, CALINFO date=, CAL step=store), the expiry is judged against it."""

    def __init__(self, fx, link, measurer, tick):
        self.fx = fx
        self.link = link
        self.m = measurer
        self.tick = tick  # the app's watchdog feed and START latch, between measurements
        self.today = None  # type: int | None
        self.state = fixture_store.NONE  # type: str | None
        self.cal = None  # type: fixture_store.Calibration | None
        self.note = None  # type: str | None
        self._zero = None  # type: tuple | None  # step=zero: (positions, [raw mΩ contacts], [raw mΩ anchors])
        self._gain = None  # type: float | None  # step=gain
        self.load()

    def load(self):
        """Read the calibration from the EEPROM; only a valid one is ever applied."""
        store = getattr(self.fx, "store", None)
        self.cal = None
        self.note = None
        if store is None:
            self.state = fixture_store.NONE
        else:
            try:
                self.state, self.cal = store.read_cal()
                self.note = store.note
            except Exception as e:
                self.state = fixture_store.CORRUPT
                self.note = "EEPROM unreadable: %s" % e
        self.m.cal = self.cal

    def summary(self, positions=None):
        if self.cal is None:
            d = {"state": self.state}  # type: dict
        else:
            d = self.cal.summary(self.today, positions)
        d["today"] = self.today
        if self.note:
            d["note"] = self.note
        return d

    def set_today(self, date):
        if not fixture_store.date_ok(date):
            raise protocol.ProtocolError(protocol.E_RANGE, "date=%d is not a date (YYYYMMDD)" % date)
        self.today = date

    def for_run(self, positions, allow_expired):
        """The calibration a run of `positions` measures with: its summary for the run frame
        (applied, overridden, expiry_checked), set on the Measurer. Raises ProtocolError (E_CAL)
        for anything but a valid one unless `allow_expired`."""
        info = self.summary(positions)
        state = info["state"]
        c = self.cal
        if state != fixture_store.VALID and not allow_expired:
            if state == fixture_store.EXPIRED and c is not None:
                why = "the calibration expired on %d (today %s)" % (c.due, self.today)
            elif state == fixture_store.INCOMPLETE and c is not None:
                why = "the calibration covers %d positions, the run has %d" % (c.positions, positions)
            elif state == fixture_store.CORRUPT:
                why = "the stored calibration is corrupt (CRC mismatch)"
            else:
                why = "the fixture has no calibration"
            raise protocol.ProtocolError(protocol.E_CAL, why + ": calibrate the fixture, or run with allow_expired_cal=1")
        info["overridden"] = state != fixture_store.VALID
        info["applied"] = c is not None and state in (fixture_store.VALID, fixture_store.EXPIRED, fixture_store.INCOMPLETE)
        info["expiry_checked"] = self.today is not None
        self.m.cal = c if info["applied"] else None
        return info

    # -- commands ----------------------------------------------------------------------------

    def info(self, cmd_id, args):
        """CALINFO [date=]: the stored calibration, read again, with its bulk per position."""
        if "date" in args:
            self.set_today(args["date"])
        self.load()
        d = {"id": cmd_id, "calibration": self.summary()}
        c = self.cal
        if c is not None:
            d["bulk_mohm"] = [c.bulk_uohm[i] / 1000.0 for i in range(c.positions)]
            d["anchor_bulk_mohm"] = [c.anchor_bulk_mohm(1), c.anchor_bulk_mohm(2)]
        self.link.send(protocol.K_OK, d)

    def step(self, cmd_id, args):
        """CAL step=zero|gain|store."""
        step = args["step"]
        if step == "store":
            self._store(cmd_id, args)
            return
        require_lid_closed(self.fx)
        m = self.m
        saved = m.cal
        m.cal = None  # calibration readings are raw
        try:
            if step == "zero":
                self._zero_step(cmd_id, args)
            else:
                self._gain_step(cmd_id, args)
        finally:
            m.cal = saved
            self.fx.safe()

    def _frame(self, cmd_id, step, key, n, r):
        self.link.send(
            protocol.K_CAL,
            {"id": cmd_id, "step": step, key: n, "r_mohm": None if r.r_mohm is None else round(r.r_mohm, 5),
             "u_mohm": None if r.u_mohm is None else round(r.u_mohm, 6), "fault": r.fault},
        )

    def _zero_step(self, cmd_id, args):
        """The zero-reference coupon: every position's and both anchor plates' test-board bulk."""
        if "pins" not in args:
            raise protocol.ProtocolError(protocol.E_ARG, "CAL step=zero needs pins=")
        fx = self.fx
        m = self.m
        pins, _, cur = run_args(args, fx.board.MAX_POSITIONS)
        fx.source.set_limit_ma(spec5861.current_limit_ma(pins))
        contacts = []
        anchors = []
        for p in range(1, pins + 1):
            self.tick()  # the watchdog, a latched START
            r = m.contact(p, cur)
            self._frame(cmd_id, "zero", "pin", p, r)
            contacts.append(_coupon_check("position %d" % p, r))
        for a in range(1, spec5861.ANCHORS + 1):
            r = m.anchor(a, cur)
            self._frame(cmd_id, "zero", "anchor", a, r)
            anchors.append(_coupon_check("anchor plate %d" % a, r))
        self._zero = (pins, contacts, anchors)
        self.link.send(
            protocol.K_OK,
            {"id": cmd_id, "step": "zero", "positions": pins, "bulk_min_mohm": round(min(contacts), 5),
             "bulk_max_mohm": round(max(contacts), 5), "anchors_mohm": [round(x, 5) for x in anchors]},
        )

    def _gain_step(self, cmd_id, args):
        """The reference resistors (4-terminal standards) on the matrix: the gain."""
        fx = self.fx
        cur = args.get("current_ma", spec5861.LLCR_CURRENT_MA_DEFAULT)
        if cur > spec5861.LLCR_CURRENT_MA_MAX:
            raise protocol.ProtocolError(
                protocol.E_RANGE, "current_ma=%d: the low-level method allows at most %d mA" % (cur, spec5861.LLCR_CURRENT_MA_MAX))
        fx.source.set_limit_ma(spec5861.LLCR_CURRENT_MA_MAX)
        refs = fx.board.REF_RESISTORS_MOHM
        gains = []
        for k in range(len(refs)):
            self.tick()
            r = self.m.reference(k, cur)
            self._frame(cmd_id, "gain", "ref", k + 1, r)
            if r.r_mohm is None or r.r_mohm <= 0:
                raise protocol.ProtocolError(protocol.E_HW, "reference %d: no reading (%s)" % (k + 1, r.fault))
            g = refs[k] / r.r_mohm
            if abs(g - 1.0) > CAL_GAIN_TOLERANCE:
                raise protocol.ProtocolError(
                    protocol.E_HW, "reference %d reads %.4f mOhm for %.3f: more than %d %% off, a fault, not a gain"
                    % (k + 1, r.r_mohm, refs[k], int(CAL_GAIN_TOLERANCE * 100)))
            gains.append(g)
        if max(gains) - min(gains) > CAL_GAIN_AGREE:
            raise protocol.ProtocolError(protocol.E_HW, "the references disagree on the gain: %s" % gains)
        # weighted by resistance: the larger standard reads with the smaller relative noise
        self._gain = sum(refs) / sum(refs[k] / gains[k] for k in range(len(refs)))
        self.link.send(protocol.K_OK, {"id": cmd_id, "step": "gain", "gain": self._gain, "gains": gains})

    def _store(self, cmd_id, args):
        """The zero and gain steps written to the EEPROM and read back."""
        if self._zero is None or self._gain is None:
            raise protocol.ProtocolError(protocol.E_STATE, "CAL step=store needs step=zero and step=gain first")
        if "date" not in args or "due" not in args:
            raise protocol.ProtocolError(protocol.E_ARG, "CAL step=store needs date= and due=")
        date, due = args["date"], args["due"]
        if not fixture_store.date_ok(date) or not fixture_store.date_ok(due) or due <= date:
            raise protocol.ProtocolError(protocol.E_RANGE, "date=%d due=%d: two dates YYYYMMDD, due after date" % (date, due))
        pins, contacts, anchors = self._zero
        g = self._gain
        bulk = [0] * fixture_store.CAL_BULK
        for i in range(pins):
            if i < fixture_store.CAL_BULK - 2:
                bulk[i] = int(g * contacts[i] * 1000 + 0.5)
        for k in range(2):
            bulk[fixture_store.CAL_BULK - 2 + k] = int(g * anchors[k] * 1000 + 0.5)
        cal = fixture_store.Calibration(g, bulk, min(pins, fixture_store.CAL_BULK - 2), date, due, simulated=self.fx.simulated)
        self.fx.store.write_cal(cal)
        self._zero = None
        self._gain = None
        self.today = date
        self.load()
        if self.cal is None or self.cal.crc != cal.crc:
            raise protocol.ProtocolError(protocol.E_HW, "the calibration did not read back from the EEPROM")
        self.link.send(protocol.K_OK, {"id": cmd_id, "step": "store", "calibration": self.summary()})


def _coupon_check(what, r):
    if r.fault is not None or r.r_mohm is None:
        raise protocol.ProtocolError(protocol.E_STATE, "%s: %s: is the zero-reference coupon fitted?" % (what, r.fault))
    if r.r_mohm > CAL_BULK_MAX_MOHM or r.r_mohm < -0.01:
        raise protocol.ProtocolError(
            protocol.E_STATE,
            "%s reads %.3f mOhm, not a test board's bulk (0..%.0f mOhm): is the zero-reference coupon fitted instead of a connector?"
            % (what, r.r_mohm, CAL_BULK_MAX_MOHM))
    return r.r_mohm if r.r_mohm > 0 else 0.0


# -- mating cycles of the fixture's test boards (fixture_store.py: CYCLES_WARN, CYCLES_LIMIT) ----


def cycles_count(fx):
    """The counter, None when the EEPROM cannot be read."""
    try:
        return fx.store.cycles()
    except Exception:
        return None


def count_cycle(fx, link, allow_worn):
    """A run mates the pair once more: refused (ProtocolError, E_WORN) at the rated cycles unless
    `allow_worn`, else counted, with a warning near the end. Returns the counter's summary for the
    run frame (after this run's count)."""
    n = cycles_count(fx)
    cyc = fixture_store.cycles_summary(n if n is not None else 0)
    if n is None:
        cyc["state"] = "unknown"
        return cyc
    if n >= fixture_store.CYCLES_LIMIT and not allow_worn:
        raise protocol.ProtocolError(
            protocol.E_WORN,
            "the fixture's test-board connectors have %d mating cycles, rated %d (5861 spec 8.5): replace them "
            "and reset the count (CYCLES reset=1), or run with allow_worn=1" % (n, fixture_store.CYCLES_LIMIT),
        )
    try:
        cyc = fixture_store.cycles_summary(fx.store.bump_cycles())
    except Exception as e:
        link.send(protocol.K_LOG, {"level": "error", "msg": "mating-cycle counter not written: %s" % e})
    cyc["overridden"] = n >= fixture_store.CYCLES_LIMIT
    if cyc["count"] >= fixture_store.CYCLES_WARN:
        link.send(
            protocol.K_LOG,
            {
                "level": "warning",
                "msg": "test-board connectors: %d of %d rated mating cycles: plan their replacement"
                % (cyc["count"], fixture_store.CYCLES_LIMIT),
            },
        )
    return cyc


def cycles(fx, link, cmd_id, args):
    """CYCLES [reset=1]."""
    if args.get("reset") == 1:
        n = fx.store.reset_cycles()
    else:
        n = fx.store.cycles()
    d = fixture_store.cycles_summary(n)
    d["id"] = cmd_id
    link.send(protocol.K_OK, d)
