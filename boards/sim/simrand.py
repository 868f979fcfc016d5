# A small deterministic PRNG for the simulated hardware (xorshift32), independent of the
# interpreter's `random` so a seed gives the same fixture on every MicroPython build.

import math


class Rng:
    def __init__(self, seed):
        s = (int(seed) * 2654435761 + 0x9E3779B9) & 0xFFFFFFFF
        self.s = s or 0x1234567
        self._spare = None

    def u32(self):
        x = self.s
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.s = x
        return x

    def uniform(self):
        """[0, 1)"""
        return self.u32() / 4294967296.0

    def gauss(self):
        """Standard normal (Box-Muller)."""
        if self._spare is not None:
            g = self._spare
            self._spare = None
            return g
        u1 = self.uniform() or 1e-12
        u2 = self.uniform()
        r = math.sqrt(-2.0 * math.log(u1))
        self._spare = r * math.sin(2 * math.pi * u2)
        return r * math.cos(2 * math.pi * u2)
