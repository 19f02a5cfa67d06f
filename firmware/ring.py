# Pre-roll frame ring: the last N seconds of JPEG frames, in one preallocated
# byte buffer with preallocated slot tables. push() is the hot path and never
# allocates (proved under micropython.heap_lock() in tests/test_ring.py).
#
# Frames are laid out back to back and never split across the wrap: a frame
# that does not fit before the end of the buffer starts again at offset 0.
# Sequence numbers are given only to stored frames, so they are continuous.
# A recording "holds" every frame from a sequence number on; held frames are
# never evicted: when the writer falls behind, new frames are dropped and
# counted instead.
import array

BAD_FRAME = -1  # not a whole JPEG (no SOI/EOI marker)
TOO_LARGE = -2  # larger than the whole ring
RING_FULL = -3  # no room without evicting a held (unwritten) frame


class FrameRing:
    def __init__(self, nbytes, max_frames):
        if nbytes < 64 or max_frames < 2:
            raise ValueError("ring needs >= 64 bytes and >= 2 slots")
        self.size = nbytes
        self.slots = max_frames
        self.buf = bytearray(nbytes)
        self.mv = memoryview(self.buf)
        self.off = array.array("i", bytearray(4 * max_frames))
        self.ln = array.array("i", bytearray(4 * max_frames))
        self.tms = array.array("i", bytearray(4 * max_frames))
        self.head = 0  # slot of the oldest frame
        self.count = 0
        self.wpos = 0  # byte offset just past the newest frame
        self.next_seq = 0  # sequence number the next stored frame gets
        self.held = -1  # frames with seq >= held are never evicted (-1: none)
        self.dropped_bad = 0
        self.dropped_large = 0
        self.dropped_full = 0

    # --- hot path -------------------------------------------------------
    def push(self, frame, t_ms):
        """Copy one JPEG frame (any buffer, e.g. the camera's memoryview,
        valid only until the next capture) into the ring. Returns its
        sequence number, or a negative reason code when dropped."""
        n = len(frame)
        # & 0xFF: cnadler86's capture() hands out a signed ('b') memoryview,
        # where 0xFF reads as -1 (modcamera.c, mp_obj_new_memoryview('b', ...)).
        if (n < 4 or frame[0] & 0xFF != 0xFF or frame[1] & 0xFF != 0xD8
                or frame[n - 2] & 0xFF != 0xFF or frame[n - 1] & 0xFF != 0xD9):
            self.dropped_bad += 1
            return BAD_FRAME
        size = self.size
        if n > size:
            self.dropped_large += 1
            return TOO_LARGE
        # Locals, one loop, no calls: this runs for every camera frame.
        off = self.off
        slots = self.slots
        head = self.head
        count = self.count
        w = self.wpos
        held = self.held
        oldest = self.next_seq - count
        # Evict oldest frames until n contiguous bytes and a slot are free.
        while True:
            if count == 0:
                pos = 0
                break
            if count < slots:
                o = off[head]
                if o >= w:  # oldest lies ahead: the gap is [w, o)
                    if w + n <= o:
                        pos = w
                        break
                elif w + n <= size:  # live data is [o, w): room at the end
                    pos = w
                    break
                elif n <= o:  # ...or at the start (the tail stays unused)
                    pos = 0
                    break
            if held >= 0 and oldest >= held:  # never evict an unwritten frame
                self.head = head
                self.count = count
                self.dropped_full += 1
                return RING_FULL
            head += 1
            if head == slots:
                head = 0
            count -= 1
            oldest += 1
        self.mv[pos:pos + n] = frame
        s = head + count
        if s >= slots:
            s -= slots
        off[s] = pos
        self.ln[s] = n
        self.tms[s] = t_ms
        self.head = head
        self.count = count + 1
        self.wpos = pos + n
        seq = self.next_seq
        self.next_seq = seq + 1
        return seq

    # --- reading (recorder side; may allocate) ---------------------------
    def oldest_seq(self):
        return self.next_seq - self.count

    def newest_seq(self):
        return self.next_seq - 1

    def has(self, seq):
        return self.next_seq - self.count <= seq < self.next_seq

    def _slot(self, seq):
        if not self.has(seq):
            raise IndexError("frame %d is not in the ring" % seq)
        s = self.head + seq - (self.next_seq - self.count)
        return s - self.slots if s >= self.slots else s

    def frame(self, seq):
        s = self._slot(seq)
        o = self.off[s]
        return self.mv[o:o + self.ln[s]]

    def time_of(self, seq):
        return self.tms[self._slot(seq)]

    def first_since(self, t_ms):
        """Sequence number of the newest frame captured at or before t_ms
        (so frames from there on cover t_ms), else the oldest frame. Times
        are ticks: compared by difference so wrap-around is harmless."""
        first = self.oldest_seq()
        if not self.count:
            return self.next_seq
        seq = first
        while seq < self.next_seq:
            if _ticks_diff(self.tms[self._slot(seq)], t_ms) > 0:
                break
            seq += 1
        return seq - 1 if seq > first else first

    def hold(self, seq):
        """Keep frames from seq on until released (a recording's unwritten
        frames); -1 releases."""
        self.held = seq

    def bytes_used(self):
        if not self.count:
            return 0
        o = self.off[self.head]
        return self.wpos - o if o < self.wpos else self.size - o + self.wpos


def _ticks_diff(a, b):
    # time.ticks_diff for the 2**30 tick period of MicroPython ports, in pure
    # Python so the ring also runs under synthetic time on any interpreter.
    d = (a - b) & 0x3FFFFFFF
    return d - 0x40000000 if d >= 0x20000000 else d
