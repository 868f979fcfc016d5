"""The simulated `rp2` and `select` (boards/sim) offer the names and signatures of the official
MicroPython rp2 stubs, as the simulated `machine` does (see test_sim_machine_stubs)."""

import ast

import pytest

from test_sim_machine_stubs import SIM, STUBS, _compatible, _index, _load, _params, _public



def _load_gathered(path):
    """_index of a module that gathers names from its neighbours (`from sim_pio import PIO`): its
    own definitions plus each imported name's definition in boards/sim/<module>.py."""
    tree = ast.parse(path.read_text())
    funcs, classes, names = _index(tree)
    for n in tree.body:
        if isinstance(n, ast.ImportFrom) and (SIM / ("%s.py" % n.module)).exists():
            f, c, v = _load(SIM / ("%s.py" % n.module))
            for a in n.names:
                assert a.name in f or a.name in c or a.name in v, "%s.%s is not defined there" % (n.module, a.name)
                name = a.asname or a.name
                if a.name in f:
                    funcs[name] = f[a.name]
                elif a.name in c:
                    classes[name] = c[a.name]
                else:
                    names.add(name)
    return funcs, classes, names


STUB_RP2 = _load(STUBS / "rp2" / "__init__.pyi")
SIM_RP2 = _load_gathered(SIM / "rp2.py")
STUB_SELECT = _load(STUBS / "select.pyi")
SIM_SELECT = _load(SIM / "select.py")
# The PIO DSL (jmp, mov, side, delay...) is declared in the stubs as functions under
# `if TYPE_CHECKING:`; on the device they are PIOASMEmit's methods.
_DSL_TREE = ast.parse((STUBS / "rp2" / "asm_pio_rp2040.pyi").read_text())
STUB_DSL = {}
for _n in ast.walk(_DSL_TREE):
    if isinstance(_n, ast.FunctionDef):
        STUB_DSL.setdefault(_n.name, []).append(_n)


def test_sim_rp2_has_the_device_api_the_firmware_uses():
    funcs, classes, _ = SIM_RP2
    assert {"PIO", "StateMachine", "DMA", "PIOASMError"} <= set(classes)
    assert {"asm_pio", "asm_pio_encode"} <= set(funcs)


def test_sim_rp2_module_holds_only_the_device_names(mpy):
    """What `import rp2` gives on the simulated board: the stubs' names, none of the models'."""
    r = mpy("import rp2\nprint(' '.join(sorted(n for n in dir(rp2) if not n.startswith('_'))))")
    names = set(r.stdout.split())
    assert {"PIO", "StateMachine", "DMA", "PIOASMError", "PIOASMEmit", "asm_pio", "asm_pio_encode"} <= names
    stub = set(STUB_RP2[0]) | set(STUB_RP2[1]) | STUB_RP2[2]
    assert names <= stub, "rp2 names not in the stubs: %s" % sorted(names - stub)


@pytest.mark.parametrize("name", _public(SIM_RP2[0]))
def test_sim_rp2_function_matches_stub(name):
    assert name in STUB_RP2[0], "rp2.%s is not in the rp2 stubs" % name
    for fn in SIM_RP2[0][name]:
        assert _compatible(fn, STUB_RP2[0][name]), "rp2.%s%s" % (name, _params(fn))


# Device API the stubs leave out, documented by MicroPython: the rp2.DMA attributes (docs,
# library/rp2.DMA.rst) and the emitter's passes (ports/rp2/modules/rp2.py, PIOASMEmit).
NOT_IN_STUBS = {
    "DMA": {"read", "write", "count", "ctrl", "channel", "registers"},
    "PIOASMEmit": {"start_pass"},
}


@pytest.mark.parametrize("cls", _public(SIM_RP2[1]))
def test_sim_rp2_class_matches_stub(cls):
    assert cls in STUB_RP2[1], "rp2.%s is not in the rp2 stubs" % cls
    stub = dict(STUB_RP2[1][cls])
    if cls == "PIOASMEmit":
        stub["methods"] = dict(stub["methods"], **STUB_DSL)
    for m, fns in SIM_RP2[1][cls]["methods"].items():
        if m.startswith("_") and m not in ("__init__", "__call__"):
            continue
        if m in NOT_IN_STUBS.get(cls, ()):
            continue
        assert m in stub["methods"], "rp2.%s.%s is not in the stubs" % (cls, m)
        if cls == "PIOASMEmit" and m in STUB_DSL:
            continue  # DSL calls are positional; MicroPython's own rp2.py names differ from the stubs'
        for fn in fns:
            assert _compatible(fn, stub["methods"][m]), "rp2.%s.%s%s vs stubs" % (cls, m, _params(fn))


@pytest.mark.parametrize("name", _public(SIM_SELECT[0]))
def test_sim_select_function_matches_stub(name):
    assert name in STUB_SELECT[0], "select.%s is not in the rp2 stubs" % name
    for fn in SIM_SELECT[0][name]:
        assert _compatible(fn, STUB_SELECT[0][name])


def test_sim_select_poll_matches_stub():
    stub = STUB_SELECT[1]["poll"]["methods"]
    for m, fns in SIM_SELECT[1]["poll"]["methods"].items():
        if m == "__init__":
            continue
        assert m in stub, "select.poll.%s is not in the stubs" % m
        for fn in fns:
            assert _compatible(fn, stub[m]), "select.poll.%s%s" % (m, _params(fn))
