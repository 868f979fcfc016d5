"""tester station over its HTTP API, with simulated fixtures (the real firmware on MicroPython):
four fixtures at once with one dying mid-run, START presses recorded, busy and unknown
fixtures refused with nothing started, ports that are not (the right) fixtures refused,
hot-plug, monitoring stopped from the panel, the station stopped mid-run, tester run --station."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from station_helpers import FIXTURES, call, job_done, record, station, tile, tiles, wait_for  # noqa: E402

from tester.cli import main as cli_main  # noqa: E402
from tester.history import db as hdb  # noqa: E402
from tester.history import store  # noqa: E402
from tester.sim.launcher import PtyBridge  # noqa: E402

HERE = Path(__file__).parent
TESTER = str(Path(sys.executable).parent / "tester")


def all_idle(base, fids=FIXTURES):
    ts = tiles(base)
    return ts if all(ts.get(f, {}).get("state") == "idle" for f in fids) else None


def runs_in_db(path):
    engine = hdb.open_db(str(path))
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT id, fixture_id, verdict, lot, operator FROM runs")).all()
    return rows


def test_four_fixtures_at_once_one_dies_mid_run(tmp_path):
    with station(tmp_path) as (st, server, sims, base):
        ts = wait_for("four fixtures idle", lambda: all_idle(base))
        assert all(ts[f]["simulated"] and ts[f]["can_press"] for f in FIXTURES)
        jobs = {}
        for i, f in enumerate(FIXTURES):
            status, j = call(base, "POST", "/api/fixtures/%s/run" % f, {"serial": "SN-%d" % i})
            assert status == 202, j
            jobs[f] = j
        # FX-51000003 dies once it has measured a few contacts: its interpreter is killed and
        # nothing more comes on its port (the cable still in: the host sees silence, --timeout 3)
        wait_for("FX-51000003 measuring", lambda: (tile(base, FIXTURES[2])["progress"] or {}).get("done", 0) >= 3, every=0.02)
        sims[2].proc.kill()
        done = {f: job_done(base, j["id"]) for f, j in jobs.items()}
    verdicts = {f: d["verdict"] for f, d in done.items()}
    assert verdicts == {FIXTURES[0]: "FAIL", FIXTURES[1]: "PASS", FIXTURES[2]: "ERROR", FIXTURES[3]: "PASS"}
    assert done[FIXTURES[0]]["failed"] == [17] and done[FIXTURES[0]]["exit_code"] == 1
    assert done[FIXTURES[1]]["exit_code"] == 0 and done[FIXTURES[2]]["exit_code"] == 3
    assert "link lost" in done[FIXTURES[2]]["error"] and "exited" in done[FIXTURES[2]]["error"]
    records = {f: record(tmp_path, d) for f, d in done.items()}
    for i, f in enumerate(FIXTURES):
        r = records[f]
        assert r["fixture"]["id"] == f and r["serial"] == "SN-%d" % i and r["simulated"] is True
        assert r["operator"] == "ann" and r["lot"] == "L7" and r["source"] == "host"
        assert r["complete"] is (f != FIXTURES[2])
        if f != FIXTURES[2]:
            assert len(r["contacts"]) == 40 and len(r["anchors"]) == 2 and r["link"]["lost"] == 0
    assert 3 <= len(records[FIXTURES[2]]["contacts"]) < 40  # what it measured before it died is kept
    # each record stored exactly once, under the identity of its directory's record
    rows = runs_in_db(tmp_path / "history.sqlite")
    assert sorted(r.id for r in rows) == sorted(store.identity(r) for r in records.values())
    assert {r.fixture_id: r.verdict for r in rows} == verdicts
    assert len(list((tmp_path / "results").iterdir())) == 4


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("station")
    with station(tmp) as (st, server, sims, base):
        wait_for("four fixtures idle", lambda: all_idle(base))
        yield st, sims, base, tmp


def test_start_button_press_recorded(shared):
    st, sims, base, tmp = shared
    before = len(tile(base, FIXTURES[0])["results"])
    assert call(base, "POST", "/api/fixtures/%s/press" % FIXTURES[0])[0] == 202
    t = wait_for("the START run's result", lambda: (lambda t: t if len(t["results"]) > before and t["state"] == "idle" else None)(
        tile(base, FIXTURES[0])))
    res = t["results"][0]
    assert res["source"] == "button" and res["verdict"] == "FAIL" and res["failed"] == [17]
    assert t["display"] == "FAIL"
    rec = record(tmp, res)
    assert rec["source"] == "button" and rec["fixture"]["id"] == FIXTURES[0] and rec["positions"] == 40
    assert rec["operator"] == "ann" and rec["lot"] == "L7" and rec["complete"] and rec["serial"] is None
    rows = [r for r in runs_in_db(tmp / "history.sqlite") if r.id == store.identity(rec)]
    assert len(rows) == 1 and rows[0].lot == "L7" and rows[0].operator == "ann"
    # its report is made on first view
    status, _ = call(base, "GET", "/api/jobs/%s" % res["id"])
    assert status == 200
    import urllib.request

    with urllib.request.urlopen(base + res["report_url"], timeout=60) as r:
        page = r.read().decode()
    assert "SIMULATED" in page and "17" in page


def test_unknown_fixture_and_bad_parameters(shared):
    st, sims, base, tmp = shared
    status, body = call(base, "POST", "/api/fixtures/FX-NOPE/run", {"pins": 40})
    assert status == 404 and "no fixture FX-NOPE" in body["error"] and FIXTURES[0] in body["error"]
    assert call(base, "GET", "/api/fixtures/FX-NOPE")[0] == 404
    assert call(base, "GET", "/api/jobs/0123456789ab")[0] == 404
    for bad, why in (({"pins": 41}, "even"), ({"pins": 40, "stage": "later"}, "stage"), ({"pins": "40"}, "pins"),
                     ({"pins": 40, "current_ma": 500}, "current"), ({"pins": 40, "colour": 1}, "unknown"),
                     ({"pins": 40, "seconds": 60}, "unknown parameter(s) of a run: seconds")):
        status, body = call(base, "POST", "/api/fixtures/%s/run" % FIXTURES[1], bad)
        assert status == 400 and why in body["error"], (bad, body)
    status, body = call(base, "POST", "/api/fixtures/%s/monitor" % FIXTURES[1], {"seconds": 0})
    assert status == 400 and "seconds" in body["error"]
    assert tile(base, FIXTURES[1])["state"] == "idle" and tile(base, FIXTURES[1])["job"] is None  # nothing started


def test_busy_fixture_refused_monitor_live_and_stopped(shared):
    st, sims, base, tmp = shared
    f = FIXTURES[2]  # intermittent on pin 9: events while monitoring
    before = len(tile(base, f)["results"])
    status, job = call(base, "POST", "/api/fixtures/%s/monitor" % f, {"seconds": 600})
    assert status == 202 and job["kind"] == "monitor"
    for path, data in (("run", {"pins": 40}), ("monitor", {"seconds": 5}), ("press", None)):
        status, body = call(base, "POST", "/api/fixtures/%s/%s" % (f, path), data)
        assert status == 409 and "busy" in body["error"] and job["id"] in body["error"], body
    # the tile follows the window live: elapsed time and events grow
    first = wait_for("events on the tile", lambda: (lambda m: m if m and m["events"] >= 1 else None)(tile(base, f)["monitor"]))
    later = wait_for("more time and events", lambda: (lambda m: m if m["elapsed_s"] > first["elapsed_s"] and m["events"] > first["events"]
                                                      else None)(tile(base, f)["monitor"]))
    assert later["longest_ns"] >= 1000 and any(9 in (c["pins"] or []) for c in later["channels"].values())
    assert later["timeline"] and later["link"]["lost"] == 0
    status, _ = call(base, "POST", "/api/fixtures/%s/stop" % f)
    assert status == 202
    done = job_done(base, job["id"])
    assert done["verdict"] == "ABORTED" and done["exit_code"] == 130
    rec = record(tmp, done)
    assert rec["kind"] == "monitor" and rec["interrupted_by"] == "panel STOP" and rec["measured_verdict"] == "FAIL"
    assert rec["events"] and all(e["pins"] == "9 10" for e in rec["events"])  # channel 4 watches pins 9 and 10
    t = tile(base, f)
    assert len(t["results"]) == before + 1 and t["state"] == "idle"  # exactly one job ran
    assert call(base, "POST", "/api/fixtures/%s/stop" % f)[0] == 409  # nothing left to stop


def test_fixture_unplugged_is_gone_and_comes_back(shared):
    st, sims, base, tmp = shared
    f = FIXTURES[3]
    sims[3].unplug()
    t = wait_for("gone", lambda: (lambda t: t if t["state"] == "gone" else None)(tile(base, f)))
    assert t["display"] == "GONE" and "vanished" in t["reason"] and any("lost" in l["msg"] for l in t["log"])
    status, body = call(base, "POST", "/api/fixtures/%s/run" % f, {"pins": 40})
    assert status == 409 and "not connected" in body["error"]
    sims[3].replug()
    wait_for("back", lambda: (lambda t: t if t["state"] == "idle" else None)(tile(base, f)))
    status, job = call(base, "POST", "/api/fixtures/%s/run" % f, {"pins": 40})
    assert status == 202 and job_done(base, job["id"])["verdict"] == "PASS"


def test_tester_run_on_the_station(shared, capsys):
    st, sims, base, tmp = shared
    code = cli_main(["run", "--pins", "40", "--station", base, "--fixture", FIXTURES[0], "--serial", "CLI-1"])
    out = capsys.readouterr().out
    assert code == 1 and "FAIL (SIMULATED)" in out and "pin 17" in out and "/report.html" in out
    assert cli_main(["run", "--pins", "40", "--station", base, "--fixture", "FX-NOPE"]) == 2
    assert cli_main(["run", "--pins", "40", "--station", base, "--fixture", FIXTURES[0], "--sim"]) == 2
    assert "no fixture FX-NOPE" in capsys.readouterr().err


def test_station_stopped_mid_run_records_aborted(tmp_path):
    with station(tmp_path, sims=1, scenarios=("good-40",)) as (st, server, sims, base):
        wait_for("idle", lambda: all_idle(base, FIXTURES[:1]))
        status, job = call(base, "POST", "/api/fixtures/%s/run" % FIXTURES[0], {"pins": 40})
        wait_for("measuring", lambda: (tile(base, FIXTURES[0])["progress"] or {}).get("done", 0) >= 2, every=0.02)
        workdir = sims[0].workdir
    j = st.model.job(job["id"])
    assert j.state == "done" and j.verdict == "ABORTED"
    rec = json.loads((tmp_path / "results" / j.result_dir / "record.json").read_text())
    assert rec["verdict"] == "ABORTED" and rec["interrupted_by"] == "station stopped" and not rec["complete"]
    assert not sims[0].alive() and not workdir.exists()


@pytest.fixture
def bad_ports(tmp_path):
    """A fixture with the wrong protocol (the FAKE fixture of tests/fake_fixture.py) and a port
    that is no fixture at all (it answers every line with noise)."""
    env = dict(os.environ, FAKE_FIXTURE=json.dumps({"protocol": 2, "firmware": "0.0.9"}))
    old = PtyBridge([sys.executable, str(HERE / "fake_fixture.py")], tmp_path / "old", env=env).start()
    junk = PtyBridge([sys.executable, "-c", "import sys\nfor line in sys.stdin:\n    print('ERROR? modem ready', flush=True)"],
                     tmp_path / "junk").start()
    yield old, junk
    old.close()
    junk.close()


def test_ports_that_are_not_fixtures_refused_others_served(tmp_path, bad_ports, monkeypatch):
    from tester.station import worker

    monkeypatch.setattr(worker, "HANDSHAKE_S", 2.0)
    old, junk = bad_ports
    with station(tmp_path, "--port", old.port, "--port", junk.port, sims=1, scenarios=("good-40",)) as (st, server, sims, base):
        keys = {"port:" + old.port, "port:" + junk.port}
        ts = wait_for("two refused ports", lambda: (lambda t: t if all(t.get(k, {}).get("state") == "refused" for k in keys)
                                                    else None)(tiles(base)))
        bad = ts["port:" + old.port]
        assert "protocol 2" in bad["reason"] and bad["fix"] == "tester flash --port %s" % old.port and bad["display"] == "REFUSED"
        nofx = ts["port:" + junk.port]
        assert "no answer from a fixture" in nofx["reason"] and "ERROR? modem ready" in nofx["reason"]
        assert nofx["fix"] == "tester flash --port %s" % junk.port
        status, job = call(base, "POST", "/api/fixtures/%s/run" % FIXTURES[0], {"pins": 40})  # the others are served
        assert status == 202 and job_done(base, job["id"])["verdict"] == "PASS"
        status, body = call(base, "POST", "/api/fixtures/port:%s/run" % junk.port, {"pins": 40})
        assert status == 409 and "not connected" in body["error"]
        assert call(base, "GET", "/api/fixtures/port:%s" % junk.port)[1]["state"] == "refused"
        junk.unplug()  # a refused port that vanishes is forgotten (tried again when it comes back)
        wait_for("the refusal gone", lambda: "port:" + junk.port not in tiles(base))
        assert tiles(base)["port:" + old.port]["state"] == "refused"


def test_token(tmp_path, capsys):
    assert cli_main(["station", "--listen", "0.0.0.0:0", "--out", str(tmp_path / "r"), "--port", "/nonexistent"]) == 2
    assert "token" in capsys.readouterr().err
    token = "s3cret-token"
    with station(tmp_path, "--port", "/nonexistent", "--token", token, sims=0) as (st, server, sims, base):
        assert call(base, "GET", "/api/fixtures")[0] == 401
        assert call(base, "GET", "/api/fixtures", token="wrong-token")[0] == 401
        assert call(base, "GET", "/api/fixtures", token=token) == (200, [])
        import urllib.request

        with urllib.request.urlopen(base + "/?token=" + token, timeout=10) as r:
            assert "tester_station=" in r.headers["Set-Cookie"] and b"panel.js" in r.read()


def test_station_process_ends_with_everything_it_started(tmp_path):
    """SIGTERM to a running `tester station --sim 2` while a run is in progress: exit 143, the run
    recorded ABORTED (SIGTERM), the simulated fixtures and their directories gone."""
    p = subprocess.Popen([TESTER, "station", "--sim", "2", "--pins", "40", "--listen", "127.0.0.1:0", "--out",
                          str(tmp_path / "results")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        # both fixtures: they connect in either order
        while sum(" connected on " in x for x in lines) < 2:
            line = p.stdout.readline()
            assert line, "the station ended: %s" % p.stderr.read()
            lines.append(line)
        base = [x for x in lines if "panel: " in x][0].split("panel: ")[1].strip().rstrip("/")
        workdirs = [Path(x.split(" on ")[1].split()[0]).parent for x in lines if " connected on " in x]
        status, job = call(base, "POST", "/api/fixtures/%s/run" % FIXTURES[1], {"pins": 40})
        assert status == 202
        wait_for("measuring", lambda: (tile(base, FIXTURES[1])["progress"] or {}).get("done", 0) >= 2, every=0.02)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 143, err
    assert "terminated (SIGTERM): stopping the station" in out
    [d] = list((tmp_path / "results").iterdir())
    rec = json.loads((d / "record.json").read_text())
    assert rec["verdict"] == "ABORTED" and rec["interrupted_by"] == "SIGTERM" and rec["fixture"]["id"] == FIXTURES[1]
    assert len(workdirs) == 2 and not any(w.exists() for w in workdirs)
    for pid in os.listdir("/proc"):  # no simulated fixture of this station is left
        if pid.isdigit():
            try:
                env = Path("/proc/%s/environ" % pid).read_bytes()
            except OSError:
                continue
            assert not any(str(w).encode() in env for w in workdirs), pid
