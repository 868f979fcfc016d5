# CMake file for the fixture_v1 board (MicroPython rp2 port).
# Build: make -C ports/rp2 BOARD=fixture_v1 BOARD_DIR=/path/to/repo/boards/fixture_v1

# fixture_v1 is not an official pico-sdk board: its board header (fixture_v1.h) is here.
list(APPEND PICO_BOARD_HEADER_DIRS ${MICROPY_BOARD_DIR})
set(PICO_BOARD "fixture_v1")
set(PICO_PLATFORM "rp2040")

# Freeze the port's own modules (rp2, asm_pio...) and the fixture firmware.
set(MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py)
