# The simulated fixture's clock: real elapsed time plus every wait the simulation skipped.
#
# A sleep on the simulated board returns at once and moves this clock forward instead, and so do
# modeled hardware delays (bus transfers, ADC conversions). The firmware sees time pass exactly as
# it would on the board, the host sees a fixture that is faster than real. Simulated devices that
# evolve with time (relays settling, PIO state machines, DMA) register a hook and are brought up
# to date whenever the clock moves.

import utime as _real  # the interpreter's own time module (ours shadows `time`)

_t0 = _real.ticks_us()
_skipped_us = 0
_hooks = []


def now_us():
    """Microseconds since the simulated fixture booted (an int that does not wrap)."""
    return _real.ticks_diff(_real.ticks_us(), _t0) + _skipped_us


def advance_us(us):
    """Let `us` microseconds of fixture time pass without waiting for them."""
    global _skipped_us
    if us > 0:
        _skipped_us += int(us)
    t = now_us()
    for h in _hooks:
        h(t)


def add_hook(fn):
    """fn(now_us) is called after every advance."""
    _hooks.append(fn)


def real_sleep_ms(ms):
    """Really wait (for the rare place that must let the host catch up)."""
    _real.sleep_ms(ms)
