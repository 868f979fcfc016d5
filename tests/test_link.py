"""The host's link: frames, noise, garbled frames, sequence gaps, silence, a port that fails."""

import pytest

from tester.firmware import protocol
from tester.link import Link, LinkError, LinkLost


class FakePort:
    """An in-memory serial port: `rx` is what the fixture 'sent', `tx` what the host wrote."""

    def __init__(self, data=b"", fail_after=None):
        self.rx = bytearray(data)
        self.tx = bytearray()
        self.port = "fake0"
        self.fail_after = fail_after
        self.reads = 0

    def read(self, n):
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise OSError(5, "Input/output error")
        chunk = bytes(self.rx[:7])  # a few bytes at a time: frames arrive in pieces
        del self.rx[:7]
        return chunk

    def write(self, b):
        self.tx += b
        return len(b)

    def close(self):
        pass


def frames(*specs):
    return b"".join(protocol.encode_frame(seq, kind, payload) for seq, kind, payload in specs)


def test_send_ids_increase_and_lines_are_protocol():
    port = FakePort()
    link = Link(port)
    assert link.send("HELLO") == 1
    assert link.send("RUN", pins=40, stage="after") == 2
    lines = port.tx.decode().splitlines()
    assert lines == ["1 HELLO", "2 RUN pins=40 stage=after"]
    assert protocol.parse_command(lines[1]) == (2, "RUN", {"pins": 40, "stage": "after"})


def test_send_refuses_what_the_protocol_refuses():
    link = Link(FakePort())
    with pytest.raises(protocol.ProtocolError):
        link.send("RUN", pins=40, stage="during")


def test_frames_noise_garbled_and_gap():
    good = frames((0, "hello", {"id": 0}), (1, "log", {"level": "info", "msg": "hi"}))
    garbled = bytearray(protocol.encode_frame(2, "step", {"id": 1, "step": "contacts"}))
    garbled[12] ^= 0x01  # one bit flipped in transit
    rest = frames((3, "contact", {"id": 1, "pin": 1}), (7, "contact", {"id": 1, "pin": 2}))
    data = good + b"MicroPython v1.28 on unix\r\n" + bytes(garbled) + b"\n" + rest
    link = Link(FakePort(data))
    got = [link.read_frame(1.0) for _ in range(4)]
    assert [(f.seq, f.kind) for f in got] == [(0, "hello"), (1, "log"), (3, "contact"), (7, "contact")]
    assert got[2].id == 1 and got[3].get("pin") == 2
    st = link.stats.as_dict()
    # seq 2 was garbled (so missing from the sequence: 1 lost there), 4..6 were lost outright
    assert st == {"frames": 4, "lost": 4, "garbled": 1, "noise_lines": 1}
    assert link.noise == ["MicroPython v1.28 on unix"]
    with pytest.raises(LinkError, match="stopped answering"):
        link.read_frame(0.2)


def test_truncated_frame_is_garbled_not_fatal():
    whole = protocol.encode_frame(0, "ok", {"id": 1})
    data = whole[:-6] + b"\n" + protocol.encode_frame(1, "ok", {"id": 2})
    link = Link(FakePort(data))
    f = link.read_frame(1.0)
    assert f.id == 2 and link.stats.garbled == 1 and link.stats.lost == 0


def test_seq_wraps_without_loss():
    link = Link(FakePort(frames((65534, "ok", {}), (65535, "ok", {}), (0, "ok", {}), (1, "ok", {}))))
    for _ in range(4):
        link.read_frame(1.0)
    assert link.stats.lost == 0 and link.stats.frames == 4


def test_reset_stats_counts_from_the_handshake():
    link = Link(FakePort(frames((10, "ok", {}), (12, "ok", {}))))
    link.reset_stats(seq=9)
    link.read_frame(1.0)
    link.read_frame(1.0)
    assert link.stats.lost == 1 and link.stats.frames == 2


def test_port_that_fails_is_link_lost():
    link = Link(FakePort(b"", fail_after=2))
    with pytest.raises(LinkLost, match="lost"):
        link.read_frame(5.0)


def test_silence_is_a_link_error_not_a_lost_port():
    # monitoring reopens the port after LinkLost; silence must end the command instead
    link = Link(FakePort(b""))
    with pytest.raises(LinkError) as e:
        link.read_frame(0.05)
    assert not isinstance(e.value, LinkLost)


def test_write_to_a_vanished_port_is_link_lost():
    class Gone(FakePort):
        def write(self, b):
            raise OSError(19, "No such device")

    with pytest.raises(LinkLost, match="lost while sending STATUS"):
        Link(Gone()).send("STATUS")


def test_link_error_is_exit_3():
    assert LinkError("x").code == 3
