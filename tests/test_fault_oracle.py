"""The fault campaign's oracle counts an err "hardware" as a fault: the campaign's simulated
hardware is healthy, so it is the firmware failing (a MemoryError that App.handle answers), which
no other count would show."""

from fault_campaign import oracle


def test_judge_counts_hardware_errors_on_healthy_hardware():
    state = {"coils": [], "made": [], "fw_closed": 0, "source_on": False, "src_en": 0, "mon_en": 0,
             "hot": 0, "hot_at": [], "busy": False, "monitoring": False, "entries": 1}
    frames = [(0, "hello", {"id": 0}),
              (1, "err", {"id": 5, "code": "hardware", "msg": "out of memory: memory allocation failed"})]
    c = {k: 0 for k in oracle.COUNTS}
    msgs = oracle.judge_batch(c, [b"5 MSTATUS"], frames, [], state, False, {5: "MSTATUS"})
    assert c["hardware_errors"] == 1 and "hardware_errors" in oracle.FAULTS
    assert c["replies_missing"] == 0 and any("out of memory" in m for m in msgs)
    c = {k: 0 for k in oracle.COUNTS}  # a refusal is no fault
    oracle.judge_batch(c, [b"5 MSTATUS x=1"], [frames[0], (1, "err", {"id": 5, "code": "arg"})], [], state, False, {})
    assert c["hardware_errors"] == 0
