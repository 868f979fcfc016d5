# Reed-relay matrix on a daisy chain of TI TPIC6C595 power shift registers (SPI, mode 0:
# the TPIC6C595 shifts on the rising edge of SRCK).
#
# Bit order: relay bit b (relay_map: bit = node * 4 + bus) is output Q(b % 8) of register
# (n_regs - 1 - b // 8), counting registers from the one on MOSI. The chain buffer holds relay
# bits little-endian: buf[k] = relay bits 8k..8k+7 (bit i of buf[k] = relay 8k+i), and buf[0] goes
# out FIRST (it travels to the far end of the chain), MSB first, so relay 8k+7 is the first bit of
# each byte.
#
# Every SCK on the bus shifts the chain (ADC and DAC traffic too), which is harmless because the
# outputs only change on the RCK rising edge, and a write always shifts the whole chain right
# before that edge. The ADC CS and DAC SYNC are high whenever their drivers are not in a transfer.
#
# Legality (connect): no switching with the test current on; a node is never on a HI bus and a
# LO bus at once; a bus carries at most one node; bits in range. Break-before-make: relays that
# open are released first (latch, RELAY_RELEASE_US), then the new ones close (latch,
# RELAY_SETTLE_US).

import time

import board
import relay_map


class RelayError(ValueError):
    pass


class RelayMatrix:
    def __init__(self, spi, latch, oe_n, clr_n, n_bits, max_positions, source, baudrate=None):
        """spi: machine.SPI shared with the ADC/DAC; latch (RCK), oe_n (G), clr_n (SRCLR): Pin-like
        objects with .value(v); source: has is_on(). Opens every relay before returning."""
        self._spi = spi
        self._rck = latch
        self._g = oe_n
        self._clr = clr_n
        self.n_bits = n_bits
        self.max_positions = max_positions
        self._source = source
        self._baud = baudrate or board.SPI_BAUD
        self.n_regs = (n_bits + 7) // 8
        self._buf = bytearray(self.n_regs)
        self._closed = set()
        self.switch_count = 0
        self.open_all()

    def _describe(self, bit):
        k = relay_map.describe_bit(self.max_positions, bit)
        if k[0] == "ref":
            return "reference %d end %s (%s)" % (k[1], k[2], k[3])
        return "%s %s %d (%s)" % (k[1], k[0], k[2], k[3])

    def _shift_latch(self, bits):
        buf = self._buf
        for i in range(self.n_regs):
            buf[i] = 0
        for b in bits:
            buf[b >> 3] |= 1 << (b & 7)
        self._spi.init(baudrate=self._baud, polarity=0, phase=0)
        self._spi.write(buf)
        self._rck.value(1)  # rising edge: shift registers -> outputs
        self._rck.value(0)

    def open_all(self):
        """All relays open: outputs off (G high), chain cleared, zeros shifted and latched, then
        outputs enabled. Does not check the source (opening is always allowed)."""
        self._g.value(1)
        self._clr.value(0)
        self._clr.value(1)
        self._shift_latch(())
        self._g.value(0)
        had = len(self._closed)
        self._closed = set()
        if had:
            time.sleep_us(board.RELAY_RELEASE_US)

    def disable(self):
        """Outputs off at once (G high), the emergency stop; open_all() re-arms."""
        self._g.value(1)
        self._closed = set()

    def check(self, bits):
        """Raise RelayError if the set of relay bits is not a legal connection."""
        bus_node = [-1, -1, -1, -1]
        node_side = {}  # type: dict[int, bool]
        for b in bits:
            if not isinstance(b, int) or b < 0 or b >= self.n_bits:
                raise RelayError("relay bit %r is out of range 0..%d" % (b, self.n_bits - 1))
            node = b >> 2
            bus = b & 3
            hi = bus in (relay_map.HI_F, relay_map.HI_S)
            s = node_side.get(node)
            if s is not None and s != hi:
                raise RelayError("%s would be on a HI and a LO bus at once" % self._describe(b))
            node_side[node] = hi
            if bus_node[bus] not in (-1, node):
                raise RelayError(
                    "bus %s would carry two nodes: %s and %s"
                    % (relay_map.BUS_NAMES[bus], self._describe(bus_node[bus] * 4 + bus), self._describe(b))
                )
            bus_node[bus] = node

    def connect(self, bits):
        """Make exactly `bits` the closed relays (break-before-make). Refuses, with RelayError,
        an illegal set or any switching while the test current is on."""
        new = set(bits)
        self.check(new)
        if new == self._closed:
            return
        if self._source.is_on():
            raise RelayError("relays never switch with the test current on (source is on)")
        keep = self._closed & new
        if self._closed - new:
            self._shift_latch(keep)
            self._closed = keep
            time.sleep_us(board.RELAY_RELEASE_US)
        if new - keep:
            self._shift_latch(new)
            self._closed = new
            time.sleep_us(board.RELAY_SETTLE_US)
        self.switch_count += 1

    def closed(self):
        """The closed relay bits (sorted tuple)."""
        return tuple(sorted(self._closed))
