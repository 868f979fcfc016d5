"""Worn test boards on a station: a fixture's mating count (5861 spec 8.5: 30 rated, one a run) is
on its tile; at 30 the fixture refuses runs and the refusal names the fix; "Test boards replaced"
(POST /api/fixtures/ID/cycles {"reset": true}) starts the count again, no record made for it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from station_helpers import FIXTURES, call, station, tile, wait_for  # noqa: E402

FID = FIXTURES[0]


def run_once(base, pins=10):
    status, job = call(base, "POST", "/api/fixtures/%s/run" % FID, {"pins": pins})
    assert status == 202, job
    while job["state"] != "done":
        _, job = call(base, "GET", "/api/jobs/%s?wait=20" % job["id"])
    return job


def press_once(base):
    """START on the simulated panel; the new result's dict."""
    last = tile(base, FID)["results"]
    before = last[0]["id"] if last else None
    assert call(base, "POST", "/api/fixtures/%s/press" % FID)[0] == 202
    return wait_for("the START run's result", lambda: (lambda t: t["results"][0] if t["results"] and t["results"][0]["id"] != before
                                                       and t["state"] == "idle" else None)(tile(base, FID)))


def test_worn_boards_refused_then_replaced(tmp_path):
    with station(tmp_path, "--pins", "10", sims=1, scenarios=("good-10",)) as (st, server, sims, base):
        t = wait_for("the tile's count", lambda: (lambda t: t if t and t.get("cycles") else None)(tile(base, FID)))
        assert t["cycles"]["count"] == 0 and t["cycles"]["limit"] == 30 and t["cycles"]["state"] == "ok"
        for i in range(30):  # the last two by START: the count on the tile follows the operator's runs too
            assert (press_once(base) if i >= 28 else run_once(base))["verdict"] == "PASS"
        assert tile(base, FID)["cycles"] == {"count": 30, "limit": 30, "warn_at": 25, "state": "worn"}

        job = run_once(base)
        assert job["verdict"] == "ERROR" and "30 mating cycles" in job["error"] and "tester cycles --reset" in job["error"]
        assert job["exit_code"] == 3

        status, body = call(base, "POST", "/api/fixtures/%s/cycles" % FID, {"reset": "yes"})
        assert status == 400 and '{"reset": true}' in body["error"]
        n_results = len(tile(base, FID)["results"])
        status, job = call(base, "POST", "/api/fixtures/%s/cycles" % FID, {"reset": True})
        assert status == 202
        while job["state"] != "done":
            _, job = call(base, "GET", "/api/jobs/%s?wait=20" % job["id"])
        assert job["exit_code"] == 0 and job["error"] is None
        t = tile(base, FID)
        assert t["cycles"]["count"] == 0 and t["cycles"]["state"] == "ok"
        assert len(t["results"]) == n_results  # maintenance, not a result
        assert any("test-board connectors replaced: mating cycles 30 -> 0 of 30" in x["msg"] for x in t["log"])

        assert run_once(base)["verdict"] == "PASS"
        assert tile(base, FID)["cycles"]["count"] == 1
    results = list((tmp_path / "results").iterdir())
    assert len(results) == 32  # 30 runs (START ones too), the refused one (ERROR, its reason said) and the one after the replacement
