# Operator panel: START button (active low, debounced), lid switch, PASS / FAIL / BUSY LEDs.
#
#   panel = Panel(start_n, lid_closed, led_pass, led_fail, led_busy)   # Pin-like objects
#   if panel.start_pressed(): ...     # True once per press (debounced press edge)
#   panel.lid_closed(); panel.leds(passed=True)
#   panel.poll(); panel.lid; panel.take_press()   # both inputs in one read (a busy loop's turn)
#
# `inputs=(read_word, start_bit, lid_bit)`: START and the lid read together in one transfer (the
# expander's two ports), for loops that must keep the I2C bus quiet (its edges reach the PIO
# detector) and short.

import time

from micropython import const

DEBOUNCE_MS = const(30)


class Panel:
    def __init__(self, start_n, lid_closed, led_pass, led_fail, led_busy, debounce_ms=DEBOUNCE_MS, inputs=None):
        self._start = start_n
        self._lid = lid_closed
        self._inputs = inputs
        self._press = False  # a debounced press seen by poll(), until take_press()
        self.lid = True  # the lid as the last poll() saw it
        self._lp = led_pass
        self._lf = led_fail
        self._lb = led_busy
        self._debounce = debounce_ms
        self._stable = 1  # released
        self._cand = 1
        self._since = time.ticks_ms()
        self._armed = True
        self.leds(False, False, False)

    def _sample(self, v=None):
        if v is None:
            v = 1 if self._start.value() else 0
        now = time.ticks_ms()
        if v != self._cand:
            self._cand = v
            self._since = now
        elif v != self._stable and time.ticks_diff(now, self._since) >= self._debounce:
            self._stable = v
            return True  # stable change
        return False

    def _edge(self, v=None):
        if self._sample(v) and self._stable == 0 and self._armed:
            self._armed = False
            return True
        if self._stable == 1:
            self._armed = True
        return False

    def start_pressed(self):
        """Poll the button: True once for each press that stayed down for the debounce time."""
        return self._edge() or self.take_press()

    def poll(self):
        """Sample START and the lid (one read with `inputs`): the debounce moves on, a press is
        kept for take_press(), the lid state in `lid`."""
        if self._inputs is None:
            s = None
            self.lid = bool(self._lid.value())
        else:
            read, sb, lb = self._inputs
            w = read()
            s = (w >> sb) & 1
            self.lid = bool((w >> lb) & 1)
        if self._edge(s):
            self._press = True

    def take_press(self):
        """True once for a press poll() saw."""
        p = self._press
        self._press = False
        return p

    def start_down(self):
        """The debounced level (True while held)."""
        self._sample()
        return self._stable == 0

    def lid_closed(self):
        return bool(self._lid.value())

    def leds(self, passed=False, failed=False, busy=False):
        self._lp.value(1 if passed else 0)
        self._lf.value(1 if failed else 0)
        self._lb.value(1 if busy else 0)
