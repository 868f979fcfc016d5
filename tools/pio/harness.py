"""Cycle-accurate runs of the detector's PIO programs in rp2040py (main engine) and pioemu (second
opinion), a CPython transcription of the fast model in boards/sim/sim_pio.py's terms, and reference
decodes (CPython) of one machine's records and of the three machines' merged records.

Time unit: system clock cycles at 125 MHz (8 ns). A waveform is a list of events
(channel, start_cycle, length_cycles): the comparator output of `channel` is 0 for cycles
start .. start+length-1 and 1 otherwise. A pin value set "at cycle k" is what an instruction
executing in cycle k reads (the RP2040's 2-cycle input synchronizer adds a constant latency to
every edge alike, so it cancels in every length; the emulators do not model it).
"""

from pathlib import Path

import adafruit_pioasm

PIO_DIR = Path(__file__).resolve().parent
ALL_GOOD = 0xFFFFFF
LOOP = 5  # cycles of the detector's idle loop
# The detector program's entry chain (tools/pio/event_detector.pio): SM k enters at address
# ENTRY[k] (entry0 = 2, entry1 = 1, entry2 = 0) and takes its first sample FIRST[k] cycles after
# the common enable: 2 cycles per `nop [1]` passed, then the 4-instruction prologue.
ENTRY = (2, 1, 0)
PROLOGUE = 4


def first_sample(address):
    """Cycle of the first sample of a machine started at `address` (0..2) of the program."""
    return 2 * (2 - address) + PROLOGUE


FIRST = tuple(first_sample(a) for a in ENTRY)  # (4, 6, 8)


def twin(name):
    return adafruit_pioasm.Program((PIO_DIR / (name + ".pio")).read_text())


DETECTOR = twin("event_detector")  # the firmware's detector program (its pioasm twin)
DETECTOR_WORDS = list(DETECTOR.assembled)
DETECTOR_EXECCTRL = DETECTOR.pio_kwargs["wrap_target"] << 7 | DETECTOR.pio_kwargs["wrap"] << 12
DETECTOR_SHIFTCTRL = 1 << 16 | 0b10 << 30  # autopush, threshold 32, shift left, join RX


def edges_of(waveform):
    """{cycle: [(channel, level), ...]} with ends before starts at the same cycle."""
    ev = {}
    for ch, s, n in waveform:
        ev.setdefault(s, []).append((ch, 0))
        ev.setdefault(s + n, []).append((ch, 1))
    for k in ev:
        ev[k].sort(key=lambda e: -e[1])
    return ev


def word_at(waveform, t):
    w = ALL_GOOD
    for ch, s, n in waveform:
        if s <= t < s + n:
            w &= ~(1 << ch)
    return w


class Rp2040Detector:
    """rp2040py PIO0 with the detector program on state machines `sms` (default SM0 alone),
    machine sms[i] started at address pcs[i] (default 0, the program's start). Their PCs are set
    as the firmware does, with an unconditional JMP written to SMx_INSTR while disabled."""

    def __init__(self, words, execctrl, shiftctrl, in_base=0, sms=(0,), pcs=None):
        from rp2040py import RP2040
        from rp2040py.peripherals.pio_registers import INSTR_MEM0, SM0_CLKDIV, SM0_INSTR

        self.chip = RP2040()
        self.pio = self.chip.pio[0]
        for i, w in enumerate(words):
            self.pio.write_uint32(INSTR_MEM0 + 4 * i, w)
        self.sms = [self.pio.machines[k] for k in sms]
        for i, k in enumerate(sms):
            base = SM0_CLKDIV + 0x18 * k
            self.pio.write_uint32(base + 0x04, execctrl)  # EXECCTRL
            self.pio.write_uint32(base + 0x08, shiftctrl)  # SHIFTCTRL
            self.pio.write_uint32(base + 0x14, in_base << 15)  # PINCTRL: IN_BASE
            pc = pcs[i] if pcs else 0
            self.pio.write_uint32(SM0_INSTR + 0x18 * k, 0x0000 | pc)  # exec `jmp pc`
            assert self.sms[i].pc == pc
        self.sm = self.sms[0]
        for i in range(24):
            g = self.chip.gpio[i]
            g.pad_value = 0x56  # input enable + schmitt (else rp2040py reads 0)
            g.set_input_value(True)
        self.cycle = 0
        self.outs = [[] for _ in sms]  # each machine's pushed words
        self.fifo_out = self.outs[0]

    def enable(self):
        """Every machine starts in the same cycle (on the chip: one write of CTRL.SM_ENABLE;
        rp2040py's CTRL write may run a batch inline, so the machines are set due together)."""
        for sm in self.sms:
            sm.enabled = True
            sm.next_due_fp = self.pio.cycle_fp
        self.pio.stopped = False
        self.pio.recompute_due()

    def set_channel(self, ch, level):
        self.chip.gpio[ch].set_input_value(bool(level))

    def run(self, waveform, cycles, drain=True):
        """Run `cycles` cycles; the DMA is modelled as draining the RX FIFOs every cycle (all of
        them, none (drain=False) or those of the machines indexed in `drain`). Returns the first
        machine's words (all of them: self.outs)."""
        ev = edges_of(waveform)
        pio = self.pio
        outs = self.outs
        if drain is True:
            drain = range(len(self.sms))
        sms = [(i, self.sms[i]) for i in drain or ()]
        for k in range(self.cycle, self.cycle + cycles):
            e = ev.get(k)
            if e:
                for ch, lv in e:
                    self.set_channel(ch, lv)
            pio.step()
            if sms:
                for i, sm in sms:
                    rx = sm.rx_fifo
                    while not rx.empty:
                        outs[i].append(sm.read_fifo())
        self.cycle += cycles
        return self.fifo_out

    @property
    def fdebug(self):
        return self.pio.fdebug


def detector_x3():
    """An Rp2040Detector with the detector program (the twin) on PIO0 SM0..SM2 entering at
    ENTRY[k], as the firmware sets them up (not enabled yet)."""
    return Rp2040Detector(DETECTOR_WORDS, DETECTOR_EXECCTRL, DETECTOR_SHIFTCTRL, sms=(0, 1, 2), pcs=ENTRY)


def run_x3(waveform, cycles, drain=True):
    """The detector on PIO0 SM0..SM2, enabled in the same cycle, as the firmware runs it, for
    `cycles` cycles of `waveform` (drain: as in Rp2040Detector.run). Returns (the three machines'
    word lists, FDEBUG)."""
    d = detector_x3()
    d.enable()
    d.run(waveform, cycles, drain=drain)
    return d.outs, d.fdebug


RP2040PY_INPUT_LATENCY = 1  # rp2040py: a pin set before cycle k is read from cycle k+1 on
PIOEMU_INPUT_LATENCY = 0  # pioemu: read in cycle k (the real chip adds a 2-cycle synchronizer)


def fast_model(waveform, cycles, loop=LOOP, first=FIRST[0], latency=RP2040PY_INPUT_LATENCY):
    """The detector fast model of boards/sim/sim_pio.py, transcribed to cycles (CPython): the words
    one machine pushes for `waveform` within `cycles` cycles from enable, its first sample at
    cycle `first` (its `mov x, pins` PROLOGUE cycles earlier). `latency`: the engine's constant
    input delay in cycles (it shifts every edge alike)."""
    waveform = [(ch, s + latency, n) for ch, s, n in waveform]
    t_mov = first - PROLOGUE
    word = word_at(waveform, t_mov)
    out = [word, 0]  # the start record
    edges = sorted({s for _, s, _ in waveform} | {s + n for _, s, n in waveform})
    t_eval = t_mov
    n_next = 0
    last = (cycles - 1 - first) // loop
    while n_next <= last:
        nxt = [e for e in edges if t_eval < e <= first + last * loop]
        hb = n_next | 0xFFFFFFFF
        if not nxt:
            cand = last + 1
        else:
            cand = max(n_next, -(-(nxt[0] - first) // loop))
        cand = min(cand, hb)
        if cand > last:
            break
        ts = first + cand * loop
        t_eval = ts
        w = word_at(waveform, ts)
        if w != word:
            word = w
            out += [w, (0xFFFFFFFF - cand) & 0xFFFFFFFF]
            n_next = cand + 2
        elif cand == hb:
            out += [w, 0]
            n_next = cand + 2
        else:
            n_next = cand + 1
    return out


def decode(words, loop=LOOP, ns_per_cycle=8, channels=24):
    """Reference decode (CPython) of detector words into events (channel, start_ns, length_ns),
    sorted by start then channel. Same rules as EventDetector.decode in the firmware."""
    events = []
    prev_count = 0
    loops = -1
    prev = words[0] & ((1 << channels) - 1)
    start = {ch: -1 for ch in range(channels) if not prev >> ch & 1}
    for i in range(2, len(words) - 1, 2):
        w, c = words[i], words[i + 1]
        d = (prev_count - c) & 0xFFFFFFFF or (1 << 32)
        loops += d
        prev_count = c
        m = w & ((1 << channels) - 1)
        ch_changed = m ^ prev
        prev = m
        for ch in range(channels):
            if ch_changed >> ch & 1:
                if m >> ch & 1:
                    if ch in start:
                        s = start.pop(ch)
                        events.append((ch, s * loop * ns_per_cycle, (loops - s) * loop * ns_per_cycle))
                else:
                    start[ch] = loops
    return sorted(events, key=lambda e: (e[1], e[0]))


def records(words, first, loop=LOOP):
    """One machine's records after its start record: [(t_cycle, word)], t = first + loop * n with
    n the loop index recovered from the down-counter (as in decode)."""
    out = []
    prev_count = 0
    loops = -1
    for i in range(2, len(words) - 1, 2):
        w, c = words[i], words[i + 1]
        loops += (prev_count - c) & 0xFFFFFFFF or (1 << 32)
        prev_count = c
        out.append((first + loops * loop, w))
    return out


def samples(words, first, loop=LOOP):
    """Every sample of one machine as (t_cycle, word): t = first + loop * n for every loop n
    except the one right after each record (its record path takes 2 loops), the word being the
    last one it pushed. Ends at its last record's second loop."""
    out = [(first, words[0])]  # loop 0 samples the start word (no record: nothing changed)
    recs = records(words, first, loop)
    n, w = 0, words[0]
    for t, rw in recs:
        m = (t - first) // loop
        n += 1
        while n < m:
            out.append((first + n * loop, w))
            n += 1
        out.append((t, rw))
        w = rw
        n = m + 1  # skipped: the record path
    out.append((first + (n + 1) * loop, w))
    return out


def decode_x3(outs, first=FIRST, loop=LOOP, ns_per_cycle=8, channels=24):
    """Reference decode (CPython, brute force) of the three machines' words, merged: events
    (channel, start_ns, length_ns) sorted by start then channel, times since the common enable.
    The merged input is what the LATEST sample of any machine saw: every sample of every machine
    (each machine's words say what it saw at each of its samples, records only where it changed)
    in time order; an event starts at the first merged sample with the channel's bit 0 and ends at
    the first one with it 1 again. Channels low in machine 0's start word are in an event from
    t = 0. The firmware's EventDetector computes the same, event-driven (records + the next
    sample of a machine that disagrees with the merged word)."""
    mask = (1 << channels) - 1
    end = min(max(t for t, _ in samples(o, first[k], loop)) for k, o in enumerate(outs))
    merged = sorted((t, w & mask) for k, o in enumerate(outs) for t, w in samples(o, first[k], loop) if t <= end)
    level = outs[0][0] & mask
    start = {c: 0 for c in range(channels) if not level >> c & 1}
    events = []
    for t, w in merged:
        ch = w ^ level
        level = w
        c = 0
        while ch:
            if ch & 1:
                if w >> c & 1:
                    if c in start:
                        s = start.pop(c)
                        events.append((c, s * ns_per_cycle, (t - s) * ns_per_cycle))
                else:
                    start[c] = t
            ch >>= 1
            c += 1
    return sorted(events, key=lambda e: (e[1], e[0]))


def run_pioemu(words, waveform, cycles, wrap_target, wrap_top, pc=0):
    """The detector in rp2-pio-emulator (pioemu): same program words, one machine started at
    address `pc`, FIFO drained every instruction (the DMA). Returns the pushed words."""
    from pioemu import State, emulate

    out = []

    def inputs(clock: int) -> int:
        return word_at(waveform, clock)

    gen = emulate(
        list(words),
        stop_when=lambda op, st: st.clock >= cycles,
        initial_state=State(program_counter=pc),
        input_source=inputs,
        auto_push=True,
        push_threshold=32,
        shift_isr_right=False,
        wrap_target=wrap_target,
        wrap_top=wrap_top,
    )
    for _before, after in gen:
        rx = after.receive_fifo
        while rx:
            out.append(rx.popleft())
    return out
