// MicroPython board configuration: fixture_v1, the Kyocera 5861 connector test fixture.
// RP2040, 16 MiB W25Q128JV flash, 12 MHz crystal. Pin names: pins.csv; the firmware's pin
// profile: board.py (frozen, and normally also copied to the device as /board.py).
#define MICROPY_HW_BOARD_NAME                   "Kyocera 5861 tester fixture_v1"
// 16 MiB flash: 1.5 MiB for the firmware image, the rest for the filesystem (logs, calibration
// copies). The fixture identity and calibration of record live in the 24LC256 EEPROM.
#define MICROPY_HW_FLASH_STORAGE_BYTES          (14 * 1024 * 1024)

// No on-board LED on GP25: that pin is the reference interrupter. The PASS/FAIL/BUSY LEDs are on
// the MCP23017 expander. Keep MicroPython's default I2C/SPI objects off the event-channel pins.
#define MICROPY_HW_I2C0_SDA                     (28)
#define MICROPY_HW_I2C0_SCL                     (29)
#define MICROPY_HW_SPI1_SCK                     (26)
#define MICROPY_HW_SPI1_MOSI                    (27)
#define MICROPY_HW_SPI1_MISO                    (24)

// USB: the host finds fixtures by VID/PID and tells them apart by serial number (the flash
// unique id, MicroPython's default USB serial on rp2).
#define MICROPY_HW_USB_MSC                      (0)
