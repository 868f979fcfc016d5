"""HTML reports: one self-contained page per record, lot (yield) or fixture (drift).

render(record) takes a record.json as a dict, of any kind (contact resistance run, monitor,
vibration, shock); render_lot and render_drift take the plain dicts tester.history.queries
returns. Plots are matplotlib SVG inline; the page needs no network and no script.
"""

from . import contact

RUN_KINDS = ("contact_resistance", "run")


def render(record, directory=None):
    """The report of one record; directory: where it was read from (the vibration procedure's
    contact resistance stages are read from its sub-directories)."""
    kind = record.get("kind")
    if kind in RUN_KINDS:
        return contact.render(record)
    from . import monitoring

    return monitoring.render(record, directory)


def render_lot(yield_data):
    from . import history

    return history.render_lot(yield_data)


def render_drift(drift_data):
    from . import history

    return history.render_drift(drift_data)
