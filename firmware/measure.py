# Measurement procedures on the relay matrix: 4-wire resistance with current reversal, the
# sense-lead (probe) check, and the neighbour-isolation (shorts) test.
#
# Every procedure follows the same safety order: source off -> relays switch -> source on ->
# read -> source off. The relays never switch with the test current on (the relay driver also
# refuses), and the caller's `finally` leaves everything open and off.

import math
import time

import protocol
import relay_map

# Sense leads under the ADC's 10 MΩ sensor bias: intact leads close the loop through the DUT or
# the source's off-state shunt and read near zero; a broken lead lets the input rail.
PROBE_LIMIT_UV = 5000.0


class Reading:
    """One 4-wire result. r_mohm is None when there was nothing to measure (open, probe)."""

    def __init__(self):
        self.r_mohm = None
        self.u_mohm = None
        self.emf_uv = None
        self.v_pos_uv = None
        self.v_neg_uv = None
        self.i_ma = 0
        self.n = 0
        self.fault = None
        self.fixture_us = 0
        self.raw_mohm = None  # before the calibration (gain, bulk) was applied


class Measurer:
    """4-wire measurements on a Fixture (fixture.py) at fixed ADC settings."""

    def __init__(self, fx, rate_sps=1200, gain=32, filt="sinc1", samples=4, settle_us=200):
        self.fx = fx
        self.rate_sps = rate_sps
        self.gain = gain
        self.filt = filt
        self.samples = samples
        self.settle_us = settle_us
        self.max_positions = fx.board.MAX_POSITIONS
        self.refs = len(fx.board.REF_RESISTORS_MOHM)
        # The fixture's calibration (fixture_store.Calibration) or None: uncalibrated, raw values.
        # R_reported = gain * R_measured - bulk[position]; references get the gain only.
        self.cal = None
        fx.adc.configure(rate_sps, gain, filt)
        fx.adc.set_mux(fx.board.ADC_AINP, fx.board.ADC_AINN)

    def conditions(self):
        return {
            "adc": {"rate_sps": self.rate_sps, "gain": self.gain, "filter": self.filt},
            "samples_per_polarity": self.samples,
            "settle_us": self.settle_us,
            "reversal": True,
        }

    # -- building blocks ---------------------------------------------------------------------

    def _connect(self, hi_node, lo_node):
        self.fx.source.off()
        self.fx.relays.connect(relay_map.kelvin(hi_node, lo_node))

    def _mean_uv(self, n):
        """Mean and sample standard deviation of n conversions, in µV."""
        adc = self.fx.adc
        adc.start()
        s = 0.0
        ss = 0.0
        for _ in range(n):
            v = adc.read_uv()
            s += v
            ss += v * v
        adc.stop()
        mean = s / n
        var = (ss - n * mean * mean) / (n - 1) if n > 1 else 0.0
        return mean, math.sqrt(var) if var > 0 else 0.0

    def _probe_ok(self):
        """Sense-lead check with the source off: True if both sense leads are connected."""
        adc = self.fx.adc
        adc.sensor_bias(True)
        try:
            v, _ = self._mean_uv(1)
        finally:
            adc.sensor_bias(False)
        return abs(v) < PROBE_LIMIT_UV

    def _polarity(self, current_ma, polarity):
        """Drive current_ma at polarity (0 normal, 1 reversed); returns (mean µV, sd µV) or None
        if the source hit its compliance clamp (no path: open circuit)."""
        src = self.fx.source
        src.off()
        src.set(current_ma, polarity)
        src.on()
        time.sleep_us(self.settle_us)
        if src.in_compliance():
            src.off()
            return None
        m = self._mean_uv(self.samples)
        src.off()
        return m

    # -- procedures --------------------------------------------------------------------------

    def four_wire(self, hi_node, lo_node, current_ma):
        """R = (V+ - V-) / 2I; the thermal EMF (V+ + V-)/2 cancels and is reported."""
        t0 = time.ticks_us()
        r = Reading()
        r.i_ma = current_ma
        self._connect(hi_node, lo_node)
        if not self._probe_ok():
            r.fault = protocol.FAULT_PROBE
        else:
            pos = self._polarity(current_ma, 0)
            neg = self._polarity(current_ma, 1) if pos is not None else None
            if pos is None or neg is None:
                r.fault = protocol.FAULT_OPEN
            else:
                n = self.samples
                i_ma = self.fx.source.setpoint_ma()  # what the DAC code really gives
                r.n = n
                r.v_pos_uv = pos[0]
                r.v_neg_uv = neg[0]
                r.r_mohm = (pos[0] - neg[0]) / (2.0 * i_ma)  # µV / mA = mΩ
                r.emf_uv = (pos[0] + neg[0]) / 2.0
                u = math.sqrt((pos[1] * pos[1] + neg[1] * neg[1]) / n) / (2.0 * i_ma)
                r.u_mohm = u
        self.fx.source.off()
        r.fixture_us = time.ticks_diff(time.ticks_us(), t0)
        return r

    def _apply(self, r, bulk_mohm):
        """Apply the calibration to a reading (in place); keeps the raw value."""
        r.raw_mohm = r.r_mohm
        c = self.cal
        if c is not None and r.r_mohm is not None:
            r.r_mohm = c.gain * r.r_mohm - bulk_mohm
            if r.u_mohm is not None:
                r.u_mohm = c.gain * r.u_mohm
        return r

    def contact(self, pin, current_ma):
        m = self.max_positions
        r = self.four_wire(
            relay_map.contact_node(m, relay_map.PLUG, pin),
            relay_map.contact_node(m, relay_map.RECEPTACLE, pin),
            current_ma,
        )
        return self._apply(r, self.cal.contact_bulk_mohm(pin) if self.cal is not None else 0.0)

    def anchor(self, anchor, current_ma):
        m = self.max_positions
        r = self.four_wire(
            relay_map.anchor_node(m, relay_map.PLUG, anchor),
            relay_map.anchor_node(m, relay_map.RECEPTACLE, anchor),
            current_ma,
        )
        return self._apply(r, self.cal.anchor_bulk_mohm(anchor) if self.cal is not None else 0.0)

    def reference(self, ref, current_ma):
        m = self.max_positions
        r = self.four_wire(relay_map.ref_node(m, ref, 0), relay_map.ref_node(m, ref, 1), current_ma)
        return self._apply(r, 0.0)

    def isolation_ohm(self, side, pin_a, pin_b, current_ma):
        """Resistance between two same-side pads at the dry-circuit clamp, in Ω, or None when
        the source clamps (more than clamp/current: isolated as far as this test can see)."""
        m = self.max_positions
        self._connect(relay_map.contact_node(m, side, pin_a), relay_map.contact_node(m, side, pin_b))
        got = self._polarity(current_ma, 0)
        self.fx.source.off()
        if got is None:
            return None
        return got[0] / self.fx.source.setpoint_ma() / 1000.0  # µV / mA = mΩ -> Ω

    def open_circuit_ok(self, current_ma):
        """With every relay open the source must clamp: proves the compliance detector works and
        that nothing is connected that should not be."""
        fx = self.fx
        fx.source.off()
        fx.relays.open_all()
        fx.source.set(current_ma, 0)
        fx.source.on()
        time.sleep_us(self.settle_us)
        clamped = fx.source.in_compliance()
        fx.source.off()
        return clamped
