# Pin profile for the firmware copied onto a stock Raspberry Pi Pico wired to the fixture's
# analog/relay board (a development and bring-up setup). Same names as
# boards/fixture_v1/board.py, so every firmware import works unchanged; copied to the device as
# /board.py.
#
# What is reduced against fixture_v1, and why: a Pico brings out only GP0..GP22 and GP26..GP28
# (GP23 = SMPS power-save, GP24 = VBUS sense, GP25 = on-board LED, GP29 = VSYS/3 are used on the
# module). SPI1 then has to use GP26/27/28 (SCK/TX/RX) and I2C0 the pair GP20/GP21, which leaves
# GP0..GP19 contiguous for the event comparators: 20 monitor channels instead of 24 (channel 19
# carries the reference interrupter, 19 channels for the connector, so an 80-position pair is
# monitored in chains of up to 5 contacts instead of 4). The reference interrupter moves to
# GP22. Everything on the MCP23017 and SPI side is the same hardware, so those names keep their
# values.

NAME = "pico"
MAX_POSITIONS = 80  # relay matrix size: nodes for 80 positions + 2 anchor plates per side

# Event comparators: one GPIO per monitor channel, contiguous from EVENT_PIN_BASE so one PIO
# `in pins, N` samples them all in the same cycle.
EVENT_PIN_BASE = 0
EVENT_CHANNELS = 20  # GP0..GP19 (fixture_v1: 24)
REF_INTERRUPTER_PIN = 22  # PIO-driven switch in series with the reference channel (GP25 is the Pico LED)
REF_CHANNEL = 19  # the monitor channel the reference interrupter sits in (no DUT on it)

# SPI1: ADS1262 (precision ADC), DAC8551 (test-current setpoint), TPIC6C595 relay chain.
SPI_ID = 1
SPI_SCK = 26
SPI_MOSI = 27
SPI_MISO = 28  # SPI1 RX (GP24 is VBUS sense on a Pico)
SPI_BAUD = 4_000_000  # ADS1262 allows 1/(2*tCLK)... 4 MHz keeps margin on the harness
ADC_SPI_BAUD = 4_000_000

# I2C0: MCP23017 control/status expander and the fixture EEPROM (24LC256).
I2C_ID = 0
I2C_SDA = 20  # I2C0 SDA
I2C_SCL = 21  # I2C0 SCL (GP29 is VSYS/3 on a Pico)
I2C_FREQ = 400_000
from analog_board import *  # noqa: F401,F403  (the analog/relay board: firmware/analog_board.py)
