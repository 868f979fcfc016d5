"""Deploying the firmware onto a fixture with mpremote (the real tool, as a production engineer
would type it), and checking what it then runs.

What goes on the device's flash filesystem:

    /main.py /app.py ... /drivers/*.py   the firmware tree (firmware/, no caches)
    /board.py                            the board's pin profile (boards/<board>/board.py)
    /deployed.json                       written LAST: version, board, sha256 of every file.
                                         Removed first, so a deploy that dies half-way leaves
                                         no manifest: the next deploy sees it and copies again.

One mpremote invocation copies everything (`fs cp` skips a file whose sha256 on the device is
the same: an unchanged file costs a hash, not a copy; a file left half-written by a dropped link
differs and is copied again), then `reset` starts the new firmware (a soft reset would not run
main.py). The fixture's EEPROM (identity, calibration, cycle counter) is not touched by a deploy.
"""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tester.exitcodes import FixtureError
from tester.firmware import BOARDS_DIR, FIRMWARE_DIR

MANIFEST = "deployed.json"
MPREMOTE_TIMEOUT_S = 180


class DeployError(FixtureError):
    pass


def mpremote_exe():
    exe = Path(sys.executable).parent / "mpremote"
    if exe.exists():
        return str(exe)
    found = shutil.which("mpremote")
    if not found:
        raise DeployError("mpremote is not installed (pip install mpremote)")
    return found


def firmware_version(source=FIRMWARE_DIR):
    """FIRMWARE_VERSION and PROTOCOL_VERSION of a firmware tree (read, not imported)."""
    text = (Path(source) / "protocol.py").read_text()
    fw = re.search(r'^FIRMWARE_VERSION\s*=\s*"([^"]+)"', text, re.M)
    pr = re.search(r"^PROTOCOL_VERSION\s*=\s*(\d+)", text, re.M)
    if not fw or not pr:
        raise DeployError("%s/protocol.py names no FIRMWARE_VERSION / PROTOCOL_VERSION" % source)
    return fw.group(1), int(pr.group(1))


def plan(source=FIRMWARE_DIR, board="fixture_v1"):
    """[(local path, device path)] of everything a deploy copies (the manifest excluded)."""
    source = Path(source)
    files = []
    for p in sorted(source.rglob("*.py")):
        rel = p.relative_to(source)
        if any(part.startswith(".") or part == "__pycache__" or part.endswith(".egg-info") for part in rel.parts):
            continue
        files.append((p, rel.as_posix()))
    bp = BOARDS_DIR / board / "board.py"
    if not bp.exists():
        raise DeployError("no board profile %s" % bp)
    files.append((bp, "board.py"))
    return files


def manifest(files, source, board):
    fw, pr = firmware_version(source)
    return {
        "firmware": fw,
        "protocol": pr,
        "board": board,
        "files": {dev: hashlib.sha256(Path(loc).read_bytes()).hexdigest() for loc, dev in files},
    }


_PREP = """import os
try:
    os.remove('%s')
except OSError:
    pass
for d in %r:
    try:
        os.mkdir(d)
    except OSError:
        pass
"""


def deploy_argv(port, files, manifest_path, resume=False):
    """The mpremote command line of a deploy (without the reset)."""
    argv = [mpremote_exe(), "connect", port]
    if resume:
        argv.append("resume")  # the unix-port REPL of the simulated fixture has no soft reset
    dirs = sorted({str(Path(dev).parent) for _, dev in files} - {"."}, key=lambda d: d.count("/"))
    argv += ["exec", _PREP % (MANIFEST, dirs)]
    for loc, dev in files:
        argv += ["+", "fs", "cp", str(loc), ":" + dev]
    argv += ["+", "fs", "cp", str(manifest_path), ":" + MANIFEST]
    return argv


def run_mpremote(argv, timeout=MPREMOTE_TIMEOUT_S):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeployError("mpremote did not finish within %d s: %s" % (timeout, " ".join(argv[:4])))
    return r


def deploy(port, source=FIRMWARE_DIR, board="fixture_v1", resume=False, workdir=None):
    """Copy the firmware to the fixture on `port` and reset it. Returns a report dict:
    copied (device paths written), unchanged (skipped, same hash), version, protocol.
    Raises DeployError (exit 3) naming what was done when mpremote fails half-way."""
    import tempfile

    files = plan(source, board)
    man = manifest(files, source, board)
    tmp = Path(workdir or tempfile.mkdtemp(prefix="tester-deploy-"))
    mpath = tmp / MANIFEST
    mpath.write_text(json.dumps(man, indent=1, sort_keys=True))
    argv = deploy_argv(port, files, mpath, resume=resume)
    r = run_mpremote(argv)
    out = r.stdout + r.stderr
    unchanged = re.findall(r"Up to date: (\S+)", out)
    copied_lines = re.findall(r"^cp \S+ :(\S+)$", r.stdout, re.M)
    copied = [d for d in copied_lines if d not in unchanged and d != MANIFEST]
    report = {
        "port": port,
        "firmware": man["firmware"],
        "protocol": man["protocol"],
        "board": board,
        "files": len(files),
        "copied": copied,
        "unchanged": unchanged,
        "command": " ".join(argv[:3] + (["resume"] if resume else []) + ["exec", "...", "+", "fs", "cp", "..."]),
    }
    if r.returncode != 0:
        done = len(copied_lines)
        tail = "\n".join(out.strip().splitlines()[-3:])
        raise DeployError(
            "the deploy to %s failed after %d of %d files (mpremote exit %d):\n  %s\n"
            "The fixture now holds a partial firmware (no %s). Reconnect it and run the same "
            "`tester flash` again: unchanged files are skipped, the rest is copied."
            % (port, max(0, done - 1), len(files) + 1, r.returncode, tail.replace("\n", "\n  "), MANIFEST)
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
