"""The virtual SD card's write journal: with VirtualBoard(card_journal=True)
the board appends every sector write to `sd.journal` in its state dir,
with the board time the write was done (its card time passed: a power cut
before then loses it; sim/board_side/vboard_bdev.py), after a copy of the
card as it was (`sd.base`). From the two, the card as a power cut at any
board time would have left it is rebuilt exactly, and the firmware's own
recovery run over it, without cutting the board's power a hundred times:

    with VirtualBoard(card_journal=True, ...) as vb:
        ...record...
        j = vb.card_journal
    for t_us, image in j.images_at([t1, t2, ...], workdir):
        clips = recover_image(image)        # {name: sidecar} after recovery

Writes reach the card in the order the board made them, so the card at
time t holds the journal's longest prefix done by t."""
import json
import os
import shutil
import struct
import tempfile

from bodycam.sim.storage import Image

ENTRY = struct.Struct("<QII")  # done at board us, first sector, bytes
SECTOR = 512


class CardJournal:
    def __init__(self, base, path):
        self.base = base  # the card before the first journalled write
        self.path = path

    @classmethod
    def start(cls, image, state_dir):
        base = os.path.join(state_dir, "sd.base")
        path = os.path.join(state_dir, "sd.journal")
        copy_sparse(image, base)
        open(path, "wb").close()
        return cls(base, path)

    def entries(self):
        """(done board us, sector, data) of every write, in order; a write
        torn at the end of the file (the board killed mid-entry) is left out."""
        with open(self.path, "rb") as f:
            while True:
                h = f.read(ENTRY.size)
                if len(h) < ENTRY.size:
                    return
                t, n, ln = ENTRY.unpack(h)
                data = f.read(ln)
                if len(data) < ln:
                    return
                yield t, n, data

    def images_at(self, times_us, workdir):
        """(t, path) for each board time, ascending: a copy of the card with
        every write done by t. Each copy is removed once the caller moves on."""
        work = os.path.join(workdir, "card-now.img")
        copy_sparse(self.base, work)
        writes = self.entries()
        nxt = next(writes, None)
        with open(work, "r+b") as img:
            for t in sorted(times_us):
                while nxt is not None and nxt[0] <= t:
                    img.seek(nxt[1] * SECTOR)
                    img.write(nxt[2])
                    nxt = next(writes, None)
                img.flush()
                out = os.path.join(workdir, "card-at-%d.img" % t)
                copy_sparse(work, out)
                try:
                    yield t, out
                finally:
                    os.remove(out)
        os.remove(work)


def cuts_after(journal, name, press_ms, steps_ms, workdir):
    """For a power cut at each of steps_ms (ms after the press at board
    ticks press_ms): the frame times (ms from the press) of clip `name` as
    the next boot's recovery rebuilds it ([] if nothing of it was on the
    card). Yields (step, frame times)."""
    times = [(press_ms + s) * 1000 for s in steps_ms]
    for (t, image), s in zip(journal.images_at(times, workdir), sorted(steps_ms)):
        m = recover_image(image).get(name)
        yield s, (m or {}).get("frame_ms") or []


def recover_image(image, clips_dir="clips"):
    """Run the firmware's power-loss recovery over a card image, as the
    next boot would; returns {clip name: its sidecar} for every clip it
    rebuilt (frames None for one it could not)."""
    img = Image(image, "fat")
    done = img.run([["recover", clips_dir]])[0]
    out = {}
    with tempfile.TemporaryDirectory(prefix="bcsim-") as d:
        for name, frames in done:
            if frames is None:
                out[name] = None
                continue
            dest = os.path.join(d, name + ".JSON")
            img.get("%s/%s.JSON" % (clips_dir, name), dest)
            with open(dest) as f:
                out[name] = json.load(f)
    return out


def copy_sparse(src, dst):
    """Copy a sparse image without writing its holes (a 256 MB card that
    holds a few MB copies in milliseconds)."""
    if not hasattr(os, "SEEK_DATA"):
        shutil.copyfile(src, dst)
        return
    size = os.path.getsize(src)
    with open(src, "rb") as a, open(dst, "wb") as b:
        b.truncate(size)
        fd = a.fileno()
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole after pos
                return
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            a.seek(data)
            b.seek(data)
            left = hole - data
            while left:
                chunk = a.read(min(left, 1 << 20))
                if not chunk:
                    break
                b.write(chunk)
                left -= len(chunk)
            pos = hole
