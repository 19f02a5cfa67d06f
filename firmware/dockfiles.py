# The dock's file service: which clip files the host may see, their
# SHA-256, and deletes. Evidence rules: the clip being recorded can be
# listed but not read or deleted; a delete must name the file's SHA-256
# (proof that the host holds a verified copy); AUDIT.LOG is offloaded and
# never deleted; deletions go to the audit log.
#
# Listing and deleting hash whole files, which takes a while on a board:
# they are generators, worked on a block at a time from the capture loop
# (yield None: not done; yield a dict: the reply).
import hashlib
import os

import dockwire as W

LISTED = ("AVI", "JSON", "LOG")  # clips and AUDIT.LOG; temporaries (.IDX .TIM .JS_) are not offered
KEEP = ("AUDIT.LOG",)  # offloaded, never deleted (docs/evidence.md)
PAGE = 20  # list entries per reply (a reply must fit one frame)


class ClipFiles:
    def __init__(self, clips_dir, recorder, block, log):
        """block: a preallocated buffer to hash through; log(kind, data):
        an audit entry."""
        self.dir = clips_dir
        self.rec = recorder
        self.block = block
        self.log = log
        self.hashes = {}  # name -> ((size, mtime), sha256 hex)

    def busy(self, name):
        # The clip being recorded (or finished) is off limits.
        c = self.rec.clip
        return c is not None and name.split(".")[0] == c.name

    def path(self, name):
        if not W.valid_name(name):
            raise ValueError("bad file name %r (expected upper case NAME.EXT, like BC000001.AVI)" % name)
        return self.dir + "/" + name

    def stat(self, name):
        try:
            return os.stat(self.path(name))
        except OSError:
            raise ValueError("no such file: %s" % name)

    def open_for_read(self, name, size, off):
        """The file to stream, after the evidence rules and the host's idea
        of its size are checked."""
        st = self.stat(name)
        if self.busy(name):
            raise ValueError("%s is being recorded: it can be read when the clip is finished" % name)
        if st[6] != size:
            raise ValueError("%s has %d bytes, not %d: list again" % (name, st[6], size))
        if off > size:
            raise ValueError("offset %d is past the end of %s (%d bytes)" % (off, name, size))
        return open(self.path(name), "rb")

    def read_done(self, name, start, size):
        # The host holds the whole file: an AVI handed over is an audit event.
        if name.endswith(".AVI"):
            c = self.hashes.get(name)
            self.log("offload", {"clip": stem_of(name), "bytes": size - start,
                                 "sha256": c[1] if c is not None else None})

    # --- L [AFTER] ----------------------------------------------------------
    def list_job(self, after):
        names = []
        for n in os.listdir(self.dir):
            if W.valid_name(n) and n.split(".")[1] in LISTED and n > after:
                names.append(n)
        names.sort()
        return self._list(names)

    def _list(self, names):
        out = []
        for n in names[:PAGE]:
            try:
                st = os.stat(self.dir + "/" + n)
            except OSError:
                continue  # deleted meanwhile
            e = {"name": n, "size": st[6]}
            if self.busy(n):
                e["busy"] = True
                e["sha256"] = None
            else:
                e["sha256"] = yield from self.sha(n, st)
            out.append(e)
        yield {"ok": True, "files": out, "more": len(names) > PAGE}

    # --- X NAME SHA256 -------------------------------------------------------
    def delete_job(self, name, want):
        if name in KEEP:
            raise ValueError("%s is never deleted" % name)
        st = self.stat(name)
        if self.busy(name):
            raise ValueError("%s is being recorded: it cannot be deleted" % name)
        if len(want) != 64:
            raise ValueError("a SHA-256 has 64 hex digits")
        return self._delete(name, want.lower(), st)

    def _delete(self, name, want, st):
        have = yield from self.sha(name, st)
        if have != want:
            yield {"ok": False, "error": "SHA-256 of %s is %s, not %s: not deleted" % (name, have, want),
                   "code": "hash"}
            return
        os.remove(self.path(name))
        self.hashes.pop(name, None)
        self.log("delete", {"clip": stem_of(name), "file": name, "sha256": have})
        yield {"ok": True, "deleted": name}

    # --- hashes ----------------------------------------------------------------
    def sha(self, name, st):
        """Generator: SHA-256 (hex) of a clip file, one block per step. An
        AVI whose sidecar recorded its hash (and size) gets that recorded
        hash: the host's copy is then checked against what was recorded,
        which also catches storage corruption. Cached by (size, mtime)."""
        key = (st[6], st[8])
        c = self.hashes.get(name)
        if c is not None and c[0] == key:
            return c[1]
        sha = None
        stem, ext = name.split(".")
        if ext == "AVI":
            sha = yield from self._recorded_sha(stem, st[6])
        if sha is None:
            h = hashlib.sha256()
            mv = self.block
            with open(self.path(name), "rb") as f:
                while True:
                    n = f.readinto(mv)
                    if not n:
                        break
                    h.update(mv[:n])
                    yield None
            sha = _hex(h.digest())
        self.hashes[name] = (key, sha)
        return sha

    def _recorded_sha(self, stem, size):
        # The sidecar's metadata comes before its long frame_ms list: scan
        # it for "avi_sha256" and "avi_bytes" without parsing the list.
        try:
            f = open(self.dir + "/" + stem + ".JSON", "rb")
        except OSError:
            return None
        sha = nbytes = None
        tail = b""
        with f:
            while sha is None or nbytes is None:
                n = f.readinto(self.block)
                if not n:
                    break
                text = tail + bytes(self.block[:n])
                if sha is None:
                    sha = _field(text, b'"avi_sha256"', 64)
                if nbytes is None:
                    v = _field(text, b'"avi_bytes"', 0)
                    if v is not None:
                        nbytes = int(v)
                stop = text.find(b'"frame_ms"') >= 0
                tail = text[-80:]
                yield None
                if stop:
                    break
        if sha is None or nbytes != size:
            return None  # no record, or the AVI is not the recorded one: hash it
        return sha


def stem_of(name):
    return name.split(".")[0]


def _field(text, key, width):
    # Value of "key" in JSON text: a string of `width` characters, or the
    # digits of a number when width is 0. None if not (yet) all there.
    i = text.find(key)
    if i < 0:
        return None
    i += len(key)
    while i < len(text) and text[i] in b' :\t':
        i += 1
    if width:
        if i >= len(text) or text[i] != 34:
            return None
        v = text[i + 1:i + 1 + width]
        return v.decode() if len(v) == width else None
    j = i
    while j < len(text) and 48 <= text[j] <= 57:
        j += 1
    if j == i or j == len(text):
        return None  # no digits yet, or they may go on in the next block
    return text[i:j].decode()


def _hex(b):
    return "".join("%02x" % x for x in b)
