# PIO discontinuity detector: every event on every one of the 24 comparator channels, with its
# length to 16 ns, nothing lost silently. Runs unchanged on the RP2040 (MicroPython >= 1.26) and on
# the simulated fixture (boards/sim/rp2.py models the same PIO program word for word).
#
# Hardware contract (boards/fixture_v1/board.py): comparator outputs on GP0..GP23
# (EVENT_PIN_BASE, EVENT_CHANNELS); a comparator output is 1 while its contact is GOOD
# (resistance below the event threshold) and 0 during an EVENT. The reference interrupter is a
# switch in series with channel REF_CHANNEL, driven by REF_INTERRUPTER_PIN: 1 = switch closed
# (channel good), 0 = open (an event of exactly the commanded length).
#
# Design
# ------
# One detector loop samples all 32 GPIO inputs with one `mov y, pins` and compares them with the
# previous sample (`jmp x!=y`): every change of the input word, on any channel, is pushed as a
# record of two words
#     word 0: the new input word (bit n = GPn; channels are bits 0..23)
#     word 1: the loop counter C at the sample that saw the change
# The counter is a 32-bit down-counter kept in the OSR (PIO has no adder: `jmp y--` is the only
# arithmetic, so the counter goes OSR -> Y, Y--, Y -> OSR). One loop is exactly LOOP_CYCLES = 5
# system clocks (sample, compare, 3 for the counter); the change path and the heartbeat path both
# take exactly 10 cycles and decrement twice, so the counter stays equal to time / 5 cycles.
# The first record after enable is a start record (input word at enable, 0).
#
# Three copies for 16 ns. A sample + compare + counter cannot be shorter than 5 cycles (`x!=y`
# needs both scratch registers, so the counter costs 3 more), i.e. one machine resolves 40 ns.
# So PIO0 SM0, SM1 and SM2 run the SAME program from three entry points, enabled in the same
# cycle (one write to CTRL's atomic SET alias): SM k first passes 2 * k cycles of `nop [1]`, so
# its samples fall on cycles FIRST[k] + 5 n with FIRST = (4, 6, 8), i.e. 4, 1 and 3 mod 5. The
# merged sample stream has at most 2 cycles (16 ns) between samples. Each SM pushes its own
# records into its own DMA ring; the decoder merges the three in time order and an edge is timed
# by the FIRST machine that saw it (each machine reports only changes of its own samples):
#
#   for a record (t, k, W):  ch = (W ^ prev[k]) & channels; prev[k] = W
#                            eff = ch & (W ^ merged); merged ^= eff   -> edges of `eff` at t
#
#   resolution: an edge is seen at the first merged sample after it: <= 2 cycles late, so a
#   length is within 16 ns (one cycle each way in practice) and the 1 us boundary is exact to
#   16 ns. During a burst (another channel's edge less than 10 cycles earlier) all three machines
#   are in their 10-cycle record path at once and an edge can be seen up to 6 cycles late (48 ns);
#   event_definition() states both figures. A glitch seen by one machine only (shorter than its
#   neighbours' sample spacing) is timed by that machine alone.
#
#   order: records are merged only up to `cut`, the elapsed time at the drain minus CUT_MARGIN_US
#   (read before the DMA counts), so no record of another machine earlier than the last one
#   merged can still be on its way from a FIFO. After stop() everything is merged.
#
#   wrap: when the counter passes 0 in the idle loop, a machine pushes a heartbeat record
#   (unchanged input word, count 0). So two consecutive records of one machine are never more
#   than 2**32 loops (171.8 s) apart and the decoder recovers the time between them as
#   (C_prev - C) mod 2**32, a difference of 0 meaning a full 2**32.
#
#   overflow: records are pushed with autopush (`in`, threshold 32), so a record's two words are
#   never separated. The RX FIFOs are joined (8 words). DMA (paced by each SM's RX DREQ) copies
#   them into that SM's RAM ring. If a FIFO is ever full its SM stalls and FDEBUG.RXSTALL(sm)
#   latches: drain() reads and clears it and counts it as `stalls` (timing after a stall is not
#   trusted; the run is INVALID). If the CPU falls a whole ring behind a DMA, drain() sees it
#   from the DMA transfer count and counts the overwritten records as `overrun_records`.
#
#   speed: the merge runs as machine code (_merge, @micropython.viper, in event_merge.py, loaded
#   from the filesystem, never frozen); its state stays in `st` between drains, so a drain is a
#   few stores and one _merge call, and allocates nothing. The Python step (_step) is its
#   reference and takes the rare steps it hands back (a reference after a loss, an event longer
#   than 1.07 s). 20,000 events/s are 120,000 records/s (every edge is seen by all three
#   machines): `make bench` prices the whole drain: _merge's armv6m code in Unicorn with the
#   Cortex-M0+ timings (tools/merge_on_m0plus.py) plus the Python part of each drain.
#
#   loss: an event whose start or end fell in lost data (overrun, stall) is never given a length
#   made of the gap: it is closed unmeasured and counted (`unmeasured`).
#
#   junk bits: `mov y, pins` reads all 32 GPIOs (PIO v0 cannot mask a mov). GP24..GP29 (SPI,
#   I2C, the interrupter) also cause records; they carry no channel change and the decoder drops
#   them. Keep those buses quiet while monitoring: every edge on them costs FIFO bandwidth.
#
# The reference interrupter ("ref_interrupter", PIO0 SM3) opens the reference switch for an
# exact number of cycles on command (a word in its TX FIFO): 0.5 us -> 62 cycles (496 ns, the
# nearest whole cycle), 1.0 us -> 125 cycles, 2.0 us -> 250 cycles.

import array
import time

import rp2
from machine import mem32
from micropython import const

import protocol
import spec5861

# The rp2 stubs' idiom: mypy sees the PIO DSL names; on the device the import fails -> False.
try:
    from typing_extensions import TYPE_CHECKING  # type: ignore
except ImportError:
    TYPE_CHECKING = False
if TYPE_CHECKING:
    from rp2.asm_pio import *  # noqa: F403

# The native merge, loaded from the filesystem (/event_merge.mpy on the device: never frozen, see
# event_merge.py). Without it the Python step does all the work (far slower) and NATIVE says so.
try:
    from event_merge import (
        DEBRUIJN, LONG_CYCLES, NONE, OLD, REL_LIMIT, REL_LOOPS, S_CHMASK, S_CT, S_CUT, S_DEBRUIJN, S_DROP,
        S_EDGES, S_EVMAX, S_EVN, S_HT, S_LASTT, S_LOGMIN, S_M32, S_MERGED, S_MINNS, S_OEVCH, S_OEVLEN,
        S_OEVT, S_OFAIL, S_OHIST, S_OLONG, S_RW, S_START, S_W, S_WHY, S_WMASK, SM_CHKB, SM_CHKL, SM_COUNT,
        SM_END, SM_HEAD, SM_LOOPS, SM_READ, SM_WORD, SMB, SMW, ST_WORDS, UNK, _merge,
    )

    NATIVE = True
except Exception:  # ImportError, or ValueError: an .mpy for another architecture or version
    NATIVE = False

PIO0_BASE = const(0x50200000)
CTRL_SET = const(0x2000)  # CTRL through the atomic SET alias (+0x2000) and CLR alias (+0x3000)
CTRL_CLR = const(0x3000)
CTRL_CLKDIV_RESTART = const(8)  # CTRL bits 8..11: restart the SMs' clock dividers in step
FDEBUG_OFFSET = const(0x008)
FDEBUG_RXSTALL = const(0)  # bits 0..3, one per SM; write 1 to clear
FDEBUG_RXUNDER = const(8)
FDEBUG_TXOVER = const(16)
FDEBUG_TXSTALL = const(24)
DREQ_PIO0_RX0 = const(4)  # DREQ of PIO0 SM n's RX FIFO: (pio << 3) + 4 + n
PROG_OFFSET_PIO0 = const(1)  # rp2.asm_pio program list: [data, offset in PIO0, ...]

SYS_HZ = const(125_000_000)
NS_PER_CYCLE = const(8)
LOOP_CYCLES = const(5)
N_SM = const(3)
FIRST = (4, 6, 8)  # cycle of SM k's first sample after the common enable
RESOLUTION_NS = const(16)  # largest gap of the merged sample stream: 2 cycles
BURST_RESOLUTION_NS = const(48)  # within one record path (10 cycles) after another edge
CUT_MARGIN_US = const(3)
REF_MIN_CYCLES = const(3)

REF_SM = const(3)

ROOM_LOOPS = const(1 << 24)  # st's time base lies this far (0.67 s) before the oldest SM's last record
REBASE_CYCLES = const(1 << 28)  # a cut this far (2.1 s) past the time base moves the base on
FOLD_US = const(1 << 22)  # _rel_us stays below this (4.2 s): _rel_us * 125 is a small int
# DMA transfer count at start: below 2**30, so `dma.count` is a small int on the device (reading it
# allocates nothing). 2**29 records per SM: 3.7 h at 20,000 events/s; a DMA that runs out stops,
# its SM's FIFO fills and it stalls: counted (FDEBUG), never silent.
DMA_COUNT = const(0x3FFFFFFF)

# Glitch histogram: upper bin edges in ns (an event shorter than EVENT_MIN_US is a glitch).
HIST_EDGES_NS = (100, 200, 300, 500, 750, 1000)
N_BINS = const(6)


@rp2.asm_pio(in_shiftdir=rp2.PIO.SHIFT_LEFT, autopush=True, push_thresh=32, fifo_join=rp2.PIO.JOIN_RX)
def event_detector():
    # Entry chain: SM2 enters at entry2, SM1 at entry1, SM0 at entry0 (exec'd jmp before the
    # common enable), so their samples fall 2 cycles apart.
    label("entry2")
    nop()[1]  # 2 cycles
    label("entry1")
    nop()[1]  # 2 cycles
    label("entry0")
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
        "burst_resolution_ns": BURST_RESOLUTION_NS,
        "sample_period_ns": RESOLUTION_NS,
        "state_machines": N_SM,
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
    """Runs the three detector SMs + their DMA rings; drain() merges and decodes the rings into
    events and counters.

    channel_mask: which of the 24 channels are monitored (others ignored).
    ring_bits: each SM's ring is 1 << ring_bits bytes (a record is 8 bytes).
    max_events: size of the preallocated event log (oldest dropped when full, counted).
    Times inside the decoder are in system clock cycles (8 ns) since the common enable.

    Two homes for the merge state. With the native merge it lives in `st` (32-bit words relative
    to a time base, see event_merge.py) from one drain to the next, so a drain is: the stall flags,
    the three DMA counts, a few stores, one _merge call; nothing allocated. The Python arrays
    (read_total, sm_loops, ..., absolute times) are the home of the Python step (_step, the
    reference) and of the rare cases: start records, a loss, a step _merge hands back, a time base
    that must move (_to_py / _to_st move the state between the two)."""

    def __init__(self, pin_base=0, channels=24, channel_mask=0xFFFFFF, ring_bits=12, max_events=256):
        self.channels = channels
        self.channel_mask = channel_mask & ((1 << channels) - 1)
        self.ring_bits = ring_bits
        self.ring_words = (1 << ring_bits) >> 2
        # Three rings, each aligned to its size (DMA ring wrap): one over-allocated bytearray,
        # viewed as 32-bit words through uctypes (no copy, no per-read allocation).
        import uctypes

        nbytes = 1 << ring_bits
        self._raw = bytearray((N_SM + 1) * nbytes)
        addr = uctypes.addressof(self._raw)
        base = (addr + nbytes - 1) & ~(nbytes - 1)
        self._ring_addr = [base + k * nbytes for k in range(N_SM)]
        self.rings = [uctypes.struct(a, {"w": (uctypes.ARRAY | 0, uctypes.UINT32 | self.ring_words)}).w for a in self._ring_addr]
        self._ring_all = uctypes.bytearray_at(base, N_SM * nbytes)  # the three rings, for _merge
        self._pin_base = pin_base
        self.sms = []  # type: list
        self.dmas = []  # type: list
        self.running = False
        self.native = NATIVE  # merge in machine code (_merge); False: Python only (the reference)
        self.log_min_ns = 0  # events at least this long go into the event log (all by default)
        # Decoder state (all preallocated). The counters and the event log live in one array of
        # 32-bit words, `acc`, that _merge updates in place; the names below are views into it.
        self.start_t = array.array("q", [0] * channels)  # cycle an open event started, -1: none, -2: in lost data
        # (arrays from a bytearray: no temporary list of the same length on the heap)
        mv = memoryview(array.array("I", bytearray(4 * (9 * channels + 3 * max_events))))
        self.acc = mv
        self.glitches = mv[0:channels]  # _merge counts glitches at acc[c]
        self.failures = mv[channels : 2 * channels]
        self.longest_ns = mv[2 * channels : 3 * channels]
        self.hist = mv[3 * channels : 9 * channels]  # N_BINS per channel
        o = 9 * channels
        self.ev_ch = mv[o : o + max_events]
        self.ev_len_ns = mv[o + max_events : o + 2 * max_events]
        self.ev_t_rel = mv[o + 2 * max_events : o + 3 * max_events]  # _merge's start times
        self.ev_start_us = array.array("q", bytearray(8 * max_events))
        self.max_events = max_events
        self.ev_n = 0  # events in the log
        self.ev_dropped = 0  # events that did not fit in the log (counted, never silent)
        if NATIVE:
            st = array.array("I", bytearray(4 * ST_WORDS))
            self.st = st
            st[S_WMASK] = self.ring_words - 1
            st[S_M32] = 0xFFFFFFFF
            st[S_RW] = self.ring_words
            st[S_EVMAX] = max_events
            st[S_MINNS] = spec5861.EVENT_MIN_NS
            st[S_OFAIL] = channels
            st[S_OLONG] = 2 * channels
            st[S_OHIST] = 3 * channels
            st[S_OEVCH] = o
            st[S_OEVLEN] = o + max_events
            st[S_OEVT] = o + 2 * max_events
            for b in range(N_BINS - 1):
                st[S_EDGES + b] = HIST_EDGES_NS[b]
            for b in range(32):
                st[S_DEBRUIJN + ((((1 << b) * DEBRUIJN) & 0xFFFFFFFF) >> 27)] = b
        # Per SM (the Python home): words consumed, where its unread words end, loop index and
        # counter of its last record, its last word (-1: unknown: before its start record or after
        # a loss), the loop index of its head record (-1: none), its pending check.
        self.read_total = array.array("q", [0] * N_SM)
        self._ends = array.array("q", [0] * N_SM)
        self.sm_loops = array.array("q", [0] * N_SM)
        self.sm_count = array.array("I", [0] * N_SM)
        self.sm_word = array.array("q", [0] * N_SM)
        self.heads = array.array("q", [0] * N_SM)
        self.chk_t = array.array("q", [0] * N_SM)  # cycle of an SM's pending check (its next sample)
        self.chk_bits = array.array("I", [0] * N_SM)  # channels it disagrees on (0: no check)
        self._count0 = DMA_COUNT
        self._mem32 = mem32  # (bound once: drain() looks nothing up)
        self.reset_counters()

    def reset_counters(self):
        self._live = False  # the merge state is in `st` (True) or in the Python arrays
        self._tb_us = 0  # st's time base (us since the enable; a whole loop: 125 cycles = 1 us)
        self._rel_us = 0  # elapsed = _tb_us + _fold_us + _rel_us (_rel_us small: no allocation)
        self._fold_us = 0
        self.merged = -1  # merged channel word (-1: before SM0's start record)
        self.last_t = 0  # cycle of the last record merged
        self.records = 0
        self.native_records = 0  # of which merged by _merge
        self.stalls = 0  # FDEBUG RXSTALL seen (records delayed or timing broken)
        self.overrun_records = 0  # records overwritten in a ring before drain
        self.unmeasured = 0  # events whose start or end fell in lost data: counted, no length
        self.rebases = 0  # st's time base moved on in place (tests, bench)
        self.first_loss_t = -1  # cycle of the last good record before the first loss
        self.first_loss_until = -1  # cycle of the first record after that loss (-1: none yet)
        self._loss_pending = False
        self.dead = 0  # SMs that stalled (bit k): their records are consumed, not merged
        for k in range(N_SM):
            self.read_total[k] = 0
            self._ends[k] = 0
            self.sm_loops[k] = -1
            self.sm_count[k] = 0
            self.sm_word[k] = -1
            self.heads[k] = -1
            self.chk_bits[k] = 0
        for i in range(self.channels):
            self.glitches[i] = 0
            self.failures[i] = 0
            self.longest_ns[i] = 0
            self.start_t[i] = -1
        for i in range(len(self.hist)):
            self.hist[i] = 0
        self.ev_n = 0
        self.ev_dropped = 0

    @property
    def elapsed_us(self):
        """Time since the enable, from ticks_us at each drain."""
        return self._tb_us + self._fold_us + self._rel_us

    def _set_elapsed(self, total_us):
        r = total_us - self._tb_us
        self._fold_us = 0
        self._rel_us = r
        if r >= FOLD_US:
            self._fold_us = r
            self._rel_us = 0

    # ---- hardware ----
    def start(self):
        from machine import Pin

        self.stop()
        self.reset_counters()
        for ring in self.rings:
            for i in range(self.ring_words):
                ring[i] = 0
        sm_bits = (1 << N_SM) - 1
        # Clear stale stall flags of our SMs before we start.
        mem32[PIO0_BASE + FDEBUG_OFFSET] = sm_bits << FDEBUG_RXSTALL
        self.sms = [rp2.StateMachine(k, event_detector, freq=SYS_HZ, in_base=Pin(self._pin_base)) for k in range(N_SM)]
        off = event_detector[PROG_OFFSET_PIO0]  # where rp2 loaded the (shared) program
        self.dmas = []
        for k in range(N_SM):
            sm = self.sms[k]
            # PC = entry k: an unconditional JMP encodes as its address alone (exec'd while the SM
            # is disabled it only sets the PC; rp2.asm_pio_encode cannot encode jmp).
            sm.exec(off + 2 - k)
            dma = rp2.DMA()  # keep the reference: the channel closes when collected
            ctrl = dma.pack_ctrl(
                size=2,
                inc_read=False,
                inc_write=True,
                ring_size=self.ring_bits,
                ring_sel=True,
                treq_sel=DREQ_PIO0_RX0 + k,
            )
            dma.config(read=sm, write=self._ring_addr[k], count=DMA_COUNT, ctrl=ctrl, trigger=True)
            self.dmas.append(dma)
        # One write enables the three in the same cycle, their clock dividers restarted in step.
        mem32[PIO0_BASE + CTRL_SET] = sm_bits | (sm_bits << CTRL_CLKDIV_RESTART)
        self._tick = time.ticks_us()
        self.running = True

    def stop(self):
        """Disable the SMs (in the same cycle) and stop and free their DMA channels; the records
        already in the rings stay there for drain()."""
        if self.sms:
            mem32[PIO0_BASE + CTRL_CLR] = (1 << N_SM) - 1
            if self.running:
                self._elapse()
            for sm in self.sms:
                sm.active(0)
        for dma in self.dmas:
            dma.active(0)
        self.running = False

    def _elapse(self):
        now = time.ticks_us()
        self._rel_us += time.ticks_diff(now, self._tick)
        self._tick = now
        if self._rel_us >= FOLD_US:  # rare (a quiet stretch): keeps _rel_us * 125 a small int
            self._fold_us += self._rel_us
            self._rel_us = 0

    def release(self):
        """stop() and give the DMA channels back (start() takes new ones)."""
        self.stop()
        for dma in self.dmas:
            dma.close()
        self.dmas = []

    def written_total(self, k=0):
        """Words SM k's DMA has written since start (from its remaining transfer count)."""
        if k >= len(self.dmas):
            return 0
        return self._count0 - self.dmas[k].count

    def read_words(self, k):
        """Words of SM k's ring read since start."""
        return self.st[SMB + SMW * k + SM_READ] if self._live else self.read_total[k]

    def check_stall(self):
        mem32 = self._mem32
        bits = mem32[PIO0_BASE + FDEBUG_OFFSET] & (((1 << N_SM) - 1) << FDEBUG_RXSTALL)
        if bits:
            self._to_py()
            mem32[PIO0_BASE + FDEBUG_OFFSET] = bits  # write 1 to clear
            k = 0
            while k < N_SM:
                if (bits >> (FDEBUG_RXSTALL + k)) & 1:
                    self.stalls += 1
                    # Its counter stood still while it stalled: its later records have wrong
                    # times. It takes no further part in the merge of this run.
                    self.dead |= 1 << k
                    self.sm_word[k] = -1
                    self.chk_bits[k] = 0
                k += 1
            self._loss()
            return True
        return False

    def _loss(self):
        if self.first_loss_t < 0:
            self.first_loss_t = self.last_t
            self._loss_pending = True

    def drain(self):
        """Merge and decode what the DMAs have written since the last call. Returns records.
        The work is bounded: at most a ring's worth per SM (older data was overwritten: skipped
        and counted). The usual case (state in `st`) is written out in one piece: every bytecode
        here runs 50 times a second."""
        margin = 0
        if self.running:
            now = time.ticks_us()
            r = self._rel_us + time.ticks_diff(now, self._tick)
            self._tick = now
            if r >= FOLD_US:  # rare (a quiet stretch): keeps _rel_us * 125 a small int
                self._fold_us += r
                r = 0
            self._rel_us = r
            margin = CUT_MARGIN_US  # records older than this are all in their rings
        if self._mem32[PIO0_BASE + FDEBUG_OFFSET] & (((1 << N_SM) - 1) << FDEBUG_RXSTALL):
            self.check_stall()
        if not self._live or self._loss_pending or self.dead:
            return self._drain_py(margin)
        st = self.st
        c0 = self._count0
        dmas = self.dmas
        st[S_W] = c0 - dmas[0].count  # (_merge finds where the records end, and an overrun)
        st[S_W + 1] = c0 - dmas[1].count
        st[S_W + 2] = c0 - dmas[2].count
        if self._fold_us:
            cut = REL_LIMIT - 1
        else:
            cut = (self._rel_us - margin) * 125
            if cut >= REBASE_CYCLES and self._rebase():  # rare: every ~2 s of activity
                cut = (self._rel_us - margin) * 125 if not self._fold_us else REL_LIMIT - 1
            if cut >= REL_LIMIT:
                cut = REL_LIMIT - 1
        st[S_CUT] = cut
        st[S_CHMASK] = self.channel_mask  # (the monitor sets it per run)
        st[S_LOGMIN] = self.log_min_ns
        ev0 = self.ev_n
        st[S_EVN] = ev0
        n = _merge(st, self._ring_all, self.acc)
        if n < 0:
            return self._drain_py(margin)  # a DMA lapped us: Python skips and counts
        self.native_records += n
        if st[S_EVN] != ev0 or st[S_DROP] or st[S_WHY]:
            n += self._after_merge(ev0, margin)
        self.records += n
        return n

    def _after_merge(self, ev0, margin):
        """After a _merge call: the events it logged get their start in us, drops are counted; a
        step it handed back (rare) is taken from the Python home, absolute times."""
        st = self.st
        ev = st[S_EVN]
        if ev != ev0:
            self.ev_n = ev
            tb = self._tb_us
            for i in range(ev0, ev):
                self.ev_start_us[i] = tb + (self.ev_t_rel[i] * NS_PER_CYCLE) // 1000
        d = st[S_DROP]
        if d:
            self.ev_dropped += d
            st[S_DROP] = 0
        if st[S_WHY]:
            self._to_py()
            return self._merge_loop((self.elapsed_us - margin) * (SYS_HZ // 1_000_000))
        return 0

    def _drain_py(self, margin):
        """The Python path: start records, losses (overrun, stall), a state `st` cannot hold."""
        self._to_py()
        cut = (self.elapsed_us - margin) * (SYS_HZ // 1_000_000)
        ends = self._ends
        rw = self.ring_words
        idle = not (self.chk_bits[0] | self.chk_bits[1] | self.chk_bits[2])
        for k in range(N_SM):
            written = self.written_total(k)
            pending = written - self.read_total[k]
            if pending:
                idle = False
            if pending > rw:
                # The DMA lapped us: the oldest data is gone. Skip to what is still intact (whole
                # records), count the loss; this SM's next record is a new reference word.
                lost = pending - rw
                lost += lost & 1
                self.overrun_records += lost >> 1
                self.read_total[k] += lost
                self.sm_word[k] = -1
                self.chk_bits[k] = 0
                self._loss()
            ends[k] = self.read_total[k] + ((written - self.read_total[k]) & ~1)
        if idle:
            return 0  # nothing new
        return self.decode(ends, cut)

    # ---- decoder (no allocation in the loop: preallocated arrays) ----
    def decode(self, ends, cut):
        """Merge the three rings' records in time order up to cycle `cut` (-1: all) and decode
        them. ends[k]: absolute word index where SM k's unread records end.

        The merged input is what the latest sample of any SM saw. A record says what its SM saw
        from that sample on; an SM that does not push a record keeps seeing its last word. So
        the merged word changes at a record whose word differs from it, and at the next sample
        of an SM that still disagrees with it (a `check`: e.g. a glitch seen by one SM only ends
        at the next SM's sample; a channel that another SM saw good again is low again at the
        next sample of an SM that never saw it good).

        The steps run in the native merge (_merge, viper) as long as it can take them, and in
        _step (Python, the reference) when it cannot: a reference record after a loss, an event
        open for more than LONG_CYCLES, a gap it cannot represent. Both give the same result
        (tests/test_event_merge.py holds them equal)."""
        self._to_py()
        rings = self.rings
        chmask = self.channel_mask
        pos = self.read_total
        sm_word = self.sm_word
        n = 0
        for k in range(N_SM):
            self._ends[k] = ends[k]
        # Start records (word 0 of each ring): each SM's reference word; SM0's also the merged one.
        for k in range(N_SM):
            if pos[k] == 0 and ends[k] >= 2:
                sm_word[k] = rings[k][0] & chmask
                self.sm_loops[k] = -1  # count 0 here, 0xFFFFFFFF at loop 0
                self.sm_count[k] = 0
                pos[k] = 2
                n += 1
                if k == 0:
                    self.merged = sm_word[0]
                    for c in range(self.channels):
                        self.start_t[c] = 0 if not (self.merged >> c) & 1 and (chmask >> c) & 1 else -1
        if self.merged < 0:
            if pos[0] == 0:
                self.records += n
                return n  # SM0's start record not in yet: nothing can be merged
            self.merged = chmask  # it was lost in an overrun: every SM's next record is a reference
        for k in range(N_SM):
            if (self.dead >> k) & 1 and pos[k] < ends[k]:
                n += (ends[k] - pos[k]) >> 1
                pos[k] = ends[k]
            self.heads[k] = self._head(k) if pos[k] < ends[k] else -1
        n += self._merge_loop(cut)
        self.records += n
        return n

    def _merge_loop(self, cut):
        """Steps up to `cut` from the Python home: native runs as long as it can, _step takes
        the steps it hands back. Leaves the state in `st` when it fits there."""
        n = 0
        while True:
            if self.native and not self._loss_pending and self._to_st():
                c = -1 if cut < 0 else cut - 125 * self._tb_us
                if cut < 0 or c >= 0:
                    n += self._call(c)
                self._to_py()
            r = self._step(cut)
            if r < 0:
                break
            n += r
        if self.native:
            self._to_st()
        return n

    def _call(self, cut):
        """One _merge call up to `cut` (relative to the time base; -1: all); returns records."""
        st = self.st
        st[S_CUT] = REL_LIMIT - 1 if cut < 0 or cut >= REL_LIMIT else cut
        for k in range(N_SM):
            st[S_W + k] = self._ends[k]  # (whole records already: _merge ends there)
        st[S_CHMASK] = self.channel_mask
        st[S_LOGMIN] = self.log_min_ns
        ev0 = self.ev_n
        st[S_EVN] = ev0
        n = _merge(st, self._ring_all, self.acc)
        if n < 0:
            n = 0  # (not from the Python home: its ends are within a ring)
        self.native_records += n
        st[S_WHY] = 0  # (the caller's _step takes what it handed back)
        self._after_merge(ev0, 0)
        return n

    def _rebase(self):
        """Move st's time base on, in place (rare: every ~2 s of activity), to ROOM_LOOPS before
        the oldest running SM's last record. False when that is not later than the base now."""
        st = self.st
        lb = NONE
        for k in range(N_SM):
            if not (self.dead >> k) & 1 and st[SMB + SMW * k + SM_LOOPS] < lb:
                lb = st[SMB + SMW * k + SM_LOOPS]
        dl = lb - ROOM_LOOPS
        dl -= dl % 25  # whole us
        if dl <= 0 or lb == NONE:
            return False
        dt = LOOP_CYCLES * dl  # every time below is later than dt (from the SMs' loops on)
        for k in range(N_SM):
            b = SMB + SMW * k
            st[b + SM_LOOPS] = 0 if (self.dead >> k) & 1 else st[b + SM_LOOPS] - dl
            if st[S_HT + k] != NONE:
                st[S_HT + k] -= dt
                st[b + SM_HEAD] -= dl
            if st[S_CT + k] != NONE:
                st[S_CT + k] -= dt
                st[b + SM_CHKL] -= dl
        tb = 125 * self._tb_us
        for c in range(self.channels):
            s = st[S_START + c]
            if s < UNK:
                if s < dt:
                    self.start_t[c] = tb + s  # its end is timed in Python
                    st[S_START + c] = OLD
                else:
                    st[S_START + c] = s - dt
        s = st[S_LASTT]
        if s != NONE:
            st[S_LASTT] = s - dt
        d_us = dl // 25
        self._tb_us += d_us
        r = self._fold_us + self._rel_us - d_us
        self._fold_us = 0
        self._rel_us = r
        if r >= FOLD_US:
            self._fold_us = r
            self._rel_us = 0
        self.rebases += 1
        return True

    def _to_st(self):
        """The Python state into `st`, relative to a new time base (a whole us, ROOM_LOOPS before
        the oldest running SM's last record). False, and the state stays in Python, when it does
        not fit (a gap, an event too long for 32 bits)."""
        if self._live:
            return True
        if not self.native or self.merged < 0:
            return False
        st = self.st
        lb = -1
        first = True
        for k in range(N_SM):
            if not (self.dead >> k) & 1 and (first or self.sm_loops[k] < lb):
                lb = self.sm_loops[k]
                first = False
        if first:
            return False
        lb -= ROOM_LOOPS
        lb -= lb % 25  # 25 loops = 125 cycles = 1 us
        tb = LOOP_CYCLES * lb
        for k in range(N_SM):
            b = SMB + SMW * k
            st[b + SM_READ] = self.read_total[k]
            st[b + SM_END] = self._ends[k]
            lr = self.sm_loops[k] - lb
            if not 0 <= lr < REL_LOOPS:
                if (self.dead >> k) & 1:
                    lr = 0  # no longer merged: never used
                else:
                    return False
            st[b + SM_LOOPS] = lr
            st[b + SM_COUNT] = self.sm_count[k]
            st[b + SM_WORD] = self.sm_word[k] if self.sm_word[k] >= 0 else NONE
            h = self.heads[k] - lb
            h = h if self.heads[k] >= 0 and h < REL_LOOPS else NONE
            st[b + SM_HEAD] = h
            st[S_HT + k] = NONE if h == NONE else FIRST[k] + LOOP_CYCLES * h
            st[b + SM_CHKB] = self.chk_bits[k]
            st[S_CT + k] = NONE
            if self.chk_bits[k]:
                cl = (self.chk_t[k] - FIRST[k]) // LOOP_CYCLES - lb
                if not 0 <= cl < REL_LOOPS:
                    return False
                st[b + SM_CHKL] = cl
                st[S_CT + k] = FIRST[k] + LOOP_CYCLES * cl
        for c in range(self.channels):
            s = self.start_t[c]
            if s == -1:
                st[S_START + c] = NONE
            elif s == -2:
                st[S_START + c] = UNK
            elif s < tb:
                st[S_START + c] = OLD  # too old for 32 bits: its end is timed in Python
            elif s - tb < REL_LIMIT:
                st[S_START + c] = s - tb
            else:
                return False
        st[S_MERGED] = self.merged
        st[S_LASTT] = NONE  # (no record merged since)
        el = self.elapsed_us
        self._tb_us = tb // 125
        self._set_elapsed(el)
        self._live = True
        return True

    def _to_py(self, keep=False):
        """The state in `st` back into the Python arrays (absolute times); `keep`: st stays the
        home (a snapshot for state())."""
        if not self._live:
            return
        st = self.st
        tb = 125 * self._tb_us
        lb = tb // LOOP_CYCLES
        self.merged = st[S_MERGED]
        for k in range(N_SM):
            b = SMB + SMW * k
            self.read_total[k] = st[b + SM_READ]
            self._ends[k] = st[b + SM_END]
            if not (self.dead >> k) & 1:
                self.sm_loops[k] = lb + st[b + SM_LOOPS]
            self.sm_count[k] = st[b + SM_COUNT]
            w = st[b + SM_WORD]
            self.sm_word[k] = -1 if w == NONE else w
            if st[S_HT + k] != NONE:
                self.heads[k] = lb + st[b + SM_HEAD]
            else:
                self.heads[k] = self._head(k) if self.read_total[k] < self._ends[k] else -1
            self.chk_bits[k] = st[b + SM_CHKB]
            if self.chk_bits[k]:
                self.chk_t[k] = FIRST[k] + LOOP_CYCLES * (lb + st[b + SM_CHKL])
        for c in range(self.channels):
            s = st[S_START + c]
            if s == NONE:
                self.start_t[c] = -1
            elif s == UNK:
                self.start_t[c] = -2
            elif s != OLD:
                self.start_t[c] = tb + s
        if st[S_LASTT] != NONE:
            self.last_t = tb + st[S_LASTT]
        if not keep:
            self._live = False

    def state(self):
        """The whole merge state with absolute times (tests: native == Python after each slice)."""
        self._to_py(True)
        k3 = range(N_SM)
        return (self.records, self.merged, list(self.start_t), list(self.sm_word), list(self.chk_bits),
                [self.chk_t[k] if self.chk_bits[k] else 0 for k in k3], list(self.heads),
                list(self.read_total), list(self.sm_loops), list(self.sm_count), self.last_t)

    def _step(self, cut):
        """One step of the merge in Python: the earliest record or check up to `cut`. Returns the
        records it consumed (0 or 1), -1 when there is none up to `cut`."""
        heads = self.heads
        chk_t = self.chk_t
        chk_bits = self.chk_bits
        sm_word = self.sm_word
        # The earliest of the records (time FIRST[k] + 5 * loop) and checks; a record before a
        # check of the same SM at the same time (nothing else can coincide).
        k = -1
        t = 0
        rec = False
        for j in range(N_SM):
            h = heads[j]
            if h >= 0:
                tj = FIRST[j] + LOOP_CYCLES * h
                if k < 0 or tj < t:
                    k, t, rec = j, tj, True
            tj = chk_t[j]
            if chk_bits[j] and (k < 0 or tj < t):
                k, t, rec = j, tj, False
        if k < 0 or (cut >= 0 and t > cut):
            return -1
        merged = self.merged
        if not rec:
            bits = chk_bits[k]
            chk_bits[k] = 0
            word = sm_word[k]
            if word < 0:
                return 0
            eff = bits & (word ^ merged)
            n = 0
        else:
            p = self.read_total[k]
            ring = self.rings[k]
            wmask = self.ring_words - 1
            word = ring[p & wmask] & self.channel_mask
            self.sm_count[k] = ring[(p + 1) & wmask]
            self.sm_loops[k] = heads[k]
            self.read_total[k] = p + 2
            heads[k] = self._head(k) if p + 2 < self._ends[k] else -1
            n = 1
            self.last_t = t
            if self._loss_pending:
                self._loss_pending = False
                self.first_loss_until = t
            prev = sm_word[k]
            sm_word[k] = word
            if prev < 0:
                self._reference(word, t)
                return n
            eff = word ^ prev
            if chk_bits[k] and chk_t[k] == t:
                # Its pending check falls on this same sample: taken with the record (the same
                # result as the two steps one after the other).
                eff |= chk_bits[k]
                chk_bits[k] = 0
            eff &= word ^ merged
        if not eff:
            return n  # heartbeat, another pin, an edge an earlier sample already timed
        merged ^= eff
        self.merged = merged
        self._edges(eff, word, t)
        # SMs that still disagree on these channels: their next sample decides again.
        for j in range(N_SM):
            w = sm_word[j]
            if w >= 0:
                dis = (w ^ merged) & eff
                if dis:
                    if not chk_bits[j]:
                        chk_t[j] = self._next_sample(j, t)
                    chk_bits[j] |= dis
        return n

    def _reference(self, word, t):
        """First intact record of an SM after a loss: a new reference word. Nothing measured
        across the gap is trusted: an event open before it that this word sees ended is closed
        unmeasured, and an event this word sees open started somewhere in the gap (or ended and
        started again there): its end will be counted, its length not reported."""
        mask = self.channel_mask
        merged = self.merged
        c = 0
        m = mask
        while m:
            if m & 1:
                if not (word >> c) & 1:
                    self.start_t[c] = -2
                elif not (merged >> c) & 1:
                    if self.start_t[c] != -1:
                        self.unmeasured += 1
                    self.start_t[c] = -1
            m >>= 1
            c += 1
        self.merged = (merged & ~mask) | word

    def _edges(self, eff, word, t):
        c = 0
        while eff:
            if eff & 1:
                if (word >> c) & 1:
                    s = self.start_t[c]
                    if s >= 0:
                        self._event(c, s, t - s)
                    elif s == -2:
                        self.unmeasured += 1
                    self.start_t[c] = -1
                else:
                    self.start_t[c] = t
            eff >>= 1
            c += 1

    def _next_sample(self, k, t):
        """Time of SM k's first sample after cycle t: its loops, except the one right after its
        last record (the record path takes two)."""
        n = (t - FIRST[k]) // LOOP_CYCLES + 1
        if n == self.sm_loops[k] + 1:
            n += 1
        return FIRST[k] + LOOP_CYCLES * n

    def _head(self, k):
        """Loop index of SM k's next unread record (from its counter: mod 2**32 since its last)."""
        count = self.rings[k][(self.read_total[k] + 1) & (self.ring_words - 1)]
        d = (self.sm_count[k] - count) & 0xFFFFFFFF
        if d == 0:
            d = 0x100000000
        return self.sm_loops[k] + d

    def _event(self, c, start, ncycles):
        length_ns = ncycles * NS_PER_CYCLE
        if length_ns > 0xFFFFFFFF:
            length_ns = 0xFFFFFFFF
        if length_ns >= spec5861.EVENT_MIN_NS:
            self.failures[c] += 1
        else:
            self.glitches[c] += 1
            b = 0
            while b < N_BINS - 1 and length_ns >= HIST_EDGES_NS[b]:
                b += 1
            self.hist[c * N_BINS + b] += 1
        if length_ns > self.longest_ns[c]:
            self.longest_ns[c] = length_ns
        if length_ns < self.log_min_ns:
            return
        i = self.ev_n
        if i >= self.max_events:
            self.ev_dropped += 1
            return
        self.ev_ch[i] = c
        self.ev_start_us[i] = (start * NS_PER_CYCLE) // 1000
        self.ev_len_ns[i] = length_ns
        self.ev_n = i + 1

    def take_events(self, out):
        """Append (channel, start_us, length_ns) tuples to list `out` and empty the log (this
        allocates: call it outside the hot path)."""
        for i in range(self.ev_n):
            out.append((self.ev_ch[i], self.ev_start_us[i], self.ev_len_ns[i]))
        self.ev_n = 0
        return out

    def open_event(self, c, now_us):
        """(start_us, length_ns so far) of channel c's open event at now_us, or None."""
        s = self.start_t[c]
        if s < 0 or not (self.channel_mask >> c) & 1:
            return None
        start_us = s * NS_PER_CYCLE // 1000
        return start_us, (now_us * 1000 - s * NS_PER_CYCLE)

    def lost(self):
        """Loss counters: any nonzero value makes a monitoring run INVALID."""
        return {protocol.LOST_FIFO_STALLS: self.stalls, protocol.LOST_RING_OVERRUN: self.overrun_records,
                protocol.LOST_EVENT_LOG: self.ev_dropped, protocol.LOST_UNMEASURED: self.unmeasured}

    def first_loss_us(self):
        """[from, until]: the first loss lies between these times (us since start): the last
        good record before it and the first one after it (-1: not known / no loss)."""
        a = self.first_loss_t
        b = self.first_loss_until
        return [a * NS_PER_CYCLE // 1000 if a >= 0 else -1, b * NS_PER_CYCLE // 1000 if b >= 0 else -1]

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

