"""hardware/bom.csv: quantities follow the relay map and the board; real parts with reasons."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hardware.tools import bom, common  # noqa: E402


def by_mpn(rows, mpn):
    return [r for r in rows if r["mpn"] == mpn]


def test_bom_checks_clean():
    assert bom.problems() == []


def test_quantities_from_the_rules():
    rm, cm, bd = common.relay_map(), common.channel_map(), common.board()
    rows = bom.rows()
    matrix = [r for r in rows if r["ref"].startswith("K1-")]
    assert int(matrix[0]["qty"]) == rm.relay_count(bd.MAX_POSITIONS, len(bd.REF_RESISTORS_MOHM)) == 672
    assert int(by_mpn(rows, "TPIC6C595DR")[0]["qty"]) == rm.register_count(bd.MAX_POSITIONS, 2) == 84
    assert int(by_mpn(rows, "TLV3501AIDBVR")[0]["qty"]) == bd.EVENT_CHANNELS
    assert int(by_mpn(rows, "LT3092EST#PBF")[0]["qty"]) == bd.EVENT_CHANNELS
    links = [r for r in rows if r["ref"].startswith("KM")]
    assert int(links[0]["qty"]) == bom.monitor_link_relays(cm, bd) == 82 + 23
    refs = [r for r in rows if r["mpn"].startswith("PBV-")]
    assert len(refs) == len(bd.REF_RESISTORS_MOHM)
    for r, mohm in zip(refs, bd.REF_RESISTORS_MOHM):
        assert "%g mOhm" % mohm in r["description"]


def test_every_named_part_present():
    mpns = " ".join(r["mpn"] for r in bom.rows())
    for part in ("RP2040", "W25Q", "ABM8", "ADS1262", "DAC8551", "OPA189", "TPIC6C595", "MCP23017", "24LC256", "TLV3501", "9007-05-00", "USB4105", "D2F-01L", "PTS645"):
        assert part in mpns, part


def test_wrong_quantity_is_caught():
    rows = bom.rows()
    rows[[i for i, r in enumerate(rows) if r["mpn"] == "TPIC6C595DR"][0]]["qty"] = "83"
    p = bom.problems(rows)
    assert any("TPIC6C595DR" in x and "qty 83" in x for x in p)
    rows = bom.rows()
    rows[0]["reason"] = " "
    assert any("empty reason" in x for x in bom.problems(rows))
