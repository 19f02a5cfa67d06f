# Append-only, hash-chained audit log: one canonical-JSON entry per line.
# Each entry carries the SHA-256 of the previous line, so editing, removing
# or reordering an entry breaks the chain, and (with a device key) an
# HMAC, so entries cannot be forged. A power cut can leave a torn last line:
# it is never glued to the next entry; the next entry records how many torn
# bytes precede it ("torn"), so the verifier knows they are a cut, not an
# edit. Writing never raises: evidence logging must not stop the camera.
import os

from seal import AUDIT_DOMAIN, GENESIS, canonical, hexstr, hmac_sha256, sha256_hex

_CHUNK = 1024
_TAIL_LIMIT = 65536  # how far back boot looks for an unfinished recording


class AuditLog:
    def __init__(self, path, key=None, ticks_ms=None, utc=None):
        self.path = path
        self.key = key
        self.ticks_ms = ticks_ms
        self.utc = utc  # utc(ticks) -> ISO 8601 'Z' string or None
        self.lost = 0  # entries that could not be written
        self.last_error = None
        t = _recover(path)
        self.n = t["next_n"]
        self.prev = t["prev"]
        self.good_end = t["good_end"]  # offset just past the last whole entry
        self.torn = t["torn"]  # bytes between it and the next entry
        self.torn_sha256 = t["torn_sha256"]  # their hash, so they can't be edited either
        self.needs_newline = t["needs_newline"]
        self.interrupted = t["interrupted"]  # clip recording at power loss
        self._failed = False
        self.f = open(path, "ab")

    def head(self):
        """(number, hash) of the last entry; (-1, GENESIS) when empty."""
        return self.n - 1, self.prev

    def record(self, kind, data=None):
        """Append one entry; True when it reached storage."""
        try:
            if self._failed:
                self._repair()
            t = self.ticks_ms() if self.ticks_ms else 0
            body = self._entry(kind, t, data)
            out = (b"\n" if self.needs_newline else b"") + body + b"\n"
            self.f.write(out)
            self.f.flush()
        except OSError as err:
            self.lost += 1
            self.last_error = str(err)
            self._failed = True
            return False
        self.good_end += len(out)
        self.n += 1
        self.prev = sha256_hex(body)
        self.torn = 0
        self.torn_sha256 = None
        self.lost = 0
        self.needs_newline = False
        return True

    def _entry(self, kind, t, data):
        if data is None:
            data = {}
        elif not isinstance(data, dict):
            data = {"value": data}
        e = {"n": self.n, "k": kind, "t": t, "utc": self.utc(t) if self.utc else None,
             "d": data, "prev": self.prev}
        if self.torn:
            e["torn"] = self.torn
            e["torn_sha256"] = self.torn_sha256
        if self.lost:
            e["lost"] = self.lost
        try:
            body = canonical(e)
        except ValueError as err:  # a caller passed a float or an object
            e["d"] = {"unloggable": str(err)[:200]}
            body = canonical(e)
        if self.key:
            e["mac"] = hexstr(hmac_sha256(self.key, AUDIT_DOMAIN + body))
            body = canonical(e)
        return body

    def _repair(self):
        # A failed write may have left part of an entry on storage: those
        # bytes count as torn, so the next entry explains them.
        try:
            self.f.close()
        except OSError:
            pass
        size = _size(self.path)
        if size > self.good_end:
            self.needs_newline = _last_byte(self.path, size) != b"\n"
            self.torn, self.torn_sha256 = _region(self.path, self.good_end, size, self.needs_newline)
        self.f = open(self.path, "ab")
        self._failed = False

    def close(self):
        try:
            self.f.close()
        except OSError:
            pass


def parse_line(line):
    """A whole entry (dict) from one line's bytes, or None if it is not
    one (a torn line)."""
    import json
    try:
        e = json.loads(line)
    except (ValueError, UnicodeError):
        return None
    if isinstance(e, dict) and isinstance(e.get("n"), int) and "prev" in e and "k" in e:
        return e
    return None


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return 0


def _last_byte(path, size):
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1)


def _recover(path):
    """Find the last whole entry from the end of the log, and whether a
    recording was left unfinished (power lost while recording)."""
    size = _size(path)
    out = {"next_n": 0, "prev": GENESIS, "good_end": 0, "torn": 0, "torn_sha256": None,
           "needs_newline": False, "interrupted": None}
    if size == 0:
        return out
    last_good_end = 0  # file offset just past the last whole entry's newline
    found = False
    rec_last = None  # the newest recording-related entry since the last boot
    with open(path, "rb") as f:
        for start, line in _lines_backwards(f, size):
            e = parse_line(line)
            if e is None:
                continue
            if not found:
                found = True
                out["next_n"] = e["n"] + 1
                out["prev"] = sha256_hex(line)
                last_good_end = start + len(line) + 1
            k = e["k"]
            if rec_last is None and k in ("record_start", "clip_done", "error", "seal"):
                rec_last = e
            if k == "boot" or size - start > _TAIL_LIMIT:
                break
    if rec_last is not None and rec_last["k"] == "record_start":
        out["interrupted"] = (rec_last.get("d") or {}).get("clip")
    if last_good_end > size:
        # The last entry is whole but its newline never reached storage.
        out["good_end"] = size
        out["needs_newline"] = True
        return out
    out["good_end"] = last_good_end
    tail = size - last_good_end
    if tail > 0:
        out["needs_newline"] = _last_byte(path, size) != b"\n"
        out["torn"], out["torn_sha256"] = _region(path, last_good_end, size, out["needs_newline"])
    return out


def _region(path, start, end, add_newline):
    """(length, SHA-256) of the torn bytes [start, end) plus the newline the
    next entry will write before itself."""
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            b = f.read(_CHUNK if left > _CHUNK else left)
            if not b:
                break
            h.update(b)
            left -= len(b)
    n = end - start
    if add_newline:
        h.update(b"\n")
        n += 1
    return n, hexstr(h.digest())


def _lines_backwards(f, size):
    """Yield (offset, bytes) of each line, newest first, without its
    newline. Reads the file from the end a chunk at a time."""
    pos = size
    rest = b""  # bytes after the last newline seen so far (a partial line)
    while pos > 0:
        n = _CHUNK if pos >= _CHUNK else pos
        pos -= n
        f.seek(pos)
        buf = f.read(n) + rest
        parts = buf.split(b"\n")
        rest = parts[0]
        off = pos + len(parts[0]) + 1
        lines = []
        for p in parts[1:]:
            lines.append((off, p))
            off += len(p) + 1
        for i in range(len(lines) - 1, -1, -1):
            if lines[i][1]:
                yield lines[i]
    if rest:
        yield (0, rest)
