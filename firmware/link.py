# The fixture's end of the USB CDC link: reads command lines, writes framed messages.
#
# Frames are counted (sequence number per frame since boot, see protocol.py) so the host can
# tell when something was lost. USB CDC drops output when no host reads it for a while: the
# fixture keeps going and counts what it could not send.

import sys
import select

import protocol


class Link:
    def __init__(self, stdin=None, stdout=None):
        self._in = stdin or sys.stdin
        self._rx = getattr(self._in, "buffer", self._in)
        out = stdout or sys.stdout
        self._tx = getattr(out, "buffer", out)
        self._poll = select.poll()
        self._poll.register(self._in, select.POLLIN)
        self._line = bytearray(protocol.MAX_LINE)
        self._n = 0
        self._overlong = False
        self.seq = 0
        self.frames_sent = 0
        self.bytes_dropped = 0
        self.closed = False

    def send(self, kind, payload):
        """Write one frame. Never raises: a host that is gone is not the fixture's failure."""
        frame = protocol.encode_frame(self.seq, kind, payload)
        self.seq = (self.seq + 1) % protocol.SEQ_MOD
        try:
            n = self._tx.write(frame)
            if n is not None and n < len(frame):
                self.bytes_dropped += len(frame) - n
        except OSError:
            self.bytes_dropped += len(frame)
        self.frames_sent += 1

    def reply_error(self, cmd_id, code, msg):
        self.send(protocol.K_ERR, {"id": cmd_id, "code": code, "msg": msg})

    def read_line(self, timeout_ms=0):
        """Return one complete command line (bytes, without '\\n') if one arrives within
        timeout_ms, else None. An over-long line is returned as b"" once its '\\n' arrives,
        so the caller answers it with a syntax error instead of executing a fragment."""
        while True:
            try:
                ready = self._poll.poll(timeout_ms)
            except OSError:
                return None
            if not ready:
                return None
            ev = ready[0][1]
            if ev & (select.POLLHUP | select.POLLERR) and not ev & select.POLLIN:
                # The host side of a simulated port is gone; a real CDC port never says this.
                self.closed = True
                return None
            try:
                b = self._rx.read(1)
            except OSError:
                return None
            if not b:
                return None
            c = b[0] if isinstance(b, (bytes, bytearray)) else ord(b)
            if c == 0x0A or c == 0x0D:
                if self._overlong:
                    self._overlong = False
                    self._n = 0
                    return b""
                if self._n == 0:
                    timeout_ms = 0
                    continue
                line = bytes(self._line[: self._n])
                self._n = 0
                return line
            if self._n >= len(self._line):
                self._overlong = True
                continue
            self._line[self._n] = c
            self._n += 1
