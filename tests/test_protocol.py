"""The protocol module behaves the same on the fixture (MicroPython) and the host (CPython)."""

import json

import pytest

from tester_firmware import protocol

BAD_LINES = [
    ("", "syntax"),
    ("RUN pins=40", "syntax"),  # no id
    ("7", "syntax"),
    ("7 FLY", "verb"),
    ("7 RUN", "arg"),  # pins missing
    ("7 RUN pins=40 pins=40", "arg"),
    ("7 RUN pins=forty", "arg"),
    ("7 RUN pins=40 volts=3", "arg"),
    ("7 RUN pins=40 stage=later", "range"),
    ("7 RUN pins=999", "range"),
    ("7 RUN pins=40 current_ma=-5", "range"),
    ("7 RUN pins", "syntax"),
    ("7 RUN pins=40 \x01", "syntax"),
    ("7 RUN pins=40 serial=" + "x" * 40, "range"),
    ("7 RUN " + "a" * 200, "syntax"),
]
GOOD_LINES = [
    ("7 RUN pins=40", (7, "RUN", {"pins": 40})),
    ("12 RUN pins=42 stage=after current_ma=50 serial=LOT7-0042", (12, "RUN", {"pins": 42, "stage": "after", "current_ma": 50, "serial": "LOT7-0042"})),
    ("1 HELLO\r", (1, "HELLO", {})),
]


@pytest.mark.parametrize("line,code", BAD_LINES)
def test_bad_lines_are_refused_with_a_code_on_cpython(line, code):
    with pytest.raises(protocol.ProtocolError) as e:
        protocol.parse_command(line)
    assert e.value.code == code


@pytest.mark.parametrize("line,want", GOOD_LINES)
def test_good_lines_parse_on_cpython(line, want):
    assert protocol.parse_command(line) == want


def test_same_answers_on_micropython(mpy):
    cases = [l for l, _ in BAD_LINES] + [l for l, _ in GOOD_LINES]
    code = (
        "import protocol, json\n"
        "out = []\n"
        "for line in %s:\n"
        "    try:\n"
        "        i, v, a = protocol.parse_command(line)\n"
        "        out.append([i, v, a])\n"
        "    except protocol.ProtocolError as e:\n"
        "        out.append(e.code)\n"
        "print(json.dumps(out))\n" % json.dumps(cases)
    )
    got = json.loads(mpy(code).stdout)
    want = [c for _, c in BAD_LINES] + [list(w) for _, w in GOOD_LINES]
    assert got == want


def test_frames_round_trip_and_detect_damage():
    f = protocol.encode_frame(5, "contact", {"id": 3, "pin": 17, "r_mohm": 74.01})
    assert protocol.decode_frame(f) == (5, "contact", {"id": 3, "pin": 17, "r_mohm": 74.01})
    flipped = f.replace(b"74.01", b"24.01")
    with pytest.raises(protocol.ProtocolError, match="checksum"):
        protocol.decode_frame(flipped)
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_frame(f[: len(f) // 2])
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_frame(b"Traceback (most recent call last):")


def test_frame_made_on_micropython_decodes_on_cpython(mpy):
    out = mpy("import protocol, sys\nsys.stdout.write(protocol.encode_frame(65537, 'ok', {'id': 9, 'x': [1, 2.5, None, True]}).decode())").stdout
    assert protocol.decode_frame(out.encode()) == (1, "ok", {"id": 9, "x": [1, 2.5, None, True]})


def test_format_command_refuses_what_the_fixture_would_refuse():
    assert protocol.format_command(3, "RUN", {"pins": 40, "stage": "after"}) == "3 RUN pins=40 stage=after\n"
    with pytest.raises(protocol.ProtocolError):
        protocol.format_command(3, "RUN", {"pins": 40, "serial": "has space"})
