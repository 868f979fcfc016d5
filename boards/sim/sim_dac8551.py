# Model of a TI DAC8551 16-bit DAC (the test-current setpoint). A frame is 24 bits while SYNC is
# low: 6 don't-care bits, PD1 PD0 (00 = normal operation), 16-bit code, MSB first; the DAC
# samples DIN on the SCLK falling edge (SPI mode 1) and updates on the 24th bit. SYNC going high
# before the 24th bit aborts the frame (nothing changes).


class Dac8551:
    def __init__(self):
        self.sync_n = 1
        self.code = 0
        self.pd = 0
        self.frame = bytearray()
        self.frames = 0
        self.aborted = 0
        self.mode_errors = 0

    def set_sync(self, level):
        if level and not self.sync_n and len(self.frame) % 3:
            self.aborted += 1
        if not level and self.sync_n:
            self.frame = bytearray()
        self.sync_n = level

    def spi_transfer(self, data, mode):
        if self.sync_n:
            return None
        if mode != 1:
            self.mode_errors += 1
            data = bytes((((data[i - 1] & 1) << 7 if i else 0) | data[i] >> 1) for i in range(len(data)))
        for b in data:
            self.frame.append(b)
            if len(self.frame) == 3:
                self.pd = self.frame[0] & 3
                self.code = self.frame[1] << 8 | self.frame[2]
                self.frames += 1
                self.frame = bytearray()
        return None  # DAC8551 has no data output

    def fraction(self):
        """Output as a fraction of full scale (0 when powered down)."""
        return 0.0 if self.pd else self.code / 65536.0
