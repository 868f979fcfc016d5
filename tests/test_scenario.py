"""Scenario files: validation messages name the file, the key and the problem; exit 2."""

from pathlib import Path

import pytest

from tester import exitcodes
from tester.cli import main
from tester.scenario import ScenarioError, load, parse

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"

GOOD = """
[dut]
positions = 40
contact_mohm = 30.0
anchor_mohm = 8
spread_mohm = 1.5
seed = 7

[pin.17]
contact_mohm = 74.0

[pin.5]
open = true

[pin.9]
sense_open = "plug"

[anchor.2]
contact_mohm = 25.0

[[short]]
side = "plug"
pins = [18, 17]
ohm = 0.2

[fixture]
bulk_mohm = 0.5
emf_uv = -3.0

[link]
drop_after_frames = 12

[[intermittent]]
pin = 9
rate_hz = 4.0
duration_us = 1.5
"""


def test_good_scenario_normalizes():
    sc = parse(GOOD, "good.toml", pins=40)
    s = sc.sim
    assert s["positions"] == 40
    assert s["contact_mohm"] == 30.0 and s["anchor_mohm"] == 8.0 and isinstance(s["anchor_mohm"], float)
    assert s["spread_mohm"] == 1.5 and s["seed"] == 7
    assert s["pins"] == {"17": {"contact_mohm": 74.0}, "5": {"open": True}, "9": {"sense_open": "plug"}}
    assert s["anchors"] == {"2": {"contact_mohm": 25.0}}
    assert s["shorts"] == [{"side": "plug", "pins": [17, 18], "ohm": 0.2}]
    assert s["fixture"] == {"bulk_mohm": 0.5, "emf_uv": -3.0}
    assert s["intermittent"] == [{"pin": 9, "rate_hz": 4.0, "duration_us": 1.5}]
    assert "link" not in s
    assert sc.link == {"drop_after_frames": 12}
    assert sc.text == GOOD and sc.path == "good.toml"


def test_defaults():
    s = parse("[dut]\npositions = 10\n", "d.toml").sim
    assert s == {
        "positions": 10, "contact_mohm": 30.0, "anchor_mohm": 8.0, "spread_mohm": 0.0, "seed": 0,
        "pins": {}, "anchors": {}, "shorts": [], "fixture": {}, "intermittent": [],
    }


BAD = [
    ("[dut]\npositions = 40\ncolour = 1\n", "dut.colour", "unknown key"),
    ("[dut]\npositions = 40\ncontact_mohm = \"low\"\n", "dut.contact_mohm", "expected a number"),
    ("[dut]\npositions = \"40\"\n", "dut.positions", "expected an integer"),
    ("[dut]\ncontact_mohm = 3.0\n", "dut.positions", "missing"),
    ("[dut]\npositions = 41\n", "dut.positions", "even"),
    ("[dut]\npositions = 8\n", "dut.positions", "starts at 10"),
    ("[dut]\npositions = 40\nspread_mohm = -1.0\n", "dut.spread_mohm", ">= 0"),
    ("[dut]\npositions = 40\n[pin.41]\nopen = true\n", "pin.41", "out of range 1..40"),
    ("[dut]\npositions = 40\n[pin.0]\nopen = true\n", "pin.0", "out of range"),
    ("[dut]\npositions = 40\n[pin.x]\nopen = true\n", "pin.x", "pin number"),
    ("[dut]\npositions = 40\n[pin.3]\nopen = 1\n", "pin.3.open", "true or false"),
    ("[dut]\npositions = 40\n[pin.3]\nsense_open = \"left\"\n", "pin.3.sense_open", "plug"),
    ("[dut]\npositions = 40\n[pin.3]\nresistance = 5.0\n", "pin.3.resistance", "unknown key"),
    ("[dut]\npositions = 40\n[anchor.3]\ncontact_mohm = 5.0\n", "anchor.3", "two anchor plates"),
    ("[dut]\npositions = 40\n[[short]]\nside = \"plug\"\npins = [20, 21]\nohm = 0.1\n", "short[0].pins", "not neighbours"),
    ("[dut]\npositions = 40\n[[short]]\nside = \"plug\"\npins = [3, 5]\nohm = 0.1\n", "short[0].pins", "not neighbours"),
    ("[dut]\npositions = 40\n[[short]]\nside = \"top\"\npins = [3, 4]\nohm = 0.1\n", "short[0].side", "plug"),
    ("[dut]\npositions = 40\n[[short]]\nside = \"plug\"\npins = [3]\nohm = 0.1\n", "short[0].pins", "two pin numbers"),
    ("[dut]\npositions = 40\n[[short]]\nside = \"plug\"\npins = [3, 4]\n", "short[0].ohm", "missing"),
    ("[dut]\npositions = 40\n[link]\ndrop_after_frames = -2\n", "link.drop_after_frames", ">= 0"),
    ("[dut]\npositions = 40\n[link]\ngarble_kind = \"mstatuss\"\n", "link.garble_kind", "expected a frame kind the fixture sends"),
    ("[dut]\npositions = 40\n[link]\ngarble_kind = 3\n", "link.garble_kind", "\"mstatus\""),
    ("[dut]\npositions = 40\n[link]\nunplug_for_s = 2.0\n", "link.unplug_for_s", "needs link.unplug_after_frames"),
    ("[dut]\npositions = 40\n[link]\nunplug_after_frames = 3\nunplug_for_s = 0\n", "link.unplug_for_s", "> 0"),
    ("[dut]\npositions = 40\n[fixture]\ncal = \"expird\"\n", "fixture.cal", "\"expired\""),
    ("[dut]\npositions = 40\n[fixture]\nbulk = 1.0\n", "fixture.bulk", "unknown key"),
    ("[dut]\npositions = 40\n[[intermittent]]\npin = 50\nrate_hz = 1.0\nduration_us = 1.0\n", "intermittent[0].pin", "out of range"),
    ("[dut]\npositions = 40\n[[intermittent]]\npin = 5\nrate_hz = 0.0\nduration_us = 1.0\n", "intermittent[0].rate_hz", "> 0"),
    ("[dut]\npositions = 40\n[extra]\na = 1\n", "extra", "unknown section"),
    ("[dut\npositions = 40\n", "bad.toml", "not valid TOML"),
]


@pytest.mark.parametrize("text,key,problem", BAD)
def test_bad_scenario_message_names_file_key_problem(text, key, problem):
    with pytest.raises(ScenarioError) as ei:
        parse(text, "bad.toml", pins=40)
    msg = str(ei.value)
    assert msg.startswith("bad.toml: ")
    assert key in msg
    assert problem in msg
    assert ei.value.code == exitcodes.USAGE == 2


def test_positions_must_match_pins():
    with pytest.raises(ScenarioError, match=r"dut.positions: the scenario describes 40 positions but --pins is 42"):
        parse("[dut]\npositions = 40\n", "x.toml", pins=42)


def test_missing_file():
    with pytest.raises(ScenarioError, match="nope.toml: cannot read"):
        load("nope.toml")


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_are_valid(path):
    sc = load(path)
    assert sc.positions in (10, 40, 42, 80)
    assert str(sc.positions) in path.name


def test_cli_bad_scenario_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[dut]\npositions = 40\n[pin.77]\nopen = true\n")
    rc = main(["run", "--pins", "40", "--sim", "--scenario", str(bad), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2
    assert str(bad) in err and "pin.77" in err and "out of range" in err
    assert not (tmp_path / "r").exists()


def test_cli_scenario_positions_mismatch_exits_2(tmp_path, capsys):
    rc = main(["run", "--pins", "42", "--sim", "--scenario", str(SCENARIOS / "good-40.toml"), "--out", str(tmp_path)])
    assert rc == 2
    assert "--pins is 42" in capsys.readouterr().err


def test_garble_kind_is_one_of_the_protocols_frame_kinds():
    from tester.firmware import protocol
    from tester.scenario import FRAME_KINDS

    assert protocol.K_MSTATUS in FRAME_KINDS and protocol.K_CONTACT in FRAME_KINDS
    for kind in FRAME_KINDS:
        assert parse('[dut]\npositions = 40\n[link]\ngarble_kind = "%s"\n' % kind).link == {"garble_kind": kind}


def test_cli_garble_kind_typo_exits_2(tmp_path, capsys):
    bad = tmp_path / "typo.toml"
    bad.write_text('[dut]\npositions = 40\n[link]\ngarble_kind = "contacts"\n')
    rc = main(["run", "--pins", "40", "--sim", "--scenario", str(bad), "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert rc == 2 and "link.garble_kind" in err and "'contacts'" in err
    assert not (tmp_path / "r").exists()
