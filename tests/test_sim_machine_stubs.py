"""The simulated `machine` and `time` (boards/sim) offer the names and signatures of the official
MicroPython rp2 stubs, and the firmware uses only names that both have. CPython, ast only."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STUBS = REPO / ".venv" / "stubs"
SIM = REPO / "boards" / "sim"
FIRMWARE = REPO / "firmware"


def _params(fn):
    a = fn.args
    pos = [x.arg for x in a.posonlyargs + a.args]
    if pos and pos[0] in ("self", "cls"):
        pos = pos[1:]
    kw = [x.arg for x in a.kwonlyargs]
    return pos, kw, a.vararg is not None or a.kwarg is not None


def _index(tree):
    """{name: [FunctionDef...]} for functions, {name: {'methods': {...}, 'attrs': set}} for classes,
    and the set of module-level variable names."""
    funcs, classes, names = {}, {}, set()
    for n in tree.body:
        if isinstance(n, ast.FunctionDef):
            funcs.setdefault(n.name, []).append(n)
        elif isinstance(n, ast.ClassDef):
            meth, attrs = {}, set()
            for m in n.body:
                if isinstance(m, ast.FunctionDef):
                    meth.setdefault(m.name, []).append(m)
                elif isinstance(m, ast.Assign):
                    attrs.update(t.id for t in m.targets if isinstance(t, ast.Name))
                elif isinstance(m, ast.AnnAssign) and isinstance(m.target, ast.Name):
                    attrs.add(m.target.id)
            classes[n.name] = {"methods": meth, "attrs": attrs, "bases": [ast.unparse(b) for b in n.bases]}
        elif isinstance(n, ast.Assign):
            names.update(t.id for t in n.targets if isinstance(t, ast.Name))
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            names.add(n.target.id)
    return funcs, classes, names


def _compatible(sim_fn, stub_fns):
    """Some overload of the stub accepts the sim's parameters by the same names, positional ones
    at the same positions; a stub with *args/**kwargs accepts anything."""
    sp, sk, _ = _params(sim_fn)
    for st in stub_fns:
        tp, tk, var = _params(st)
        if var:
            return True
    union_pos = set()
    union_all = set()
    for st in stub_fns:
        tp, tk, _ = _params(st)
        union_pos.update(enumerate(tp))
        union_all.update(tp, tk)
    return all((i, p) in union_pos for i, p in enumerate(sp)) and all(k in union_all for k in sk)


def _load(path):
    return _index(ast.parse(path.read_text()))


STUB_MACHINE = _load(STUBS / "machine.pyi")
SIM_MACHINE = _load(SIM / "machine.py")
STUB_TIME = _load(STUBS / "time.pyi")
SIM_TIME = _load(SIM / "time.py")


def _public(d):
    return sorted(k for k in d if not k.startswith("_"))


def test_stubs_are_installed_and_parsed():
    funcs, classes, names = STUB_MACHINE
    assert {"Pin", "SPI", "I2C", "WDT"} <= set(classes)
    assert {"unique_id", "freq", "reset"} <= set(funcs)
    assert "mem32" in names


def test_sim_machine_provides_what_the_firmware_needs():
    funcs, classes, names = SIM_MACHINE
    assert {"Pin", "SPI", "I2C", "WDT", "Signal"} <= set(classes)
    assert {"unique_id", "freq", "reset", "soft_reset", "idle", "lightsleep", "disable_irq", "enable_irq",
            "time_pulse_us", "reset_cause"} <= set(funcs)
    assert {"mem8", "mem16", "mem32", "PWRON_RESET", "WDT_RESET"} <= names
    assert "register_mem32" not in funcs  # sim-only helpers live in simhw, not in machine


@pytest.mark.parametrize("name", _public(SIM_MACHINE[0]))
def test_sim_machine_function_matches_stub(name):
    assert name in STUB_MACHINE[0], "machine.%s is not in the rp2 stubs" % name
    for fn in SIM_MACHINE[0][name]:
        assert _compatible(fn, STUB_MACHINE[0][name]), "machine.%s%s" % (name, _params(fn))


@pytest.mark.parametrize("name", _public(SIM_MACHINE[2]))
def test_sim_machine_constant_in_stub(name):
    assert name in STUB_MACHINE[2] or name in STUB_MACHINE[0]


@pytest.mark.parametrize("cls", _public(SIM_MACHINE[1]))
def test_sim_machine_class_matches_stub(cls):
    assert cls in STUB_MACHINE[1], "machine.%s is not in the rp2 stubs" % cls
    stub = STUB_MACHINE[1][cls]
    sim = SIM_MACHINE[1][cls]
    for m, fns in sim["methods"].items():
        if m.startswith("_") and m not in ("__init__", "__call__"):
            continue
        assert m in stub["methods"], "machine.%s.%s is not in the stubs" % (cls, m)
        for fn in fns:
            assert _compatible(fn, stub["methods"][m]), "machine.%s.%s%s vs stubs" % (cls, m, _params(fn))
    for a in sim["attrs"]:
        if not a.startswith("_"):
            assert a in stub["attrs"], "machine.%s.%s is not in the stubs" % (cls, a)


@pytest.mark.parametrize("name", _public(SIM_TIME[0]))
def test_sim_time_function_matches_stub(name):
    assert name in STUB_TIME[0], "time.%s is not in the rp2 stubs" % name
    for fn in SIM_TIME[0][name]:
        assert _compatible(fn, STUB_TIME[0][name])


def test_sim_time_has_the_device_api():
    assert {"sleep", "sleep_ms", "sleep_us", "ticks_ms", "ticks_us", "ticks_cpu", "ticks_add", "ticks_diff",
            "time", "time_ns", "gmtime", "localtime", "mktime"} <= set(SIM_TIME[0])


def test_compatibility_check_has_teeth():
    bad = ast.parse("def unique_id(x): pass\ndef freq(mhz=None): pass\n").body
    assert not _compatible(bad[0], STUB_MACHINE[0]["unique_id"])
    assert not _compatible(bad[1], STUB_MACHINE[0]["freq"])
    good = ast.parse("def freq(hz=None): pass\n").body[0]
    assert _compatible(good, STUB_MACHINE[0]["freq"])


def _firmware_uses():
    """(module attribute uses: {('machine'|'time', name)}, attribute calls on SPI/I2C objects)."""
    mod_uses, bus_uses = set(), set()
    for path in FIRMWARE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for n in ast.walk(tree):
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in ("machine", "time"):
                mod_uses.add((n.value.id, n.attr, path.name))
            elif isinstance(n, ast.ImportFrom) and n.module in ("machine", "time"):
                for a in n.names:
                    mod_uses.add((n.module, a.name, path.name))
            elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Attribute):
                owner = n.value.attr.lower().lstrip("_")
                if owner in ("spi", "i2c"):
                    bus_uses.add((owner.upper(), n.attr, path.name))
    return mod_uses, bus_uses


def test_firmware_uses_only_names_in_stubs_and_sim():
    mod_uses, bus_uses = _firmware_uses()
    assert ("machine", "SPI", "fixture.py") in mod_uses  # the scan sees the firmware
    table = {"machine": (STUB_MACHINE, SIM_MACHINE), "time": (STUB_TIME, SIM_TIME)}
    for mod, name, where in mod_uses:
        stub, sim = table[mod]
        for idx, what in ((stub, "stubs"), (sim, "simulated board")):
            assert name in idx[0] or name in idx[1] or name in idx[2], "%s uses %s.%s, not in the %s" % (
                where, mod, name, what)
    assert bus_uses, "no SPI/I2C calls found"
    for cls, meth, where in bus_uses:
        assert meth in STUB_MACHINE[1][cls]["methods"], "%s calls %s.%s, not in the stubs" % (where, cls, meth)
        assert meth in SIM_MACHINE[1][cls]["methods"], "%s calls %s.%s, not in the sim" % (where, cls, meth)
