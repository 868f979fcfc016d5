"""The simulated rp2 (boards/sim: rp2.py, sim_pio.py, sim_dma.py; on MicroPython) running the
detector as the firmware starts it: three state machines on one program, PCs set by exec'd JMPs,
one DMA ring each, enabled together through CTRL's SET alias. Each machine's ring must hold
exactly the words the cycle-accurate rp2040py run gives (tools/pio/harness.run_x3); CTRL,
active(), exec, FDEBUG and the stall model behave per machine as on the chip. The firmware driver
is not used here."""

import ast
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools" / "pio"))
import harness as h  # noqa: E402
import test_pio_cycle as T  # noqa: E402

SETUP = """
import array, machine, simclock, sim_events, sim_pio, rp2, uctypes
from machine import Pin
mem32 = machine.mem32
PIO0 = 0x50200000
prog = [array.array("H", sim_pio.DETECTOR_WORDS), -1, -1, -1, %d, %d, None, None, None]
BITS = 13
raw = bytearray(4 << BITS)
base = (uctypes.addressof(raw) + (1 << BITS) - 1) & ~((1 << BITS) - 1)
src = sim_events.source()

def start(n=3, entries=True, dma=(0, 1, 2)):
    mem32[PIO0 + 8] = 0b111
    sms = [rp2.StateMachine(k, prog, freq=125_000_000, in_base=Pin(0)) for k in range(n)]
    off = prog[1]
    dmas = []
    for k in range(n):
        if entries:
            sms[k].exec(off + 2 - k)  # `jmp(off + 2 - k)`: SM k enters at entry k
        d = None
        if k in dma:
            d = rp2.DMA()
            ctrl = d.pack_ctrl(size=2, inc_read=False, inc_write=True, ring_size=BITS, ring_sel=True, treq_sel=4 + k)
            d.config(read=sms[k], write=base + (k << BITS), count=0xFFFFFFFF, ctrl=ctrl, trigger=True)
        dmas.append(d)
    return sms, dmas

def ring_words(k, d):
    v = uctypes.struct(base + (k << BITS), {"w": (uctypes.ARRAY | 0, uctypes.UINT32 | (1 << BITS >> 2))}).w
    return [v[i] for i in range(0xFFFFFFFF - d.count)]
""" % (T.EXECCTRL, T.SHIFTCTRL)

RUN_X3 = SETUP + """
sms, dmas = start()
print(repr((mem32[PIO0], [sm.active() for sm in sms])))
t0 = simclock.now_us() * 1000  # the enable (the waveform is known before it, as on the bench)
for ch, s, n in %r:
    src.add_event(ch, t0 + s * 8, n * 8)
mem32[PIO0 + 0x2000] = 0b111 | 0b111 << 8  # SM_ENABLE 0..2 + CLKDIV_RESTART, one write
print(repr((mem32[PIO0], mem32[PIO0 + 0x2000], [sm.active() for sm in sms], [sm._t0 == t0 for sm in sms])))
simclock.advance_us(%d)
mem32[PIO0 + 0x3000] = 0b010  # CLR alias: SM1 off
print(repr((mem32[PIO0], [sm.active() for sm in sms])))
sms[0].active(0)
mem32[PIO0 + 0x1000] = 0b100  # XOR alias: SM2 off
print(repr((mem32[PIO0], [sm.active() for sm in sms], mem32[PIO0 + 8])))
for k in range(3):
    print(repr(ring_words(k, dmas[k])))
"""


def lines(r):
    return [ast.literal_eval(x) for x in r.stdout.strip().splitlines()]


def test_three_machines_words_equal_rp2040py(mpy):
    wf, cycles = T.sweep_waveform([0, 7, 12, 23], T.LENGTHS, gap=60)
    wf += [(ch, cycles + 100, 130) for ch in range(24)]  # all at once
    wf += [(i % 24, cycles + 400 + 11 * i, 125 + i % 7) for i in range(60)]  # a burst
    wf += [(3, 2, 30), (4, 5, 20)]  # edges during the entry chain and the prologues
    cycles += 400 + 11 * 60 + 300
    ref, fdebug = h.run_x3(wf, cycles)
    out = lines(mpy(RUN_X3 % (wf, cycles * 8 // 1000 + 50)))
    assert out[0] == (0, [False, False, False])
    assert out[1] == (0b111, 0b111, [True, True, True], [True, True, True])  # together, one instant
    assert out[2] == (0b101, [True, False, True])
    assert out[3] == (0, [False, False, False], 0)
    words = out[4:7]
    for k in range(3):
        assert len(words[k]) > 2 * len(wf)
        assert words[k] == ref[k], "SM%d" % k  # the sim's ring == cycle-accurate PIO, word for word
    assert h.decode_x3(words) == h.decode_x3(ref)


DEFAULT_ENTRY = SETUP + """
sms, dmas = start(n=1, entries=False)
sms[0].exec("set(x, 1)")  # not a JMP: the PC stays at the program's start
sms[0].exec(0xA042)  # nop
try:
    sms[0].exec("jmp(3)")
except TypeError as e:
    print(repr(str(e)))
t0 = simclock.now_us() * 1000
for ch, s, n in %r:
    src.add_event(ch, t0 + s * 8, n * 8)
sms[0].active(1)
print(repr((mem32[PIO0] & 0xF, sms[0].active(), sms[0]._t0 == t0)))
simclock.advance_us(10)
print(repr(ring_words(0, dmas[0])))
"""


def test_exec_and_default_entry(mpy):
    # Without an exec'd JMP a machine starts at the program's offset (entry2): first sample at 8.
    # MicroPython's asm_pio_encode cannot encode jmp (device and sim raise TypeError): the
    # firmware execs the encoded word, `jmp(addr)` == addr.
    wf = [(2, 3, 40), (5, 60, 125), (6, 300, 62)]
    out = lines(mpy(DEFAULT_ENTRY % (wf,)))
    assert "jmp" in out[0] and "sm.exec(addr)" in out[0]
    assert out[1] == (1, True, True)
    assert out[2] == h.fast_model(wf, 1250, first=h.first_sample(0))
    assert out[2] != h.fast_model(wf, 1250, first=h.first_sample(2))


STALL = SETUP + """
sms, dmas = start(dma=(0, 2))  # SM1 has no DMA: its 8-word FIFO fills, it stalls
t0 = simclock.now_us() * 1000
for ch, s, n in %r:
    src.add_event(ch, t0 + s * 8, n * 8)
mem32[PIO0 + 0x2000] = 0b111
simclock.advance_us(%d)
print(repr((mem32[PIO0 + 8] & 0xF, sms[1].rx_fifo())))
print(repr([sms[1].get() for i in range(8)]))
print(repr(ring_words(0, dmas[0])))
print(repr(ring_words(2, dmas[2])))
mem32[PIO0 + 8] = 0b010
print(mem32[PIO0 + 8] & 0xF)
"""


def test_fifo_stall_is_per_machine(mpy):
    wf = [(ch, 50 + 40 * ch, 20) for ch in range(8)]
    cycles = 500
    ref, fdebug = h.run_x3(wf, cycles, drain=(0, 2))
    assert fdebug & 0xF == 0b010
    out = lines(mpy(STALL % (wf, cycles * 8 // 1000 + 1)))
    assert out[0] == (0b010, 8)  # RXSTALL of SM1 only; its FIFO full
    assert out[1] == h.fast_model(wf, cycles, first=h.FIRST[1])[:8]  # what it pushed before the stall
    assert out[2] == ref[0] and out[3] == ref[2]  # SM0 and SM2 run on unaffected
    assert out[4] == 0  # write 1 to clear


TOGETHER = SETUP + """
import gc
sms, dmas = start()
mem32[PIO0 + 0x2000] = 0b111
n = 0
for ms in range(1, 31):
    # the next millisecond of waveform: a 300 ns event on channel 9 every 3 us
    t = simclock.now_us() * 1000
    for i in range(333):
        src.add_event(9, t + 1000 + i * 3000, 300)
    n += 333
    simclock.advance_us(1000)
gc.collect()
print(repr((n, src.peak_events, [0xFFFFFFFF - d.count for d in dmas], mem32[PIO0 + 8] & 0xF)))
"""


def test_three_machines_stay_together_on_one_waveform(mpy):
    # The three are advanced together, a chunk of waveform at a time: sim_events forgets events
    # that ended 20 us before the latest query, and none of the machines may be behind that when
    # another one queries (here: 333 events per millisecond advanced). Every machine sees every
    # (isolated) event: 2 records of 2 words each, plus the start record.
    n, peak, written, fdebug = ast.literal_eval(mpy(TOGETHER).stdout.strip())
    assert n == 30 * 333 and fdebug == 0
    assert written == [2 + 4 * n] * 3
    assert peak < 2 * 333 + 10  # forgotten as the machines move on: memory stays bounded


BURST_MEMORY = SETUP + """
import gc
src.add_intermittent(9, 60000.0, 0.3, 5)  # 60,000 events/s, random gaps
sms, dmas = start()
mem32[PIO0 + 0x2000] = 0b111
gc.collect()
free0 = gc.mem_free()
for i in range(200):
    simclock.advance_us(1000)
gc.collect()
print(repr((src.generated, src.peak_events, free0 - gc.mem_free(), mem32[PIO0 + 8] & 0xF, [0xFFFFFFFF - d.count for d in dmas])))
"""


def test_three_machines_bounded_memory_under_random_bursts(mpy):
    generated, peak, grown, fdebug, written = ast.literal_eval(mpy(BURST_MEMORY, heapsize="512K").stdout.strip())
    assert generated > 10_000 and peak < 400 and grown < 20_000 and fdebug == 0
    # each machine records (nearly) every event: only events closer than a record path to the
    # previous one can be seen differently by the three
    for w in written:
        assert 0 <= 2 + 4 * generated - w < 0.01 * 4 * generated, (written, generated)
