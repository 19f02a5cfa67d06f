# One clip on storage: NAME.AVI (streaming MJPEG AVI) and NAME.JSON (the
# sidecar). While recording, the idx1 entries and frame times go to two small
# temporary files (.IDX, .TIM) instead of RAM, so a clip's length is bounded
# by storage, not memory, and what is known at the start plus markers go to
# NAME.INF: after a power cut, recover.py rebuilds the clip from these.
# close_steps() finishes the clip a piece at a time so the capture loop keeps
# running while the AVI is indexed and hashed.
import hashlib
import json
import os
import struct

import avi
from staging import StagedFile


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


class ClipWriter:
    def __init__(self, directory, name, width, height, stage, start_meta=None, block=None, preroll=None):
        """preroll: (backfill, sizes, times) when the pre-roll's place in the
        file was planned at the press (backfill.py): its frame times go to
        NAME.TIM now and its bytes are written around the live frames;
        None: every frame is appended in order."""
        self.base = directory + "/" + name
        self.name = name
        self.width = width
        self.height = height
        self.stage = stage
        self.avi = StagedFile(open(self.base + ".AVI", "wb"), stage, block)
        self.idx = StagedFile(open(self.base + ".IDX", "wb"), bytearray(512))
        self.tim = StagedFile(open(self.base + ".TIM", "wb"), bytearray(512))
        self.inf = open(self.base + ".INF", "w")
        self.note(start_meta or {})
        # What the clip is (format, size, settings, press time) reaches the
        # card now: FAT records a file's size only on sync/close, so without
        # this a power cut before the first sync leaves an empty NAME.INF
        # and recovery cannot tell what the clip was.
        self.inf.flush()
        self.frames = 0
        self.movi = 4  # next chunk's offset from the 'movi' fourcc
        self.max_chunk = 0
        self._ch = bytearray(8)
        self._ent = bytearray(16)
        self._t = bytearray(4)
        self.times_hash = hashlib.sha256()  # over the int32 LE frame times
        self.sha256 = None
        self.size = 0
        self.backfill = None
        self.backfill_end = 0
        self.pre_sizes = None
        self._noted = None
        if preroll is None:
            self.avi.write(placeholder_header(width, height))
            return
        bf, sizes, times = preroll
        self.backfill = bf
        self.backfill_end = bf.end - avi.HEADER_BYTES  # the pre-roll's bytes in the movi list
        self.pre_sizes = sizes
        self.avi.start_at(bf.b, bf.tail(self.avi.buf))  # the live stager starts in the region's last sector
        for t in times:
            self._time(t)
        self.frames = len(sizes)
        self.movi = 4 + bf.end - avi.HEADER_BYTES
        for n in sizes:
            if n > self.max_chunk:
                self.max_chunk = n

    def preroll_step(self, front):
        """Write one block of the pre-roll's place (backfill.py); returns
        the bytes written, 0 when it is all written."""
        bf = self.backfill
        if bf is None or not bf.active:
            return 0
        return bf.step(self.avi.f, self.avi.cap, front, self.avi.pos())

    def preroll_done(self):
        return self.backfill is None or not self.backfill.active

    def add(self, frame, t_ms):
        n = len(frame)
        self.begin_frame(n)
        self.avi.write(frame)
        self.end_frame(n, t_ms)

    # A frame can also go in pieces (begin_frame, write_data..., end_frame),
    # so the writer can stop between two staging flushes: each flush is a
    # blocking card write, and the capture loop must get the CPU back in time.
    def begin_frame(self, n):
        avi.chunk_header(self._ch, n)
        self.avi.write(self._ch)

    def write_data(self, data):
        self.avi.write(data)

    def end_frame(self, n, t_ms):
        if n & 1:
            self.avi.write(b"\0")
        avi.index_entry(self._ent, self.movi, n)
        self.idx.write(self._ent)
        self._time(t_ms)
        self.movi += 8 + avi.padded(n)
        if n > self.max_chunk:
            self.max_chunk = n
        self.frames += 1

    def _time(self, t_ms):
        struct.pack_into("<i", self._t, 0, t_ms)
        self.tim.write(self._t)
        self.times_hash.update(self._t)

    def note(self, d):
        """Append one JSON line to NAME.INF (start facts, then markers)."""
        self.inf.write(json.dumps(d))
        self.inf.write("\n")

    def sync(self):
        """Push everything written so far to the card and update the file
        sizes in the directory (FAT only does that on sync/close), so a power
        cut loses at most what came after the last sync."""
        # The index (.IDX) is not needed to recover (recover.py rebuilds it
        # from the AVI), so it is not synced: fewer card writes per second.
        bf = self.backfill
        if not self.avi.flush() and bf is not None:
            self.avi.f.flush()  # pre-roll blocks were written around the stager
        self.tim.flush()
        if bf is not None and self._noted != (bf.a, bf.b):
            # Only now that the blocks and the region's last sector are on
            # the card (the flushes above) may recovery trust them.
            self._noted = (bf.a, bf.b)
            self.note({"pre": [bf.a, bf.b]})
            if not bf.active:
                self.backfill = None
        self.inf.flush()

    def close_steps(self, us_per_frame):
        """Generator: index, patch the header, then hash the AVI a chunk per
        step. When exhausted, self.sha256 and self.size are set."""
        self.idx.flush()
        self.idx.f.close()
        self.avi.write(struct.pack("<4sI", b"idx1", 16 * self.frames))
        if self.pre_sizes:  # the pre-roll's entries were never in NAME.IDX
            off = 4
            ent = self._ent
            for i, n in enumerate(self.pre_sizes):
                avi.index_entry(ent, off, n)
                self.avi.write(ent)
                off += 8 + avi.padded(n)
                if i & 63 == 63:
                    yield
        # Copy through the index's own buffer: self.stage still holds the
        # AVI's unflushed tail.
        buf = self.idx.buf
        with open(self.base + ".IDX", "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                self.avi.write(memoryview(buf)[:n])
                yield
        self.avi.flush()
        f = self.avi.f
        f.seek(0)
        f.write(avi.header(self.width, self.height, self.frames, us_per_frame,
                           self.movi - 4, self.max_chunk, 8 + 16 * self.frames))
        f.close()
        _remove(self.base + ".IDX")
        out = {}
        for _ in hash_steps(self.base + ".AVI", self.stage, out):
            yield
        self.sha256 = out["sha256"]
        self.size = out["size"]

    def write_sidecar(self, meta):
        """NAME.JSON from meta and the frame times; the temp files go."""
        self.tim.flush()
        self.tim.f.close()
        write_sidecar(self.base, meta, self.stage)
        self.inf.close()
        _remove(self.base + ".INF")

    def abort(self):
        for f in (self.avi.f, self.idx.f, self.tim.f, self.inf):
            try:
                f.close()
            except Exception:
                pass


def placeholder_header(width, height):
    """The AVI header a clip starts with: counts zero until it is closed."""
    return avi.header(width, height, 0, 0, 0, 0)


def hash_steps(path, buf, out):
    """Generator: SHA-256 of a file, one buffer per step; sets out["sha256"]
    (hex) and out["size"] when done."""
    h = hashlib.sha256()
    size = 0
    mv = memoryview(buf)
    with open(path, "rb") as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(mv[:n])
            size += n
            yield
    out["sha256"] = _hex(h.digest())
    out["size"] = size


def write_sidecar(base, meta, stage, times=None):
    """BASE.JSON: meta plus "frame_ms", the per-frame times streamed from
    `times` (BASE.TIM by default; an hour of frames never sits in RAM as a
    list), written atomically (temp file, then rename) so a half-written
    sidecar never looks done. The times file is removed after."""
    times = times or base + ".TIM"
    head = json.dumps(meta)
    tmp = base + ".JS_"
    with open(tmp, "w") as out, open(times, "rb") as tf:
        out.write(head[:-1])
        out.write(', "frame_ms": [' if len(head) > 2 else '"frame_ms": [')
        sep = ""
        while True:
            n = tf.readinto(stage)
            n -= n % 4
            if n <= 0:
                break
            parts = []
            for i in range(0, n, 4):
                parts.append(str(struct.unpack_from("<i", stage, i)[0]))
            out.write(sep + ", ".join(parts))
            sep = ", "
        out.write("]}")
    _remove(base + ".JSON")
    os.rename(tmp, base + ".JSON")
    _remove(times)


def _hex(b):
    return "".join("%02x" % x for x in b)
