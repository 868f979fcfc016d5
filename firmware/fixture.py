# The board layer: builds the fixture's buses and drivers from the board's pin profile
# (`import board`: boards/fixture_v1/board.py, /board.py on the device) and owns the safe state.
#
#   fx = Fixture()      # hardware put into the safe state first
#   fx.relays (RelayMatrix)  fx.adc (ADS1262)  fx.source (CurrentSource)  fx.panel (Panel)
#   fx.expander (MCP23017)   fx.board (module)  fx.simulated (bool)  fx.uid (hex str)
#   fx.safe()           # source off, monitor sources off, all relays open; never raises
#
# The EEPROM (fixture_store.py has its layout): fx.eeprom (drivers.eeprom.EEPROM), fx.store
# (fixture_store.Store), fx.fixture_id (str from the EEPROM, None if never written).
#
# Extra attributes: fx.spi, fx.i2c, fx.n_relays, fx.faults (list of str: parts that failed their
# start-up check, e.g. the ADC ID; empty on a healthy fixture), fx.monitor(on) (the 100 mA event
# monitor sources, X_MON_EN: the event channels are wired apart from the relay matrix, so the
# relays' state does not gate them).
#
# `simulated` is True when the firmware does not run on an RP2040 (sys.platform != "rp2"): the
# honest test, not a flag the simulation sets.

import sys

import board
import fixture_store
import machine
import relay_map
from drivers.ads1262 import ADS1262
from drivers.eeprom import EEPROM
from drivers.current_source import CurrentSource
from drivers.mcp23017 import MCP23017
from drivers.panel import Panel
from drivers.relay_matrix import RelayMatrix

ADC_DEFAULT_RATE = 1200
ADC_DEFAULT_GAIN = 32
ADC_DEFAULT_FILTER = "sinc4"


def _hex(b):
    return "".join("%02x" % x for x in b)


class Fixture:
    def __init__(self):
        b = board
        self.board = board
        self.simulated = sys.platform != "rp2"
        self.uid = _hex(machine.unique_id())
        self.faults = []
        self.i2c = machine.I2C(b.I2C_ID, scl=machine.Pin(b.I2C_SCL), sda=machine.Pin(b.I2C_SDA), freq=b.I2C_FREQ)
        self.spi = machine.SPI(
            b.SPI_ID,
            baudrate=b.SPI_BAUD,
            polarity=0,
            phase=0,
            sck=machine.Pin(b.SPI_SCK),
            mosi=machine.Pin(b.SPI_MOSI),
            miso=machine.Pin(b.SPI_MISO),
        )
        x = MCP23017(self.i2c, b.EXPANDER_ADDR)
        self.expander = x
        # Safe levels from the first write: chip selects high, relay outputs disabled (G high),
        # SRCLR inactive, source off, monitor sources off, LEDs off.
        initial = 1 << b.X_ADC_CS_N | 1 << b.X_DAC_CS_N | 1 << b.X_RELAY_G_N | 1 << b.X_RELAY_CLR_N
        x.configure(b.EXPANDER_OUTPUTS, b.EXPANDER_INPUTS, initial, pullups=(b.X_START_N,))
        self.source = CurrentSource(
            self.spi, x.pin(b.X_DAC_CS_N), x.pin(b.X_SRC_EN), x.pin(b.X_SRC_POL), x.pin(b.X_SRC_COMPLY), b.SOURCE_FULL_SCALE_MA
        )
        refs = len(b.REF_RESISTORS_MOHM)
        self.n_relays = relay_map.relay_count(b.MAX_POSITIONS, refs)
        self.relays = RelayMatrix(
            self.spi, x.pin(b.X_RELAY_RCK), x.pin(b.X_RELAY_G_N), x.pin(b.X_RELAY_CLR_N), self.n_relays, b.MAX_POSITIONS, self.source
        )
        self.adc = ADS1262(self.spi, x.pin(b.X_ADC_CS_N), x.pin(b.X_ADC_DRDY_N), b.ADC_VREF_V, b.ADC_SPI_BAUD)
        self.panel = Panel(x.pin(b.X_START_N), x.pin(b.X_LID_CLOSED), x.pin(b.X_LED_PASS), x.pin(b.X_LED_FAIL), x.pin(b.X_LED_BUSY),
                           inputs=(x.read_inputs, b.X_START_N, b.X_LID_CLOSED))
        self.safe()
        self.eeprom = EEPROM(self.i2c, getattr(b, "EEPROM_ADDR", 0x50))
        self.store = fixture_store.Store(self.eeprom)
        self.fixture_id = None
        try:
            self.fixture_id = self.store.read_id()
        except Exception as e:
            self.faults.append("eeprom: %s" % e)
        try:
            self.adc.reset()
            self.adc.read_id()
            self.adc.configure(ADC_DEFAULT_RATE, ADC_DEFAULT_GAIN, ADC_DEFAULT_FILTER)
            self.adc.set_mux(b.ADC_AINP, b.ADC_AINN)
        except Exception as e:
            self.faults.append("adc: %s" % e)

    def monitor(self, on):
        """The 100 mA monitor sources of the event channels (X_MON_EN)."""
        self.expander.set(self.board.X_MON_EN, 1 if on else 0)

    def safe(self):
        """Every current off, all relays open. Never raises: each step is tried on its own, and
        if the chain cannot be rewritten its outputs are disabled (G high). Returns True when
        every step worked."""
        ok = True
        try:
            self.source.off()
        except Exception:
            ok = False
            try:
                self.expander.set(self.board.X_SRC_EN, 0)
            except Exception:
                pass
        try:
            self.expander.set(self.board.X_MON_EN, 0)
        except Exception:
            ok = False
        try:
            self.relays.open_all()
        except Exception:
            ok = False
            try:
                self.relays.disable()
            except Exception:
                pass
        return ok
