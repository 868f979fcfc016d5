# Microchip 24LC256 (32 KB I2C serial EEPROM): the fixture's identity, calibration and counters.
#
# The part: 16-bit word address (high byte first), 64-byte pages. A write of up to 64 bytes
# goes into one page: bytes that run past the page's end wrap to the page's start (they would
# overwrite its first bytes), so write() splits at page boundaries itself. After each page write
# the part is busy for its internal write cycle (tWC, 5 ms max) and does not acknowledge its
# address meanwhile: write() waits by ACK polling (an empty write to the address until it is
# acknowledged), with a timeout, instead of a blind 5 ms sleep.
#
#   ee = EEPROM(i2c, 0x50)
#   ee.read(0x0100, 32) -> bytes      ee.write(0x0100, b"...")   (verify=True reads back)
#
# Errors: EEPROMError (an OSError) when the part does not answer, stays busy past the timeout,
# or reads back something else than was written. Buffers are allocated once.

import time

from micropython import const

SIZE = const(32768)
PAGE = const(64)
WRITE_TIMEOUT_MS = const(20)  # tWC is 5 ms max; allow margin for a slow bus
POLL_US = const(100)


class EEPROMError(OSError):
    pass


class EEPROM:
    def __init__(self, i2c, addr=0x50, size=SIZE, page=PAGE, timeout_ms=WRITE_TIMEOUT_MS):
        self._i2c = i2c
        self._addr = addr
        self.size = size
        self.page = page
        self.timeout_ms = timeout_ms
        self._buf = bytearray(2 + page)  # word address + one page
        self._a = bytearray(2)
        self.polls = 0  # ACK polls made by the last write (the write cycle, seen from here)

    def _check(self, mem, n):
        if mem < 0 or n < 0 or mem + n > self.size:
            raise EEPROMError("EEPROM access 0x%04x+%d outside 0..0x%04x" % (mem, n, self.size))

    def wait_ready(self):
        """ACK polling: the part acknowledges its address again when its write cycle is over."""
        t0 = time.ticks_ms()
        n = 0
        while True:
            try:
                self._i2c.writeto(self._addr, b"")
                self.polls = n
                return
            except OSError:
                n += 1
                if time.ticks_diff(time.ticks_ms(), t0) > self.timeout_ms:
                    raise EEPROMError("EEPROM at 0x%02x still busy after %d ms" % (self._addr, self.timeout_ms))
                time.sleep_us(POLL_US)

    def read(self, mem, n):
        """n bytes from address mem (sequential read)."""
        self._check(mem, n)
        a = self._a
        a[0] = (mem >> 8) & 0xFF
        a[1] = mem & 0xFF
        try:
            self._i2c.writeto(self._addr, a, False)
            return self._i2c.readfrom(self._addr, n)
        except OSError as e:
            raise EEPROMError("EEPROM at 0x%02x does not answer: %s" % (self._addr, e))

    def write(self, mem, data, verify=True):
        """Write data at mem, one page-aligned chunk at a time, waiting out each write cycle."""
        n = len(data)
        self._check(mem, n)
        mv = memoryview(data)
        buf = self._buf
        i = 0
        while i < n:
            room = self.page - ((mem + i) % self.page)
            k = n - i if n - i < room else room
            a = mem + i
            buf[0] = (a >> 8) & 0xFF
            buf[1] = a & 0xFF
            buf[2 : 2 + k] = mv[i : i + k]
            try:
                self._i2c.writeto(self._addr, memoryview(buf)[: 2 + k])
            except OSError as e:
                raise EEPROMError("EEPROM at 0x%02x refused a write: %s" % (self._addr, e))
            self.wait_ready()
            i += k
        if verify and self.read(mem, n) != bytes(data):
            raise EEPROMError("EEPROM read-back differs at 0x%04x+%d (worn out?)" % (mem, n))
