# PIO discontinuity detector: every event on every one of the 24 comparator channels, with its
# length, nothing lost silently. Runs unchanged on the RP2040 (MicroPython >= 1.26) and on the
# simulated fixture (boards/sim/rp2.py models the same PIO program word for word).
#
# Hardware contract (boards/fixture_v1/board.py): comparator outputs on GP0..GP23
# (EVENT_PIN_BASE, EVENT_CHANNELS); a comparator output is 1 while its contact is GOOD
# (resistance below the event threshold) and 0 during an EVENT. The reference interrupter is a
# switch in series with channel REF_CHANNEL, driven by REF_INTERRUPTER_PIN: 1 = switch closed
# (channel good), 0 = open (an event of exactly the commanded length).
#
# Design
# ------
# One state machine ("event_detector", PIO0 SM0) samples all 32 GPIO inputs with one
# `mov y, pins` and compares them with the previous sample (`jmp x!=y`): every change of the
# input word, on any channel, is pushed as a record of two words
#     word 0: the new input word (bit n = GPn; channels are bits 0..23)
#     word 1: the loop counter C at the sample that saw the change
# The counter is a 32-bit down-counter kept in the OSR (PIO has no adder: `jmp y--` is the only
# arithmetic, so the counter goes OSR -> Y, Y--, Y -> OSR). One loop iteration is exactly
# LOOP_CYCLES = 5 system clocks (sample, compare, 3 for the counter), so the time of a record is
#     t = (0xFFFFFFFF - C + 2**32 * wraps) * 5 cycles   since the machine started.
# The first record after enable is a start record (input word at enable, 0): the decoder's
# reference for which channels are already in an event. The first sample is at cycle 4.
# The change path and the heartbeat path both take exactly 10 cycles and decrement the counter
# twice, so the counter stays equal to time / 5 cycles on every path.
#
#   resolution: one loop = 5 cycles = 40 ns at 125 MHz. The start and the end of an event are
#   each detected at the first sample after the edge, so the measured length is within one loop
#   (40 ns) of the true length, and exact for a length that is a multiple of 40 ns.
#   (Why not 2 cycles: a sample + compare already takes 2 instructions and the PIO compare
#   `x!=y` needs both scratch registers, so a counter costs 3 more. 16 ns needs 3 copies of this
#   state machine started 2 cycles apart, each edge then seen by all three: a cycle-accurate
#   PROTOTYPE is tests/test_pio_x3_prototype.py (not wired in here); the decoder below is
#   written for one.)
#
#   wrap: when the counter passes 0 in the idle loop, the machine pushes a heartbeat record
#   (unchanged input word, count 0). So two consecutive records are never more than 2**32 loops
#   (171.8 s) apart, and the decoder recovers the time between them as (C_prev - C) mod 2**32,
#   a difference of 0 meaning a full 2**32.
#
#   overflow: records are pushed with autopush (`in`, threshold 32), so a record's two words are
#   never separated. The RX FIFO is joined (8 words). DMA (paced by the SM's RX DREQ) copies
#   them into a RAM ring buffer. If the FIFO is ever full the SM stalls and FDEBUG.RXSTALL(sm)
#   latches: drain() reads and clears it and counts it as `stalls` (timing after a stall is not
#   trusted; the run is INVALID). If the CPU falls a whole ring behind the DMA, drain() sees it
#   from the DMA transfer count and counts the overwritten records as `overrun_records`.
#
#   junk bits: `mov y, pins` reads all 32 GPIOs (PIO v0 cannot mask a mov). GP24..GP29 (SPI,
#   I2C, the interrupter) also cause records; they carry no channel change and the decoder drops
#   them. Keep those buses quiet while monitoring: every edge on them costs FIFO bandwidth.
#
# The reference interrupter ("ref_interrupter", PIO0 SM1) opens the reference switch for an
# exact number of cycles on command (a word in its TX FIFO): 0.5 us -> 62 cycles (496 ns, the
# nearest whole cycle), 1.0 us -> 125 cycles, 2.0 us -> 250 cycles.

import array

import rp2
from micropython import const

import spec5861

# The rp2 stubs' idiom: mypy sees the PIO DSL names; on the device the import fails -> False.
try:
    from typing_extensions import TYPE_CHECKING  # type: ignore
except ImportError:
    TYPE_CHECKING = False
if TYPE_CHECKING:
    from rp2.asm_pio import *  # noqa: F403

PIO0_BASE = const(0x50200000)
FDEBUG_OFFSET = const(0x008)
FDEBUG_RXSTALL = const(0)  # bits 0..3, one per SM; write 1 to clear
FDEBUG_RXUNDER = const(8)
FDEBUG_TXOVER = const(16)
FDEBUG_TXSTALL = const(24)
DREQ_PIO0_RX0 = const(4)  # DREQ of PIO0 SM n's RX FIFO: (pio << 3) + 4 + n

SYS_HZ = const(125_000_000)
NS_PER_CYCLE = const(8)
LOOP_CYCLES = const(5)
RESOLUTION_NS = const(40)  # LOOP_CYCLES * NS_PER_CYCLE
REF_MIN_CYCLES = const(3)

DETECTOR_SM = const(0)
REF_SM = const(1)

# Glitch histogram: upper bin edges in ns (an event shorter than EVENT_MIN_US is a glitch).
HIST_EDGES_NS = (100, 200, 300, 500, 750, 1000)
N_BINS = const(6)


@rp2.asm_pio(in_shiftdir=rp2.PIO.SHIFT_LEFT, autopush=True, push_thresh=32, fifo_join=rp2.PIO.JOIN_RX)
def event_detector():
    # Start: X = first sample, pushed as the start record (word, 0); OSR = 0xFFFFFFFF.
    mov(x, pins)  # 1 cycle: X = all 32 input pins (previous sample)
    in_(x, 32)  # 1 cycle: start record word 0: the input word at enable (autopush)
    in_(null, 32)  # 1 cycle: start record word 1: 0
    mov(osr, invert(null))  # 1 cycle: OSR = ~0 = 0xFFFFFFFF, the counter at loop 0
    wrap_target()
    label("sample")
    mov(y, pins)  # 1 cycle (c0): Y = input pins now: THE sample of this loop
    jmp(x_not_y, "changed")  # 1 cycle (c1): any pin differs from the previous sample -> record
    mov(y, osr)  # 1 cycle (c2): Y = counter
    jmp(y_dec, "store")  # 1 cycle (c3): counter != 0: Y-- and store it; == 0: heartbeat
    in_(x, 32)  # 1 cycle (c4): heartbeat: push the (unchanged) input word (autopush)
    in_(null, 32)  # 1 cycle (c5): push count 0: marks the counter wrap
    jmp(y_dec, "store")[2]  # 3 cycles (c6..c8): 2nd decrement (Y was 0xFFFFFFFF), keeps 10 = 2 loops
    label("changed")
    in_(y, 32)  # 1 cycle (c2): push the new input word (autopush, whole word at once)
    in_(osr, 32)  # 1 cycle (c3): push the counter of the sample that saw the change
    mov(x, y)[1]  # 2 cycles (c4, c5): the new word becomes the previous sample
    mov(y, osr)  # 1 cycle (c6): Y = counter
    jmp(y_dec, "dec2")  # 1 cycle (c7): Y-- (jumps to the next instruction either way)
    label("dec2")
    jmp(y_dec, "store")  # 1 cycle (c8): Y-- again (falls through to store when Y was 0)
    label("store")
    mov(osr, y)  # 1 cycle (c4, or c9 on the 10-cycle paths): counter back to OSR
    wrap()  # wrap to "sample": 0 cycles


@rp2.asm_pio(set_init=rp2.PIO.OUT_HIGH)
def ref_interrupter():
    # Command word: the opening length in cycles minus 2 (driver: ReferenceInterrupter.open).
    wrap_target()
    pull(block)  # 1 cycle (stalls until a command): OSR = N - 2
    mov(x, osr)  # 1 cycle: X = N - 2
    set(pins, 0)  # 1 cycle: switch OPEN from the end of this cycle
    label("hold")
    jmp(x_dec, "hold")  # N - 1 cycles: X+1 iterations
    set(pins, 1)  # 1 cycle: switch CLOSED: the pin was low for exactly N cycles
    wrap()


def event_definition():
    """The event definition written into every record (data, not prose)."""
    return {
        "threshold_ohm": spec5861.EVENT_THRESHOLD_OHM,
        "current_ma": spec5861.EVENT_CURRENT_MA,
        "min_duration_us": spec5861.EVENT_MIN_US,
        "resolution_ns": RESOLUTION_NS,
        "sample_period_ns": RESOLUTION_NS,
        "clock_hz": SYS_HZ,
    }


class ReferenceInterrupter:
    """PIO-timed openings of the reference switch, for the self-check."""

    def __init__(self, pin, sm_id=REF_SM):
        self.sm = rp2.StateMachine(sm_id, ref_interrupter, freq=SYS_HZ, set_base=pin)
        self.sm.active(1)

    @staticmethod
    def cycles_for_us(us):
        # Nearest whole cycle (0.5 us = 62.5 cycles -> 62, i.e. 496 ns).
        n = int(us * SYS_HZ / 1_000_000)
        return n if n >= REF_MIN_CYCLES else REF_MIN_CYCLES

    def open(self, cycles):
        """Open the switch for exactly `cycles` system clocks; returns the nominal length in ns."""
        if cycles < REF_MIN_CYCLES:
            raise ValueError("opening too short")
        self.sm.put(cycles - 2)
        return cycles * NS_PER_CYCLE

    def deinit(self):
        self.sm.active(0)


class EventDetector:
    """Runs the detector SM + DMA ring; drain() decodes the ring into events and counters.

    channel_mask: which of the 24 channels are monitored (others ignored).
    ring_bits: ring size is 1 << ring_bits bytes (a record is 8 bytes).
    max_events: size of the preallocated event log (oldest dropped when full, counted)."""

    def __init__(self, pin_base=0, channels=24, channel_mask=0xFFFFFF, ring_bits=12, max_events=256, sm_id=DETECTOR_SM):
        self.channels = channels
        self.channel_mask = channel_mask & ((1 << channels) - 1)
        self.sm_id = sm_id
        self.ring_bits = ring_bits
        self.ring_words = (1 << ring_bits) >> 2
        # Ring aligned to 1 << ring_bits bytes (DMA ring wrap): over-allocate one bytearray and
        # view the aligned part as 32-bit words through uctypes (no copy, no per-read allocation).
        import uctypes

        nbytes = 1 << ring_bits
        self._raw = bytearray(2 * nbytes)
        addr = uctypes.addressof(self._raw)
        self._ring_addr = (addr + nbytes - 1) & ~(nbytes - 1)
        self.ring = uctypes.struct(self._ring_addr, {"w": (uctypes.ARRAY | 0, uctypes.UINT32 | self.ring_words)}).w
        self._pin_base = pin_base
        self.sm = None
        self.dma = None
        # Decoder state (all preallocated).
        self.start_loop = array.array("q", [0] * channels)  # loop index an open event started
        self.glitches = array.array("I", [0] * channels)
        self.failures = array.array("I", [0] * channels)
        self.longest_ns = array.array("I", [0] * channels)
        self.hist = array.array("I", [0] * (channels * N_BINS))
        self.max_events = max_events
        self.ev_ch = array.array("B", [0] * max_events)
        self.ev_start_us = array.array("q", [0] * max_events)
        self.ev_len_ns = array.array("I", [0] * max_events)
        self.ev_n = 0  # events in the log
        self.ev_dropped = 0  # events that did not fit in the log (counted, never silent)
        self.reset_counters()

    def reset_counters(self):
        self.loops = 0  # loop index of the last record (absolute, since start)
        self.prev_count = 0xFFFFFFFF
        self.prev_mask = -1  # unknown until the first record / start()
        self.read_total = 0  # words consumed from the ring
        self.records = 0
        self.stalls = 0  # FDEBUG RXSTALL seen (records delayed or timing broken)
        self.overrun_records = 0  # records overwritten in the ring before drain
        self.first_loss_loop = -1  # loop index (time) of the last good record before the first loss
        self.first_loss_until = -1  # loop index of the first record after that loss (-1: none yet)
        for i in range(self.channels):
            self.glitches[i] = 0
            self.failures[i] = 0
            self.longest_ns[i] = 0
            self.start_loop[i] = -1
        for i in range(len(self.hist)):
            self.hist[i] = 0
        self.ev_n = 0
        self.ev_dropped = 0

    # ---- hardware ----
    def start(self, initial_word=None):
        from machine import Pin, mem32

        self.reset_counters()
        for i in range(self.ring_words):
            self.ring[i] = 0
        # Clear a stale stall flag of our SM before we start.
        mem32[PIO0_BASE + FDEBUG_OFFSET] = 1 << (FDEBUG_RXSTALL + self.sm_id)
        self.sm = rp2.StateMachine(self.sm_id, event_detector, freq=SYS_HZ, in_base=Pin(self._pin_base))
        self.dma = rp2.DMA()  # keep the reference: the channel closes when collected
        ctrl = self.dma.pack_ctrl(
            size=2,
            inc_read=False,
            inc_write=True,
            ring_size=self.ring_bits,
            ring_sel=True,
            treq_sel=DREQ_PIO0_RX0 + self.sm_id,
        )
        self.dma.config(read=self.sm, write=self._ring_addr, count=0xFFFFFFFF, ctrl=ctrl, trigger=True)
        self._count0 = 0xFFFFFFFF
        if initial_word is not None:
            self.prev_mask = initial_word & self.channel_mask
        self.sm.active(1)

    def stop(self):
        if self.sm is not None:
            self.sm.active(0)
        if self.dma is not None:
            self.dma.active(0)

    def written_total(self):
        """Words the DMA has written since start (from its remaining transfer count)."""
        dma = self.dma
        if dma is None:
            return 0
        return (self._count0 - dma.count) & 0xFFFFFFFF

    def check_stall(self):
        from machine import mem32

        bit = 1 << (FDEBUG_RXSTALL + self.sm_id)
        if mem32[PIO0_BASE + FDEBUG_OFFSET] & bit:
            mem32[PIO0_BASE + FDEBUG_OFFSET] = bit  # write 1 to clear
            self.stalls += 1
            if self.first_loss_loop < 0:
                self.first_loss_loop = self.loops
            return True
        return False

    def drain(self):
        """Decode everything the DMA has written since the last call. Returns records decoded."""
        stalled = self.check_stall()
        written = self.written_total()
        pending = written - self.read_total
        if pending > self.ring_words:
            # The DMA lapped us: the oldest data is gone. Skip to what is still intact (whole
            # records), count the loss; timing of the next record cannot be related to the last.
            lost = pending - self.ring_words
            lost += lost & 1
            self.overrun_records += lost >> 1
            self.read_total += lost
            self.prev_mask = -1
            if self.first_loss_loop < 0:
                self.first_loss_loop = self.loops
        pending = (written - self.read_total) & ~1
        n = self.decode(self.ring, self.read_total, pending)
        if stalled and self.first_loss_until < 0:
            self.first_loss_until = self.loops  # the stall ended by this record at the latest
        return n

    # ---- decoder (no allocation: locals, preallocated arrays) ----
    def decode(self, ring, pos, nwords):
        """Decode `nwords` words of `ring` starting at absolute word index `pos` (mod len)."""
        wmask = self.ring_words - 1
        chmask = self.channel_mask
        loops = self.loops
        prev_count = self.prev_count
        prev_mask = self.prev_mask
        start_loop = self.start_loop
        end = pos + nwords
        n = 0
        while pos < end:
            word = ring[pos & wmask]
            count = ring[(pos + 1) & wmask]
            pos += 2
            n += 1
            d = (prev_count - count) & 0xFFFFFFFF
            if d == 0:
                d = 0x100000000
            loops += d
            prev_count = count
            mask = word & chmask
            if prev_mask < 0:
                # Start record (or the first intact record after a ring overrun): the reference
                # word; channels already in an event start here (after an overrun that is a lower
                # bound of their length). The count is absolute (mod 2**32 loops = 171.8 s), so
                # the time of a record after an overrun is still right: loops keeps the `+= d`.
                prev_mask = mask
                if pos == 2:  # the start record (word 0 of the run; not an overrun's survivor)
                    loops = -1  # count 0 here, 0xFFFFFFFF at loop 0
                    prev_count = 0
                elif self.first_loss_until < 0 <= self.first_loss_loop:
                    self.first_loss_until = loops  # the first intact record after the first overrun
                c = 0
                while c < self.channels:
                    if not (mask >> c) & 1 and (chmask >> c) & 1:
                        start_loop[c] = loops
                    else:
                        start_loop[c] = -1  # good now: an end lost in an overrun is not guessed
                    c += 1
                continue
            changed = mask ^ prev_mask
            if not changed:
                continue  # heartbeat or a change on a non-channel pin
            prev_mask = mask
            c = 0
            while changed:
                if changed & 1:
                    if (mask >> c) & 1:
                        s = start_loop[c]
                        if s >= 0:
                            self._event(c, s, loops - s)
                            start_loop[c] = -1
                    else:
                        start_loop[c] = loops
                changed >>= 1
                c += 1
        self.loops = loops
        self.prev_count = prev_count
        self.prev_mask = prev_mask
        self.read_total = pos
        self.records += n
        return n

    def _event(self, c, start, nloops):
        length_ns = nloops * RESOLUTION_NS
        if length_ns > 0xFFFFFFFF:
            length_ns = 0xFFFFFFFF
        if length_ns >= _MIN_NS:
            self.failures[c] += 1
        else:
            self.glitches[c] += 1
            b = 0
            while b < N_BINS - 1 and length_ns >= HIST_EDGES_NS[b]:
                b += 1
            self.hist[c * N_BINS + b] += 1
        if length_ns > self.longest_ns[c]:
            self.longest_ns[c] = length_ns
        i = self.ev_n
        if i >= self.max_events:
            self.ev_dropped += 1
            return
        self.ev_ch[i] = c
        self.ev_start_us[i] = (start * RESOLUTION_NS) // 1000
        self.ev_len_ns[i] = length_ns
        self.ev_n = i + 1

    def take_events(self, out):
        """Append (channel, start_us, length_ns) tuples to list `out` and empty the log (this
        allocates: call it outside the hot path)."""
        for i in range(self.ev_n):
            out.append((self.ev_ch[i], self.ev_start_us[i], self.ev_len_ns[i]))
        self.ev_n = 0
        return out

    def open_channels(self):
        """Channels currently in an event (started, not ended yet)."""
        return [c for c in range(self.channels) if self.start_loop[c] >= 0]

    def lost(self):
        """Loss counters: any nonzero value makes a monitoring run INVALID."""
        return {"fifo_stalls": self.stalls, "ring_overrun_records": self.overrun_records, "event_log_dropped": self.ev_dropped}

    def first_loss_us(self):
        """[from, until]: the first loss lies between these times (us since start): the last
        good record before it and the first one after it (-1: not known / no loss)."""
        a = self.first_loss_loop
        b = self.first_loss_until
        return [a * RESOLUTION_NS // 1000 if a >= 0 else -1, b * RESOLUTION_NS // 1000 if b >= 0 else -1]

    def summary(self):
        return {
            "definition": event_definition(),
            "records": self.records,
            "glitches": list(self.glitches),
            "failures": list(self.failures),
            "longest_ns": list(self.longest_ns),
            "hist_edges_ns": HIST_EDGES_NS,
            "hist": [list(self.hist[c * N_BINS : (c + 1) * N_BINS]) for c in range(self.channels)],
            "lost": self.lost(),
        }


_MIN_NS = int(spec5861.EVENT_MIN_US * 1000)
