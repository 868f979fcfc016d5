# The simulated board's `select`: the interpreter's own poll, with the time it really waited
# added to the fixture's virtual clock, so that an idle fixture's clock runs while the host is
# quiet, and a busy one's runs only by what the hardware would take (see simclock).

import uselect as _real
import utime as _rt

import simclock

POLLIN = _real.POLLIN
POLLOUT = _real.POLLOUT
POLLERR = _real.POLLERR
POLLHUP = _real.POLLHUP


class poll:
    def __init__(self):
        self._p = _real.poll()

    def register(self, obj, eventmask=POLLIN | POLLOUT):
        self._p.register(obj, eventmask)

    def unregister(self, obj):
        self._p.unregister(obj)

    def modify(self, obj, eventmask):
        self._p.modify(obj, eventmask)

    def poll(self, timeout=-1):
        t0 = _rt.ticks_us()
        r = self._p.poll(timeout)
        simclock.advance_us(_rt.ticks_diff(_rt.ticks_us(), t0))
        return r

    def ipoll(self, timeout=-1, flags=0):
        t0 = _rt.ticks_us()
        r = self._p.ipoll(timeout, flags)
        simclock.advance_us(_rt.ticks_diff(_rt.ticks_us(), t0))
        return r


def select(rlist, wlist, xlist, timeout=None):
    t0 = _rt.ticks_us()
    r = _real.select(rlist, wlist, xlist, timeout) if timeout is not None else _real.select(rlist, wlist, xlist)
    simclock.advance_us(_rt.ticks_diff(_rt.ticks_us(), t0))
    return r
