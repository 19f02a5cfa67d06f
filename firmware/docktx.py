# The dock's output: frames (dockwire.py) written to the link in pieces of
# what it takes now (link.room()), a piece whenever room comes, so a write
# never blocks the capture loop. On the ESP32's REPL UART a write bigger
# than the free TX FIFO blocks in 10 ms FreeRTOS ticks (ports/esp32/uart.c
# uart_stdout_tx_strn, v1.27.0), which would stall capture and cap the line
# at 12.8 KB/s (see dockio.py).
#
# Data frames are built in one preallocated buffer, with one fixed view per
# frame size (dockwire.CHUNKS): streaming and changing the frame size
# allocate nothing. Replies wait in a queue behind the frame in flight.
import struct
from binascii import crc32

import dockwire as W


class FrameOut:
    def __init__(self, link):
        self.link = link
        self.fbuf = bytearray(W.OVERHEAD + W.MAX_PAYLOAD)
        self.fbuf[0] = 0xBC
        self.fbuf[1] = 0xDC
        mv = memoryview(self.fbuf)
        self.hdr10 = mv[0:10]
        self.payload = mv[W.HEADER:W.HEADER + W.MAX_PAYLOAD]
        # one view per frame size: a full frame's CRC without slicing
        self.views = tuple(mv[W.HEADER:W.HEADER + c] for c in W.CHUNKS)
        self.ob = None  # the frame in flight: buffer, next offset, end
        self.oo = self.oe = 0
        self.replies = []  # whole frames waiting behind it

    def idle(self):
        """Nothing in flight and nothing queued."""
        return self.ob is None and not self.replies

    def send(self, fr):
        """Queue a whole frame (a reply) behind the one in flight."""
        if self.ob is None:
            self._start(fr, len(fr))
        else:
            self.replies.append(fr)
        self.pump()

    def _start(self, buf, n):
        self.ob = buf
        self.oo = 0
        self.oe = n

    def pump(self):
        """Write what the link takes now without waiting. True when nothing
        is left to send."""
        link = self.link
        room = getattr(link, "room", None)
        while True:
            if self.ob is None:
                if not self.replies:
                    return True
                fr = self.replies.pop(0)
                self._start(fr, len(fr))
            k = self.oe - self.oo
            if room is not None:
                r = room()
                if r <= 0:
                    return False
                if k > r:
                    k = r
            link.write(self.ob, k, self.oo)
            self.oo += k
            if self.oo < self.oe:
                return False
            self.ob = None

    def left(self):
        """Bytes of the frame in flight not written yet."""
        return self.oe - self.oo if self.ob is not None else 0

    def data(self, typ, sid, off, n):
        """Put the frame whose payload (n bytes) is already in
        self.payload in flight: header and CRCs, no allocation."""
        buf = self.fbuf
        struct.pack_into("<BBHI", buf, 2, typ, sid, n, off)
        struct.pack_into("<H", buf, 10, crc32(self.hdr10) & 0xFFFF)
        if n == 0:
            struct.pack_into("<I", buf, W.HEADER, 0)  # CRC-32 of nothing
        elif n == len(self.views[-1]):
            struct.pack_into("<I", buf, W.HEADER + n, crc32(self.views[-1]))
        else:
            struct.pack_into("<I", buf, W.HEADER + n, crc32(self._view(n)))
        self._start(buf, W.OVERHEAD + n)

    def _view(self, n):
        for v in self.views:
            if len(v) == n:
                return v
        return self.payload[:n]  # a short last frame only
