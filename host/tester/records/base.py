"""What every result record shares, and how it is written.

A record is data (OpenHTF style): measurements carry their limits, units and conditions; it is
rendered later. Field names are stable (SCHEMA_VERSION changes when one does). Files are written
atomically (temp file, then rename), 0644 in 0755 directories, and a command that ends early
still leaves a record with `complete: false` and the reason in `error`.
"""

import json
import os
import platform
import socket
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from tester.exitcodes import OutputError

SCHEMA_VERSION = 1
RECORD_NAME = "record.json"

# Result files are read by other users (MES collectors): whatever the umask or mkstemp's 0600.
FILE_MODE = 0o644
DIR_MODE = 0o755


def utc_now():
    return datetime.now(timezone.utc)


def iso(dt):
    return dt.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text):
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def host_info():
    from tester import __version__

    return {"tester_version": __version__, "hostname": socket.gethostname(), "python": platform.python_version()}


class Record:
    """The fields every record starts with and its files: record.json and, beside it, the CSV a
    subclass names (CSV_NAME) and writes (csv_text)."""

    CSV_NAME = None
    JSON_INDENT = 2

    def __init__(self, kind, positions, simulated, serial=None, lot=None, operator=None, started=None):
        self.started_dt = started or utc_now()
        self.data = {
            "schema": SCHEMA_VERSION,
            "kind": kind,
            "verdict": None,
            "simulated": bool(simulated),
            "complete": False,
            "error": None,
            "positions": positions,
            "serial": serial,
            "lot": lot,
            "operator": operator,
            "started": iso(self.started_dt),
            "duration_s": None,
            "firmware": {},
            "fixture": {},
            "host": host_info(),
            "scenario": None,
        }

    def __getitem__(self, k):
        return self.data[k]

    def set_fixture(self, hello, info):
        """What the fixture said in its hello (`info`: tester.fixture.Fixture.info())."""
        self.data["firmware"] = {"version": hello.get("firmware"), "protocol": hello.get("protocol")}
        self.data["fixture"] = {k: info.get(k) for k in ("id", "board", "uid", "port", "max_positions")}
        self.data["simulated"] = self.data["simulated"] or bool(hello.get("simulated"))

    def set_scenario(self, scenario):
        """The simulated connector measured (tester.scenario.Scenario), kept whole."""
        if scenario is not None:
            self.data["scenario"] = {"path": scenario.path, "content": scenario.text, "normalized": scenario.sim,
                                     "link": scenario.link}

    def to_json(self):
        return json.dumps(self.data, indent=self.JSON_INDENT, sort_keys=False, default=str)

    def csv_text(self):
        raise NotImplementedError

    def write(self, directory):
        directory = make_dirs(directory)
        atomic_write(directory / RECORD_NAME, self.to_json() + "\n")
        atomic_write(directory / self.CSV_NAME, self.csv_text())
        return directory


def write_or_rescue(write, directory, what="record"):
    """Call write(directory). If the disk refuses (full, gone, read-only), write the same into a
    rescue directory under the system's temp dir instead and raise OutputError naming both, so
    what was measured is kept where possible. Returns the directory written."""
    try:
        return write(directory)
    except OSError as e:
        first = e
    rescue = Path(tempfile.gettempdir()) / "tester-rescue" / Path(directory).name
    try:
        write(rescue)
        kept = "the %s was written to %s instead" % (what, rescue)
    except OSError as e:
        kept = "the %s could not be written anywhere (%s)" % (what, e)
        rescue = None
    err = OutputError("cannot write the %s in %s: %s; %s" % (what, directory, first.strerror or first, kept))
    err.rescue_dir = rescue
    raise err


def result_dir_name(started, serial, fixture_id, simulated):
    ts = started.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    parts = [ts, _safe(serial) if serial else "noserial", _safe(fixture_id or "unknown")]
    if simulated:
        parts.append("SIMULATED")
    return "-".join(parts)


def make_dirs(directory):
    """mkdir -p, each directory it creates 0755."""
    directory = Path(directory)
    missing = []
    d = directory
    while not d.exists():
        missing.append(d)
        if d.parent == d:
            break
        d = d.parent
    for d in reversed(missing):
        try:
            d.mkdir()
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)
    if not directory.is_dir():
        raise NotADirectoryError(20, "not a directory", str(directory))
    return directory


def write_text(path, text):
    """A small side file (sim.log): written, then 0644."""
    Path(path).write_text(text)
    os.chmod(path, FILE_MODE)


def atomic_write(path, text):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=str(path.parent))
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _safe(s):
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in str(s))
