# TI ADS1262 32-bit precision delta-sigma ADC (ADC1), over SPI mode 1 (CPOL 0, CPHA 1).
#
#   adc = ADS1262(spi, cs_pin, drdy)          # drdy: callable or Pin-like, active low
#   adc.reset(); adc.read_id()
#   adc.configure(1200, 32, "sinc4")          # data rate SPS, PGA gain, filter
#   adc.set_mux(0, 1); adc.start(); uv = adc.read_uv()
#
# Every conversion is read with RDATA1 as status byte + 4 data bytes + checksum (INTERFACE:
# STATUS=1, CRC=01) and the checksum (sum of the data bytes + 0x9B, 8 bits) is verified on every
# read: a mismatch, a missing DRDY or a stale status raise ADCError. read_uv() allocates no buffer
# (preallocated bytearrays); its result is a float (one boxed float on the RP2040 port).
# Extra methods: read_reg(), write_reg(), command(), self_offset_cal(), period_us(),
# status (last status byte), overrange (PGA alarm bits of the last conversion).

import time

from micropython import const

# Commands (datasheet SBAS661, table "Command Byte Summary")
NOP = const(0x00)
RESET = const(0x06)
START1 = const(0x08)
STOP1 = const(0x0A)
START2 = const(0x0C)
STOP2 = const(0x0E)
RDATA1 = const(0x12)
RDATA2 = const(0x14)
SYOCAL1 = const(0x16)
SYGCAL1 = const(0x17)
SFOCAL1 = const(0x19)
RREG = const(0x20)  # | register address; second byte: count - 1
WREG = const(0x40)

# Registers
REG_ID = const(0x00)
REG_POWER = const(0x01)
REG_INTERFACE = const(0x02)
REG_MODE0 = const(0x03)
REG_MODE1 = const(0x04)
REG_MODE2 = const(0x05)
REG_INPMUX = const(0x06)
REG_OFCAL0 = const(0x07)
REG_OFCAL1 = const(0x08)
REG_OFCAL2 = const(0x09)
REG_FSCAL0 = const(0x0A)
REG_FSCAL1 = const(0x0B)
REG_FSCAL2 = const(0x0C)
REG_IDACMUX = const(0x0D)
REG_IDACMAG = const(0x0E)
REG_REFMUX = const(0x0F)
REG_TDACP = const(0x10)
REG_TDACN = const(0x11)
REG_GPIOCON = const(0x12)
REG_GPIODIR = const(0x13)
REG_GPIODAT = const(0x14)
REG_ADC2CFG = const(0x15)
REG_ADC2MUX = const(0x16)

# Bits
POWER_RESET = const(0x10)
POWER_INTREF = const(0x01)
INTERFACE_STATUS = const(0x04)
INTERFACE_CHECKSUM = const(0x01)
MODE1_SBMAG_10M = const(0x06)
STATUS_ADC1 = const(0x40)
STATUS_PGA_ALARMS = const(0x0E)  # PGAL_ALM, PGAH_ALM, PGAD_ALM
DEV_ID_MASK = const(0xE0)
DEV_ID_ADS1262 = const(0x00)

RATES = (2.5, 5.0, 10.0, 16.6, 20.0, 50.0, 60.0, 100.0, 400.0, 1200.0, 2400.0, 4800.0, 7200.0, 14400.0, 19200.0, 38400.0)
GAINS = (1, 2, 4, 8, 16, 32)
FILTERS = ("sinc1", "sinc2", "sinc3", "sinc4", "fir")
# First-conversion latency (datasheet table "Conversion Latency", DELAY = 0, chop off): the sinc
# filters take order / DR plus about 0.4 ms of overhead; FIR exists at 2.5/5/10/20 SPS; from
# 14400 SPS on the second filter stage is bypassed (sinc5 only).
_FIR_LATENCY_US = {0: 402_200, 1: 202_200, 2: 102_200, 4: 52_200}
_SINC5_LATENCY_US = {13: 423, 14: 336, 15: 271}
_OVERHEAD_US = const(425)
_RESET_WAIT_MS = const(9)  # 2**16 tCLK at 7.3728 MHz


class ADCError(Exception):
    pass


class ADS1262:
    def __init__(self, spi, cs, drdy, vref_v=2.5, baudrate=4_000_000):
        self._spi = spi
        self._cs = cs
        if hasattr(drdy, "value"):
            self._drdy = drdy.value
        else:
            self._drdy = drdy
        self.vref_v = vref_v
        self._baud = baudrate
        self._tx = bytearray(7)
        self._rx = bytearray(7)
        txm = memoryview(self._tx)
        rxm = memoryview(self._rx)
        # views for each transfer length, made once (slicing a memoryview allocates)
        self._views = {1: (txm[:1], rxm[:1]), 3: (txm[:3], rxm[:3]), 7: (txm, rxm)}
        self._dr = 4
        self._gain = 1
        self._filt = 4
        self._mode1 = 0x80
        self._uv_per_code = vref_v * 1e6 / 2147483648.0
        self.status = 0
        self.overrange = False
        self.poll_us = 50

    # --- bus --------------------------------------------------------------------------------
    def _xfer(self, n):
        self._spi.init(baudrate=self._baud, polarity=0, phase=1)
        self._cs.value(0)
        try:
            v = self._views[n]
            self._spi.write_readinto(v[0], v[1])
        finally:
            self._cs.value(1)

    def command(self, op):
        self._tx[0] = op
        self._xfer(1)

    def write_reg(self, reg, value):
        self._tx[0] = WREG | reg
        self._tx[1] = 0
        self._tx[2] = value & 0xFF
        self._xfer(3)

    def read_reg(self, reg):
        self._tx[0] = RREG | reg
        self._tx[1] = 0
        self._tx[2] = 0
        self._xfer(3)
        return self._rx[2]

    def _write_check(self, reg, value):
        self.write_reg(reg, value)
        got = self.read_reg(reg)
        if got != value:
            raise ADCError("ADS1262 register 0x%02x reads 0x%02x after writing 0x%02x" % (reg, got, value))

    # --- setup ------------------------------------------------------------------------------
    def reset(self):
        self.command(RESET)
        time.sleep_ms(_RESET_WAIT_MS)
        self._dr, self._gain, self._filt, self._mode1 = 4, 1, 4, 0x80

    def read_id(self):
        """The ID register; raises ADCError if it is not an ADS1262 (DEV_ID 000)."""
        v = self.read_reg(REG_ID)
        if v & DEV_ID_MASK != DEV_ID_ADS1262 or v == 0xFF:
            raise ADCError("no ADS1262 on the bus (ID register 0x%02x)" % v)
        return v

    def configure(self, rate_sps, gain, filt="sinc4"):
        dr = -1
        for i in range(len(RATES)):
            if abs(RATES[i] - rate_sps) < 0.2:
                dr = i
        if dr < 0:
            raise ValueError("ADS1262 data rate %r SPS: one of %s" % (rate_sps, RATES))
        if gain not in GAINS:
            raise ValueError("ADS1262 PGA gain %r: one of %s" % (gain, GAINS))
        if filt not in FILTERS:
            raise ValueError("ADS1262 filter %r: one of %s" % (filt, FILTERS))
        f = FILTERS.index(filt)
        if f == 4 and dr not in _FIR_LATENCY_US:
            raise ValueError("the FIR filter runs at 2.5, 5, 10 or 20 SPS only")
        g = GAINS.index(gain)
        self._write_check(REG_POWER, POWER_INTREF)  # internal 2.5 V reference on; clears RESET
        self._write_check(REG_INTERFACE, INTERFACE_STATUS | INTERFACE_CHECKSUM)
        self._write_check(REG_MODE0, 0x00)  # continuous conversions, chop off, no start delay
        self._mode1 = f << 5 | (self._mode1 & 0x07)
        self._write_check(REG_MODE1, self._mode1)
        self._write_check(REG_MODE2, g << 4 | dr)  # PGA enabled
        self._write_check(REG_REFMUX, 0x00)  # internal reference, both polarities
        self._dr, self._gain, self._filt = dr, gain, f
        self._uv_per_code = self.vref_v * 1e6 / gain / 2147483648.0

    def set_mux(self, ainp, ainn):
        if not (0 <= ainp <= 15 and 0 <= ainn <= 15):
            raise ValueError("ADS1262 mux inputs are 0..15")
        self.write_reg(REG_INPMUX, ainp << 4 | ainn)

    def sensor_bias(self, on):
        """10 MΩ sensor bias on ADC1 (pull-up on AINP, pull-down on AINN) for open-lead
        detection: a broken input then reads near positive full scale."""
        self._mode1 = (self._mode1 & ~0x1F) | (MODE1_SBMAG_10M if on else 0)
        self.write_reg(REG_MODE1, self._mode1)

    def start(self):
        self.command(START1)

    def stop(self):
        self.command(STOP1)

    def self_offset_cal(self):
        """SFOCAL1 (inputs shorted inside): waits for it to finish. Conversions must be running."""
        self.command(SFOCAL1)
        self._wait_drdy(16 * self.period_us() + self.conversion_time_us() + 10_000)

    # --- timing -----------------------------------------------------------------------------
    def period_us(self):
        return int(1_000_000 / RATES[self._dr])

    def conversion_time_us(self):
        """First-conversion latency at the current settings (start to DRDY)."""
        dr = self._dr
        if dr >= 13:
            return _SINC5_LATENCY_US[dr]
        if self._filt == 4:
            return _FIR_LATENCY_US[dr]
        return int((self._filt + 1) * 1_000_000 / RATES[dr]) + _OVERHEAD_US

    # --- data -------------------------------------------------------------------------------
    def _wait_drdy(self, timeout_us):
        t0 = time.ticks_us()
        drdy = self._drdy
        while drdy():
            if time.ticks_diff(time.ticks_us(), t0) > timeout_us:
                raise ADCError("ADS1262: no DRDY within %d us" % timeout_us)
            time.sleep_us(self.poll_us)

    def read_uv(self, timeout_us=0):
        """Wait for DRDY, read one conversion (status, data, checksum) and return it in µV at
        the ADC input. Default timeout: first-conversion latency + two periods + 2 ms."""
        if timeout_us <= 0:
            timeout_us = self.conversion_time_us() + 2 * self.period_us() + 2000
        self._wait_drdy(timeout_us)
        tx = self._tx
        tx[0] = RDATA1
        for i in range(1, 7):
            tx[i] = 0
        self._xfer(7)
        rx = self._rx
        if (rx[2] + rx[3] + rx[4] + rx[5] + 0x9B) & 0xFF != rx[6]:
            raise ADCError("ADS1262 checksum mismatch (data corrupted on the bus)")
        st = rx[1]
        self.status = st
        if not st & STATUS_ADC1:
            raise ADCError("ADS1262 status 0x%02x: no new conversion after DRDY" % st)
        self.overrange = bool(st & STATUS_PGA_ALARMS)
        hi = rx[2] - 256 if rx[2] & 0x80 else rx[2]
        code = (hi * 65536 + rx[3] * 256 + rx[4]) * 256.0 + rx[5]
        return code * self._uv_per_code
