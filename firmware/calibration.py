# Identity, calibration and mating cycles: the IDENT, CAL, CALINFO and CYCLES commands of the
# application (app.py loads this module when one of them arrives). The EEPROM layout is in
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

CAL_BULK_MAX_MOHM = 5.0
CAL_GAIN_TOLERANCE = 0.02  # a reference reading more than 2 % off: not a calibration, a fault
CAL_GAIN_AGREE = 0.005  # the references must agree on the gain within 0.5 %


def handle(app, cmd_id, verb, args):
    if verb == "IDENT":
        ident(app, cmd_id, args)
    elif verb == "CAL":
        calibrate(app, cmd_id, args)
    elif verb == "CALINFO":
        calinfo(app, cmd_id, args)
    else:  # CYCLES
        if args.get("reset") == 1:
            n = app.fx.store.reset_cycles()
        else:
            n = app.fx.store.cycles()
        d = fixture_store.cycles_summary(n)
        d["id"] = cmd_id
        app.link.send(protocol.K_OK, d)


def ident(app, cmd_id, args):
    if "id" in args:
        if not fixture_store.id_ok(args["id"]):
            raise protocol.ProtocolError(protocol.E_RANGE, "id=%s: 1..16 printable characters" % args["id"])
        app.fx.store.write_id(args["id"])
        app.fx.fixture_id = args["id"]
        app.fixture_id = args["id"]
    stored = app.fx.store.read_id()
    app.link.send(protocol.K_OK, {"id": cmd_id, "fixture_id": app.fixture_id, "stored": stored})

def calinfo(app, cmd_id, args):
    if "date" in args:
        if not fixture_store.date_ok(args["date"]):
            raise protocol.ProtocolError(protocol.E_RANGE, "date=%d is not a date (YYYYMMDD)" % args["date"])
        app.today = args["date"]
    app.load_cal()
    d = {"id": cmd_id, "calibration": app.cal_summary()}
    if app.cal is not None:
        c = app.cal
        d["bulk_mohm"] = [c.bulk_uohm[i] / 1000.0 for i in range(c.positions)]
        d["anchor_bulk_mohm"] = [c.anchor_bulk_mohm(1), c.anchor_bulk_mohm(2)]
    app.link.send(protocol.K_OK, d)

def _cal_frame(app, cmd_id, step, key, n, r):
    app.link.send(
        protocol.K_CAL,
        {"id": cmd_id, "step": step, key: n, "r_mohm": None if r.r_mohm is None else round(r.r_mohm, 5),
         "u_mohm": None if r.u_mohm is None else round(r.u_mohm, 6), "fault": r.fault},
    )

def calibrate(app, cmd_id, args):
    step = args["step"]
    m = app.seq.m
    if step == "store":
        _cal_store(app, cmd_id, args)
        return
    app._lid_closed()
    saved = m.cal
    m.cal = None  # calibration readings are raw
    try:
        if step == "zero":
            if "pins" not in args:
                raise protocol.ProtocolError(protocol.E_ARG, "CAL step=zero needs pins=")
            pins, _, cur = app._validate_run(args)
            app.fx.source.set_limit_ma(spec5861.current_limit_ma(pins))
            contacts = []
            anchors = []
            for p in range(1, pins + 1):
                app.tick()  # the watchdog, a latched START
                r = m.contact(p, cur)
                _cal_frame(app, cmd_id, "zero", "pin", p, r)
                contacts.append(_coupon_check("position %d" % p, r))
            for a in range(1, spec5861.ANCHORS + 1):
                r = m.anchor(a, cur)
                _cal_frame(app, cmd_id, "zero", "anchor", a, r)
                anchors.append(_coupon_check("anchor plate %d" % a, r))
            app._zero = (pins, contacts, anchors)
            app.link.send(
                protocol.K_OK,
                {"id": cmd_id, "step": "zero", "positions": pins, "bulk_min_mohm": round(min(contacts), 5),
                 "bulk_max_mohm": round(max(contacts), 5), "anchors_mohm": [round(x, 5) for x in anchors]},
            )
        else:  # gain: the reference resistors (4-terminal standards) on the matrix
            cur = args.get("current_ma", spec5861.LLCR_CURRENT_MA_DEFAULT)
            if cur > spec5861.LLCR_CURRENT_MA_MAX:
                raise protocol.ProtocolError(
                    protocol.E_RANGE, "current_ma=%d: the low-level method allows at most %d mA" % (cur, spec5861.LLCR_CURRENT_MA_MAX))
            app.fx.source.set_limit_ma(spec5861.LLCR_CURRENT_MA_MAX)
            refs = app.fx.board.REF_RESISTORS_MOHM
            gains = []
            for k in range(len(refs)):
                app.tick()
                r = m.reference(k, cur)
                _cal_frame(app, cmd_id, "gain", "ref", k + 1, r)
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
            app._gain = sum(refs) / sum(refs[k] / gains[k] for k in range(len(refs)))
            app.link.send(protocol.K_OK, {"id": cmd_id, "step": "gain", "gain": app._gain, "gains": gains})
    finally:
        m.cal = saved
        app.fx.safe()

def _coupon_check(what, r):
    if r.fault is not None or r.r_mohm is None:
        raise protocol.ProtocolError(protocol.E_STATE, "%s: %s: is the zero-reference coupon fitted?" % (what, r.fault))
    if r.r_mohm > CAL_BULK_MAX_MOHM or r.r_mohm < -0.01:
        raise protocol.ProtocolError(
            protocol.E_STATE,
            "%s reads %.3f mOhm, not a test board's bulk (0..%.0f mOhm): is the zero-reference coupon fitted instead of a connector?"
            % (what, r.r_mohm, CAL_BULK_MAX_MOHM))
    return r.r_mohm if r.r_mohm > 0 else 0.0

def _cal_store(app, cmd_id, args):
    if app._zero is None or app._gain is None:
        raise protocol.ProtocolError(protocol.E_STATE, "CAL step=store needs step=zero and step=gain first")
    if "date" not in args or "due" not in args:
        raise protocol.ProtocolError(protocol.E_ARG, "CAL step=store needs date= and due=")
    date, due = args["date"], args["due"]
    if not fixture_store.date_ok(date) or not fixture_store.date_ok(due) or due <= date:
        raise protocol.ProtocolError(protocol.E_RANGE, "date=%d due=%d: two dates YYYYMMDD, due after date" % (date, due))
    pins, contacts, anchors = app._zero
    g = app._gain
    bulk = [0] * fixture_store.CAL_BULK
    for i in range(pins):
        if i < fixture_store.CAL_BULK - 2:
            bulk[i] = int(g * contacts[i] * 1000 + 0.5)
    for k in range(2):
        bulk[fixture_store.CAL_BULK - 2 + k] = int(g * anchors[k] * 1000 + 0.5)
    cal = fixture_store.Calibration(g, bulk, min(pins, fixture_store.CAL_BULK - 2), date, due, simulated=app.fx.simulated)
    app.fx.store.write_cal(cal)
    app._zero = None
    app._gain = None
    app.today = date
    app.load_cal()
    if app.cal is None or app.cal.crc != cal.crc:
        raise protocol.ProtocolError(protocol.E_HW, "the calibration did not read back from the EEPROM")
    app.link.send(protocol.K_OK, {"id": cmd_id, "step": "store", "calibration": app.cal_summary()})

