# Simulated `rp2` for the simulated fixture (MicroPython unix port; shadows the built-in rp2).
#
# - asm_pio / asm_pio_encode / PIOASMEmit: the assembler of MicroPython's own frozen rp2.py
#   (ports/rp2/modules/rp2.py), followed closely, with the 9-field program list of MicroPython
#   >= 1.26: [array('H') words, offset_pio0, offset_pio1, offset_pio2, execctrl, shiftctrl,
#   out_init, set_init, sideset_init]. The decorated function runs twice (labels, then words) with
#   the DSL names swapped in for its module globals.
# - PIO, StateMachine, DMA, PIOASMError, Flash, bootsel_button, country: the names and signatures
#   of the official stubs (.venv/stubs/rp2/__init__.pyi).
# - Behind StateMachine, a FAST model of the two programs of firmware/drivers/event_detector.py
#   (recognised by their instruction words): the detector turns the simulated waveform
#   (sim_events) into exactly the FIFO words the real program pushes, sample for sample
#   (tests/test_pio_cycle.py holds it to the cycle-accurate rp2040py run); the reference
#   interrupter turns a command word into an opening of exactly that many cycles on REF_CHANNEL.
#   A DMA model moves FIFO words into RAM (ring wrap, transfer count, write pointer as on the
#   RP2040). FDEBUG and CTRL of PIO0/PIO1 are served through simhw.register_mem32 (machine.mem32).
# - Several detector machines (the firmware runs three, PIO0 SM0..SM2, on the one program): each
#   has its own PC, FIFO, DMA and FDEBUG.RXSTALL bit. The PC is the program's offset after init()
#   or restart() and whatever an exec'd unconditional JMP sets (as on the chip, also while the SM
#   is disabled); the detector's entry chain (`nop [1]` x2) makes a machine started at offset+a
#   (a = 0, 1, 2) sample first 4 + 2 * (2 - a) cycles after its enable. A write of CTRL.SM_ENABLE
#   (directly or through the XOR/SET/CLR aliases) enables several machines at ONE simulated instant.
#   They read the one waveform and are advanced together (_catch_up), a chunk of waveform at a
#   time, so none runs ahead of what sim_events still remembers.
# - Overload, as on the chip, with bounded memory: the DMA writes a 32-bit ring through one
#   preallocated view (no allocation per word) and simply overwrites what the CPU has not read
#   yet (the firmware sees the overrun in the transfer count); when the DMA is not taking words
#   (stopped, count run out) the RX FIFO fills, the SM stalls on its `in`, FDEBUG.RXSTALL latches,
#   the SM takes no samples and its counter stops until the FIFO has room again (get(), DMA
#   restarted), then it resumes with its timebase moved on by the stall. The waveform
#   (sim_events) is generated lazily a time slice at a time, so no list grows with the rate.
#   Everything advances with simclock; nothing imports machine at import time.

from micropython import const

_PROG_DATA = const(0)
_PROG_OFFSET_PIO0 = const(1)
_PROG_OFFSET_PIO1 = const(2)
_PROG_OFFSET_PIO2 = const(3)
_PROG_EXECCTRL = const(4)
_PROG_SHIFTCTRL = const(5)
_PROG_OUT_PINS = const(6)
_PROG_SET_PINS = const(7)
_PROG_SIDESET_PINS = const(8)
_PROG_MAX_FIELDS = const(9)


class PIOASMError(Exception):
    pass


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


class PIOASMEmit:
    def __init__(
        self,
        *,
        out_init=None,
        set_init=None,
        sideset_init=None,
        side_pindir=False,
        in_shiftdir=PIO.SHIFT_LEFT,
        out_shiftdir=PIO.SHIFT_LEFT,
        autopush=False,
        autopull=False,
        push_thresh=32,
        pull_thresh=32,
        fifo_join=PIO.JOIN_NONE,
    ):
        from array import array

        self.labels = {}
        execctrl = side_pindir << 29
        shiftctrl = (
            fifo_join << 30
            | (pull_thresh & 0x1F) << 25
            | (push_thresh & 0x1F) << 20
            | out_shiftdir << 19
            | in_shiftdir << 18
            | autopull << 17
            | autopush << 16
        )
        self.prog = [array("H"), -1, -1, -1, execctrl, shiftctrl, out_init, set_init, sideset_init]

        self.wrap_used = False

        if sideset_init is None:
            self.sideset_count = 0
        elif isinstance(sideset_init, int):
            self.sideset_count = 1
        else:
            self.sideset_count = len(sideset_init)

    def start_pass(self, pass_):
        if pass_ == 1:
            if not self.wrap_used and self.num_instr:
                self.wrap()
            self.delay_max = 31
            if self.sideset_count:
                self.sideset_opt = self.num_sideset != self.num_instr
                if self.sideset_opt:
                    self.prog[_PROG_EXECCTRL] |= 1 << 30
                    self.sideset_count += 1
                self.delay_max >>= self.sideset_count
        self.pass_ = pass_
        self.num_instr = 0
        self.num_sideset = 0

    def __getitem__(self, key):
        return self.delay(key)

    def delay(self, delay):
        if self.pass_ > 0:
            if delay > self.delay_max:
                raise PIOASMError("delay too large")
            self.prog[_PROG_DATA][-1] |= delay << 8
        return self

    def side(self, value):
        self.num_sideset += 1
        if self.pass_ > 0:
            if self.sideset_count == 0:
                raise PIOASMError("no sideset")
            elif value >= (1 << self.sideset_count):
                raise PIOASMError("sideset too large")
            set_bit = 13 - self.sideset_count
            self.prog[_PROG_DATA][-1] |= self.sideset_opt << 12 | value << set_bit
        return self

    def wrap_target(self):
        self.prog[_PROG_EXECCTRL] |= self.num_instr << 7

    def wrap(self):
        assert self.num_instr
        self.prog[_PROG_EXECCTRL] |= (self.num_instr - 1) << 12
        self.wrap_used = True

    def label(self, label):
        if self.pass_ == 0:
            if label in self.labels:
                raise PIOASMError("duplicate label {}".format(label))
            self.labels[label] = self.num_instr

    def word(self, instr, label=None):
        self.num_instr += 1
        if self.pass_ > 0:
            if label is None:
                label = 0
            else:
                if label not in self.labels:
                    raise PIOASMError("unknown label {}".format(label))
                label = self.labels[label]
            self.prog[_PROG_DATA].append(instr | label)
        return self

    def nop(self):
        return self.word(0xA042)

    def jmp(self, cond, label=None):
        if label is None:
            label = cond
            cond = 0  # always
        return self.word(0x0000 | cond << 5, label)

    def wait(self, polarity, src, index):
        if src == 6:
            src = 1  # "pin"
        elif src != 0:
            src = 2  # "irq"
        return self.word(0x2000 | polarity << 7 | src << 5 | index)

    def in_(self, src, data):
        if not 0 < data <= 32:
            raise PIOASMError("invalid bit count {}".format(data))
        return self.word(0x4000 | src << 5 | data & 0x1F)

    def out(self, dest, data):
        if dest == 8:
            dest = 7  # exec
        if not 0 < data <= 32:
            raise PIOASMError("invalid bit count {}".format(data))
        return self.word(0x6000 | dest << 5 | data & 0x1F)

    def push(self, value=0, value2=0):
        value |= value2
        if not value & 1:
            value |= 0x20  # block by default
        return self.word(0x8000 | (value & 0x60))

    def pull(self, value=0, value2=0):
        value |= value2
        if not value & 1:
            value |= 0x20  # block by default
        return self.word(0x8080 | (value & 0x60))

    def mov(self, dest, src):
        if dest == 8:
            dest = 4  # exec
        return self.word(0xA000 | dest << 5 | src)

    def irq(self, mod, index=None):
        if index is None:
            index = mod
            mod = 0  # no modifiers
        return self.word(0xC000 | (mod & 0x60) | index)

    def set(self, dest, data):
        return self.word(0xE000 | dest << 5 | data)


_pio_funcs = {
    # source constants for wait
    "gpio": 0,
    # "pin": see below, translated to 1
    # "irq": see below function, translated to 2
    # source/dest constants for in_, out, mov, set
    "pins": 0,
    "x": 1,
    "y": 2,
    "null": 3,
    "pindirs": 4,
    "pc": 5,
    "status": 5,
    "isr": 6,
    "osr": 7,
    "exec": 8,  # translated to 4 for mov, 7 for out
    # operation functions for mov's src
    "invert": lambda x: x | 0x08,
    "reverse": lambda x: x | 0x10,
    # jmp condition constants
    "not_x": 1,
    "x_dec": 2,
    "not_y": 3,
    "y_dec": 4,
    "x_not_y": 5,
    "pin": 6,
    "not_osre": 7,
    # constants for push, pull
    "noblock": 0x01,
    "block": 0x21,
    "iffull": 0x40,
    "ifempty": 0x40,
    # constants and modifiers for irq
    # "noblock": see above
    # "block": see above
    "clear": 0x40,
    "rel": lambda x: x | 0x10,
}

_pio_directives = (
    "wrap_target",
    "wrap",
    "label",
)

_pio_instructions = (
    "word",
    "nop",
    "jmp",
    "wait",
    "in_",
    "out",
    "push",
    "pull",
    "mov",
    "irq",
    "set",
)


def asm_pio(**kw):
    emit = PIOASMEmit(**kw)

    def dec(f):
        nonlocal emit

        gl = f.__globals__
        old_gl = gl.copy()
        gl.clear()

        gl.update(_pio_funcs)
        for name in _pio_directives:
            gl[name] = getattr(emit, name)
        for name in _pio_instructions:
            gl[name] = getattr(emit, name)

        try:
            emit.start_pass(0)
            f()

            emit.start_pass(1)
            f()
        finally:
            gl.clear()
            gl.update(old_gl)

        return emit.prog

    return dec


# sideset_count is inclusive of enable bit
def asm_pio_encode(instr, sideset_count, sideset_opt=False):
    emit = PIOASMEmit()
    emit.sideset_count = sideset_count
    emit.sideset_opt = sideset_opt != 0
    emit.delay_max = 31 >> (emit.sideset_count + emit.sideset_opt)
    emit.pass_ = 1
    emit.num_instr = 0
    emit.num_sideset = 0

    gl = _pio_funcs.copy()
    for name in _pio_instructions:
        gl[name] = getattr(emit, name)
    gl["jmp"] = None  # emit.jmp currently not supported

    exec(instr, gl)

    if len(emit.prog[_PROG_DATA]) != 1:
        raise PIOASMError("expecting exactly 1 instruction")
    return emit.prog[_PROG_DATA][0]


def bootsel_button():
    return 0


def country(code=None):
    if code is None:
        return "XX"


class Flash:
    _BLOCK = 4096

    def __init__(self, *, start=-1, len=-1):
        self._data = bytearray(self._BLOCK * 4 if len < 0 else len)

    def readblocks(self, block_num, buf, offset=0):
        o = block_num * self._BLOCK + offset
        buf[:] = self._data[o : o + len(buf)]

    def writeblocks(self, block_num, buf, offset=None):
        o = block_num * self._BLOCK + (offset or 0)
        self._data[o : o + len(buf)] = buf

    def ioctl(self, op, arg=0):
        if op == 4:
            return len(self._data) // self._BLOCK
        if op == 5:
            return self._BLOCK
        return 0


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
_dmas = []
_mem_registered = False
_caught_up = -1  # the time _catch_up last brought every machine to


def _now_ns():
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
            _catch_up()
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

    simclock.add_hook(lambda now: _catch_up())


def _ctrl_enable(blk):
    en = 0
    for k in range(4):
        sm = _machines.get(blk * 4 + k)
        if sm is not None and sm._active:
            en |= 1 << k
    return en


def _set_enable(blk, bits):
    """CTRL.SM_ENABLE = bits: every machine whose bit turns on starts at the same instant."""
    _catch_up()
    t = _now_ns()
    for k in range(4):
        sm = _machines.get(blk * 4 + k)
        if sm is not None:
            sm._enable(bits >> k & 1, t)


def _catch_up():
    """Bring every machine up to now (once per instant: nothing more is due at the same time)."""
    global _caught_up
    t = _now_ns()
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
        _catch_up()
        v = self._rx.pop(0)
        if self._stalled:
            self._unstall(_now_ns())
        return v

    # -- the stub API --
    def active(self, value=None):
        if value is None:
            return self._active
        _catch_up()
        self._enable(bool(value), _now_ns())
        return self._active

    def restart(self):
        # As MicroPython's: pio_sm_restart, then a JMP to the program's offset.
        _catch_up()
        self._pc = self._offset
        if self._active:
            self._start(_now_ns())

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
        t = _now_ns()
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
        _catch_up()
        return len(self._rx)

    def tx_fifo(self):
        return len(self._tx)

    def exec(self, instr):
        if isinstance(instr, str):
            try:
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
            _catch_up()
            self._pc = instr & 0x1F

    def irq(self, handler=None, trigger=1, hard=False):
        return None


# ---------------------------------------------------------------------------------------------
# DMA: channels 0..11; CTRL as on the RP2040.

_DMA_FIELDS = (
    ("enable", 0, 1),
    ("high_pri", 1, 1),
    ("size", 2, 2),
    ("inc_read", 4, 1),
    ("inc_write", 5, 1),
    ("ring_size", 6, 4),
    ("ring_sel", 10, 1),
    ("chain_to", 11, 4),
    ("treq_sel", 15, 6),
    ("irq_quiet", 21, 1),
    ("bswap", 22, 1),
    ("sniff_en", 23, 1),
    ("busy", 24, 1),
    ("write_err", 29, 1),
    ("read_err", 30, 1),
    ("ahb_err", 31, 1),
)
_dma_used = [False] * 12


class DMA:
    def __init__(self):
        for i in range(12):
            if not _dma_used[i]:
                _dma_used[i] = True
                self.channel = i
                break
        else:
            raise OSError(16)  # EBUSY
        self._read = 0
        self._write = 0
        self._count = 0
        self._ctrl = 0
        self._sm = None
        self._mv = None
        self._fast = None  # (ring view, base, mask) for a 32-bit ring write, or None
        self._closed = False

    @staticmethod
    def unpack_ctrl(value):
        return {k: (value >> s) & ((1 << w) - 1) for k, s, w in _DMA_FIELDS}

    def pack_ctrl(self, *, default=None, enable=True, high_pri=False, size=2, inc_read=True, inc_write=True, inc_read_rev=None, inc_write_rev=None, **kwargs):
        if default is None:
            default = self._ctrl if self._ctrl else (self.channel << 11 | 0x3F << 15)
        vals = self.unpack_ctrl(default)
        vals.update(enable=int(enable), high_pri=int(high_pri), size=size, inc_read=int(inc_read), inc_write=int(inc_write))
        for k, v in kwargs.items():
            if k not in vals:
                raise KeyError(k)
            vals[k] = int(v)
        out = 0
        for k, s, w in _DMA_FIELDS:
            out |= (vals[k] & ((1 << w) - 1)) << s
        return out

    def config(self, *, read=None, write=None, count=None, ctrl=None, trigger=False):
        _catch_up()
        if read is not None:
            if isinstance(read, StateMachine):
                self._sm = read
                self._read = 0x50200020 + (read._id >> 2) * 0x100000 + 4 * (read._id & 3)
            else:
                self._read = read if isinstance(read, int) else _addr(read)
        if write is not None:
            self._write = write if isinstance(write, int) else _addr(write)
            self._fast = None  # recomputed by _start
        if count is not None:
            self._count = count & 0xFFFFFFFF
        if ctrl is not None:
            self._ctrl = ctrl & 0xFFFFFFFF
        if trigger:
            self._ctrl |= 1
            self._start()

    def _start(self):
        f = self.unpack_ctrl(self._ctrl)
        self._f = f
        self._fast = None
        if f["size"] == 2 and f["inc_write"] and f["ring_sel"] and f["ring_size"] >= 3 and not f["bswap"]:
            # The detector's ring: write whole words through one preallocated view (no
            # allocation per transfer: an overload moves millions of words).
            import uctypes

            nb = 1 << f["ring_size"]
            base = self._write & ~(nb - 1)
            view = uctypes.struct(base, {"w": (uctypes.ARRAY | 0, uctypes.UINT32 | (nb >> 2))}).w
            self._fast = (view, base, (nb >> 2) - 1)
        if f["enable"] and self._sm is not None and not self._closed:
            self._sm._dma = self
            self._ctrl |= 1 << 24
            # Drain what is already in the FIFO.
            while self._sm._rx and self._running():
                self._transfer(self._sm._rx.pop(0))
            if self._sm._stalled:
                self._sm._unstall(_now_ns())

    def _running(self):
        return not self._closed and (self._ctrl & (1 << 24)) and self._count > 0

    def _put2(self, a, b):
        view, base, mask = self._fast
        i = (self._write - base) >> 2
        view[i] = a
        i = (i + 1) & mask
        view[i] = b
        self._write = base + (((i + 1) & mask) << 2)
        self._count -= 2
        if self._count == 0:
            self._ctrl &= ~(1 << 24)

    def _transfer(self, v):
        import uctypes

        if self._fast is not None:
            view, base, mask = self._fast
            i = (self._write - base) >> 2
            view[i] = v
            self._write = base + (((i + 1) & mask) << 2)
            self._count -= 1
            if self._count == 0:
                self._ctrl &= ~(1 << 24)
            return
        f = self.unpack_ctrl(self._ctrl)
        size = 1 << f["size"]
        a = self._write
        if f["bswap"]:
            v = ((v & 0xFF) << 24) | ((v & 0xFF00) << 8) | ((v >> 8) & 0xFF00) | (v >> 24)
        mv = uctypes.bytearray_at(a, size)
        for i in range(size):
            mv[i] = (v >> (8 * i)) & 0xFF
        if f["inc_write"]:
            na = a + size
            if f["ring_sel"] and f["ring_size"]:
                m = (1 << f["ring_size"]) - 1
                na = (a & ~m) | (na & m)
            self._write = na
        self._count -= 1
        if self._count == 0:
            self._ctrl &= ~(1 << 24)

    @property
    def read(self):
        return self._read

    @read.setter
    def read(self, v):
        self.config(read=v)

    @property
    def write(self):
        _catch_up()
        return self._write

    @write.setter
    def write(self, v):
        self.config(write=v)

    @property
    def count(self):
        _catch_up()
        return self._count

    @count.setter
    def count(self, v):
        self.config(count=v)

    @property
    def ctrl(self):
        _catch_up()
        return self._ctrl

    @ctrl.setter
    def ctrl(self, v):
        self.config(ctrl=v, trigger=bool(v & 1))

    def active(self, value=None):
        if value is None:
            _catch_up()
            return bool(self._ctrl & (1 << 24))
        _catch_up()
        if value:
            self._ctrl |= 1
            self._start()
        else:
            self._ctrl &= ~((1 << 24) | 1)
        return bool(value)

    def close(self):
        if not self._closed:
            self.active(0)
            self._closed = True
            _dma_used[self.channel] = False
            if self._sm is not None and self._sm._dma is self:
                self._sm._dma = None

    def irq(self, handler=None, hard=False):
        return None


def _addr(buf):
    import uctypes

    return uctypes.addressof(buf)
