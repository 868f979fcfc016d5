"""Where the firmware tree is, the modules the host shares with it (one home each), and what the
device's flash filesystem holds: one definition, which `tester flash` deploys (tester.deploy), the
simulated fixture is staged with (tester.sim.launcher) and the tests and tools import the firmware
by (tester.sim.interpreter)."""

import ast
import contextlib
import importlib
import importlib.util
import sys
from pathlib import Path, PurePosixPath

import tester_firmware
from tester_firmware import protocol, spec5861  # noqa: F401  (re-exported)

FIRMWARE_DIR = Path(next(iter(tester_firmware.__path__)))
REPO_DIR = FIRMWARE_DIR.parent
BOARDS_DIR = REPO_DIR / "boards"

# The device's flash filesystem, made of a firmware tree and a board profile:
#
#   /main.py            what MicroPython runs after a reset (the application's entry)
#   /<module>.py        every other top-level module of the tree
#   /<package>/...      each folder of the tree, always whole: a folder on the filesystem hides
#                       the frozen package of that name (the filesystem comes first on sys.path),
#                       so a partial one would break the boot (tester.deploy stages and swaps it)
#   /event_merge.mpy    NATIVE: @micropython.viper code, compiled for the RP2040 (mpy-cross
#                       -march=armv6m) and never frozen (frozen viper ran away on v1.28.0); the
#                       simulated board (the unix port cannot import armv6m code) gets the .py
#   /board.py           the board's pin profile, boards/<board>/board.py
#
# Caches, hidden files and *.egg-info are not part of it; the deploy's manifest
# (/deployed.json) is written by the device itself.
#
# What the firmware itself writes there is data, not code (DEVICE_DATA): /config.json (what START
# runs, app.CONFIG_FILE) and /kept/ (START runs kept for a host to collect, kept_runs.DIR). A
# deploy never copies, prunes or removes them (it touches the files above, their packages'
# folders and /deployed.json only), and no firmware file may take their names.
ENTRY = "main.py"
DEVICE_DATA = ("config.json", "kept")
NATIVE = ("event_merge.py",)
BOARD_PROFILE = "board.py"
TARGETS = ("rp2", "unix")  # a real RP2040, the simulated board


def _ignored(rel):
    return any(part.startswith(".") or part == "__pycache__" or part.endswith(".egg-info") for part in rel.parts)


def device_files(source=FIRMWARE_DIR, board="fixture_v1", target="rp2"):
    """[(local path, device path)] of everything on the device's filesystem, the board profile
    last. A native module for "rp2" is listed as (its .py, "<name>.mpy"): the deploy compiles it.
    ValueError for an unknown target, FileNotFoundError for a missing board profile."""
    if target not in TARGETS:
        raise ValueError("unknown target %r (%s)" % (target, ", ".join(TARGETS)))
    source = Path(source)
    files = []
    for p in sorted(source.rglob("*.py")):
        rel = p.relative_to(source)
        if _ignored(rel):
            continue
        dev = rel.as_posix()
        if dev.split("/", 1)[0] in DEVICE_DATA or dev.split("/", 1)[0][:-3] in DEVICE_DATA:
            raise ValueError("%s would be /%s on the device, which holds the device's own data" % (p, dev))
        if target == "rp2" and dev in NATIVE:
            dev = dev[:-3] + ".mpy"
        files.append((p, dev))
    profile = BOARDS_DIR / board / BOARD_PROFILE
    if not profile.exists():
        raise FileNotFoundError("no board profile %s" % profile)
    files.append((profile, BOARD_PROFILE))
    return files


def packages(files):
    """The packages (top-level folders) of a device file list: each is deployed whole."""
    return sorted({dev.split("/", 1)[0] for _, dev in files if "/" in dev})


def import_path(board="fixture_v1"):
    """The folders the firmware imports from when it runs in place, on the simulated board (tests,
    tools): each file of the device's filesystem lies at its device path under one of them, so
    the firmware finds its modules exactly as on the device (the folders hold other files too,
    which the firmware does not import)."""
    roots = []
    for loc, dev in device_files(FIRMWARE_DIR, board, target="unix"):
        root = Path(loc).parents[len(PurePosixPath(dev).parts) - 1]
        if root / dev != Path(loc):  # a file renamed on its way to the device: stage it instead
            raise ValueError("%s is /%s on the device: not importable in place" % (loc, dev))
        if root not in roots:
            roots.append(root)
    return roots


def protocol_of(source=FIRMWARE_DIR):
    """The `protocol` module of a firmware tree: this tester's own (tester_firmware.protocol) or,
    for another tree (`tester flash --source`), that tree's protocol.py imported apart (it runs on
    CPython by design). OSError if it has none; whatever it raises if it does not import."""
    source = Path(source)
    if source.resolve() == FIRMWARE_DIR.resolve():
        return protocol
    path = source / "protocol.py"
    if not path.is_file():
        raise FileNotFoundError("%s: no protocol.py" % source)
    spec = importlib.util.spec_from_file_location("_tester_firmware_source_protocol", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@contextlib.contextmanager
def _device_names(path):
    """While device code at `path` is imported on the host: the firmware's top-level modules it
    imports by their bare names (`from analog_board import *`, as on the device's filesystem)
    are tester_firmware's."""
    tops = {dev[:-3] for _, dev in device_files(target="unix") if "/" not in dev and dev.endswith(".py")}
    wanted = set()
    for n in ast.walk(ast.parse(Path(path).read_text())):
        if isinstance(n, ast.ImportFrom) and n.level == 0:
            wanted.add(n.module.split(".")[0])
        elif isinstance(n, ast.Import):
            wanted.update(a.name.split(".")[0] for a in n.names)
    added = [name for name in sorted(wanted & tops) if name not in sys.modules]
    for name in added:
        sys.modules[name] = importlib.import_module("tester_firmware." + name)
    try:
        yield
    finally:
        for name in added:
            sys.modules.pop(name, None)


def board_profile(board="fixture_v1"):
    """boards/<board>/board.py, the board's pin profile (device code that also runs on CPython),
    imported as a module of its own. FileNotFoundError if there is no such board."""
    path = BOARDS_DIR / board / BOARD_PROFILE
    if not path.is_file():
        raise FileNotFoundError("no board profile %s" % path)
    spec = importlib.util.spec_from_file_location("_tester_board_profile_" + board, path)
    mod = importlib.util.module_from_spec(spec)
    with _device_names(path):
        spec.loader.exec_module(mod)
    return mod
