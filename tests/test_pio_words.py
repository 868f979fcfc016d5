"""The simulated rp2.asm_pio (run on MicroPython) assembles the firmware's PIO programs into the
same words as adafruit_pioasm does from their pioasm-text twins (tools/pio/*.pio), with the
execctrl/shiftctrl fields the RP2040 registers expect."""

import ast
import sys
from pathlib import Path

import adafruit_pioasm
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools" / "pio"))
import harness  # noqa: E402

PRINT_PROGRAMS = """
import rp2, sim_pio
import drivers.event_detector as ed
for p in (ed.event_detector, ed.ref_interrupter):
    print(repr([list(p[0])] + list(p[1:])))
print(repr([list(sim_pio.DETECTOR_WORDS), list(sim_pio.REF_WORDS)]))
print(rp2.asm_pio_encode("set(0, 1)", 0))
print(rp2.asm_pio_encode("in_(pins, 24)", 0))

@rp2.asm_pio(sideset_init=rp2.PIO.OUT_LOW, out_shiftdir=rp2.PIO.SHIFT_RIGHT, autopull=True, pull_thresh=8)
def side_demo():
    wrap_target()
    set(x, 5).side(1)[2]
    label("l")
    jmp(x_dec, "l").side(0)
    out(pins, 1)
    nop().side(1)[3]
    wait(1, pin, 3)
    irq(rel(2))
    push(iffull, noblock)
    mov(y, reverse(isr))
    wrap()
print(repr([list(side_demo[0])] + list(side_demo[1:])))
"""

SIDE_DEMO_TWIN = """
.program side_demo
.side_set 1 opt
.wrap_target
    set x, 5 side 1 [2]
l:
    jmp x-- l side 0
    out pins, 1
    nop side 1 [3]
    wait 1 pin 3
    irq 2 rel
    push iffull noblock
    mov y, ::isr
.wrap
"""


@pytest.fixture(scope="module")
def programs(tmp_path_factory):
    from conftest import run_micropython

    r = run_micropython(PRINT_PROGRAMS, cwd=tmp_path_factory.mktemp("words"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    return [ast.literal_eval(x) for x in lines[:2]], ast.literal_eval(lines[2]), int(lines[3]), int(lines[4]), ast.literal_eval(lines[5])


def field(v, lo, width):
    return (v >> lo) & ((1 << width) - 1)


def test_sim_detector_words_equal_pioasm_twin(programs):
    # The words boards/sim/sim_pio.py's fast model recognises are the twin's: the three-entry program.
    _, known, *_ = programs
    twin = harness.twin("event_detector")
    assert known[0] == list(twin.assembled) and len(known[0]) == 20


def test_detector_words_equal_pioasm_twin(programs):
    (det, _ref), known, *_ = programs
    twin = harness.twin("event_detector")
    assert len(det) == 9  # MicroPython >= 1.26 layout
    assert det[0] == list(twin.assembled)  # the firmware's asm_pio output == the twin
    assert det[0] == known[0]  # the fast model in sim_pio.py recognises exactly these words
    assert det[1:4] == [-1, -1, -1]
    execctrl, shiftctrl = det[4], det[5]
    assert field(execctrl, 7, 5) == twin.pio_kwargs["wrap_target"]  # WRAP_BOTTOM
    assert field(execctrl, 12, 5) == twin.pio_kwargs["wrap"]  # WRAP_TOP
    assert field(execctrl, 30, 1) == 0  # no side-set
    assert field(shiftctrl, 16, 1) == 1 == twin.pio_kwargs["auto_push"]  # AUTOPUSH
    assert field(shiftctrl, 18, 1) == 0 and twin.pio_kwargs["in_shift_right"] is False  # IN_SHIFTDIR left
    assert field(shiftctrl, 20, 5) == 0  # PUSH_THRESH 0 means 32
    assert field(shiftctrl, 30, 2) == 0b10  # FJOIN_RX: 8-word RX FIFO
    assert len(det[0]) + len(_ref[0]) <= 32  # both fit in one PIO block


def test_ref_interrupter_words_equal_pioasm_twin(programs):
    (_det, ref), known, *_ = programs
    twin = harness.twin("ref_interrupter")
    assert ref[0] == list(twin.assembled) == known[1]
    assert field(ref[4], 7, 5) == 0 and field(ref[4], 12, 5) == len(ref[0]) - 1
    assert ref[7] == 3  # set_init = PIO.OUT_HIGH: switch closed at start


def test_asm_pio_encode_and_dsl_corners(programs):
    *_, enc_set, enc_in, demo = programs
    assert enc_set == 57345  # the stub's documented example
    assert enc_in == adafruit_pioasm.assemble("in pins, 24")[0]
    twin = adafruit_pioasm.Program(SIDE_DEMO_TWIN)
    assert demo[0] == list(twin.assembled)
    assert field(demo[4], 30, 1) == 1  # SIDE_EN: optional side-set
    assert field(demo[5], 17, 1) == 1 and field(demo[5], 19, 1) == 1 and field(demo[5], 25, 5) == 8
