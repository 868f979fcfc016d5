"""A simulated fixture that keeps its flash and its EEPROM: what `tester flash --sim` deploys to
with mpremote and `tester calibrate --sim` calibrates.

    board = SimBoard(workdir)            # workdir/fs: the flash filesystem (staged once),
                                         # workdir/eeprom.bin: the 24LC256's contents
    with board.repl() as repl:           # the interpreter's REPL (micropython -i) on a raw pty:
        mpremote connect repl.port resume fs cp ...     (DESIGN.md section 5)
    with board.boot(scenario) as sim:    # boots main.py from workdir/fs: what was deployed
        Link.open(sim.port) ...

Both run the interpreter in workdir/fs with the simulated machine/rp2/time first on its path,
exactly as SimFixture does; unlike SimFixture nothing is re-staged, so a deploy, a half-done
deploy or a calibration stays until the next one. `machine.reset()` (mpremote `reset`) ends the
REPL process: the simulated board is then off until `boot()`.

`drop_after_files=K` (REPL mode) pulls the simulated USB cable once K files have been written to
the flash during a deploy: a link lost half-way through a copy.
"""

import json
import os
import threading
import time
from pathlib import Path

from tester.sim.interpreter import HEAPSIZE, SIM_DIR, micropython_exe, staged_path
from tester.sim.launcher import PtyBridge, stage_filesystem

DEFAULT_SCENARIO = {"positions": 40, "contact_mohm": 30.0, "anchor_mohm": 8.0, "spread_mohm": 1.5, "seed": 1}


def _env(workdir, scenario_path):
    env = dict(os.environ)
    env["MICROPYPATH"] = staged_path()
    env["SIM_SCENARIO"] = str(scenario_path)
    env["SIM_EEPROM"] = str(Path(workdir) / "eeprom.bin")
    return env


class _Repl(PtyBridge):
    def __init__(self, argv, workdir, env, cwd, drop_after_files=None):
        super().__init__(argv, workdir, env=env, cwd=cwd)
        self.fs = Path(cwd)
        self.drop_after_files = drop_after_files
        self.dropped = False
        self._watch = None

    def start(self):
        super().start()
        if self.drop_after_files is not None:
            self._t0 = time.time()
            self._watch = threading.Thread(target=self._watch_fs, name="sim-drop", daemon=True)
            self._watch.start()
        return self

    def _watch_fs(self):
        while not self._stop.is_set():
            n = 0
            try:  # a deploy creates, renames and removes folders under the walk
                for p in self.fs.rglob("*"):
                    try:
                        if p.is_file() and p.stat().st_mtime >= self._t0:
                            n += 1
                    except OSError:
                        pass
            except OSError:
                continue
            if n >= self.drop_after_files:
                self.dropped = True
                self.unplug()
                return
            time.sleep(0.01)

    def wait_exit(self, timeout=5.0):
        """True if the interpreter ended (machine.reset() from mpremote `reset`)."""
        try:
            self.proc.wait(timeout=timeout)
            return True
        except Exception:
            return False


class SimBoard:
    def __init__(self, workdir, board="fixture_v1", heapsize=HEAPSIZE):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.fs = self.workdir / "fs"
        self.board = board
        self.heapsize = heapsize
        if not self.fs.exists():  # a new simulated fixture comes with the current firmware
            stage_filesystem(self.fs)
        self.scenario_path = self.workdir / "scenario.json"
        if not self.scenario_path.exists():
            self.set_scenario(DEFAULT_SCENARIO)

    def set_scenario(self, scenario):
        self.scenario_path.write_text(json.dumps(scenario, indent=1, sort_keys=True))

    def repl(self, drop_after_files=None):
        argv = [micropython_exe(), "-X", "heapsize=%s" % self.heapsize, "-i"]
        return _Repl(argv, self.workdir, _env(self.workdir, self.scenario_path), str(self.fs), drop_after_files)

    def boot(self, scenario=None, drop_after_frames=None):
        if scenario is not None:
            self.set_scenario(scenario)
        argv = [micropython_exe(), "-X", "heapsize=%s" % self.heapsize, str(SIM_DIR / "simboot.py")]  # runs main.py, reboots after a watchdog reset
        return PtyBridge(
            argv, self.workdir, env=_env(self.workdir, self.scenario_path), cwd=str(self.fs), drop_after_frames=drop_after_frames
        )
