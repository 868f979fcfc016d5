"""`tester station`: several fixtures on one PC, START-button runs recorded, a live web panel.

    discovery.py   which ports hold a fixture now (USB identity, --port, simulated), hot-plug
    worker.py      one thread per port: the only code that touches that fixture's link
    jobs.py        what a worker does: a run (host or START button), a monitoring window
    model.py       the station's state (a tile per fixture) and its change feed
    web.py         the HTTP API and the panel (Starlette, server-sent events)
    client.py      `tester run --station URL --fixture ID`: a run asked of a station
    assets/        the panel's page, script and style (served locally: no CDN)
"""
