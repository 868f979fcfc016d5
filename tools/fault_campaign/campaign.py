"""Run the fault campaign: the firmware in-process on MicroPython (mpy_driver.py), batches from
gen.Gen, judged by oracle.judge_batch. Used by tests/test_fault_campaign.py (small) and
tools/faults.py (>= 30,000 inputs).

    c = run_campaign(seed=1, inputs=3000, workdir=tmp)     # -> Result (counts, findings)

A hang is an interpreter that says nothing for HANG_S of wall time, or whose batch took more
fixture time than it could need (a watchdog reset ends the process, reported as a hang too). The
interpreter is then killed (its own process group) and a fresh fixture continues with the next
batch. Every finding names the seed, the batch and its input chunks, so it can be replayed.
"""

import json
import os
import select
import signal
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tester.firmware import protocol
from tester.sim.interpreter import HEAPSIZE, in_place_path, micropython_exe

from . import gen, oracle

DRIVER = Path(__file__).with_name("mpy_driver.py")
HANG_S = 60.0  # wall time without a word from the interpreter (a MONITOR seconds=2 takes ~1 s)
MAX_CHUNK = 16384  # mpy_driver.MAX_CHUNK: its one input buffer
ACTIONS = (None, "lid0", "lid1", "stall", "unstall")  # mpy_driver.ACTIONS, by index
FIXTURE_BUDGET_US = 30_000_000  # fixture time a batch may take beyond its monitor windows


@dataclass
class Result:
    seed: int
    counts: dict = field(default_factory=lambda: {k: 0 for k in oracle.COUNTS})
    findings: list = field(default_factory=list)  # (batch k, message, chunks)
    wall_s: float = 0.0
    frames: int = 0
    kinds: dict = field(default_factory=dict)  # frames received per kind
    processes: int = 0

    def faults(self):
        return {k: self.counts[k] for k in oracle.FAULTS if self.counts[k]}

    def add(self, other):
        for k, v in other.counts.items():
            self.counts[k] += v
        self.findings += other.findings
        self.frames += other.frames
        for k, v in other.kinds.items():
            self.kinds[k] = self.kinds.get(k, 0) + v
        self.processes += other.processes


def _env(workdir, scenario):
    for f in ("eeprom.bin", "config.json"):  # a fresh fixture: the same seed gives the same run
        (Path(workdir) / f).unlink(missing_ok=True)
    p = Path(workdir) / "scenario.json"
    p.write_text(json.dumps(scenario))
    e = dict(os.environ)
    e["MICROPYPATH"] = in_place_path()
    e["SIM_SCENARIO"] = str(p)
    return e


def _stream(proc, silence_s):
    """Lines of the interpreter's stdout; ("HANG", None) after silence_s of nothing."""
    buf = b""
    fd = proc.stdout.fileno()
    while True:
        r, _, _ = select.select([fd], [], [], silence_s)
        if not r:
            yield None
            return
        data = os.read(fd, 1 << 16)
        if not data:
            if buf:
                yield buf
            return
        buf += data
        *lines, buf = buf.split(b"\n")
        yield from lines


def _wait(proc):
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def _kill(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what we started
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


def run_campaign(seed, inputs, workdir, heavy_p=0.06, log=None):
    """Generate batches until `inputs` chunks, run them, return a Result."""
    t0 = time.monotonic()
    res = replay(batches_for(seed, inputs, heavy_p), workdir, log, Result(seed))
    res.wall_s = time.monotonic() - t0
    return res


def _run_process(batches, start, workdir, env, res, log):
    """Run batches[start:] on one interpreter; returns the index to continue from."""
    path = workdir / "batches.bin"
    with open(path, "wb") as f:
        for k in range(start, len(batches)):
            f.write(b"B" + struct.pack("<I", k))
            for d, b, a in batches[k]:
                assert len(b) <= MAX_CHUNK
                f.write(b"C" + struct.pack("<IBI", d, ACTIONS.index(a), len(b)) + b)
            f.write(b"E")
    errpath = workdir / ("stderr-%d.txt" % start)
    res.processes += 1
    with open(errpath, "wb") as err:
        proc = subprocess.Popen(
            [micropython_exe(), "-X", "heapsize=%s" % HEAPSIZE, str(DRIVER), str(path)],
            stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, cwd=str(workdir), env=env,
            start_new_session=True,
        )
        try:
            nxt = _consume(proc, batches, start, res, log)
        finally:
            _kill(proc)
    stderr = errpath.read_text(errors="replace")
    if nxt is None:  # the process ended early (crash, watchdog reset) or hung
        k = res.findings[-1][0] if res.findings else start
        return k + 1
    if "Traceback" in stderr:
        res.counts["tracebacks"] += 1
        res.findings.append((len(batches) - 1, "stderr: " + stderr[-800:], []))
    return nxt


def _consume(proc, batches, start, res, log):
    c = res.counts
    model = oracle.LineModel()
    seqc = oracle.SeqCheck()
    gaps = drops = 0
    gap_at = []
    k = None
    frames, noise, lines, verbs = [], [], [], {}
    stalled = False
    gaps = 0
    crash = []
    for raw in _stream(proc, HANG_S):
        if raw is None:
            c["hangs"] += 1
            kk = k if k is not None else start
            _finding(res, kk, "hang: no output for %.0f s" % HANG_S, batches)
            return None
        line = raw.rstrip(b"\r")
        if line.startswith(b"#B "):
            k = int(line[3:])
            frames, noise, lines, verbs, crash = [], [], [], {}, []
            stalled = False
            monitor_us = 0
            for d, data, a in batches[k]:
                c["inputs"] += 1
                c["bytes"] += len(data)
                stalled = stalled or a == "stall"
                for ln in model.feed(data):
                    if ln == "REPL":
                        continue
                    lines.append(ln)
                    try:
                        cid, verb, args = protocol.parse_command(ln)
                        verbs[cid] = verb
                        if verb == "MONITOR":
                            monitor_us += args["seconds"] * 1_000_000
                    except protocol.ProtocolError:
                        pass
            c["lines"] += len(lines)
            continue
        if line.startswith(b"#R "):  # the watchdog reset the board: a hang in fixture time
            c["hangs"] += 1
            _, kk, js = line.split(b" ", 2)
            st = json.loads(js)
            _finding(res, k, "watchdog reset; hardware then: %s" % st, batches)
            _wait(proc)
            return None
        if line.startswith(b"#X "):
            c["crashes"] += 1
            crash.append(line.decode(errors="replace"))
            continue
        if line.startswith(b"#T "):
            crash.append(line[3:].decode(errors="replace"))
            continue
        if line.startswith(b"#E "):
            _, kk, js = line.split(b" ", 2)
            state = json.loads(js)
            c["batches"] += 1
            if state["left"]:
                msgs_left = "batch ended with %d chunks never read" % state["left"]
                c["hangs"] += 1
                _finding(res, k, msgs_left, batches)
            drops = state["link"]["frames_dropped"]  # since the interpreter started
            if gaps > drops:  # a frame missing that the link does not know it dropped
                c["frame_seq_gaps"] += gaps - drops
                _finding(res, k, "frame sequence: %d frames missing, the link dropped %d; gaps before %s" % (gaps, drops, gap_at[-6:]), batches)
                gaps = drops
            msgs = oracle.judge_batch(c, lines, frames, noise, state, stalled, verbs)
            if state["fixture_us"] > FIXTURE_BUDGET_US + monitor_us + sum(d for d, _, _ in batches[k]):
                c["hangs"] += 1
                msgs.append("batch took %.1f s of fixture time" % (state["fixture_us"] / 1e6))
            if crash:
                msgs.append("crash: " + "\n".join(crash))
            for m in msgs:
                _finding(res, k, m, batches)
            if log:
                log(k, state, msgs, lines, frames)
            continue
        if line == b"#DONE":  # after a last frame: every drop has shown as a gap by now
            if gaps != drops:
                c["frame_seq_gaps"] += abs(gaps - drops)
                _finding(res, k, "frame sequence: %d frames missing in all, the link dropped %d" % (gaps, drops), batches)
            return len(batches)
        if line.startswith(b"$"):
            try:
                seq, kind, p = protocol.decode_frame(line)
            except protocol.ProtocolError as e:
                c["frames_garbled"] += 1
                _finding(res, k, "garbled frame (%s): %r" % (e.msg, line[:120]), batches)
                continue
            res.frames += 1
            res.kinds[kind] = res.kinds.get(kind, 0) + 1
            g = seqc.feed(seq)
            if g > 0:
                gap_at.append((seq, kind, g, frames[-1][:2] if frames else None))
            if g < 0:
                c["frame_seq_gaps"] += 1
                _finding(res, k, "frame seq %d repeated" % seq, batches)
            else:
                gaps += g
            frames.append((seq, kind, p))
            continue
        if line.strip():
            noise.append(line.decode(errors="replace"))
    # stdout closed without #DONE: the interpreter died (watchdog reset, a crash outside the loop)
    rc = proc.wait(timeout=10)
    err = ""
    try:
        err = Path(proc.args[-1]).with_name("stderr-%d.txt" % start).read_text(errors="replace")[-1500:]
    except OSError:
        pass
    kk = k if k is not None else start
    if "watchdog" in err:
        c["hangs"] += 1
    else:
        c["crashes"] += 1
    _finding(res, kk, "interpreter ended (exit %s) in batch %d: %s" % (rc, kk, err), batches)
    return None


def _finding(res, k, msg, batches):
    chunks = batches[k] if k is not None and 0 <= k < len(batches) else []
    res.findings.append((k, msg, chunks))


def describe(res, limit=5):
    """The first findings with their inputs, for a failing test or the campaign's report."""
    out = []
    for k, msg, chunks in res.findings[:limit]:
        out.append("seed %d batch %s: %s" % (res.seed, k, msg))
        for d, b, a in chunks:
            out.append("    delay_us=%-7d action=%-7s %r" % (d, a, b[:200]))
    return "\n".join(out)


def batches_for(seed, inputs, heavy_p=0.06):
    """The batches run_campaign(seed, inputs) runs (to replay one)."""
    g = gen.Gen(seed)
    out = []
    n = 0
    while n < inputs:
        b = g.batch(heavy_p)
        out.append(b)
        n += len(b)
    return out


def replay(batches, workdir, log=None, res=None):
    """Run the given batches on one fresh fixture; -> Result (for a reproduction)."""
    res = Result(-1) if res is None else res
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    env = _env(workdir, gen.scenario())
    start = 0
    while start < len(batches):
        start = _run_process(batches, start, workdir, env, res, log)
    return res
