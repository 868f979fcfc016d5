"""What the fault campaign expects, judged from the host side.

`LineModel`: the command lines the fixture's link must deliver from a byte stream, as link.py
documents it (CR or LF ends a line, an empty line is nothing, 0x03 discards the line so far, 0x03
then 0x01 with only CR/LF between is mpremote's REPL request, a line longer than MAX_LINE comes out
as one empty line that the app refuses). It is the specification the firmware's Link is held to,
written from its documented behaviour, not imported from it.

`judge_batch`: every line answered by exactly one final reply for its id (the reply kind the host
waits for, or err), every run's and monitor window's records present once, frame sequence numbers
without gaps or repeats (except frames the link says it dropped), nothing printed outside frames,
no err "hardware" (the simulated hardware is healthy), and the simulated hardware safe when the
batch ends.
"""

from tester.firmware import protocol

P = protocol
# The reply the host waits for, per verb (host/tester/fixture.py: command(), run_frames()).
FINAL = {"HELLO": P.K_HELLO, "STATUS": P.K_STATUS, "MSTATUS": P.K_MSTATUS, "RUN": P.K_DONE, "MONITOR": P.K_MDONE}
COUNTS = ("inputs", "lines", "bytes", "batches", "crashes", "hangs", "tracebacks", "hardware_errors", "unsafe_batches",
          "relays_left_closed", "sources_left_on", "monitor_left_on", "hot_switches",
          "replies_missing", "replies_doubled", "records_lost", "records_doubled", "frames_garbled",
          "frame_seq_gaps")
FAULTS = COUNTS[4:]  # all must be 0


class LineModel:
    def __init__(self):
        self.n = 0
        self.line = bytearray()
        self.overlong = False
        self.ctrl_c = False

    def feed(self, data):
        """-> list of lines (bytes) and "REPL" markers, in order."""
        out = []
        for c in data:
            if c in (0x0A, 0x0D):
                if self.overlong:
                    self.overlong = False
                    self.line.clear()
                    out.append(b"")
                elif self.line:
                    out.append(bytes(self.line))
                    self.line.clear()
                continue
            if c == 0x03:
                self.ctrl_c = True
                self.line.clear()
                self.overlong = False
                continue
            if c == 0x01 and self.ctrl_c:
                self.ctrl_c = False
                self.line.clear()
                out.append("REPL")
                continue
            self.ctrl_c = False
            if len(self.line) >= P.MAX_LINE:
                self.overlong = True
                continue
            self.line.append(c)
        return out


def expected_reply(line):
    """(id, allowed final kinds) for one delivered command line."""
    try:
        cid, verb, _ = P.parse_command(line)
    except P.ProtocolError as e:
        return (e.cmd_id if e.cmd_id is not None else 0), {P.K_ERR}
    return cid, {FINAL.get(verb, P.K_OK), P.K_ERR}


class SeqCheck:
    def __init__(self):
        self.last = None

    def feed(self, seq):
        """-> frames missing before this one (0 when in order); -1 for a repeat."""
        last, self.last = self.last, seq
        if last is None:
            return 0
        gap = (seq - last - 1) % P.SEQ_MOD
        return -1 if gap == P.SEQ_MOD - 1 else gap


def judge_batch(c, lines, frames, noise, state, stalled, verbs):
    """Add this batch's findings to the counter dict `c`; returns a list of messages.

    lines: delivered command lines; frames: (seq, kind, payload); noise: non-frame stdout lines;
    state: the driver's end-of-batch dict; stalled: the host stopped reading at some point (replies
    may be missing, never doubled); verbs: {id: verb} of the lines."""
    msgs = []
    if noise:
        c["tracebacks"] += len(noise)
        msgs.append("printed outside frames: %r" % noise[:3])
    # The simulated hardware is healthy (gen.scenario): an err "hardware" is the firmware failing
    # (App.handle answers MemoryError or a driver's exception so, and no crash shows otherwise).
    hw = [p.get("msg") for _, kind, p in frames if kind == P.K_ERR and p.get("code") == P.E_HW]
    if hw:
        c["hardware_errors"] += len(hw)
        msgs.append("hardware errors on healthy hardware: %r" % hw[:3])
    # Replies: per id, count the frames of an allowed final kind.
    want = {}
    allowed = {}
    for ln in lines:
        cid, kinds = expected_reply(ln)
        want[cid] = want.get(cid, 0) + 1
        allowed.setdefault(cid, set()).update(kinds)
    got = {}
    for _, kind, p in frames:
        cid = p.get("id")
        if cid in allowed and kind in allowed[cid]:
            got[cid] = got.get(cid, 0) + 1
    if 0 in want or 0 in got:  # every entry into App.loop() says hello with id 0
        got[0] = got.get(0, 0) - (state["entries"] if P.K_HELLO in allowed.get(0, ()) else 0)
    for cid in set(want) | set(got):
        w, g = want.get(cid, 0), got.get(cid, 0)
        if g > w:
            c["replies_doubled"] += g - w
            msgs.append("id %s: %d final replies for %d lines" % (cid, g, w))
        elif g < w and not stalled:
            c["replies_missing"] += w - g
            msgs.append("id %s: %d final replies for %d lines" % (cid, g, w))
    # Records: a run's contacts and anchors, a monitor window's events, each once.
    by_id = {}
    for _, kind, p in frames:
        by_id.setdefault(p.get("id"), []).append((kind, p))
    for cid, verb in verbs.items():
        fr = by_id.get(cid, [])
        if verb == "RUN":
            done = [p for k, p in fr if k == P.K_DONE]
            for key, kind, n in (("pin", P.K_CONTACT, None), ("anchor", P.K_ANCHOR, 2)):
                seen = [p[key] for k, p in fr if k == kind]
                dup = len(seen) - len(set(seen))
                c["records_doubled"] += dup
                if dup:
                    msgs.append("RUN %s: %s records doubled" % (cid, kind))
                if done and done[0]["verdict"] in ("PASS", "FAIL") and not stalled:
                    pos = [p["positions"] for k, p in fr if k == P.K_RUN]
                    expect = set(range(1, (n or (pos[0] if pos else 0)) + 1))
                    lost = len(expect - set(seen))
                    c["records_lost"] += lost
                    if lost:
                        msgs.append("RUN %s: %d %s records lost" % (cid, lost, kind))
        elif verb == "MONITOR":
            live = [p["n"] for k, p in fr if k == P.K_EVENT and not p.get("replay")]
            dup = len(live) - len(set(live))
            c["records_doubled"] += dup
            if dup:
                msgs.append("MONITOR %s: events doubled" % cid)
            done = [p for k, p in fr if k == P.K_MDONE]
            if done and not stalled:
                lost = len(set(range(1, done[0]["events"] + 1)) - set(live))
                lost += done[0]["lost"]["log_overflow"]
                c["records_lost"] += lost
                if lost:
                    msgs.append("MONITOR %s: %d of %d events never sent" % (cid, lost, done[0]["events"]))
        elif verb == "EVENTS":  # a replay: the events it names, each once
            ok = [p for k, p in fr if k == P.K_OK and "first" in p]
            rep = [p["n"] for k, p in fr if k == P.K_EVENT and p.get("replay")]
            if ok and not stalled:
                expect = set(range(ok[0]["first"], ok[0]["last"] + 1))
                c["records_lost"] += len(expect - set(rep))
                c["records_doubled"] += len(rep) - len(set(rep))
                if expect != set(rep) or len(rep) != len(set(rep)):
                    msgs.append("EVENTS %s: replayed %s, promised %s..%s" % (cid, sorted(rep)[:8], ok[0]["first"], ok[0]["last"]))
    # Safety, from the simulated parts themselves.
    unsafe = False
    if state["coils"] or state["made"] or state["fw_closed"]:
        c["relays_left_closed"] += max(len(state["coils"]), len(state["made"]), state["fw_closed"])
        unsafe = True
    if state["source_on"] or state["src_en"]:
        c["sources_left_on"] += 1
        unsafe = True
    if state["mon_en"]:
        c["monitor_left_on"] += 1
        unsafe = True
    if state["hot"]:
        c["hot_switches"] += state["hot"]
        unsafe = True
        msgs.append("relays switched with current flowing: %s" % state["hot_at"])
    if state["busy"] or state["monitoring"]:
        unsafe = True
        msgs.append("idle with busy=%s monitoring=%s" % (state["busy"], state["monitoring"]))
    if unsafe:
        c["unsafe_batches"] += 1
        msgs.append("unsafe at batch end: %s" % {k: state[k] for k in ("coils", "made", "fw_closed", "source_on", "src_en", "mon_en")})
    return msgs
