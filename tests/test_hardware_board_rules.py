"""Test-board design rules against JIS C 5014: the shipped set passes at class III, broken sets
fail for the right reason."""

import copy
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hardware.tools import check_board_rules as cbr  # noqa: E402


@pytest.fixture
def rules():
    with open(cbr.RULES, "rb") as f:
        return tomllib.load(f)


def fails(rules):
    return {r.rule: r.message for r in cbr.failures(cbr.check(rules))}


def test_shipped_rules_pass_and_need_class_iii(rules, capsys):
    assert fails(rules) == {}
    res = cbr.check(rules)
    needed = [r for r in res if r.rule == "board.class_needed"][0]
    assert "class III" in needed.message
    assert cbr.main([]) == 0
    assert "PASS: 0 rules fail" in capsys.readouterr().out


def test_tables_transcribed():
    t = cbr.load_tables()
    assert t["design_conductor_width"]["III"] == [0.10, 0.13]
    assert t["design_conductor_spacing"]["III"] == [0.13, 0.17]
    assert t["hole_copper_min_um"]["over_0_5_to_1_0"]["III"] == 15
    assert t["thickness_tol"]["1.0"]["III"] == 0.12
    assert cbr.class_of(0.175, t["design_conductor_width"]) == "II"
    assert cbr.class_of(0.175, t["design_conductor_spacing"]) == "II"
    assert cbr.class_of(0.09, t["design_conductor_width"]) is None


@pytest.mark.parametrize(
    "path, value, rule, words",
    [
        (("conductor", "min_width"), 0.08, "conductor.min_width", "beyond the standard"),
        (("conductor", "min_spacing"), 0.12, "conductor.min_spacing", "beyond the standard"),
        (("board", "class"), "II", "conductor.min_width", "needs class III"),
        (("conductor", "width_tol"), 0.02, "conductor.width_tol", "±0.040"),
        (("board", "thickness_tol"), 0.05, "board.thickness_tol", "class III gives ±0.120"),
        (("plating", "hole_copper_um"), 12, "plating.hole_copper_um", "minimum 15"),
        (("conductor", "outer_to_edge"), 1.0, "conductor.outer_to_edge", "minimum 1.25"),
        (("holes", "via_outer_land"), 0.55, "holes.outer_annular_ring", "enlarge the land"),
        (("connector_lands", "pad_width"), 0.23, "connector_lands.gap", "finer than class III"),
        (("connector_lands", "pad_width"), 0.21, "connector_lands.worst_gap", "solder bridges"),
        (("board", "layers"), 2, "board.layers", "not a multilayer board"),
        (("holes", "min_hole_to_edge"), 0.8, "holes.min_hole_to_edge", ">= thickness"),
    ],
)
def test_broken_rules_fail_for_the_right_reason(rules, path, value, rule, words):
    broken = copy.deepcopy(rules)
    broken[path[0]][path[1]] = value
    f = fails(broken)
    assert rule in f, f
    assert words in f[rule]


def test_thicker_board_needs_more_copper(rules):
    broken = copy.deepcopy(rules)
    broken["board"]["thickness"] = 1.6
    broken["board"]["thickness_tol"] = 0.15
    broken["holes"]["min_hole_to_edge"] = 1.6
    broken["plating"]["hole_copper_um"] = 15
    f = fails(broken)
    assert list(f) == ["plating.hole_copper_um"] and "minimum 20" in f["plating.hole_copper_um"]


def test_cli_exit_code_on_broken_file(rules, tmp_path, capsys):
    text = cbr.RULES.read_text().replace("min_width = 0.10", "min_width = 0.075")
    p = tmp_path / "r.toml"
    p.write_text(text)
    assert cbr.main([str(p)]) == 1
    out = capsys.readouterr().out
    assert "FAIL conductor.min_width" in out and "Table 8" in out
