"""End-to-end byte fuzz: the simulated fixture as the host meets it (main.py on MicroPython behind
the launcher's pseudo-terminals, the firmware's real select/stdin path, kbd_intr) and the host's
own line reader (tester.link.Link over pyserial).

Each input is a chunk from gen.Gen (noise, control bytes incl. 0x03, over-long lines, floods of
up to 12 KB), written at once; after every PROBE_EVERY inputs a probe ("\\n<id> HELLO\\n") must be answered
within PROBE_S, or it is a hang (a probe costs a relay round trip, ~50 ms). Now and then a RUN or a 1 s MONITOR starts and the next inputs go in while it
runs; its done/mdone must come. 0x01 after 0x03 is left out (mpremote's REPL request: the app
would rightly hand the port to the REPL), and so is the REPL verb. At the end STATUS must show no
relay closed and the source off (the firmware's view: the parts live in the child process).
"""

import time
from dataclasses import dataclass, field

from tester.link import Link, LinkError
from tester.sim.launcher import SimFixture

from . import gen

PROBE_S = 10.0
PROBE_EVERY = 5
RUN_S = 60.0
FAULTS = ("hangs", "fixture_died", "noise_lines", "garbled_frames", "frames_lost", "unanswered", "unsafe_end")


@dataclass
class PtyResult:
    counts: dict = field(default_factory=lambda: {"inputs": 0, "bytes": 0, "runs": 0, **{k: 0 for k in FAULTS}})
    findings: list = field(default_factory=list)
    wall_s: float = 0.0

    def faults(self):
        return {k: self.counts[k] for k in FAULTS if self.counts[k]}


def _clean(b):
    """No REPL request: drop 0x01 after 0x03 and the REPL verb."""
    b = bytes(b).replace(b" REPL", b" REPX")
    out = bytearray()
    ctrl_c = False
    for c in b:
        if c == 0x01 and ctrl_c:
            continue
        if c not in (0x0A, 0x0D):
            ctrl_c = c == 0x03
        out.append(c)
    return bytes(out)


def _wait_for(link, cid, kinds, timeout):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            f = link.read_frame(left)
        except LinkError:
            return None
        if f.id == cid and f.kind in kinds:
            return f


def run(seed, inputs, workdir, heavy_every=40):
    t0 = time.monotonic()
    res = PtyResult()
    c = res.counts
    g = gen.Gen(seed)
    with SimFixture(gen.scenario(), workdir) as sim:
        link = Link.open(sim.port)
        try:
            next_id = 10**8  # ids the generator never makes: a probe's answer is unambiguous

            def probe(what):
                nonlocal next_id
                next_id += 1
                link.port.write(b"\n%d HELLO\n" % next_id)
                if _wait_for(link, next_id, ("hello",), PROBE_S) is None:
                    alive = sim.alive()
                    c["hangs" if alive else "fixture_died"] += 1
                    res.findings.append("%s: no answer to HELLO after %r; %s" % (
                        "hang" if alive else "fixture died", what[-400:], sim.log_tail(8)))
                    return False
                return True

            if not probe(b"(boot)"):
                return res
            link.reset_stats(link.stats.last_seq)
            pending = None  # (id, final kinds, what) of a run in progress
            since = []  # inputs since the last probe
            for i in range(inputs):
                if pending is None and i and i % heavy_every == 0:
                    next_id += 1
                    if (i // heavy_every) % 2:
                        line, kinds = b"%d RUN pins=%d allow_expired_cal=1 allow_worn=1\n", ("done", "err")
                    else:
                        line, kinds = b"%d MONITOR pins=%d seconds=1\n", ("mdone", "err")
                    link.port.write(b"\n" + line % (next_id, gen.POSITIONS))  # after a partial line
                    pending = (next_id, kinds, line)
                    c["runs"] += 1
                    continue
                b = _clean(g.chunk())
                c["inputs"] += 1
                c["bytes"] += len(b)
                link.port.write(b)
                since.append(b)
                if pending is not None and i % heavy_every < 6:
                    continue  # mid-run: the next inputs go in without waiting
                if pending is not None:
                    cid, kinds, what = pending
                    link.port.write(b"\n")
                    if _wait_for(link, cid, kinds, RUN_S) is None:
                        c["unanswered"] += 1
                        res.findings.append("no %s for %r" % ("/".join(kinds), what))
                    pending = None
                if len(since) < PROBE_EVERY:
                    continue
                if not probe(b"".join(since)):
                    break
                since = []
            link.port.write(b"\n")
            next_id += 1
            link.port.write(b"%d STATUS\n" % next_id)
            st = _wait_for(link, next_id, ("status",), PROBE_S)
            if st is None or st.get("relays_closed") or st.get("source_on"):
                c["unsafe_end"] += 1
                res.findings.append("end state: %s" % (st.payload if st else "no STATUS answer"))
            s = link.stats
            c["noise_lines"] += s.noise_lines
            c["garbled_frames"] += s.garbled
            c["frames_lost"] += s.lost
            if s.noise_lines:
                res.findings.append("not frames: %s" % link.noise[-5:])
        finally:
            link.close()
    res.wall_s = time.monotonic() - t0
    return res
