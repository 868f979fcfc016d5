"""`tester report`: one self-contained HTML page for a stored run or a result directory, a lot's
yield or a fixture's drift (tester.report draws it; tester.history answers the queries)."""

import json
import os
from pathlib import Path

from tester.commands import add_command
from tester.exitcodes import FixtureError, UsageError
from tester.records.base import RECORD_NAME


DESCRIPTION = """\
One self-contained HTML page (inline SVG plots, no script, nothing fetched: it opens offline
and prints) of a result directory or a stored run (its id, or a unique prefix of it), of a
lot's first-pass yield and Pareto, or of a fixture's drift (a control chart per pin). A
simulated result says SIMULATED on screen and on every printed page.

usage forms:
  tester report RUN|DIR [--out FILE.html] | --lot L | --drift --fixture F [--pin N]
examples:
  tester report results/<dir>                    writes <dir>/report.html
  tester report 3fa9c2 --out r.html
  tester report --lot L7
  tester report --drift --fixture FX-035a4c2b"""


def add_parser(sub):
    p = add_command(sub, "report", "an HTML report of a run, a lot or a fixture's drift",
                    DESCRIPTION, func=cmd_report)
    p.add_argument("what", nargs="?", metavar="RUN|DIR", help="a result directory (with record.json), or a stored run's id (or a unique prefix)")
    p.add_argument("--lot", metavar="LOT", help="first-pass yield and Pareto of this lot")
    p.add_argument("--drift", action="store_true", help="control charts per pin of a fixture (with --fixture)")
    p.add_argument("--fixture", metavar="ID", help="with --drift: the fixture id (FX-...)")
    p.add_argument("--pin", type=int, metavar="N", help="with --drift: one pin")
    p.add_argument("--simulated", choices=("apart", "exclude", "only", "mix"), default="apart",
                   help="lot and drift: simulated runs in a section of their own (default), left out, alone or mixed")
    p.add_argument("--out", metavar="FILE.html", help="default: report.html in DIR, else report-<what>.html here")
    p.add_argument("--db", metavar="PATH|URL", help="history database (default $TESTER_DB, else SQLite in the user's data directory)")
    return p


def _engine(args):
    from tester.history import db

    try:
        return db.open_db(args.db)
    except Exception as e:  # noqa: BLE001 - whatever the driver raises, one line
        raise FixtureError("history database %s: %s" % (db.describe(db.resolve_url(args.db)), str(e).splitlines()[0]))


def _read_dir(path):
    f = Path(path) / RECORD_NAME
    try:
        return json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError("%s: not a readable record (%s)" % (f, e))


def _stored(args, run):
    """(record, stages) of a stored run: its id or a unique prefix of it."""
    import sqlalchemy as sa

    from tester.history import schema

    R = schema.runs
    with _engine(args).connect() as conn:
        rows = conn.execute(sa.select(R.c.id, R.c.record).where(R.c.id.like(run.replace("%", "") + "%")).limit(2)).all()
        if not rows:
            raise UsageError("%s: no such result directory, and no stored run with that id" % run)
        if len(rows) > 1:
            raise UsageError("%s: several stored runs start with that; give more of the id" % run)
        rid, record = rows[0]
        stages = {}
        for (child,) in conn.execute(sa.select(R.c.record).where(R.c.parent_id == rid)):
            child = json.loads(child) if isinstance(child, str) else child
            if child.get("stage"):
                stages[child["stage"]] = child
    return (json.loads(record) if isinstance(record, str) else record), stages


def _write(html, out):
    out = Path(out)
    try:
        tmp = out.with_name(out.name + ".part")
        tmp.write_text(html, encoding="utf-8")
        os.chmod(tmp, 0o644)
        tmp.replace(out)
    except OSError as e:
        raise UsageError("--out %s: %s" % (out, e.strerror or e))
    print(str(out))
    return 0


def cmd_report(args):
    from tester import report

    chosen = [bool(args.what), bool(args.lot), bool(args.drift)]
    if sum(chosen) != 1:
        raise UsageError("give one of: RUN|DIR, --lot L, --drift --fixture F")
    if args.drift:
        if not args.fixture:
            raise UsageError("--drift needs --fixture F")
        from tester.history import queries

        data = queries.drift(_engine(args), args.fixture, pin=args.pin, simulated=args.simulated, series=True)
        return _write(report.render_drift(data, args.fixture), args.out or "report-drift-%s.html" % args.fixture)
    if args.lot:
        from tester.history import queries

        data = queries.yield_report(_engine(args), lot=args.lot, simulated=args.simulated)
        return _write(report.render_lot(data, args.lot), args.out or "report-lot-%s.html" % args.lot)
    path = Path(args.what)
    if path.is_dir():
        record = _read_dir(path)
        return _write(report.render(record, directory=path), args.out or path / "report.html")
    if os.sep in args.what or not args.what.strip():
        raise UsageError("%s: no such result directory" % args.what)
    record, stages = _stored(args, args.what)
    return _write(report.render(record, stages=stages), args.out or "report-%s.html" % args.what[:12])

