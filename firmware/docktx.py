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
        self.use(link)
        self.fbuf = bytearray(W.OVERHEAD + W.MAX_PAYLOAD)
        self.fbuf[0] = 0xBC
        self.fbuf[1] = 0xDC
        mv = memoryview(self.fbuf)
        self.hdr10 = mv[0:10]
        self.payload = mv[W.HEADER:W.HEADER + W.MAX_PAYLOAD]
        # one view per frame size: a full frame's CRC without slicing, and
        # the whole frame for a link that takes whole buffers only
        self.views = tuple(mv[W.HEADER:W.HEADER + c] for c in W.CHUNKS)
        self.frames = tuple(mv[0:W.OVERHEAD + c] for c in W.CHUNKS)
        self.end_frame = mv[0:W.OVERHEAD]
        self.mv = mv
        self.ob = None  # the frame in flight: buffer, next offset, end
        self.oo = self.oe = 0
        self.replies = []  # whole frames waiting behind it

    def use(self, link):
        # bound once: getattr(link, "room") in pump() would allocate a bound
        # method every call (garbage, so collections, in the hot path)
        self.link = link
        self.room = getattr(link, "room", None)

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
        is left to send. A link that takes whole frames only (link.whole:
        UART1's ring) gets each at once when it fits."""
        link = self.link
        room = self.room
        whole = getattr(link, "whole", False)  # (an attribute: no allocation) it changes with the speed step
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
                    if whole:
                        return False
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
        i = _size_index(n)
        if n == 0:
            struct.pack_into("<I", buf, W.HEADER, 0)  # CRC-32 of nothing
            frame = self.end_frame
        elif i >= 0:
            struct.pack_into("<I", buf, W.HEADER + n, crc32(self.views[i]))
            frame = self.frames[i]
        else:  # a short last frame only: slices (allocates) once a file
            struct.pack_into("<I", buf, W.HEADER + n, crc32(self.payload[:n]))
            frame = self.mv[0:W.OVERHEAD + n]
        self._start(frame, W.OVERHEAD + n)


def _size_index(n):
    sizes = W.CHUNKS
    for i in range(len(sizes)):
        if sizes[i] == n:
            return i
    return -1
