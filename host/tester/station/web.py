"""The station's HTTP side (Starlette on uvicorn, in a thread of its own): the panel, a JSON API
and live updates as server-sent events (sse-starlette).

    GET  /                            the panel (assets/ served from here: no CDN, works offline)
    GET  /api/station                 the station's settings and every tile
    GET  /api/fixtures[/ID]           every tile, or one (404)
    POST /api/fixtures/ID/run         {"pins", "stage", "serial", "current_ma", "allow_expired_cal"}
    POST /api/fixtures/ID/monitor     {"seconds", "pins", "serial", "axis", "allow_expired_cal"}
                                      -> 202 and the job; 400 bad parameters, 404 no such fixture,
                                      409 busy or not connected (nothing started)
    POST /api/fixtures/ID/vibration   {"pins", "serial", "axis_seconds" (default 7200), "sweep" (linear|log),
                                      "yes" (no operator confirmations), "allow_expired_cal"}: spec 8.6
    POST /api/fixtures/ID/cycles      {"reset": true}: the test-board connectors were replaced, their
                                      mating count (spec 8.5: rated 30) starts again
    POST /api/fixtures/ID/stop        the job in progress ends ABORTED (MSTOP / ABORT)
    POST /api/jobs/ID/continue        the operator's Continue for a job waiting for it (409 if not)
    POST /api/fixtures/ID/press       START on a simulated fixture this station started
    POST /api/ports/retry             {"port": DEV}: a refused port is tried again
    GET  /api/jobs/ID?wait=S          a job, once it ended or after S seconds (at most 60)
    GET  /api/events                  server-sent events: "snapshot" (everything), then "tiles"
                                      (the tiles changed, at most every model.FLUSH_S)
    GET  /results/DIR/FILE            record.json, measurements.csv, events.csv, sim.log,
                                      report.html (rendered on first view when --html is off)

With a token (--token, required to listen beyond this host) every request carries it: an
`Authorization: Bearer T` header, or `?token=T` once (the browser then keeps it as a cookie).
"""

import asyncio
import contextlib
import hmac
import ipaddress
import json
import socket
import threading
import time
from pathlib import Path

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tester.exitcodes import UsageError
from tester.station import model
from tester.station.core import StationError

ASSETS = Path(__file__).resolve().parent / "assets"
COOKIE = "tester_station"
RESULT_FILES = {"record.json": "application/json", "measurements.csv": "text/csv; charset=utf-8",
                "events.csv": "text/csv; charset=utf-8", "sim.log": "text/plain; charset=utf-8",
                "report.html": "text/html; charset=utf-8"}
SUBSCRIBER_QUEUE = 256  # a client this far behind gets a fresh snapshot instead
JOB_WAIT_MAX_S = 60.0
_RESYNC, _CLOSE = object(), object()


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_listen(text):
    """"HOST:PORT" (or ":PORT", "[::1]:PORT") -> (host, port); UsageError otherwise."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError("--listen %r: give HOST:PORT, e.g. 127.0.0.1:8765 or 0.0.0.0:8765" % text)
    return (host.strip("[]") or "127.0.0.1"), int(port)


class Broker:
    """Fans the model's changes out to the event streams (one queue each)."""

    def __init__(self, station):
        self.model = station.model
        self.subscribers = set()
        self.wake = None
        self.loop = None

    async def run(self):
        self.loop = asyncio.get_running_loop()
        self.wake = asyncio.Event()
        self.model.attach(self.loop, self.wake)
        try:
            while True:
                await self.wake.wait()
                self.wake.clear()
                tiles, removed = self.model.take_changes()
                if tiles or removed:
                    msg = json.dumps({"tiles": tiles, "removed": removed, "t": time.time()})
                    for q in list(self.subscribers):
                        self._put(q, msg)
                await asyncio.sleep(model.FLUSH_S)  # what changes meanwhile goes out together
        finally:
            self.model.detach()

    def _put(self, q, item):
        try:
            q.put_nowait(item)
        except asyncio.QueueFull:  # a slow client: drop what it has not read, send it everything anew
            while not q.empty():
                q.get_nowait()
            q.put_nowait(_RESYNC)

    def subscribe(self):
        q = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q):
        self.subscribers.discard(q)

    def close(self):
        """Called in the server's loop: every stream ends (the server can then stop at once)."""
        for q in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(_CLOSE)


class TokenGate:
    """ASGI middleware: no request without the station's token (when it has one)."""

    def __init__(self, app, token):
        self.app = app
        self.token = token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.token:
            return await self.app(scope, receive, send)
        conn = HTTPConnection(scope)
        auth = conn.headers.get("authorization", "")
        from_query = conn.query_params.get("token")
        given = auth[7:] if auth.lower().startswith("bearer ") else from_query or conn.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            resp = JSONResponse({"error": "this station needs its token: open the panel as /?token=T, "
                                          "or send 'Authorization: Bearer T' (tester run --station URL --token T)"},
                                status_code=401)
            return await resp(scope, receive, send)
        if from_query:
            async def send_with_cookie(message):
                if message["type"] == "http.response.start":
                    cookie = "%s=%s; Path=/; HttpOnly; SameSite=Strict" % (COOKIE, self.token)
                    message["headers"] = list(message.get("headers", [])) + [(b"set-cookie", cookie.encode())]
                await send(message)
            return await self.app(scope, receive, send_with_cookie)
        return await self.app(scope, receive, send)


def create_app(station, token=None):
    broker = Broker(station)
    report_lock = threading.Lock()
    out = Path(station.settings.out)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(broker.run())
        try:
            yield
        finally:
            broker.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def error(status, msg):
        return JSONResponse({"error": msg}, status_code=status)

    async def body(request):
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise StationError(400, "the request body is not JSON: %s" % e)
        if not isinstance(data, dict):
            raise StationError(400, "the request body must be a JSON object")
        return data

    def guarded(fn):
        async def handler(request):
            try:
                return await fn(request)
            except StationError as e:
                return error(e.status, e.msg)
        return handler

    async def panel(request):
        return FileResponse(ASSETS / "panel.html", media_type="text/html; charset=utf-8",
                            headers={"Cache-Control": "no-store"})

    async def station_info(request):
        return JSONResponse(station.model.snapshot())

    async def fixtures(request):
        return JSONResponse(station.model.snapshot()["tiles"])

    async def fixture(request):
        fid = request.path_params["fid"]
        with station.model.lock:
            t = station.model.tiles.get(fid)
            if t is None:
                raise StationError(404, "no fixture %s at this station" % fid)
            return JSONResponse(t.snapshot())

    def submitter(kind):
        async def submit(request):
            fid = request.path_params["fid"]
            params = await body(request)
            source = "panel" if request.headers.get("x-tester-source") == "panel" else "api"
            job = station.submit(fid, kind, params, source)
            return JSONResponse(job.as_dict(), status_code=202, headers={"Location": "/api/jobs/%s" % job.id})
        return submit

    async def stop(request):
        reason = (await body(request)).get("reason")  # a client stopped by a signal passes its name
        reason = reason if reason in ("SIGINT", "SIGTERM", "SIGHUP") else "panel STOP"
        job = station.stop_job(request.path_params["fid"], reason)
        return JSONResponse(job.as_dict(), status_code=202)

    async def proceed(request):
        j = station.continue_job(request.path_params["jid"])
        with station.model.lock:
            return JSONResponse(j.as_dict(), status_code=202)

    async def press(request):
        station.press(request.path_params["fid"])
        return JSONResponse({"pressed": request.path_params["fid"]}, status_code=202)

    async def retry(request):
        port = (await body(request)).get("port")
        if not isinstance(port, str):
            raise StationError(400, "give the refused port: {\"port\": \"/dev/ttyACM0\"}")
        await run_in_threadpool(station.retry, port)
        return JSONResponse({"retrying": port}, status_code=202)

    async def job(request):
        j = station.model.job(request.path_params["jid"])
        if j is None:
            raise StationError(404, "no job %s at this station (jobs are kept while the station runs)"
                               % request.path_params["jid"])
        try:
            wait = min(max(float(request.query_params.get("wait", 0)), 0.0), JOB_WAIT_MAX_S)
        except ValueError:
            raise StationError(400, "wait: a number of seconds")
        end = time.monotonic() + wait
        while j.state != model.DONE and time.monotonic() < end:
            await asyncio.sleep(0.1)
        with station.model.lock:
            return JSONResponse(j.as_dict())

    async def events(request):
        q = broker.subscribe()

        async def stream():
            try:
                yield {"event": "snapshot", "data": json.dumps(station.model.snapshot())}
                while True:
                    item = await q.get()
                    if item is _CLOSE:
                        return
                    if item is _RESYNC:
                        yield {"event": "snapshot", "data": json.dumps(station.model.snapshot())}
                    else:
                        yield {"event": "tiles", "data": item}
            finally:
                broker.unsubscribe(q)

        return EventSourceResponse(stream(), ping=10, send_timeout=10, headers={"Cache-Control": "no-store"})

    def render_report(directory):
        from tester.records.base import atomic_write
        from tester.report import render

        with report_lock:  # one at a time: a report is CPU work, the fixtures come first
            target = directory / "report.html"
            if not target.exists():
                data = json.loads((directory / "record.json").read_text())
                atomic_write(target, render(data, directory=directory))

    async def result(request):
        name, d = request.path_params["file"], request.path_params["dir"]
        base = out.resolve()
        path = (base / d).resolve()
        if name not in RESULT_FILES or path.parent != base or not path.is_dir():
            raise StationError(404, "no result %s/%s here" % (d, name))
        f = path / name
        if name == "report.html" and not f.exists() and (path / "record.json").is_file():
            try:
                await run_in_threadpool(render_report, path)
            except Exception as e:  # noqa: BLE001 - the record is fine; say why its page is not
                return error(500, "the report of %s could not be made: %s: %s (tester report %s)"
                             % (d, type(e).__name__, e, path))
        if not f.is_file():
            raise StationError(404, "no %s in %s" % (name, d))
        return FileResponse(f, media_type=RESULT_FILES[name])

    async def favicon(request):
        return Response(status_code=204)

    routes = [
        Route("/", panel),
        Route("/favicon.ico", favicon),
        Route("/api/station", guarded(station_info)),
        Route("/api/fixtures", guarded(fixtures)),
        # {fid:path}: a refused port's tile is named by its device ("port:/dev/ttyACM3")
        Route("/api/fixtures/{fid:path}/run", guarded(submitter("run")), methods=["POST"]),
        Route("/api/fixtures/{fid:path}/monitor", guarded(submitter("monitor")), methods=["POST"]),
        Route("/api/fixtures/{fid:path}/vibration", guarded(submitter("vibration")), methods=["POST"]),
        Route("/api/fixtures/{fid:path}/cycles", guarded(submitter("cycles")), methods=["POST"]),
        Route("/api/fixtures/{fid:path}/stop", guarded(stop), methods=["POST"]),
        Route("/api/fixtures/{fid:path}/press", guarded(press), methods=["POST"]),
        Route("/api/fixtures/{fid:path}", guarded(fixture)),
        Route("/api/ports/retry", guarded(retry), methods=["POST"]),
        Route("/api/jobs/{jid}/continue", guarded(proceed), methods=["POST"]),
        Route("/api/jobs/{jid}", guarded(job)),
        Route("/api/events", events),
        Route("/results/{dir}/{file}", guarded(result)),
        Mount("/assets", StaticFiles(directory=str(ASSETS)), name="assets"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.broker = broker
    return TokenGate(app, token), broker


class Server:
    """uvicorn serving the app in a thread of its own (the main thread keeps the signals:
    tester.interrupts). The socket is bound here, so a port in use is a usage error at once."""

    def __init__(self, station, host="127.0.0.1", port=8765, token=None):
        import uvicorn

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as e:
            self.sock.close()
            raise UsageError("--listen %s:%d: cannot listen there (%s)" % (host, port, e.strerror or e))
        self.host, self.port = host, self.sock.getsockname()[1]
        app, self.broker = create_app(station, token)
        config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="on",
                                http="h11", ws="none", timeout_graceful_shutdown=2, loop="asyncio")
        self.server = uvicorn.Server(config)
        self.thread = None

    @property
    def url(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = socket.gethostname()
        return "http://%s:%d/" % (host, self.port)

    def start(self, timeout=10.0):
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, name="station-web",
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise UsageError("the panel's web server did not start on %s:%d" % (self.host, self.port))
            time.sleep(0.02)
        return self

    def stop(self, timeout=5.0):
        loop = self.broker.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.broker.close)
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout)
            if self.thread.is_alive():
                self.server.force_exit = True
                self.thread.join(2.0)
        with contextlib.suppress(OSError):
            self.sock.close()
