"""Check hardware/bom.csv: every quantity equals its rule (qty_rule, evaluated against the
firmware's relay_map / channel_map and board.py), every part has a manufacturer, MPN and reason.

    python -m hardware.tools.bom      # prints the check, exit 1 on a mismatch
"""

import csv
import sys

from . import common

BOM = common.HARDWARE / "bom.csv"
COLUMNS = ["ref", "qty", "manufacturer", "mpn", "description", "reason", "qty_rule"]


def monitor_link_relays(cm, bd):
    """Relays of the monitor link array at the fixture's largest position count: a chain of k
    members needs k-1 links between them plus one at each end (source side, comparator side)."""
    chans = cm.channels(bd.MAX_POSITIONS, bd.EVENT_CHANNELS, bd.REF_CHANNEL)
    return sum(len(members) + 1 for _, members in chans)


def rows():
    with open(BOM, newline="") as f:
        return list(csv.DictReader(f))


def problems(bom_rows=None):
    rm, cm, bd = common.relay_map(), common.channel_map(), common.board()
    env = {"relay_map": rm, "channel_map": cm, "board": bd, "len": len, "monitor_link_relays": monitor_link_relays(cm, bd)}
    out = []
    bom_rows = rows() if bom_rows is None else bom_rows
    for r in bom_rows:
        if list(r.keys()) != COLUMNS:
            out.append("%s: columns %s, expected %s" % (r.get("ref"), list(r.keys()), COLUMNS))
            continue
        for col in ("manufacturer", "mpn", "description", "reason"):
            if not r[col].strip():
                out.append("%s: empty %s" % (r["ref"], col))
        want = eval(r["qty_rule"], {"__builtins__": {}}, env)
        if int(r["qty"]) != want:
            out.append("%s (%s): qty %s but %s = %d" % (r["ref"], r["mpn"], r["qty"], r["qty_rule"], want))
        refs = r["ref"]
        if "-" in refs:
            a, b = refs.split("-")
            prefix = a.rstrip("0123456789")
            n = int(b[len(prefix):]) - int(a[len(prefix):]) + 1
            if n != int(r["qty"]):
                out.append("%s: designator range holds %d parts, qty %s" % (refs, n, r["qty"]))
    return out


def main():
    p = problems()
    for line in p:
        print("BOM:", line)
    print("BOM: %d lines, %s" % (len(rows()), "OK" if not p else "%d problems" % len(p)))
    return 1 if p else 0


if __name__ == "__main__":
    sys.exit(main())
