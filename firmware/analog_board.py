# The fixture's analog and relay board, as the firmware drives it: the MCP23017 expander's bits,
# the ADC inputs, the current source, relay timing and the reference resistors. The same for
# every MCU board that carries it (boards/*/board.py import it), so it lives here once.
# Runs on MicroPython and CPython.

# I2C0 devices on the analog board.
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
