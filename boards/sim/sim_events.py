# Simulated comparator waveform of the 24 event channels (sim only): what the PIO detector model in
# sim_pio.py samples. A channel's comparator output is 1 while its contact is good and 0 during an
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


# Memory is bounded whatever the rates: intermittent events are generated lazily, one time slice
# (GEN_SLICE_MAX events across all generators at most) at a time, only as far as a query needs,
# and events that ended more than KEEP_NS before the latest query are forgotten. A scenario far
# above the detector's capacity (tens of thousands of events per second) costs time, not memory.
GEN_SLICE_MAX = 128  # events generated per slice (all generators together, on average)
KEEP_NS = 20_000  # how far back a query may still look (the detectors look back a few cycles)


class Source:
    def __init__(self):
        self.channels = _N
        self.events = []  # [start_ns, end_ns, channel], sorted by start (bounded, see above)
        self.gens = []
        self.generated_to = 0  # intermittent events are in `events` up to this time
        self.vibrating = True
        self.stuck_open = 0  # channels held open (bit set = channel in an event, e.g. an open contact)
        self.generated = 0  # intermittent events generated so far (tests, bench)
        self.peak_events = 0  # the most events ever held in `events` (tests: memory is bounded)

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
        if len(ev_list) > self.peak_events:
            self.peak_events = len(ev_list)

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

    def _slice_ns(self):
        rate = 0.0
        for g in self.gens:
            rate += g.rate_hz
        if rate <= 0:
            return 1 << 62
        ns = int(GEN_SLICE_MAX * 1e9 / rate)
        return ns if ns > 1000 else 1000

    def _generate_slice(self, upto):
        """Generate intermittent events up to `upto` (callers keep the step to one slice)."""
        if upto <= self.generated_to:
            return
        if self.vibrating:
            for g in self.gens:
                if g.next_ns is None:
                    g.next_ns = self.generated_to + g.gap_ns()
                while g.next_ns <= upto:
                    self.add_event(g.channel, g.next_ns, g.length_ns)
                    self.generated += 1
                    g.next_ns += g.length_ns + g.gap_ns()
        self.generated_to = upto

    def _forget(self, before):
        """Drop events that ended before `before` (whole prefix that did; the list is by start)."""
        ev = self.events
        k = 0
        n = len(ev)
        while k < n and ev[k][1] < before:
            k += 1
        if k:
            del ev[:k]
        elif n > 4 * GEN_SLICE_MAX:
            # A long event at the head (a stuck contact) holds the prefix: filter the whole list.
            self.events = [x for x in ev if x[1] >= before]

    def _generate(self, upto, keep_from=None):
        """Generate up to `upto` slice by slice, forgetting what ended before keep_from - KEEP_NS
        (default: upto) after each slice, so the list never holds more than about one slice."""
        if upto <= self.generated_to:
            return
        if not self.vibrating or not self.gens:
            self.generated_to = upto
            return
        step = self._slice_ns()
        while self.generated_to < upto:
            t = self.generated_to + step
            if t > upto:
                t = upto
            self._generate_slice(t)
            k = t if keep_from is None or keep_from > t else keep_from
            self._forget(k - KEEP_NS)

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
        """The earliest edge time te with after < te <= upto, or None. Generates lazily: only as
        far as the first edge after `after` (one slice at a time)."""
        self._forget(after - KEEP_NS)
        step = self._slice_ns()
        while True:
            # Intermittent events are complete up to generated_to: an edge there is final.
            lim = upto if self.generated_to >= upto else self.generated_to
            best = None
            for s, e, ch in self.events:
                if s > lim or (best is not None and s > best):
                    break  # sorted by start: nothing later can be earlier than best
                if after < s and (best is None or s < best):
                    best = s
                if after < e <= lim and (best is None or e < best):
                    best = e
            if best is not None or lim >= upto:
                return best
            t = self.generated_to + step
            if t > upto:
                t = upto
            if self.vibrating and self.gens:
                self._generate_slice(t)
            else:
                self.generated_to = upto
            self._forget(after - KEEP_NS)


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
