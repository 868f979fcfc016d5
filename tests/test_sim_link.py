"""The simulated USB link behaves as the device's does, and the simulated child never outlives its
host: a 40 kB host write while the fixture talks (no deadlock), 0x03 as KeyboardInterrupt only
while the interpreter has the keyboard interrupt on, a host that stops reading (bounded, counted
drops), the child killed with its host (PR_SET_PDEATHSIG, hang-up) and its workdir removed."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import serial

from tester.fixture import Fixture
from tester.link import Link
from tester.scenario import default
from tester.sim import launcher
from tester.sim.launcher import PtyBridge, SimFixture, micropython_exe

REPO = Path(__file__).resolve().parent.parent


def gone(pid):
    """The process ended (a zombie left for an init that does not reap counts as ended)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def read_until(fd_or_ser, marker, timeout=5.0):
    got = b""
    deadline = time.monotonic() + timeout
    while marker not in got and time.monotonic() < deadline:
        got += fd_or_ser.read(4096)
    return got


def test_host_writes_40kB_at_once_while_the_fixture_talks(tmp_path):
    """The old relay wrote to the interpreter with a blocking write under its lock while the
    interpreter was blocked writing its answers: both stopped for good."""
    with SimFixture(default(10).sim, tmp_path / "w") as sim:
        ser = serial.Serial(sim.port, timeout=0.05, write_timeout=60, exclusive=True)
        link = Link(ser, name=sim.port)
        try:
            fx = Fixture(link, sim.port)
            fx.handshake(timeout=10)
            # Over-long junk lines (each answered with a syntax error) and STATUS commands
            # (each answered with a status frame): the fixture talks the whole time.
            blob = b"".join(b"%s\n%d STATUS\n" % (b"x" * 300, 1000 + i) for i in range(130))
            assert len(blob) > 40000
            done = threading.Event()
            writer = threading.Thread(target=lambda: (ser.write(blob), done.set()), daemon=True)
            writer.start()
            answers = 0
            deadline = time.monotonic() + 30
            while answers < 130 and time.monotonic() < deadline:
                f = link.read_frame(10.0)
                if f.kind == "status" and isinstance(f.id, int) and f.id >= 1000:
                    answers += 1
            writer.join(timeout=30)
            assert done.is_set(), "the host's write never finished"
            assert answers == 130 and sim.alive()
            assert fx.status()["busy"] is False
            assert fx.handshake(timeout=5)["simulated"] is True  # still answering
        finally:
            link.close()


# A device that answers every line with 20 copies of it, writing with blocking writes, as a
# device busy talking does: it reads no more input until its answer is out.
ECHO = """
import sys
for line in sys.stdin.buffer:
    sys.stdout.buffer.write(line * 20)
    sys.stdout.buffer.flush()
"""


def test_no_deadlock_when_both_sides_write_at_once(tmp_path):
    """The old relay's blocking write to a device blocked on its own write: both waited for
    ever. Here 40 kB in one write() against a device that answers 20x what it reads."""
    lines = [b"%05d %s\n" % (i, b"z" * 94) for i in range(420)]
    blob = b"".join(lines)
    assert len(blob) > 40000
    with PtyBridge([sys.executable, "-c", ECHO], tmp_path / "e") as b:
        ser = serial.Serial(b.port, timeout=0.05, write_timeout=20)
        try:
            writer = threading.Thread(target=ser.write, args=(blob,), daemon=True)
            writer.start()
            want = len(blob) * 20
            got = 0
            last = b""
            deadline = time.monotonic() + 20
            while got < want and time.monotonic() < deadline:
                chunk = ser.read(65536)
                got += len(chunk)
                last = (last + chunk)[-200:]
            writer.join(timeout=5)
            assert not writer.is_alive(), "the host's write never finished"
            assert got == want and b.bytes_dropped == 0 and last.endswith(lines[-1])
        finally:
            ser.close()


# A MicroPython program that reports every byte it reads and every KeyboardInterrupt.
KBD = """
import micropython, sys
micropython.kbd_intr(%d)
print("ready")
while True:
    try:
        b = sys.stdin.buffer.read(1)
        print("byte", b[0])
        if b == b"q":
            break
    except KeyboardInterrupt:
        print("KeyboardInterrupt")
"""


def kbd_bridge(tmp_path, char):
    script = tmp_path / "kbd.py"
    script.write_text(KBD % char)
    return PtyBridge([micropython_exe(), str(script)], tmp_path / ("b%d" % char))


def test_ctrl_c_raises_keyboard_interrupt_while_kbd_intr_is_on(tmp_path):
    with kbd_bridge(tmp_path, 3) as b:
        ser = serial.Serial(b.port, timeout=0.05)
        try:
            assert b"ready" in read_until(ser, b"ready")
            ser.write(b"\x03")
            out = read_until(ser, b"KeyboardInterrupt")
            assert b"KeyboardInterrupt" in out and b"byte 3" not in out  # consumed, not data
            assert b.interrupts == 1 and b.alive()
            ser.write(b"q")
            assert b"byte 113" in read_until(ser, b"byte 113")
            assert wait_for(lambda: not b.alive(), 5)
        finally:
            ser.close()


def test_ctrl_c_is_a_data_byte_while_kbd_intr_is_off(tmp_path):
    """kbd_intr(-1) restores SIG_DFL: a SIGINT would kill the interpreter, so none is sent."""
    with kbd_bridge(tmp_path, -1) as b:
        ser = serial.Serial(b.port, timeout=0.05)
        try:
            assert b"ready" in read_until(ser, b"ready")
            ser.write(b"\x03")
            out = read_until(ser, b"byte 3")
            assert b"byte 3" in out and b"KeyboardInterrupt" not in out
            assert b.interrupts == 0 and b.alive()
            ser.write(b"q")
            assert wait_for(lambda: not b.alive(), 5) and b.proc.returncode == 0
        finally:
            ser.close()


# A device that writes and never reads: 100 kB of numbered lines, then it exits.
TALKER = """
import sys
out = sys.stdout.buffer
for i in range(400):
    out.write(b"%05d " % i + b"y" * 243 + b"\\n")
    out.flush()
"""


def test_a_host_that_stops_reading_gets_drops_not_a_stalled_device(tmp_path):
    total = 400 * 250
    b = PtyBridge([sys.executable, "-c", TALKER], tmp_path / "t")
    with b:
        ser = serial.Serial(b.port, timeout=0.05)
        try:
            t0 = time.monotonic()
            # The host reads nothing: the device's writes wait, then give up (TX_TIMEOUT_S).
            assert wait_for(lambda: not b.alive(), 15), "the device stalled on a host that does not read"
            elapsed = time.monotonic() - t0
            assert b.tx_timeouts >= 1 and b.bytes_dropped > 0
            time.sleep(0.2)
            got = b""
            while True:
                chunk = ser.read(65536)
                if not chunk:
                    break
                got += chunk
        finally:
            ser.close()
    # Every byte is either delivered or counted as dropped, and the relay held at most its FIFO
    # on top of what the pseudo-terminals buffer (~20 KiB each).
    assert len(got) + b.bytes_dropped == total
    assert len(got) < 64 * 1024
    print("host not reading: %d of %d bytes delivered, %d dropped in %d TX timeouts, device done in %.1f s"
          % (len(got), total, b.bytes_dropped, b.tx_timeouts, elapsed))


HOST = """
import sys, time
from tester.scenario import default
from tester.sim.launcher import SimFixture
sim = SimFixture(default(10).sim).start()
print(sim.proc.pid, sim.workdir, flush=True)
time.sleep(60)
"""


def test_the_child_dies_with_its_host_and_the_workdir_goes(tmp_path):
    host = subprocess.Popen([sys.executable, "-c", HOST], stdout=subprocess.PIPE, text=True)
    try:
        pid, workdir = host.stdout.readline().split()
        pid = int(pid)
        assert not gone(pid) and Path(workdir).is_dir()
        host.kill()  # SIGKILL: no clean-up code runs in the host
        host.wait(timeout=5)
        assert wait_for(lambda: gone(pid), 2.0), "the simulated fixture outlived its host"
        assert wait_for(lambda: not Path(workdir).exists(), 2.0), "the temporary workdir was left behind"
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()


LOOP = "import time\nwhile True:\n    time.sleep(0.01)\n"


def test_the_child_hangs_up_when_its_port_closes(tmp_path):
    """Pty A is the child's controlling terminal: its master closing hangs the child up, the
    second way a child notices that its host is gone."""
    script = tmp_path / "loop.py"
    script.write_text(LOOP)
    b = PtyBridge([micropython_exe(), str(script)], tmp_path / "h").start()
    try:
        b._stop.set()
        b._thread.join(timeout=2)
        for name in ("_ma", "_sa"):
            os.close(getattr(b, name))
            setattr(b, name, None)
        assert wait_for(lambda: not b.alive(), 2.0)
        assert b.proc.returncode == -signal.SIGHUP
    finally:
        b.close()


def test_a_child_started_from_a_short_lived_thread_survives_it(tmp_path):
    """PR_SET_PDEATHSIG follows the thread that forked: the launcher forks from a thread that
    lives as long as the process, so a worker thread ending does not kill the fixture."""
    script = tmp_path / "loop.py"
    script.write_text(LOOP)
    box = []
    t = threading.Thread(target=lambda: box.append(PtyBridge([micropython_exe(), str(script)], tmp_path / "s").start()))
    t.start()
    t.join()
    b = box[0]
    try:
        time.sleep(0.3)
        assert b.alive()
    finally:
        b.close()
    assert not b.alive()


def test_owned_workdir_is_removed_on_close():
    script_dir = Path(launcher.tempfile.mkdtemp(prefix="kbd-"))
    try:
        (script_dir / "loop.py").write_text(LOOP)
        b = PtyBridge([micropython_exe(), str(script_dir / "loop.py")]).start()
        w = b.workdir
        assert w.is_dir() and b.owns_workdir
        b.close()
        assert not w.exists() and b._reaper is None
    finally:
        import shutil

        shutil.rmtree(script_dir, ignore_errors=True)
