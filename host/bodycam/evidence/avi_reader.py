"""A tolerant reader for bodycam's MJPEG AVIs: the headers, the idx1 index
and a chunk-by-chunk scan of the 'movi' list that does not trust the sizes
in the headers. A clip cut short by a power loss (header never patched, no
index, a half-written last frame) or with damaged bytes still yields every
frame that can be read, plus plain-words problems; it never raises for a
damaged file. The file is memory-mapped: an hour of frames is scanned
without reading the JPEG data.
"""
import mmap
import os
import struct

VIDEO_CHUNKS = (b"00dc", b"00db")
SKIP_CHUNKS = (b"JUNK", b"01wb", b"ix00", b"LIST")
MAX_RESYNC = 64 * 1024 * 1024  # look this far for the next frame after damage


class AviReport:
    """What could be read from one AVI file."""

    def __init__(self, path):
        self.path = path
        self.size = 0
        self.width = self.height = None
        self.us_per_frame = None  # the AVI's one constant frame period
        self.header_frames = None  # avih total frames
        self.stream_frames = None  # strh length
        self.codec = None
        self.movi_at = None  # file offset of the 'movi' fourcc
        self.frames = []  # (file offset of the JPEG data, bytes) of whole chunks
        self.bad_jpeg = []  # indexes into frames whose data is not a whole JPEG
        self.index = None  # [(offset from 'movi', bytes)] from idx1, or None
        self.index_problems = []
        self.truncated = False
        self.skipped_bytes = 0  # unreadable bytes passed over while resyncing
        self.problems = []  # plain-words findings; empty for a sound file

    @property
    def ok(self):
        return not self.problems

    def frame_bytes(self, i):
        off, n = self.frames[i]
        with open(self.path, "rb") as f:
            f.seek(off)
            return f.read(n)

    def summary(self):
        return {
            "path": self.path, "bytes": self.size, "width": self.width, "height": self.height,
            "us_per_frame": self.us_per_frame, "header_frames": self.header_frames,
            "stream_frames": self.stream_frames, "frames_readable": len(self.frames) - len(self.bad_jpeg),
            "chunks": len(self.frames), "bad_jpeg": len(self.bad_jpeg),
            "index_entries": None if self.index is None else len(self.index),
            "truncated": self.truncated, "skipped_bytes": self.skipped_bytes, "problems": list(self.problems),
        }


def read_avi(path):
    """Scan an AVI. Raises OSError only if the file can't be opened."""
    r = AviReport(path)
    with open(path, "rb") as f:
        r.size = os.fstat(f.fileno()).st_size
        if r.size == 0:
            r.problems.append("the file is empty (0 bytes): nothing was recorded into it")
            return r
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            _read(mm, r)
        finally:
            mm.close()
    return r


def _read(mm, r):
    size = len(mm)
    if size < 12 or mm[0:4] != b"RIFF" or mm[8:12] != b"AVI ":
        r.problems.append("not a RIFF AVI file (it starts with %r)" % bytes(mm[0:12]))
        movi = mm.find(b"movi", 0, 1 << 20)
        if movi < 0:
            # Last resort: look for frame chunks anywhere.
            first = _find_frame(mm, 0, size)
            if first < 0:
                r.problems.append("no video frames found in it")
                return
            r.problems.append("no 'movi' list; frames found from byte %d on" % first)
            _scan_movi(mm, r, first)
            return
        r.movi_at = movi
    else:
        _headers(mm, r)
    if r.movi_at is None:
        return
    end = _scan_movi(mm, r, r.movi_at + 4)
    _find_index(mm, r, end)
    _cross_check(r)


def _headers(mm, r):
    size = len(mm)
    riff_size = _u32(mm, 4)
    if riff_size + 8 > size:
        r.truncated = True
    pos = 12
    while pos + 8 <= size:
        cid, n = mm[pos:pos + 4], _u32(mm, pos + 4)
        if cid == b"LIST" and pos + 12 <= size:
            kind = mm[pos + 8:pos + 12]
            if kind == b"hdrl":
                _hdrl(mm, r, pos + 12, min(size, pos + 8 + n))
            elif kind == b"movi":
                r.movi_at = pos + 8
                return
        elif cid == b"idx1":
            break
        elif not _printable(cid):
            break
        pos += 8 + n + (n & 1)
    # No 'movi' where the chunk sizes lead: look for it near the start.
    found = mm.find(b"LIST", 12, min(size, 1 << 20))
    while found >= 0:
        if mm[found + 8:found + 12] == b"movi":
            r.movi_at = found + 8
            r.problems.append("the header chunks are damaged; found the frames list at byte %d" % found)
            return
        found = mm.find(b"LIST", found + 4, min(size, 1 << 20))
    r.problems.append("no 'movi' list: the file has no frames list")


def _hdrl(mm, r, pos, end):
    while pos + 8 <= end:
        cid, n = mm[pos:pos + 4], _u32(mm, pos + 4)
        if cid == b"avih" and pos + 8 + 40 <= end:
            r.us_per_frame = _u32(mm, pos + 8)
            r.header_frames = _u32(mm, pos + 8 + 16)
            r.width = _u32(mm, pos + 8 + 32)
            r.height = _u32(mm, pos + 8 + 36)
        elif cid == b"LIST" and mm[pos + 8:pos + 12] == b"strl":
            _hdrl(mm, r, pos + 12, min(end, pos + 8 + n))
        elif cid == b"strh" and pos + 8 + 36 <= end:
            if mm[pos + 8:pos + 12] == b"vids":
                r.codec = bytes(mm[pos + 12:pos + 16]).decode("latin-1")
                r.stream_frames = _u32(mm, pos + 8 + 32)
        elif not _printable(cid):
            r.problems.append("damaged header chunk at byte %d" % pos)
            return
        pos += 8 + n + (n & 1)


def _scan_movi(mm, r, pos):
    """Walk the frame chunks from pos. Returns where the walk stopped."""
    size = len(mm)
    frames = r.frames
    bad = r.bad_jpeg
    while pos + 8 <= size:
        cid = mm[pos:pos + 4]
        n = _u32(mm, pos + 4)
        if cid in VIDEO_CHUNKS:
            data = pos + 8
            if data + n > size:
                r.truncated = True
                r.problems.append("frame %d is cut short: its chunk at byte %d says %d bytes but the file "
                                  "ends %d bytes in (the file is truncated)" % (len(frames) + 1, pos, n, size - data))
                return size
            if n < 4 or mm[data] != 0xFF or mm[data + 1] != 0xD8 or \
                    mm[data + n - 2] != 0xFF or mm[data + n - 1] != 0xD9:
                bad.append(len(frames))
            frames.append((data, n))
            pos = data + n + (n & 1)
        elif cid == b"idx1":
            return pos
        elif cid in SKIP_CHUNKS and pos + 8 + n <= size:
            pos += 8 + n + (n & 1)
        else:
            nxt = _find_frame(mm, pos + 1, min(size, pos + MAX_RESYNC))
            if nxt < 0:
                if _zeros(mm, pos, size):
                    r.truncated = True
                    r.problems.append("the last %d bytes are zeros (space allocated but never written: "
                                      "power lost while recording?)" % (size - pos))
                else:
                    r.problems.append("%d unreadable bytes at the end from byte %d (after frame %d)"
                                      % (size - pos, pos, len(frames)))
                r.skipped_bytes += size - pos
                return size
            r.skipped_bytes += nxt - pos
            r.problems.append("%d unreadable bytes at byte %d (after frame %d); reading resumes at byte %d"
                              % (nxt - pos, pos, len(frames), nxt))
            pos = nxt
    if pos < size:
        r.truncated = True
        r.problems.append("the file ends inside a chunk header at byte %d (truncated)" % pos)
    return size


def _find_frame(mm, start, end):
    # The next '00dc' chunk header followed by a JPEG start marker.
    p = mm.find(b"00dc", start, end)
    while p >= 0:
        if p + 10 <= len(mm) and mm[p + 8] == 0xFF and mm[p + 9] == 0xD8:
            return p
        p = mm.find(b"00dc", p + 1, end)
    return -1


def _find_index(mm, r, end):
    size = len(mm)
    if end + 8 > size or mm[end:end + 4] != b"idx1":
        return
    n = _u32(mm, end + 4)
    have = min(n, size - end - 8)
    if have < n:
        r.truncated = True
        r.index_problems.append("the index is cut short (%d of %d bytes)" % (have, n))
    count = have // 16
    r.index = [struct.unpack_from("<II", mm, end + 8 + 16 * i + 8) for i in range(count)]


def _cross_check(r):
    n = len(r.frames)
    if r.bad_jpeg:
        first = r.bad_jpeg[0] + 1
        r.problems.append("%d frame(s) are not whole JPEGs (first: frame %d)" % (len(r.bad_jpeg), first))
    if r.header_frames == 0 and n:
        r.problems.append("the header says 0 frames: the clip was never closed (power lost or storage "
                          "removed while recording); %d frames are readable" % (n - len(r.bad_jpeg)))
    elif r.header_frames is not None and r.header_frames != n:
        r.problems.append("the header says %d frames but %d frame chunks are in the file" % (r.header_frames, n))
    if r.index is None:
        if n and r.header_frames:
            r.problems.append("the index (idx1) is missing")
        return
    r.problems.extend(r.index_problems)
    if len(r.index) != n:
        r.problems.append("the index lists %d frames but %d frame chunks are in the file" % (len(r.index), n))
    base = r.movi_at
    for i in range(min(n, len(r.index))):
        off, ln = r.index[i]
        data, size = r.frames[i]
        if base + off + 8 != data or ln != size:
            r.problems.append("index entry %d (offset %d, %d bytes) does not match frame %d in the file "
                              "(offset %d, %d bytes)" % (i + 1, off, ln, i + 1, data - 8 - base, size))
            break


def _u32(mm, pos):
    return struct.unpack_from("<I", mm, pos)[0]


def _printable(b):
    return all(32 <= c < 127 for c in b)


def _zeros(mm, start, end):
    step = 1 << 16
    for p in range(start, end, step):
        if mm[p:min(end, p + step)].count(0) != min(end, p + step) - p:
            return False
    return True
