"""Storing records: one record = one run, whatever number of times it is stored or imported.

A record's identity is a hash of what names it (its kind, start time, fixture, host, serial):
storing it again changes nothing; storing a newer version of it (a vibration procedure resumed,
written again) replaces the older one. The result directory is always written before this runs;
a failure here is reported and never changes the command's exit code (`tester import` catches
up later)."""

import hashlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from tester.history import schema
from tester.records import run as run_record
from tester.records.base import RECORD_NAME
KIND_OF_RECORD = {run_record.KIND: "run"}  # the record's kind -> the database's


def canonical(data):
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def identity(data):
    fx = data.get("fixture") or {}
    host = data.get("host") or {}
    key = "|".join(str(x) for x in (data.get("kind"), data.get("started"), fx.get("uid") or fx.get("id"),
                                       host.get("hostname"), data.get("serial")))
    return hashlib.sha256(key.encode()).hexdigest()


def _started(data):
    return datetime.fromisoformat(str(data["started"]).replace("Z", "+00:00")).astimezone(timezone.utc)


def _num(v):
    return None if v in (None, "") else v


def rows(data, source_dir=None, parent_id=None, sha=None):
    """(run row, {child table: [rows]}) for one record dict."""
    rid = identity(data)
    started = _started(data)
    fx = data.get("fixture") or {}
    fw = data.get("firmware") or {}
    cal = data.get("calibration") or (data.get("conditions") or {}).get("calibration") or {}
    kind = KIND_OF_RECORD.get(data.get("kind"), data.get("kind"))
    run = {
        "id": rid,
        "record_sha256": sha or hashlib.sha256(canonical(data).encode()).hexdigest(),
        "kind": kind,
        "verdict": data.get("verdict"),
        "simulated": bool(data.get("simulated")),
        "complete": data.get("complete"),
        "started": started,
        "started_s": started.timestamp(),
        "day": started.strftime("%Y-%m-%d"),
        "duration_s": data.get("duration_s"),
        "serial": data.get("serial"),
        "lot": data.get("lot"),
        "operator": data.get("operator"),
        "stage": data.get("stage"),
        "positions": data.get("positions"),
        "fixture_id": fx.get("id"),
        "fixture_uid": fx.get("uid"),
        "firmware_version": fw.get("version"),
        "protocol_version": fw.get("protocol"),
        "calibration_id": cal.get("id"),
        "error": data.get("error"),
        "conditions": data.get("conditions"),
        "record": data,
        "source_dir": str(source_dir) if source_dir else None,
        "parent_id": parent_id,
        "stored_at": datetime.now(timezone.utc),
    }
    same = {"run_id": rid, "fixture_id": fx.get("id"), "started_s": run["started_s"], "simulated": run["simulated"],
            "stage": data.get("stage")}
    meas = []
    for key, items in (("pin", data.get("contacts") or []), ("anchor", data.get("anchors") or [])):
        for m in items:
            row = dict(same, pin=None, anchor=None, r_mohm=m.get("r_mohm"), u_mohm=m.get("u_mohm"), emf_uv=m.get("emf_uv"),
                       limit_mohm=m.get("limit_mohm"), verdict=m.get("verdict"), fault=m.get("fault"), i_ma=m.get("i_ma"),
                       r_raw_mohm=m.get("r_raw_mohm"))
            row[key] = m.get(key)
            meas.append(row)
    shorts = []
    for s in data.get("shorts") or []:
        pins = list(s.get("pins") or []) + [None, None]
        shorts.append({"run_id": rid, "side": s.get("side"), "pin_a": pins[0], "pin_b": pins[1], "ohm": s.get("ohm")})
    events = [{"run_id": rid, "window": e.get("window"), "seq": _num(e.get("seq")), "channel": _num(e.get("channel")),
               "pins": e.get("pins"), "t_us": _num(e.get("t_us")), "length_ns": _num(e.get("length_ns")),
               "axis": e.get("axis") or None, "direction": e.get("direction") or None, "shock": _num(e.get("shock")),
               "sweep_hz": _num(e.get("sweep_hz")), "open_at_end": bool(e.get("open_at_end"))}
              for e in data.get("events") or []]
    hists = []
    for w in data.get("windows") or []:
        for c in w.get("channels") or []:
            hists.append({"run_id": rid, "window": w.get("label") or w.get("axis"), "channel": c.get("channel"),
                          "pins": " ".join(str(p) for p in c.get("pins") or []), "failures": c.get("failures"),
                          "glitches": c.get("glitches"), "longest_ns": c.get("longest_ns"), "bins": c.get("hist")})
    return run, {schema.measurements: meas, schema.shorts: shorts, schema.events: events, schema.histograms: hists}


ATTEMPTS = 3  # PostgreSQL: two writers creating the same day's drift row; the second tries again
RETRY_SQLSTATES = ("40P01", "40001")  # deadlock detected, serialization failure


def store(engine, data, source_dir=None, parent_id=None):
    """Store one record dict. Returns (run id, "stored" | "unchanged" | "updated")."""
    run, children = rows(data, source_dir, parent_id)
    for attempt in range(ATTEMPTS):
        try:
            return _store(engine, run, children, parent_id)
        except sa.exc.OperationalError as e:
            # PostgreSQL: a deadlock or serialization failure between two writers is retried
            if getattr(e.orig, "sqlstate", None) not in RETRY_SQLSTATES or attempt == ATTEMPTS - 1:
                raise
        except sa.exc.IntegrityError:
            # another process stored the same record between our look and our insert, or made
            # the same drift row first
            with engine.connect().execution_options(readonly=True) as conn:
                if conn.execute(sa.select(schema.runs.c.id).where(schema.runs.c.id == run["id"])).first() is not None:
                    return run["id"], "unchanged"
            if attempt == ATTEMPTS - 1:
                raise


def _store(engine, run, children, parent_id):
    rid = run["id"]
    runs = schema.runs
    with engine.begin() as conn:
        old = conn.execute(sa.select(runs.c.record_sha256, runs.c.parent_id, runs.c.source_dir).where(runs.c.id == rid)).first()
        if old is not None and old.record_sha256 == run["record_sha256"]:
            # the same record, perhaps moved (a procedure's stage run placed in its directory)
            moved = {k: v for k, v in (("parent_id", parent_id), ("source_dir", run["source_dir"]))
                     if v and old._mapping[k] != v}
            if moved:
                conn.execute(runs.update().where(runs.c.id == rid).values(**moved))
                if "parent_id" in moved:  # a procedure's stage run: no longer a first pass
                    _refresh_first_pass(conn, run)
            return rid, "unchanged"
        old_days = []
        if old is not None:  # a newer version of the same record
            run["parent_id"] = parent_id or old.parent_id
            old_days = _days_of(conn, rid)
            for t in schema.CHILDREN:
                conn.execute(t.delete().where(t.c.run_id == rid))
            conn.execute(runs.delete().where(runs.c.id == rid))
        conn.execute(runs.insert(), [run])
        for t, items in children.items():
            if items:
                conn.execute(t.insert(), items)
        _refresh_first_pass(conn, run)
        if old is not None:
            for key in set(old_days) | set(_days_of(conn, rid)):
                _rebuild_drift_day(conn, *key)
        else:
            _add_drift(conn, children[schema.measurements])
        return rid, "updated" if old is not None else "stored"


def _refresh_first_pass(conn, run):
    """Mark the first judged top-level contact resistance run of this run's connector (its serial;
    a run without one is its own connector), and only it."""
    runs = schema.runs
    if run["kind"] != "run":
        return
    if run["serial"] is None:
        conn.execute(runs.update().where(runs.c.id == run["id"]).values(
            first_pass=run["verdict"] in schema.JUDGED and run["parent_id"] is None))
        return
    q = (sa.select(runs.c.id, runs.c.verdict, runs.c.parent_id, runs.c.first_pass)
         .where(runs.c.kind == "run", runs.c.serial == run["serial"], runs.c.simulated == run["simulated"])
         .order_by(runs.c.started_s, runs.c.id))
    first = None
    for r in conn.execute(q).all():
        want = first is None and r.parent_id is None and r.verdict in schema.JUDGED
        if want:
            first = r.id
        if bool(r.first_pass) != want:
            conn.execute(runs.update().where(runs.c.id == r.id).values(first_pass=want))


def _pos_stage(m):
    if m["pin"] is not None:
        return m["pin"], ""
    return -m["anchor"], m["stage"] or "initial"


def _day_start(started_s):
    return started_s - started_s % 86400


def drift_sums(meas, into=None):
    """Measurement rows (one run or many) -> {(fixture, simulated, pos, stage, day): sums} as the
    drift_sums table holds them; `into` is added to."""
    out = {} if into is None else into
    for m in meas:
        if m["r_mohm"] is None or (m["pin"] is None and m["anchor"] is None):
            continue
        pos, stage = _pos_stage(m)
        e = m["started_s"]
        key = (m["fixture_id"] or "", bool(m["simulated"]), pos, stage, datetime.fromtimestamp(e, timezone.utc).strftime("%Y-%m-%d"))
        r = float(m["r_mohm"])
        t = e - _day_start(e)
        s = out.get(key)
        if s is None:
            out[key] = dict(n=1, sum_r=r, sum_rr=r * r, sum_t=t, sum_tt=t * t, sum_tr=t * r, r_min=r, r_max=r, t_min=e, t_max=e)
            continue
        s["n"] += 1
        s["sum_r"] += r
        s["sum_rr"] += r * r
        s["sum_t"] += t
        s["sum_tt"] += t * t
        s["sum_tr"] += t * r
        s["r_min"], s["r_max"] = min(s["r_min"], r), max(s["r_max"], r)
        s["t_min"], s["t_max"] = min(s["t_min"], e), max(s["t_max"], e)
    return out


def drift_sum_rows(sums):
    return [dict(zip(("fixture_id", "simulated", "pos", "stage", "day"), k), **v) for k, v in sums.items()]


def _add_drift(conn, meas):
    """Add one run's measurements to drift's per-day sums (rows made when missing)."""
    ds = schema.drift_sums
    sums = drift_sums(meas)
    if not sums:
        return
    fixture, sim, _, _, day = next(iter(sums))
    have = {(r.pos, r.stage) for r in conn.execute(sa.select(ds.c.pos, ds.c.stage).where(
        ds.c.fixture_id == fixture, ds.c.simulated == sim, ds.c.day == day))}
    new = {k: v for k, v in sums.items() if (k[2], k[3]) not in have}
    if new:
        conn.execute(ds.insert(), drift_sum_rows(new))
    old = {k: v for k, v in sums.items() if (k[2], k[3]) in have}
    if not old:
        return
    c = ds.c

    def lower(col, v):
        return sa.case((sa.or_(col.is_(None), col > v), v), else_=col)  # min(col, v) in any dialect

    def higher(col, v):
        return sa.case((sa.or_(col.is_(None), col < v), v), else_=col)

    b = sa.bindparam
    upd = (ds.update()
           .where(c.fixture_id == b("k_fx"), c.simulated == b("k_sim"), c.pos == b("k_pos"), c.stage == b("k_stage"),
                  c.day == b("k_day"))
           .values(n=c.n + b("d_n"), sum_r=c.sum_r + b("d_r"), sum_rr=c.sum_rr + b("d_rr"), sum_t=c.sum_t + b("d_t"),
                   sum_tt=c.sum_tt + b("d_tt"), sum_tr=c.sum_tr + b("d_tr"),
                   r_min=lower(c.r_min, b("d_rmin")), r_max=higher(c.r_max, b("d_rmax")),
                   t_min=lower(c.t_min, b("d_tmin")), t_max=higher(c.t_max, b("d_tmax"))))
    conn.execute(upd, [dict(k_fx=k[0], k_sim=k[1], k_pos=k[2], k_stage=k[3], k_day=k[4], d_n=v["n"], d_r=v["sum_r"],
                            d_rr=v["sum_rr"], d_t=v["sum_t"], d_tt=v["sum_tt"], d_tr=v["sum_tr"], d_rmin=v["r_min"],
                            d_rmax=v["r_max"], d_tmin=v["t_min"], d_tmax=v["t_max"]) for k, v in old.items()])


def _days_of(conn, rid):
    m = schema.measurements
    out = []
    for fx, sim, t in conn.execute(sa.select(m.c.fixture_id, m.c.simulated, m.c.started_s).where(m.c.run_id == rid).limit(1)):
        out.append((fx or "", bool(sim), datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d")))
    return out


def _rebuild_drift_day(conn, fixture, sim, day):
    """A record replaced: its day's sums made again from the measurements."""
    ds, m = schema.drift_sums, schema.measurements
    conn.execute(ds.delete().where(ds.c.fixture_id == fixture, ds.c.simulated == sim, ds.c.day == day))
    d0 = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc).timestamp()
    q = (sa.select(m.c.pin, m.c.anchor, m.c.stage, m.c.r_mohm, m.c.started_s, m.c.fixture_id, m.c.simulated)
         .where(sa.func.coalesce(m.c.fixture_id, "") == fixture, m.c.simulated == sim, m.c.started_s >= d0,
                m.c.started_s < d0 + 86400, m.c.r_mohm.is_not(None)))
    sums = drift_sums(dict(r._mapping) for r in conn.execute(q))
    if sums:
        conn.execute(ds.insert(), drift_sum_rows(sums))


def refresh_first_passes(conn):
    """Mark every connector's first pass at once (after a bulk load; store() keeps it per run)."""
    runs = schema.runs
    unit = sa.func.coalesce(runs.c.serial, runs.c.id)
    attempt = sa.func.row_number().over(partition_by=(runs.c.simulated, unit), order_by=(runs.c.started_s, runs.c.id))
    judged = (sa.select(runs.c.id, attempt.label("attempt"))
              .where(runs.c.kind == "run", runs.c.parent_id.is_(None), runs.c.verdict.in_(schema.JUDGED)).subquery())
    conn.execute(runs.update().values(first_pass=runs.c.id.in_(sa.select(judged.c.id).where(judged.c.attempt == 1))))


def load_dir(directory):
    return json.loads((Path(directory) / RECORD_NAME).read_text(encoding="utf-8"))


def store_dir(engine, directory, parent_id=None):
    """Store the record in `directory` and, for a vibration procedure, its contact resistance
    stages (sub-directories, linked to it). Returns [(dir, run id, status)]."""
    directory = Path(directory)
    data = load_dir(directory)
    if parent_id is None and (directory.parent / RECORD_NAME).is_file():
        try:  # a stage run inside a procedure's directory
            parent_id = identity(load_dir(directory.parent))
        except (OSError, ValueError, KeyError):
            pass
    rid, status = store(engine, data, directory, parent_id)
    out = [(directory, rid, status)]
    for sub in sorted(p for p in directory.iterdir() if p.is_dir() and (p / RECORD_NAME).is_file()):
        out += store_dir(engine, sub, parent_id=rid)
    return out


def find_result_dirs(paths):
    """Top-level result directories under `paths` (a result directory, or a folder of them)."""
    found = []
    for p in map(Path, paths):
        if (p / RECORD_NAME).is_file():
            found.append(p)
            continue
        if not p.is_dir():
            raise FileNotFoundError(2, "no %s here and not a folder" % RECORD_NAME, str(p))
        tops = sorted(f.parent for f in p.rglob(RECORD_NAME))
        for d in tops:  # skip stage records: their procedure stores them
            if not any(t != d and t in d.parents for t in tops):
                found.append(d)
    return found


def record_after_command(args, data, out_dir):
    """The hook at the end of run/monitor/vibration/shock: store the record just written. Any
    failure is one line on stderr; the exit code stays the measurement's."""
    from tester.history import db

    if out_dir is None or data is None:
        return None
    try:
        engine = db.open_db(getattr(args, "db", None))
        data = json.loads(canonical(data))  # exactly what record.json holds
        parent_id = None
        if (Path(out_dir).parent / RECORD_NAME).is_file():
            parent_id = identity(load_dir(Path(out_dir).parent))
        rid, status = store(engine, data, out_dir, parent_id)
        for sub in sorted(p for p in Path(out_dir).iterdir() if p.is_dir() and (p / RECORD_NAME).is_file()):
            store_dir(engine, sub, parent_id=rid)  # a procedure's stage runs, now in its directory
        return rid
    except Exception as e:  # noqa: BLE001 - the record is on disk; nothing here may fail the run
        try:
            from tester.history.db import describe, resolve_url

            where = describe(resolve_url(getattr(args, "db", None)))
        except Exception:  # noqa: BLE001
            where = "the history database"
        print("tester: warning: the record was not stored in %s (%s: %s); it is kept in %s: "
              "`tester import %s` stores it later" % (where, type(e).__name__, str(e).splitlines()[0] if str(e) else "",
                                                      out_dir, out_dir), file=sys.stderr)
        return None
