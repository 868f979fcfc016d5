# One entry point for a fresh machine: every target sets up what it needs (.venv from PyPI).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STUBS   := $(VENV)/stubs
STAMP   := $(VENV)/.installed
PINS    ?= 40
STUBS_VERSION := 1.28.0.post4

.PHONY: setup browser postgres run test check bench faults flash hardware board-rules clean

setup: $(STAMP) browser postgres

# The report tests open the HTML in Debian's headless Chromium driven by Selenium (no browser
# download at run time: the distribution's packages only).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	  else \
	    echo "the report tests need Debian's chromium and chromedriver; run as root:" >&2; \
	    echo "  apt-get update && apt-get install -y chromium chromium-driver" >&2; exit 1; \
	  fi; \
	fi

# The history tests start a throwaway PostgreSQL cluster from Debian's server binaries.
postgres:
	@if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-15; \
	  else \
	    echo "the history tests need Debian's PostgreSQL server; run as root:" >&2; \
	    echo "  apt-get update && apt-get install -y postgresql-15" >&2; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# The official MicroPython rp2 stubs, kept apart: they replace the standard library for mypy.
	$(BIN)/pip install -q --target $(STUBS) micropython-rp2-rpi-pico-stubs==$(STUBS_VERSION)
	touch $@

# The main job, on the SIMULATED fixture (no board needed). Every result it prints and stores
# is marked simulated. For a real fixture: $(BIN)/tester run --pins 40
run: $(STAMP)
	$(BIN)/tester run --pins $(PINS) --sim

# All tests, no fixture needed. .ci/run calls exactly this. Two workers (pytest-xdist): most tests
# wait on a simulated fixture's I/O, so the suite takes ~3 min on 2 cores instead of ~5.
test: $(STAMP) browser postgres
	$(BIN)/pytest -n 2

# Firmware checks alone: mpy-cross for the RP2040 and mypy against the rp2 stubs.
check: $(STAMP)
	$(BIN)/pytest tests/test_firmware_static.py

bench: $(STAMP)
	$(BIN)/python tools/bench.py
	$(BIN)/python tools/faults.py

# The fault campaign: >= 30,000 fuzzed inputs on the firmware (MicroPython) and through the
# simulated fixture's pty; prints the counts (crashes, hangs, relays left closed...), all must be 0.
faults: $(STAMP)
	$(BIN)/python tools/faults.py

# Regenerate hardware/ tables and the block diagram from their sources (tests check they are current).
hardware: $(STAMP)
	$(BIN)/python -m hardware.tools.gen_maps
	$(BIN)/python -m hardware.tools.draw_block_diagram
	$(BIN)/python -m hardware.tools.check_harness --checklist
	$(BIN)/python -m hardware.tools.bom

# Check the test-board design rules against JIS C 5014's class tables.
board-rules: $(STAMP)
	$(BIN)/python -m hardware.tools.check_board_rules

flash: $(STAMP)
	$(BIN)/tester flash

clean:
	rm -rf $(VENV) results .pytest_cache .mypy_cache
