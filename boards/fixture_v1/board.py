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
