"""Host frame-decoder fuzzing (hypothesis): protocol.decode_frame and the host's line reader
(tester.link.Link) on arbitrary bytes. Promises checked: nothing but ProtocolError ever comes out
of decode_frame; the reader never raises on noise, never hangs, counts every bad line, and a valid
frame on its own line is recovered whatever noise surrounds it. Plus parse_command giving the same
answer on MicroPython (the fixture) as on CPython (the host) for a corpus of hostile lines."""

import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tester.firmware import protocol
from tester.link import Link, LinkError

P = protocol
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.text(max_size=10), json_values, max_size=6)
kinds = st.sampled_from([P.K_OK, P.K_ERR, P.K_EVENT, P.K_MSTATUS, P.K_DONE, P.K_HELLO])
# Noise with no '\n' (a line of its own) and never starting a frame by accident.
noise = st.binary(max_size=300).map(lambda b: b.replace(b"\n", b" "))


@FUZZ
@given(st.binary(max_size=400))
def test_decode_frame_raises_only_protocol_error(data):
    try:
        seq, kind, payload = P.decode_frame(data)
    except P.ProtocolError as e:
        assert e.code == P.E_SYNTAX
        return
    assert isinstance(payload, dict) and isinstance(seq, int) and isinstance(kind, str)


@FUZZ
@given(st.integers(0, P.SEQ_MOD - 1), kinds, payloads, st.data())
def test_decode_frame_round_trip_and_any_flip_is_caught(seq, kind, payload, data):
    frame = P.encode_frame(seq, kind, payload)
    assert P.decode_frame(frame) == (seq, kind, json.loads(json.dumps(payload)))
    i = data.draw(st.integers(1, len(frame) - 2))  # not '$', not '\n'
    bit = data.draw(st.integers(0, 7))
    bad = bytearray(frame)
    bad[i] ^= 1 << bit
    try:
        got = P.decode_frame(bytes(bad))
    except P.ProtocolError:
        return
    # CRC-32 catches every single-bit error; only a flip in the checksum's hex case survives.
    assert got == (seq, kind, json.loads(json.dumps(payload))) and bad[i:i + 1].lower() == frame[i:i + 1].lower()


class _Port:
    """A pyserial-like port that hands out `data` in random-sized pieces."""

    def __init__(self, data, rnd):
        self.data = bytearray(data)
        self.rnd = rnd

    def read(self, n):
        k = min(n, self.rnd.randint(0, 64), len(self.data))
        out = bytes(self.data[:k])
        del self.data[:k]
        return out

    def write(self, b):
        return len(b)

    def close(self):
        pass


def _frames(link):
    """Every frame the reader gives until the port has nothing more (bounded: each call either
    returns a frame or hits its 0.1 ms deadline, and the port empties)."""
    out = []
    for _ in range(len(link.port.data) + 10_000):
        try:
            out.append(link.read_frame(1e-4))
        except LinkError:
            if not link.port.data:
                return out
    raise AssertionError("the reader did not finish")


@FUZZ
@given(st.lists(st.tuples(noise, payloads, kinds), min_size=1, max_size=6), noise, st.integers(0, 2**32))
def test_reader_recovers_frames_inside_noise(items, tail, rseed):
    wire = bytearray()
    sent = []
    for i, (junk, payload, kind) in enumerate(items):
        wire += junk + b"\n" + P.encode_frame(i, kind, payload)
        sent.append((i, kind, json.loads(json.dumps(payload))))
    wire += tail
    link = Link(_Port(wire, random.Random(rseed)), name="fuzz")
    got = [(f.seq, f.kind, f.payload) for f in _frames(link)]
    # Noise lines that happen to be valid frames cannot occur ('$' + CRC match by chance ~2^-32).
    assert got == sent
    assert link.stats.lost == 0


@FUZZ
@given(st.binary(max_size=2000), st.integers(0, 2**32))
def test_reader_on_pure_noise_never_raises_but_link_error(data, rseed):
    link = Link(_Port(data, random.Random(rseed)), name="fuzz")
    for f in _frames(link):  # LinkError (silence) is the only way out, inside _frames
        assert P.decode_frame(P.encode_frame(f.seq, f.kind, f.payload))[1] == f.kind
    s = link.stats
    lines = bytes(data).count(b"\n")
    assert s.noise_lines + s.garbled + s.frames <= lines + 1


# -- parse_command: one answer on both interpreters -------------------------------------------

def _hostile_lines(n, seed):
    r = random.Random(seed)
    base = [b"1 HELLO", b"2 RUN pins=10 stage=after", b"3 MONITOR pins=10 seconds=1 axis=X", b"4 EVENTS since=5"]
    specials = [bytes([c]) for c in range(0x00, 0x20)] + [b"\x7f", b"\x80", b"\xc0\xbd", b"\xc1\xa9", b"\xe2\x80\x8b",
                                                          b"\xc2\x85", b"\xc2\xa0", b"\xef\xbb\xbf", b"\xff", b" ", b"="]
    out = []
    for _ in range(n):
        b = bytearray(r.choice(base))
        for _ in range(r.randint(1, 3)):
            i = r.randint(0, len(b))
            b[i:i] = r.choice(specials)
        out.append(bytes(b))
    return out


def test_parse_command_same_on_micropython_and_cpython(mpy):
    lines = _hostile_lines(600, 7)

    def verdict(ln):
        try:
            return list(P.parse_command(ln)[:2])
        except P.ProtocolError as e:
            return [e.code, e.cmd_id]

    code = (
        "import protocol, json, binascii\n"
        "out = []\n"
        "for h in %r:\n"
        "    ln = binascii.unhexlify(h)\n"
        "    try:\n"
        "        out.append(list(protocol.parse_command(ln)[:2]))\n"
        "    except protocol.ProtocolError as e:\n"
        "        out.append([e.code, e.cmd_id])\n"
        "print('RESULT ' + json.dumps(out))\n" % [ln.hex() for ln in lines]
    )
    r = mpy(code)
    device = json.loads([x for x in r.stdout.splitlines() if x.startswith("RESULT ")][0][7:])
    diff = [(ln, d, verdict(ln)) for ln, d in zip(lines, device) if d != verdict(ln)]
    assert not diff, diff[:5]
