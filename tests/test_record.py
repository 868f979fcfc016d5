"""Records: fields, the host's verdict rules, CSV, atomic writing, simulated marking."""

import csv
import io
import json

import pytest

from tester.link import Frame, LinkStats
from tester.records.base import atomic_write, result_dir_name
from tester.records.run import CSV_COLUMNS, RunRecord

HELLO = {"id": 1, "firmware": "0.1.0", "protocol": 1, "board": "fixture_v1", "simulated": True,
         "fixture_id": "SIM-1", "uid": "abcd", "max_positions": 80}
INFO = {"id": "SIM-1", "board": "fixture_v1", "uid": "abcd", "port": "/dev/x", "max_positions": 80}


def fr(kind, **p):
    p.setdefault("id", 5)
    return Frame(0, kind, p)


def full_run(n=10, verdict="PASS", contact=None, skip_pin=None, anchor_r=8.0, checks_ok=True):
    rec = RunRecord(n, "initial", serial="SN1", simulated=True)
    rec.set_fixture(HELLO, INFO)
    rec.add_frame(fr("run", source="host", positions=n, stage="initial", serial="SN1",
                     limits={"contact_mohm": 70.0, "anchor_mohm": 20.0},
                     conditions={"current_ma": 100, "current_limit_ma": 100, "rating_ma": 500,
                                 "open_circuit_mv_max": 20.0, "method": "4-wire", "adc": {"rate_sps": 7200, "gain": 32}},
                     simulated=True))
    rec.add_frame(fr("check", name="ref_10", value=10.0, unit="mohm", lo=9.9, hi=10.1, ok=checks_ok))
    for pin in range(1, n + 1):
        if pin == skip_pin:
            continue
        c = dict(pin=pin, r_mohm=30.0, u_mohm=0.02, emf_uv=1.0, limit_mohm=70.0, verdict="PASS", fault=None, i_ma=100, n=8, fixture_us=1)
        if contact and pin == contact["pin"]:
            c.update(contact)
        rec.add_frame(fr("contact", **c))
    for a in (1, 2):
        rec.add_frame(fr("anchor", anchor=a, r_mohm=anchor_r, u_mohm=0.02, emf_uv=0.1, limit_mohm=20.0,
                         verdict="PASS" if anchor_r <= 20 else "FAIL", fault=None if anchor_r <= 20 else "high",
                         i_ma=100, n=8, fixture_us=1))
    rec.add_frame(fr("done", verdict=verdict, failed=[], error=None, fixture_us=500000))
    return rec


def test_pass_record_fields():
    rec = full_run()
    rec.set_link(LinkStats())
    assert rec.finish() == "PASS"
    d = json.loads(rec.to_json())
    for k in ("verdict", "simulated", "positions", "stage", "serial", "contacts", "anchors", "shorts", "selfcheck",
              "conditions", "limits", "firmware", "fixture", "host", "started", "duration_s", "complete", "error",
              "link", "scenario", "schema"):
        assert k in d, k
    assert d["verdict"] == "PASS" and d["complete"] is True and d["error"] is None and d["simulated"] is True
    assert d["firmware"] == {"version": "0.1.0", "protocol": 1}
    assert d["fixture"]["id"] == "SIM-1" and d["fixture"]["port"] == "/dev/x"
    assert set(d["contacts"][0]) >= {"pin", "r_mohm", "u_mohm", "emf_uv", "limit_mohm", "verdict", "fault", "i_ma"}
    assert set(d["anchors"][0]) >= {"anchor", "r_mohm", "u_mohm", "emf_uv", "limit_mohm", "verdict", "fault"}
    assert d["conditions"]["rating_ma"] == 500 and d["conditions"]["open_circuit_mv_max"] == 20.0
    assert d["started"].endswith("Z") and d["fixture_time_s"] == 0.5
    assert set(d["link"]) == {"frames", "lost", "garbled", "noise_lines"}
    assert d["host"]["tester_version"]


@pytest.mark.parametrize(
    "kw,why",
    [
        (dict(skip_pin=4), "not measured (4)"),
        (dict(checks_ok=False), "self-check"),
        (dict(contact={"pin": 3, "r_mohm": 80.0}), "above its limit"),
        (dict(contact={"pin": 3, "verdict": "FAIL", "fault": "high", "r_mohm": 80.0}), "not PASS"),
    ],
)
def test_fixture_pass_that_host_cannot_confirm_is_error(kw, why):
    rec = full_run(**kw)
    rec.set_link(LinkStats())
    assert rec.finish() == "ERROR"
    assert why in rec.data["error"]
    assert rec.exit_code() == 3


@pytest.mark.parametrize("field", ["lost", "garbled"])
def test_link_trouble_is_never_pass(field):
    rec = full_run()
    st = LinkStats()
    setattr(st, field, 1)
    rec.set_link(st)
    assert rec.finish() == "ERROR"
    assert field in rec.data["error"]


def test_fail_names_pins():
    rec = full_run(contact={"pin": 7, "r_mohm": 74.0, "verdict": "FAIL", "fault": "high"}, verdict="FAIL")
    rec.add_frame(fr("short", side="plug", pins=[2, 3], ohm=0.2))
    rec.set_link(LinkStats())
    assert rec.finish() == "FAIL" and rec.exit_code() == 1
    reasons = rec.failures()
    assert any(r.startswith("pin 7: high: 74.00") for r in reasons)
    assert any("pins 2-3" in r and "plug" in r for r in reasons)


def test_no_done_is_incomplete_error():
    rec = RunRecord(10, "after")
    rec.add_frame(fr("contact", pin=1, r_mohm=30.0, verdict="PASS"))
    assert rec.finish(error="link lost: silence") == "ERROR"
    assert rec.data["complete"] is False and "link lost" in rec.data["error"]


def test_interrupted_is_aborted_130():
    rec = full_run()
    assert rec.finish(interrupted=True) == "ABORTED"
    assert rec.exit_code() == 130 and rec.data["complete"] is False and "Ctrl-C" in rec.data["error"]


def test_fixture_error_is_exit_3():
    rec = full_run(verdict="ERROR")
    rec.data["done"]["error"] = "probe fault on pin 9"
    assert rec.finish() == "ERROR" and rec.exit_code() == 3 and "probe" in rec.data["error"]


def test_csv_and_atomic_write(tmp_path):
    rec = full_run(n=10)
    rec.set_link(LinkStats())
    rec.finish()
    d = rec.write(tmp_path / "out")
    assert sorted(p.name for p in d.iterdir()) == ["measurements.csv", "record.json"]  # no temp files left
    rows = list(csv.DictReader(io.StringIO((d / "measurements.csv").read_text())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 12
    assert rows[0]["kind"] == "contact" and rows[0]["position"] == "1" and rows[0]["unit"] == "mohm"
    assert rows[-1]["kind"] == "anchor" and rows[-1]["position"] == "2" and rows[-1]["limit"] == "20.0"
    assert all(r["simulated"] == "true" for r in rows)
    assert rows[0]["current_ma"] == "100" and rows[0]["open_circuit_mv_max"] == "20.0"
    assert json.loads((d / "record.json").read_text())["verdict"] == "PASS"


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    p = tmp_path / "record.json"
    atomic_write(p, "old")
    import os

    def boom(*a):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(p, "new")
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["record.json"]


def test_result_dir_name():
    from datetime import datetime, timezone

    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert result_dir_name(t, None, "FX-1", False) == "20260102T030405Z-noserial-FX-1"
    assert result_dir_name(t, "A/B 7", "SIM-2", True) == "20260102T030405Z-A_B_7-SIM-2-SIMULATED"


def test_fixture_abort_without_ctrl_c_is_exit_3():
    rec = full_run(verdict="ABORTED")
    rec.set_link(LinkStats())
    assert rec.finish() == "ABORTED"
    assert rec.exit_code() == 3 and rec.data["complete"] is False
