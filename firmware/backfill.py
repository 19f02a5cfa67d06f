# The pre-roll's place in the AVI, written in evidence order.
#
# At a press every pre-roll frame is in the ring, so where each one goes in
# the file is known at once: the AVI stays in time order (header, pre-roll,
# live frames, index), byte for byte what writing it front to back gives,
# so players, `bodycam check` and the sealed hash see no difference. Only
# the order of the card writes changes: the pre-roll is written from its
# newest end backwards (the seconds nearest the press reach the card
# first), while the recorder appends live frames as they come. When the
# ring runs short of room, blocks come from the oldest end instead: the
# ring frees its oldest frames only (ring.hold), so only writing those
# makes room for new ones.
#
# Blocks are sector-aligned in the file (staging.py says why), so the region
# is split at sector boundaries: [0, a) has been written from the front,
# [b, end) from the back, and the sector holding the region's end (shared
# with the first live bytes) goes out through the live stager. After each
# sync the clip notes (a, b) in NAME.INF; recover.py keeps a pre-roll
# frame only if it lies wholly inside a range a note vouches for.
import avi
from staging import SECTOR, write_all


class Backfill:
    def __init__(self, buf):
        if len(buf) % SECTOR:
            raise ValueError("backfill buffer must be a multiple of %d bytes" % SECTOR)
        self.buf = buf  # one block, preallocated: nothing big is allocated at the press
        self.mv = memoryview(buf)
        self._ch = bytearray(8)
        self.ring = None
        self.active = False

    def plan(self, ring, first, last, header):
        """The pre-roll is frames first..last of the ring (thinned ones are
        not in it), after `header` (avi.HEADER_BYTES). Returns the sizes of
        its frames, oldest first."""
        self.ring = ring
        self.header = memoryview(header)
        sizes = []
        off = avi.HEADER_BYTES
        seq = first
        while seq <= last:
            if not ring.thinned(seq):
                n = ring.length(seq)
                sizes.append(n)
                off += 8 + avi.padded(n)
            seq += 1
        self.first = first
        self.last = last
        self.end = off  # where the first live chunk starts
        self.a = 0  # [0, a) written from the front
        self.b = off - off % SECTOR  # [b, end) written from the back (the tail by the live stager)
        # Cursors (ring seq, file offset of its chunk): the front one at or
        # before a, the back one at or after the frame holding b.
        self.fseq, self.foff = first, avi.HEADER_BYTES
        self.bseq, self.boff = last + 1, off
        # (a region shorter than a sector is all in the live stager's first one)
        self.active = self.a < self.b
        return sizes

    def done(self):
        return self.a >= self.b

    def left(self):
        """Region bytes not yet handed to the card."""
        return self.b - self.a if self.b > self.a else 0

    def tail(self, dst):
        """Fill dst with the region's last bytes, from its last sector
        boundary (the live stager's first sector); returns how many."""
        k = self.end - self.b
        if k:
            self._back_to(self.b)
            self._fill(dst, self.b, self.end, self.bseq, self.boff)
        return k

    def hold_seq(self):
        """The oldest frame not yet wholly written: the ring keeps it and
        every newer one."""
        self._front()
        return self.fseq

    def oldest_kept_back(self):
        """Ring seq of the oldest frame wholly in [b, end), or last + 1."""
        seq = self.bseq
        if self.boff < self.b:
            seq += 1
            while seq <= self.last and self.ring.thinned(seq):
                seq += 1
        return seq

    def step(self, f, nbytes, front, live_pos):
        """Write one block of up to nbytes: from the front (the oldest
        frames) or the back (the newest not yet written). f is the AVI; its
        position is put back at live_pos for the live stager. Returns the
        bytes written."""
        a, b = self.a, self.b
        if front:
            hi = a + nbytes
            if hi > b:
                hi = b
            lo = a
            self._front()
            seq, off = self.fseq, self.foff
        else:
            lo = b - nbytes
            if lo < a:
                lo = a
            hi = b
            self._back_to(lo)
            seq, off = self.bseq, self.boff
        if hi <= lo:
            self.active = False
            return 0
        self._fill(self.buf, lo, hi, seq, off)
        f.seek(lo)
        write_all(f, self.mv[:hi - lo])
        f.seek(live_pos)
        if front:
            self.a = hi
        else:
            self.b = lo
        if self.a >= self.b:
            self.active = False
        return hi - lo

    # --- where frames are ------------------------------------------------
    def _front(self):
        # Move the front cursor up to the first frame not wholly below a.
        seq, off = self.fseq, self.foff
        ring = self.ring
        a = self.a
        while seq <= self.last:
            if not ring.thinned(seq):
                total = 8 + avi.padded(ring.length(seq))
                if off + total > a:
                    break
                off += total
            seq += 1
        self.fseq, self.foff = seq, off

    def _back_to(self, pos):
        # Walk the back cursor down to a frame starting at or before pos.
        seq, off = self.bseq, self.boff
        ring = self.ring
        while off > pos and off > avi.HEADER_BYTES:
            seq -= 1
            while ring.thinned(seq):
                seq -= 1
            off -= 8 + avi.padded(ring.length(seq))
        self.bseq, self.boff = seq, off

    def _fill(self, dst, lo, hi, seq, off):
        # dst[0:hi-lo] = the file's bytes [lo, hi): the header, then chunks
        # ('00dc', length, JPEG, pad byte) of frames from seq (at off) on.
        # Called a few hundred times a press: each frame piece makes one
        # memoryview, nothing else is allocated.
        i = 0
        pos = lo
        h = avi.HEADER_BYTES
        if pos < h:
            k = (hi if hi < h else h) - pos
            dst[0:k] = self.header[pos:pos + k]
            i = k
            pos += k
        ring = self.ring
        ch = self._ch
        while pos < hi:
            if ring.thinned(seq):
                seq += 1
                continue
            n = ring.length(seq)
            total = 8 + avi.padded(n)
            if off + total <= pos:
                off += total
                seq += 1
                continue
            s = pos - off
            e = hi - off
            if e > total:
                e = total
            if s < 8:
                k = (e if e < 8 else 8) - s
                if k == 8:
                    avi.chunk_header_at(dst, i, n)
                else:  # a chunk header split between two blocks
                    avi.chunk_header(ch, n)
                    for j in range(k):
                        dst[i + j] = ch[s + j]
                i += k
                s += k
            if s < 8 + n and s < e:
                k = (e if e < 8 + n else 8 + n) - s
                dst[i:i + k] = ring.piece(seq, s - 8, k)
                i += k
                s += k
            if s < e:  # the pad byte after an odd-sized frame
                dst[i] = 0
                i += 1
                s += 1
            pos = off + s
            if s == total:
                off += total
                seq += 1
