# The fixture's end of the USB CDC link: reads command lines, writes framed messages.
#
# Frames are counted (sequence number per frame since boot, see protocol.py) so the host can
# tell when something was lost.
#
# Input. The application runs with the keyboard interrupt off (app.py: micropython.kbd_intr(-1)),
# so every byte arrives here. A control byte makes its line a syntax error (protocol.parse_command
# refuses it), 0x03 (Ctrl-C) discards the line typed so far, as a terminal does. 0x03 followed by
# 0x01 (Ctrl-A), with only CR/LF between, is what mpremote sends to reach the raw REPL: the link
# raises `repl_requested` and the app ends in the safe state (mpremote's first 0x01 is consumed
# here, so a bare mpremote needs a second try; `tester flash` sends REPL first).
#
# Output never stalls the fixture. On the RP2040 a CDC write blocks while the TX FIFO is full and
# gives up after ~500 ms when the host does not read (DESIGN.md section 5): a run with relays
# closed or a monitor that must drain every 20 ms cannot wait for that. After one short write the
# link is `congested`: it drops whole frames (counted: frames_dropped) until the
# port polls writable again; the monitor's events stay in its log for EVENTS since=K.
#
# `tee`, while set (kept_runs.Tee during a START run), is given every frame as encoded: those
# frames are encoded even when the host does not read, so the fixture's copy is whole.

import sys
import select

import protocol

_CTRL_C = 0x03
_CTRL_A = 0x01


class Link:
    def __init__(self, stdin=None, stdout=None):
        self._in = stdin or sys.stdin
        self._rx = getattr(self._in, "buffer", self._in)
        out = stdout or sys.stdout
        self._out = out
        self._tx = getattr(out, "buffer", out)
        self._poll = select.poll()
        self._poll.register(self._in, select.POLLIN)
        self._wpoll = select.poll()
        self._wpoll.register(out, select.POLLOUT)
        self._line = bytearray(protocol.MAX_LINE)
        self._n = 0
        self._overlong = False
        self._ctrl_c = False  # the last byte that was not CR/LF was 0x03
        self.repl_requested = False
        self.seq = 0
        self.frames_sent = 0
        self.frames_dropped = 0
        self.bytes_dropped = 0
        self.congested = False
        self.host_gone = False  # the host side of a simulated port closed (a real CDC port never says so)
        self.tee = None  # callable(frame bytes), see above

    def _writable(self):
        try:
            for _, ev in self._wpoll.poll(0):
                if ev & select.POLLOUT:
                    return True
        except OSError:
            pass
        return False

    def send(self, kind, payload):
        """Write one frame, never waiting for a host that does not read: a host that is gone is
        not the fixture's failure (the frame is counted as dropped). Returns True if the whole
        frame was written. Encoding may raise (MemoryError on a fragmented heap): then no sequence
        number is taken, so the host sees no gap the link does not count, and the caller answers
        the error (App.handle: err "hardware")."""
        seq = self.seq
        tee = self.tee
        if self.congested:
            if not self._writable():
                if tee is not None:
                    tee(protocol.encode_frame(seq, kind, payload))
                self.seq = (seq + 1) % protocol.SEQ_MOD
                self.frames_sent += 1
                self.frames_dropped += 1  # not even encoded: a flood costs no CPU while nobody reads
                return False
            self.congested = False
        frame = protocol.encode_frame(seq, kind, payload)
        self.seq = (seq + 1) % protocol.SEQ_MOD
        self.frames_sent += 1
        if tee is not None:
            tee(frame)
        try:
            n = self._tx.write(frame)
        except OSError:
            n = 0
        if n is None:  # a non-blocking stream that would block: nothing was written
            n = 0
        if n < len(frame):
            self.bytes_dropped += len(frame) - n
            self.frames_dropped += 1
            self.congested = True
            return False
        return True

    def reply_error(self, cmd_id, code, msg):
        self.send(protocol.K_ERR, {"id": cmd_id, "code": code, "msg": msg})

    def stats(self):
        return {"frames_sent": self.frames_sent, "frames_dropped": self.frames_dropped,
                "bytes_dropped": self.bytes_dropped, "congested": self.congested}

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
                self.host_gone = True
                return None
            try:
                b = self._rx.read(1)
            except OSError:
                return None
            if not b:
                return None
            self.host_gone = False
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
            if c == _CTRL_C:
                self._ctrl_c = True
                self._n = 0  # the line so far is discarded
                self._overlong = False
                timeout_ms = 0
                continue
            if c == _CTRL_A and self._ctrl_c:
                self._ctrl_c = False
                self._n = 0
                self.repl_requested = True
                return None
            self._ctrl_c = False
            if self._n >= len(self._line):
                self._overlong = True
                continue
            self._line[self._n] = c
            self._n += 1
