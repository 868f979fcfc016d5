# Model of a Microchip 24LC256 I2C EEPROM (32 KB, 64-byte pages), as the part behaves:
#
# - a write sets the 16-bit word address (high byte first, the top bit ignored: 15 bits);
#   a write of 2 bytes only sets the address (the "dummy write" before a random read);
# - data bytes go into the addressed page; the address counter wraps INSIDE the page, so a
#   write that crosses a page boundary overwrites the page's first bytes (datasheet 6.2);
# - then the internal write cycle (tWC, `write_us`, 5 ms max): the part NAKs its address until
#   it ends (the driver's ACK polling), reads and writes alike;
# - reads are sequential from the address counter and wrap at the end of the array;
# - an erased part reads 0xFF.
#
# Contents persist in `path` (env SIM_EEPROM, default eeprom.bin in the working directory) after
# every write cycle, so they survive a restart of the simulated fixture like a real EEPROM.
#
# Test hooks: corrupt(addr, xor), fail_after_bytes (a write dies part-way: power loss),
# writes (page writes done), naks (addresses refused while busy).

import os

import simclock

SIZE = 32768
PAGE = 64
EIO = 5


class _Mem:
    """The array, kept sparse (pages that are not erased), so the model costs the simulated
    fixture's heap only what is written: mem[i], mem[i] = v, mem[a:b] = bytes."""

    def __init__(self):
        self.pages = {}

    def __getitem__(self, i):
        pg = self.pages.get(i // PAGE)
        return 0xFF if pg is None else pg[i % PAGE]

    def __setitem__(self, i, v):
        if isinstance(i, slice):
            for k in range(len(v)):
                self[i.start + k] = v[k]
            return
        n = i // PAGE
        pg = self.pages.get(n)
        if pg is None:
            pg = self.pages[n] = bytearray(b"\xff" * PAGE)
        pg[i % PAGE] = v


class Eeprom24LC256:
    def __init__(self, path=None, write_us=3500):
        self.path = path if path is not None else (os.getenv("SIM_EEPROM") or "eeprom.bin")
        self.write_us = write_us
        self.mem = _Mem()
        self.ptr = 0
        self.busy_until = 0
        self.writes = 0
        self.naks = 0
        self.fail_after_bytes = None
        self.loaded = False
        self._dirty = set()
        try:
            with open(self.path, "rb") as f:
                n = 0
                while n < SIZE // PAGE:
                    b = f.read(PAGE)
                    if len(b) < PAGE:
                        break
                    if b != b"\xff" * PAGE:
                        self.mem.pages[n] = bytearray(b)
                    n += 1
            self.loaded = n == SIZE // PAGE
        except OSError:
            pass

    def blank(self):
        return not self.loaded and self.writes == 0

    def _busy(self):
        if simclock.now_us() < self.busy_until:
            self.naks += 1
            raise OSError(EIO)  # address not acknowledged

    def i2c_write(self, data):
        self._busy()
        if len(data) < 2:
            return  # address-only (ACK poll) or a lone high byte: nothing happens
        self.ptr = ((data[0] << 8) | data[1]) & (SIZE - 1)
        payload = data[2:]
        if not payload:
            return
        base = self.ptr & ~(PAGE - 1)
        off = self.ptr & (PAGE - 1)
        n = len(payload)
        if self.fail_after_bytes is not None:
            n = min(n, self.fail_after_bytes)
            self.fail_after_bytes = None
        for i in range(n):
            self.mem[base + ((off + i) & (PAGE - 1))] = payload[i]
        self.ptr = base + ((off + len(payload)) & (PAGE - 1))
        self.writes += 1
        self.busy_until = simclock.now_us() + self.write_us
        self.save(base // PAGE)

    def i2c_read(self, n):
        self._busy()
        out = bytearray(n)
        for i in range(n):
            out[i] = self.mem[self.ptr]
            self.ptr = (self.ptr + 1) & (SIZE - 1)
        return bytes(out)

    def save(self, page=None):
        """Write the file (all of it the first time, then the page that changed)."""
        try:
            if not self.loaded:
                with open(self.path, "wb") as f:
                    for n in range(SIZE // PAGE):
                        pg = self.mem.pages.get(n)
                        f.write(pg if pg is not None else b"\xff" * PAGE)
                self.loaded = True
                return
            pages = range(SIZE // PAGE) if page is None else (page,)
            with open(self.path, "r+b") as f:
                for n in pages:
                    pg = self.mem.pages.get(n)
                    if pg is not None or page is not None:
                        f.seek(n * PAGE)
                        f.write(pg if pg is not None else b"\xff" * PAGE)
        except OSError:
            pass

    def corrupt(self, addr, xor=0x01):
        self.mem[addr] = self.mem[addr] ^ xor
        self.save(addr // PAGE)
