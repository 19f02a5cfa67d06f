# One clip on storage: NAME.AVI (streaming MJPEG AVI) and NAME.JSON (the
# sidecar). While recording, the idx1 entries and frame times go to two small
# temporary files instead of RAM, so a clip's length is bounded by storage,
# not memory. close_steps() finishes the clip a piece at a time so the
# capture loop keeps running while the AVI is indexed and hashed.
import hashlib
import json
import os
import struct

import avi
from staging import StagedFile

_HASH_CHUNK = 4096


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


class ClipWriter:
    def __init__(self, directory, name, width, height, stage):
        self.base = directory + "/" + name
        self.name = name
        self.width = width
        self.height = height
        self.stage = stage
        self.avi = StagedFile(open(self.base + ".AVI", "wb"), stage)
        self.idx = StagedFile(open(self.base + ".IDX", "wb"), bytearray(512))
        self.tim = StagedFile(open(self.base + ".TIM", "wb"), bytearray(512))
        self.avi.write(avi.header(width, height, 0, 0, 0, 0))
        self.frames = 0
        self.movi = 4  # next chunk's offset from the 'movi' fourcc
        self.max_chunk = 0
        self._ch = bytearray(8)
        self._ent = bytearray(16)
        self._t = bytearray(4)
        self.times_hash = hashlib.sha256()  # over the int32 LE frame times
        self.sha256 = None
        self.size = 0

    def add(self, frame, t_ms):
        n = len(frame)
        avi.chunk_header(self._ch, n)
        self.avi.write(self._ch)
        self.avi.write(frame)
        if n & 1:
            self.avi.write(b"\0")
        avi.index_entry(self._ent, self.movi, n)
        self.idx.write(self._ent)
        struct.pack_into("<i", self._t, 0, t_ms)
        self.tim.write(self._t)
        self.times_hash.update(self._t)
        self.movi += 8 + avi.padded(n)
        if n > self.max_chunk:
            self.max_chunk = n
        self.frames += 1

    def close_steps(self, us_per_frame):
        """Generator: index, patch the header, then hash the AVI a chunk per
        step. When exhausted, self.sha256 and self.size are set."""
        self.idx.flush()
        self.idx.f.close()
        self.avi.write(struct.pack("<4sI", b"idx1", 16 * self.frames))
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
        h = hashlib.sha256()
        size = 0
        mv = memoryview(self.stage)
        with open(self.base + ".AVI", "rb") as f:
            while True:
                n = f.readinto(self.stage)
                if not n:
                    break
                h.update(mv[:n])
                size += n
                yield
        self.sha256 = _hex(h.digest())
        self.size = size

    def write_sidecar(self, meta):
        """NAME.JSON: meta plus "frame_ms", the per-frame times, streamed from
        the times file (an hour of frames never sits in RAM as a list), and
        written atomically (temp file, then rename) so a half-written sidecar
        never looks done."""
        self.tim.flush()
        self.tim.f.close()
        head = json.dumps(meta)
        tmp = self.base + ".JS_"
        with open(tmp, "w") as out, open(self.base + ".TIM", "rb") as tf:
            out.write(head[:-1])
            out.write(', "frame_ms": [' if len(head) > 2 else '"frame_ms": [')
            sep = ""
            while True:
                n = tf.readinto(self.stage)
                if not n:
                    break
                parts = []
                for i in range(0, n - 3, 4):
                    parts.append(str(struct.unpack_from("<i", self.stage, i)[0]))
                out.write(sep + ", ".join(parts))
                sep = ", "
            out.write("]}")
        _remove(self.base + ".JSON")
        os.rename(tmp, self.base + ".JSON")
        _remove(self.base + ".TIM")

    def abort(self):
        for f in (self.avi.f, self.idx.f, self.tim.f):
            try:
                f.close()
            except Exception:
                pass


def _hex(b):
    return "".join("%02x" % x for x in b)
