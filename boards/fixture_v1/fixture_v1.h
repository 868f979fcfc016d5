// pico-sdk board header for fixture_v1 (not an official pico-sdk board). Selected by
// mpconfigboard.cmake through PICO_BOARD_HEADER_DIRS / PICO_BOARD.

#ifndef _BOARDS_FIXTURE_V1_H
#define _BOARDS_FIXTURE_V1_H

// No UART console (every GPIO is in use, GP0..GP23 are event comparators): the REPL is on USB CDC.

// No on-board LED (GP25 drives the reference interrupter).

// --- I2C: MCP23017 expander and 24LC256 EEPROM ---
#define PICO_DEFAULT_I2C 0
#define PICO_DEFAULT_I2C_SDA_PIN 28
#define PICO_DEFAULT_I2C_SCL_PIN 29

// --- SPI: ADS1262, DAC8551, TPIC6C595 chain (chip selects on the MCP23017) ---
#define PICO_DEFAULT_SPI 1
#define PICO_DEFAULT_SPI_SCK_PIN 26
#define PICO_DEFAULT_SPI_TX_PIN 27
#define PICO_DEFAULT_SPI_RX_PIN 24

// --- FLASH: Winbond W25Q128JVSIQ, 16 MiB ---
#define PICO_BOOT_STAGE2_CHOOSE_W25Q080 1
#define PICO_FLASH_SPI_CLKDIV 2
#define PICO_FLASH_SIZE_BYTES (16 * 1024 * 1024)

// 12 MHz crystal (Abracon ABM8-272-T3), as on the Pico.
#define PICO_XOSC_STARTUP_DELAY_MULTIPLIER 64

#define PICO_RP2040_B0_SUPPORTED 0

#endif
