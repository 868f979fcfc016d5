"""The simulated fixture: the real firmware on the MicroPython unix interpreter, behind a
pseudo-terminal that the host opens with pyserial exactly like a real USB port.

    with SimFixture(scenario_dict) as sim:          # workdir=None: a temporary one, removed at the end
        link = Link.open(sim.port)

Layout of `workdir`:

    fs/             the fixture's flash filesystem, staged as a deploy puts it on the device:
                    tester.firmware.device_files for the simulated board (the firmware
                    tree, boards/fixture_v1/board.py as board.py)
    scenario.json   the normalized scenario the simulated hardware reads (env SIM_SCENARIO)
    sim.log         the interpreter's stderr
    ttySIM          a symlink to the current port (it vanishes while "unplugged")

Two pseudo-terminals: the interpreter's stdin/stdout on the slave of A, the host on the slave of
B, both raw with no echo, and a relay thread between the two masters. The relay is the USB
cable and the device's USB CDC driver:

- it never blocks: both masters are non-blocking, with a bounded buffer each way;
- device -> host: the device's TX FIFO (DEVICE_TX_FIFO); when the host does not read, the
  interpreter's writes wait and after TX_TIMEOUT_S what it wrote is dropped (counted);
- host -> device: a 0x03 raises KeyboardInterrupt in the interpreter (SIGINT) when it has the
  keyboard interrupt on (micropython.kbd_intr(3)), and is an ordinary byte otherwise;
- `unplug()` closes B (the host's reads then fail as on a pulled cable), `replug()` makes a new
  one behind the same symlink; `drop_after_frames=K` forwards K device frames and then nothing
  more (a fixture that stops answering mid-run).

The interpreter dies with its host: PR_SET_PDEATHSIG, and pty A is its controlling terminal, so
A's master closing (the host gone, however it went) hangs it up. A temporary workdir is removed
by `close()` or, if the host is killed, by a small reaper process that waits for the host to go.
"""

import ctypes
import fcntl
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty
from pathlib import Path

from tester.firmware import FIRMWARE_DIR, device_files
from tester.sim.interpreter import HEAPSIZE, SIM_DIR, micropython_exe, staged_path  # noqa: F401  (HEAPSIZE, micropython_exe: re-exported)

# The device's CDC path (MicroPython shared/tinyusb/mp_usbd_cdc.c, TinyUSB's CFG_TUD_CDC_*
# buffers): a 256-byte TX FIFO; a write that finds it full waits for the host, and after 500 ms
# without room the rest of that write is dropped. The host side of pty B holds ~20 KiB (measured
# on Linux), which stands for the host's own cdc-acm/tty buffering, so the relay adds only the
# device's FIFO. Pty A (interpreter -> relay) holds another ~20 KiB the device does not have:
# the simulated firmware sees congestion later than a Pico would, never sooner.
DEVICE_TX_FIFO = 256
TX_TIMEOUT_S = 0.5
# Host -> device: TinyUSB's RX FIFO (256 B) and MicroPython's stdin ring (512 B, rounded up).
# When they are full the device NAKs and the host's write waits in its kernel: slow, not lost.
DEVICE_RX_BUFFER = 1024
CTRL_C = 0x03

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_libc = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: the child only calls it


def _raw_pty():
    master, slave = os.openpty()
    tty.setraw(slave)  # raw mode also turns echo off
    return master, slave


def stage_filesystem(fs, source=FIRMWARE_DIR, board="fixture_v1"):
    """Put the firmware on `fs` as a deploy puts it on the simulated board's flash."""
    fs = Path(fs)
    if fs.exists():
        shutil.rmtree(fs)
    for loc, dev in device_files(source, board, target="unix"):
        (fs / dev).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(loc, fs / dev)
    return fs


def catches_sigint(pid):
    """True if process `pid` has a SIGINT handler installed (Linux /proc SigCgt). The unix port
    installs one exactly while its interrupt char is set (kbd_intr(3)) and restores SIG_DFL for
    kbd_intr(-1): a SIGINT then would kill the interpreter instead of raising KeyboardInterrupt."""
    try:
        with open("/proc/%d/status" % pid, "rb") as f:
            for line in f:
                if line.startswith(b"SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except (OSError, ValueError, IndexError):
        pass
    return False


def _child_setup(host_pid):
    """In the forked child, before exec (after start_new_session's setsid)."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != host_pid:  # the host died before prctl took effect
        os._exit(1)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # stdin (pty A) becomes the controlling terminal


# PR_SET_PDEATHSIG fires when the *thread* that forked ends, not the process: fork from the main
# thread, or from one thread that lives as long as the process.
_spawn_q = None
_spawn_lock = threading.Lock()


def _spawner():
    while True:
        fn, box, done = _spawn_q.get()
        try:
            box.append(fn())
        except BaseException as e:  # handed back to the caller
            box.append(e)
        done.set()


def _spawn(fn):
    global _spawn_q
    if threading.current_thread() is threading.main_thread():
        return fn()
    with _spawn_lock:
        if _spawn_q is None:
            _spawn_q = queue.Queue()
            threading.Thread(target=_spawner, name="sim-spawner", daemon=True).start()
    box, done = [], threading.Event()
    _spawn_q.put((fn, box, done))
    done.wait()
    if isinstance(box[0], BaseException):
        raise box[0]
    return box[0]


# Removes a temporary workdir once its host is gone: stdin is a pipe only the host holds, so EOF
# means the host ended, however it ended (SIGKILL included). Twice: the interpreter is killed
# just after the host's descriptors close and may still write a file in between.
_REAPER = (
    "import shutil,sys,time\n"
    "sys.stdin.buffer.read()\n"
    "for _ in range(3):\n"
    "    shutil.rmtree(sys.argv[1], ignore_errors=True)\n"
    "    time.sleep(0.2)\n"
)


class PtyBridge:
    """A child process on pseudo-terminal A, a host port on pseudo-terminal B, and the relay.

    Generic on purpose (the process is any command); SimFixture runs the firmware in it.
    `workdir=None`: a temporary directory, removed when the bridge ends (or its host dies)."""

    def __init__(self, argv, workdir=None, env=None, cwd=None, drop_after_frames=None):
        self.owns_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="tester-sim-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "sim.log"
        self.port = str(self.workdir / "ttySIM")
        self.drop_after_frames = drop_after_frames
        self.frames_forwarded = 0
        self.device_tail = bytearray()  # the last bytes the fixture wrote (tracebacks go there)
        self.bytes_dropped = 0  # device output lost: unplugged, dropped frames, TX timeouts
        self.tx_timeouts = 0  # times the device's TX FIFO stayed full for TX_TIMEOUT_S
        self.interrupts = 0  # 0x03 bytes delivered as KeyboardInterrupt (SIGINT)
        self._argv = argv
        self._env = env
        self._cwd = cwd
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._plugged = False
        self._to_host = bytearray()  # the device's TX FIFO
        self._to_dev = bytearray()  # the device's RX FIFO and stdin ring
        self._full_since = None  # when the TX FIFO last had no room
        self._line = bytearray()
        self._ma = self._sa = self._mb = self._sb = None
        self._reaper = None
        self.proc = None
        self._thread = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self):
        if self.owns_workdir:
            self._reaper = subprocess.Popen(
                [sys.executable, "-S", "-c", _REAPER, str(self.workdir)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C at the terminal must not stop it before its job
            )
        self._ma, sa = _raw_pty()
        self._log = open(self.log_path, "ab")
        host_pid = os.getpid()
        try:
            self.proc = _spawn(
                lambda: subprocess.Popen(
                    self._argv,
                    stdin=sa,
                    stdout=sa,
                    stderr=self._log,
                    cwd=self._cwd,
                    env=self._env,
                    start_new_session=True,  # Ctrl-C at the terminal goes to the host, not the fixture
                    close_fds=True,
                    preexec_fn=lambda: _child_setup(host_pid),
                )
            )
        except BaseException:
            os.close(sa)
            raise
        self._sa = sa  # kept: the device's input queue, flushed as its driver does on Ctrl-C
        os.set_blocking(self._ma, False)
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
        for name in ("_ma", "_sa"):
            fd = getattr(self, name, None)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
            setattr(self, name, None)
        if getattr(self, "_log", None):
            self._log.close()
        if self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self._reaper is not None:
            self._reaper.stdin.close()  # EOF: it removes what is left and ends
            try:
                self._reaper.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._reaper.kill()
                self._reaper.wait()
            self._reaper = None

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
            self._full_since = None
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
        self.bytes_dropped += len(self._to_host)  # in the device's FIFO when the cable went
        self._to_host.clear()
        self._to_dev.clear()

    def unplug(self):
        """Pull the cable: the port vanishes and the host's reads on it fail."""
        with self._lock:
            self._unplug_locked()

    def replug(self):
        """Plug it back in: the same port path works again (the fixture kept running)."""
        if not self._plugged:
            self._plug()

    # -- device -> host -------------------------------------------------------------------

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
                self._to_host += data
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
            self._to_host += line

    def _tx_room(self, now):
        """How many bytes the relay may take from the interpreter now; -1: drop what it wrote
        (the device's write gave up after TX_TIMEOUT_S of a full FIFO)."""
        room = DEVICE_TX_FIFO - len(self._to_host)
        if room > 0 or not self._plugged:
            self._full_since = None
            return max(room, 1) if self._plugged else 65536
        if self._full_since is None:
            self._full_since = now
        if now - self._full_since >= TX_TIMEOUT_S:
            self._full_since = now  # the next write waits again
            return -1
        return 0

    # -- host -> device -------------------------------------------------------------------

    def _from_host(self, data):
        """Bytes the host wrote: to the device's input, 0x03 as the device's USB driver takes
        it. MicroPython's CDC receive callback, on the interrupt char, empties its stdin ring
        and schedules KeyboardInterrupt; the byte itself never reaches the program."""
        i = 0
        while True:
            j = data.find(CTRL_C, i)
            if j < 0:
                self._to_dev += data[i:]
                return
            self._to_dev += data[i:j]
            if self.proc is not None and catches_sigint(self.proc.pid):
                self._to_dev.clear()
                try:
                    termios.tcflush(self._sa, termios.TCIFLUSH)  # what the program has not read yet
                    os.kill(self.proc.pid, signal.SIGINT)
                    self.interrupts += 1
                except (OSError, termios.error):
                    pass
            else:
                self._to_dev.append(CTRL_C)
            i = j + 1

    # -- the relay ------------------------------------------------------------------------

    def _relay(self):
        """One thread, no blocking call: select, then non-blocking reads and writes of what each
        side has room for. The lock guards the buffers and B's descriptors (unplug())."""
        device_gone = False
        while not self._stop.is_set():
            now = time.monotonic()
            with self._lock:
                mb = self._mb
                room = self._tx_room(now)
                rlist, wlist = [], []
                if not device_gone and room != 0:
                    rlist.append(self._ma)
                if self._to_dev and not device_gone:
                    wlist.append(self._ma)
                if mb is not None:
                    if len(self._to_dev) < DEVICE_RX_BUFFER:
                        rlist.append(mb)
                    if self._to_host:
                        wlist.append(mb)
                if device_gone and not self._to_host:
                    return  # the interpreter ended and everything it wrote is delivered
            timeout = 0.05 if room != 0 else max(0.0, min(0.05, self._full_since + TX_TIMEOUT_S - now))
            try:
                r, w, _ = select.select(rlist, wlist, [], timeout)
            except (OSError, ValueError):
                continue  # a descriptor closed under us (unplug); look again
            with self._lock:
                if self._ma in r:
                    try:
                        data = os.read(self._ma, 65536 if room < 0 else room)
                    except (BlockingIOError, InterruptedError):
                        data = None
                    except OSError:
                        data = b""
                    if data is not None and not data:
                        device_gone = not self.alive()
                    elif data and room < 0:
                        # The waiting write gave up: it and all pty A holds beyond the device's
                        # own FIFO are lost (a Pico would not have accepted them).
                        self.tx_timeouts += 1
                        while data:
                            self.bytes_dropped += len(data)
                            self.device_tail += data
                            del self.device_tail[:-4096]
                            try:
                                data = os.read(self._ma, 65536)
                            except OSError:
                                data = b""
                    elif data:
                        self._from_device(data)
                if self._ma in w and self._to_dev:
                    try:
                        n = os.write(self._ma, self._to_dev)
                        del self._to_dev[:n]
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        self._to_dev.clear()
                if self._mb is not None and self._mb == mb:
                    if mb in r:
                        try:
                            data = os.read(mb, DEVICE_RX_BUFFER - len(self._to_dev))
                        except (BlockingIOError, InterruptedError):
                            data = b""
                        except OSError:
                            data = b""
                        if data:
                            self._from_host(data)
                    if mb in w and self._to_host:
                        try:
                            n = os.write(mb, self._to_host)
                            del self._to_host[:n]
                        except (BlockingIOError, InterruptedError):
                            pass
                        except OSError:
                            self._to_host.clear()
                if not device_gone and room != 0 and self._ma not in r and not self.alive():
                    # Pty A's slave is held open here, so no EOF comes: the interpreter is gone
                    # once it has ended and nothing it wrote is left to read.
                    device_gone = not select.select([self._ma], [], [], 0)[0]


class SimFixture(PtyBridge):
    """The simulated fixture: the firmware tree on the MicroPython interpreter."""

    def __init__(self, scenario, workdir=None, drop_after_frames=None, heapsize=HEAPSIZE, uid=None):
        """`uid`: the RP2040's unique id (16 hex digits; the fixture id is FX-<its last 8>), so
        several simulated fixtures under one host are told apart."""
        super().__init__([], workdir, drop_after_frames=drop_after_frames)
        workdir = self.workdir
        self.fs = stage_filesystem(workdir / "fs")
        self.scenario_path = workdir / "scenario.json"
        self.scenario_path.write_text(json.dumps(scenario, indent=1, sort_keys=True))
        env = dict(os.environ)
        # The simulated machine/rp2/time modules shadow the interpreter's built-ins; the
        # firmware itself is found in the working directory, as on the device's flash.
        env["MICROPYPATH"] = staged_path()
        env["SIM_SCENARIO"] = str(self.scenario_path)
        # START pressed from outside the interpreter (press_start): boards/sim/sim_fixture.py
        self.start_file = workdir / "press-start"
        env["SIM_START_FILE"] = str(self.start_file)
        if uid:
            env["SIM_UID"] = uid
        # simboot runs main.py from the staged filesystem as the device does, and boots it again
        # after a watchdog reset (the simulated parts outside the RP2040 keep their state)
        self._argv = [micropython_exe(), "-X", "heapsize=%s" % heapsize, str(SIM_DIR / "simboot.py")]
        self._env = env
        self._cwd = str(self.fs)

    def press_start(self):
        """The operator presses START on the simulated panel: held down for 200 ms of fixture
        time (boards/sim/sim_fixture.py), then released."""
        self.start_file.write_text("")

    def start_pending(self):
        """True until the simulated panel has taken the press (released the button)."""
        return self.start_file.exists()
