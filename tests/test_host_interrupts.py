"""The host CLI under interruptions and bad options (issue 9, host side): real signals sent to a
`tester ... --sim` process (SIGTERM, SIGHUP, SIGINT), the record of what was measured, the
simulated child and its directory gone afterwards; `vibration --resume`; numeric options; an
unwritable or failing --out; file modes; the shock prompt per shock; --allow-expired-cal."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tester.monitor_session import Window
from tester.records import base as records_base
from tester.records.monitor import MonitorRecord
from tester.cli import main

REPO = Path(__file__).resolve().parent.parent
TESTER = str(Path(sys.executable).parent / "tester")
SIGNAL_CODES = {signal.SIGTERM: 143, signal.SIGHUP: 129, signal.SIGINT: 130}


def _children(pid):
    """PIDs whose parent is `pid` (from /proc: psutil is not a dependency)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(d.name))
    return out


def _alive(pid):
    try:
        state = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(pred, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


class Cli:
    """`tester ARGV` in the background, stderr to a file, TMPDIR private (the simulated
    fixture's temporary directory must be gone at the end)."""

    def __init__(self, tmp_path, argv, umask=None, stdin=subprocess.DEVNULL):
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir(exist_ok=True)
        self.err_path = tmp_path / "stderr.txt"
        self.out_path = tmp_path / "stdout.txt"
        env = dict(os.environ, TMPDIR=str(self.tmp))
        self.p = subprocess.Popen([TESTER] + argv, stdout=self.out_path.open("w"), stderr=self.err_path.open("w"),
                                  stdin=stdin, env=env, preexec_fn=(lambda: os.umask(umask)) if umask is not None else None)
        self.kids = set()

    def err(self):
        """What it printed (the live view is on stdout, or on stderr with --json)."""
        return self.out_path.read_text() + self.err_path.read_text()

    def wait_text(self, text, timeout=60.0):
        ok = _wait_for(lambda: (self.kids.update(_children(self.p.pid)) or text in self.err()) or self.p.poll() is not None, timeout)
        assert ok and self.p.poll() is None, "never saw %r:\n%s" % (text, self.err())

    def signal(self, sig):
        self.kids.update(_children(self.p.pid))
        assert self.kids, "the simulated fixture was not running"
        self.p.send_signal(sig)
        try:
            return self.p.wait(timeout=30)
        finally:
            if self.p.poll() is None:
                self.p.kill()

    def check_clean(self):
        """No simulated fixture left, no temporary directory left."""
        assert _wait_for(lambda: not any(_alive(k) for k in self.kids), 5), "child left running: %s" % self.kids
        assert list(self.tmp.iterdir()) == [], list(self.tmp.iterdir())


def _record(out, suffix=""):
    dirs = [p for p in sorted(Path(out).iterdir()) if p.is_dir() and p.name.endswith(suffix) and not p.name.startswith(".")]
    assert len(dirs) == 1, dirs
    return dirs[0], json.loads((dirs[0] / "record.json").read_text())


# -- signals during monitoring: the window in progress is kept ------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_during_monitoring_keeps_the_window_and_cleans_up(tmp_path, sig):
    out = tmp_path / "results"
    cli = Cli(tmp_path, ["monitor", "--pins", "40", "--sim", "--scenario", str(REPO / "scenarios" / "intermittent-40.toml"),
                         "--duration", "2h", "--out", str(out), "--json"])
    cli.wait_text("monitoring monitor")
    time.sleep(1.5)  # a few hundred simulated seconds with events in them
    rc = cli.signal(sig)
    assert rc == SIGNAL_CODES[sig], cli.err()
    cli.check_clean()
    d, rec = _record(out)
    name = signal.Signals(sig).name
    assert rec["verdict"] == "ABORTED" and rec["complete"] is False and rec["interrupted_by"] == name
    assert name in rec["error"]
    w = rec["windows"][0]
    assert w["verdict"] == "ABORTED" and w["interrupted_by"] == name and w["complete"] is False
    assert 0 < w["elapsed_s"] < 7200 and w["reason"] == "stopped"  # the fixture confirmed the MSTOP
    assert rec["events"] and len(rec["events"]) == w["events"]  # what was measured is there
    assert rec["measured_verdict"] == "FAIL"  # the intermittent contact, seen before the stop
    assert json.loads(cli.out_path.read_text()) == rec  # --json: stdout holds the record only


def test_sigterm_during_run_aborts_writes_record_and_cleans_up(tmp_path):
    # The simulated link stops forwarding after 30 frames: the run is in progress (the host
    # waiting up to --timeout) when SIGTERM arrives, whatever the speed of this machine.
    out = tmp_path / "results"
    cli = Cli(tmp_path, ["run", "--pins", "40", "--sim", "--scenario", str(REPO / "scenarios" / "link-drop-40.toml"),
                         "--timeout", "60", "--out", str(out)], umask=0o077)
    cli.wait_text("test current")  # the run has started on the fixture
    time.sleep(0.5)
    rc = cli.signal(signal.SIGTERM)
    assert rc == 143, cli.err()
    cli.check_clean()
    d, rec = _record(out)
    assert rec["verdict"] == "ABORTED" and rec["interrupted_by"] == "SIGTERM" and rec["complete"] is False
    assert "SIGTERM" in rec["error"] and 0 < len(rec["contacts"]) < 40  # what was measured is kept
    assert "aborting the run" in cli.err() and cli.out_path.read_text().strip().endswith("ABORTED (SIMULATED)")
    # readable by other users whatever the umask (MES collectors)
    assert stat.S_IMODE(d.stat().st_mode) == 0o755
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    for f in d.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f


# -- vibration: interrupted, resumed from the next axis ---------------------------------------

def test_vibration_interrupted_then_resumed_from_the_axis_in_progress(tmp_path):
    out = tmp_path / "results"
    base = ["vibration", "--pins", "40", "--sim", "--scenario", str(REPO / "scenarios" / "intermittent-40.toml"), "--yes"]
    cli = Cli(tmp_path, base + ["--axis-duration", "5m", "--out", str(out)])
    cli.wait_text("monitoring axis-Y")
    rc = cli.signal(signal.SIGTERM)
    assert rc == 143, cli.err()
    cli.check_clean()
    d, rec = _record(out, "-vibration")
    assert rec["verdict"] == "ABORTED" and rec["interrupted_by"] == "SIGTERM"
    assert rec["stages"]["initial"]["verdict"] == "PASS"
    assert [(w["axis"], w["complete"]) for w in rec["windows"]] == [("X", True), ("Y", False)]
    assert "--resume %s" % d in cli.err()

    r = subprocess.run([TESTER] + base + ["--resume", str(d), "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr  # the intermittent contact fails
    rec2 = json.loads(r.stdout)
    assert rec2["verdict"] == "FAIL" and rec2["complete"] is True and "interrupted_by" not in rec2
    assert [w["axis"] for w in rec2["windows"]] == ["X", "Y", "Z"]
    assert rec2["windows"][0] == rec["windows"][0]  # axis X kept as measured, not run again
    assert [w["axis"] for w in rec2["superseded_windows"]] == ["Y"]
    assert rec2["resumed"][0]["axes_done"] == ["X"]
    assert rec2["stages"]["after"]["verdict"] == "PASS" and rec2["conditions"]["axis_duration_s"] == 300
    assert {e["axis"] for e in rec2["events"]} == {"X", "Y", "Z"}
    assert sorted(p.name for p in d.iterdir() if p.is_dir()) == ["contact-resistance-after", "contact-resistance-initial"]

    # a finished procedure, or a record of another kind, cannot be resumed
    r = subprocess.run([TESTER] + base + ["--resume", str(d)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "finished" in r.stderr
    mon_dir = tmp_path / "mon"
    mon_dir.mkdir()
    (mon_dir / "record.json").write_text(json.dumps({"kind": "monitor", "positions": 40, "started": "2026-01-01T00:00:00Z"}))
    r = subprocess.run([TESTER] + base + ["--resume", str(mon_dir)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a vibration" in r.stderr
    r = subprocess.run([TESTER] + base + ["--resume", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no record.json" in r.stderr


# -- numeric options and --out: refused before the fixture is touched -------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0", "-1", "1e9", "ten"])
@pytest.mark.parametrize("cmd,option", [
    (["run", "--pins", "40", "--sim"], "--timeout"),
    (["monitor", "--pins", "40", "--sim", "--duration", "30s"], "--timeout"),
    (["monitor", "--pins", "40", "--sim", "--duration", "30s"], "--reconnect-timeout"),
    (["vibration", "--pins", "40", "--sim"], "--timeout"),
    (["shock", "--pins", "40", "--sim"], "--reconnect-timeout"),
])
def test_numeric_options_nan_inf_nonpositive_exit_2(cmd, option, value, capsys):
    with pytest.raises(SystemExit) as ei:
        main(cmd + [option, value])
    assert ei.value.code == 2
    assert option in capsys.readouterr().err


@pytest.mark.parametrize("cmd", [["run"], ["monitor", "--duration", "30s"], ["vibration"], ["shock"]])
def test_unwritable_out_exits_2_before_the_fixture(cmd, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    import tester.commands.common as common

    monkeypatch.setattr(common, "session", lambda *a, **k: pytest.fail("the fixture was opened"))
    rc = main(cmd + ["--pins", "40", "--sim", "--out", str(blocker / "results")])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "--out" in err and "Traceback" not in err


def test_disk_failing_mid_run_keeps_the_record_elsewhere_exit_3(tmp_path, capsys, monkeypatch):
    writes = []
    real = records_base.atomic_write

    def failing(path, text):
        writes.append(path)
        if len(writes) > 2 and str(tmp_path / "results") in str(path):  # after the in-progress record
            raise OSError(28, "No space left on device")
        return real(path, text)

    monkeypatch.setattr(records_base, "atomic_write", failing)
    monkeypatch.setattr(records_base.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    rc = main(["run", "--pins", "10", "--sim", "--out", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert rc == 3, err
    assert "No space left" in err and "written to" in err
    rescued = list((tmp_path / "tmp" / "tester-rescue").iterdir())
    assert len(rescued) == 1
    rec = json.loads((rescued[0] / "record.json").read_text())
    assert rec["verdict"] == "PASS" and len(rec["contacts"]) == 10  # what was measured is kept


def test_atomic_write_and_dirs_are_world_readable_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        d = records_base.make_dirs(tmp_path / "a" / "b")
        records_base.atomic_write(d / "x.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755
    assert stat.S_IMODE(d.stat().st_mode) == 0o755
    assert stat.S_IMODE((d / "x.json").stat().st_mode) == 0o644


# -- shock: one prompt per shock ---------------------------------------------------------------

def test_shock_prompts_before_each_shock(tmp_path):
    out = tmp_path / "results"
    r = subprocess.run([TESTER, "shock", "--pins", "40", "--sim", "--window", "1", "--out", str(out)],
                       input="\n" * 18, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    prompts = [ln for ln in r.stdout.splitlines() if "press Enter" in ln and ln.startswith("shock ")]
    assert [p.split(",")[0] for p in prompts] == ["shock %d/18" % k for k in range(1, 19)]
    assert r.stdout.count(">>> FIRE NOW") == 18
    # each FIRE NOW follows its own prompt: no two windows back to back without one
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(">>> FIRE NOW") or ln.startswith("shock ")]
    assert all(a.startswith("shock ") and b.startswith(">>>") for a, b in zip(lines[::2], lines[1::2]))


def test_shock_without_operator_stops_at_the_next_prompt_exit_2(tmp_path):
    out = tmp_path / "results"
    r = subprocess.run([TESTER, "shock", "--pins", "40", "--sim", "--window", "1", "--out", str(out), "--json"],
                       input="\n\n", capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    rec = json.loads(r.stdout)
    assert len(rec["windows"]) == 2 and rec["verdict"] != "PASS" and "--yes" in rec["error"]


# -- calibration --------------------------------------------------------------------------------

def test_expired_calibration_refused_unless_allowed_on_monitor(tmp_path):
    sc = tmp_path / "expired.toml"
    sc.write_text((REPO / "scenarios" / "good-40.toml").read_text() + '\n[fixture]\ncal = "expired"\n')
    base = [TESTER, "monitor", "--pins", "40", "--sim", "--scenario", str(sc), "--duration", "5s", "--json"]
    r = subprocess.run(base + ["--out", str(tmp_path / "r1")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 3 and "--allow-expired-cal" in r.stderr and "expired" in r.stderr
    r = subprocess.run(base + ["--out", str(tmp_path / "r2"), "--allow-expired-cal"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["calibration"]["overridden"] is True and "expired" in rec["calibration"]["problem"]


# -- a window the fixture ends as ERROR (lid opened) ------------------------------------------------

def test_window_ended_as_error_is_error_never_pass():
    w = Window("X", "axis-X", 60, {"axis": "X"})
    w.done = {"verdict": "ERROR", "reason": "lid opened", "error": "the lid was opened during monitoring at 1200 ms",
              "events": 0, "failures": [0] * 32, "glitches": [0] * 32, "longest_ns": [0] * 32, "lost": {}}
    assert w.verdict() == "ERROR" and any("lid" in p for p in w.problems())
    rec = MonitorRecord("monitor", 40, True)
    rec.data["channels"] = []
    rec.add_window(w)
    rec.finish("axis-X ended as ERROR")
    assert rec.data["verdict"] == "ERROR" and rec.data["windows"][0]["complete"] is False
    from tester.commands.monitor import VERDICT_EXIT

    assert VERDICT_EXIT["ERROR"] == 3
