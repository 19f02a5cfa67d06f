"""Frames from the device, found in whatever the serial line delivers.

The frame and command formats live in firmware/dockwire.py, loaded here by
path so host and device share one definition. FrameReader is the host's
half: it scans for the magic, trusts a header only if its CRC holds, and
drops a frame whose payload CRC fails (then looks for the next magic one
byte further on, so a bad length never swallows good frames)."""
import struct
import time
from binascii import crc32
from collections import namedtuple

from bodycam.resources import shared

W = shared("dockwire")

Frame = namedtuple("Frame", "type id offset payload")


class FrameReader:
    def __init__(self, read):
        """read(n) -> up to n bytes, b"" after the port's timeout."""
        self.read = read
        self.buf = bytearray()
        self.skipped = 0  # bytes that were not part of a good frame
        self.last_garbage = bytearray()  # the latest skipped bytes, for error messages

    def next(self, timeout):
        """The next good frame, or None if none arrived within timeout s."""
        end = time.monotonic() + timeout
        while True:
            f = self._parse()
            if f is not None:
                return f
            data = self.read(65536)
            if data:
                self.buf += data
            elif time.monotonic() >= end:
                return None

    def _parse(self):
        buf = self.buf
        while True:
            i = buf.find(W.MAGIC)
            if i < 0:
                # keep a trailing first magic byte: its partner may follow
                keep = 1 if buf and buf[-1] == W.MAGIC[0] else 0
                self._skip(len(buf) - keep)
                return None
            if i:
                self._skip(i)
            if len(buf) < W.HEADER:
                return None
            h = W.parse_header(buf[:W.HEADER])
            if h is None:
                self._skip(1)
                continue
            typ, cid, n, off = h
            end = W.HEADER + n + W.TRAILER
            if len(buf) < end:
                return None
            payload = bytes(buf[W.HEADER:W.HEADER + n])
            want, = struct.unpack_from("<I", buf, W.HEADER + n)
            if crc32(payload) != want:
                self._skip(1)
                continue
            del buf[:end]
            return Frame(typ, cid, off, payload)

    def _skip(self, n):
        g = self.last_garbage
        g += self.buf[:n]
        del g[:-256]
        self.skipped += n
        del self.buf[:n]

    def discard(self):
        self._skip(len(self.buf))
