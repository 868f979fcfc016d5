"""START pressed on a fixture with no station attached: the fixture keeps the run on its flash
(firmware/kept_runs.py) and a station collects it when it connects (worker.collect_stored):
one record (source button, the fixture's id, the scenario's verdict), stored once in the history,
the fixture told to forget it; a station that connects again (the drop's answer lost) does not
store it twice."""

import json
import sys
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from station_helpers import SCENARIOS, station, tile, wait_for  # noqa: E402

from tester import scenario as scenario_mod  # noqa: E402
from tester.firmware import protocol  # noqa: E402
from tester.fixture import Fixture  # noqa: E402
from tester.history import db as hdb  # noqa: E402
from tester.history import store  # noqa: E402
from tester.link import Link  # noqa: E402
from tester.sim.launcher import SimFixture  # noqa: E402
from tester.station import discovery  # noqa: E402
from tester.station.worker import Worker  # noqa: E402

FID = "FX-51000007"


def _kept_whole(fs):
    """{n: verdict} of the runs on the simulated flash whose copy has its `done`."""
    out = {}
    for p in sorted((fs / "kept").glob("*.frames")) if (fs / "kept").is_dir() else []:
        lines = p.read_bytes().split(b"\n")
        if len(lines) > 1 and lines[-1] == b"" and b",done," in lines[-2]:
            out[int(p.stem)] = protocol.decode_frame(lines[-2])[2]["verdict"]
    return out


def _kept_on_fixture(port):
    """(hello, KEPT listing) from the fixture, as any host asks."""
    fx = Fixture(Link.open(port))
    try:
        fx.handshake(timeout=10)
        return fx.hello, fx.command("KEPT").payload
    finally:
        fx.close()


def _rows(db):
    with hdb.open_db(str(db)).connect() as c:
        return c.execute(sa.text("SELECT id, fixture_id, verdict, lot, operator FROM runs")).all()


def test_start_with_no_station_collected_once(tmp_path, monkeypatch):
    sc = scenario_mod.load(str(SCENARIOS / "high-contact-40.toml"))
    sim = SimFixture(sc.sim, workdir=tmp_path / "sim", uid=discovery.sim_uid(7))
    (sim.fs / "config.json").write_text(json.dumps({"pins": 40, "stage": "initial"}))  # CONFIG sent earlier
    db = tmp_path / "history.sqlite"
    with sim:
        # two START presses, nobody on the port: both runs kept on the simulated flash
        sim.press_start()
        wait_for("the first START run kept", lambda: 1 in _kept_whole(sim.fs))
        sim.press_start()
        assert wait_for("the second START run kept", lambda: len(_kept_whole(sim.fs)) == 2 and _kept_whole(sim.fs)) == {1: "FAIL", 2: "FAIL"}

        # a station connects: it collects both; the fixture's answer to the first drop is lost
        real = Worker.kept_command

        def lossy(self, **args):
            return None if args.get("drop") == 1 else real(self, **args)

        monkeypatch.setattr(Worker, "kept_command", lossy)
        with station(tmp_path, "--port", sim.port, sims=0, db=db) as (st, server, sims, base):
            t = wait_for("two collected START runs", lambda: (lambda t: t if t and len(t["results"]) == 2 and t["state"] == "idle"
                                                              else None)(tile(base, FID)))
        monkeypatch.setattr(Worker, "kept_command", real)
        results = t["results"]
        assert [r["source"] for r in results] == ["button", "button"]
        assert all(r["params"]["collected"] and r["verdict"] == "FAIL" and r["failed"] == [17] for r in results)
        assert sorted(r["params"]["kept"] for r in results) == [1, 2]
        records = {r["params"]["kept"]: json.loads((tmp_path / "results" / r["result"] / "record.json").read_text())
                   for r in results}
        for n, rec in records.items():
            assert rec["source"] == "button" and rec["fixture"]["id"] == FID and rec["verdict"] == "FAIL"
            assert rec["failed"] == [17] and rec["complete"] is True and len(rec["contacts"]) == 40
            assert rec["simulated"] is True and rec["operator"] == "ann" and rec["lot"] == "L7"
            assert rec["collected"]["kept"] == n and rec["link"]["lost"] == 0
            assert rec["collected"]["started_from"] == "the fixture's uptime"
        rows = _rows(db)
        assert sorted(r.id for r in rows) == sorted(store.identity(r) for r in records.values())
        assert {r.fixture_id for r in rows} == {FID}
        hello, listing = _kept_on_fixture(sim.port)
        assert hello["stored_runs"] == 1 and [r["n"] for r in listing["runs"]] == [1]  # its drop was lost
        assert listing["runs"][0]["started"] == records[1]["started"]  # dated once, by the station

        # the station connects again: run 1 is in the history already: forgotten, not stored twice
        with station(tmp_path, "--port", sim.port, sims=0, db=db) as (st, server, sims, base):
            t = wait_for("run 1 forgotten", lambda: (lambda t: t if t and any("already in the history" in x["msg"] for x in t["log"])
                                                     else None)(tile(base, FID)))
            assert t["results"] == []
        hello, listing = _kept_on_fixture(sim.port)
        assert hello["stored_runs"] == 0 and listing["runs"] == [] and listing["stored_dropped"] == 0
        assert len(_rows(db)) == 2 and len(list((tmp_path / "results").iterdir())) == 2


def test_start_run_cut_on_the_link_is_recorded_once_from_the_fixtures_copy(tmp_path):
    """The cable is pulled during a START run the station is recording: the fixture finishes the run
    and keeps it whole; the station makes no partial record of it, and when the cable is back it
    records the fixture's copy: one record of one press, complete, stored once."""
    sc = scenario_mod.load(str(SCENARIOS / "high-contact-40.toml"))
    sim = SimFixture(sc.sim, workdir=tmp_path / "sim", uid=discovery.sim_uid(7))
    (sim.fs / "config.json").write_text(json.dumps({"pins": 40, "stage": "initial"}))
    db = tmp_path / "history.sqlite"
    with sim, station(tmp_path, "--port", sim.port, sims=0, db=db) as (st, server, sims, base):
        wait_for("the fixture's tile", lambda: (tile(base, FID) or {}).get("state") == "idle")
        sim.press_start()
        wait_for("the START run under way", lambda: ((tile(base, FID) or {}).get("progress") or {}).get("done", 0) >= 2,
                 every=0.02)
        sim.unplug()
        wait_for("the START run kept whole on the fixture", lambda: 1 in _kept_whole(sim.fs))
        wait_for("the fixture gone", lambda: (tile(base, FID) or {}).get("state") == "gone")
        sim.replug()
        t = wait_for("the copy collected", lambda: (lambda t: t if t and any(r["params"].get("collected") for r in t["results"])
                                                     and t["state"] == "idle" else None)(tile(base, FID)))
    live = [r for r in t["results"] if not r["params"].get("collected")]
    assert live and "keeps it whole" in live[0]["error"] and live[0]["result"] is None
    dirs = list((tmp_path / "results").iterdir())
    assert len(dirs) == 1, dirs
    rec = json.loads((dirs[0] / "record.json").read_text())
    assert rec["complete"] is True and rec["verdict"] == "FAIL" and rec["failed"] == [17] and len(rec["contacts"]) == 40
    assert rec["source"] == "button" and rec["collected"]["kept"] == 1
    assert [r.id for r in _rows(db)] == [store.identity(rec)]
