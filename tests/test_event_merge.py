"""The detector's native merge (_merge, viper) against its Python reference (_step): on the same
rings, decoded in the same slices, both give the same events, counters and state, and the native
one takes the steps it should. Runs on the MicroPython unix interpreter with the simulated rp2."""

import ast
import random

MERGE = """
import simclock, sim_events
import drivers.event_detector as ed
WF = %r
LONG = %r
d = ed.EventDetector(ring_bits=13, max_events=%d)
d.start()
t0 = d.sms[0]._t0
src = sim_events.source()
for ch, s, n in WF:
    src.add_event(ch, t0 + s * 8, n * 8)
for ch, s_us, n_us in LONG:
    src.add_event(ch, t0 + s_us * 1000, n_us * 1000)
simclock.advance_us(%d)
d.stop()
ends = [d.written_total(k) & ~1 for k in range(3)]
assert all(e < d.ring_words for e in ends), "keep the test inside one ring"
CUTS = %r

def run(native):
    d.reset_counters()
    d.native = native
    d.log_min_ns = %d
    d.channel_mask = %d
    out = []
    for cut in CUTS:
        d.decode(ends, cut)
        out.append(d.state())
    ev = d.take_events([])
    return out, ev, d.summary(), d.ev_dropped, d.native_records

a = run(True)
b = run(False)
print(repr(a))
print(repr(b))
"""


def merge_both(mpy, wf, span_us, cuts, long=(), max_events=1024, log_min_ns=0, mask=0xFFFFFF):
    r = mpy(MERGE % (wf, list(long), max_events, span_us, cuts, log_min_ns, mask), heapsize="1M")
    lines = r.stdout.strip().splitlines()
    return ast.literal_eval(lines[0]), ast.literal_eval(lines[1])


def random_waveform(seed, n, max_len, max_gap, channels=24):
    """n events on random channels, none overlapping on its own channel: lengths 1..max_len
    cycles (1 and 2 cycles: seen by one SM only), starts 0..max_gap cycles apart (bursts)."""
    rnd = random.Random(seed)
    free = [0] * channels  # cycle each channel is good again
    wf, t = [], 40
    for _ in range(n):
        t += rnd.randint(0, max_gap)
        ch = rnd.randrange(channels)
        s = max(t, free[ch] + rnd.randint(1, 12))  # back to back on one channel: 1..12 cycles apart
        ln = rnd.choice([1, 2, 3, rnd.randint(1, max_len), rnd.randint(100, 140)])
        wf.append((ch, s, ln))
        free[ch] = s + ln
    return wf, max(free) + 100


def check_same(a, b):
    (sa, ea, suma, dra, nat_a), (sb, eb, sumb, drb, nat_b) = a, b
    assert sa == sb  # the whole merge state after every slice
    assert ea == eb and suma == sumb and dra == drb
    assert nat_b == 0
    return nat_a, suma["records"]


def test_native_merge_equals_python_on_random_bursts(mpy):
    for seed in (1, 2, 3):
        wf, cycles = random_waveform(seed, 120, 300, 40)
        span_us = cycles * 8 // 1000 + 20
        # slices: cuts every ~2 us (in cycles), then everything
        cuts = list(range(200, cycles + 250, 250 + seed * 7)) + [-1]
        a, b = merge_both(mpy, wf, span_us, cuts)
        native, records = check_same(a, b)
        # every event longer than the blind spot of a burst (6 cycles) found; 1..6-cycle glitches
        # can fall between samples
        assert sum(1 for e in wf if e[2] > 6) <= len(a[1]) <= len(wf)
        # the native merge took almost every step (Python: the start records, nothing else)
        assert native >= records - 3 and records > 2 * len(wf)


def test_native_merge_equals_python_on_glitches_seen_by_one_sm_and_back_to_back(mpy):
    # 1..3-cycle glitches and events 1..12 cycles apart on few channels: checks everywhere
    wf, cycles = random_waveform(7, 150, 20, 6, channels=3)
    a, b = merge_both(mpy, wf, cycles * 8 // 1000 + 20, [cycles // 3, 2 * cycles // 3, -1])
    native, records = check_same(a, b)
    assert native >= records - 3
    assert sum(1 for e in wf if e[2] > 6) <= len(a[1]) <= len(wf)


def test_long_and_old_events_go_to_python_and_agree(mpy):
    # Channel 2 open for 1.5 s (longer than LONG_CYCLES, started long before the time base),
    # channel 5 for 0.2 s; short events around them. The native merge hands the end of the long
    # one to Python and goes on.
    wf = [(9, 100 + 500 * i, 130 if i % 2 else 60) for i in range(20)]
    long = [(2, 30, 1_500_000), (5, 700_000, 200_000)]
    cuts = [12_500_000 * i for i in range(1, 24)] + [-1]  # a slice every 0.1 s
    a, b = merge_both(mpy, wf, 1_600_000, cuts, long=long)
    native, records = check_same(a, b)
    ev = {c: n for c, _, n in a[1] if c in (2, 5)}
    assert abs(ev[2] - 1_500_000_000) <= 16 and abs(ev[5] - 200_000_000) <= 16
    assert records - 6 <= native < records  # the long event's end: Python; the rest native


def test_event_log_threshold_overflow_and_channel_mask_agree(mpy):
    # Monitoring logs only failures (log_min_ns = 1000); a log of 4 overflows and counts drops;
    # the channels outside the mask (set after construction, as the monitor does) are ignored.
    wf, cycles = random_waveform(11, 100, 300, 60)
    mask = 0x0F0F0F
    a, b = merge_both(mpy, wf, cycles * 8 // 1000 + 20, [-1], max_events=4, log_min_ns=1000, mask=mask)
    check_same(a, b)
    fails = sum(1 for c, _, n in wf if n * 8 >= 1000 and (mask >> c) & 1)
    assert sum(a[2]["failures"]) == fails and not any(a[2]["glitches"][c] for c in range(24) if not (mask >> c) & 1)
    assert 4 < fails and len(a[1]) == 4 and a[3] == fails - 4
    assert all(n >= 1000 for _, _, n in a[1])


def test_native_merge_is_right_on_32_bit_words():
    """The armv6m code mpy-cross emits for _merge (what the RP2040 runs), replayed in Unicorn from
    the same state as each unix-port call, gives the same result and the same state, counters and
    event log: nothing in it depends on the host's 64-bit words."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
    import merge_on_m0plus as m0

    wf, cycles = random_waveform(5, 60, 300, 30)
    long = [(3, 2, 300_000)]  # open across the time base: ends in Python
    code = MERGE % (wf, long, 64, 310_000, [2_000, 5_000, -1], 0, 0xFFFFFF)
    code = code.replace("a = run(True)", "a = run(True)\nimport sys\nsys.exit(0)")
    calls = m0.capture(code)
    assert len(calls) >= 3 and sum(n for _, _, n in calls) > 100
    for call in calls:
        r, same = m0.replay(call)
        assert same, "armv6m _merge differs from the unix port's"
        assert set(r.runtime_calls) <= {"MP_F_CONVERT_OBJ_TO_NATIVE", "MP_F_CONVERT_NATIVE_TO_OBJ"}


DRAINS = """
import gc, simclock, sim_events, simhw
import drivers.event_detector as ed
src = sim_events.load_scenario({"dut": {"positions": 40, "seed": 4}, "intermittent": [
    {"pin": 9, "rate_hz": %d, "duration_us": 0.3}, {"pin": 15, "rate_hz": %d, "duration_us": 1.5}]})
d = ed.EventDetector(ring_bits=13, max_events=1024)  # the monitor's rings
d.native = %s
d.log_min_ns = 1000  # as the monitor: failures in the log
d.start()
t0 = d.sms[0]._t0
if %s:
    src.add_event(20, t0 + 700_000_000, 1_500_000_000)  # open 1.5 s: across time bases, timed in Python
    src.add_event(21, t0 + 100_000, 3_000_000_000)  # open 3 s from the first 0.1 ms
# The simulated mem32 looks its registers up by a tuple key (32 bytes a read): bypassed for the
# FDEBUG read so that the heap figures are the detector's own (the device's mem32 allocates nothing).
_fd = simhw._mem[(4, 0x50200008)][0]
_mr = simhw.mem_read
simhw.mem_read = lambda w, a: _fd(a) if a == 0x50200008 and w == 4 else _mr(w, a)
ev = []  # events of 1 ms and longer; a digest of all
dig = [0, 0, 0]
def collect():
    for i in range(d.ev_n):
        c, t, n = d.ev_ch[i], d.ev_start_us[i], d.ev_len_ns[i]
        dig[0] += 1
        dig[1] += t
        dig[2] += n
        if n >= 1_000_000:
            ev.append((c, t, n))
    d.ev_n = 0
def drains(n, measure=False):
    grown = 0
    for i in range(n):
        simclock.advance_us(20_000)  # (the simulated PIO/DMA catch up here, not in drain)
        a = gc.mem_alloc()
        d.drain()
        grown += gc.mem_alloc() - a
        collect()
    return grown
drains(50)
r0, n0, b0 = d.records, d.native_records, d.rebases
grown = drains(%d, True)
print(grown, d.records - r0, d.native_records - n0, d.rebases - b0)
if %s:
    raise SystemExit
src.set_vibrating(False, simclock.now_us() * 1000)
drains(250)  # 5 s with no edge at all (the relative clock folds)
src.set_vibrating(True, simclock.now_us() * 1000)
drains(100)
d.stop()
d.drain()
collect()
print(repr(ev), *dig)
print(repr(d.summary()))
print(d.records, d.native_records, d.rebases, d.unmeasured)
"""


def drain_run(mpy, native, rate=400, fail_rate=100, measured=150, long=True):
    out = mpy(DRAINS % (rate, fail_rate, native, long, measured, not long), heapsize="1M").stdout.strip().splitlines()
    return out


def test_drains_over_seconds_native_equals_python_across_time_bases(mpy):
    """Drains every 20 ms for 9 s of simulated time (events, a 1.5 s and a 3 s event across time
    bases, 5 s of silence): the native path (state kept in `st`, moved on in place) gives the
    same events, counters and records as the Python reference."""
    a = drain_run(mpy, True)
    b = drain_run(mpy, False)
    assert a[1:3] == b[1:3]  # events (channel, start us, length ns) and the whole summary
    rec_a, nat_a, rebases, unmeasured = map(int, a[3].split())
    rec_b, nat_b, _, _ = map(int, b[3].split())
    assert rec_a == rec_b and nat_b == 0 and unmeasured == 0
    assert rec_a - 12 <= nat_a < rec_a  # the long events' ends and the start records: Python
    assert rebases >= 1  # the time base moved on in place (and by the Python path around the long events)
    ev, n_ev = a[1].rsplit("]", 1)
    lens = {c: n for c, _, n in ast.literal_eval(ev + "]")}
    assert abs(lens[20] - 1_500_000_000) <= 16 and abs(lens[21] - 3_000_000_000) <= 16
    assert int(n_ev.split()[0]) > 500  # the 1.5 us failures, logged


def test_drain_allocates_nothing(mpy):
    """The usual drain (records merged natively, glitches counted, failures logged) allocates
    nothing on the heap: the MicroPython heap grew by 0 bytes over 150 drains of 20 ms at 3,000
    events/s, a time base move included."""
    out = drain_run(mpy, True, rate=2500, fail_rate=500, measured=150, long=False)
    grown, records, native, rebases = map(int, out[0].split())
    assert records > 150 * 20 * 3 * 6 * 0.8 and native == records  # all of them in _merge
    assert rebases >= 1
    assert grown == 0, "the drain path allocated %d bytes over 150 drains" % grown
