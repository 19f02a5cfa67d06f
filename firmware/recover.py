# Rebuild clips cut off by a power loss. A recording syncs its files while
# it runs (recorder.py), so after a cut the card holds: NAME.AVI with a
# placeholder header, the pre-roll's place (backfill.py: written from both
# ends, so its middle may never have been written) and the live frame
# chunks written so far (the last one may be torn), NAME.TIM (frame times,
# the pre-roll's first), NAME.INF (start facts, the pre-roll's layout, the
# ranges of it each sync made safe, markers), and no NAME.JSON.
#
# Recovery works in place, a bounded piece per step (recover_steps), so it
# can run in the capture loop's idle time: it never moves a frame. A run of
# pre-roll frames that never reached the card becomes a JUNK chunk (players
# skip it), the index goes where the last whole frame ends, a JUNK chunk
# covers any torn bytes after it, the header is patched, then the file is
# hashed and the sidecar written. Nothing a step writes changes what the
# next scan finds (a frame is kept for what the INF vouches for and its own
# chunk header, the live frames end at the first chunk that is not a
# frame), so a power cut at any moment just means recovering again; the
# sidecar's rename is the one commit point.
import hashlib
import json
import os
import struct

import avi
from clip import _hex, _remove, hash_steps, write_sidecar


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return 0


# Temporary files of recording and recovery; none survives a finished clip.
# (.AV_, .AVO and .TIO are from older firmware that recovered by copying.)
TEMP_EXTS = (".INF", ".TIM", ".IDX", ".IX_", ".AV_", ".TI_", ".AVO", ".TIO", ".JS_")


def unfinished(clips_dir):
    try:
        names = os.listdir(clips_dir)
    except OSError:
        return []
    out = []
    for n in names:
        if n.startswith("BC") and (n.endswith(".AVI") or n.endswith(".AVO")):
            if (n[:-4] + ".JSON") not in names and n[:-4] not in out:
                out.append(n[:-4])
    out.sort()
    return out


def clean_leftovers(clips_dir):
    # Temp files beside a finished clip (a cut after its sidecar was written).
    try:
        names = os.listdir(clips_dir)
    except OSError:
        return
    for n in names:
        if n[-4:] in TEMP_EXTS and (n[:-4] + ".JSON") in names:
            _remove(clips_dir + "/" + n)


# Files a failed recovery leaves that are safe to drop: its own scratch
# files. The clip's files stay as they were, so the next boot tries again.
PARTIAL_EXTS = (".AV_", ".IX_", ".TI_", ".JS_")


class Recovery:
    """Loop service: rebuilds the clips a power cut left unfinished in the
    background, a bounded piece of card work at a time while the camera
    buffers, so a boot owing a 100 MB clip's recovery buffers within
    seconds all the same. Works only while the recorder is buffering (it
    shares the recorder's staging buffer, and the recorder's card writes
    come first): a press meanwhile records a normal clip, and recovery goes
    on after it. `done` lists (name, frames) as each finishes, frames None
    for one that could not be rebuilt now (a full card: it stays as it was
    and the next boot tries again)."""

    def __init__(self, clips_dir, recorder, seal=None, audit=None, reason="power_loss", cause=None,
                 max_steps=64):
        self.dir = clips_dir
        self.rec = recorder
        self.seal = seal
        self.audit = audit
        self.reason = reason
        self.cause = cause  # what the chip's reset cause says stopped them
        self.max_steps = max_steps
        clean_leftovers(clips_dir)
        self.owed = unfinished(clips_dir)
        self.done = []
        self._gen = None
        self._out = None

    def busy(self):
        return bool(self.owed) or self._gen is not None

    def poll(self, now, until=None, ticks=None, diff=None):
        """Take steps while the recorder buffers: at most max_steps, and
        (given a clock) not past `until`."""
        rec = self.rec
        n = 0
        while n < self.max_steps and (self.owed or self._gen is not None):
            if rec.state != 0:  # recording or finishing: the card is the recorder's
                return
            if until is not None and diff(until, ticks()) <= 0:
                return
            if self._gen is None:
                self._out = {}
                self._gen = recover_steps(self.dir, self.owed[0], rec.stage, self.seal, self.reason,
                                          self._out, self.cause)
            try:
                next(self._gen)
            except StopIteration:
                self._finish(self._out.get("frames"))
            except OSError as e:
                failed(self.dir, self.owed[0], e, self.audit)
                self._finish(None)
            n += 1

    def _finish(self, frames):
        name = self.owed.pop(0)
        self._gen = None
        self.done.append((name, frames))
        if frames is not None and self.audit is not None:
            self.audit.record("clip_recovered", {"clip": name, "frames": frames})

    def run_all(self):
        """Everything owed, now (tests; a board that must not wait)."""
        while self.busy():
            self.poll(0)
            if self.rec.state != 0:
                raise RuntimeError("recovery cannot run while recording")


def recover_all(clips_dir, stage, seal=None, audit=None):
    """Recover every unfinished clip now; returns [(name, frames)], frames
    None for a clip that could not be rebuilt now. A card too full for the
    index or the sidecar (OSError 28), or any other storage error, never
    stops anything: the clip is left as it is, the scratch files removed,
    the failure logged, and the next boot tries again."""
    r = Recovery(clips_dir, _Idle(stage), seal, audit)
    r.run_all()
    return r.done


class _Idle:
    # a recorder that is only buffering: recover_all's stand-in
    state = 0

    def __init__(self, stage):
        self.stage = stage


def failed(clips_dir, name, err, audit=None):
    base = clips_dir + "/" + name
    for ext in PARTIAL_EXTS:
        _remove(base + ext)
    if audit is not None:
        audit.record("error", {"what": "cannot recover clip %s now: %s (%s); it is kept as it is "
                                       "and recovered at a later boot" % (name, err, _why(err)),
                               "clip": name})


def _why(err):
    code = err.args[0] if err.args else None
    if code == 28:
        return "the card is full: offload and delete clips (bodycam pull --delete)"
    return "a storage error"


def _read_inf(base):
    """(start facts, markers, the last synced pre-roll ranges (a, b) or None)."""
    start = None
    markers = []
    pre = None
    try:
        with open(base + ".INF") as f:
            for line in f:
                try:
                    d = json.loads(line)
                except ValueError:
                    break  # a torn last line
                if start is None:
                    start = d
                elif "marker" in d:
                    markers.append(d["marker"])
                elif "pre" in d:
                    pre = d["pre"]
    except OSError:
        pass
    return start or {}, markers, pre


def _restore(base, old, cur):
    # Older firmware recovered by copying: after a cut during that, the
    # original (old) is the source.
    if _exists(base + old):
        _remove(base + cur)
        os.rename(base + old, base + cur)


def _step(stretches, t):
    """Sequence numbers from the frame before to the one at t (ms from the
    press): a thinned pre-roll stretch kept every Nth frame (ring.stretches:
    each covers the frames after from_ms up to to_ms), live frames are all
    kept."""
    if t < 0:
        for s in stretches:
            if s["from_ms"] < t <= s["to_ms"]:
                return s["every"]
    return 1


def recover(clips_dir, name, stage, seal=None, reason="power_loss", cause=None):
    """Rebuild one clip at once; returns its frame count."""
    out = {}
    for _ in recover_steps(clips_dir, name, stage, seal, reason, out, cause):
        pass
    return out["frames"]


STEP_FRAMES = 16  # chunk headers read per step (a sector read each, about 1 ms on a card)


class _Scan:
    # What the scan found: whole frames (index entries and times go to
    # scratch files), runs of pre-roll frames that never reached the card.
    def __init__(self, base, start):
        self.start = start
        self.ix = open(base + ".IX_", "wb")
        self.tout = open(base + ".TI_", "wb")
        self.hash = hashlib.sha256()
        self.ent = bytearray(16)
        self.frames = 0
        self.preroll = 0
        self.max_chunk = 0
        self.first_t = self.last_t = 0
        self.end = avi.HEADER_BYTES  # where the last whole frame ends
        self.lost = []  # [file offset, bytes, frames, first t, last t] per run
        self.seq = start.get("first_seq", 0)  # ring number of the frame in hand
        self.stretches = start.get("preroll_stretches") or []
        self.planned = 0

    def keep(self, pos, n, tb):
        t = struct.unpack_from("<i", tb, 0)[0]
        self._count(t)
        avi.index_entry(self.ent, pos - avi.MOVI_FOURCC_AT, n)
        self.ix.write(self.ent)
        self.tout.write(tb)
        self.hash.update(tb)
        if self.frames == 0:
            self.first_t = t
        self.last_t = t
        if t < 0:
            self.preroll += 1
        if n > self.max_chunk:
            self.max_chunk = n
        self.frames += 1
        self.end = pos + 8 + avi.padded(n)

    def lose(self, pos, total, t):
        self._count(t)
        r = self.lost[-1] if self.lost else None
        if r and r[0] + r[1] == pos:
            r[1] += total
            r[2] += 1
            r[4] = t
        else:
            self.lost.append([pos, total, 1, t, t])

    def _count(self, t):
        if self.planned:
            self.seq += _step(self.stretches, t)
        self.planned += 1

    def close(self):
        self.ix.close()
        self.tout.close()


def _chunk_at(src, pos, hdr):
    """The data size of the '00dc' chunk at pos, or -1."""
    src.seek(pos)
    if src.readinto(hdr) != 8 or hdr[0:4] != b"00dc":
        return -1
    return struct.unpack_from("<I", hdr, 4)[0]


def recover_steps(clips_dir, name, stage, seal=None, reason="power_loss", out=None, cause=None):
    """Generator: rebuild one clip in place, a bounded piece of card work
    per step. When exhausted, out["frames"] is the number of frames kept.
    reason/cause: the sidecar's stop reason, and in words what the chip's
    reset cause says stopped it (a brownout reads as a power-on reset)."""
    base = clips_dir + "/" + name
    _restore(base, ".AVO", ".AVI")
    _restore(base, ".TIO", ".TIM")
    start, markers, pre = _read_inf(base)
    ntimes = _size(base + ".TIM") // 4
    size = _size(base + ".AVI")
    hdr = bytearray(8)
    tb = bytearray(4)
    scan = _Scan(base, start)
    tin = open(base + ".TIM", "rb") if ntimes else None
    got = 0  # times read
    src = open(base + ".AVI", "r+b")
    try:
        layout = start.get("preroll_layout")
        pos = avi.HEADER_BYTES
        if layout:
            # The pre-roll: each frame's place is known; it is kept if a
            # synced note covers it wholly and its chunk header is there.
            a, b = pre if pre else (0, 0)
            for n in layout["sizes"]:
                if got >= ntimes:
                    break
                tin.readinto(tb)
                got += 1
                total = 8 + avi.padded(n)
                ok = pre is not None and (a >= b or pos + total <= a or pos >= b) and pos + total <= size
                if ok and _chunk_at(src, pos, hdr) == n:
                    scan.keep(pos, n, tb)
                else:
                    scan.lose(pos, total, struct.unpack_from("<i", tb, 0)[0])
                pos += total
                if got % STEP_FRAMES == 0:
                    yield
            pos = avi.HEADER_BYTES + layout["bytes"]
        # Live frames (all of them, for clips without a layout): whole chunks
        # from there on, each with the next time.
        while got < ntimes and pos + 8 <= size:
            n = _chunk_at(src, pos, hdr)
            if n < 0 or pos + 8 + n > size:
                break  # the torn last frame, or what this recovery wrote
            tin.readinto(tb)
            got += 1
            scan.keep(pos, n, tb)
            pos += 8 + avi.padded(n)
            if got % STEP_FRAMES == 0:
                yield
        if tin:
            tin.close()
        scan.close()
        # Lost runs inside the movi list become JUNK chunks (each run is
        # whole chunks, so at least 8 bytes); runs after the last whole
        # frame are covered by the JUNK after the index.
        end = scan.end
        for r in scan.lost:
            if r[0] < end:
                src.seek(r[0])
                src.write(struct.pack("<4sI", b"JUNK", r[1] - 8))
        yield
        # The index where the last whole frame ends, then JUNK over
        # whatever the old file held beyond it.
        src.seek(end)
        src.write(struct.pack("<4sI", b"idx1", 16 * scan.frames))
        with open(base + ".IX_", "rb") as ix:
            while True:
                k = ix.readinto(stage)
                if not k:
                    break
                src.write(memoryview(stage)[:k])
                yield
        tail = end + 8 + 16 * scan.frames
        extra = 0
        if size > tail:
            extra = size - tail if size - tail >= 8 else 8
            src.write(struct.pack("<4sI", b"JUNK", extra - 8))
        n = scan.frames
        us = (scan.last_t - scan.first_t) * 1000 // (n - 1) if n > 1 and scan.last_t > scan.first_t else 200000
        src.seek(0)
        src.write(avi.header(start.get("width", 0), start.get("height", 0), n, us,
                             end - avi.HEADER_BYTES, scan.max_chunk, 8 + 16 * n + extra))
    finally:
        src.close()
    yield
    info = {}
    for _ in hash_steps(base + ".AVI", stage, info):
        yield
    meta = dict(start)
    meta.pop("preroll_layout", None)
    meta["clip"] = name + ".AVI"
    meta["recovered"] = True
    meta["preroll_frames"] = scan.preroll
    meta["frames"] = scan.frames
    if "first_seq" in start:
        meta["last_seq"] = scan.seq if scan.planned else start["first_seq"] - 1
    meta["markers"] = markers
    meta["stop"] = {"reason": reason, "ms": scan.last_t}
    if cause:
        meta["stop"]["cause"] = cause
    meta["dropped"] = None  # counters were in RAM: unknown
    lost = [r for r in scan.lost if r[3] < 0]
    if lost:
        # The pre-roll frames the power cut caught before they reached the
        # card: `bodycam check` names them instead of calling them a gap.
        meta["preroll_lost"] = {"frames": sum(r[2] for r in lost), "from_ms": lost[0][3], "to_ms": lost[-1][4]}
    meta["avi_bytes"] = info["size"]
    meta["avi_sha256"] = info["sha256"]
    meta["frame_ms_sha256"] = _hex(scan.hash.digest())
    if seal is not None:
        meta = seal(meta)
    write_sidecar(base, meta, stage, base + ".TI_")
    for ext in TEMP_EXTS:
        _remove(base + ext)
    if out is not None:
        out["frames"] = scan.frames
