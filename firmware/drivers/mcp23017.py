# Microchip MCP23017 16-bit I/O expander on I2C (IOCON.BANK = 0 register map).
#
# Bits 0..7 are GPA0..7, 8..15 are GPB0..7. The driver keeps a shadow of the output latch, so
# set() is one 3-byte I2C write (OLAT of the port that changes) and never a read-modify-write.
#
#   x = MCP23017(i2c, 0x20)
#   x.configure(outputs=(0, 1), inputs=(12,), initial=0b11, pullups=(12,))
#   x.set(1, 0); x.get(12); x.read_inputs(); p = x.pin(0); p.value(1)

from micropython import const

IODIRA = const(0x00)
IODIRB = const(0x01)
IPOLA = const(0x02)
IPOLB = const(0x03)
GPINTENA = const(0x04)
GPINTENB = const(0x05)
IOCON = const(0x0A)  # BANK=0: also at 0x0B
GPPUA = const(0x0C)
GPPUB = const(0x0D)
GPIOA = const(0x12)
GPIOB = const(0x13)
OLATA = const(0x14)
OLATB = const(0x15)

IOCON_BANK = const(0x80)
IOCON_SEQOP = const(0x20)


class ExpanderError(OSError):
    pass


class ExpanderPin:
    """One expander bit with the machine.Pin value() interface: value() reads, value(v) sets."""

    def __init__(self, expander, bit):
        self._x = expander
        self._bit = bit

    def value(self, v=None):
        if v is None:
            return self._x.get(self._bit)
        self._x.set(self._bit, v)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self._x.set(self._bit, 1)

    def off(self):
        self._x.set(self._bit, 0)


class MCP23017:
    def __init__(self, i2c, addr=0x20):
        self._i2c = i2c
        self._addr = addr
        self._olat = 0
        self._outputs = 0
        self._w2 = bytearray(2)
        self._w3 = bytearray(3)
        self._r2 = bytearray(2)
        self._r1 = bytearray(1)
        self._pins = {}

    def _write(self, reg, value):
        b = self._w2
        b[0] = reg
        b[1] = value & 0xFF
        self._i2c.writeto(self._addr, b)

    def _write16(self, reg_a, value):
        b = self._w3
        b[0] = reg_a
        b[1] = value & 0xFF
        b[2] = (value >> 8) & 0xFF
        self._i2c.writeto(self._addr, b)  # sequential mode: A then B

    def configure(self, outputs, inputs, initial=0, pullups=()):
        """Make `outputs` outputs at the levels of the `initial` bitmask (the latch is written
        before the direction, so no output glitches), `inputs` inputs (with a pull-up for the
        bits in `pullups`). Bits in neither list stay inputs. Checks the chip answers."""
        out = 0
        for b in outputs:
            out |= 1 << b
        pu = 0
        for b in pullups:
            pu |= 1 << b
        for b in inputs:
            if out & (1 << b):
                raise ValueError("expander bit %d is both input and output" % b)
        self._write(IOCON, 0x00)  # BANK=0, sequential addressing, active-low INT
        self._write16(IPOLA, 0x0000)
        self._write16(GPINTENA, 0x0000)
        self._olat = initial & out & 0xFFFF
        self._write16(OLATA, self._olat)
        self._write16(GPPUA, pu)
        self._write16(IODIRA, ~out & 0xFFFF)
        self._outputs = out
        # read back the direction register: a missing or wrong chip fails here, not later
        self._i2c.writeto(self._addr, bytes((IODIRA,)), False)
        self._i2c.readfrom_into(self._addr, self._r2)
        if (self._r2[0] | self._r2[1] << 8) != (~out & 0xFFFF):
            raise ExpanderError("MCP23017 at 0x%02x: IODIR readback mismatch" % self._addr)

    def set(self, bit, value):
        m = 1 << bit
        if not self._outputs & m:
            raise ValueError("expander bit %d is not an output" % bit)
        new = (self._olat | m) if value else (self._olat & ~m)
        if new == self._olat:
            return
        self._olat = new
        if bit < 8:
            self._write(OLATA, new)
        else:
            self._write(OLATB, new >> 8)

    def set_many(self, mask, values):
        """Set the output bits of `mask` to the bits of `values`, one write per port changed."""
        if mask & ~self._outputs:
            raise ValueError("not all bits of the mask are outputs")
        new = (self._olat & ~mask) | (values & mask)
        ch = new ^ self._olat
        self._olat = new
        if ch & 0xFF and ch & 0xFF00:
            self._write16(OLATA, new)
        elif ch & 0xFF:
            self._write(OLATA, new)
        elif ch:
            self._write(OLATB, new >> 8)

    def output(self, bit):
        """The shadow (last written) level of an output bit."""
        return (self._olat >> bit) & 1

    def read_inputs(self):
        """Both ports' pin levels as a 16-bit int (bit n = expander bit n)."""
        self._r1[0] = GPIOA
        self._i2c.writeto(self._addr, self._r1, False)
        self._i2c.readfrom_into(self._addr, self._r2)
        return self._r2[0] | self._r2[1] << 8

    def get(self, bit):
        """Level of one pin (an output reads its shadow, an input the pin: one port read)."""
        m = 1 << bit
        if self._outputs & m:
            return 1 if self._olat & m else 0
        self._r1[0] = GPIOA if bit < 8 else GPIOB
        self._i2c.writeto(self._addr, self._r1, False)
        self._i2c.readfrom_into(self._addr, self._r1)
        return (self._r1[0] >> (bit & 7)) & 1

    def pin(self, bit):
        p = self._pins.get(bit)
        if p is None:
            p = ExpanderPin(self, bit)
            self._pins[bit] = p
        return p
