# Sealed clip manifests: each sidecar gets a sequence number, the hash of
# the previous clip's manifest (a chain across clips) and an HMAC-SHA256
# under the device key. Also the two primitives the audit log shares:
# canonical JSON bytes and HMAC. No imports beyond hashlib/json/os, so the
# host loads this very file (bodycam.resources.shared) and computes the same
# bytes the device signed.
import hashlib
import json
import os
from binascii import hexlify

MANIFEST_DOMAIN = b"bodycam-manifest/1\n"  # HMAC input prefix: a manifest MAC
AUDIT_DOMAIN = b"bodycam-audit/1\n"  # can never pass as an audit entry MAC
GENESIS = "0" * 64  # prev hash of the first clip / first audit entry
UNSEALED = ("manifest_hmac", "frame_ms")  # not covered by the manifest HMAC


# --- canonical JSON --------------------------------------------------------
# Sorted keys, no spaces, strings as UTF-8 with only '"', '\' and control
# characters escaped: byte for byte what CPython's json.dumps(obj,
# sort_keys=True, separators=(",", ":"), ensure_ascii=False) gives. Written
# out because MicroPython's json.dumps has no sort_keys and escapes
# differently.

def canonical(obj):
    out = []
    _canon(obj, out)
    return "".join(out).encode("utf-8")


def _canon(v, out):
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        out.append("%d" % v)
    elif isinstance(v, str):
        out.append(_quote(v))
    elif isinstance(v, dict):
        out.append("{")
        first = True
        for k in sorted(v):
            if not isinstance(k, str):
                raise ValueError("canonical JSON keys must be strings, not %r" % (k,))
            if not first:
                out.append(",")
            first = False
            out.append(_quote(k))
            out.append(":")
            _canon(v[k], out)
        out.append("}")
    elif isinstance(v, (list, tuple)):
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _canon(x, out)
        out.append("]")
    else:
        # Floats print differently on MicroPython and CPython: refused.
        raise ValueError("canonical JSON takes ints, strings, bools, None, lists and dicts, not %r" % (v,))


_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _quote(s):
    for c in s:
        if c == '"' or c == "\\" or ord(c) < 0x20:
            break
    else:
        return '"' + s + '"'
    parts = ['"']
    for c in s:
        if c == '"' or c == "\\":
            parts.append("\\" + c)
        elif ord(c) < 0x20:
            parts.append(_SHORT.get(c) or "\\u%04x" % ord(c))
        else:
            parts.append(c)
    parts.append('"')
    return "".join(parts)


# --- HMAC-SHA256 (RFC 2104) -------------------------------------------------
# MicroPython has no hmac module; this is checked against CPython's hmac.

_BLOCK = 64
_PADS = {}  # key -> (inner pad, outer pad): a device has one key, and the
#             two 64-byte XOR loops were most of an HMAC's time on the ESP32


def hmac_sha256(key, msg):
    if not isinstance(key, bytes):
        key = bytes(key)
    pads = _PADS.get(key)
    if pads is None:
        k = key
        if len(k) > _BLOCK:
            k = hashlib.sha256(k).digest()
        k = bytes(k) + bytes(_BLOCK - len(k))
        pads = (bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k))
        if len(_PADS) > 8:
            _PADS.clear()
        _PADS[key] = pads
    inner = hashlib.sha256(pads[0])
    inner.update(msg)
    outer = hashlib.sha256(pads[1])
    outer.update(inner.digest())
    return outer.digest()


def hexstr(b):
    # binascii (C on both MicroPython and CPython): a Python loop over the
    # bytes cost about 2 ms an entry on an ESP32, several per press
    return hexlify(b).decode()


def sha256_hex(data):
    return hexstr(hashlib.sha256(data).digest())


def key_id(key):
    """Short public name of a key (manifests carry it so the verifier can
    pick the right key from a keyring); reveals nothing about the key."""
    return sha256_hex(b"bodycam-key-id\n" + key)[:16]


def equal(a, b):
    # Constant-time comparison of two hex strings.
    if len(a) != len(b):
        return False
    d = 0
    for i in range(len(a)):
        d |= ord(a[i]) ^ ord(b[i])
    return d == 0


# --- manifests ---------------------------------------------------------------

def manifest_body(meta):
    """The canonical bytes a manifest's HMAC covers: every field except
    manifest_hmac and frame_ms (bound by frame_ms_sha256)."""
    return canonical({k: meta[k] for k in meta if k not in UNSEALED})


def manifest_hmac(key, meta):
    return hexstr(hmac_sha256(key, MANIFEST_DOMAIN + manifest_body(meta)))


def manifest_sha256(meta):
    """The manifest's hash, which the next clip chains to: the canonical
    bytes of everything but frame_ms, the HMAC included."""
    return sha256_hex(canonical({k: meta[k] for k in meta if k != "frame_ms"}))


def load_key(path):
    """The device key file ({"device": id, "key": 64 hex}) -> (device id,
    key bytes), or (None, None) when there is none (clips go unsigned)."""
    try:
        with open(path) as f:
            d = json.load(f)
    except OSError:
        return None, None
    k = d.get("key") if isinstance(d, dict) else None
    if not isinstance(k, str) or len(k) != 64:
        raise ValueError("%s: 'key' must be 64 hex digits" % path)
    return d.get("device"), _unhex(k)


def _unhex(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


class Sealer:
    """seal(meta) -> meta, called by the recorder before each sidecar is
    written. State (last sequence number and manifest hash, last clock
    sync) lives in a small file on the internal flash, written atomically,
    so the chain continues across reboots and clips offloaded and deleted.

    The state is saved before the sidecar is written, so a power cut in
    between leaves a sequence number spent on a manifest that never reached
    the card. Recovery then reseals that same clip: it gets the same
    sequence number and links to the manifest before it (kept as "prev"),
    and the audit entry names the manifest it replaces, so the chain has no
    gap and the replacement is on record."""

    def __init__(self, state_path, key=None, device=None, audit=None):
        self.path = state_path
        self.key = key
        self.device = device
        self.key_id = key_id(key) if key else None
        self.audit = audit
        s = _load_state(state_path)
        self.last_seq = s.get("seq", 0)
        self.last_manifest = s.get("manifest_sha256", GENESIS)
        self.last_clip_number = s.get("clip_number", 0)
        self.last_clip = s.get("clip")  # the clip sealed last, e.g. "BC000007"
        self.prev = s.get("prev")  # {"seq", "manifest_sha256"} before it
        self.sync = s.get("sync")  # {"utc", "offset_ms", "source"} or None
        self.sync_ticks = None  # ticks of a sync made since this boot

    def note_sync(self, utc, offset_ms, source, ticks):
        """Remember a clock sync for the next manifests (and across
        reboots). Raises OSError if the state file can't be written."""
        self.sync = {"utc": utc, "offset_ms": offset_ms, "source": source}
        self.sync_ticks = ticks
        self._save()

    def __call__(self, meta):
        stem = (meta.get("clip") or "")[:8]
        replaces = None
        if meta.get("recovered") and stem and stem == self.last_clip and self.prev:
            # Sealed once already, but its sidecar never reached the card.
            seq = self.last_seq
            prev = self.prev["manifest_sha256"]
            replaces = self.last_manifest
        else:
            seq = self.last_seq + 1
            prev = self.last_manifest
        meta["device"] = self.device
        meta["key_id"] = self.key_id
        meta["seq"] = seq
        meta["prev_manifest_sha256"] = prev
        c = meta.get("clock") or {}
        sync = self.sync or {}
        c["ever_set"] = bool(sync) or bool(c.get("set"))
        c["last_sync_utc"] = sync.get("utc")
        c["sync_offset_ms"] = sync.get("offset_ms")
        c["sync_source"] = sync.get("source")
        t = c.get("press_ticks_ms")
        c["press_since_sync_ms"] = _tdiff(t, self.sync_ticks) if self.sync_ticks is not None and t is not None else None
        meta["clock"] = c
        # Which frames are pre-roll (captured before the press) and which
        # live, as half-open frame index ranges.
        k = meta.get("preroll_frames", 0)
        meta["parts"] = [{"part": "preroll", "from_frame": 0, "to_frame": k},
                         {"part": "live", "from_frame": k, "to_frame": meta.get("frames", 0)}]
        if self.audit is not None:
            n, h = self.audit.head()
            meta["audit_head"] = {"n": n, "sha256": h}
        else:
            meta["audit_head"] = None
        try:
            meta["manifest_hmac"] = manifest_hmac(self.key, meta) if self.key else None
            digest = manifest_sha256(meta)
        except ValueError as e:
            # A field canonical JSON refuses (a float): never lose the clip
            # over it. The clip goes out unsigned and the verifier says so.
            meta["manifest_hmac"] = None
            meta["seal_error"] = str(e)[:200]
            if self.audit is not None:
                self.audit.record("error", {"what": "cannot seal %s: %s" % (meta.get("clip"), str(e)[:200])})
            return meta
        if replaces is None:
            self.prev = {"seq": self.last_seq, "manifest_sha256": self.last_manifest}
        self.last_seq = seq
        self.last_manifest = digest
        self.last_clip = stem
        self.last_clip_number = max(self.last_clip_number, _clip_number(meta.get("clip")))
        try:
            self._save()
        except OSError as e:
            # Never lose the clip over the state file: it is sealed anyway;
            # the verifier will see the chain fork if the state is stale.
            if self.audit is not None:
                self.audit.record("error", {"what": "cannot save %s: %s" % (self.path, e)})
        if self.audit is not None:
            d = {"clip": stem, "seq": seq, "manifest_sha256": digest, "avi_sha256": meta.get("avi_sha256")}
            if replaces is not None:
                d["replaces_manifest_sha256"] = replaces
                d["why"] = "the first sidecar never reached the card (power cut while finishing); resealed after recovery"
            self.audit.record("seal", d)
        return meta

    def chain_state(self):
        return {"seq": self.last_seq, "manifest_sha256": self.last_manifest}

    def _save(self):
        _save_state(self.path, {"seq": self.last_seq, "manifest_sha256": self.last_manifest,
                                "clip_number": self.last_clip_number, "sync": self.sync,
                                "clip": self.last_clip, "prev": self.prev})


def _tdiff(a, b):
    d = (a - b) & 0x3FFFFFFF
    return d - 0x40000000 if d >= 0x20000000 else d


def _clip_number(name):
    try:
        return int(name[2:8])
    except (TypeError, ValueError):
        return 0


def _load_state(path):
    # The state file, or the new one a power cut left before its rename.
    for p in (path, path + ".new"):
        try:
            with open(p) as f:
                d = json.load(f)
            if isinstance(d, dict):
                return d
        except (OSError, ValueError):
            pass
    return {}


def _save_state(path, d):
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(json.dumps(d))
    try:
        os.remove(path)  # FAT can't rename over an existing file
    except OSError:
        pass
    os.rename(tmp, path)
