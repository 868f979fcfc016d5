# Model of a TI ADS1262 32-bit delta-sigma ADC (ADC1 only): registers, commands, conversion
# timing, DRDY, status byte, checksum, noise.
#
# Conversion timing: first conversion after START1 (or a restart by a register write) after the
# latency of datasheet SBAS661 table "Conversion Latency" (sinc1..4: about order/DR + 0.4 ms; FIR
# at 2.5..20 SPS; 14400..38400 SPS bypass the second filter stage), then one every 1/DR.
# Noise: input-referred µVRMS per data rate at gain 1 and gain 32, interpolated in log2(gain).
# The numbers are a model of the datasheet's noise table (SBAS661, "Noise Performance", chop off,
# internal reference), rounded; they set the right order of magnitude, they are not a copy.
# Output: 32-bit two's complement, full scale +-VREF/gain; checksum = (sum of the 4 data bytes +
# 0x9B) & 0xFF; the status byte (ADC1 new-data bit 6, PGA alarms bits 1-3, RESET bit 0) comes first.
# A test can corrupt the checksum of the next n conversions: `corrupt_checksums(n)`.

import simclock

RATES = (2.5, 5, 10, 16.6, 20, 50, 60, 100, 400, 1200, 2400, 4800, 7200, 14400, 19200, 38400)
NOISE_G1 = (0.10, 0.14, 0.20, 0.26, 0.30, 0.45, 0.50, 0.65, 1.3, 2.2, 3.2, 4.6, 5.8, 9.0, 13.0, 30.0)
NOISE_G32 = (0.012, 0.016, 0.022, 0.030, 0.032, 0.050, 0.055, 0.070, 0.14, 0.24, 0.34, 0.48, 0.60, 0.95, 1.2, 1.9)
FIR_LATENCY_US = {0: 402_200, 1: 202_200, 2: 102_200, 4: 52_200}
SINC5_LATENCY_US = {13: 423, 14: 336, 15: 271}
GAINS = (1, 2, 4, 8, 16, 32)

ID, POWER, INTERFACE, MODE0, MODE1, MODE2, INPMUX = 0, 1, 2, 3, 4, 5, 6
OFCAL0, FSCAL0, REFMUX = 7, 0x0A, 0x0F
RESET_VALUES = bytes(
    (0x01, 0x11, 0x05, 0x00, 0x80, 0x04, 0x01, 0, 0, 0, 0, 0, 0x40, 0xBB, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
)
RESTART_REGS = (MODE0, MODE1, MODE2, INPMUX, 7, 8, 9, 10, 11, 12, 0x0D, 0x0E, REFMUX)


def latency_us(dr, filt):
    if dr >= 13:
        return SINC5_LATENCY_US[dr]
    if filt >= 4:
        return FIR_LATENCY_US.get(dr, 402_200)
    return int((filt + 1) * 1_000_000 / RATES[dr]) + 425


def noise_uv(dr, gain):
    import math

    f = math.log(gain) / math.log(32)
    a = NOISE_G1[dr]
    b = NOISE_G32[dr]
    return a * (b / a) ** f


class Ads1262:
    def __init__(self, analog, vref_v, rng):
        self.analog = analog  # analog(ainp, ainn, bias_on) -> (uV or None if floating)
        self.vref = vref_v
        self.rng = rng
        self.cs_n = 1
        self.offset_uv = 0.8  # intrinsic offset (what SFOCAL1 removes)
        self.corrupt = 0
        self.conversions = 0
        self.reset()

    def reset(self):
        self.regs = bytearray(RESET_VALUES)
        self.running = False
        self.t0 = 0
        self.k_read = -1
        self.k_frozen = -1
        self.data = bytearray(4)
        self._end_frame()

    def corrupt_checksums(self, n=1):
        self.corrupt += n

    # --- timing -----------------------------------------------------------------------------
    def _dr(self):
        return self.regs[MODE2] & 0x0F

    def _gain(self):
        return GAINS[min((self.regs[MODE2] >> 4) & 7, 5)]

    def _filt(self):
        return (self.regs[MODE1] >> 5) & 7

    def _k(self, now):
        if not self.running:
            return self.k_frozen
        lat = latency_us(self._dr(), self._filt())
        dt = now - self.t0 - lat
        if dt < 0:
            return -1
        if self.regs[MODE0] & 0x40:  # pulse (one-shot) mode
            return 0
        return int(dt * RATES[self._dr()] / 1_000_000)

    def drdy_n(self):
        k = self._k(simclock.now_us())
        return 0 if (k >= 0 and k > self.k_read) else 1

    def _start(self):
        self.running = True
        self.t0 = simclock.now_us()
        self.k_read = -1

    # --- conversion -------------------------------------------------------------------------
    def _convert(self):
        self.conversions += 1
        inp = self.regs[INPMUX] >> 4
        inn = self.regs[INPMUX] & 15
        sb = self.regs[MODE1] & 7
        bias = sb == 6 or (1 <= sb <= 5)
        g = self._gain()
        v = self.analog(inp, inn, bias)
        alarm = 0
        fs = (1 << 31) - 1
        if v is None:
            if bias:
                code = fs
                alarm = 0x06
            else:
                code = int((self.rng.uniform() - 0.5) * 2 * fs)
        else:
            v += self.offset_uv + self.rng.gauss() * noise_uv(self._dr(), g)
            code = int(v * 1e-6 * g / self.vref * 2147483648.0)
        of = self.regs[OFCAL0] | self.regs[OFCAL0 + 1] << 8 | self.regs[OFCAL0 + 2] << 16
        if of & 0x800000:
            of -= 1 << 24
        fsc = self.regs[FSCAL0] | self.regs[FSCAL0 + 1] << 8 | self.regs[FSCAL0 + 2] << 16
        code = (code - of * 256) * fsc // 0x400000
        if code > fs:
            code, alarm = fs, alarm | 0x04
        elif code < -fs - 1:
            code, alarm = -fs - 1, alarm | 0x08
        return code & 0xFFFFFFFF, alarm

    def _rdata(self):
        now = simclock.now_us()
        k = self._k(now)
        status = 0x01 if self.regs[POWER] & 0x10 else 0
        if k >= 0 and k > self.k_read:
            self.k_read = k
            c, alarm = self._convert()
            self.data[0] = c >> 24
            self.data[1] = (c >> 16) & 0xFF
            self.data[2] = (c >> 8) & 0xFF
            self.data[3] = c & 0xFF
            status |= 0x40 | alarm
        out = bytearray(1) + self.data
        out[0] = status
        iface = self.regs[INTERFACE]
        if not iface & 0x04:
            out = out[1:]
        if iface & 0x03:
            chk = (sum(self.data) + 0x9B) & 0xFF
            if self.corrupt:
                self.corrupt -= 1
                chk ^= 0x5A
            out.append(chk)
        return out

    # --- SPI --------------------------------------------------------------------------------
    def set_cs(self, level):
        if level and not self.cs_n:
            self._end_frame()
        self.cs_n = level

    def _end_frame(self):
        self.state = 0  # 0 command, 1 rreg count, 2 wreg count, 3 wreg data
        self.tx = bytearray()
        self.reg = 0
        self.left = 0

    def spi_transfer(self, data, mode):
        if self.cs_n:
            return None
        if mode != 1:  # DIN sampled on the falling edge: another mode shifts the stream
            data = bytes((((data[i - 1] & 1) << 7 if i else 0) | data[i] >> 1) for i in range(len(data)))
        out = bytearray(len(data))
        for i in range(len(data)):
            if self.tx:
                out[i] = self.tx[0]
                self.tx = self.tx[1:]
            self._byte(data[i])
        return out

    def _byte(self, b):
        st = self.state
        if st == 1:
            n = (b & 0x1F) + 1
            self.tx = bytearray(self.regs[(self.reg + i) % len(self.regs)] for i in range(n))
            self.state = 4
        elif st == 2:
            self.left = (b & 0x1F) + 1
            self.state = 3
        elif st == 3:
            r = self.reg
            if r < len(self.regs) and r != ID:
                self.regs[r] = b
                if self.running and r in RESTART_REGS:
                    self._start()
            self.reg += 1
            self.left -= 1
            if self.left == 0:
                self.state = 0
        elif st == 0:
            self._command(b)

    def _command(self, b):
        if b in (0x06, 0x07):
            self.reset()
            simclock.advance_us(0)
        elif b in (0x08, 0x09):
            self._start()
        elif b in (0x0A, 0x0B):
            now = simclock.now_us()
            self.k_frozen = self._k(now) if self.running else self.k_frozen
            self.running = False
        elif b in (0x12, 0x13):
            self.tx = self._rdata()
        elif b & 0xE0 == 0x20:
            self.reg = b & 0x1F
            self.state = 1
        elif b & 0xE0 == 0x40:
            self.reg = b & 0x1F
            self.state = 2
        elif b in (0x16, 0x17, 0x19):
            self._calibrate(b)

    def _calibrate(self, b):
        g = self._gain()
        inp = self.regs[INPMUX] >> 4
        inn = self.regs[INPMUX] & 15
        if b == 0x19:  # SFOCAL1: inputs shorted internally
            v = self.offset_uv
        else:
            a = self.analog(inp, inn, False)
            v = (a or 0.0) + self.offset_uv
        code = int(v * 1e-6 * g / self.vref * 2147483648.0)
        if b == 0x17:  # SYGCAL1: input is full scale
            if code > 0:
                f = int(0x400000 * 2147483647 / code)
                f = max(0, min(f, 0xFFFFFF))
                self.regs[FSCAL0], self.regs[FSCAL0 + 1], self.regs[FSCAL0 + 2] = f & 255, (f >> 8) & 255, f >> 16
        else:
            o = (code // 256) & 0xFFFFFF
            self.regs[OFCAL0], self.regs[OFCAL0 + 1], self.regs[OFCAL0 + 2] = o & 255, (o >> 8) & 255, o >> 16
        # 16 conversions are averaged; then conversions restart
        self.running = True
        self.t0 = simclock.now_us() + 16 * int(1_000_000 / RATES[self._dr()])
        self.k_read = -1
