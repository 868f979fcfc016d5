"""`tester history`, `yield`, `drift`, `export`, `import`: questions asked of the history
database that run/monitor/vibration/shock fill (tester.history)."""

import json
import sys

from tester import exitcodes
from tester.commands import add_command
from tester.exitcodes import UsageError
from tester.firmware import protocol

DB_HELP = "history database: a SQLite file or a postgresql:// URL (default $TESTER_DB, else SQLite in the user's data directory)"


def add_db_arg(p):
    p.add_argument("--db", metavar="PATH|URL", help=DB_HELP)


def _filters(p):
    p.add_argument("--serial", metavar="SN")
    p.add_argument("--lot", metavar="LOT")
    p.add_argument("--fixture", metavar="ID", help="fixture id (FX-...)")
    p.add_argument("--since", metavar="DATE", help="YYYY-MM-DD or an ISO time (UTC)")
    p.add_argument("--verdict", metavar="V", type=str.upper, choices=protocol.VERDICTS)
    p.add_argument("--kind", choices=("run", "monitor", "vibration", "shock"))


def _simulated(p, default):
    p.add_argument("--simulated", choices=("apart", "exclude", "only", "mix"), default=default,
                   help="simulated runs: in a section of their own (apart), left out, alone, or mixed with real ones "
                        "(default %(default)s)")


HISTORY_DESCRIPTION = """\
A table of the runs stored in the history database, newest first, with what failed in each;
filtered by serial, lot, fixture, time, verdict or kind.

examples:
  tester history --lot L7 --verdict FAIL
  tester history --serial SN-0001 --json"""

YIELD_DESCRIPTION = """\
First-pass yield: each connector (serial) counted once, by its first judged run (PASS or
FAIL; runs that ended ERROR or ABORTED are counted apart), by lot, day or fixture, with the
Pareto of the failing first passes by fault and by pin (most frequent first, with the
cumulative share). Simulated runs are a section of their own unless --simulated says otherwise;
the contact resistance runs inside a vibration procedure are not first passes.

examples:
  tester yield --lot L7 --by day
  tester yield --since 2026-03-01 --by fixture --json"""

DRIFT_DESCRIPTION = """\
Per pin and anchor plate over a fixture's runs: mean, sigma, control limits mean +- 3 sigma,
Cpk against the spec's limit and the slope per day; RISING when a pin's resistance climbs
significantly (a test board wearing, a process change) before anything fails. --pin lists
every point of that pin's control chart.

examples:
  tester drift --fixture FX-035a4c2b
  tester drift --fixture FX-035a4c2b --pin 12"""

EXPORT_DESCRIPTION = """\
Runs, measurements or events of the history database as CSV (stdout, or --out) or Parquet:
one row per run, measurement or event, with its run's serial, lot, fixture and time; the
columns keep the record's field names (r_mohm, u_mohm, verdict, fault, ...).

examples:
  tester export --lot L7 > l7.csv
  tester export --format parquet --what events --out events.parquet --since 2026-03-01"""

IMPORT_DESCRIPTION = """\
Store result directories (or folders of them, searched) in the history database: a record a
command could not store when the database was out of reach, or another station's results.
Idempotent: a record stored twice is one run, a newer version of it replaces the older. Exit
code 3 when a directory holds no readable record (the others are stored).

examples:
  tester import results/
  tester import --db postgresql://tester@db/line1 /mnt/station7/results"""


def add_parser(sub):
    h = add_command(sub, "history", "a table of stored runs", HISTORY_DESCRIPTION, func=cmd_history)
    _filters(h)
    h.add_argument("--limit", type=int, default=50, help="at most this many, newest first (default %(default)s)")
    h.add_argument("--json", action="store_true")
    add_db_arg(h)

    y = add_command(sub, "yield", "first-pass yield and Pareto by lot, day or fixture",
                    YIELD_DESCRIPTION, func=cmd_yield)
    y.add_argument("--lot", metavar="LOT")
    y.add_argument("--fixture", metavar="ID")
    y.add_argument("--since", metavar="DATE")
    y.add_argument("--by", choices=("lot", "day", "fixture"), default="lot")
    y.add_argument("--top", type=int, default=10, help="pins in the Pareto (default %(default)s)")
    _simulated(y, "apart")
    y.add_argument("--json", action="store_true")
    add_db_arg(y)

    d = add_command(sub, "drift", "per pin: mean, control limits, Cpk, rising trend",
                    DRIFT_DESCRIPTION, func=cmd_drift)
    d.add_argument("--fixture", metavar="ID", required=True)
    d.add_argument("--pin", type=int, metavar="N", help="one pin, with every point of its control chart")
    d.add_argument("--anchor", type=int, choices=(1, 2), help="one anchor plate")
    d.add_argument("--since", metavar="DATE")
    _simulated(d, "apart")
    d.add_argument("--json", action="store_true")
    add_db_arg(d)

    e = add_command(sub, "export", "runs, measurements or events as CSV or Parquet",
                    EXPORT_DESCRIPTION, func=cmd_export)
    e.add_argument("--format", choices=("csv", "parquet"), default="csv")
    e.add_argument("--what", choices=("measurements", "runs", "events"), default="measurements")
    e.add_argument("--out", metavar="FILE", help="default: stdout for csv; required for parquet")
    _filters(e)
    _simulated(e, "mix")
    add_db_arg(e)

    i = add_command(sub, "import", "store result directories in the history (idempotent)",
                    IMPORT_DESCRIPTION, func=cmd_import)
    i.add_argument("dirs", nargs="+", metavar="DIR", help="a result directory, or a folder of them (searched)")
    add_db_arg(i)
    return h


def _engine(args):
    from tester.history import db

    try:
        return db.open_db(args.db)
    except Exception as e:  # noqa: BLE001 - whatever the driver raises, one line
        from tester.exitcodes import FixtureError

        raise FixtureError("history database %s: %s" % (db.describe(db.resolve_url(args.db)), str(e).splitlines()[0]))


def _sim_label(sim):
    return {None: "real and simulated", False: "real", True: "SIMULATED"}[sim]


def _t(dt):
    return dt.strftime("%Y-%m-%d %H:%M:%S") if dt else "-"


def _json_out(obj):
    sys.stdout.write(json.dumps(obj, indent=1, default=str) + "\n")


def cmd_history(args):
    from tester.history import queries

    rows = queries.history(_engine(args), args.serial, args.lot, args.fixture, args.since, args.verdict, args.kind, args.limit)
    if args.json:
        _json_out(rows)
        return 0
    print("%-19s %-9s %-7s %-12s %-8s %-12s %-8s %s" % ("started (UTC)", "kind", "verdict", "serial", "lot", "fixture", "stage", "failed"))
    for r in rows:
        print("%-19s %-9s %-7s %-12s %-8s %-12s %-8s %s%s" % (
            _t(r["started"]), r["kind"], r["verdict"] or "-", r["serial"] or "-", r["lot"] or "-", r["fixture_id"] or "-",
            r["stage"] or "-", ", ".join(r["failed"][:6]) + (" ..." if len(r["failed"]) > 6 else ""),
            "  SIMULATED" if r["simulated"] else ""))
    print("%d run(s)" % len(rows))
    return 0


def cmd_yield(args):
    from tester.history import queries

    sections = queries.yield_report(_engine(args), args.lot, args.by, args.fixture, args.since, args.simulated, args.top)
    if args.json:
        _json_out(sections)
        return 0
    if not sections:
        print("no contact resistance runs stored%s" % (" (simulated runs: --simulated apart|only|mix)" if args.simulated == "exclude" else ""))
    for s in sections:
        print("First-pass yield, %s runs, by %s" % (_sim_label(s["simulated"]), s["by"]))
        print("  %-20s %6s %6s %6s %7s" % (s["by"], "units", "pass", "fail", "FPY"))
        for g in s["groups"]:
            print("  %-20s %6d %6d %6d %6.1f%%" % (g["group"] or "(none)", g["units"], g["passed"], g["failed"], 100 * g["fpy"]))
        t = s["total"]
        if t["units"]:
            print("  %-20s %6d %6d %6d %6.1f%%" % ("total", t["units"], t["passed"], t["failed"], 100 * t["fpy"]))
        if s["unjudged"]:
            print("  (%d run(s) ended ERROR or ABORTED: not counted)" % s["unjudged"])
        if s["by_fault"]:
            print("  failures by fault (first-pass failing runs):")
            for f in s["by_fault"]:
                print("    %-10s %5d  %5.1f%%" % (f["fault"], f["count"], 100 * f["cumulative"]))
        if s["by_pin"]:
            print("  failures by pin:")
            for f in s["by_pin"]:
                print("    %-18s %5d  %5.1f%%" % (f["position"], f["count"], 100 * f["cumulative"]))
        print()
    return 0


def _f(v, fmt="%.3f"):
    return "-" if v is None else fmt % v


def cmd_drift(args):
    from tester.history import queries

    sections = queries.drift(_engine(args), args.fixture, args.pin, args.anchor, args.since, args.simulated)
    if args.json:
        _json_out(sections)
        return 0
    if not sections:
        print("no measurements of fixture %s stored" % args.fixture)
    for s in sections:
        print("Drift of fixture %s, %s runs (control limits mean +- 3 sigma; Cpk against the spec limit)" % (s["fixture"], _sim_label(s["simulated"])))
        print("  %-20s %5s %8s %7s %8s %8s %6s %7s %9s %6s" % ("position", "n", "mean", "sigma", "LCL", "UCL", "limit", "Cpk", "mOhm/day", "t"))
        for p in s["pins"]:
            print("  %-20s %5d %8s %7s %8s %8s %6.0f %7s %9s %6s%s" % (
                p["position"], p["n"], _f(p["mean"]), _f(p["sigma"]), _f(p["lcl"]), _f(p["ucl"]), p["limit"], _f(p["cpk"], "%.2f"),
                _f(p["slope_per_day"], "%.3g"), _f(p["slope_t"], "%.1f"), "  RISING" if p["rising"] else ""))
            for x in p.get("series") or []:
                print("    %s  %8.3f%s" % (_t(x["t"]), x["r_mohm"], "  outside control limits" if x["out_of_control"] else ""))
        if s["rising"]:
            print("  rising: %s (t >= %.0f, rise >= %.0f%% of the limit)" % (", ".join(s["rising"]), queries.RISING_T,
                                                                          100 * queries.RISING_MIN_FRACTION_OF_LIMIT))
        print()
    return 0


def cmd_export(args):
    from tester.history import export

    if args.format == "parquet" and not args.out:
        raise UsageError("--format parquet needs --out FILE")
    engine = _engine(args)
    q, fields = export.select(args.what, args.serial, args.lot, args.fixture, args.since, args.verdict, args.kind, args.simulated)
    if args.format == "parquet":
        n = export.write_parquet(engine, q, fields, args.out)
    elif args.out:
        with open(args.out, "w", newline="", encoding="utf-8") as f:
            n = export.write_csv(engine, q, fields, f)
    else:
        n = export.write_csv(engine, q, fields, sys.stdout)
    print("%d row(s) of %s exported%s" % (n, args.what, " to %s" % args.out if args.out else ""), file=sys.stderr)
    return 0


def cmd_import(args):
    from tester.history import store

    engine = _engine(args)
    try:
        dirs = store.find_result_dirs(args.dirs)
    except OSError as e:
        raise UsageError("%s: %s" % (e.filename, e.strerror))
    counts = {"stored": 0, "unchanged": 0, "updated": 0, "failed": 0}
    for d in dirs:
        try:
            for _, _, status in store.store_dir(engine, d):
                counts[status] += 1
        except (OSError, ValueError, KeyError, TypeError) as e:
            counts["failed"] += 1
            print("tester import: %s: not a readable record (%s)" % (d, e), file=sys.stderr)
    print("imported from %d director%s: %d stored, %d updated, %d already there, %d unreadable" % (
        len(dirs), "y" if len(dirs) == 1 else "ies", counts["stored"], counts["updated"], counts["unchanged"], counts["failed"]))
    return exitcodes.FIXTURE if counts["failed"] else 0
