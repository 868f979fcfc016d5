"""The committed block diagram picture is rendered from its committed source."""

import sys
import xml.dom.minidom
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hardware.tools import draw_block_diagram as dbd  # noqa: E402


def test_svg_matches_source():
    assert dbd.SVG.read_text() == dbd.render(), "run: python -m hardware.tools.draw_block_diagram"
    assert dbd.main(["--check"]) == 0


def test_svg_is_valid_and_shows_every_block():
    doc = xml.dom.minidom.parse(str(dbd.SVG))
    texts = " ".join(t.firstChild.data for t in doc.getElementsByTagName("text") if t.firstChild)
    for word in ("RP2040", "ADS1262", "DAC8551", "TPIC6C595", "MCP23017", "24LC256", "TLV3501", "interrupter", "Reference resistors", "lid switch", "START", "Plug test board", "Receptacle test board", "20 mV clamp"):
        assert word in texts, word


def test_changed_source_is_detected(tmp_path):
    src = tmp_path / "b.toml"
    src.write_text(dbd.SRC.read_text().replace("Mated 5861 pair", "Mated pair"))
    assert dbd.render(src) != dbd.SVG.read_text()
