# Simulated-board plumbing (sim only; the firmware never imports this): the registries through
# which the simulated `machine` reaches the simulated devices.
#
#   register_mem32/16/8(addr, read_fn, write_fn)   machine.mem32[addr] -> read_fn(addr),
#                                                   machine.mem32[addr] = v -> write_fn(addr, v)
#   register_i2c(bus_id, addr, dev)                 dev.i2c_write(data), dev.i2c_read(n) -> bytes
#   register_spi(bus_id, dev)                       dev.spi_transfer(data, mode) -> bytes or None
#   set_gpio(n, level) / gpio(n) / add_gpio_listener(n, fn)
#
# The devices of a board are built on first use of a bus (world()); sim_fixture builds them.

halted = 0  # nonzero (the reset cause) from a board reset until simboot reboots the chip
i2c_stuck = False  # test hook: every I2C transfer hangs from now on


class BoardReset(BaseException):
    """The RP2040 resets (watchdog): Python does not go on. The simulated machine.WDT raises this,
    and every later bus or pin access raises it again, so no `finally` of the firmware can touch
    the hardware on the way out, as on the chip. The parts outside the RP2040 (expander, relay
    chain, current source) keep their state. boards/sim/simboot.py boots main.py again."""

    def __init__(self, cause):
        super().__init__("board reset")
        self.cause = cause


def check_running():
    """Bus and pin accesses after a board reset raise it again: the firmware cannot go on."""
    if halted:
        raise BoardReset(halted)


def reboot():
    """After a BoardReset: the chip comes out of reset (machine: the watchdog off, reset_cause()
    says why); the firmware's modules must be loaded again (simboot.forget_firmware())."""
    global halted
    import machine

    cause = halted or machine.PWRON_RESET
    halted = 0
    machine._after_reset(cause)


_mem = {}
_plain_mem = {}
_i2c = {}
_spi = {}
_gpio = {}
_gpio_listeners = {}
_world = None


def register_mem32(addr, read_fn, write_fn):
    _mem[(4, addr)] = (read_fn, write_fn)


def register_mem16(addr, read_fn, write_fn):
    _mem[(2, addr)] = (read_fn, write_fn)


def register_mem8(addr, read_fn, write_fn):
    _mem[(1, addr)] = (read_fn, write_fn)


def mem_read(width, addr):
    check_running()
    h = _mem.get((width, addr))
    if h is not None and h[0] is not None:
        return h[0](addr) & ((1 << (8 * width)) - 1)
    return _plain_mem.get((width, addr), 0)


def mem_write(width, addr, value):
    check_running()
    value &= (1 << (8 * width)) - 1
    h = _mem.get((width, addr))
    if h is not None and h[1] is not None:
        h[1](addr, value)
    else:
        _plain_mem[(width, addr)] = value


def register_i2c(bus_id, addr, dev):
    _i2c[(bus_id, addr)] = dev


def i2c_device(bus_id, addr):
    return _i2c.get((bus_id, addr))


def i2c_addresses(bus_id):
    return sorted(a for (b, a) in _i2c if b == bus_id)


def register_spi(bus_id, dev):
    _spi.setdefault(bus_id, []).append(dev)


def spi_devices(bus_id):
    check_running()
    return _spi.get(bus_id, ())


def set_gpio(n, level):
    """Drive GPIO n from outside (a simulated signal into an input pin)."""
    check_running()
    level = 1 if level else 0
    old = _gpio.get(n)
    _gpio[n] = level
    if old != level:
        for fn in _gpio_listeners.get(n, ()):
            fn(n, level)


def gpio(n):
    return _gpio.get(n, 0)


def add_gpio_listener(n, fn):
    _gpio_listeners.setdefault(n, []).append(fn)


def world():
    """The simulated fixture (sim_fixture.World), built once on first use."""
    global _world
    if _world is None:
        import sim_fixture

        _world = sim_fixture.World()
    return _world
