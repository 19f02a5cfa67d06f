"""The host's half of one streamed read (protocol 3, selective resend).

The dock sends frames ahead of our acks, up to a window counted from the
highest byte we have seen. A frame lost or damaged on the line leaves a gap:
we keep the frames after it and ask for the gap alone (N OFFSET LENGTH),
which the dock sends before its new data; the line never carries again
what already arrived whole (go-back-N, protocol 2, did: everything in
flight behind a lost frame).

Frame size: a frame is only useful if it arrives whole, so on a damaged
line smaller frames carry more. We estimate the damage per byte from the
gaps we see (events over bytes on the wire, decaying) and ask for the
size that carries the most file bytes per wire byte at that rate:
L / (L + overhead) x (1 - p)^(L + overhead), up to the clean line's size."""
import math

from bodycam.offload.wire import W

HISTORY = 64  # frame-size changes kept in stats["chunk_history"]
PRIOR_BYTES = 16384  # wire bytes the estimate starts from (one gap does not mean a bad line)
DECAY_MIN_BYTES = 16384  # the estimate forgets half of what it saw every this many wire bytes (or 0.25 s)


class LossRate:
    """Damage events per byte on the wire, forgetting the past as the line
    moves on (noise comes and goes), and the frame size best for it."""

    def __init__(self, rate, base_chunk):
        self.decay = max(DECAY_MIN_BYTES, int(rate * 0.25))
        self.base_chunk = base_chunk
        self.events = 0.0
        self.wire = 0.0

    def seen(self, n):
        self.wire += n + W.OVERHEAD
        if self.wire > self.decay:
            self.events /= 2
            self.wire /= 2

    def lost(self, nbytes, chunk):
        frames = max(1, -(-nbytes // max(chunk, 1)))
        self.events += 1
        self.wire += nbytes + frames * W.OVERHEAD

    def p(self):
        return self.events / (self.wire + PRIOR_BYTES)

    def best_chunk(self):
        p = self.p()
        if p <= 0:
            return self.base_chunk
        keep = math.log1p(-min(p, 0.5))
        best, score = W.MIN_CHUNK, -1.0
        for c in W.CHUNKS:
            if c > self.base_chunk:
                break
            n = c + W.OVERHEAD
            s = c / n * math.exp(n * keep)
            if s > score:
                best, score = c, s
        return best


class Sizes:
    """The frame size and window we ask of the dock, and the timers that
    follow from them."""

    def __init__(self, base_chunk, base_window, rate, current, stats):
        self.base_chunk = base_chunk
        self.base_window = base_window
        self.window = base_window
        self.rate = rate
        self.stats = stats
        self.loss = LossRate(rate, base_chunk)
        self.counted = 0  # damaged frames' bytes since the last good frame
        self.chunk = None
        self._set(max(W.MIN_CHUNK, base_chunk if current is None else min(current, base_chunk)))
        # ask again for a gap not filled once more new data came than can
        # have been in flight before it (the window, twice: what the dock
        # had sent and what it sent while our request travelled); or,
        # when little comes, after a few times that much line time
        self.reask_bytes = 2 * self.window + 2 * base_chunk
        self.reask = 3 * (self.window + base_chunk + 2 * W.OVERHEAD) / rate + 0.1
        self.reask_quiet = 0.1
        # ack every half window (the dock's window counts from what we last
        # said we saw), or after this long with news: each ack costs the
        # dock ~50 bytes read one at a time (on an ESP32, ~10 ms of Python)
        self.ack_every = max(base_chunk, base_window // 2)
        self.ack_s = 0.1

    def _set(self, chunk):
        old = self.chunk
        self.chunk = chunk
        # re-ack when nothing came for a few frames' line time
        self.reack = max(0.03, 3 * (chunk + W.OVERHEAD) / self.rate)
        st = self.stats
        st["chunk"] = chunk
        if st["chunk_min"] is None or chunk < st["chunk_min"]:
            st["chunk_min"] = chunk
        if old is not None and chunk != old:
            st["shrinks" if chunk < old else "grows"] += 1
            h = st["chunk_history"]
            h.append(chunk)
            del h[:-HISTORY]

    def seen(self, n):
        """A good frame of n payload bytes."""
        self.loss.seen(n)
        self.counted = 0
        self._update()

    def damaged(self, n):
        """A frame whose header held and whose payload did not."""
        self.loss.lost(n, n)
        self.counted += n
        self._update()

    def gap(self, nbytes):
        """Bytes that never came whole, found when a later frame did; the
        damaged frames among them are counted already."""
        if nbytes > self.counted:
            self.loss.lost(nbytes - self.counted, self.chunk)
        self.counted = 0
        self._update()

    def quiet(self):
        """Nothing whole for a while: frames of this size do not get through."""
        self.loss.lost(self.chunk, self.chunk)
        self.counted = 0
        self._update()

    def _update(self):
        c = self.loss.best_chunk()
        if c != self.chunk:
            self._set(c)
        self.stats["loss_per_mbyte"] = round(self.loss.p() * 1e6, 1)


class Held:
    """What arrived beyond the bytes delivered in order: frames kept by
    offset, and the gaps between them (asked for, and when)."""

    def __init__(self, offset, size):
        self.expect = offset  # every byte before this went to the sink
        self.high = offset  # the end of the highest frame seen
        self.size = size
        self.frames = {}  # offset -> payload, all at or beyond expect
        self.gaps = []  # [start, end, asked at (None: not yet), our high then]

    def add(self, off, payload):
        """A good frame. Returns the gaps it revealed, to ask for now: the
        bytes between the highest seen and it, or the front of a gap being
        resent (the dock sends a gap in order, so what should have come
        before this frame was lost). Raises ValueError when it runs past
        the file's end."""
        end = off + len(payload)
        if end > self.size:
            raise ValueError("longer than the %d bytes listed" % self.size)
        new = []
        if off > self.high:
            g = [self.high, off, None, 0]
            self.gaps.append(g)
            new.append(g)
        else:
            for g in self.gaps:
                if g[0] < off < g[1] and g[2] is not None:
                    front = [g[0], off, None, 0]
                    self.gaps.append(front)
                    new.append(front)
                    g[0] = off
                    break
        if end > self.expect:
            if off < self.expect:
                payload = payload[self.expect - off:]
                off = self.expect
            if off not in self.frames or len(self.frames[off]) < len(payload):
                self.frames[off] = payload
            if end > self.high:
                self.high = end
            self._fill(off, end)
        return new

    def missing(self, a, b):
        """Bytes [a, b) arrived damaged: the gap to ask for (a list entry
        of self.gaps), or None when they are here already or asked."""
        if b <= self.expect or a >= self.size:
            return None
        if b > self.size:
            b = self.size
        if b <= self.high:
            for g in self.gaps:
                if g[0] <= a and b <= g[1]:
                    return g if g[2] is None else None
            return None  # arrived whole meanwhile
        g = [self.high, b, None, 0]
        self.gaps.append(g)
        self.high = b
        return g

    def end_of_file(self):
        """The dock's END: a gap to the end if the tail never came."""
        if self.size > self.high:
            g = [self.high, self.size, None, 0]
            self.gaps.append(g)
            self.high = self.size
            return g
        return None

    def _fill(self, a, b):
        out = []
        for g in self.gaps:
            if b <= g[0] or a >= g[1]:
                out.append(g)
                continue
            if g[0] < a:
                out.append([g[0], a, g[2], g[3]])
            if b < g[1]:
                out.append([b, g[1], g[2], g[3]])
        self.gaps = out

    def deliver(self, sink):
        """Hand over what is now in order; returns the bytes delivered."""
        n0 = self.expect
        frames = self.frames
        while frames:
            p = frames.pop(self.expect, None)
            if p is None:
                # a resent frame may overlap one we hold: trim what is behind
                behind = [k for k in frames if k < self.expect]
                if not behind:
                    break
                for k in behind:
                    q = frames.pop(k)
                    if k + len(q) > self.expect:
                        rest = q[self.expect - k:]
                        if len(rest) > len(frames.get(self.expect, b"")):
                            frames[self.expect] = rest
                continue
            sink(p)
            self.expect += len(p)
        return self.expect - n0
