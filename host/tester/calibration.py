"""The host's side of the fixture calibration: dates, and the copy every calibration leaves on
the host.

Dates are integers YYYYMMDD, as the fixture stores them. The fixture has no clock: the host
sends today's date with every RUN (`date=`) and the fixture compares it with the calibration's
due date (firmware/fixture_store.py).

Host copies: <data dir>/calibrations/<fixture_id>/<date>-<calibration id>.json, where the data
dir is $XDG_DATA_HOME/tester (default ~/.local/share/tester) unless --cal-dir is given. One file
per calibration with what the fixture measured (each position's coupon reading, each reference),
what it stored (gain, bulk per position, date, due, CRC id) and whether it was simulated.
"""

import datetime
import json
import os
import re
from pathlib import Path

DEFAULT_DUE_DAYS = 90


def today(d=None):
    d = d or datetime.date.today()
    return d.year * 10000 + d.month * 100 + d.day


def add_days(yyyymmdd, days):
    d = datetime.date(yyyymmdd // 10000, yyyymmdd // 100 % 100, yyyymmdd % 100)
    return today(d + datetime.timedelta(days=days))


def data_dir():
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "tester"


def save_copy(doc, cal_dir=None):
    """Write the host copy; returns its path."""
    base = Path(cal_dir) if cal_dir else data_dir() / "calibrations"
    fid = re.sub(r"[^A-Za-z0-9._-]", "_", str(doc.get("fixture_id") or "unknown"))
    cal = doc.get("calibration") or {}
    d = base / fid
    d.mkdir(parents=True, exist_ok=True)
    p = d / ("%s-%s%s.json" % (cal.get("date"), cal.get("id"), "-SIMULATED" if doc.get("simulated") else ""))
    p.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return p


def describe(cal):
    """One line for people: 'valid, id 1a2b3c4d, 20260101 due 20260401, gain 1.000012'."""
    if not cal:
        return "unknown"
    s = cal.get("state", "?")
    if cal.get("id"):
        s += ", id %s, made %s, due %s, gain %.6f" % (cal["id"], cal.get("date"), cal.get("due"), cal.get("gain", 0.0))
        if cal.get("simulated"):
            s += " (SIMULATED)"
    return s
