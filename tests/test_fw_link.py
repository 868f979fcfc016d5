"""The firmware's link on the MicroPython interpreter, with streams that behave like USB CDC:
control bytes and 0x03 in the input, mpremote's Ctrl-C Ctrl-A, and a host that stops reading
(short writes) while the fixture keeps going."""

import json

SCRIPT = r"""
import io, json
import link, protocol

class In(io.IOBase):
    def __init__(self, data): self.data = bytearray(data)
    def read(self, n):
        b = bytes(self.data[:n]); self.data = self.data[n:]; return b
    def readinto(self, buf):
        n = min(len(buf), len(self.data)); buf[:n] = self.data[:n]; self.data = self.data[n:]; return n
    def ioctl(self, req, arg):
        if req == 3:  # MP_STREAM_POLL
            return arg & 1 if self.data else 0
        return -1  # no file descriptor (MP_STREAM_GET_FILENO): the unix poll asks for POLL

class Out(io.IOBase):
    # a CDC TX that accepts `room` bytes, then short writes until the host reads again
    def __init__(self): self.room = 1 << 30; self.got = bytearray(); self.writes = 0
    def write(self, b):
        self.writes += 1
        n = min(len(b), self.room); self.room -= n; self.got += b[:n]; return n
    def ioctl(self, req, arg):
        if req == 3:
            return arg & 4 if self.room > 0 else 0  # POLLOUT
        return -1

def lines(data):
    l = link.Link(In(data), Out())
    out = []
    for _ in range(20):
        x = l.read_line(0)
        if x is None and not l.data_left():
            break
        if x is not None:
            out.append(x.decode())
    return out, l.repl_requested

link.Link.data_left = lambda s: bool(s._in.data)
res = {}
res["ctrl_c"] = lines(b"1 HEL\x03 2 HELLO\n3 ST\x07ATUS\n\x03\x03\n4 STATUS\n")
res["mpremote"] = lines(b"5 HELLO\n\r\x03\r\x01")
res["ctrl_a_alone"] = lines(b"6 HE\x01LLO\n")
out = Out()
l = link.Link(In(b""), out)
sent = [l.send("log", {"n": i}) for i in range(3)]
out.room = 40  # the host stops reading: the FIFO takes 40 more bytes
sent += [l.send("log", {"n": i, "pad": "x" * 30}) for i in range(3, 10)]
w_while_stuck = out.writes
out.room = 1 << 30  # the host reads again
sent += [l.send("log", {"n": i}) for i in range(10, 12)]
res["send"] = {"sent": sent, "stats": l.stats(), "writes_while_stuck": w_while_stuck, "seq": l.seq}
print("RESULT " + json.dumps(res))
"""


def test_firmware_link_input_and_a_host_that_stops_reading(mpy):
    r = mpy(SCRIPT)
    d = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][0][7:])
    lines, repl = d["ctrl_c"]
    # 0x03 discards what was typed so far; another control byte stays in its line, which the
    # protocol then refuses (non-printable); nothing raises, nothing is lost after it.
    assert lines == [" 2 HELLO", "3 ST\x07ATUS", "4 STATUS"] and not repl
    lines, repl = d["mpremote"]
    assert lines == ["5 HELLO"] and repl is True
    lines, repl = d["ctrl_a_alone"]
    assert lines == ["6 HE\x01LLO"] and not repl
    s = d["send"]
    # 3 frames whole; the 4th is cut short (40 bytes): the link is congested and drops the next
    # ones without writing at all; once the port polls writable again, frames go through whole.
    assert s["sent"][:3] == [True] * 3 and s["sent"][3] is False
    assert s["sent"][4:10] == [False] * 6 and s["sent"][10:] == [True, True]
    assert s["writes_while_stuck"] == 4  # one short write, no write while congested
    assert s["stats"]["frames_dropped"] == 7 and s["stats"]["frames_sent"] == 12 and s["seq"] == 12
    assert s["stats"]["bytes_dropped"] > 0 and s["stats"]["congested"] is False


ENCODE_FAILS = r"""
import io, json, micropython
import link

class Out(io.IOBase):
    def __init__(self): self.got = bytearray()
    def write(self, b):
        self.got += b; return len(b)
    def ioctl(self, req, arg):
        return arg & 4 if req == 3 else -1

class In(io.IOBase):
    def ioctl(self, req, arg):
        return 0 if req == 3 else -1

out = Out()
l = link.Link(In(), out)
l.send("ok", {"id": 1})
big = {"id": 2, "hist": [[0] * 6 for _ in range(24)]}  # an MSTATUS-sized payload
raised = e = None  # the globals exist before the heap is locked
micropython.heap_lock()  # as on a fragmented heap: encoding the frame cannot allocate
try:
    l.send("mstatus", big)
except MemoryError as e:
    raised = "MemoryError"
micropython.heap_unlock()
l.send("err", {"id": 2, "code": "hardware", "msg": "out of memory"})  # what App.handle answers
print("RESULT " + json.dumps({"raised": raised, "stats": l.stats(), "seq": l.seq, "wire": out.got.decode()}))
"""


def test_a_frame_that_cannot_be_encoded_takes_no_sequence_number(mpy):
    """A frame whose encoding raises (MemoryError) never reaches the host: it must not use up a
    sequence number, or the host sees a gap the link does not count as dropped (the fault
    campaign found such gaps, each before an "out of memory" err)."""
    from tester.firmware import protocol

    r = mpy(ENCODE_FAILS)
    d = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][0][7:])
    assert d["raised"] == "MemoryError"  # the caller learns it and answers (App.handle: err hardware)
    frames = [protocol.decode_frame(ln) for ln in d["wire"].splitlines()]
    assert [(s, k) for s, k, _ in frames] == [(0, "ok"), (1, "err")]
    assert d["seq"] == 2 and d["stats"]["frames_sent"] == 2 and d["stats"]["frames_dropped"] == 0
