"""HTML reports: one self-contained page per record, lot (yield) or fixture (drift).

render(record) takes a record.json as a dict, of any kind (contact resistance run, monitor,
vibration, shock); render_lot and render_drift take the plain dicts tester.history.queries
returns. Plots are matplotlib SVG inline; the page needs no network and no script.
"""

from tester.records import run as run_record

from . import contact

RUN_KINDS = (run_record.KIND, "run")  # a record's kind, the history database's


def render(record, directory=None, stages=None):
    """The report of one record. For a vibration procedure, its contact resistance stages come
    from stages ({"initial": record, "after": record}, e.g. from the database) or else from the
    sub-directories of directory (where the record was read from)."""
    kind = record.get("kind")
    if kind in RUN_KINDS:
        return contact.render(record)
    from . import events

    return events.render(record, directory, stages)


def render_lot(yield_data, lot=None):
    """yield_data: what tester.history.queries.yield_report returns (see report.history)."""
    from . import history

    return history.render_lot(yield_data, lot)


def render_drift(drift_data, fixture=None):
    """drift_data: what tester.history.queries.drift returns, with series for the charts."""
    from . import history

    return history.render_drift(drift_data, fixture)
