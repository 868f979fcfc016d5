"""The host end of the USB CDC link: command lines out, framed messages in.

`Link` wraps any pyserial-like object (`read`, `write`, `close`, `timeout`). It sends commands
with increasing ids, reads frames (tester_firmware.protocol.decode_frame), logs and counts lines that
are not frames (noise: a traceback, a REPL banner), counts frames that fail their checksum
(garbled) and gaps in the sequence numbers (lost frames). Silence longer than the caller's
timeout raises `LinkError`, a port that fails (a USB cable pulled) `LinkLost`: the CLI's exit 3.
"""

import logging
import time
from dataclasses import dataclass

from tester.exitcodes import FixtureError
from tester.firmware import protocol

log = logging.getLogger("tester.link")

BAUD = 115200  # ignored by USB CDC, used by real UARTs and harmless on a pseudo-terminal


class LinkError(FixtureError):
    """The link to the fixture failed: silence, a port that vanished, a protocol violation."""


class LinkSilent(LinkError):
    """Nothing arrived within the time given: an idle fixture is quiet, a measuring one is not."""


class LinkLost(LinkError):
    """The port itself failed or vanished (a USB cable pulled): the fixture may come back on it,
    so monitoring reopens the port where silence would end the command."""


def _is_frame(line):
    try:
        protocol.decode_frame(line)
    except protocol.ProtocolError:
        return False
    return True


@dataclass
class Frame:
    seq: int
    kind: str
    payload: dict

    def get(self, key, default=None):
        return self.payload.get(key, default)

    @property
    def id(self):
        return self.payload.get("id")


class LinkStats:
    def __init__(self):
        self.frames = 0  # good frames received
        self.lost = 0  # frames missing, from sequence-number gaps
        self.garbled = 0  # lines that looked like frames but failed to decode
        self.noise_lines = 0  # lines that were not frames at all
        self.last_seq = None

    def as_dict(self):
        return {"frames": self.frames, "lost": self.lost, "garbled": self.garbled, "noise_lines": self.noise_lines}


class Link:
    def __init__(self, port, name=None):
        self.port = port
        self.name = name or getattr(port, "port", None) or "?"
        self.stats = LinkStats()
        self.noise = []  # the last noise lines, for the record / the user
        self.garbled_lines = []
        self._buf = bytearray()
        self._next_id = 1

    @classmethod
    def open(cls, device):
        import serial

        try:
            ser = serial.Serial(device, BAUD, timeout=0.05, write_timeout=2.0, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as e:
            raise LinkError("cannot open port %s: %s" % (device, e))
        return cls(ser, name=device)

    def close(self):
        try:
            self.port.close()
        except Exception:
            pass

    def reset_stats(self, seq=None):
        """Start counting afresh (after the handshake); `seq` is the last frame seen."""
        self.stats = LinkStats()
        self.stats.last_seq = seq
        self.noise = []
        self.garbled_lines = []

    # -- sending --------------------------------------------------------------------------

    def send(self, verb, **args):
        """Send one command; returns its id."""
        cmd_id = self._next_id
        self._next_id += 1
        line = protocol.format_command(cmd_id, verb, args)
        log.debug("-> %s", line.rstrip())
        try:
            self.port.write(line.encode("ascii"))
            flush = getattr(self.port, "flush", None)
            if flush:
                flush()
        except Exception as e:
            raise LinkLost("link to the fixture on %s lost while sending %s: %s" % (self.name, verb, e))
        return cmd_id

    # -- receiving ------------------------------------------------------------------------

    def _read_some(self):
        try:
            data = self.port.read(4096)
        except Exception as e:  # serial.SerialException, OSError: the port went away
            raise LinkLost("link to the fixture on %s lost: %s" % (self.name, e))
        return data

    def read_frame(self, timeout):
        """The next frame, or raise LinkError after `timeout` seconds of no frame at all."""
        deadline = time.monotonic() + timeout
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl]).rstrip(b"\r")
                del self._buf[: nl + 1]
                frame = self.feed_line(line)
                if frame is not None:
                    return frame
                continue
            if len(self._buf) > 65536:  # a line that never ends: not our protocol
                self._noise(bytes(self._buf[:200]) + b"...")
                self._buf.clear()
            if time.monotonic() >= deadline:
                raise LinkSilent(
                    "the fixture on %s stopped answering (nothing for %.1f s)" % (self.name, timeout)
                )
            data = self._read_some()
            if data:
                self._buf += data

    def feed_line(self, line):
        """Account for one received line; return a Frame or None (noise, garbled).

        USB CDC drops bytes when the host stops reading, a frame's end and its newline included:
        the next frame then arrives glued to a fragment. A whole frame at the end of a line is
        recovered; the fragment before it counts as garbled (or noise)."""
        if not line.strip():
            return None
        cut = line.rfind(b"$")
        if cut > 0 and not _is_frame(line) and _is_frame(line[cut:]):
            self.feed_line(line[:cut])
            return self.feed_line(line[cut:])
        if not line.lstrip().startswith(b"$"):
            self._noise(line)
            return None
        try:
            seq, kind, payload = protocol.decode_frame(line)
        except protocol.ProtocolError as e:
            self.stats.garbled += 1
            self.garbled_lines.append(line[:200].decode("ascii", "replace"))
            del self.garbled_lines[:-20]
            log.warning("garbled frame (%s): %r", e.msg, line[:120])
            return None
        st = self.stats
        if st.last_seq is not None:
            gap = (seq - st.last_seq - 1) % protocol.SEQ_MOD
            if gap:
                st.lost += gap
                log.warning("frame sequence gap: expected %d, got %d (%d lost)", (st.last_seq + 1) % protocol.SEQ_MOD, seq, gap)
        st.last_seq = seq
        st.frames += 1
        if kind == protocol.K_LOG:
            log.info("fixture: %s %s", payload.get("level", ""), payload.get("msg", ""))
        return Frame(seq, kind, payload)

    def _noise(self, line):
        self.stats.noise_lines += 1
        text = line[:200].decode("utf-8", "replace")
        self.noise.append(text)
        del self.noise[:-20]
        log.info("not a frame: %s", text)
