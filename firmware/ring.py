# Pre-roll frame ring: the last N seconds of JPEG frames, in one preallocated
# byte buffer with preallocated slot tables. push() is the hot path and never
# allocates (proved under micropython.heap_lock() in tests/test_ring.py and
# tests/test_thinning.py).
#
# Frames are laid out back to back and never split across the wrap: a frame
# that does not fit before the end of its region starts again at the
# region's start. Sequence numbers are given only to stored frames. A
# recording "holds" every frame from a sequence number on; held frames are
# never evicted: when the writer falls behind, new frames are dropped and
# counted instead.
#
# Thinning (opt-in, settings.preroll_full_s; docs/preroll.md): the buffer is
# cut into "levels", each its own FIFO ring. A frame's level is the number of
# trailing zero bits of its sequence number (capped at the top level), so
# level 0 holds every 2nd frame, level 1 every 4th, ... and the top level the
# rest. The plan sizes level L to keep its frames for as long as the pre-roll
# keeps a rate of at least 1/2**L of the camera's, so the ring drops every
# 2nd frame of the oldest stretch, then every 4th..., oldest first, and never
# has to move a byte (moving one in MicroPython needs a new memoryview:
# an allocation). A level's oldest frame younger than full_ms is never
# evicted to make room: the new frame goes to the next level up instead,
# which gives up older pre-roll. With one level (no thinning) this is the
# plain ring. A thinned frame keeps its sequence number and time in the slot
# table as a tombstone (thinned(seq) is True), so sequence numbers of the
# frames kept never change.
import array

BAD_FRAME = -1  # not a whole JPEG (no SOI/EOI marker)
TOO_LARGE = -2  # larger than the whole ring
RING_FULL = -3  # no room without evicting a held (unwritten) frame


class FrameRing:
    def __init__(self, nbytes, max_frames, level_bytes=None, full_ms=0):
        if nbytes < 64 or max_frames < 2:
            raise ValueError("ring needs >= 64 bytes and >= 2 slots")
        if not level_bytes:
            level_bytes = (nbytes,)
        if sum(level_bytes) > nbytes or min(level_bytes) < 1:
            raise ValueError("ring levels %r do not fit in %d bytes" % (list(level_bytes), nbytes))
        self.size = nbytes
        self.slots = max_frames
        self.full_ms = full_ms
        self.buf = bytearray(nbytes)
        self.mv = memoryview(self.buf)
        # per frame, by slot = seq % slots
        self.off = array.array("i", bytearray(4 * max_frames))
        self.ln = array.array("i", bytearray(4 * max_frames))
        self.tms = array.array("i", bytearray(4 * max_frames))
        self.lv = bytearray(max_frames)  # level + 1; 0 = not stored (thinned)
        # per level: region [base, base + size), write offset, oldest seq (-1: empty)
        n = len(level_bytes)
        self.levels = n
        self.top = n - 1
        self.lbase = array.array("i", bytearray(4 * n))
        self.lsize = array.array("i", bytearray(4 * n))
        self.lw = array.array("i", bytearray(4 * n))
        self.lhead = array.array("i", bytearray(4 * n))
        b = 0
        big = 0
        for i in range(n):
            self.lbase[i] = b
            self.lsize[i] = level_bytes[i]
            self.lw[i] = b
            self.lhead[i] = -1
            b += level_bytes[i]
            if level_bytes[i] > big:
                big = level_bytes[i]
        self.largest = big
        self.lo = 0  # oldest seq in the slot table (always a stored frame, or next_seq)
        self.count = 0  # frames stored
        self.next_seq = 0  # sequence number the next stored frame gets
        self.held = -1  # frames with seq >= held are never evicted (-1: none)
        self.thinned_total = 0
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
        if n > self.largest:
            self.dropped_large += 1
            return TOO_LARGE
        seq = self.next_seq
        slots = self.slots
        # The slot table is full: the oldest frame must go first.
        if seq - self.lo >= slots:
            lo = self.lo
            if self.held >= 0 and lo >= self.held:
                self.dropped_full += 1
                return RING_FULL
            self._evict(self.lv[lo % slots] - 1, lo)
        # The frame's level: trailing zero bits of its seq, capped at the top.
        top = self.top
        lev = 0
        x = seq
        while lev < top and not x & 1:
            x >>= 1
            lev += 1
        pos = -1
        while lev <= top:
            pos = self._room(lev, n, t_ms)
            if pos >= 0:
                break
            lev += 1
        if pos < 0:
            self.dropped_full += 1
            return RING_FULL
        self.mv[pos:pos + n] = frame
        s = seq % slots
        self.off[s] = pos
        self.ln[s] = n
        self.tms[s] = t_ms
        self.lv[s] = lev + 1
        self.lw[lev] = pos + n
        if self.lhead[lev] < 0:
            self.lhead[lev] = seq
        self.count += 1
        self.next_seq = seq + 1
        return seq

    def _room(self, lev, n, t_ms):
        # Offset where n contiguous bytes are free in level lev, evicting its
        # oldest frames as needed; -1 if that would evict a held frame, or
        # (below the top level) one younger than full_ms.
        base = self.lbase[lev]
        end = base + self.lsize[lev]
        if n > end - base:
            return -1
        w = self.lw[lev]
        off = self.off
        slots = self.slots
        held = self.held
        while True:
            h = self.lhead[lev]
            if h < 0:
                return base
            o = off[h % slots]
            if o >= w:  # oldest lies ahead: the gap is [w, o)
                if w + n <= o:
                    return w
            elif w + n <= end:  # live data is [o, w): room at the end
                return w
            elif base + n <= o:  # ...or at the start (the tail stays unused)
                return base
            if held >= 0 and h >= held:  # never evict an unwritten frame
                return -1
            if lev < self.top and _ticks_diff(t_ms, self.tms[h % slots]) < self.full_ms:
                return -1  # never thin the newest full_ms
            self._evict(lev, h)

    def _evict(self, lev, h):
        # Remove frame h, the oldest of level lev. Below the oldest stored
        # frame it becomes a tombstone: a thinned frame.
        slots = self.slots
        lv = self.lv
        lv[h % slots] = 0
        self.count -= 1
        nxt = self.next_seq
        s = h + 1
        want = lev + 1
        while s < nxt and lv[s % slots] != want:
            s += 1
        if s < nxt:
            self.lhead[lev] = s
        else:
            self.lhead[lev] = -1
            self.lw[lev] = self.lbase[lev]
        if h == self.lo:
            s = h + 1
            while s < nxt and not lv[s % slots]:
                s += 1
            self.lo = s
        else:
            self.thinned_total += 1

    # --- reading (recorder side; may allocate) ---------------------------
    def oldest_seq(self):
        return self.lo

    def newest_seq(self):
        return self.next_seq - 1

    def has(self, seq):
        return self.lo <= seq < self.next_seq and self.lv[seq % self.slots] != 0

    def thinned(self, seq):
        """True for a frame inside the ring's span that thinning dropped."""
        return self.lo <= seq < self.next_seq and self.lv[seq % self.slots] == 0

    def _slot(self, seq):
        if not self.has(seq):
            raise IndexError("frame %d is not in the ring" % seq)
        return seq % self.slots

    def frame(self, seq):
        s = self._slot(seq)
        o = self.off[s]
        return self.mv[o:o + self.ln[s]]

    def piece(self, seq, start, n):
        """A view of n bytes of a stored frame from start on."""
        o = self.off[self._slot(seq)] + start
        return self.mv[o:o + n]

    def length(self, seq):
        """Bytes of a stored frame (no memoryview made: nothing allocated)."""
        return self.ln[self._slot(seq)]

    def time_of(self, seq):
        """Capture time of a stored or thinned frame."""
        if not self.lo <= seq < self.next_seq:
            raise IndexError("frame %d is not in the ring" % seq)
        return self.tms[seq % self.slots]

    def first_since(self, t_ms):
        """Sequence number of the newest stored frame captured at or before
        t_ms (so frames from there on cover t_ms), else the oldest frame.
        Times are ticks: compared by difference so wrap-around is harmless."""
        if not self.count:
            return self.next_seq
        best = self.lo
        seq = self.lo
        while seq < self.next_seq:
            if self.has(seq):
                if _ticks_diff(self.tms[seq % self.slots], t_ms) > 0:
                    break
                best = seq
            seq += 1
        return best

    def stretches(self, first, t_ms):
        """How frames first..t_ms (ticks) were kept, oldest first: a list of
        {"from_ms", "to_ms", "every"}, times of the first and last frame kept
        in the stretch relative to t_ms, and every: 1 if all frames were
        kept, 2 if every 2nd, ... (counted in sequence numbers)."""
        out = []
        prev = -1
        seq = first
        while seq < self.next_seq and _ticks_diff(self.tms[seq % self.slots], t_ms) < 0:
            if self.has(seq):
                rel = _ticks_diff(self.tms[seq % self.slots], t_ms)
                if prev >= 0:
                    step = seq - prev
                    if out and out[-1]["every"] == step:
                        out[-1]["to_ms"] = rel
                    else:
                        out.append({"from_ms": _ticks_diff(self.tms[prev % self.slots], t_ms),
                                    "to_ms": rel, "every": step})
                prev = seq
            seq += 1
        return out

    def hold(self, seq):
        """Keep frames from seq on until released (a recording's unwritten
        frames); -1 releases."""
        self.held = seq

    def bytes_used(self):
        total = 0
        for lev in range(self.levels):
            h = self.lhead[lev]
            if h < 0:
                continue
            o = self.off[h % self.slots]
            w = self.lw[lev]
            total += w - o if o < w else self.lsize[lev] - (o - self.lbase[lev]) + (w - self.lbase[lev])
        return total


def _ticks_diff(a, b):
    # time.ticks_diff for the 2**30 tick period of MicroPython ports, in pure
    # Python so the ring also runs under synthetic time on any interpreter.
    d = (a - b) & 0x3FFFFFFF
    return d - 0x40000000 if d >= 0x20000000 else d
