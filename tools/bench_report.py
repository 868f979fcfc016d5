"""`make bench`: the HTML report's render time per kind, measured now on this machine.

Records: real ones made by the tester CLI on the simulated fixture (scenarios/report-defects-40.toml:
every defect a report draws; the vibration procedure on scenarios/intermittent-40.toml), and a
lot of 30 runs (and their drift) stored in a throwaway SQLite history. Measured: wall time of
tester.report.render / render_lot / render_drift in this process (median of 3, after one warm-up
render so matplotlib's import and font cache are not counted: they are printed apart), and the
page's size. The browser is not involved.
"""

import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _timed(fn, runs=3):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main():
    t = time.perf_counter()
    from tester import report
    from tester.report import svg  # noqa: F401  (matplotlib)

    imported = time.perf_counter() - t
    import report_records

    print("report render time (tester.report; records from the simulated fixture, median of 3):")
    t = time.perf_counter()
    dirs = report_records.records()
    print("  (records made by the tester CLI in %.1f s; matplotlib and the report imported in %.2f s)" % (time.perf_counter() - t, imported))
    report.render(report_records.load("run"))  # warm-up: font cache, first figure
    for name in ("run", "monitor", "vibration", "shock"):
        rec = report_records.load(name)
        dt, html = _timed(lambda: report.render(rec, dirs[name]))
        extra = " (whole procedure: both contact resistance stages and 3 axes)" if name == "vibration" else ""
        print("  %-10s %6.0f ms  %5.0f KB%s" % (rec["kind"], dt * 1000, len(html) / 1024, extra))
    from tester.history import db as hdb
    from tester.history import queries, store

    with tempfile.TemporaryDirectory() as d:
        engine = hdb.open_db(str(Path(d) / "lot.db"))
        base = report_records.load("run")
        for rec in report_records.synthetic_lot(base, n=30):
            store.store(engine, rec)
        y = queries.yield_report(engine, lot="L7")
        dt, html = _timed(lambda: report.render_lot(y, "L7"))
        print("  %-10s %6.0f ms  %5.0f KB (30 runs)" % ("lot", dt * 1000, len(html) / 1024))
        dr = queries.drift(engine, base["fixture"]["id"], series=True)
        dt, html = _timed(lambda: report.render_drift(dr))
        print("  %-10s %6.0f ms  %5.0f KB (42 control charts, 30 runs each; the query not included)" % ("drift", dt * 1000, len(html) / 1024))
        hdb.dispose_all()


if __name__ == "__main__":
    main()
