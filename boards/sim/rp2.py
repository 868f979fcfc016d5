# Simulated `rp2` for the simulated fixture (MicroPython unix port; shadows the built-in rp2): the
# names of the device's module and nothing else (tests/test_sim_rp2_stubs.py holds them to the
# official stubs). The firmware imports it unchanged. On the device, rp2 is the port's C module
# (_rp2) plus the PIO assembler in Python; here likewise:
#
#   rp2_asm_pio.py   asm_pio, asm_pio_encode, PIOASMEmit, PIOASMError: upstream's assembler, copied
#   sim_pio.py       PIO, StateMachine: the PIO blocks and the fast models of the firmware's programs
#   sim_dma.py       DMA: the channels that move a state machine's words into RAM
#
# and, below, the rest of the API, which the firmware does not use (a Flash in RAM, no BOOTSEL).

from rp2_asm_pio import PIOASMEmit, PIOASMError, asm_pio, asm_pio_encode  # noqa: F401
from sim_dma import DMA  # noqa: F401
from sim_pio import PIO, StateMachine  # noqa: F401


def bootsel_button():
    return 0


def country(code=None):
    if code is None:
        return "XX"


class Flash:
    _BLOCK = 4096

    def __init__(self, *, start=-1, len=-1):
        self._data = bytearray(self._BLOCK * 4 if len < 0 else len)

    def readblocks(self, block_num, buf, offset=0):
        o = block_num * self._BLOCK + offset
        buf[:] = self._data[o : o + len(buf)]

    def writeblocks(self, block_num, buf, offset=None):
        o = block_num * self._BLOCK + (offset or 0)
        self._data[o : o + len(buf)] = buf

    def ioctl(self, op, arg=0):
        if op == 4:
            return len(self._data) // self._BLOCK
        if op == 5:
            return self._BLOCK
        return 0
