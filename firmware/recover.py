# Rebuild clips cut off by a power loss. A recording syncs its files every
# second (recorder.SYNC_MS), so after a cut the card holds: NAME.AVI with a
# placeholder header and the frame chunks written so far (the last one may be
# torn), NAME.TIM (frame times), NAME.INF (start facts and markers), and no
# NAME.JSON. At boot, every such clip is rebuilt from its whole frames into a
# valid AVI with an index and a sidecar that says it was recovered, so
# footage is kept up to the point power was lost.
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


# Files a failed recovery leaves that are safe to drop: its partial copies.
# The clip's own files stay as they were until a rebuild is whole (recover()
# renames only then), so the next boot tries again from them.
PARTIAL_EXTS = (".AV_", ".IX_", ".TI_", ".JS_")


def recover_all(clips_dir, stage, seal=None, audit=None):
    """Recover every unfinished clip; returns [(name, frames)], frames None
    for a clip that could not be rebuilt now. A card too full for the
    rebuilt copy (OSError 28), or any other storage error, must not stop
    the camera from booting: the clip is left as it is, the partial copy
    removed, the failure logged, and the next boot tries again (after an
    offload has made room)."""
    clean_leftovers(clips_dir)
    done = []
    for name in unfinished(clips_dir):
        try:
            frames = recover(clips_dir, name, stage, seal)
        except OSError as e:
            base = clips_dir + "/" + name
            for ext in PARTIAL_EXTS:
                _remove(base + ext)
            done.append((name, None))
            if audit is not None:
                audit.record("error", {"what": "cannot recover clip %s now: %s (%s); it is kept as it is "
                                               "and recovered at a later boot" % (name, e, _why(e)),
                                       "clip": name})
            continue
        done.append((name, frames))
        if audit is not None:
            audit.record("clip_recovered", {"clip": name, "frames": frames})
    return done


def _why(err):
    code = err.args[0] if err.args else None
    if code == 28:
        return "the card is full: offload and delete clips (bodycam pull --delete)"
    return "a storage error"


def _read_inf(base):
    start = None
    markers = []
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
    except OSError:
        pass
    return start or {}, markers


def _restore(base, old, cur):
    # A cut during an earlier recovery: the original (old) is the source.
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


def recover(clips_dir, name, stage, seal=None, reason="power_loss"):
    """Rebuild one clip. The originals are kept (renamed .AVO/.TIO) until the
    sidecar exists, so a cut during recovery just means recovering again."""
    base = clips_dir + "/" + name
    _restore(base, ".AVO", ".AVI")
    _restore(base, ".TIO", ".TIM")
    start, markers = _read_inf(base)
    ntimes = _size(base + ".TIM") // 4
    size = _size(base + ".AVI")
    hdr = bytearray(8)
    ent = bytearray(16)
    tb = bytearray(4)
    times_hash = hashlib.sha256()
    frames = 0
    movi = 4
    max_chunk = 0
    preroll = 0
    first_t = last_t = 0
    seq = start.get("first_seq", 0)  # the ring's number of the frame in hand
    stretches = start.get("preroll_stretches") or []
    pos = avi.HEADER_BYTES
    with open(base + ".AVI", "rb") as src, open(base + ".AV_", "wb") as out, \
            open(base + ".IX_", "wb") as ix, open(base + ".TI_", "wb") as tout:
        tin = open(base + ".TIM", "rb") if ntimes else None
        out.write(avi.header(start.get("width", 0), start.get("height", 0), 0, 0, 0, 0))
        while frames < ntimes and pos + 8 <= size:
            src.seek(pos)
            if src.readinto(hdr) != 8 or hdr[0:4] != b"00dc":
                break
            n = struct.unpack_from("<I", hdr, 4)[0]
            total = 8 + avi.padded(n)
            if pos + 8 + n > size:
                break  # the torn last frame
            out.write(hdr)
            left = total - 8
            while left:
                k = src.readinto(memoryview(stage)[:min(left, len(stage))])
                if not k:
                    break
                out.write(memoryview(stage)[:k])
                left -= k
            if left:  # a missing pad byte at the very end
                out.write(b"\0" * left)
            avi.index_entry(ent, movi, n)
            ix.write(ent)
            tin.readinto(tb)
            tout.write(tb)
            times_hash.update(tb)
            t = struct.unpack_from("<i", tb, 0)[0]
            if frames == 0:
                first_t = t
            else:
                seq += _step(stretches, t)
            last_t = t
            if t < 0:
                preroll += 1
            movi += total
            max_chunk = max(max_chunk, n)
            frames += 1
            pos += total
        if tin:
            tin.close()
        ix.close()
        out.write(struct.pack("<4sI", b"idx1", 16 * frames))
        with open(base + ".IX_", "rb") as ix:
            while True:
                k = ix.readinto(stage)
                if not k:
                    break
                out.write(memoryview(stage)[:k])
        us = (last_t - first_t) * 1000 // (frames - 1) if frames > 1 and last_t > first_t else 200000
        out.seek(0)
        out.write(avi.header(start.get("width", 0), start.get("height", 0), frames, us,
                             movi - 4, max_chunk, 8 + 16 * frames))
    os.rename(base + ".AVI", base + ".AVO")
    os.rename(base + ".AV_", base + ".AVI")
    if _exists(base + ".TIM"):
        os.rename(base + ".TIM", base + ".TIO")
    os.rename(base + ".TI_", base + ".TIM")
    info = {}
    for _ in hash_steps(base + ".AVI", stage, info):
        pass
    meta = dict(start)
    meta["clip"] = name + ".AVI"
    meta["recovered"] = True
    meta["preroll_frames"] = preroll
    meta["frames"] = frames
    if "first_seq" in start:
        meta["last_seq"] = seq if frames else start["first_seq"] - 1
    meta["markers"] = markers
    meta["stop"] = {"reason": reason, "ms": last_t}
    meta["dropped"] = None  # counters were in RAM: unknown
    meta["avi_bytes"] = info["size"]
    meta["avi_sha256"] = info["sha256"]
    meta["frame_ms_sha256"] = _hex(times_hash.digest())
    if seal is not None:
        meta = seal(meta)
    write_sidecar(base, meta, stage)
    for ext in TEMP_EXTS:
        _remove(base + ext)
    return frames
