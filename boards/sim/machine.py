# Simulated `machine` for the simulated fixture: the subset of the rp2 port's machine module the
# firmware uses, with the same names and signatures as the official rp2 stubs (machine.pyi;
# tests/test_sim_machine_stubs.py holds them together). Bus transfers reach the simulated devices
# through simhw and move the virtual clock (simclock) forward by their bit time.

import sys

import simclock
import simhw

PWRON_RESET = 1
WDT_RESET = 3

_freq = 125_000_000
_irq_state = 0
_reset_cause = PWRON_RESET
_wdt = None  # the running watchdog (None: never started, or disabled through WATCHDOG CTRL)
_WATCHDOG_CTRL = 0x40058000  # RP2040 watchdog CTRL; +0x3000 is its atomic clear alias
_WATCHDOG_ENABLE = 1 << 30


def _wdt_ctrl_clear(addr, value):
    global _wdt
    if value & _WATCHDOG_ENABLE:
        _wdt = None  # what the pico-sdk's watchdog_disable() does: the firmware's REPL hand-over
_EIO = 5  # the rp2 port raises OSError(EIO) when an I2C address is not acknowledged


def _pin_id(pin):
    if isinstance(pin, Pin):
        return pin._id
    if isinstance(pin, str):
        if pin == "LED":
            return 25
        if pin.startswith("GP") and pin[2:].isdigit():
            return int(pin[2:])
        raise ValueError("unknown pin %r" % pin)
    if isinstance(pin, int) and 0 <= pin < 30:
        return pin
    raise ValueError("invalid pin")


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    ALT = 3
    ALT_OPEN_DRAIN = 4
    ANALOG = 5
    PULL_UP = 1
    PULL_DOWN = 2
    PULL_HOLD = 4
    IRQ_LOW_LEVEL = 1
    IRQ_HIGH_LEVEL = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8
    DRIVE_0 = 0
    DRIVE_1 = 1
    DRIVE_2 = 2
    ALT_SPI = 1
    ALT_UART = 2
    ALT_I2C = 3
    ALT_PWM = 4
    ALT_SIO = 5
    ALT_PIO0 = 6
    ALT_PIO1 = 7
    ALT_GPCK = 8
    ALT_USB = 9

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=0, alt=-1):
        self._id = _pin_id(id)
        self._mode = Pin.IN
        self._pull = None
        self._out = 0
        self._drive = drive
        self._irq = None
        self.init(mode, pull, value=value, drive=drive, alt=alt)

    def init(self, mode=-1, pull=-1, *, value=None, drive=0, alt=-1):
        if mode != -1:
            self._mode = mode
        if pull != -1:
            self._pull = pull
        if value is not None:
            self._out = 1 if value else 0
        if alt != -1:
            self._mode = Pin.ALT
        self._drive = drive
        if self._mode == Pin.OUT or (self._mode == Pin.OPEN_DRAIN and self._out == 0):
            simhw.set_gpio(self._id, self._out)
        elif self._id not in simhw._gpio:
            simhw._gpio[self._id] = 1 if self._pull == Pin.PULL_UP else 0

    def value(self, x=None):
        if x is None:
            if self._mode == Pin.OUT:
                return self._out
            return simhw.gpio(self._id)
        self._out = 1 if x else 0
        if self._mode in (Pin.OUT, Pin.OPEN_DRAIN):
            simhw.set_gpio(self._id, self._out)
        return None

    def __call__(self, x=None):
        return self.value(x)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def high(self):
        self.value(1)

    def low(self):
        self.value(0)

    def toggle(self):
        self.value(0 if self._out else 1)

    def mode(self, mode=None):
        if mode is None:
            return self._mode
        self.init(mode)
        return None

    def pull(self, pull=None):
        if pull is None:
            return self._pull
        self._pull = pull
        return None

    def drive(self, drive=None):
        if drive is None:
            return self._drive
        self._drive = drive
        return None

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, *, priority=1, wake=None, hard=False):
        first = self._irq is None
        self._irq = (handler, trigger)
        if first:
            simhw.add_gpio_listener(self._id, self._edge)
        return None

    def _edge(self, n, level):
        if self._irq is None or self._irq[0] is None:
            return
        handler, trigger = self._irq
        if (level and trigger & Pin.IRQ_RISING) or (not level and trigger & Pin.IRQ_FALLING):
            handler(self)

    def __repr__(self):
        return "Pin(GPIO%d)" % self._id


class Signal:
    def __init__(self, pin_obj, invert=False):
        self._pin = pin_obj if isinstance(pin_obj, Pin) else Pin(pin_obj)
        self._inv = 1 if invert else 0

    def value(self, x=None):
        if x is None:
            return self._pin.value() ^ self._inv
        self._pin.value((1 if x else 0) ^ self._inv)
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class SPI:
    MSB = 0
    LSB = 1
    CONTROLLER = 0

    def __init__(self, id, baudrate=1_000_000, *, polarity=0, phase=0, bits=8, firstbit=MSB, sck=None, mosi=None, miso=None):
        if id not in (0, 1):
            raise ValueError("SPI(%s) doesn't exist" % id)
        self._id = id
        self._baud = 1_000_000
        self._pol = 0
        self._pha = 0
        self._bits = 8
        self._first = SPI.MSB
        simhw.world()
        self.init(baudrate, polarity=polarity, phase=phase, bits=bits, firstbit=firstbit, sck=sck, mosi=mosi, miso=miso)

    def init(self, baudrate=-1, *, polarity=-1, phase=-1, bits=-1, firstbit=-1, sck=None, mosi=None, miso=None):
        if baudrate != -1:
            if baudrate <= 0:
                raise ValueError("baudrate")
            self._baud = min(int(baudrate), _freq // 2)
        if polarity != -1:
            self._pol = polarity
        if phase != -1:
            self._pha = phase
        if bits != -1:
            if bits != 8:
                raise ValueError("the simulated SPI moves 8-bit words only")
            self._bits = bits
        if firstbit != -1:
            self._first = firstbit

    def deinit(self):
        pass

    def _xfer(self, out):
        n = len(out)
        mode = self._pol << 1 | self._pha
        if self._first != SPI.MSB:
            mode |= 4  # LSB first: every device here is MSB-first and sees garbage
        rx = None
        for dev in simhw.spi_devices(self._id):
            r = dev.spi_transfer(out, mode)
            if r is not None:
                if rx is None:
                    rx = bytearray(r)
                else:  # two drivers on MISO: the low level wins (open contention model)
                    for i in range(n):
                        rx[i] &= r[i]
        simclock.advance_us((n * 8 * 1_000_000 + self._baud - 1) // self._baud)
        return rx if rx is not None else b"\xff" * n

    def write(self, buf):
        self._xfer(bytes(buf))
        return None

    def read(self, nbytes, write=0x00):
        return bytes(self._xfer(bytes([write & 0xFF]) * nbytes))

    def readinto(self, buf, write=0x00):
        r = self._xfer(bytes([write & 0xFF]) * len(buf))
        buf[:] = r
        return None

    def write_readinto(self, write_buf, read_buf):
        if len(write_buf) != len(read_buf):
            raise ValueError("buffers must be the same length")
        r = self._xfer(bytes(write_buf))
        read_buf[:] = r
        return None


class I2C:
    def __init__(self, id, *, scl=None, sda=None, freq=400_000, timeout=50_000):
        if id not in (0, 1):
            raise ValueError("I2C(%s) doesn't exist" % id)
        self._id = id
        self._freq = 400_000
        simhw.world()
        self.init(scl=scl, sda=sda, freq=freq)

    def init(self, *, scl=None, sda=None, freq=400_000):
        if freq <= 0:
            raise ValueError("freq")
        self._freq = int(freq)

    def _dev(self, addr, nbytes):
        simhw.check_running()
        if simhw.i2c_stuck:
            # A bus that never finishes (a driver stuck waiting on it): time goes by until the
            # watchdog resets the chip (its check runs on every clock advance).
            while True:
                simclock.advance_us(1000)
        # address byte + data bytes, 9 clocks each, plus start and stop
        simclock.advance_us(((1 + nbytes) * 9 + 2) * 1_000_000 // self._freq)
        d = simhw.i2c_device(self._id, addr)
        if d is None:
            raise OSError(_EIO)
        return d

    def scan(self):
        simclock.advance_us(112 * 11 * 1_000_000 // self._freq)
        return simhw.i2c_addresses(self._id)

    def writeto(self, addr, buf, stop=True):
        self._dev(addr, len(buf)).i2c_write(bytes(buf))
        return len(buf)

    def writevto(self, addr, vector, stop=True):
        data = b"".join(bytes(v) for v in vector)
        self._dev(addr, len(data)).i2c_write(data)
        return len(data)

    def readfrom(self, addr, nbytes, stop=True):
        return bytes(self._dev(addr, nbytes).i2c_read(nbytes))

    def readfrom_into(self, addr, buf, stop=True):
        buf[:] = self._dev(addr, len(buf)).i2c_read(len(buf))
        return None

    def writeto_mem(self, addr, memaddr, buf, *, addrsize=8):
        self.writeto(addr, _memaddr(memaddr, addrsize) + bytes(buf))
        return None

    def readfrom_mem(self, addr, memaddr, nbytes, *, addrsize=8):
        self.writeto(addr, _memaddr(memaddr, addrsize), False)
        return self.readfrom(addr, nbytes)

    def readfrom_mem_into(self, addr, memaddr, buf, *, addrsize=8):
        self.writeto(addr, _memaddr(memaddr, addrsize), False)
        self.readfrom_into(addr, buf)
        return None


def _memaddr(memaddr, addrsize):
    n = addrsize // 8
    return bytes((memaddr >> (8 * (n - 1 - i))) & 0xFF for i in range(n))


class WDT:
    """Like the RP2040's: at most 8388 ms, cannot be stopped. Expiry (no feed() for `timeout` ms
    of fixture time) resets the board: the simulated board ends the process with a message."""

    def __init__(self, *, id=0, timeout=5000):
        global _wdt
        if timeout < 1 or timeout > 8388:
            raise ValueError("timeout")
        self._timeout_us = timeout * 1000
        self._last = simclock.now_us()
        _wdt = self
        simclock.add_hook(self._check)
        simhw.register_mem32(_WATCHDOG_CTRL + 0x3000, None, _wdt_ctrl_clear)

    def feed(self):
        self._last = simclock.now_us()

    def _check(self, now):
        if _wdt is not self or simhw.halted:
            return  # disabled, or an earlier watchdog: the chip has one
        if now - self._last > self._timeout_us:
            sys.stderr.write("simulated board: watchdog reset (not fed for %d ms)\n" % ((now - self._last) // 1000))
            simhw.halted = WDT_RESET
            raise simhw.BoardReset(WDT_RESET)


class _Mem:
    def __init__(self, width):
        self._w = width

    def __getitem__(self, addr):
        return simhw.mem_read(self._w, addr)

    def __setitem__(self, addr, value):
        simhw.mem_write(self._w, addr, value)


mem8 = _Mem(1)
mem16 = _Mem(2)
mem32 = _Mem(4)


def unique_id():
    import os

    s = os.getenv("SIM_UID")
    if s:
        try:
            return bytes.fromhex(s)
        except ValueError:
            pass
    return b"\xe6\x61\x41\x04\x03\x5a\x4c\x2b"


def freq(hz=None):
    global _freq
    if hz is None:
        return _freq
    _freq = int(hz)
    return None


def idle():
    simclock.advance_us(1000 - simclock.now_us() % 1000)  # until the next 1 ms tick interrupt


def lightsleep(time_ms=None):
    simclock.advance_us(int(time_ms or 0) * 1000)


def deepsleep(time_ms=None):
    reset()


def disable_irq():
    global _irq_state
    s = _irq_state
    _irq_state = 1
    return s


def enable_irq(state):
    global _irq_state
    _irq_state = state


def time_pulse_us(pin, pulse_level, timeout_us=1_000_000):
    # Simulated pins do not change by themselves while Python waits: the pulse never comes.
    simclock.advance_us(timeout_us)
    return -1 if pin.value() == pulse_level else -2


def reset_cause():
    return _reset_cause


def _after_reset(cause):
    """simhw.reboot(): the chip out of reset, the watchdog off, reset_cause() says why."""
    global _wdt, _reset_cause
    _reset_cause = cause
    _wdt = None


def reset():
    sys.stderr.write("simulated board: machine.reset()\n")
    sys.exit(0)


def soft_reset():
    sys.stderr.write("simulated board: machine.soft_reset()\n")
    sys.exit(0)


def bootloader(value=None):
    sys.stderr.write("simulated board: machine.bootloader()\n")
    sys.exit(0)
