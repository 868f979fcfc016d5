"""Firmware drivers against the simulated fixture_v1, on the real MicroPython interpreter."""

import json


PRELUDE = """
import json, simhw, simclock, relay_map, spec5861
import board
from drivers.relay_matrix import RelayError
from drivers.ads1262 import ADCError
from drivers.current_source import SourceError
def out(**kw):
    print("RESULT " + json.dumps(kw))
"""

FIXTURE = PRELUDE + """
import fixture
simhw.world().chain.keep_log = True  # the relay event log, off by default to spare the heap
fx = fixture.Fixture()
w = simhw.world()
M = board.MAX_POSITIONS
def node(side, pin):
    return relay_map.contact_node(M, side, pin)
def refuse(fn):
    try:
        fn()
    except (RelayError, SourceError, ADCError) as e:
        return type(e).__name__ + ": " + str(e)
    return None
def measure(hi, lo, ma=100.0, n=8):
    fx.relays.connect(relay_map.kelvin(hi, lo))
    v = []
    for pol in (0, 1):
        fx.source.set(ma, pol)
        fx.source.on()
        fx.adc.start()
        s = 0.0
        for i in range(n):
            s += fx.adc.read_uv()
        fx.adc.stop()
        fx.source.off()
        v.append(s / n)
    i = fx.source.setpoint_ma() / 1000.0
    return (v[0] - v[1]) / 2 / i / 1000.0, (v[0] + v[1]) / 2
fx.source.set_limit_ma(spec5861.current_limit_ma(40))
"""


def result(r):
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise AssertionError("no RESULT line:\n" + r.stdout + r.stderr)


def test_fixture_builds_in_safe_state(mpy):
    r = mpy(FIXTURE + """
out(simulated=fx.simulated, uid=fx.uid, faults=fx.faults, closed=list(fx.relays.closed()),
    coils=len(w.chain.coils), g_n=w.chain.g_n, src=w.source_on(), mon=w.mon_en,
    adc_id=fx.adc.read_id(), safe=fx.safe(), n_relays=fx.n_relays,
    board=fx.board.NAME, expander_bank1=w.exp.bank1_seen)
""")
    d = result(r)
    assert d["simulated"] is True
    assert len(d["uid"]) == 16 and int(d["uid"], 16) > 0
    assert d["faults"] == []
    assert d["closed"] == [] and d["coils"] == 0 and d["g_n"] == 0
    assert d["src"] is False and d["mon"] == 0
    assert d["adc_id"] & 0xE0 == 0
    assert d["safe"] is True
    assert d["n_relays"] == (2 * 82 + 4) * 4
    assert d["board"] == "fixture_v1" and d["expander_bank1"] is False


def test_chain_never_drives_garbage_at_power_up(mpy):
    """Power-up contents of the TPIC6C595 registers are random: the driver must keep G high until
    zeros are latched. Garbage is planted in the model before the firmware starts."""
    r = mpy(PRELUDE + """
w = simhw.world()
w.chain.keep_log = True
for i in range(w.chain.n):
    w.chain.sr[i] = 0xA5
    w.chain.store[i] = 0xFF
import gc
gc.collect()
import fixture
fx = fixture.Fixture()
out(ons=[e for e in w.chain.log if e[2]], coils=len(w.chain.coils),
    store=sum(w.chain.store), latches=len(w.chain.latches), g_n=w.chain.g_n)
""")
    d = result(r)
    assert d["ons"] == [], "a relay coil was energised during start-up"
    assert d["coils"] == 0 and d["store"] == 0 and d["g_n"] == 0
    assert d["latches"] >= 1


def test_relay_legality_refusals(mpy):
    r = mpy(FIXTURE + """
a, b, c = node(0, 3), node(1, 3), node(0, 4)
n_latch = len(w.chain.latches)
res = {}
res["hi_lo"] = refuse(lambda: fx.relays.connect((a * 4 + relay_map.HI_F, a * 4 + relay_map.LO_S)))
res["two_nodes"] = refuse(lambda: fx.relays.connect((a * 4 + relay_map.HI_F, c * 4 + relay_map.HI_F)))
res["range"] = refuse(lambda: fx.relays.connect((fx.n_relays,)))
res["neg"] = refuse(lambda: fx.relays.connect((-1,)))
res["latched_on_refusal"] = len(w.chain.latches) - n_latch
fx.relays.connect(relay_map.kelvin(a, b))
res["ok"] = list(fx.relays.closed())
fx.source.set(10.0, 0)
fx.source.on()
res["hot"] = refuse(lambda: fx.relays.connect(relay_map.kelvin(c, b)))
res["hot_open"] = refuse(lambda: fx.relays.connect(()))
res["closed_after"] = list(fx.relays.closed())
fx.source.off()
fx.relays.connect(())
res["hot_switches"] = len(w.chain.hot_switches)
res["isvalue"] = isinstance(RelayError("x"), ValueError)
out(**res)
""")
    d = result(r)
    assert "plug contact 3" in d["hi_lo"] and "HI and a LO" in d["hi_lo"]
    assert "two nodes" in d["two_nodes"] and "plug contact 4" in d["two_nodes"] and "HI_F" in d["two_nodes"]
    assert "out of range" in d["range"] and "out of range" in d["neg"]
    assert d["latched_on_refusal"] == 0
    assert len(d["ok"]) == 4
    assert d["hot"] and "current on" in d["hot"]
    assert d["hot_open"] and "current on" in d["hot_open"]
    assert d["closed_after"] == d["ok"]
    assert d["hot_switches"] == 0
    assert d["isvalue"] is True


def test_break_before_make_in_relay_log(mpy):
    r = mpy(FIXTURE + """
old = relay_map.kelvin(node(0, 1), node(1, 1))
new = relay_map.kelvin(node(0, 1), node(1, 2))   # keeps the HI pair, moves the LO pair
fx.relays.connect(old)
t0 = len(w.chain.log)
fx.relays.connect(new)
ev = w.chain.log[t0:]
# at the moment each new coil energises, is any old contact still made?
overlap = []
for t, bit, on in ev:
    if on:
        for b in old:
            if b not in new and w.chain.made(b, t):
                overlap.append(b)
out(ev=ev, old=list(old), new=list(new), overlap=overlap, release=board.RELAY_RELEASE_US,
    made=sorted(w.chain.made_bits()), closed=list(fx.relays.closed()))
""")
    d = result(r)
    offs = [e for e in d["ev"] if not e[2]]
    ons = [e for e in d["ev"] if e[2]]
    assert {e[1] for e in offs} == set(d["old"]) - set(d["new"])
    assert {e[1] for e in ons} == set(d["new"]) - set(d["old"])
    assert max(e[0] for e in offs) + d["release"] <= min(e[0] for e in ons)
    assert d["overlap"] == []
    assert d["made"] == sorted(d["new"]) == d["closed"]  # settled: all made after connect returns


def test_adc_checksum_error_detected(mpy):
    r = mpy(FIXTURE + """
fx.adc.start()
a = fx.adc.read_uv()
w.adc.corrupt_checksums(1)
err = refuse(fx.adc.read_uv)
b = fx.adc.read_uv()
out(err=err, a=a, b=b, conv=w.adc.conversions)
""")
    d = result(r)
    assert d["err"] and "ADCError" in d["err"] and "checksum" in d["err"]
    assert isinstance(d["b"], float)


def test_adc_timeout_and_conversion_time(mpy):
    r = mpy(FIXTURE + """
err = refuse(lambda: fx.adc.read_uv(5000))   # not started: DRDY never falls
res = {"err": err}
for rate, gain, filt in ((1200, 32, "sinc4"), (400, 8, "sinc1"), (20, 1, "fir"), (38400, 1, "sinc4")):
    fx.adc.configure(rate, gain, filt)
    t = simclock.now_us()
    fx.adc.start()
    fx.adc.read_uv()
    res["%s/%s" % (rate, filt)] = (fx.adc.conversion_time_us(), simclock.now_us() - t)
    fx.adc.stop()
bad = None
try:
    fx.adc.configure(1200, 64)
except ValueError as e:
    bad = str(e)
res["bad_gain"] = bad
out(**res)
""")
    d = result(r)
    assert d["err"] and "DRDY" in d["err"]
    assert d["1200/sinc4"][0] == 3758 and d["400/sinc1"][0] == 2925 and d["20/fir"][0] == 52200
    for k in ("1200/sinc4", "400/sinc1", "20/fir", "38400/sinc4"):
        latency, took = d[k]
        assert latency <= took <= latency + 1500, (k, latency, took)
    assert "gain" in d["bad_gain"]


def test_source_refusals_and_dac_frame(mpy):
    r = mpy(FIXTURE + """
res = {}
res["limit40"] = spec5861.current_limit_ma(40)
fx.source.set_limit_ma(50)
res["over_limit"] = refuse(lambda: fx.source.set(60.0, 0))
res["negative"] = refuse(lambda: fx.source.set(-1.0, 0))
fx.source.set_limit_ma(1000)
res["over_fs"] = refuse(lambda: fx.source.set(150.0, 0))
fx.source.set(50.0, 1)
res["dac"] = (w.dac.code, w.dac.pd, w.dac.frames, w.dac.mode_errors)
res["pol"] = w.exp_levels[board.X_SRC_POL]
fx.source.on()
res["while_on"] = refuse(lambda: fx.source.set(10.0, 0))
res["lower_limit_on"] = refuse(lambda: fx.source.set_limit_ma(20))
res["on"] = (fx.source.is_on(), w.source_on())
fx.source.off()
res["off"] = (fx.source.is_on(), w.source_on())
out(**res)
""")
    d = result(r)
    assert d["limit40"] == 100
    assert "above the limit" in d["over_limit"]
    assert "negative" in d["negative"]
    assert "full scale" in d["over_fs"]
    assert d["dac"][0] == 32768 and d["dac"][1] == 0 and d["dac"][3] == 0
    assert d["pol"] == 1
    assert "only while the source is off" in d["while_on"]
    assert d["lower_limit_on"] and "SourceError" in d["lower_limit_on"]
    assert d["on"] == [True, True] and d["off"] == [False, False]


SCEN = {
    "positions": 40, "contact_mohm": 30.0, "anchor_mohm": 8.0, "spread_mohm": 1.5, "seed": 7,
    "pins": {"17": {"contact_mohm": 74.0}, "5": {"open": True}, "9": {"sense_open": "plug"}},
    "anchors": {"2": {"contact_mohm": 25.0}},
    "shorts": [{"side": "plug", "pins": [21, 22], "ohm": 0.2}],
    "fixture": {"bulk_mohm": 0.0, "emf_uv": 2.0},
}


def test_known_resistors_through_matrix_both_polarities(mpy):
    r = mpy(FIXTURE + """
res = {}
for i, nom in enumerate(board.REF_RESISTORS_MOHM):
    res["ref%d" % i] = measure(relay_map.ref_node(M, i, 0), relay_map.ref_node(M, i, 1)) + (nom,)
res["p17"] = measure(node(0, 17), node(1, 17)) + (w.dut.truth[("contact", 17)],)
res["p3"] = measure(node(0, 3), node(1, 3)) + (w.dut.truth[("contact", 3)],)
res["a2"] = measure(relay_map.anchor_node(M, 0, 2), relay_map.anchor_node(M, 1, 2)) + (w.dut.truth[("anchor", 2)],)
res["short"] = measure(node(0, 21), node(0, 22), ma=1.0)
res["hot"] = len(w.chain.hot_switches)
out(**res)
""", scenario=SCEN)
    d = result(r)
    for k in ("ref0", "ref1", "p17", "p3", "a2"):
        r_m, emf, truth = d[k]
        assert abs(r_m - truth) < 0.005, (k, r_m, truth)  # 5 µΩ: the noise at 100 mA, 8 readings
    assert d["p17"][2] == 74.0 and d["a2"][2] == 25.0
    assert abs(d["ref0"][1]) < 20  # thermal EMF (µV) reported, reversal removed it from R
    assert abs(d["short"][0] - 200.0) < 1.0  # 0.2 ohm bridge between plug 21 and 22
    assert d["hot"] == 0


def test_thermal_emf_cancels_by_reversal(mpy):
    scen = dict(SCEN, pins={"3": {"contact_mohm": 30.0, "emf_uv": 40.0}})
    r = mpy(FIXTURE + """
out(m=measure(node(0, 3), node(1, 3)))
""", scenario=scen)
    r_m, emf = result(r)["m"]
    assert abs(r_m - 30.0) < 0.005
    assert 35 < abs(emf) < 45  # the contact's 40 µV (+ the fixture's 2 µV) shows as EMF


def test_open_contact_and_open_sense_lead(mpy):
    r = mpy(FIXTURE + """
res = {}
def bias_read(hi, lo):
    fx.relays.connect(relay_map.kelvin(hi, lo))
    fx.adc.sensor_bias(True)
    fx.adc.start()
    v = fx.adc.read_uv()
    o = fx.adc.overrange
    fx.adc.stop()
    fx.adc.sensor_bias(False)
    return v, o
res["open_bias"] = bias_read(node(0, 5), node(1, 5))        # contact open, leads intact
res["probe_bias"] = bias_read(node(0, 9), node(1, 9))       # plug sense lead of pin 9 broken
res["good_bias"] = bias_read(node(0, 3), node(1, 3))
fx.relays.connect(relay_map.kelvin(node(0, 5), node(1, 5)))
fx.source.set(100.0, 0)
fx.source.on()
fx.adc.start()
res["open_v"] = fx.adc.read_uv()
res["open_comply"] = fx.source.in_compliance()
fx.adc.stop()
fx.source.off()
fx.relays.connect(relay_map.kelvin(node(0, 3), node(1, 3)))
fx.source.on()
res["good_comply"] = fx.source.in_compliance()
fx.source.off()
out(**res)
""", scenario=SCEN)
    d = result(r)
    fs_uv = 2.5e6 / 32
    assert abs(d["open_bias"][0]) < 50 and d["open_bias"][1] is False
    assert abs(d["good_bias"][0]) < 50 and d["good_bias"][1] is False
    assert d["probe_bias"][0] > 0.99 * fs_uv and d["probe_bias"][1] is True
    assert d["open_comply"] is True and abs(d["open_v"] - 20000) < 100  # 20 mV clamp
    assert d["good_comply"] is False


def test_expander_pins_and_panel(mpy):
    r = mpy(FIXTURE + """
import time
res = {}
x = fx.expander
p = x.pin(board.X_LED_BUSY)
p.value(1)
res["busy"] = (w.leds["busy"], p.value(), x.output(board.X_LED_BUSY))
fx.panel.leds(passed=True)
res["leds"] = dict(w.leds)
res["lid"] = fx.panel.lid_closed()
w.set_lid(False)
res["lid_open"] = fx.panel.lid_closed()
w.set_lid(True)
res["in_out"] = None
try:
    x.set(board.X_START_N, 1)
except ValueError as e:
    res["in_out"] = str(e)
presses = 0
polls = 0
for cycle in range(3):
    w.press_start()
    for i in range(10):
        polls += 1
        if fx.panel.start_pressed():
            presses += 1
        time.sleep_ms(10)
    w.release_start()
    for i in range(10):
        if fx.panel.start_pressed():
            presses += 1
        time.sleep_ms(10)
w.press_start()   # a 5 ms bounce is not a press
fx.panel.start_pressed(); time.sleep_ms(5); w.release_start()
for i in range(10):
    if fx.panel.start_pressed():
        presses += 1
    time.sleep_ms(10)
res["presses"] = presses
res["inputs"] = x.read_inputs()
out(**res)
""")
    d = result(r)
    assert d["busy"] == [1, 1, 1]
    assert d["leds"] == {"pass": 1, "fail": 0, "busy": 0}
    assert d["lid"] is True and d["lid_open"] is False
    assert "not an output" in d["in_out"]
    assert d["presses"] == 3
    assert d["inputs"] >> 12 & 1 == 1 and d["inputs"] >> 13 & 1 == 1  # START released (pull-up), lid closed


def test_safe_never_raises_when_the_bus_dies(mpy):
    r = mpy(FIXTURE + """
fx.relays.connect(relay_map.kelvin(node(0, 1), node(1, 1)))
simhw._i2c.clear()          # the expander stops answering
ok = fx.safe()
out(ok=ok)
""")
    assert result(r)["ok"] is False


def test_chain_written_in_wrong_spi_mode_is_garbage(mpy):
    """The model shows what the hardware would do: the TPIC6C595 shifts on the rising SCK edge,
    so a chain write in SPI mode 1 (the ADC's) latches shifted bits."""
    r = mpy(FIXTURE + """
bits = relay_map.kelvin(node(0, 1), node(1, 1))
buf = bytearray(fx.relays.n_regs)
for b in bits:
    buf[b >> 3] |= 1 << (b & 7)
fx.spi.init(baudrate=4000000, polarity=0, phase=1)
fx.spi.write(buf)
x = fx.expander
x.set(board.X_RELAY_RCK, 1); x.set(board.X_RELAY_RCK, 0)
out(coils=sorted(w.chain.coils), want=sorted(bits))
""")
    d = result(r)
    assert d["coils"] and d["coils"] != d["want"]


def test_sim_time_api(mpy):
    r = mpy("""
import time, simclock, json
t = time.ticks_us()
time.sleep_us(1500)
d1 = time.ticks_diff(time.ticks_us(), t)
a = (1 << 30) - 10
b = time.ticks_add(a, 20)
print("RESULT " + json.dumps({"d1": d1, "b": b, "diff": time.ticks_diff(b, a), "neg": time.ticks_diff(a, b),
      "ms": time.ticks_ms() >= 0, "gm": len(time.gmtime(0))}))
""")
    d = result(r)
    assert 1500 <= d["d1"] < 1500 + 50_000
    assert d["b"] == 10 and d["diff"] == 20 and d["neg"] == -20
    assert d["gm"] >= 8
