# Simulated comparator waveform of the 24 event channels (sim only): what the PIO detector model in
# rp2.py samples. A channel's comparator output is 1 while its contact is good and 0 during an
# event. Sources of events:
#   - add_event(channel, start_ns, length_ns): one explicit event (the reference interrupter's
#     openings come in this way from rp2.StateMachine.put);
#   - intermittent contacts from the scenario's [[intermittent]] entries (pin, rate_hz,
#     duration_us): events of that length at random times (exponential gaps, seeded), generated
#     lazily as simulated time advances, only while set_vibrating(True) (default: on). On the
#     simulated fixture (sim_fixture.World) the shaker runs while the monitor sources are on
#     (X_MON_EN): the firmware's monitoring windows are the vibration / the shocks; rate_hz is the
#     mean rate during such a window (a shock window of 1 s sees rate_hz events on average).
# Times are integer nanoseconds of simulated fixture time (simclock.now_us() * 1000).

import math

import simrand

ALL_GOOD = 0xFFFFFF
_N = 24


class Intermittent:
    def __init__(self, channel, rate_hz, duration_us, seed=1):
        self.channel = channel
        self.rate_hz = float(rate_hz)
        self.length_ns = int(duration_us * 1000 + 0.5)
        self.rng = simrand.Rng(seed * 7919 + channel)
        self.next_ns = None

    def gap_ns(self):
        u = self.rng.uniform()
        return int(-math.log(1.0 - u) / self.rate_hz * 1e9) + 1


class Source:
    def __init__(self):
        self.channels = _N
        self.events = []  # [start_ns, end_ns, channel], sorted by start
        self.gens = []
        self.generated_to = 0
        self.vibrating = True
        self.stuck_open = 0  # channels held open (bit set = channel in an event, e.g. an open contact)

    def reset(self):
        self.__init__()

    # ---- feeding ----
    def add_event(self, channel, start_ns, length_ns):
        ev = [int(start_ns), int(start_ns) + int(length_ns), channel]
        ev_list = self.events
        i = len(ev_list)
        while i > 0 and ev_list[i - 1][0] > ev[0]:
            i -= 1
        ev_list.insert(i, ev)

    def add_intermittent(self, channel, rate_hz, duration_us, seed=1):
        if rate_hz > 0 and duration_us > 0:
            self.gens.append(Intermittent(channel, rate_hz, duration_us, seed))

    def set_vibrating(self, on, now_ns=None):
        if now_ns is not None:
            self._generate(now_ns)
            for g in self.gens:
                g.next_ns = None
            self.generated_to = max(self.generated_to, now_ns)
        self.vibrating = bool(on)

    def _generate(self, upto):
        if upto <= self.generated_to:
            return
        if self.vibrating:
            for g in self.gens:
                if g.next_ns is None:
                    g.next_ns = self.generated_to + g.gap_ns()
                while g.next_ns <= upto:
                    self.add_event(g.channel, g.next_ns, g.length_ns)
                    g.next_ns += g.length_ns + g.gap_ns()
        self.generated_to = upto

    # ---- sampling (what the comparators show) ----
    def word_at(self, t):
        self._generate(t)
        w = ALL_GOOD & ~self.stuck_open
        for s, e, ch in self.events:
            if s > t:
                break
            if t < e:
                w &= ~(1 << ch)
        return w

    def next_edge(self, after, upto):
        """The earliest edge time te with after < te <= upto, or None."""
        self._generate(upto)
        ev = self.events
        # Forget events that ended long before `after` (the detector never looks back).
        k = 0
        while k < len(ev) and ev[k][1] < after - 1_000_000 and k < 64:
            k += 1
        if k:
            del ev[:k]
        best = None
        for s, e, ch in ev:
            if s > upto:
                break
            if after < s and (best is None or s < best):
                best = s
            if after < e <= upto and (best is None or e < best):
                best = e
        return best


_source = None


def source():
    global _source
    if _source is None:
        _source = Source()
    return _source


def load_scenario(scn):
    """Feed the [[intermittent]] entries of a (normalized) scenario dict. Pins map to channels
    with firmware/channel_map.py for the scenario's position count."""
    src = source()
    dut = scn.get("dut", scn)  # a TOML-shaped dict ([dut]) or the host's normalized one (flat)
    positions = int(dut.get("positions", 40))
    seed = int(dut.get("seed", 1))
    for i, ent in enumerate(scn.get("intermittent", ())):
        ch = channel_for_pin(positions, ent["pin"])
        src.add_intermittent(ch, ent["rate_hz"], ent["duration_us"], seed + i)
    return src


def channel_for_pin(positions, pin):
    try:
        import channel_map
    except ImportError:
        return int(pin) % _N
    return channel_map.channel_of(positions, pin)
