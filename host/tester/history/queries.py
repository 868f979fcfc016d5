"""The questions asked of the history: a table of runs, first-pass yield with its Pareto, drift
per pin. SQLAlchemy Core only (one text for SQLite and PostgreSQL); the statistics that are cheap
once the database has summed (sigma, slope, Cpk) are finished in Python."""

import functools
import math
from datetime import datetime, timezone

import sqlalchemy as sa

from tester.firmware import protocol, spec5861
from tester.history import schema

R, M, S = schema.runs, schema.measurements, schema.shorts
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
        ids = [r["id"] for r in rows if r["verdict"] not in (protocol.PASS, None)]
        failing = {}
        if ids:  # what failed, for the table's last column
            fq = sa.select(M.c.run_id, M.c.pin, M.c.anchor, M.c.fault).where(M.c.run_id.in_(ids), M.c.verdict != protocol.PASS)
            for m in conn.execute(fq):
                failing.setdefault(m.run_id, []).append(("pin %s" % m.pin if m.pin is not None else "anchor %s" % m.anchor)
                                                        + (" %s" % m.fault if m.fault else ""))
    for r in rows:
        r["failed"] = failing.get(r["id"], [])
        r["started"] = _utc(r["started"])
    return rows


def _utc(dt):
    """SQLite gives the stored UTC time without its zone, PostgreSQL in the session's zone."""
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


# -- tester yield -------------------------------------------------------------------------------


def _first_passes(lot=None, fixture=None, since=None, simulated=None):
    """The runs that are their connector's first pass (kept by store.py: runs.first_pass)."""
    q = sa.select(R.c.id, R.c.verdict, R.c.lot, R.c.day, R.c.fixture_id).where(R.c.first_pass == sa.true())
    for col, v in ((R.c.simulated, simulated), (R.c.lot, lot), (R.c.fixture_id, fixture)):
        if v is not None:
            q = q.where(col == v)
    if since is not None:
        q = q.where(R.c.started_s >= since_s(since))
    return q.subquery("first_pass")


def yield_report(engine, lot=None, by="lot", fixture=None, since=None, simulated="apart", top=10):
    """[{simulated, groups: [{group, units, passed, failed, fpy}], total, by_fault, by_pin, unjudged}]"""
    out = []
    with _ro(engine) as conn:
        for sim in _sections(simulated):
            fp = _first_passes(lot, fixture, since, sim)
            key = {"lot": fp.c.lot, "day": fp.c.day, "fixture": fp.c.fixture_id}[by]
            passed = sa.func.sum(sa.case((fp.c.verdict == protocol.PASS, 1), else_=0))
            groups = [{"group": g, "units": n, "passed": int(p or 0), "failed": n - int(p or 0), "fpy": (p or 0) / n}
                      for g, n, p in conn.execute(sa.select(key, sa.func.count(), passed).group_by(key).order_by(key))]
            units = sum(g["units"] for g in groups)
            if not units and sim is not None and simulated == "apart":
                continue
            ok = sum(g["passed"] for g in groups)
            failing = sa.select(fp.c.id).where(fp.c.verdict == protocol.FAIL).subquery("failing")
            # "not PASS" as two ranges: both databases then find the failing rows by ix_meas_verdict
            # instead of reading every measurement
            not_pass = sa.or_(M.c.verdict < protocol.PASS, M.c.verdict > protocol.PASS)
            bad = sa.select().select_from(M.join(failing, failing.c.id == M.c.run_id)).where(not_pass)
            by_fault = [{"fault": f or "unknown", "count": c} for f, c in conn.execute(
                bad.add_columns(M.c.fault, sa.func.count()).group_by(M.c.fault).order_by(sa.func.count().desc(), M.c.fault))]
            n_short_runs = conn.execute(sa.select(sa.func.count(sa.distinct(S.c.run_id)))
                                        .select_from(S.join(failing, failing.c.id == S.c.run_id))).scalar()
            by_pin = [{"position": ("pin %d" % p) if p is not None else ("anchor %d" % a), "pin": p, "anchor": a, "count": c}
                      for p, a, c in conn.execute(bad.add_columns(M.c.pin, M.c.anchor, sa.func.count())
                                                  .group_by(M.c.pin, M.c.anchor)
                                                  .order_by(sa.func.count().desc(), M.c.pin, M.c.anchor).limit(top))]
            unjudged = conn.execute(_unjudged(lot, fixture, since, sim)).scalar()
            out.append({"simulated": sim, "by": by, "groups": groups,
                        "total": {"units": units, "passed": ok, "failed": units - ok, "fpy": ok / units if units else None},
                        "by_fault": _pareto(by_fault), "by_pin": _pareto(by_pin), "runs_with_shorts": n_short_runs,
                        "unjudged": unjudged})
    return out


def _unjudged(lot, fixture, since, sim):
    q = sa.select(sa.func.count()).select_from(R).where(R.c.kind == "run", R.c.parent_id.is_(None), R.c.verdict.not_in(schema.JUDGED))
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


def drift(engine, fixture, pin=None, anchor=None, since=None, simulated="apart", series=None):
    """Per pin (and anchor plate, per stage: its limit differs), over the fixture's runs: n, mean,
    sigma, control limits mean +- 3 sigma, Cpk against the spec limit, slope per day and its t,
    `rising`. From the per-day sums store.py keeps (--since counts whole UTC days). `series`
    (default: when one pin is asked) adds every point and which are outside the control limits."""
    if series is None:
        series = pin is not None or anchor is not None
    D = schema.drift_sums
    out = []
    with _ro(engine) as conn:
        for sim in _sections(simulated):
            q = sa.select(D).where(D.c.fixture_id == fixture)
            if sim is not None:
                q = q.where(D.c.simulated == sim)
            if since is not None:
                q = q.where(D.c.day >= datetime.fromtimestamp(since_s(since), timezone.utc).strftime("%Y-%m-%d"))
            if pin is not None:
                q = q.where(D.c.pos == pin)
            if anchor is not None:
                q = q.where(D.c.pos == -anchor)
            pins = [_pin_stats(*k, rows) for k, rows in _by_position(conn.execute(q)).items()]
            # contacts by pin, then anchor plates by stage
            pins.sort(key=lambda p: (p["anchor"] is not None, p["stage"] or "", p["pin"] or p["anchor"]))
            if not pins and sim is not None and simulated == "apart":
                continue
            if series:
                for p in pins:
                    _add_series(conn, p, fixture, sim, since)
            out.append({"simulated": sim, "fixture": fixture, "pins": pins,
                        "rising": [p["position"] for p in pins if p["rising"]]})
    return out


def _by_position(rows):
    out = {}
    for r in rows:
        out.setdefault((r.pos, r.stage), []).append(r)
    return out


def _pin_stats(pos, stage, days):
    """Combine the per-day sums (t into each day) into the whole span's, times counted from the
    first day (small numbers: the sums keep their digits)."""
    pin, anchor = (pos, None) if pos > 0 else (None, -pos)
    stage = stage or None
    d_ref = min(_day_s(d.day) for d in days)
    n = sr = srr = st = stt = strr = 0.0
    for d in days:
        off = _day_s(d.day) - d_ref
        n += d.n
        sr += d.sum_r
        srr += d.sum_rr
        st += d.sum_t + d.n * off
        stt += d.sum_tt + 2 * off * d.sum_t + d.n * off * off
        strr += d.sum_tr + off * d.sum_r
    n = int(n)
    mean = sr / n
    tbar = st / n
    sxx = stt - n * tbar * tbar
    sxy = strr - n * tbar * mean
    syy = srr - n * mean * mean
    t0, t1 = min(d.t_min for d in days), max(d.t_max for d in days)
    rmin, rmax = min(d.r_min for d in days), max(d.r_max for d in days)
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
    rise = slope * (t1 - t0) if slope is not None else None
    rising = bool(n >= RISING_MIN_N and t is not None and t >= RISING_T and rise is not None
                  and limit and rise >= RISING_MIN_FRACTION_OF_LIMIT * limit)
    return {
        "position": ("pin %d" % pin) if pin is not None else ("anchor %d (%s)" % (anchor, stage)),
        "pin": pin, "anchor": anchor, "stage": stage, "n": n, "mean": mean, "sigma": sd,
        "min": rmin, "max": rmax,
        "ucl": mean + 3 * sd if sd is not None else None, "lcl": mean - 3 * sd if sd is not None else None,
        "limit": limit, "cpk": (limit - mean) / (3 * sd) if sd else None,
        "slope_per_day": slope * 86400 if slope is not None else None, "slope_t": t, "rise_over_span": rise,
        "first": datetime.fromtimestamp(t0, timezone.utc), "last": datetime.fromtimestamp(t1, timezone.utc),
        "rising": rising,
    }


@functools.lru_cache(maxsize=4096)
def _day_s(day):
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()


def _add_series(conn, p, fixture, sim, since):
    q = sa.select(M.c.started_s, M.c.r_mohm, M.c.run_id).where(M.c.fixture_id == fixture, M.c.r_mohm.is_not(None))
    if sim is not None:
        q = q.where(M.c.simulated == sim)
    if since is not None:
        q = q.where(M.c.started_s >= _day_s(datetime.fromtimestamp(since_s(since), timezone.utc).strftime("%Y-%m-%d")))
    if p["anchor"] is not None:
        q = q.where(M.c.anchor == p["anchor"], sa.func.coalesce(M.c.stage, "initial") == p["stage"])
    else:
        q = q.where(M.c.pin == p["pin"])
    pts = []
    for t, r, rid in conn.execute(q.order_by(M.c.started_s, M.c.run_id)):
        out = p["sigma"] is not None and (r > p["ucl"] or r < p["lcl"])
        pts.append({"t": datetime.fromtimestamp(t, timezone.utc), "r_mohm": r, "run_id": rid, "out_of_control": out})
    p["series"] = pts
    p["out_of_control"] = sum(1 for x in pts if x["out_of_control"])
