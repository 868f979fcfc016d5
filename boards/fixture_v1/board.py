# Pin profile of the fixture_v1 board: a custom RP2040 board with all 30 GPIOs broken out.
# The firmware gets everything board-specific from this module (copied to the device as
# /board.py); hardware/ explains the circuit behind each name.

NAME = "fixture_v1"
MAX_POSITIONS = 80  # relay matrix size: nodes for 80 positions + 2 anchor plates per side

# Event comparators: one GPIO per monitor channel, contiguous from EVENT_PIN_BASE so one PIO
# `in pins, N` samples them all in the same cycle.
EVENT_PIN_BASE = 0
EVENT_CHANNELS = 24  # GP0..GP23
REF_INTERRUPTER_PIN = 25  # PIO-driven switch in series with the reference channel
REF_CHANNEL = 23  # the monitor channel the reference interrupter sits in (no DUT on it)

# SPI1: ADS1262 (precision ADC), DAC8551 (test-current setpoint), TPIC6C595 relay chain.
SPI_ID = 1
SPI_SCK = 26
SPI_MOSI = 27
SPI_MISO = 24
SPI_BAUD = 4_000_000  # ADS1262 allows 1/(2*tCLK)... 4 MHz keeps margin on the harness
ADC_SPI_BAUD = 4_000_000

# I2C0: MCP23017 control/status expander and the fixture EEPROM (24LC256).
I2C_ID = 0
I2C_SDA = 28
I2C_SCL = 29
I2C_FREQ = 400_000
from analog_board import *  # noqa: F401,F403  (the analog/relay board: firmware/analog_board.py)
