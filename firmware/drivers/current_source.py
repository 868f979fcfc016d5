# Test-current source: a TI DAC8551 (16-bit, SPI mode 1, 24-bit frame) sets a precision current
# source; EN switches it (off: output disconnected and the force buses shunted; the lid switch is
# in series with EN in hardware), POL reverses it, COMPLY reads 1 when the output sits at its
# dry-circuit compliance clamp (board.SOURCE_COMPLIANCE_MV: open circuit or too much resistance).
#
#   src = CurrentSource(spi, dac_cs, en, pol, comply, full_scale_ma)
#   src.set_limit_ma(spec5861.current_limit_ma(positions))
#   src.set(100.0, 0); src.on(); ... src.in_compliance(); src.off()
#
# The setpoint and polarity change only while the source is off (SourceError otherwise).
# Extra: setpoint_ma(), polarity(), limit_ma().

import board


class SourceError(ValueError):
    pass


class CurrentSource:
    def __init__(self, spi, dac_cs, en, pol, comply, full_scale_ma, baudrate=None):
        self._spi = spi
        self._cs = dac_cs
        self._en = en
        self._pol = pol
        self._comply = comply
        self.full_scale_ma = float(full_scale_ma)
        self._baud = baudrate or board.SPI_BAUD
        self._frame = bytearray(3)
        self._on = False
        self._ma = 0.0
        self._polarity = 0
        self._limit = 0.0  # nothing allowed until the caller sets the connector's limit
        self.off()
        self._write_dac(0)
        self._pol.value(0)

    def _write_dac(self, code):
        f = self._frame
        f[0] = 0x00  # 6 don't-care bits, PD1 PD0 = 00: normal operation
        f[1] = (code >> 8) & 0xFF
        f[2] = code & 0xFF
        self._spi.init(baudrate=self._baud, polarity=0, phase=1)
        self._cs.value(0)
        try:
            self._spi.write(f)
        finally:
            self._cs.value(1)

    def set_limit_ma(self, ma):
        """Highest current allowed from now on (the connector's rating for the position count,
        spec5861.current_limit_ma). Lowering it below the setpoint is refused while on."""
        ma = float(ma)
        if ma < 0:
            raise SourceError("current limit %.3f mA is negative" % ma)
        if self._on and self._ma > ma:
            raise SourceError("the source is on at %.3f mA, above the new limit %.3f mA" % (self._ma, ma))
        self._limit = ma

    def limit_ma(self):
        return self._limit

    def set(self, ma, polarity=0):
        """Setpoint in mA and polarity (0 normal, 1 reversed). Only while off."""
        if self._on:
            raise SourceError("the test current is set only while the source is off")
        ma = float(ma)
        if ma < 0:
            raise SourceError("test current %.3f mA is negative (use polarity to reverse)" % ma)
        if ma > self.full_scale_ma:
            raise SourceError("test current %.3f mA is above the source's full scale %.1f mA" % (ma, self.full_scale_ma))
        if ma > self._limit:
            raise SourceError("test current %.3f mA is above the limit %.1f mA for this connector" % (ma, self._limit))
        if polarity not in (0, 1):
            raise SourceError("polarity is 0 or 1")
        code = int(ma / self.full_scale_ma * 65536 + 0.5)
        if code > 0xFFFF:
            code = 0xFFFF
        self._write_dac(code)
        self._pol.value(polarity)
        self._ma = code * self.full_scale_ma / 65536
        self._polarity = polarity

    def setpoint_ma(self):
        """The current the DAC code really gives (code-rounded)."""
        return self._ma

    def polarity(self):
        return self._polarity

    def on(self):
        if self._ma > self._limit:
            raise SourceError("setpoint %.3f mA is above the limit %.1f mA" % (self._ma, self._limit))
        self._en.value(1)
        self._on = True

    def off(self):
        self._en.value(0)
        self._on = False

    def is_on(self):
        return self._on

    def in_compliance(self):
        """True while the source is at its compliance clamp (no or too little current flows)."""
        return bool(self._comply.value())
