"""Frames from the device, found in whatever the serial line delivers.

The frame and command formats live in firmware/dockwire.py, loaded here by
path so host and device share one definition. FrameReader is the host's
half: it scans for the magic, trusts a header only if its CRC holds, and
drops a frame whose payload CRC fails (then looks for the next magic one
byte further on, so a bad length never swallows good frames).

The device's own console shares the line: the camera driver prints
"cam_hal: FB-OVF" with ets_printf straight into UART0 from its own task
(esp32-camera driver/cam_hal.c), landing inside whatever frame the dock is
sending, and ESP-IDF logs ("E (1234) MPY_CAMERA: Failed to capture image",
cnadler86's src/modcamera.c) come between frames. A frame whose CRC fails
is tried again without such lines before it is given up: an inserted line
costs nothing then, where a resend would cost the frame and, by the
ZMODEM rule, shrink the frames that follow."""
import re
import struct
import time
from binascii import crc32
from collections import namedtuple

from bodycam.resources import shared

W = shared("dockwire")

Frame = namedtuple("Frame", "type id offset payload")

# A console line of the ESP32's: esp32-camera's ets_printf ("cam_hal: ...")
# or an ESP-IDF log line ("E (ms) TAG: ..."), printable ASCII ending CRLF.
CONSOLE_LINE = re.compile(rb"cam_hal: [ -~]{1,80}\r\n|[EWID] \([0-9]{1,10}\) [A-Za-z0-9_-]{1,32}: [ -~]{1,160}\r\n")
CONSOLE_MAX = 4096  # bytes of console lines looked for inside one frame
# The start of such a line, cut off by the end of what has arrived so far.
_PARTIAL = re.compile(rb"(?:c(?:a(?:m(?:_(?:h(?:a(?:l(?::(?: [ -~]{0,80}\r?)?)?)?)?)?)?)?)?"
                      rb"|[EWID](?: (?:\((?:[0-9]{1,10}(?:\)(?: (?:[A-Za-z0-9_-]{1,32}(?::(?: [ -~]{0,160}\r?)?)?)?)?)?)?)?)?)\Z")


class FrameReader:
    def __init__(self, read, on_bad=None):
        """read(n) -> up to n bytes, b"" after the port's timeout;
        on_bad(type, id, offset, n): a frame whose header holds arrived
        with its payload damaged."""
        self.read = read
        self.on_bad = on_bad
        self.buf = bytearray()
        self.skipped = 0  # bytes that were not part of a good frame
        self.last_garbage = bytearray()  # the latest skipped bytes, for error messages
        self.console_lines = 0  # device console lines taken out of frames they landed in
        self.quiet = False  # nothing more is arriving: do not wait for a frame's rest

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
                continue
            # The line went quiet: a frame still waiting for its rest will
            # not get it (it was damaged, not interrupted by a console line).
            self.quiet = True
            try:
                f = self._parse()
            finally:
                self.quiet = False
            if f is not None:
                return f
            if time.monotonic() >= end:
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
                fixed = self._without_console(n)
                if fixed == "more":
                    return None  # a console line is inside: wait for the frame's rest
                if fixed is None:
                    if self.on_bad is not None:
                        self.on_bad(typ, cid, off, n)  # selective resend: ask for it at once
                    self._skip(1)
                    continue
                payload, end = fixed
            del buf[:end]
            return Frame(typ, cid, off, payload)

    def _without_console(self, n):
        """The payload of the n-byte frame at the buffer's start with the
        device's console lines that landed inside it taken out: (payload,
        bytes the frame took on the line), "more" when its rest has not
        arrived yet, or None (no such line, or the frame is damaged
        otherwise)."""
        buf = self.buf
        need = n + W.TRAILER
        region = bytes(buf[W.HEADER:W.HEADER + need + CONSOLE_MAX])
        body = bytearray()
        pos = removed = lines = 0
        for m in CONSOLE_LINE.finditer(region):
            if len(body) + m.start() - pos >= need:
                break
            body += region[pos:m.start()]
            pos = m.end()
            removed += pos - m.start()
            lines += 1
        more = not self.quiet and len(buf) < W.HEADER + need + CONSOLE_MAX
        if more and _PARTIAL.search(region[-300:]):
            return "more"  # a line may be arriving
        if not lines:
            return None
        body += region[pos:pos + need - len(body)]
        if len(body) < need:
            return "more" if more else None
        if crc32(bytes(body[:n])) != struct.unpack_from("<I", body, n)[0]:
            return None
        self.console_lines += lines
        return bytes(body[:n]), W.HEADER + need + removed

    def _skip(self, n):
        g = self.last_garbage
        g += self.buf[:n]
        del g[:-256]
        self.skipped += n
        del self.buf[:n]

    def discard(self):
        self._skip(len(self.buf))
