# START runs kept on the fixture's flash until a host collects them.
#
# The operator may press START with no host attached (a fixture on a USB charger, a station PC
# rebooting): the link drops the frames nobody reads (link.py). So every START run's frames also
# go, line by line as the link encodes them (the same bytes, sequence numbers and CRC), to
# kept/<n>.frames on the flash filesystem, which survives a power cycle. A host collects them:
#
#   KEPT                      ok {runs: [{n, frames, bytes, verdict, complete, started, age_s}]}
#   KEPT stamp=N started=T    date run N (the fixture has no clock); a run already dated keeps its date
#   KEPT replay=N             its frames again, with fresh sequence numbers as a live run, then ok
#   KEPT drop=N               forget it (the host has stored its record)
#
# Bounded: at most MAX_RUNS runs and MAX_BYTES together; making room drops the oldest, and that
# loss is counted (stored_dropped, kept across power cycles in kept/state.json). A write that
# fails (flash full) never stops the run: it is counted (stored_write_failed), said in a log
# frame, and the copy ends there. A copy that ends before its `done` (power lost mid-run, or a
# failed write) is replayed with a `done` saying ABORTED and incomplete: never a PASS.
#
# The date: the first host that sees a run dates it (from the fixture's uptime when the run is of
# this boot, else when it collects it); the date is kept beside the run (kept/<n>.start) and said
# by every later listing, so every record made of that run has the same start and a host's history
# knows a replay it already stored (its drop acknowledgement lost).

import json
import os
import time

import protocol

DIR = "kept"  # on the device's filesystem: data, not code (tester.firmware.DEVICE_DATA)
STATE = "state.json"  # {"next": n, "dropped": k, "write_failed": k}
FRAMES = ".frames"
START = ".start"
MAX_RUNS = 16
# The Pico's filesystem is 1.4 MiB and the firmware takes ~0.3 MiB of it; a 200-position run is
# ~55 KiB of frames.
MAX_BYTES = 384 * 1024
LINE_MAX = 4096  # the longest frame read back (a done naming 200 failed pins is ~1 KiB)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return 0


class KeptRuns:
    """The kept runs on the flash, the one being written, and the loss counters."""

    def __init__(self, link, tick=None, root=DIR):
        self.link = link
        self.tick = tick  # fed between replayed frames (the watchdog)
        self.dir = root
        self.next = 1
        self.dropped = 0
        self.write_failed = 0
        self.numbers = []  # type: list[int]
        self.started_ms = {}  # type: dict  # runs of this boot: ticks_ms at their start
        self.n = None  # type: int | None  # the run being written
        self.problem = None  # type: str | None  # a write failure not yet said (Tee says it)
        self._f = None  # type: object
        self._bytes = 0
        self._others = 0
        self._loaded = False  # read from the flash when first needed, not while the app boots

    def _ready(self):
        if not self._loaded:
            self._loaded = True
            self._load()

    # -- the files --------------------------------------------------------------------------

    def _path(self, n, ext=FRAMES):
        return "%s/%d%s" % (self.dir, n, ext)

    def _load(self):
        try:
            names = os.listdir(self.dir)
        except OSError:
            names = []
        for name in names:
            if name.endswith(FRAMES) and name[: -len(FRAMES)].isdigit():
                self.numbers.append(int(name[: -len(FRAMES)]))
        self.numbers.sort()
        try:
            with open(self.dir + "/" + STATE) as f:
                st = json.load(f)
            self.next = int(st.get("next", 1))
            self.dropped = int(st.get("dropped", 0))
            self.write_failed = int(st.get("write_failed", 0))
        except (OSError, ValueError, AttributeError):
            pass
        if self.numbers and self.next <= self.numbers[-1]:
            self.next = self.numbers[-1] + 1

    def _save(self):
        """The counters to the flash; a full flash keeps them in RAM (HELLO still says them)."""
        try:
            with open(self.dir + "/" + STATE, "w") as f:
                json.dump({"next": self.next, "dropped": self.dropped, "write_failed": self.write_failed}, f)
        except OSError:
            pass

    def _forget(self, n):
        _remove(self._path(n))
        _remove(self._path(n, START))
        if n in self.numbers:
            self.numbers.remove(n)
        if n in self.started_ms:
            del self.started_ms[n]

    def _drop_oldest(self):
        """Room for the run being written: the oldest other run goes, counted."""
        n = self.numbers[0]
        self._others -= _size(self._path(n))
        self._forget(n)
        self.dropped += 1
        self._save()

    def counts(self):
        """For HELLO and STATUS."""
        self._ready()
        return {protocol.STORED_RUNS: len(self.numbers), protocol.STORED_DROPPED: self.dropped,
                protocol.STORED_WRITE_FAILED: self.write_failed}

    # -- writing a run ------------------------------------------------------------------------

    def begin(self):
        """A START run begins: its copy opened, room made first. Returns its number."""
        self._ready()
        self.end()
        n = self.next
        self.next = n + 1
        try:
            try:
                os.mkdir(self.dir)
            except OSError:
                pass  # there already (or not makeable: the open says so)
            while len(self.numbers) >= MAX_RUNS:
                self._drop_oldest()
            self._save()
            self._f = open(self._path(n), "wb")
        except OSError as e:
            self._failed(n, "cannot open its copy: %s" % e)
            return None
        self.n = n
        self.numbers.append(n)
        self.started_ms[n] = time.ticks_ms()
        self._bytes = 0
        self._others = 0
        for k in self.numbers:
            if k != n:
                self._others += _size(self._path(k))
        return n

    def write(self, frame):
        """One frame as the link encoded it (Link.tee): appended, never raising."""
        f = self._f
        if f is None:
            return
        size = len(frame)
        if self._bytes + size > MAX_BYTES:
            self._failed(self.n, "its copy would exceed %d bytes" % MAX_BYTES)
            return
        while self._others + self._bytes + size > MAX_BYTES and len(self.numbers) > 1:
            self._drop_oldest()
        try:
            wrote = f.write(frame)  # type: ignore[attr-defined]
            if wrote is not None and wrote != size:
                raise OSError(28)  # ENOSPC: the flash took only part of it
        except Exception as e:  # a full or failing flash: the run goes on, its copy ends here
            self._failed(self.n, "writing its copy: %s" % e)
            return
        self._bytes += size

    def _failed(self, n, why):
        self.write_failed += 1
        self.problem = "START run %s is not kept whole on the fixture (%s): it goes on; a host must collect it live" % (n, why)
        self._close()
        self._save()

    def _close(self):
        f = self._f
        self._f = None
        if f is not None:
            try:
                f.close()  # type: ignore[attr-defined]
            except OSError as e:
                self.write_failed += 1
                self.problem = "START run %s: its copy did not close (%s)" % (self.n, e)

    def end(self):
        """The run ended (whatever way): its copy closed."""
        self._close()
        self.n = None
        self.say_problem(self.link)

    def say_problem(self, link):
        if self.problem is not None:
            msg = self.problem
            self.problem = None
            link.send(protocol.K_LOG, {"level": "error", "msg": msg})

    # -- KEPT -------------------------------------------------------------------------------

    def command(self, cmd_id, args):
        self._ready()
        ops = [k for k in ("replay", "drop", "stamp") if k in args]
        if len(ops) > 1:
            raise protocol.ProtocolError(protocol.E_ARG, "KEPT takes one of replay=, drop=, stamp=")
        if ("started" in args) != (ops == ["stamp"]):
            raise protocol.ProtocolError(protocol.E_ARG, "KEPT started= goes with stamp= (and stamp= needs it)")
        if not ops:
            return self.list(cmd_id)
        n = args[ops[0]]
        if n not in self.numbers or n == self.n:
            raise protocol.ProtocolError(protocol.E_RANGE, "no kept run %d (kept: %s)" % (n, self.numbers))
        if ops[0] == "drop":
            self._forget(n)
            self.link.send(protocol.K_OK, {"id": cmd_id, "dropped": n})
        elif ops[0] == "stamp":
            if self._started(n) is None:
                try:
                    with open(self._path(n, START), "w") as f:
                        f.write(args["started"])
                except OSError as e:
                    raise protocol.ProtocolError(protocol.E_HW, "cannot date kept run %d: %s" % (n, e))
            self.link.send(protocol.K_OK, {"id": cmd_id, "kept": n, "started": self._started(n)})
        else:
            self.replay(cmd_id, n)

    def _started(self, n):
        try:
            with open(self._path(n, START)) as f:
                return f.read() or None
        except OSError:
            return None

    def _tail(self, n):
        """(frames, the final done's verdict or None): the copy read through, line by line."""
        frames = 0
        verdict = None
        try:
            with open(self._path(n), "rb") as f:
                while True:
                    line = f.readline(LINE_MAX)
                    if not line or line[-1:] != b"\n":
                        break
                    frames += 1
                    i = line.find(b",")
                    if line[i + 1 : i + 6] == b"done,":
                        try:
                            verdict = protocol.decode_frame(line)[2].get("verdict")
                        except protocol.ProtocolError:
                            break
        except OSError:
            pass
        return frames, verdict

    def list(self, cmd_id):
        runs = []
        now = time.ticks_ms()
        for n in self.numbers:
            if n == self.n:
                continue  # still being written: not collectable yet
            if self.tick is not None:
                self.tick()
            frames, verdict = self._tail(n)
            t0 = self.started_ms.get(n)
            runs.append({"n": n, "frames": frames, "bytes": _size(self._path(n)), "verdict": verdict,
                         "complete": verdict is not None, "started": self._started(n),
                         "age_s": None if t0 is None else time.ticks_diff(now, t0) // 1000})
        d = {"id": cmd_id, "runs": runs}
        d.update(self.counts())
        self.link.send(protocol.K_OK, d)

    def replay(self, cmd_id, n):
        """Run n's frames again as they were sent, with fresh sequence numbers (the host counts
        gaps); a copy cut short ends with a `done` that says so. Then ok."""
        frames = 0
        done = False
        try:
            with open(self._path(n), "rb") as f:
                while not done:
                    line = f.readline(LINE_MAX)
                    if not line or line[-1:] != b"\n":
                        break  # the end, or a line cut by the power going
                    try:
                        _, kind, payload = protocol.decode_frame(line)
                    except protocol.ProtocolError:
                        break
                    self.link.send(kind, payload)
                    frames += 1
                    done = kind == protocol.K_DONE
                    if self.tick is not None:
                        self.tick()
        except OSError as e:
            raise protocol.ProtocolError(protocol.E_HW, "cannot read kept run %d: %s" % (n, e))
        if not done:
            self.link.send(protocol.K_DONE, {
                "id": 0, "verdict": protocol.ABORTED, "failed": [], "incomplete": True,
                "error": "the fixture's copy of START run %d ends after %d frames, before the run's end "
                         "(power lost during the run, or its copy could not be written whole)" % (n, frames)})
        self.link.send(protocol.K_OK, {"id": cmd_id, "kept": n, "frames": frames, "complete": done, "started": self._started(n)})


class Tee:
    """What the sequencer sends through during a START run: the link, each frame also written to
    the run's copy (Link.tee), the run frame naming the copy (`kept`: its number)."""

    def __init__(self, link, kept):
        self.link = link
        self.kept = kept

    def send(self, kind, payload):
        kept = self.kept
        if kind == protocol.K_RUN and kept.n is not None:
            payload["kept"] = kept.n
        link = self.link
        link.tee = kept.write
        try:
            ok = link.send(kind, payload)
        finally:
            link.tee = None
        kept.say_problem(link)  # after the frame that met it, through the link alone
        return ok

    def reply_error(self, cmd_id, code, msg):
        self.send(protocol.K_ERR, {"id": cmd_id, "code": code, "msg": msg})
