"""README.md's layout table names every top-level folder and every module and package of the
host's `tester` package, one row each."""

import fnmatch
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = REPO / "host" / "tester"


def _rows():
    text = (REPO / "README.md").read_text()
    table = text[text.index("## Layout"):]
    table = table[:table.index("\n## ", 1)]
    return re.findall(r"^\| `([^`]+)` \|", table, re.M)


def _ignored(name):
    patterns = [p.strip().rstrip("/") for p in (REPO / ".gitignore").read_text().splitlines() if p.strip()]
    return any(fnmatch.fnmatch(name, p) for p in patterns)


def test_every_top_level_folder_has_a_row():
    rows = _rows()
    folders = [d.name for d in REPO.iterdir()
               if d.is_dir() and not _ignored(d.name) and (d.name == ".ci" or not d.name.startswith("."))]
    missing = [f for f in folders if f + "/" not in rows and not any(r.startswith(f + "/") for r in rows)]
    assert not missing, missing


def test_every_host_module_and_package_has_a_row():
    rows = set(_rows())
    names = ["tester/%s/" % d.name for d in HOST.iterdir() if d.is_dir() and (d / "__init__.py").exists()]
    names += ["tester/%s" % f.name for f in HOST.glob("*.py") if f.name != "__init__.py"]
    missing = sorted(n for n in names if n not in rows)
    assert not missing, missing
    stale = sorted(r for r in rows if r.startswith("tester/") and not (HOST.parent / r).exists())
    assert not stale, stale
