"""Harness workmanship per JIS C 61191-4 level C: table 1 as data, checklist, record checker."""

import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hardware.tools import check_harness as ch  # noqa: E402

EX = REPO / "hardware" / "harness" / "examples"


def load(name):
    with open(EX / name, "rb") as f:
        return tomllib.load(f)


def test_table1_limits():
    lim = ch.limits()
    assert lim["level"] == "C"
    assert [ch.strand_limit(lim, n, "A") for n in (6, 7, 15, 16, 19, 26, 37, 41, 100)] == [0, 1, 1, 2, 3, 4, 5, 6, 6]
    assert all(ch.strand_limit(lim, n, "C") == 0 for n in (1, 7, 19, 41, 100))


def test_checklist_up_to_date_and_uses_the_data():
    text = ch.checklist()
    assert (REPO / "hardware" / "harness" / "checklist.md").read_text() == text
    assert "| 19-25 | 3 | 0 |" in text and "At most 3 wires" in text and "4.1 Table 1" in text
    assert ch.main(["--check-checklist"]) == 0


def test_passing_record():
    res = ch.check(load("pass.toml"))
    assert res and all(r[3] for r in res)
    assert ch.main([str(EX / "pass.toml")]) == 0


def test_failing_record_names_each_defect():
    res = ch.check(load("fail.toml"))
    bad = {(r[0], r[1]) for r in res if not r[3]}
    assert bad == {
        ("TB1-T2", "wires per terminal"),
        ("TB1-T2 wire 1", "strand damage"),
        ("TB1-T2 wire 1", "wrap"),
        ("TB1-T2 wire 1", "insulation clearance max"),
        ("TB1-T2 wire 2", "insulation not covered by solder"),
        ("J2-5", "cup fill"),
        ("TB2-T6", "solder_side_fillet_deg"),
    }
    assert ch.main([str(EX / "fail.toml")]) == 1


def test_level_b_allows_one_nicked_strand_of_19():
    rec = load("fail.toml")
    rec["level"] = "B"
    res = ch.check(rec)
    assert [r for r in res if r[1] == "strand damage" and not r[3]] == []


def test_small_wire_turns_and_clearance_floor():
    rec = load("pass.toml")
    w = rec["joint"][0]["wire"][1]
    w["turns"] = 4
    w["insulation_clearance_mm"] = 1.6  # 2 x 0.6 = 1.2 < 1.5 floor -> max 1.5
    bad = {r[1] for r in ch.check(rec) if not r[3]}
    assert bad == {"turns (wire <= 0.25 mm)", "insulation clearance max"}
