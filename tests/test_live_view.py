"""Monitoring's live view: on a terminal a rich table redrawn from the frames (one row per
channel: events, glitches, longest, last event; header with SIMULATED, link health, verdict so
far), plain lines anywhere else or with --plain / TERM=dumb; through a real pseudo-terminal the
table is redrawn in place, and Ctrl-C leaves the cursor shown and the record written."""

import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from tester.firmware import protocol
from tester.monitor_session import Window
from tester.render import LiveView, MonitorTable, MonitorView, monitor_view

REPO = Path(__file__).resolve().parent.parent
TESTER = str(Path(sys.executable).parent / "tester")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CURSOR_UP = "\x1b[1A"
ERASE_LINE = "\x1b[2K"
CHANNELS = [[0, [1, 2]], [1, [3, 4]], [2, [5]], [3, ["A1"]]]
ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\d+)\s+(\d+)\s+([\d.]+|-)\s+(\S+)\s*$")  # longest: "-" when none


class Clock:
    """A scripted monotonic clock: the test says when time passes."""

    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def status(elapsed_ms, failures, glitches, longest, lost=None):
    return {"running": True, "elapsed_ms": elapsed_ms, "failures": failures, "glitches": glitches,
            "longest_ns": longest, "lost": lost or {}}


def event(n, ch, t_us, len_ns):
    pins = dict((c, p) for c, p in CHANNELS)[ch]
    return {"n": n, "ch": ch, "pins": pins, "t_us": t_us, "len_ns": len_ns}


def table_view(simulated=True, sweep=None, link=None):
    buf = io.StringIO()
    view = LiveView(buf, tty=True)
    console = Console(file=buf, force_terminal=True, width=100, color_system="standard")
    clock = Clock()
    mv = MonitorTable(view, simulated=simulated, sweep=sweep, link_stats=link, console=console, clock=clock)
    return buf, view, mv, clock


def feed(mv, clock, w):
    """A window as Monitor drives the view: mon, two events on channel 1 and one on channel 3,
    status frames, the fixture's summary."""
    mv.start_window("axis-X", 30, {"axis": "X"})
    w.mon = {"channels": CHANNELS}
    mv.on_mon(w)
    for p, dt in ((event(1, 1, 1_500_000, 1504), 0.3), (event(2, 3, 2_000_000, 2100), 0.3), (event(3, 1, 9_250_000, 1480), 0.3)):
        clock.t += dt
        w.add_event(p)
        mv.on_event(w, p)
    clock.t += 0.3
    w.status = status(10_000, [0, 2, 0, 1], [7, 0, 3, 0], [820, 1504, 640, 2100])
    mv.on_status(w, w.status)
    w.done = dict(status(30_000, [0, 2, 0, 1], [9, 0, 3, 0], [820, 1504, 640, 2100]), running=False,
                  verdict=protocol.FAIL, reason="done", events=3)
    mv.end_window(w)


def last_frame(text):
    """The table as it was last drawn (plain text)."""
    plain = ANSI.sub("", text)
    return plain[plain.rindex("monitoring axis-X"):]


def rows(frame):
    return {int(m.group(1)): m.groups()[1:] for m in map(ROW.match, frame.splitlines()) if m}


def test_table_has_a_row_per_channel_with_counts_longest_and_simulated():
    buf, view, mv, clock = table_view(simulated=True, sweep="linear")
    w = Window("X", "axis-X", 30, {"axis": "X"})
    feed(mv, clock, w)
    frame = last_frame(buf.getvalue())
    got = rows(frame)
    assert sorted(got) == [0, 1, 2, 3], frame
    # pins, events >= 1 us, glitches < 1 us, longest us, last event s
    assert got[0] == ("1-2", "0", "9", "0.820", "-")
    assert got[1] == ("3-4", "2", "0", "1.504", "9.250000")
    assert got[2] == ("5", "0", "3", "0.640", "-")
    assert got[3] == ("A1", "1", "0", "2.100", "2.000000")
    head = frame.splitlines()[0]
    assert "SIMULATED" in head and "axis X" in head and "sweep 55.0 Hz" in head  # 30 s into the axis: the top of the 10-55-10 Hz sweep
    assert "elapsed 30 / 30 s" in frame and "verdict: FAIL" in frame
    assert "last event #3: channel 1 (pins 3-4) at 9.250000 s, 1480 ns" in frame
    assert view.above is None and mv.live is None  # the view prints plain lines again
    out = buf.getvalue()
    assert CURSOR_UP in out and out.rindex("\x1b[?25h") > out.rindex("\x1b[?25l")  # redrawn in place, cursor shown
    assert ERASE_LINE not in out[out.rindex("monitoring axis-X"):]  # the final table stays on screen


def test_real_fixture_is_not_marked_simulated_and_verdict_so_far_follows_the_frames():
    buf, view, mv, clock = table_view(simulated=False)
    w = Window(None, "monitor", 60)
    mv.start_window("monitor", 60)
    w.mon = {"channels": CHANNELS}
    mv.on_mon(w)
    assert "verdict so far: no failure so far" in mv.header()
    w.status = status(5_000, [0, 0, 0, 0], [4, 0, 0, 0], [300, 0, 0, 0])
    assert "verdict so far: no failure so far" in mv.header()
    w.status = status(6_000, [0, 0, 0, 0], [4, 0, 0, 0], [300, 0, 0, 0], lost={protocol.LOSSES_OF_DATA[0]: 2})
    assert "verdict so far: INVALID" in mv.header()
    mv.end_window(w)
    assert "SIMULATED" not in ANSI.sub("", buf.getvalue())


def test_link_health_counts_the_current_link_and_reconnects():
    cur = {"frames": 50, "lost": 2, "garbled": 1, "noise_lines": 0}
    buf, view, mv, clock = table_view(link=lambda: cur)
    w = Window(None, "monitor", 60)
    w.link_segments.append({"frames": 10, "lost": 1, "garbled": 0, "noise_lines": 0})
    w.disconnects.append({"at_s": 1.0, "reconnected_after_s": 0.5})
    mv.start_window("monitor", 60)
    w.mon = {"channels": CHANNELS}
    mv.on_mon(w)
    head = mv.header()
    assert "link: 3 frame(s) lost, 1 garbled, 1 reconnect(s), fixture losses 0" in head
    assert "verdict so far: INVALID" in head  # frames lost while connected: the evidence is incomplete
    mv.end_window(w)


def test_redraws_are_bounded_and_lines_print_above_the_table():
    buf, view, mv, clock = table_view()
    w = Window(None, "monitor", 60)
    mv.start_window("monitor", 60)
    w.mon = {"channels": CHANNELS}
    mv.on_mon(w)
    drawn = buf.getvalue().count("elapsed ")
    for n in range(1, 201):  # a burst: 200 events within 0.1 s
        clock.t += 0.0005
        p = event(n, 0, n * 10, 1200)
        w.add_event(p)
        mv.on_event(w, p)
    assert buf.getvalue().count("elapsed ") - drawn <= 1
    view.line("link lost (port vanished): reconnecting to /dev/ttyACM0 ...")
    mv.end_window(w)
    plain = ANSI.sub("", buf.getvalue())
    assert plain.index("link lost (port vanished)") < plain.rindex("elapsed ")
    assert rows(plain[plain.rindex("elapsed "):])[0][1] == "200"  # the final draw has every event


def test_a_terminal_that_went_away_stops_drawing_without_an_error():
    class Gone(io.StringIO):
        def write(self, s):
            raise OSError(5, "Input/output error")

    gone = Gone()
    view = LiveView(gone, tty=True)
    mv = MonitorTable(view, console=Console(file=gone, force_terminal=True, width=100), clock=Clock())
    w = Window(None, "monitor", 60)
    mv.start_window("monitor", 60)
    w.mon = {"channels": CHANNELS}
    mv.on_mon(w)
    mv.on_status(w, status(1000, [0] * 4, [0] * 4, [0] * 4))
    view.line("anything")
    mv.end_window(w)
    assert view.quiet and mv.live is None


def test_plain_lines_off_a_terminal_with_plain_and_with_term_dumb(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    assert isinstance(monitor_view(LiveView(io.StringIO(), tty=False)), MonitorView)
    assert isinstance(monitor_view(LiveView(io.StringIO(), tty=True), plain=True), MonitorView)
    assert isinstance(monitor_view(LiveView(io.StringIO(), tty=True)), MonitorTable)
    monkeypatch.setenv("TERM", "dumb")
    assert isinstance(monitor_view(LiveView(io.StringIO(), tty=True)), MonitorView)

    buf = io.StringIO()
    mv = monitor_view(LiveView(buf, tty=False))
    w = Window("X", "axis-X", 30, {"axis": "X"})
    mv.start_window("axis-X", 30, {"axis": "X"})
    for p in (event(1, 1, 1_500_000, 1504), event(2, 3, 2_000_000, 2100)):
        w.add_event(p)
        mv.on_event(w, p)
    w.status = status(30_000, [0, 1, 0, 1], [9, 0, 3, 0], [820, 1504, 640, 2100])
    mv.on_status(w, w.status)
    mv.end_window(w)
    out = buf.getvalue()
    assert "\x1b" not in out and "\r" not in out
    assert out.splitlines() == [
        "monitoring axis-X: 30 s",
        "  EVENT #1  channel 1 (pins 3-4)  at 1.500000 s  1504 ns",
        "  EVENT #2  channel 3 (pins A1)  at 2.000000 s  2100 ns",
        "       30/30 s  failures ch1:1, ch3:1  glitches 12  longest 2100 ns  link: 0 reconnect(s), 0 lost, 0 garbled, fixture losses 0",
    ]


class PtyCli:
    """`tester ARGV` with stdout and stderr on a pseudo-terminal (a terminal to it), stdin closed."""

    def __init__(self, tmp_path, argv):
        master, slave = pty.openpty()
        env = dict(os.environ, TERM="xterm-256color", COLUMNS="110", LINES="50", TMPDIR=str(tmp_path))
        env.pop("NO_COLOR", None)
        self.master = master
        self.p = subprocess.Popen([TESTER] + argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env,
                                  cwd=tmp_path)
        os.close(slave)
        self.out = b""

    def read_until(self, pred, timeout=8.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not pred(self.out.decode(errors="replace")):
            r, _, _ = select.select([self.master], [], [], 0.1)
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                self.out += data
        return self.out.decode(errors="replace")

    def finish(self, timeout=8.0):
        text = self.read_until(lambda t: False if self.p.poll() is None else True, timeout)
        text = self.read_until(lambda t: False, 0.2)  # what is still in the terminal's buffer
        return self.p.wait(timeout=1), text

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        os.close(self.master)


def _record(tmp_path):
    found = list((tmp_path / "results").glob("*-monitor/record.json"))
    assert len(found) == 1, found
    return json.loads(found[0].read_text())


def test_monitor_on_a_terminal_redraws_the_table_and_writes_the_record(tmp_path):
    cli = PtyCli(tmp_path, ["monitor", "--sim", "--pins", "40", "--duration", "2", "--scenario",
                            str(REPO / "scenarios" / "intermittent-40.toml")])
    try:
        code, text = cli.finish()
    finally:
        cli.close()
    assert code == 1, text  # FAIL: the intermittent contact
    assert CURSOR_UP in text and ERASE_LINE in text, text  # the table redrawn in place
    plain = ANSI.sub("", text).replace("\r", "")
    final = plain[plain.rindex("elapsed "):]
    title = plain[:plain.rindex("elapsed ")].rstrip("\n").splitlines()[-1]  # the line above
    assert title.rstrip().endswith("monitoring   SIMULATED")  # its title: no label "monitor" repeated
    assert len(rows(final)) == 23  # 40 positions: 21 contact channels and 2 anchors
    assert text.rindex("\x1b[?25h") > text.rindex("\x1b[?25l")  # the cursor shown again
    assert ERASE_LINE not in text[text.rindex("elapsed "):]  # the final table left on screen
    rec = _record(tmp_path)
    assert rec["verdict"] == protocol.FAIL and rec["simulated"]
    failing = rows(final)[rec["failing"][0]["channel"]]
    assert int(failing[1]) == rec["failing"][0]["failures"]
    assert rows(final)[0][3:] == ("-", "-")  # a quiet channel: no longest, no last event
    assert plain.rstrip().endswith("FAIL (SIMULATED)")


def test_ctrl_c_during_the_table_leaves_the_terminal_sane_and_keeps_the_record(tmp_path):
    cli = PtyCli(tmp_path, ["monitor", "--sim", "--pins", "40", "--duration", "1h"])
    try:
        cli.read_until(lambda t: t.count("elapsed ") >= 2)  # the table is on screen
        assert cli.p.poll() is None
        cli.p.send_signal(signal.SIGINT)
        code, text = cli.finish()
    finally:
        cli.close()
    assert code == 130, text
    assert text.rindex("\x1b[?25h") > text.rindex("\x1b[?25l")
    plain = ANSI.sub("", text).replace("\r", "")
    assert "SIGINT" in plain and plain.index("stopping the monitoring") > plain.rindex("elapsed ")
    rec = _record(tmp_path)
    assert rec["verdict"] == protocol.ABORTED and rec["interrupted_by"] == "SIGINT"
