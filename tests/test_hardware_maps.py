"""The position -> relay / monitor-channel maps: generated from the firmware's rules, complete,
nothing shared that must not be, committed tables up to date."""

import csv
import io
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hardware.tools import common, gen_maps  # noqa: E402

RM, CM, BD, SP = common.relay_map(), common.channel_map(), common.board(), common.spec5861()
COUNTS = list(range(SP.POSITIONS_MIN, BD.MAX_POSITIONS + 1, 2))


def parse(text):
    return list(csv.DictReader(io.StringIO("".join(l + "\n" for l in text.splitlines() if not l.startswith("#")))))


@pytest.fixture(scope="module")
def files():
    return gen_maps.render()


def test_committed_tables_up_to_date(files):
    assert gen_maps.main(["--check"]) == 0
    assert sorted(files) == sorted(p.name for p in (REPO / "hardware" / "maps").glob("*.csv"))


def test_one_table_per_supported_count(files):
    assert COUNTS[0] == 10 and COUNTS[-1] == 80
    for n in COUNTS:
        assert "positions_%02d.csv" % n in files


@pytest.mark.parametrize("n", COUNTS)
def test_every_member_covered_with_complete_kelvin_pairs(files, n):
    rows = parse(files["positions_%02d.csv" % n])
    members = [r["member"] for r in rows]
    assert members == [str(p) for p in range(1, n + 1)] + ["A1", "A2"]
    bits_seen = {}
    for r in rows:
        for side in ("plug", "rec"):
            node = int(r[side + "_node"])
            cells = [r["%s_%s" % (side, b)] for b in gen_maps.BUSES]
            bits = [int(c.split(":")[0]) for c in cells]
            # Kelvin pair complete: force and sense relay to both the HI and the LO side.
            assert bits == [RM.relay_bit(node, bus) for bus in range(4)]
            for bit in bits:
                assert bits_seen.setdefault(bit, (r["member"], side)) == (r["member"], side), "relay bit %d shared" % bit
                reg, drain = divmod(bit, 8)
            assert cells[0].endswith("UR%d.%d" % (bits[0] // 8 + 1, bits[0] % 8))
        assert int(r["plug_node"]) != int(r["rec_node"])


@pytest.mark.parametrize("n", COUNTS)
def test_monitor_channels(files, n):
    rows = parse(files["positions_%02d.csv" % n])
    chans = {}
    for r in rows:
        chans.setdefault(int(r["channel"]), []).append(r["member"])
    assert BD.REF_CHANNEL not in chans, "a DUT member on the reference interrupter's channel"
    assert all(0 <= c < BD.EVENT_CHANNELS for c in chans)
    assert "A1" in sum(chans.values(), []) and "A2" in sum(chans.values(), [])
    sizes = [len(m) for m in chans.values()]
    members = n + 2
    dut = BD.EVENT_CHANNELS - 1
    # Chains as short as possible: never longer than needed to fit members in the channels, and
    # plus at most one for keeping the rows and the anchors apart.
    assert max(sizes) <= -(-members // dut) + 1
    if members <= dut:
        assert max(sizes) == 1
    # Rows are not mixed in one chain, anchors are alone (enough channels here).
    half = n // 2
    for ms in chans.values():
        kinds = {("A" if m.startswith("A") else (1 if int(m) <= half else 2)) for m in ms}
        assert len(kinds) == 1
        if ms[0].startswith("A"):
            assert len(ms) == 1
        else:
            nums = [int(m) for m in ms]
            assert nums == list(range(nums[0], nums[0] + len(nums))), "chain of non-neighbours %s" % ms


def test_channel_map_rules():
    assert CM.channels(80) and CM.channel_of(80, "A2") == 22 and CM.channel_of(80, 1) == 0
    assert CM.members_of(80, 23) == ()
    with pytest.raises(ValueError):
        CM.channel_of(10, 11)
    with pytest.raises(ValueError):
        CM.channels(11)
    # Balanced: inside a row chain lengths differ by at most one.
    for n_ch, ref in ((24, 23), (20, 19), (8, 0), (3, 1)):
        for n in COUNTS:
            chans = CM.channels(n, n_ch, ref)
            assert ref not in [c for c, _ in chans]
            flat = [m for _, ms in chans for m in ms]
            assert sorted(x for x in flat if isinstance(x, int)) == list(range(1, n + 1))
            assert flat.count("A1") == 1 and flat.count("A2") == 1
            assert len({c for c, _ in chans}) == len(chans)
    # Few channels: anchors join the row ends; one channel holds everything.
    assert CM.channels(10, 3, 2) == [(0, ("A1", 1, 2, 3, 4, 5)), (1, (6, 7, 8, 9, 10, "A2"))]
    assert CM.channels(10, 2, 1) == [(0, ("A1",) + tuple(range(1, 11)) + ("A2",))]


def test_relays_table(files):
    rows = parse(files["relays.csv"])
    assert len(rows) == RM.relay_count(BD.MAX_POSITIONS, len(BD.REF_RESISTORS_MOHM)) == 672
    assert [int(r["bit"]) for r in rows] == list(range(672))
    assert len({r["relay"] for r in rows}) == 672
    assert {r["register"] for r in rows} == {"UR%d" % i for i in range(1, RM.register_count(BD.MAX_POSITIONS, 2) + 1)}
    refs = [r for r in rows if r["kind"] == "ref"]
    assert len(refs) == 2 * 2 * 4
    # every node has exactly its four buses
    by_node = {}
    for r in rows:
        by_node.setdefault(int(r["node"]), []).append(r["bus"])
    assert all(v == list(gen_maps.BUSES) for v in by_node.values())


def test_stale_table_detected(tmp_path, monkeypatch, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.setattr(gen_maps, "MAPS", tmp_path)
    assert gen_maps.main(["--check"]) == 0
    p = tmp_path / "positions_40.csv"
    p.write_text(p.read_text().replace(",A2,", ",A3,"))
    assert gen_maps.main(["--check"]) == 1
