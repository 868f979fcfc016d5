"""The monitoring record and a window's verdict, without a fixture: losses under today's counter
names (protocol.LOST_*) whatever name an older fixture or record used, the procedure's verdict,
the files it writes and reads back (--resume)."""

import csv
import io
import json

from tester.firmware import protocol
from tester.monitor_session import Window
from tester.records.base import RECORD_NAME
from tester.records.monitor import EVENT_COLUMNS, MonitorRecord, worst

CHANNELS = [[0, [1, 2]], [1, [3, 4]]]


def _done(lost=None, events=0, failures=(0, 0)):
    return {"verdict": protocol.PASS, "reason": "done", "events": events, "elapsed_ms": 60000,
            "failures": list(failures), "glitches": [0, 0], "longest_ns": [0, 0], "lost": dict(lost or {})}


def _window(lost=None, events=()):
    w = Window("X", "axis-X", 60, {"axis": "X"})
    w.mon = {"definition": {"threshold_ohm": 10}, "channels": CHANNELS}
    for n, ch in enumerate(events, 1):
        w.add_event({"n": n, "ch": ch, "pins": CHANNELS[ch][1], "t_us": 1000 * n, "len_ns": 2000})
    w.done = _done(lost, len(events), [list(events).count(0), list(events).count(1)])
    return w


def test_a_lost_event_log_entry_makes_the_window_invalid_under_either_name():
    for name in ("event_buffer_dropped", protocol.LOST_EVENT_LOG):  # before and after the rename
        w = _window({name: 3, protocol.LOST_FIFO_STALLS: 0})
        assert w.verdict() == protocol.INVALID
        assert "fixture lost data: %s = 3" % protocol.LOST_EVENT_LOG in w.problems()
        assert w.summary(CHANNELS)["losses"] == {protocol.LOST_EVENT_LOG: 3, protocol.LOST_FIFO_STALLS: 0}


def test_every_loss_of_data_is_named_and_a_clean_window_passes():
    assert _window({k: 0 for k in protocol.LOSSES_OF_DATA}).verdict() == protocol.PASS
    for k in protocol.LOSSES_OF_DATA:
        w = _window({k: 1})
        assert w.verdict() == protocol.INVALID and any(k in p for p in w.problems()), k
    # link drops are reported apart: the fixture replays the events
    assert _window({protocol.LOST_LINK_BYTES: 400, protocol.LOST_LINK_FRAMES: 3}).verdict() == protocol.PASS


def test_procedure_verdict_is_the_worst_window():
    assert worst([protocol.PASS, protocol.FAIL, protocol.INVALID]) == protocol.INVALID
    assert worst([protocol.PASS, protocol.ERROR, protocol.ABORTED]) == protocol.ABORTED
    assert worst([protocol.PASS]) == protocol.PASS
    rec = MonitorRecord("monitor", 4, True)
    rec.add_window(_window(events=[1]))
    rec.finish()
    assert rec.data["verdict"] == protocol.FAIL and rec.data["failing"] == [
        {"channel": 1, "pins": [3, 4], "failures": 1, "longest_ns": 0}]


def test_written_record_reads_back_and_old_loss_names_are_read_as_today(tmp_path):
    rec = MonitorRecord("vibration", 4, True, serial="SN1")
    rec.set_fixture({"firmware": "0.1.0", "protocol": 1, "simulated": True},
                    {"id": "SIM-1", "board": "sim", "uid": "u", "port": "/dev/x", "max_positions": 80})
    rec.add_window(_window(events=[0, 1]))
    rec.finish()
    d = rec.write(tmp_path / "r")
    rows = list(csv.DictReader(io.StringIO((d / "events.csv").read_text())))
    assert tuple(rows[0]) == EVENT_COLUMNS and [r["channel"] for r in rows] == ["0", "1"]
    # a record written before the counter was renamed
    data = json.loads((d / RECORD_NAME).read_text())
    data["windows"][0]["losses"] = {"event_buffer_dropped": 2, "fifo_stalls": 0}
    (d / RECORD_NAME).write_text(json.dumps(data))
    back = MonitorRecord.load(d)
    assert back.data["windows"][0]["losses"] == {protocol.LOST_EVENT_LOG: 2, protocol.LOST_FIFO_STALLS: 0}
    assert back.data["fixture"]["id"] == "SIM-1" and back.data["firmware"] == {"version": "0.1.0", "protocol": 1}
    assert back.data["started"] == rec.data["started"] and abs((back.started_dt - rec.started_dt).total_seconds()) < 1e-3
    assert len(back.rows) == 2
