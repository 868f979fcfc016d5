"""The mating-cycle counter from the host (5861 spec 8.5: the fixture's test-board connectors are
rated 30 matings, one a run): a worn fixture's refusal names the fix, `tester run --allow-worn`
runs knowingly, `tester cycles --reset` (after the replacement) counts from 0 again, and is not
done without the operator's word."""

import json
import subprocess
import sys
from pathlib import Path

from tester.fixture import Fixture
from tester.link import Link
from tester.sim.flashable import SimBoard

TESTER = str(Path(sys.executable).parent / "tester")


def cli(*argv, stdin=None):
    return subprocess.run([TESTER, *argv], capture_output=True, text=True, timeout=120, input=stdin)


def test_worn_fixture_refused_with_the_fix_then_reset(tmp_path):
    work = tmp_path / "fx"
    board = SimBoard(work)
    board.set_scenario({"positions": 10, "contact_mohm": 30.0, "anchor_mohm": 8.0, "spread_mohm": 0.0, "seed": 3})
    with board.boot() as sim:  # thirty runs: the rated matings used up
        fx = Fixture(Link.open(sim.port), sim.port)
        try:
            fx.handshake(timeout=10)
            for _ in range(30):
                for _f in fx.run_frames(fx.start_run(10, date=20261204), 10):
                    pass
        finally:
            fx.close()
    r = cli("cycles", "--sim", "--workdir", str(work), "--json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)
    assert c["count"] == 30 and c["state"] == "worn" and c["limit"] == 30 and c["simulated"] is True

    with board.boot() as sim:
        r = cli("run", "--pins", "10", "--port", sim.port, "--out", str(tmp_path / "r"), "--json")
        assert r.returncode == 3 and "tester cycles --reset --port %s" % sim.port in r.stderr, r.stderr
        r = cli("run", "--pins", "10", "--port", sim.port, "--out", str(tmp_path / "r"), "--json", "--allow-worn")
        assert r.returncode == 0, r.stderr
        cyc = json.loads(r.stdout)["conditions"]["mating_cycles"]
        assert cyc["count"] == 31 and cyc["overridden"] is True

    # not reset without the operator's word
    r = cli("cycles", "--sim", "--workdir", str(work), "--reset", stdin="no\n")
    assert r.returncode == 2 and "the count stays 31" in r.stderr
    r = cli("cycles", "--sim", "--workdir", str(work), "--reset", stdin="yes\n")
    assert r.returncode == 0 and "0 of 30 rated mating cycles" in r.stdout and "was 31" in r.stdout, r.stdout + r.stderr
    with board.boot() as sim:
        r = cli("run", "--pins", "10", "--port", sim.port, "--out", str(tmp_path / "r"), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["conditions"]["mating_cycles"]["count"] == 1, r.stderr
