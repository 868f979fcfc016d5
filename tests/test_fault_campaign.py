"""The fault campaign, small and deterministic (tools/faults.py / `make faults` runs >= 30,000
inputs with the same harness): protocol fuzzing of the firmware on MicroPython, the simulated
hardware's state checked after every batch; and the oracles themselves shown able to fail."""

import pytest

from fault_campaign import campaign, oracle, pty_fuzz
from tester.firmware import protocol

SEED = 20240509
INPUTS = 2000


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return campaign.run_campaign(SEED, INPUTS, tmp_path_factory.mktemp("faults"))


def test_campaign_finds_no_fault(result):
    assert result.counts["inputs"] >= INPUTS
    assert result.faults() == {}, campaign.describe(result)


def test_campaign_reaches_runs_monitors_and_replays(result):
    """The campaign is worth its count only if inputs land mid-run and mid-monitor."""
    k = result.kinds
    assert k.get("done", 0) >= 10 and k.get("mdone", 0) >= 10, k
    assert k.get("event", 0) > 100 and k.get("contact", 0) > 50, k
    assert result.counts["lines"] > 3 * result.counts["inputs"], result.counts


def test_line_model_follows_the_documented_link():
    m = oracle.LineModel()
    assert m.feed(b"1 HELLO\r\n\n2 STATUS\r") == [b"1 HELLO", b"2 STATUS"]
    assert m.feed(b"1 HEL\x032 SAFE\n") == [b"2 SAFE"]  # 0x03 drops the line so far
    assert m.feed(b"x\x03\r\n\x01y\n") == ["REPL", b"y"]  # mpremote's Ctrl-C, Ctrl-A
    assert m.feed(b"A" * (protocol.MAX_LINE + 5) + b"\n3 HELLO\n") == [b"", b"3 HELLO"]


def _state(**kw):
    s = {"coils": [], "made": [], "fw_closed": 0, "source_on": False, "src_en": 0, "mon_en": 0, "hot": 0,
         "hot_at": [], "busy": False, "monitoring": False, "entries": 1}
    s.update(kw)
    return s


def test_judge_flags_missing_doubled_lost_and_unsafe():
    """Each oracle fails on the fault it is there for."""
    hello0 = (0, "hello", {"id": 0})
    c = {k: 0 for k in oracle.COUNTS}
    oracle.judge_batch(c, [b"5 STATUS"], [hello0], [], _state(), False, {5: "STATUS"})
    assert c["replies_missing"] == 1
    c = {k: 0 for k in oracle.COUNTS}
    fr = [hello0, (1, "ok", {"id": 6}), (2, "err", {"id": 6, "code": "x"})]
    oracle.judge_batch(c, [b"6 SAFE"], fr, [], _state(), False, {6: "SAFE"})
    assert c["replies_doubled"] == 1
    c = {k: 0 for k in oracle.COUNTS}
    fr = [hello0, (1, "run", {"id": 7, "positions": 10})] + [(2, "contact", {"id": 7, "pin": p}) for p in (1, 2, 2)]
    fr += [(3, "anchor", {"id": 7, "anchor": a}) for a in (1, 2)] + [(4, "done", {"id": 7, "verdict": "PASS"})]
    oracle.judge_batch(c, [b"7 RUN pins=10"], fr, [], _state(), False, {7: "RUN"})
    assert c["records_doubled"] == 1 and c["records_lost"] == 8
    c = {k: 0 for k in oracle.COUNTS}
    oracle.judge_batch(c, [], [hello0], ["Traceback"], _state(coils=[3], src_en=1, mon_en=1, hot=2), False, {})
    assert c["relays_left_closed"] == 1 and c["sources_left_on"] == 1 and c["monitor_left_on"] == 1
    assert c["hot_switches"] == 2 and c["tracebacks"] == 1 and c["unsafe_batches"] == 1


def test_pty_end_to_end_fuzz(tmp_path):
    """Bytes through the simulated fixture's real pseudo-terminal (0x03, floods, mid-run input):
    every probe answered, nothing but frames on the wire, the fixture safe at the end."""
    r = pty_fuzz.run(SEED, 200, tmp_path)
    assert r.counts["inputs"] >= 190 and r.counts["runs"] >= 4, r.counts
    assert r.faults() == {}, "\n".join(r.findings[:5])
