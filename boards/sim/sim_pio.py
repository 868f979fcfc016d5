# The simulated RP2040's PIO blocks (the C side of `rp2`: PIO, StateMachine), with FAST models of
# the firmware's two PIO programs (firmware/drivers/event_detector.py) behind StateMachine.
#
# - Program memory: offsets as the C side assigns them (highest free first), 32 words per block.
# - The programs are recognised by their instruction words (DETECTOR_WORDS, REF_WORDS; tests/
#   test_pio_words.py holds them to the firmware's asm_pio output and the pioasm twins). The
#   detector turns the simulated waveform (sim_events) into exactly the FIFO words the real program
#   pushes, sample for sample (tests/test_pio_cycle.py holds it to the cycle-accurate rp2040py
#   run); the reference interrupter turns a command word into an opening of exactly that many
#   cycles on REF_CHANNEL. FDEBUG and CTRL of PIO0/PIO1 are served through simhw.register_mem32
#   (machine.mem32). The DMA that takes the RX FIFO's words is sim_dma.
# - Several detector machines (the firmware runs three, PIO0 SM0..SM2, on the one program): each
#   has its own PC, FIFO, DMA and FDEBUG.RXSTALL bit. The PC is the program's offset after init()
#   or restart() and whatever an exec'd unconditional JMP sets (as on the chip, also while the SM
#   is disabled); the detector's entry chain (`nop [1]` x2) makes a machine started at offset+a
#   (a = 0, 1, 2) sample first 4 + 2 * (2 - a) cycles after its enable. A write of CTRL.SM_ENABLE
#   (directly or through the XOR/SET/CLR aliases) enables several machines at ONE simulated instant.
#   They read the one waveform and are advanced together (catch_up), a chunk of waveform at a
#   time, so none runs ahead of what sim_events still remembers.
# - Overload, as on the chip, with bounded memory: when the DMA is not taking words (stopped,
#   count run out) the RX FIFO fills, the SM stalls on its `in`, FDEBUG.RXSTALL latches, the SM
#   takes no samples and its counter stops until the FIFO has room again (get(), DMA restarted),
#   then it resumes with its timebase moved on by the stall. The waveform (sim_events) is
#   generated lazily a time slice at a time, so no list grows with the rate.
#   Everything advances with simclock; nothing imports machine at import time.

from micropython import const

# The program list's fields (rp2_asm_pio: the 9-field layout of MicroPython >= 1.26).
_PROG_DATA = const(0)
_PROG_OFFSET_PIO0 = const(1)
_PROG_SHIFTCTRL = const(5)


class PIO:
    JOIN_NONE = 0
    JOIN_TX = 1
    JOIN_RX = 2
    SHIFT_LEFT = 0
    SHIFT_RIGHT = 1
    IN_LOW = 0
    IN_HIGH = 1
    OUT_LOW = 2
    OUT_HIGH = 3
    IRQ_SM0 = 256
    IRQ_SM1 = 512
    IRQ_SM2 = 1024
    IRQ_SM3 = 2048

    def __init__(self, id):
        if id not in (0, 1):
            raise ValueError("invalid PIO")
        self._id = id

    def add_program(self, program):
        _load(self._id, program)

    def remove_program(self, program=None):
        if program is None:
            _used[self._id] = 0
            return
        off = program[_PROG_OFFSET_PIO0 + self._id]
        if off >= 0:
            n = len(program[_PROG_DATA])
            _used[self._id] &= ~(((1 << n) - 1) << off)
            program[_PROG_OFFSET_PIO0 + self._id] = -1

    def state_machine(self, id, program=None, **kwargs):
        return StateMachine(self._id * 4 + id, program, **kwargs)

    def irq(self, handler=None, trigger=0xF00, hard=False):
        return None


# ---------------------------------------------------------------------------------------------
# Program memory (offsets as the C side assigns them) and the programs the fast models know.

_used = [0, 0]


def _load(pio, program):
    off = program[_PROG_OFFSET_PIO0 + pio]
    if off >= 0:
        return off
    n = len(program[_PROG_DATA])
    for o in range(32 - n, -1, -1):
        m = ((1 << n) - 1) << o
        if not _used[pio] & m:
            _used[pio] |= m
            program[_PROG_OFFSET_PIO0 + pio] = o
            return o
    raise OSError(12)  # ENOMEM: no space for the program


# Instruction words of firmware/drivers/event_detector.py (tests/test_pio_words.py checks them
# against the firmware's own asm_pio output and the pioasm twins).
DETECTOR_WORDS = (0xA142, 0xA142, 0xA020, 0x4020, 0x4060, 0xA0EB, 0xA040, 0x00AD, 0xA047, 0x0093, 0x4020, 0x4060, 0x0293, 0x4040, 0x40E0, 0xA122, 0xA047, 0x0092, 0x0093, 0xA0E2)
REF_WORDS = (0x80A0, 0xA027, 0xE000, 0x0043, 0xE001)
DETECTOR_LOOP_CYCLES = 5  # the idle loop
DETECTOR_ENTRY_CYCLES = (4, 2, 0)  # `nop [1]` cycles from offset+0 (entry2), +1 (entry1), +2 (entry0)
DETECTOR_PROLOGUE_CYCLES = 4  # `mov x, pins` .. `mov osr, ~null`: the first sample follows
CYCLE_NS = 8  # at 125 MHz
# Constant delay from a comparator edge to the PIO reading it, in cycles. The chip's input
# synchronizer makes it 2; 1 is what rp2040py (the reference engine of the tests) does, so the
# model's words equal rp2040py's for the same waveform. It shifts every edge alike.
INPUT_LATENCY_CYCLES = 1
# Detector machines that run together are advanced in chunks of waveform: none gets further than
# this past the first edge the slowest one still has to see, so sim_events (which forgets what
# ended KEEP_NS = 20 us before the latest query) still holds everything the slowest one needs.
_CHUNK_NS = 8_000

_PIO_BASE = (0x50200000, 0x50300000)
_FDEBUG = [0, 0]  # per PIO block
_machines = {}
_mem_registered = False
_caught_up = -1  # the time catch_up last brought every machine to


def now_ns():
    import simclock

    return simclock.now_us() * 1000


def _register_mem():
    global _mem_registered
    if _mem_registered:
        return
    _mem_registered = True
    try:
        import simhw
    except ImportError:
        return
    for blk in (0, 1):
        base = _PIO_BASE[blk]

        def rd(addr, blk=blk):
            catch_up()
            return _FDEBUG[blk]

        def wr(addr, v, blk=blk):
            _FDEBUG[blk] &= ~v

        simhw.register_mem32(base + 0x008, rd, wr)

        # CTRL: SM_ENABLE in bits 0..3 (SM_RESTART 4..7 and CLKDIV_RESTART 8..11 self-clear and
        # read 0), at its address and its atomic aliases: +0x1000 XOR, +0x2000 SET, +0x3000 CLR.
        def ctrl_rd(addr, blk=blk):
            return _ctrl_enable(blk)

        for alias in range(4):

            def ctrl_wr(addr, v, blk=blk, alias=alias):
                cur = _ctrl_enable(blk)
                if alias == 0:
                    new = v
                elif alias == 1:
                    new = cur ^ v
                elif alias == 2:
                    new = cur | v
                else:
                    new = cur & ~v
                _set_enable(blk, new & 0xF)

            simhw.register_mem32(base + alias * 0x1000, ctrl_rd, ctrl_wr)
    import simclock

    simclock.add_hook(lambda now: catch_up())


def _ctrl_enable(blk):
    en = 0
    for k in range(4):
        sm = _machines.get(blk * 4 + k)
        if sm is not None and sm._active:
            en |= 1 << k
    return en


def _set_enable(blk, bits):
    """CTRL.SM_ENABLE = bits: every machine whose bit turns on starts at the same instant."""
    catch_up()
    t = now_ns()
    for k in range(4):
        sm = _machines.get(blk * 4 + k)
        if sm is not None:
            sm._enable(bits >> k & 1, t)


def catch_up():
    """Bring every machine up to now (once per instant: nothing more is due at the same time)."""
    global _caught_up
    t = now_ns()
    if t == _caught_up:
        return
    _caught_up = t
    run = [sm for sm in _machines.values() if sm._active and sm._kind == "detector" and not sm._stalled]
    quiet = False  # no edge up to t for any of them
    if len(run) > 1:
        # Several detectors on the one waveform: advance them together, a chunk at a time from
        # the first edge the slowest of them has not seen yet (idle stretches in one step).
        src = run[0]._src
        lat = run[0]._lat_ns
        lo = run[0]._t_eval
        for sm in run:
            if sm._t_eval < lo:
                lo = sm._t_eval
        while True:
            te = src.next_edge(lo - lat, t - lat)
            if te is None:
                quiet = True
                break
            h = te + lat + _CHUNK_NS
            if h >= t:
                break
            for sm in run:
                sm._run_to(h)
            lo = h  # every machine is at h now (one whose timebase a stall moved on is beyond it)
            run = [sm for sm in run if not sm._stalled]
            if len(run) < 2:
                break
    for sm in _machines.values():
        sm._run_to(t, quiet)


def _pin_num(p):
    if p is None:
        return None
    if isinstance(p, int):
        return p
    return getattr(p, "_id", None)


class StateMachine:
    def __init__(self, id, program=None, *, freq=-1, in_base=None, out_base=None, set_base=None, jmp_pin=None, sideset_base=None, in_shiftdir=None, out_shiftdir=None, push_thresh=None, pull_thresh=None, **kwargs):
        if not 0 <= id < 8:
            raise ValueError("invalid StateMachine")
        self._id = id
        old = _machines.get(id)
        if old is not None and program is None:
            self.__dict__.update(old.__dict__)
        else:
            self._reset_state()
        _machines[id] = self
        _register_mem()
        if program is not None:
            self.init(program, freq=freq, in_base=in_base, out_base=out_base, set_base=set_base, jmp_pin=jmp_pin, sideset_base=sideset_base, in_shiftdir=in_shiftdir, out_shiftdir=out_shiftdir, push_thresh=push_thresh, pull_thresh=pull_thresh, **kwargs)

    def _reset_state(self):
        self._prog = None
        self._kind = None
        self._active = False
        self._rx = []
        self._tx = []
        self._rx_depth = 4
        self._tx_depth = 4
        self._dma = None
        self._stalled = False
        self._pending = ()
        self._in_base = 0
        self._set_base = None
        self._freq = 125_000_000
        self._offset = 0
        self._pc = 0

    def init(self, program, *, freq=-1, in_base=None, out_base=None, set_base=None, jmp_pin=None, sideset_base=None, in_shiftdir=None, out_shiftdir=None, push_thresh=None, pull_thresh=None, **kwargs):
        self._reset_state()
        self._prog = program
        self._offset = self._pc = _load(self._id >> 2, program)  # pio_sm_init: PC = the offset
        words = tuple(program[_PROG_DATA])
        if words == DETECTOR_WORDS:
            self._kind = "detector"
        elif words == REF_WORDS:
            self._kind = "ref"
        shiftctrl = program[_PROG_SHIFTCTRL]
        join = shiftctrl >> 30
        self._rx_depth = 8 if join == PIO.JOIN_RX else (0 if join == PIO.JOIN_TX else 4)
        self._tx_depth = 8 if join == PIO.JOIN_TX else (0 if join == PIO.JOIN_RX else 4)
        if freq > 0:
            self._freq = freq
        self._in_base = _pin_num(in_base) or 0
        self._set_base = _pin_num(set_base)

    # -- fast models --
    def _enable(self, on, t_ns):
        """SM_ENABLE of this machine set to `on` at time t_ns."""
        if on and not self._active:
            self._active = True
            self._start(t_ns)
        elif not on and self._active:
            self._run_to(t_ns)
            self._active = False

    def _start(self, t0):
        self._t0 = t0  # the enable
        if self._kind == "detector":
            import sim_events

            a = self._pc - self._offset
            if not 0 <= a < len(DETECTOR_ENTRY_CYCLES):
                raise ValueError("simulated detector: started at address %d, not at an entry" % self._pc)
            self._src = sim_events.source()
            cyc = CYCLE_NS * 125_000_000 // self._freq
            self._cycle_ns = cyc
            self._loop_ns = DETECTOR_LOOP_CYCLES * cyc
            t_mov = t0 + DETECTOR_ENTRY_CYCLES[a] * cyc  # `mov x, pins` after the entry chain
            self._first_ns = t_mov + DETECTOR_PROLOGUE_CYCLES * cyc
            self._next_loop = 0  # the first loop index that still samples
            self._lat_ns = INPUT_LATENCY_CYCLES * cyc
            # (Read now, though `mov x, pins` runs up to 4 cycles after the enable: an event the
            # simulation adds later than the enable but starting before t_mov is not in this word;
            # add such events before enabling. The device has no such limit.)
            self._word = self._src.word_at(t_mov - self._lat_ns)
            self._t_eval = t_mov
            self._stalled = False
            self._pending = ()
            self._push2(self._word, 0, t_mov + 2 * cyc)  # the start record

    def _run_to(self, t_ns, quiet=False):
        """Advance the model to t_ns (quiet: the caller knows there is no edge up to t_ns)."""
        if not self._active or self._kind != "detector" or t_ns < self._first_ns or self._stalled:
            return  # (a stalled SM does nothing until its FIFO has room: _unstall)
        loop_ns = self._loop_ns
        first = self._first_ns
        src = self._src
        last = (t_ns - first) // loop_ns  # the last loop whose sample time is <= t_ns
        while True:
            n = self._next_loop
            if n > last:
                break
            # The first edge after the last evaluated sample, up to the last sample time.
            lat = self._lat_ns
            te = None if quiet else src.next_edge(self._t_eval - lat, first + last * loop_ns - lat)
            if te is not None:
                te += lat
            if te is None:
                cand = last + 1
            else:
                cand = (te - first + loop_ns - 1) // loop_ns
                if cand < n:
                    cand = n
            hb = n | 0xFFFFFFFF  # the next loop whose count is 0 (heartbeat unless a change)
            if hb < cand:
                cand = hb
            if cand > last:
                self._next_loop = last + 1
                self._t_eval = first + last * loop_ns
                break
            ts = first + cand * loop_ns
            self._t_eval = ts
            w = src.word_at(ts - lat)
            count = (0xFFFFFFFF - cand) & 0xFFFFFFFF
            if w != self._word:
                # Change path: push (word, count), the next sample is 2 loops later.
                self._word = w
                self._next_loop = cand + 2
                self._push2(w, count, ts + 2 * self._cycle_ns)
            elif cand == hb:
                # Heartbeat path: push (word, 0), also 2 loops.
                self._next_loop = cand + 2
                self._push2(w, 0, ts + 4 * self._cycle_ns)
            else:
                self._next_loop = cand + 1
            if self._stalled:
                break

    def _push2(self, a, b, t_push):
        """Autopush of a record's two words at time t_push (the first `in`)."""
        d = self._dma
        if d is not None and d._fast is not None and d._count > 1 and d._ctrl & 0x1000001 == 0x1000001:
            d._put2(a, b)  # the usual case: the DMA takes both words at once
            return
        self._push_words((a, b), t_push)

    def _push_words(self, words, t_push):
        for i in range(len(words)):
            d = self._dma
            if d is not None and d._running():
                d._transfer(words[i])
            elif len(self._rx) < self._rx_depth:
                self._rx.append(words[i])
            else:
                # Autopush on a full FIFO: the SM stalls on this `in` and FDEBUG.RXSTALL(sm)
                # latches. It stays stalled (no samples, the loop counter stops) until the FIFO
                # has room: _unstall() then pushes the rest and moves its timebase on by the stall.
                _FDEBUG[self._id >> 2] |= 1 << (self._id & 3)
                self._stalled = True
                self._pending = tuple(words[i:])
                self._stall_ns = t_push + i * self._cycle_ns
                return

    def _unstall(self, t_ns):
        """The FIFO has room again (CPU get, DMA restarted): the stalled `in` completes now."""
        if not self._stalled or not self._active:
            return
        cyc = self._cycle_ns
        shift = t_ns - self._stall_ns
        shift = (shift + cyc - 1) // cyc * cyc if shift > 0 else 0
        self._first_ns += shift  # every later sample and count comes `shift` later
        pend = self._pending
        self._pending = ()
        self._stalled = False
        self._push_words(pend, t_ns)
        if not self._stalled:
            self._run_to(t_ns)

    def _pull_rx(self):
        catch_up()
        v = self._rx.pop(0)
        if self._stalled:
            self._unstall(now_ns())
        return v

    # -- the stub API --
    def active(self, value=None):
        if value is None:
            return self._active
        catch_up()
        self._enable(bool(value), now_ns())
        return self._active

    def restart(self):
        # As MicroPython's: pio_sm_restart, then a JMP to the program's offset.
        catch_up()
        self._pc = self._offset
        if self._active:
            self._start(now_ns())

    def put(self, value, shift=0):
        if isinstance(value, int):
            vals = (value,)
        else:
            vals = value
        for v in vals:
            v = (v << shift) & 0xFFFFFFFF
            if self._kind == "ref" and self._active:
                self._ref_open(v + 2)
            else:
                if len(self._tx) >= max(self._tx_depth, 1):
                    raise OSError(110)  # the real put() would block forever
                self._tx.append(v)

    def _ref_open(self, cycles):
        import sim_events

        try:
            import board

            ch = board.REF_CHANNEL
        except ImportError:
            ch = 23
        t = now_ns()
        # A command is taken by `pull` and the switch opens 2 cycles later (mov, set).
        sim_events.source().add_event(ch, t + 3 * CYCLE_NS, cycles * CYCLE_NS)

    def get(self, buf=None, shift=0):
        if buf is None:
            if not self.rx_fifo():
                raise OSError(110)  # the real get() blocks forever on an empty FIFO
            return self._pull_rx() >> shift
        for i in range(len(buf)):
            buf[i] = self.get(None, shift)
        return buf

    def rx_fifo(self):
        catch_up()
        return len(self._rx)

    def tx_fifo(self):
        return len(self._tx)

    def exec(self, instr):
        if isinstance(instr, str):
            try:
                from rp2_asm_pio import asm_pio_encode

                instr = asm_pio_encode(instr, 0)
            except TypeError:
                # As on the device: MicroPython's asm_pio_encode has no jmp (it is None there).
                if instr.lstrip().startswith("jmp"):
                    raise TypeError("rp2.asm_pio_encode cannot encode jmp (MicroPython's rp2.py sets it to None): exec the word, sm.exec(addr) is `jmp(addr)`")
                raise
        instr &= 0xFFFF
        if instr & 0xE0E0 == 0:
            # JMP (opcode 000) with condition `always`: the PC, also while disabled (the chip
            # executes SMx_INSTR at once; pico-sdk's pio_sm_init sets the initial PC this way).
            # Other instructions change nothing the fast models keep.
            catch_up()
            self._pc = instr & 0x1F

    def irq(self, handler=None, trigger=1, hard=False):
        return None
