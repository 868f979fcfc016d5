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
EXPANDER_ADDR = 0x20
EEPROM_ADDR = 0x50

# MCP23017 bit numbers: 0..7 = GPA0..7, 8..15 = GPB0..7.
X_ADC_CS_N = 0  # out, ADS1262 chip select (active low)
X_DAC_CS_N = 1  # out, DAC8551 SYNC (active low)
X_RELAY_RCK = 2  # out, TPIC6C595 register clock: rising edge latches the chain
X_RELAY_G_N = 3  # out, TPIC6C595 output enable (active low; pulled up: relays open at reset)
X_RELAY_CLR_N = 4  # out, TPIC6C595 SRCLR (active low): clears the shift registers
X_SRC_EN = 5  # out, test-current source enable (off: output disconnected and shunted)
X_SRC_POL = 6  # out, test-current polarity (1: reversed)
X_MON_EN = 7  # out, 100 mA monitor sources for the event channels
X_LED_PASS = 8  # out
X_LED_FAIL = 9  # out
X_LED_BUSY = 10  # out
X_START_N = 12  # in, START button (active low)
X_LID_CLOSED = 13  # in, lid switch (1: closed); also wired in hardware in series with SRC_EN
X_ADC_DRDY_N = 14  # in, ADS1262 DRDY (active low)
X_SRC_COMPLY = 15  # in, source at its 20 mV compliance clamp (open circuit)
EXPANDER_OUTPUTS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
EXPANDER_INPUTS = (12, 13, 14, 15)

# Precision ADC (TI ADS1262) inputs.
ADC_AINP = 0  # AIN0: V+ sense bus
ADC_AINN = 1  # AIN1: V- sense bus
ADC_VREF_V = 2.5  # internal 2.5 V reference
ADC_CLOCK_HZ = 7_372_800

# Test-current source: DAC8551 setpoint into a precision current source, full scale below.
SOURCE_FULL_SCALE_MA = 100.0
SOURCE_COMPLIANCE_MV = 20.0  # dry-circuit clamp, in hardware

# Relay timing (reed relays): operate + bounce, release.
RELAY_OPERATE_US = 500
RELAY_RELEASE_US = 200
RELAY_SETTLE_US = 1000

# Reference resistors on the matrix (4-terminal standards), nominal mΩ, for the self-check.
REF_RESISTORS_MOHM = (10.0, 50.0)
REF_TOLERANCE_PCT = 1.0
