"""Cycle-accurate runs of the detector's PIO programs in rp2040py (main engine) and pioemu (second
opinion), and a CPython transcription of the fast model in boards/sim/rp2.py's terms.

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


def twin(name):
    return adafruit_pioasm.Program((PIO_DIR / (name + ".pio")).read_text())


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
    """rp2040py PIO0 with the detector program on SM0 (and optionally the reference
    interrupter on SM1 with its pin looped back to a channel)."""

    def __init__(self, words, execctrl, shiftctrl, in_base=0, sm=0):
        from rp2040py import RP2040
        from rp2040py.peripherals.pio_registers import INSTR_MEM0, SM0_CLKDIV

        self.chip = RP2040()
        self.pio = self.chip.pio[0]
        for i, w in enumerate(words):
            self.pio.write_uint32(INSTR_MEM0 + 4 * i, w)
        self.sm = self.pio.machines[sm]
        base = SM0_CLKDIV + 0x18 * sm
        self.pio.write_uint32(base + 0x04, execctrl)  # EXECCTRL
        self.pio.write_uint32(base + 0x08, shiftctrl)  # SHIFTCTRL
        self.pio.write_uint32(base + 0x14, in_base << 15)  # PINCTRL: IN_BASE
        for i in range(24):
            g = self.chip.gpio[i]
            g.pad_value = 0x56  # input enable + schmitt (else rp2040py reads 0)
            g.set_input_value(True)
        self.level = ALL_GOOD
        self.cycle = 0
        self.fifo_out = []

    def enable(self):
        sm = self.sm
        sm.enabled = True
        sm.next_due_fp = self.pio.cycle_fp
        self.pio.stopped = False
        self.pio.recompute_due()

    def set_channel(self, ch, level):
        self.chip.gpio[ch].set_input_value(bool(level))

    def run(self, waveform, cycles, drain=True):
        """Run `cycles` cycles; the DMA is modelled as draining the RX FIFO every cycle."""
        ev = edges_of(waveform)
        pio = self.pio
        sm = self.sm
        rx = sm.rx_fifo
        out = self.fifo_out
        for k in range(self.cycle, self.cycle + cycles):
            e = ev.get(k)
            if e:
                for ch, lv in e:
                    self.set_channel(ch, lv)
            pio.step()
            if drain:
                while not rx.empty:
                    out.append(sm.read_fifo())
        self.cycle += cycles
        return out

    @property
    def fdebug(self):
        return self.pio.fdebug


RP2040PY_INPUT_LATENCY = 1  # rp2040py: a pin set before cycle k is read from cycle k+1 on
PIOEMU_INPUT_LATENCY = 0  # pioemu: read in cycle k (the real chip adds a 2-cycle synchronizer)


def fast_model(waveform, cycles, loop=5, first=4, latency=RP2040PY_INPUT_LATENCY):
    """The detector fast model of boards/sim/rp2.py, transcribed to cycles (CPython): the words
    the program pushes for `waveform` within `cycles` cycles from enable. `latency`: the
    engine's constant input delay in cycles (it shifts every edge alike)."""
    waveform = [(ch, s + latency, n) for ch, s, n in waveform]
    out = [word_at(waveform, 0), 0]  # the start record
    edges = sorted({s for _, s, _ in waveform} | {s + n for _, s, n in waveform})
    word = word_at(waveform, 0)
    t_eval = 0
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


def decode(words, loop=5, ns_per_cycle=8, channels=24):
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


def run_pioemu(words, waveform, cycles, wrap_target, wrap_top):
    """The detector in rp2-pio-emulator (pioemu): same program words, FIFO drained every
    instruction (the DMA). Returns the pushed words."""
    from pioemu import emulate

    out = []

    def inputs(clock: int) -> int:
        return word_at(waveform, clock)

    gen = emulate(
        list(words),
        stop_when=lambda op, st: st.clock >= cycles,
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
