# Simulated `time` (the device API, same names and signatures as the rp2 stubs' time.pyi) on the
# virtual clock of simclock: sleeps return at once and move the clock forward; ticks wrap like the
# device's (TICKS_PERIOD = 2**30, MicroPython's small-int range on a 32-bit port).

import utime as _real  # the interpreter's own time module

import simclock

_PERIOD = 1 << 30
_MASK = _PERIOD - 1
_HALF = _PERIOD >> 1
_CPU_HZ = 125_000_000
_epoch0 = _real.time()  # wall clock at boot; time() then runs on the virtual clock


def sleep(seconds):
    simclock.advance_us(int(seconds * 1_000_000))


def sleep_ms(ms):
    simclock.advance_us(int(ms) * 1000)


def sleep_us(us):
    simclock.advance_us(int(us))


def ticks_ms():
    return (simclock.now_us() // 1000) & _MASK


def ticks_us():
    return simclock.now_us() & _MASK


def ticks_cpu():
    return (simclock.now_us() * (_CPU_HZ // 1_000_000)) & _MASK


def ticks_add(ticks, delta):
    return (ticks + delta) & _MASK


def ticks_diff(ticks1, ticks2):
    return ((ticks1 - ticks2 + _HALF) & _MASK) - _HALF


def time():
    return _epoch0 + simclock.now_us() // 1_000_000


def time_ns():
    return _epoch0 * 1_000_000_000 + simclock.now_us() * 1000


def gmtime(secs=None):
    return _real.gmtime(time() if secs is None else secs)


def localtime(secs=None):
    return _real.localtime(time() if secs is None else secs)


def mktime(local_time):
    return _real.mktime(local_time)
