# The simulated RP2040's DMA channels (the C side of `rp2`: DMA): CTRL as on the RP2040, a
# channel paced by a state machine's RX FIFO (read=sm) moves its words into RAM: ring wrap,
# transfer count and write pointer as on the chip. The detector's 32-bit ring is written through
# one preallocated view (no allocation per word: an overload moves millions of them) and simply
# overwrites what the CPU has not read yet (the firmware sees the overrun in the transfer count).
# The channel and its state machine (sim_pio) hand words to each other directly: the DREQ.

from sim_pio import StateMachine, catch_up, now_ns

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
        catch_up()
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
                self._sm._unstall(now_ns())

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
        catch_up()
        return self._write

    @write.setter
    def write(self, v):
        self.config(write=v)

    @property
    def count(self):
        catch_up()
        return self._count

    @count.setter
    def count(self, v):
        self.config(count=v)

    @property
    def ctrl(self):
        catch_up()
        return self._ctrl

    @ctrl.setter
    def ctrl(self, v):
        self.config(ctrl=v, trigger=bool(v & 1))

    def active(self, value=None):
        if value is None:
            catch_up()
            return bool(self._ctrl & (1 << 24))
        catch_up()
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
