# The simulated fixture_v1: the devices of the real board (boards/fixture_v1/board.py), wired as
# on the board, around the DUT of the scenario.
#
#   SPI1:  ADS1262 (CS = expander X_ADC_CS_N), DAC8551 (SYNC = X_DAC_CS_N), TPIC6C595 chain
#          (sees every SCK; RCK/G/SRCLR on the expander)
#   I2C0:  MCP23017 at board.EXPANDER_ADDR (inputs: START, lid, ADC DRDY, source compliance);
#          24LC256 EEPROM at board.EEPROM_ADDR (sim_eeprom: contents kept in eeprom.bin, env
#          SIM_EEPROM). A blank one gets a factory image at first boot, by the scenario's
#          fixture.cal: "factory" (valid for a year, marked simulated, the boards' exact bulk and
#          the source's exact gain), "expired", "corrupt" (written, then a byte flipped), "none".
#   source: DAC8551 setpoint x board.SOURCE_FULL_SCALE_MA, EN (gated by the lid switch in
#          hardware), POL, compliance clamp at board.SOURCE_COMPLIANCE_MV; off = disconnected and
#          the force buses shunted together.
#
# A press from outside the interpreter (the host's SimFixture.press_start(), tester station's
# panel): a file at env SIM_START_FILE appears; START is then held down for START_HOLD_US of
# fixture time and the file removed (the press is over).
#
# Test hooks: world = simhw.world(); world.press_start() / release_start(); world.set_lid(bool);
# world.adc.corrupt_checksums(n); world.chain.log / latches / hot_switches; world.dut.truth;
# world.source_state() -> (current_A, clamped).

import os

import board
import relay_map
import simclock
import simhw
from sim_ads1262 import Ads1262
from sim_dac8551 import Dac8551
from sim_eeprom import Eeprom24LC256
from sim_dut import BUS_NODE, Dut, component, load_scenario, merged_adj, solve
from sim_mcp23017 import Mcp23017
from sim_tpic6c595 import RelayChain
from simrand import Rng

SHUNT_OHM = 0.001
START_HOLD_US = 200000
START_FILE_POLL_MS = 20  # the expander is read thousands of times a run: the file is looked at less
HI_F, HI_S, LO_F, LO_S = BUS_NODE


class World:
    def __init__(self, scenario=None):
        sc = scenario if scenario is not None else load_scenario()
        self.board = board
        self.dut = Dut(sc, board)
        # Intermittent contacts ([[intermittent]]): the shaker runs while the monitor sources are on.
        import sim_events

        self.events = sim_events.load_scenario(sc)
        self.events.set_vibrating(False)
        self.lid = self.dut.lid_closed
        self.button = False
        self.start_file = os.getenv("SIM_START_FILE")
        self.start_held_until = None  # fixture time (us) a press from the file ends
        self.start_file_seen_ms = None
        self.mon_en = 0
        self.leds = {"pass": 0, "fail": 0, "busy": 0}
        M = board.MAX_POSITIONS
        nregs = relay_map.register_count(M, len(board.REF_RESISTORS_MOHM))
        self.chain = RelayChain(nregs, board.RELAY_OPERATE_US, board.RELAY_RELEASE_US, self.source_on)
        self.dac = Dac8551()
        self.adc = Ads1262(self.adc_input_uv, board.ADC_VREF_V, Rng(int(sc.get("seed", 7)) + 1000))
        self.float_rng = Rng(int(sc.get("seed", 7)) + 2000)
        drivers = {
            board.X_START_N: lambda: 0 if self.button or self._file_press() else 1,
            board.X_LID_CLOSED: lambda: 1 if self.lid else 0,
            board.X_ADC_DRDY_N: self.adc.drdy_n,
            board.X_SRC_COMPLY: lambda: 1 if self.source_state()[1] else 0,
        }
        # Board resistors: chip selects, G and SRCLR pulled up (relays off at reset); the rest down.
        pulls = 1 << board.X_ADC_CS_N | 1 << board.X_DAC_CS_N | 1 << board.X_RELAY_G_N | 1 << board.X_RELAY_CLR_N
        self.exp_levels = {}
        self.exp = Mcp23017(pulls, drivers, self._net)
        for bit in range(16):
            self._net(bit, self.exp.level(bit))
        simhw.register_i2c(board.I2C_ID, board.EXPANDER_ADDR, self.exp)
        fxc = sc.get("fixture") or {}
        self.gain_error = float(fxc.get("gain_error_ppm", 0.0)) * 1e-6
        self.eeprom = Eeprom24LC256()
        if self.eeprom.blank():
            self._factory_image(str(fxc.get("cal", "factory")))
        simhw.register_i2c(board.I2C_ID, board.EEPROM_ADDR, self.eeprom)
        simhw.register_spi(board.SPI_ID, self.adc)
        simhw.register_spi(board.SPI_ID, self.dac)
        simhw.register_spi(board.SPI_ID, self.chain)
        self.cs_violations = 0  # chain latched while the ADC or DAC was selected

    def _factory_image(self, kind):
        """A simulated factory calibration, written straight into the part's array."""
        if kind == "none":
            return
        import utime  # the interpreter's real clock: the host sends the same date with RUN

        import fixture_store as fs

        t = utime.localtime()
        today = t[0] * 10000 + t[1] * 100 + t[2]
        date, due = today, today + 10000  # valid for a year
        if kind == "expired":
            date, due = (t[0] - 1) * 10000 + 101, (t[0] - 1) * 10000 + 1231
        M = board.MAX_POSITIONS
        bulk = [int(round(x * 1000)) for x in self.dut.bulk]
        cal = fs.Calibration(1.0 / (1.0 + self.gain_error), bulk, M, date, due, simulated=True, gen=1)
        rec = cal.encode()
        self.eeprom.mem[fs.CAL_A : fs.CAL_A + len(rec)] = rec
        if kind == "corrupt":
            self.eeprom.mem[fs.CAL_A + 40] = self.eeprom.mem[fs.CAL_A + 40] ^ 0x10
        self.eeprom.save()

    # --- expander nets ----------------------------------------------------------------------
    def _net(self, bit, level):
        self.exp_levels[bit] = level
        b = board
        if bit == b.X_ADC_CS_N:
            self.adc.set_cs(level)
        elif bit == b.X_DAC_CS_N:
            self.dac.set_sync(level)
        elif bit == b.X_RELAY_RCK:
            if level and (not self.adc.cs_n or not self.dac.sync_n):
                self.cs_violations += 1
            self.chain.set_rck(level)
        elif bit == b.X_RELAY_G_N:
            self.chain.set_g(level)
        elif bit == b.X_RELAY_CLR_N:
            self.chain.set_clr(level)
        elif bit == b.X_MON_EN:
            self.mon_en = level
            if hasattr(self, "events"):
                self.events.set_vibrating(bool(level), simclock.now_us() * 1000)
        elif bit == b.X_LED_PASS:
            self.leds["pass"] = level
        elif bit == b.X_LED_FAIL:
            self.leds["fail"] = level
        elif bit == b.X_LED_BUSY:
            self.leds["busy"] = level

    def press_start(self):
        self.button = True

    def release_start(self):
        self.button = False

    def _file_press(self):
        """START held down by a press from the host (SIM_START_FILE), see the header."""
        if not self.start_file:
            return False
        now = simclock.now_us()
        if self.start_held_until is not None:
            if now < self.start_held_until:
                return True
            self.start_held_until = None
            try:
                os.remove(self.start_file)
            except OSError:
                pass
            return False
        import utime  # the interpreter's real clock: how often the file is looked at

        t = utime.ticks_ms()
        if self.start_file_seen_ms is not None and utime.ticks_diff(t, self.start_file_seen_ms) < START_FILE_POLL_MS:
            return False
        self.start_file_seen_ms = t
        try:
            os.stat(self.start_file)
        except OSError:
            return False
        self.start_held_until = now + START_HOLD_US
        return True

    def set_lid(self, closed):
        self.lid = bool(closed)

    # --- current source ---------------------------------------------------------------------
    def source_on(self):
        """Source enabled (SRC_EN and, in hardware, the lid switch in series)."""
        return bool(self.exp_levels.get(board.X_SRC_EN, 0)) and self.lid

    def source_setpoint_a(self):
        """The current really driven: the DAC's setpoint with the source's full-scale error."""
        return self.dac.fraction() * board.SOURCE_FULL_SCALE_MA / 1000.0 * (1.0 + self.gain_error)

    def _network(self):
        """(adj, made bits): the DUT network plus the relay contacts made now."""
        now = simclock.now_us()
        extra = []
        ro = self.dut.relay_ohm or 1e-6
        per = relay_map.nodes_per_side(board.MAX_POSITIONS)
        for bit in self.chain.made_bits(now):
            node, bus = divmod(bit, 4)
            if node >= 2 * per + 2 * len(board.REF_RESISTORS_MOHM):
                continue  # chain outputs beyond the matrix: not wired
            if bus in (relay_map.HI_S, relay_map.LO_S) and node in self.dut.sense_open:
                continue  # broken sense lead
            extra.append((BUS_NODE[bus], node, ro, 0.0))
        if not self.source_on():
            extra.append((HI_F, LO_F, SHUNT_OHM, 0.0))
        return merged_adj(self.dut.adj, extra)

    def _solve(self, adj):
        """Potentials of every node with a defined potential, the source current, clamped."""
        clamp = board.SOURCE_COMPLIANCE_MV / 1000.0
        on = self.source_on()
        sign = -1.0 if self.exp_levels.get(board.X_SRC_POL, 0) else 1.0
        lo = component(LO_F, adj)
        if not on:
            return solve(lo, adj, LO_F, {}), [lo], 0.0, False
        if HI_F not in lo:  # open circuit: the source sits at its clamp, no current
            hi = component(HI_F, adj)
            v = solve(lo, adj, LO_F, {})
            vh = solve(hi, adj, HI_F, {})
            for n in vh:
                v[n] = vh[n] + sign * clamp
            return v, [lo, hi], 0.0, True
        i = sign * self.source_setpoint_a()
        v = solve(lo, adj, LO_F, {HI_F: i})
        if abs(v[HI_F]) > clamp and i != 0.0:
            i = i * clamp / abs(v[HI_F])
            v = solve(lo, adj, LO_F, {HI_F: i})
            return v, [lo], i, True
        return v, [lo], i, False

    def source_state(self):
        """(current in A through the DUT, at the compliance clamp?) now."""
        if not self.source_on():
            return 0.0, False
        v, comps, i, clamped = self._solve(self._network())
        return i, clamped

    # --- ADC inputs -------------------------------------------------------------------------
    def adc_input_uv(self, ainp, ainn, bias):
        """Differential input of the ADC in µV, or None when an input floats."""
        chan = {board.ADC_AINP: HI_S, board.ADC_AINN: LO_S}
        if ainp == ainn:
            return 0.0
        p = chan.get(ainp)
        n = chan.get(ainn)
        if p is None or n is None:
            return None
        adj = self._network()
        v, comps, i, clamped = self._solve(adj)
        if p not in v or n not in v:
            cp = component(p, adj)
            if n in cp:  # sense buses joined to each other but not to the force loop
                v = solve(cp, adj, n, {})
            else:
                return None
        return (v[p] - v[n]) * 1e6 + self.dut.fixture_emf_uv
