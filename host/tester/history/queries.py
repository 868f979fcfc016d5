"""The questions asked of the history: a table of runs, first-pass yield with its Pareto, drift
per pin. SQLAlchemy Core only (one text for SQLite and PostgreSQL); the statistics that are cheap
once the database has summed (sigma, slope, Cpk) are finished in Python."""

import math
from datetime import datetime, timezone

import sqlalchemy as sa

from tester.firmware import spec5861
from tester.history import schema

R, M, S = schema.runs, schema.measurements, schema.shorts
JUDGED = ("PASS", "FAIL")  # ERROR / ABORTED / INVALID runs say nothing about the connector
SIMULATED_MODES = ("apart", "exclude", "only", "mix")  # apart: real and simulated in separate sections
GROUPS = {"lot": R.c.lot, "day": R.c.day, "fixture": R.c.fixture_id}
# A pin drifts when its resistance rises with time, significantly (slope t >= RISING_T, from at
# least RISING_MIN_N runs) and by enough to matter (over the span, >= this fraction of its limit).
RISING_T = 4.0
RISING_MIN_N = 10
RISING_MIN_FRACTION_OF_LIMIT = 0.05
FLAT_RELATIVE = 1e-6  # a spread below this fraction of the mean is rounding (one-pass sums)


def since_s(text):
    """--since YYYY-MM-DD (UTC) or an ISO time -> epoch seconds."""
    if text is None:
        return None
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _sections(simulated):
    """The simulated values queried one section at a time: [False, True], [False], [True] or [None] (mixed)."""
    return {"apart": [False, True], "exclude": [False], "only": [True], "mix": [None]}[simulated]


def _ro(engine):
    return engine.connect().execution_options(readonly=True)


# -- tester history -----------------------------------------------------------------------------


def history(engine, serial=None, lot=None, fixture=None, since=None, verdict=None, kind=None, limit=200):
    q = sa.select(R.c.id, R.c.started, R.c.kind, R.c.verdict, R.c.simulated, R.c.serial, R.c.lot, R.c.operator,
                  R.c.stage, R.c.positions, R.c.fixture_id, R.c.duration_s, R.c.source_dir, R.c.parent_id)
    for col, v in ((R.c.serial, serial), (R.c.lot, lot), (R.c.fixture_id, fixture), (R.c.kind, kind)):
        if v is not None:
            q = q.where(col == v)
    if verdict is not None:
        q = q.where(R.c.verdict == verdict.upper())
    if since is not None:
        q = q.where(R.c.started_s >= since_s(since))
    q = q.order_by(R.c.started_s.desc(), R.c.id).limit(limit)
    with _ro(engine) as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
        ids = [r["id"] for r in rows if r["verdict"] not in ("PASS", None)]
        failing = {}
        if ids:  # what failed, for the table's last column
            fq = sa.select(M.c.run_id, M.c.pin, M.c.anchor, M.c.fault).where(M.c.run_id.in_(ids), M.c.verdict != "PASS")
            for m in conn.execute(fq):
                failing.setdefault(m.run_id, []).append(("pin %s" % m.pin if m.pin is not None else "anchor %s" % m.anchor)
                                                        + (" %s" % m.fault if m.fault else ""))
    for r in rows:
        r["failed"] = failing.get(r["id"], [])
    return rows


# -- tester yield -------------------------------------------------------------------------------


def _first_passes(lot=None, fixture=None, since=None, simulated=None):
    """Each connector's first judged contact resistance run (a run without a serial is its own
    connector); the runs inside a vibration procedure are not first passes."""
    unit = sa.func.coalesce(R.c.serial, R.c.id)
    attempt = sa.func.row_number().over(partition_by=(R.c.simulated, unit), order_by=(R.c.started_s, R.c.id))
    base = sa.select(R.c.id, R.c.verdict, R.c.simulated, R.c.lot, R.c.day, R.c.fixture_id, R.c.started_s,
                     attempt.label("attempt")).where(R.c.kind == "run", R.c.parent_id.is_(None), R.c.verdict.in_(JUDGED))
    if simulated is not None:
        base = base.where(R.c.simulated == simulated)
    fp = base.subquery("attempts")
    q = sa.select(fp).where(fp.c.attempt == 1)
    for col, v in ((fp.c.lot, lot), (fp.c.fixture_id, fixture)):
        if v is not None:
            q = q.where(col == v)
    if since is not None:
        q = q.where(fp.c.started_s >= since_s(since))
    return q.subquery("first_pass")


def yield_report(engine, lot=None, by="lot", fixture=None, since=None, simulated="apart", top=10):
    """[{simulated, groups: [{group, units, passed, failed, fpy}], total, by_fault, by_pin, unjudged}]"""
    out = []
    with _ro(engine) as conn:
        for sim in _sections(simulated):
            fp = _first_passes(lot, fixture, since, sim)
            key = {"lot": fp.c.lot, "day": fp.c.day, "fixture": fp.c.fixture_id}[by]
            passed = sa.func.sum(sa.case((fp.c.verdict == "PASS", 1), else_=0))
            groups = [{"group": g, "units": n, "passed": int(p or 0), "failed": n - int(p or 0), "fpy": (p or 0) / n}
                      for g, n, p in conn.execute(sa.select(key, sa.func.count(), passed).group_by(key).order_by(key))]
            units = sum(g["units"] for g in groups)
            if not units and sim is not None and simulated == "apart":
                continue
            ok = sum(g["passed"] for g in groups)
            # the first passes that failed, fetched once (the window above is the costly part)
            failing = [r for (r,) in conn.execute(sa.select(fp.c.id).where(fp.c.verdict == "FAIL"))]
            bad = sa.and_(M.c.run_id.in_(failing), M.c.verdict != "PASS")
            by_fault = [{"fault": f or "unknown", "count": c} for f, c in conn.execute(
                sa.select(M.c.fault, sa.func.count()).where(bad).group_by(M.c.fault).order_by(sa.func.count().desc(), M.c.fault))]
            n_short_runs = conn.execute(sa.select(sa.func.count(sa.distinct(S.c.run_id))).where(S.c.run_id.in_(failing))).scalar()
            by_pin = [{"position": ("pin %d" % p) if p is not None else ("anchor %d" % a), "pin": p, "anchor": a, "count": c}
                      for p, a, c in conn.execute(sa.select(M.c.pin, M.c.anchor, sa.func.count()).where(bad)
                                                  .group_by(M.c.pin, M.c.anchor)
                                                  .order_by(sa.func.count().desc(), M.c.pin, M.c.anchor).limit(top))]
            unjudged = conn.execute(_unjudged(lot, fixture, since, sim)).scalar()
            out.append({"simulated": sim, "by": by, "groups": groups,
                        "total": {"units": units, "passed": ok, "failed": units - ok, "fpy": ok / units if units else None},
                        "by_fault": _pareto(by_fault), "by_pin": _pareto(by_pin), "runs_with_shorts": n_short_runs,
                        "unjudged": unjudged})
    return out


def _unjudged(lot, fixture, since, sim):
    q = sa.select(sa.func.count()).select_from(R).where(R.c.kind == "run", R.c.parent_id.is_(None), R.c.verdict.not_in(JUDGED))
    for col, v in ((R.c.lot, lot), (R.c.fixture_id, fixture), (R.c.simulated, sim)):
        if v is not None:
            q = q.where(col == v)
    if since is not None:
        q = q.where(R.c.started_s >= since_s(since))
    return q


def _pareto(items):
    total = sum(i["count"] for i in items)
    cum = 0
    for i in items:
        cum += i["count"]
        i["cumulative"] = cum / total if total else None
    return items


# -- tester drift -------------------------------------------------------------------------------


def limit_for(pin, anchor, stage):
    if anchor is not None:
        return spec5861.ANCHOR_LIMIT_MOHM.get(stage or "initial")
    return spec5861.CONTACT_LIMIT_MOHM


def _pos_filter(q, pin, anchor):
    if pin is not None:
        q = q.where(M.c.pin == pin)
    if anchor is not None:
        q = q.where(M.c.anchor == anchor)
    return q


def drift(engine, fixture, pin=None, anchor=None, since=None, simulated="apart", series=None):
    """Per pin (and anchor plate, per stage: its limit differs), over the fixture's runs: n, mean,
    sigma, control limits mean +- 3 sigma, Cpk against the spec limit, slope per day and its t,
    `rising`. `series` (default: when one pin is asked) adds every point and which are outside
    the control limits."""
    if series is None:
        series = pin is not None or anchor is not None
    out = []
    stage_key = sa.case((M.c.anchor.is_not(None), sa.func.coalesce(M.c.stage, "initial")), else_="")
    pos = sa.func.coalesce(M.c.pin, -M.c.anchor)  # one key: pins positive, anchor plates negative
    with _ro(engine) as conn:
        # times relative to the fixture's first run: the one-pass sums below then keep their digits
        t_ref = conn.execute(sa.select(sa.func.min(R.c.started_s)).where(R.c.fixture_id == fixture)).scalar() or 0.0
        for sim in _sections(simulated):
            def where(q):
                q = q.where(M.c.fixture_id == fixture, M.c.r_mohm.is_not(None))
                if sim is not None:
                    q = q.where(M.c.simulated == sim)
                if since is not None:
                    q = q.where(M.c.started_s >= since_s(since))
                return _pos_filter(q, pin, anchor)

            t = M.c.started_s - t_ref
            r = M.c.r_mohm
            q = where(sa.select(pos.label("pos"), stage_key.label("st"), sa.func.count().label("n"),
                                sa.func.sum(r).label("sr"), sa.func.sum(r * r).label("srr"), sa.func.sum(t).label("st_"),
                                sa.func.sum(t * t).label("stt"), sa.func.sum(t * r).label("str_"),
                                sa.func.min(M.c.started_s).label("t0"), sa.func.max(M.c.started_s).label("t1"),
                                sa.func.min(r).label("rmin"), sa.func.max(r).label("rmax"))
                      .group_by(pos, stage_key))
            # contacts by pin, then anchor plates by stage
            pins = sorted((_pin_stats(row) for row in conn.execute(q)),
                          key=lambda p: (p["anchor"] is not None, p["stage"] or "", p["pin"] or p["anchor"]))
            if not pins and sim is not None and simulated == "apart":
                continue
            if series:
                for p in pins:
                    _add_series(conn, p, where)
            out.append({"simulated": sim, "fixture": fixture, "pins": pins,
                        "rising": [p["position"] for p in pins if p["rising"]]})
    return out


def _pin_stats(r):
    pin, anchor = (r.pos, None) if r.pos > 0 else (None, -r.pos)
    stage = r.st or None
    n = r.n
    mean = r.sr / n
    tbar = r.st_ / n
    sxx = r.stt - n * tbar * tbar
    sxy = r.str_ - n * tbar * mean
    syy = r.srr - n * mean * mean
    # a spread below rounding (a simulated pin measured the same every run) is none
    syy = syy if syy > n * (FLAT_RELATIVE * abs(mean)) ** 2 else 0.0
    sd = math.sqrt(syy / (n - 1)) if n > 1 else None
    limit = limit_for(pin, anchor, stage)
    slope = (sxy / sxx if syy else 0.0) if sxx > 0 else None
    t = None
    if slope is not None and n > 2:
        res = max(syy - slope * sxy, 0.0) / (n - 2)
        se = math.sqrt(res / sxx)
        t = slope / se if se > 0 else (math.inf if slope > 0 else -math.inf if slope < 0 else 0.0)
    rise = slope * (r.t1 - r.t0) if slope is not None else None
    rising = bool(n >= RISING_MIN_N and t is not None and t >= RISING_T and rise is not None
                  and limit and rise >= RISING_MIN_FRACTION_OF_LIMIT * limit)
    return {
        "position": ("pin %d" % pin) if pin is not None else ("anchor %d (%s)" % (anchor, stage)),
        "pin": pin, "anchor": anchor, "stage": stage, "n": n, "mean": mean, "sigma": sd,
        "min": r.rmin, "max": r.rmax,
        "ucl": mean + 3 * sd if sd is not None else None, "lcl": mean - 3 * sd if sd is not None else None,
        "limit": limit, "cpk": (limit - mean) / (3 * sd) if sd else None,
        "slope_per_day": slope * 86400 if slope is not None else None, "slope_t": t, "rise_over_span": rise,
        "first": datetime.fromtimestamp(r.t0, timezone.utc), "last": datetime.fromtimestamp(r.t1, timezone.utc),
        "rising": rising,
    }


def _add_series(conn, p, where):
    q = where(sa.select(M.c.started_s, M.c.r_mohm, M.c.run_id, M.c.stage))
    q = _pos_filter(q, p["pin"], p["anchor"]).order_by(M.c.started_s, M.c.run_id)
    pts = []
    for t, r, rid, st in conn.execute(q):
        if p["anchor"] is not None and (st or "initial") != p["stage"]:
            continue
        out = p["sigma"] is not None and (r > p["ucl"] or r < p["lcl"])
        pts.append({"t": datetime.fromtimestamp(t, timezone.utc), "r_mohm": r, "run_id": rid, "out_of_control": out})
    p["series"] = pts
    p["out_of_control"] = sum(1 for x in pts if x["out_of_control"])
