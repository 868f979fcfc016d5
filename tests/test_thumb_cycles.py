"""tools/thumb_cycles.py: the armv6m code of a viper function, run in the Cortex-M0 emulator,
computes what the same function computes on the real MicroPython interpreter, and its estimated
cycle count behaves (linear in the loop length, known per-iteration cost)."""

import array
import subprocess
import sys
import textwrap

import pytest

from conftest import MICROPYTHON, REPO

sys.path.insert(0, str(REPO / "tools"))
import thumb_cycles as tc  # noqa: E402

# ptr32 in, ptr32 out, int args, int return: the shape of the kernels the benchmark measures.
KERNEL = textwrap.dedent("""\
    import micropython

    @micropython.viper
    def scale_sum(src: ptr32, dst: ptr32, n: int, k: int) -> int:
        s = 0
        i = 0
        while i < n:
            v = (src[i] * k + 3) ^ (src[i] >> 2)
            dst[i] = v
            s += v - i
            i += 1
        return s

    @micropython.viper
    def sum(a: int, b: int) -> int:  # a static-qstr name; // and % go through the runtime
        return a // b + a % b

    G = 5

    @micropython.viper
    def uses_global(a: int) -> int:
        return a + int(G)
    """)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    path = tmp_path_factory.mktemp("tc") / "kernel.py"
    path.write_text(KERNEL)
    return path


def run_on_micropython(path, call):
    """Run the same source on the unix MicroPython, print the return value and dst."""
    code = "\n".join([path.read_text(), "import array", call, "print(repr(r))", "print(list(dst))"])
    p = subprocess.run([MICROPYTHON, "-c", code], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    value, dst = p.stdout.splitlines()
    return int(value), eval(dst)  # noqa: S307 - our own output: a list of ints


def kernel_args(n):
    src = array.array("I", [(i * 2654435761) & 0xFFFF for i in range(n)])
    return src, array.array("I", [0xDEADBEEF] * n)


@pytest.mark.parametrize("n", [0, 1, 37])
def test_same_result_as_micropython(kernel, n):
    src, dst = kernel_args(n)
    r = tc.run_viper(kernel, "scale_sum", [src, dst, n, 7])
    value, mp_dst = run_on_micropython(kernel, textwrap.dedent(f"""\
        src = array.array("I", {list(src)})
        dst = array.array("I", [0xDEADBEEF] * {n})
        r = scale_sum(src, dst, {n}, 7)"""))
    assert r.value == value
    assert list(r.buffers[1]) == mp_dst
    assert list(dst) == mp_dst  # copied back into the caller's object too
    assert r.buffers[2] is None and r.buffers[3] is None


def test_cycles_linear_in_loop_length(kernel):
    runs = {n: tc.run_viper(kernel, "scale_sum", [*kernel_args(n), n, 7]) for n in (0, 50, 100)}
    c0, c1, c2 = (runs[n].cycles for n in (0, 50, 100))
    assert c2 - c1 == c1 - c0  # every iteration executes the same instructions
    per_iter = (c2 - c1) / 50
    assert 20 < per_iter < 200  # tens of cycles per iteration for mpy-cross viper code
    # Prologue/epilogue and runtime calls do not depend on n.
    assert runs[0].runtime_calls == runs[100].runtime_calls
    assert runs[100].runtime_calls["MP_F_CONVERT_OBJ_TO_NATIVE"] == 4
    assert runs[100].runtime_calls["MP_F_CONVERT_NATIVE_TO_OBJ"] == 1
    # One taken back-edge per iteration, a conditional compare and the loop's loads/stores.
    classes = runs[100].classes - runs[50].classes
    assert classes[tc.TAKEN] >= 50 and classes[tc.LOAD_STORE] >= 3 * 50
    assert sum(classes.values()) * 1 <= c2 - c1 <= sum(classes.values()) * 3


def test_cycle_prices():
    """Spot-check the Cortex-M0+ table on single instructions."""
    md = tc.capstone.Cs(tc.capstone.CS_ARCH_ARM, tc.capstone.CS_MODE_THUMB | tc.capstone.CS_MODE_MCLASS)
    md.detail = True

    def price(hexcode):
        return tc._price(next(md.disasm(bytes.fromhex(hexcode), 0, 1)))[:2]

    assert price("5143") == (tc.OTHER, 1)  # muls r1, r2, r1: RP2040 single-cycle multiplier
    assert price("8058") == (tc.LOAD_STORE, 2)  # ldr r0, [r0, r2]
    assert price("feb5") == (tc.LOAD_STORE, 9)  # push {r1-r7, lr}: 1+N
    assert price("febd") == (tc.LOAD_STORE, 11)  # pop {r1-r7, pc}: 3+N
    assert price("9847") == (tc.CALL, 2)  # blx r3
    assert price("cdd1") == (tc.NOT_TAKEN, 1)  # bne: priced taken (2) when the PC says so
    assert price("29e0") == (tc.TAKEN, 2)  # b
    with pytest.raises(tc.ThumbCyclesError, match="not an ARMv6-M instruction"):
        price("41f23450")  # movw: Thumb-2, which the emulated "Cortex-M0" would execute


def test_static_qstr_name_and_division(kernel):
    r = tc.run_viper(kernel, "sum", [-7, 2])
    assert r.value == -7 // 2 + -7 % 2
    assert r.runtime_calls["MP_F_SMALL_INT_FLOOR_DIVIDE"] == 1
    assert r.runtime_calls["MP_F_SMALL_INT_MODULO"] == 1


def test_unemulated_runtime_call_is_named(kernel):
    with pytest.raises(tc.UnemulatedRuntimeCall, match=r"MP_F_NATIVE_SWAP_GLOBALS .*index 5"):
        tc.run_viper(kernel, "uses_global", [1])


def test_wrong_arg_count_and_limits(kernel):
    with pytest.raises(TypeError, match="takes 2 positional arguments but 1"):
        tc.run_viper(kernel, "sum", [1])
    with pytest.raises(tc.ThumbCyclesError, match="more than 1000 instructions"):
        tc.run_viper(kernel, "scale_sum", [*kernel_args(100), 100, 7], max_instructions=1000)
    with pytest.raises(tc.ThumbCyclesError, match="no module-level function 'nope'"):
        tc.run_viper(kernel, "nope", [])


def test_accepts_compiled_mpy_and_cli(kernel, tmp_path):
    mpy = tc.compile_source(kernel, str(tmp_path), tc.default_mpy_cross())
    path = tmp_path / "kernel.mpy"
    assert path.read_bytes() == mpy
    assert tc.run_viper(path, "sum", [9, 4]).value == 9 // 4 + 9 % 4
    p = subprocess.run([sys.executable, str(REPO / "tools" / "thumb_cycles.py"), str(kernel),
                        "scale_sum", "ptr32:8", "ptr32:8", "8", "1"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "cycles (est.)" in p.stdout and "return value" in p.stdout
