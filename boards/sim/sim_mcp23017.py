# Model of a Microchip MCP23017 16-bit I/O expander on I2C, IOCON.BANK = 0 register map.
#
# Nets: a pin that is an output (IODIR bit 0) drives its net with OLAT; an input pin reads what
# the outside drives (`drivers[bit]()`), or its pull-up (GPPU) or, floating, the board's resistor
# (`board_pulls`, default 0). Every change of a net's level calls `on_change(bit, level)`.

IODIRA = 0x00
IPOLA = 0x02
GPINTENA = 0x04
DEFVALA = 0x06
INTCONA = 0x08
IOCON = 0x0A
IOCON_B = 0x0B
GPPUA = 0x0C
INTFA = 0x0E
INTCAPA = 0x10
GPIOA = 0x12
OLATA = 0x14
NREGS = 0x16

IOCON_BANK = 0x80
IOCON_SEQOP = 0x20


class Mcp23017:
    def __init__(self, board_pulls=0, drivers=None, on_change=None):
        self.board_pulls = board_pulls
        self.drivers = drivers or {}
        self.on_change = on_change
        self.ptr = 0
        self.writes = 0
        self.reset()

    def reset(self):
        self.regs = bytearray(NREGS)
        self.regs[IODIRA] = 0xFF
        self.regs[IODIRA + 1] = 0xFF
        self._levels = self._compute()
        self.bank1_seen = False

    def _w16(self, reg):
        return self.regs[reg] | self.regs[reg + 1] << 8

    def _compute(self):
        iodir = self._w16(IODIRA)
        olat = self._w16(OLATA)
        pu = self._w16(GPPUA)
        lv = 0
        for bit in range(16):
            m = 1 << bit
            if not iodir & m:
                v = olat & m
            else:
                d = self.drivers.get(bit)
                if d is not None:
                    v = m if d() else 0
                elif pu & m:
                    v = m
                else:
                    v = self.board_pulls & m
            lv |= v
        return lv

    def level(self, bit):
        """Level of the net on expander bit 0..15 (GPA0..7 = 0..7, GPB0..7 = 8..15)."""
        return (self._compute() >> bit) & 1

    def _update(self):
        new = self._compute()
        old = self._levels
        self._levels = new
        if self.on_change and new != old:
            ch = new ^ old
            for bit in range(16):
                if ch & (1 << bit):
                    self.on_change(bit, (new >> bit) & 1)

    def _write_reg(self, reg, v):
        if reg in (IOCON, IOCON_B):
            if v & IOCON_BANK:
                self.bank1_seen = True  # not modelled: the firmware must keep BANK = 0
            self.regs[IOCON] = self.regs[IOCON_B] = v
            return
        if reg in (GPIOA, GPIOA + 1):  # a write to GPIO writes the output latch
            reg += 2
        if reg in (INTFA, INTFA + 1, INTCAPA, INTCAPA + 1):
            return  # read-only
        self.regs[reg] = v
        if reg in (IODIRA, IODIRA + 1, OLATA, OLATA + 1, GPPUA, GPPUA + 1):
            self._update()

    def _read_reg(self, reg):
        if reg in (GPIOA, GPIOA + 1):
            lv = self._compute()
            v = (lv >> (8 * (reg - GPIOA))) & 0xFF
            return v ^ self.regs[IPOLA + reg - GPIOA] & self.regs[IODIRA + reg - GPIOA]
        return self.regs[reg]

    def _next(self):
        if not self.regs[IOCON] & IOCON_SEQOP:
            self.ptr = (self.ptr + 1) % NREGS

    # I2C device interface (simhw)
    def i2c_write(self, data):
        if not data:
            return
        self.ptr = data[0] % NREGS
        self.writes += 1
        for b in data[1:]:
            self._write_reg(self.ptr, b)
            self._next()

    def i2c_read(self, n):
        out = bytearray(n)
        for i in range(n):
            out[i] = self._read_reg(self.ptr)
            self._next()
        return out
