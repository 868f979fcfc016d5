# Model of a daisy chain of TI TPIC6C595 power shift registers driving reed relays.
#
# Register 0 is the one on MOSI (SER IN); its serial out feeds register 1, and so on. The chain
# sees EVERY SCK on the SPI bus, whichever chip select is low: bytes meant for the ADC or the DAC
# shift into it too (harmless only while RCK does not rise). SRCK rising edge shifts, so mode 0
# (CPOL 0, CPHA 0) is the right SPI mode; in another mode the data changes on the sampling edge and
# the model sees the bit stream one bit late. SRCLR low clears the shift registers (not the
# storage registers); RCK rising copies the shift registers to the storage registers; outputs are
# on only with G low.
#
# Relay bit b (relay_map: bit 0 is the first output of the chain's LAST register) is output b % 8
# of register n-1-b//8. Coil on -> contact made RELAY_OPERATE_US later; coil off -> contact
# open RELAY_RELEASE_US later.

import simclock



LOG_KEEP = 512  # the test logs keep the latest entries: a long run must not fill the heap


def _bound(lst):
    if len(lst) > 2 * LOG_KEEP:
        del lst[:LOG_KEEP]

class RelayChain:
    def __init__(self, n_regs, operate_us, release_us, is_hot=None):
        self.n = n_regs
        self.operate_us = operate_us
        self.release_us = release_us
        self.is_hot = is_hot  # callable: True when test current flows (hot switching check)
        self.sr = bytearray(n_regs)
        self.store = bytearray(n_regs)
        self.g_n = 1
        self.clr_n = 1
        self.rck = 0
        self._last_bit = 0
        self.coils = set()
        self.t_on = {}
        self.t_off = {}
        self.log = []  # (t_us, bit, 1 coil on / 0 coil off)
        self.latches = []  # (t_us, frozenset of coil-on bits after the latch)
        self.hot_switches = []  # (t_us, bit, on): always kept, it is the safety evidence
        self.keep_log = False  # log and latches: tests that read them turn them on (heap)
        self.bytes_shifted = 0
        self.skewed_bytes = 0

    def spi_transfer(self, data, mode):
        k = len(data)
        self.bytes_shifted += k
        if self.clr_n == 0:
            return None  # held clear
        if mode != 0:
            self.skewed_bytes += k
            sk = bytearray(k)
            prev = self._last_bit
            for i in range(k):
                b = data[i]
                sk[i] = (prev << 7 | b >> 1) & 0xFF
                prev = b & 1
            data = sk
        self._last_bit = data[-1] & 1 if k else self._last_bit
        n = self.n
        if k >= n:
            for i in range(n):
                self.sr[i] = data[k - 1 - i]
        else:
            self.sr[k:] = self.sr[: n - k]
            for i in range(k):
                self.sr[i] = data[k - 1 - i]
        return None

    def set_clr(self, level):
        self.clr_n = level
        if not level:
            for i in range(self.n):
                self.sr[i] = 0

    def set_rck(self, level):
        if level and not self.rck:
            self.store[:] = self.sr
            self._apply()
            if self.keep_log:
                self.latches.append((simclock.now_us(), frozenset(self.coils)))
                _bound(self.latches)
        self.rck = level

    def set_g(self, level):
        self.g_n = level
        self._apply()

    def latched(self, bit):
        return (self.store[self.n - 1 - bit // 8] >> (bit % 8)) & 1

    def _apply(self):
        now = simclock.now_us()
        new = set()
        if not self.g_n:
            for r in range(self.n):
                v = self.store[r]
                if v:
                    base = (self.n - 1 - r) * 8
                    for i in range(8):
                        if v & (1 << i):
                            new.add(base + i)
        hot = self.is_hot() if self.is_hot else False
        for b in new - self.coils:
            self.t_on[b] = now
            if self.keep_log:
                self.log.append((now, b, 1))
                _bound(self.log)
            if hot:
                self.hot_switches.append((now, b, 1))
        for b in self.coils - new:
            self.t_off[b] = now
            if self.keep_log:
                self.log.append((now, b, 0))
                _bound(self.log)
            if hot:
                self.hot_switches.append((now, b, 0))
        self.coils = new

    def made(self, bit, now=None):
        """Is the relay's contact made at `now` (operate and release times modelled)?"""
        if now is None:
            now = simclock.now_us()
        if bit in self.coils:
            return now - self.t_on[bit] >= self.operate_us
        t_off = self.t_off.get(bit)
        if t_off is None or now - t_off >= self.release_us:
            return False
        t_on = self.t_on.get(bit, t_off)
        return t_off - t_on >= self.operate_us  # it had closed before the coil went off

    def made_bits(self, now=None):
        if now is None:
            now = simclock.now_us()
        out = []
        for b in self.coils:
            if self.made(b, now):
                out.append(b)
        for b, t in self.t_off.items():
            if b not in self.coils and now - t < self.release_us and self.made(b, now):
                out.append(b)
        return out
