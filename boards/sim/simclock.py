# The simulated fixture's clock: the sum of every wait the fixture makes, nothing else.
#
# A sleep on the simulated board returns at once and moves this clock forward instead, and so do
# modeled hardware delays (bus transfers, ADC conversions) and the time the fixture really spends
# waiting for the host (select.poll in boards/sim/select.py). The host PC's CPU time running the
# simulation is NOT fixture time: timings are deterministic and show what the real hardware's
# waits add up to (the RP2040's own CPU time is not modeled). Simulated devices that evolve with
# time (relays settling, PIO state machines, DMA) register a hook and are brought up to date
# whenever the clock moves.

import utime as _real  # the interpreter's own time module (ours shadows `time`)

_now_us = 0
_hooks = []


def now_us():
    """Microseconds of fixture time since the simulated fixture booted (an int that does not wrap)."""
    return _now_us


def advance_us(us):
    """Let `us` microseconds of fixture time pass without waiting for them."""
    global _now_us
    if us > 0:
        _now_us += int(us)
    t = _now_us
    for h in _hooks:
        h(t)


def add_hook(fn):
    """fn(now_us) is called after every advance."""
    _hooks.append(fn)


def real_sleep_ms(ms):
    """Really wait (for the rare place that must let the host catch up)."""
    _real.sleep_ms(ms)
