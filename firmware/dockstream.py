# One file read streamed to the host, like esptool's stub READ_FLASH: data
# frames go out ahead of the host's acks, up to a window, so the line never
# waits for a round trip. Frames carry their file offset, so a frame sent
# again is the same bytes.
#
# Selective resend (protocol 3): the host keeps the frames after a lost or
# damaged one and asks for the gap alone (N OFFSET LENGTH). The dock queues
# that range, sends it before new data, then goes on where it was. The
# window counts from the highest byte the host has seen (K EXPECT HIGH), so
# a gap being filled never stops the line; new data stays within
# AHEAD_WINDOWS windows of what the host holds in order, which bounds what
# the host keeps while it waits for a gap.
#
# Frame size and window come from the host in every ack and resend request:
# the dock takes the largest of its sizes (dockwire.CHUNKS) not above the
# request, from its next frame on, through a view fixed per size. Steady
# streaming allocates nothing (heap_lock test); only a short last frame at
# the end of the file slices a view.
import dockwire as W
from ring import _ticks_diff

MAX_WINDOW = 131072
AHEAD_WINDOWS = 8
RESEND_SLOTS = 8  # gaps queued at once; more are dropped (the host asks again)
STALL_MS = 15000  # a read with no ack for this long is abandoned (host gone)


class FileStream:
    def __init__(self, out, stats, ms, on_done):
        """out: docktx.FrameOut; ms(): link time; on_done(name, start, size):
        the host holds the whole read."""
        self.out = out
        self.stats = stats
        self.ms = ms
        self.on_done = on_done
        self.f = None
        self.sid = 0
        self.ci = 0
        self.chunk = W.CHUNKS[0]
        self.window = self.chunk
        self.rq_off = [0] * RESEND_SLOTS  # queued gaps: [off, end)
        self.rq_end = [0] * RESEND_SLOTS
        self.nrq = 0
        self.name = None
        self.start = self.size = self.sent = self.acked = self.high = self.fpos = 0
        self.end_sent = False
        self.last_ack = 0

    def open(self, f, cid, name, off, size, chunk, window):
        self.close()
        self.f = f
        self.fpos = 0
        self.sid = cid
        self.name = name
        self.start = off
        self.size = size
        self.sent = self.acked = self.high = off
        self.nrq = 0
        self.end_sent = False
        self.sizes(chunk, window)
        self.last_ack = self.ms()

    def close(self):
        f = self.f
        if f is not None:
            self.f = None
            self.sid = 0
            self.nrq = 0
            try:
                f.close()
            except OSError:
                pass

    def sizes(self, chunk, window):
        """Frame size and window from the host's request, within our
        limits: the largest of CHUNKS not above chunk (from the next frame
        on), a window of at least one frame. No allocation."""
        i = 0
        sizes = W.CHUNKS
        while i + 1 < len(sizes) and sizes[i + 1] <= chunk:
            i += 1
        if i != self.ci or sizes[i] != self.chunk:
            self.ci = i
            self.chunk = sizes[i]
            self.stats["resizes"] += 1
        c = self.chunk
        if window < c:
            window = c
        self.window = window if window < MAX_WINDOW else MAX_WINDOW

    # --- from the host ----------------------------------------------------
    def ack(self, kind, a, b, chunk, window):
        """K (kind W.ACK) or N (W.RESEND) for this read."""
        if chunk:
            self.sizes(chunk, window)
        self.last_ack = self.ms()
        if kind == W.ACK_BYTE:
            sent = self.sent
            if self.acked < a <= sent:
                self.acked = a
            if self.high < b <= sent:
                self.high = b
            if self.high < self.acked:
                self.high = self.acked
            if self.acked == self.size:
                self._done()
            return
        end = a + b
        if end > self.sent:
            end = self.sent
        if a < self.acked:
            a = self.acked
        if a >= end:
            return
        self.stats["resends"] += 1
        self._queue(a, end)

    def _queue(self, a, end):
        offs = self.rq_off
        ends = self.rq_end
        for i in range(self.nrq):
            if offs[i] <= a <= ends[i]:  # asked again, or more of it
                if end > ends[i]:
                    ends[i] = end
                return
        if self.nrq < RESEND_SLOTS:
            offs[self.nrq] = a
            ends[self.nrq] = end
            self.nrq += 1

    def _done(self):
        name, start, size = self.name, self.start, self.size
        self.close()
        self.on_done(name, start, size)

    # --- to the host ---------------------------------------------------------
    def stalled(self, t):
        return _ticks_diff(t, self.last_ack) >= STALL_MS

    def next_frame(self):
        """Put the next frame in flight (a gap first, then new data, then
        the end). False when the window is full: wait for acks."""
        if self.nrq:
            self._resend()
            return True
        sent = self.sent
        if sent < self.size:
            if sent - self.high >= self.window or sent - self.acked >= AHEAD_WINDOWS * self.window:
                return False
            n = self._read(sent, self.chunk)
            self.sent = sent + n
            return True
        if not self.end_sent:
            self.out.data(W.END, self.sid, self.size, 0)
            self.end_sent = True
            return True
        return False

    def _resend(self):
        off = self.rq_off[0]
        left = self.rq_end[0] - off
        # one frame of the smallest size that covers what is left of the
        # gap (no larger than the frame size asked for): views are fixed
        # per size, and a little overlap costs less than another header
        c = self.chunk
        sizes = W.CHUNKS
        for i in range(self.ci + 1):
            if sizes[i] >= left:
                c = sizes[i]
                break
        n = self._read(off, c)
        self.stats["resent_bytes"] += n
        if off + n >= self.rq_end[0]:
            self._pop()
        else:
            self.rq_off[0] = off + n

    def _pop(self):
        offs = self.rq_off
        ends = self.rq_end
        for i in range(1, self.nrq):
            offs[i - 1] = offs[i]
            ends[i - 1] = ends[i]
        self.nrq -= 1

    def _index(self, c):
        sizes = W.CHUNKS
        for i in range(self.ci + 1):
            if sizes[i] == c:
                return i
        return self.ci

    def _read(self, off, c):
        """Read c bytes (fewer at the end of the file) at off into the
        frame buffer and put that data frame in flight."""
        f = self.f
        if self.fpos != off:
            f.seek(off)
            self.fpos = off
        want = self.size - off
        out = self.out
        if want >= c:
            n = f.readinto(out.views[self._index(c)])
        else:
            n = f.readinto(out.payload, want)
        if n != c and n != want:
            raise OSError("file shrank while being read")
        self.fpos += n
        out.data(W.DATA, self.sid, off, n)
        st = self.stats
        st["frames"] += 1
        st["bytes"] += n
        return n


