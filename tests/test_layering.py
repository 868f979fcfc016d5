"""The host's layers, read from the source (every import, those inside functions too): records
are data read back long after the fixture is gone, so they import neither the link nor the
renderers nor the commands; the link knows frames, not records or views; the history and the
reports work from records alone, with no fixture attached."""

import ast
from pathlib import Path

import pytest

HOST = Path(__file__).resolve().parent.parent / "host" / "tester"

# package or module -> what it must not import (a name covers its submodules)
RULES = {
    "tester.records": ("tester.link", "tester.fixture", "tester.monitor_session", "tester.render", "tester.commands",
                       "tester.sim"),
    "tester.link": ("tester.records", "tester.render", "tester.commands", "tester.fixture", "tester.monitor_session"),
    "tester.history": ("tester.link", "tester.fixture", "tester.monitor_session", "tester.sim", "tester.commands"),
    "tester.report": ("tester.link", "tester.fixture", "tester.monitor_session", "tester.sim", "tester.commands"),
}


def _module_name(path):
    parts = list(path.relative_to(HOST.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path):
    """Every module `path` imports (absolute names; `from tester import x` as tester.x)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[: len(up) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            out.add(base)
            out.update("%s.%s" % (base, a.name) for a in node.names)
    return out


def _files(target):
    pkg = HOST.parent.joinpath(*target.split("."))
    return sorted(pkg.rglob("*.py")) if pkg.is_dir() else [pkg.with_suffix(".py")]


def _covers(banned, name):
    return name == banned or name.startswith(banned + ".")


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_imports_nothing_above_it(layer):
    files = _files(layer)
    assert files and all(f.exists() for f in files), layer
    wrong = ["%s imports %s" % (f.relative_to(HOST.parent), name)
             for f in files for name in sorted(imports(f)) if any(_covers(b, name) for b in RULES[layer])]
    assert not wrong, "\n".join(wrong)


def test_the_reader_sees_relative_and_nested_imports():
    # the rules above would pass vacuously if imports() missed these forms
    got = imports(HOST / "report" / "contact.py")
    assert "tester.report.page" in got and "tester.firmware.spec5861" in got
    got = imports(HOST / "commands" / "common.py")
    assert "tester.records.base.atomic_write" in got  # imported inside a function
