"""`bodycam verify`'s logic: is a folder of clips exactly what the device
recorded, all of it?

- each clip: the sidecar is byte for byte as the device wrote it, the AVI's
  SHA-256 and the frame times match the manifest, the manifest's HMAC holds
  under the device key;
- the chain across clips: sequence numbers consecutive, each manifest names
  the previous one's hash (a missing or swapped clip is named);
- the audit log (AUDIT.LOG): each entry's hash chain and HMAC hold, torn
  entries are explained by a power cut, and the log agrees with the clips
  (every sealed clip is here or was offloaded and deleted, every clip is in
  the log).

The checks share firmware/seal.py with the device (canonical bytes, HMAC),
so host and device can't disagree on what was signed.
"""
import hashlib
import json
import os
import re

from bodycam.resources import shared
from bodycam.timing import frame_ms_sha256
from bodycam.evidence.hashing import sha256_and_size

CLIP_RE = re.compile(r"^(BC\d{6})\.(AVI|JSON)$", re.IGNORECASE)
AUDIT_NAME = "AUDIT.LOG"
CLIP_FORMAT = "bodycam-clip/1"
# Files the device may leave behind that are not evidence on their own.


def _seal():
    return shared("seal")


class KeySet:
    """Keys the verifier knows: {key_id: key}, and the device ids that have
    keys (so an unsigned clip claiming such a device is refused)."""

    def __init__(self, by_id=None, devices=(), checking=True):
        self.by_id = dict(by_id or {})
        self.devices = set(devices)
        self.checking = checking  # False: --no-key, signatures not checked

    @classmethod
    def from_keyring(cls, ring):
        from bodycam.evidence import keys
        return cls(keys.keys_by_id(ring), ring["devices"].keys())


class Finding:
    def __init__(self, subject, text, level="fail"):
        self.subject = subject  # a clip name, "AUDIT.LOG", "chain" or a file
        self.text = text
        self.level = level  # "fail", "unverified" (can't check), "note"

    def as_dict(self):
        return {"subject": self.subject, "level": self.level, "text": self.text}


class ClipResult:
    def __init__(self, stem):
        self.stem = stem
        self.meta = None
        self.manifest_sha256 = None
        self.seq = None
        self.findings = []
        self.signed = None  # True / False / None (unknown)

    def fail(self, text, level="fail"):
        self.findings.append(Finding(self.stem, text, level))

    @property
    def status(self):
        levels = {f.level for f in self.findings}
        return "FAIL" if "fail" in levels else "UNVERIFIED" if "unverified" in levels else "ok"


class Report:
    def __init__(self, directory):
        self.dir = directory
        self.clips = []  # ClipResult, in sequence order
        self.audit = None  # AuditResult or None
        self.findings = []  # chain / cross-check / folder findings
        self.notes = []
        self.signatures_checked = True

    def all_findings(self):
        out = []
        for c in self.clips:
            out.extend(c.findings)
        if self.audit:
            out.extend(self.audit.findings)
        out.extend(self.findings)
        return out

    @property
    def verdict(self):
        levels = {f.level for f in self.all_findings()}
        if "fail" in levels:
            return "FAILED"
        if "unverified" in levels:
            return "UNVERIFIED"
        return "VERIFIED"

    def as_dict(self):
        return {
            "dir": self.dir, "verdict": self.verdict, "signatures_checked": self.signatures_checked,
            "notes": list(self.notes),
            "clips": [{"clip": c.stem, "seq": c.seq, "status": c.status,
                       "manifest_sha256": c.manifest_sha256,
                       "findings": [f.as_dict() for f in c.findings]} for c in self.clips],
            "audit": None if self.audit is None else {
                "entries": len(self.audit.entries), "torn_bytes": self.audit.torn_total,
                "findings": [f.as_dict() for f in self.audit.findings]},
            "findings": [f.as_dict() for f in self.findings],
        }


# --- audit log -------------------------------------------------------------

class AuditResult:
    def __init__(self):
        self.entries = []  # whole entries (dicts), in file order
        self.hashes = {}  # n -> sha256 of its line
        self.findings = []
        self.torn_total = 0

    def fail(self, text, level="fail"):
        self.findings.append(Finding(AUDIT_NAME, text, level))

    def of_kind(self, kind):
        # an altered entry's "d" may not be an object: it is failed by the
        # chain/HMAC check, and left out here
        return [e for e in self.entries if e.get("k") == kind and isinstance(e.get("d") or {}, dict)]


def check_audit(path, keys):
    """Check AUDIT.LOG's chain, MACs and torn entries."""
    s = _seal()
    res = AuditResult()
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    good_end = 0
    prev = s.GENESIS
    expect_n = 0
    key = None  # the key of the session (from its boot entry)
    key_known = False
    session_signed = None
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        start = pos
        pos += len(line) + 1
        e = _parse_entry(line)
        if e is None:
            continue
        region = start - good_end
        torn = e.get("torn", 0)
        n = e.get("n")
        if region:
            rb = data[good_end:start]
            if torn == region and e.get("torn_sha256") == hashlib.sha256(rb).hexdigest():
                res.torn_total += region
                res.fail("%d bytes of an entry torn by a power cut or write error (bytes %d-%d) before entry %d: "
                         "skipped, as the device recorded" % (region, good_end, start - 1, n), "note")
            else:
                res.fail("%d unreadable bytes (bytes %d-%d) before entry %d that the device did not record as "
                         "torn: an entry was damaged or altered" % (region, good_end, start - 1, n))
        elif torn:
            res.fail("entry %d says %d torn bytes precede it, but none do: altered" % (n, torn))
        if s.canonical(e) != line:
            res.fail("entry %d is not byte for byte as the device writes it: altered" % n)
        if n != expect_n:
            if isinstance(n, int) and n > expect_n:
                res.fail("entries %s missing before entry %d (removed?)" % (_span(expect_n, n - 1), n))
            else:
                res.fail("entry %d is out of order (entry %d expected here)" % (n, expect_n))
        if e.get("prev") != prev:
            res.fail("entry %d does not chain to the entry before it (its 'prev' hash differs): an entry "
                     "before it was altered, removed or reordered" % n)
        if e.get("k") == "boot":
            d = e.get("d") if isinstance(e.get("d"), dict) else {}  # an altered entry may hold anything
            kid = d.get("key_id")
            session_signed = bool(kid)
            key = keys.by_id.get(kid) if kid else None
            key_known = key is not None
            dev = d.get("device")
            if not kid and dev in keys.devices:
                res.fail("entry %d: device %s has a key in the keyring but this boot says it had none: "
                         "entries from here on are not signed" % (n, dev))
            elif kid and not key_known and keys.checking:
                res.fail("no key with id %s (device %s): MACs from entry %d on cannot be checked"
                         % (kid, dev, n), "unverified")
        mac = e.get("mac")
        if session_signed and mac is None:
            res.fail("entry %d has no MAC although the device had a key: altered" % n)
        elif session_signed is False and mac is not None:
            res.fail("entry %d has a MAC although its boot entry says there was no key: altered" % n)
        elif mac is not None and key_known and keys.checking:
            body = s.canonical({k: v for k, v in e.items() if k != "mac"})
            want = s.hexstr(s.hmac_sha256(key, s.AUDIT_DOMAIN + body))
            if not s.equal(want, mac):
                res.fail("entry %d's MAC is wrong: the entry was altered (or signed with another key)" % n)
        elif session_signed is None and mac is not None and keys.checking:
            res.fail("entry %d comes before any boot entry: its MAC cannot be checked" % n, "unverified")
        digest = hashlib.sha256(line).hexdigest()
        if isinstance(n, int):
            res.hashes[n] = digest
        res.entries.append(e)
        prev = digest
        expect_n = (n + 1) if isinstance(n, int) else expect_n + 1
        good_end = pos
    # pos counts a newline after the last piece that isn't there.
    end = len(data)
    if end > good_end:
        last = res.entries[-1]["n"] if res.entries else None
        if _looks_torn(data[good_end:]):
            res.torn_total += end - good_end
            res.fail("the last %d bytes are a torn entry (power cut while it was written): the log verifies up "
                     "to entry %s" % (end - good_end, last), "note")
        else:
            res.fail("the %d bytes after entry %s are not a whole entry and not a torn write either: altered"
                     % (end - good_end, last))
    if session_signed is False and keys.checking:
        res.fail("the audit log's last session was not signed (the device had no key)", "unverified")
    if not res.entries:
        res.fail("the audit log has no whole entries")
    return res


def _looks_torn(tail):
    """Could these bytes at the end of the log be what a power cut leaves:
    the start of an entry (never a whole line: the device writes the
    newline with the entry), perhaps followed by zeros the file system
    allocated but never wrote?"""
    if tail.endswith(b"\n"):
        return False
    for part in tail.split(b"\n"):
        part = part.rstrip(b"\0")
        if any(c < 0x20 for c in part):
            return False
        if part and not _ENTRY_START.startswith(part[:len(_ENTRY_START)]):
            return False
        if _whole_entry_then_more(part):
            return False
    return True


def _whole_entry_then_more(part):
    # A power cut leaves a prefix of entry + newline: a whole entry followed
    # by anything but its newline is not one (e.g. the newline altered).
    text = part.decode("utf-8", "replace")
    try:
        obj, end = json.JSONDecoder().raw_decode(text)
    except ValueError:
        return False
    return isinstance(obj, dict) and end < len(text)


_ENTRY_START = b'{"d":{'  # every canonical entry starts so ("d" sorts first)


def _parse_entry(line):
    if not line.startswith(b"{"):
        return None
    try:
        e = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(e, dict) and isinstance(e.get("n"), int) and "prev" in e and "k" in e:
        return e
    return None


def _span(a, b):
    return "%d" % a if a == b else "%d-%d" % (a, b)


# --- clips -----------------------------------------------------------------

def check_clip(directory, stem, files, keys):
    s = _seal()
    r = ClipResult(stem)
    js = files.get("JSON")
    avi = files.get("AVI")
    if js is None:
        r.fail("no manifest (%s.JSON is missing): recording interrupted, or the sidecar was removed" % stem)
    if avi is None:
        r.fail("the AVI (%s.AVI) is missing" % stem)
    if js is None:
        return r
    with open(os.path.join(directory, js), "rb") as f:
        raw = f.read()
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        r.fail("the manifest is not valid JSON (%s): damaged or altered" % e)
        return r
    if not isinstance(meta, dict):
        r.fail("the manifest is not a JSON object")
        return r
    r.meta = meta
    if json.dumps(meta, ensure_ascii=False).encode("utf-8") != raw:
        r.fail("the manifest's bytes are not as the device wrote them (formatting changed): altered")
    if meta.get("format") != CLIP_FORMAT:
        r.fail("unknown manifest format %r" % meta.get("format"))
    seq = meta.get("seq")
    r.seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    if r.seq is None:
        r.fail("the manifest has no sequence number: not sealed by the device")
    if meta.get("clip") != stem + ".AVI" and (meta.get("clip") or "").upper() != (stem + ".AVI").upper():
        r.fail("the manifest is for %s but the file is named %s (renamed or swapped)" % (meta.get("clip"), js))
    try:
        r.manifest_sha256 = s.manifest_sha256(meta)
        body_ok = True
    except ValueError as e:
        r.fail("the manifest holds values the device never writes (%s): altered" % e)
        body_ok = False
    # signature
    kid = meta.get("key_id")
    mac = meta.get("manifest_hmac")
    dev = meta.get("device")
    if not kid or not mac:
        r.signed = False
        if dev in keys.devices:
            r.fail("not signed, but device %s has a key in the keyring: the signature was stripped" % dev)
        elif keys.checking:
            r.fail("not signed (the device had no key when it recorded this)", "unverified")
    else:
        r.signed = True
        key = keys.by_id.get(kid)
        if key is None:
            if keys.checking:
                r.fail("signed with key %s (device %s), which is not in the keyring: pass --key FILE" % (kid, dev),
                       "unverified")
        elif body_ok and not s.equal(s.manifest_hmac(key, meta), mac):
            r.fail("the manifest's HMAC is wrong: the manifest was altered (or signed with another key)")
    # frame times and frame counts
    fm = meta.get("frame_ms")
    if not isinstance(fm, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in fm):
        r.fail("the manifest has no valid frame times")
        fm = None
    elif frame_ms_sha256(fm) != meta.get("frame_ms_sha256"):
        r.fail("the frame times do not match their hash in the manifest: frame_ms altered")
    elif len(fm) != meta.get("frames"):
        r.fail("the manifest lists %d frame times for %s frames" % (len(fm), meta.get("frames")))
    if fm is not None:
        pre = sum(1 for t in fm if t < 0)
        if pre != meta.get("preroll_frames") or any(t < 0 for t in fm[pre:]):
            r.fail("the pre-roll part (%s frames) does not match the frame times" % meta.get("preroll_frames"))
    # the AVI itself
    if avi is not None:
        digest, size = sha256_and_size(os.path.join(directory, avi))
        if digest != meta.get("avi_sha256"):
            r.fail("the AVI's SHA-256 does not match the manifest: the video was altered or replaced")
        elif size != meta.get("avi_bytes"):
            r.fail("the AVI is %d bytes but the manifest says %s" % (size, meta.get("avi_bytes")))
    return r


# --- the folder --------------------------------------------------------------

def verify_dir(directory, keys):
    if not os.path.isdir(directory):
        raise FileNotFoundError("%s is not a folder" % directory)
    rep = Report(directory)
    rep.signatures_checked = keys.checking
    groups = {}
    other = []
    audit_file = None
    for name in sorted(os.listdir(directory)):
        p = os.path.join(directory, name)
        if not os.path.isfile(p):
            continue
        m = CLIP_RE.match(name)
        if m:
            groups.setdefault(m.group(1).upper(), {})[m.group(2).upper()] = name
        elif name.upper() == AUDIT_NAME:
            audit_file = name
        else:
            other.append(name)
    for name in other:
        rep.findings.append(Finding(name, "not a clip or the audit log: not covered by any manifest, not checked",
                                    "note"))
    results = [check_clip(directory, stem, groups[stem], keys) for stem in sorted(groups)]
    if audit_file:
        rep.audit = check_audit(os.path.join(directory, audit_file), keys)
    else:
        rep.findings.append(Finding(AUDIT_NAME, "no audit log (AUDIT.LOG) in the folder: when recordings "
                                                "started and stopped, and what was deleted, cannot be checked"))
    results.sort(key=lambda c: (c.seq if c.seq is not None else float("inf"), c.stem))
    rep.clips = results
    _check_chain(rep)
    if rep.audit is not None:
        _cross_check(rep)
    if not groups and not audit_file:
        rep.findings.append(Finding(directory, "no clips and no audit log in this folder"))
    return rep


def _check_chain(rep):
    s = _seal()
    sealed = [c for c in rep.clips if c.seq is not None and c.manifest_sha256]
    by_seq = {}
    for c in sealed:
        by_seq.setdefault(c.seq, []).append(c)
    for seq, cs in sorted(by_seq.items()):
        if len(cs) > 1:
            rep.findings.append(Finding("chain", "%s all claim sequence number %d: a forked or copied chain"
                                        % (", ".join(c.stem for c in cs), seq)))
    audit_seals = _audit_seals(rep)
    prev = None
    for c in sealed:
        if prev is not None and c.seq == prev.seq:
            continue
        want_prev = c.meta.get("prev_manifest_sha256")
        if prev is None:
            if c.seq == 1:
                if want_prev != s.GENESIS:
                    c.fail("the first clip of the device does not start the chain (prev hash is not zero)")
            # Earlier clips: known from the audit log (checked in _cross_check).
        else:
            if c.seq != prev.seq + 1:
                gap = list(range(prev.seq + 1, c.seq))
                named = ", ".join(_seq_name(q, audit_seals) for q in gap)
                deleted = _all_deleted(gap, rep, audit_seals)
                rep.findings.append(Finding(
                    "chain", "between %s (seq %d) and %s (seq %d): %s %s" % (
                        prev.stem, prev.seq, c.stem, c.seq, named,
                        "not here: the audit log shows the device deleted %s after offload"
                        % ("them" if len(gap) > 1 else "it") if deleted else
                        ("are missing" if len(gap) > 1 else "is missing")),
                    "note" if deleted else "fail"))
            elif want_prev != prev.manifest_sha256:
                c.fail("does not follow %s in the chain: its prev_manifest_sha256 is not %s's manifest hash "
                       "(a clip was replaced or the order changed)" % (prev.stem, prev.stem))
            if _clip_no(c.stem) < _clip_no(prev.stem):
                if c.meta.get("recovered"):
                    # rebuilt in the background after a cut (firmware/recover.py
                    # Recovery) while a newer clip was recorded and sealed first
                    rep.findings.append(Finding("chain", "%s (seq %d) was rebuilt after a cut and sealed "
                                                "after %s (seq %d), recorded meanwhile"
                                                % (c.stem, c.seq, prev.stem, prev.seq), "note"))
                else:
                    rep.findings.append(Finding("chain", "%s (seq %d) comes after %s (seq %d) but has a lower "
                                                "number: clips were reordered or renamed"
                                                % (c.stem, c.seq, prev.stem, prev.seq)))
        prev = c


def _all_deleted(gap, rep, audit_seals):
    # A clip the device deleted after offloading it is not a break in the
    # chain; the audit log (signed) is the proof.
    if rep.audit is None:
        return False
    dels = _deleted_shas(rep.audit)
    return all(q in audit_seals and (audit_seals[q].get("d") or {}).get("avi_sha256") in dels for q in gap)


def _seq_name(q, audit_seals):
    e = audit_seals.get(q)
    if e:
        return "%s (seq %d, sealed %s)" % ((e.get("d") or {}).get("clip"), q, e.get("utc") or "at unknown UTC")
    return "seq %d" % q


def _clip_no(stem):
    try:
        return int(stem[2:8])
    except ValueError:
        return 0


def _audit_seals(rep):
    out = {}
    if rep.audit is None:
        return out
    for e in rep.audit.of_kind("seal"):
        q = (e.get("d") or {}).get("seq")
        if isinstance(q, int):
            out[q] = e
    return out


def _check_reseals(rep):
    # A sequence number sealed twice is honest only as the device's reseal:
    # the same clip, recovered after a power cut took its first sidecar, the
    # later entry naming the manifest it replaces (firmware/seal.py).
    first = {}
    for e in rep.audit.of_kind("seal"):
        d = e.get("d") or {}
        q = d.get("seq")
        if not isinstance(q, int):
            continue
        if q not in first:
            first[q] = d
            continue
        was = first[q]
        if d.get("clip") == was.get("clip") and d.get("replaces_manifest_sha256") == was.get("manifest_sha256"):
            rep.notes.append("%s (seq %d) was sealed twice: its first sidecar never reached the card (a power cut "
                             "while it was being finished), so it was rebuilt from its frames and resealed; the "
                             "audit log records both manifests" % (d.get("clip"), q))
        else:
            rep.findings.append(Finding("chain", "the audit log seals seq %d twice (%s, then %s) without the "
                                                 "later entry naming the manifest it replaces: a forked chain"
                                        % (q, was.get("clip"), d.get("clip"))))
        first[q] = d


def _deleted_shas(audit):
    return {(e.get("d") or {}).get("sha256") for e in audit.of_kind("delete")}


def _cross_check(rep):
    a = rep.audit
    seals = _audit_seals(rep)
    _check_reseals(rep)
    deleted = _deleted_shas(a)
    in_dir = {c.seq: c for c in rep.clips if c.seq is not None}
    last_n = a.entries[-1]["n"] if a.entries else -1
    # every clip here is in the log, as sealed
    for c in rep.clips:
        if c.seq is None or c.meta is None:
            continue
        e = seals.get(c.seq)
        head = c.meta.get("audit_head")
        if isinstance(head, dict) and isinstance(head.get("n"), int) and head["n"] >= 0:
            hn = head["n"]
            if hn > last_n:
                c.fail("the audit log ends at entry %d, before entry %d that this clip was sealed after: the log "
                       "was cut short (or copied before this clip)" % (last_n, hn))
            elif a.hashes.get(hn) is None:
                c.fail("audit entry %d, which this clip was sealed after, is not in the log" % hn)
            elif a.hashes[hn] != head.get("sha256"):
                c.fail("audit entry %d differs from the one this clip was sealed after: the log was altered" % hn)
        if e is None:
            if not (isinstance(head, dict) and isinstance(head.get("n"), int) and head["n"] > last_n):
                c.fail("its sealing is not in the audit log")
            continue
        d = e.get("d") or {}
        if d.get("manifest_sha256") != c.manifest_sha256:
            c.fail("the audit log sealed a different manifest for seq %d: the manifest was replaced" % c.seq)
        if d.get("clip") != c.stem[:8]:
            c.fail("the audit log sealed seq %d as %s, not %s" % (c.seq, d.get("clip"), c.stem))
    # Every clip sealed in the log is here or was offloaded and deleted.
    # (Gaps between clips here were reported by _check_chain.)
    seqs = sorted(in_dir)
    lo, hi = (seqs[0], seqs[-1]) if seqs else (None, None)
    missing = []
    for q in sorted(seals):
        if q in in_dir or (lo is not None and lo < q < hi):
            continue
        d = seals[q].get("d") or {}
        if d.get("avi_sha256") in deleted:
            rep.notes.append("%s (seq %d) is not here: the device deleted it after it was offloaded"
                             % (d.get("clip"), q))
        else:
            missing.append(q)
    if missing:
        rep.findings.append(Finding("chain", "missing from the folder: %s (sealed on the device, not deleted "
                                             "after an offload)" % ", ".join(_seq_name(q, seals) for q in missing)))
    # The first clip here links to its predecessor as the log recorded it.
    # The log's first boot entry says where the chain stood when the log
    # began: clips up to that seq predate the log.
    first = next((c for c in rep.clips if c.seq is not None and c.meta is not None), None)
    boots = a.of_kind("boot")
    anchor = ((boots[0].get("d") or {}).get("chain") or {}) if boots else {}
    if first is not None and first.seq > 1 and (first.seq - 1) not in seals:
        want = first.meta.get("prev_manifest_sha256")
        a_seq = anchor.get("seq")
        if isinstance(a_seq, int) and a_seq == first.seq - 1:
            if anchor.get("manifest_sha256") != want:
                first.fail("does not follow seq %d as the audit log's first boot recorded it: the chain is broken"
                           % a_seq)
        elif isinstance(a_seq, int) and a_seq >= first.seq:
            rep.notes.append("the audit log begins after seq %d: the link from %s to the clip before it "
                             "predates the log" % (a_seq, first.stem))
        else:
            first.fail("its predecessor (seq %d) is neither here nor sealed in the audit log"
                       % (first.seq - 1))
    elif first is not None and (first.seq - 1) in seals:
        want = first.meta.get("prev_manifest_sha256")
        if (seals[first.seq - 1].get("d") or {}).get("manifest_sha256") != want:
            first.fail("does not follow seq %d as the audit log sealed it: the chain is broken" % (first.seq - 1))
    # Recordings cut off by a power loss: rebuilt at the next boot or not.
    recovered = {(e.get("d") or {}).get("clip") for e in a.of_kind("clip_recovered")}
    for e in a.of_kind("record_stop"):
        d = e.get("d") or {}
        if d.get("found_at") == "boot" or d.get("reason") == "power_loss":
            rep.notes.append("recording %s was cut off by %s (found at boot %s); %s"
                             % (d.get("clip"), d.get("cause") or "a power loss", e.get("utc") or "(UTC unknown)",
                                "it was rebuilt from its whole frames and sealed" if d.get("clip") in recovered
                                else "no clip was rebuilt from it"))


# --- text --------------------------------------------------------------------

def describe(rep):
    lines = []
    for c in rep.clips:
        m = c.meta or {}
        fm = m.get("frame_ms") or []
        span = (fm[-1] - fm[0]) / 1000.0 if len(fm) > 1 else 0.0
        sig = {True: "signed (key %s%s)" % (m.get("key_id"), "" if rep.signatures_checked else ", not checked"),
               False: "UNSIGNED", None: ""}[c.signed]
        head = "%-10s seq %-5s %-10s" % (c.stem, c.seq if c.seq is not None else "?", c.status)
        if c.meta is not None:
            head += " %d frames, %.1f s, %s" % (m.get("frames") or 0, span, sig)
        fails = [f for f in c.findings if f.level != "note"]
        if fails:
            head += ": " + "; ".join(f.text for f in fails)
        lines.append(head)
    if rep.audit is not None:
        a = rep.audit
        bad = [f for f in a.findings if f.level != "note"]
        status = "FAIL" if any(f.level == "fail" for f in bad) else "UNVERIFIED" if bad else "ok"
        s = "%-10s %-15s %d entries" % (AUDIT_NAME, status, len(a.entries))
        if bad:
            s += ": " + "; ".join(f.text for f in bad)
        lines.append(s)
        for f in a.findings:
            if f.level == "note":
                lines.append("  note: " + f.text)
    for f in rep.findings:
        lines.append("%s%s: %s" % ("" if f.level == "fail" else "note: " if f.level == "note" else "unverified: ",
                                   f.subject, f.text))
    for n in rep.notes:
        lines.append("note: " + n)
    v = rep.verdict
    fails = [f for f in rep.all_findings() if f.level == "fail"]
    if v == "VERIFIED":
        lines.append("verdict: VERIFIED: %d clip(s)%s; hashes%s and chains all hold"
                     % (len(rep.clips), " and the audit log" if rep.audit else "",
                        ", signatures" if rep.signatures_checked else " (signatures NOT checked: --no-key)"))
    elif v == "UNVERIFIED":
        lines.append("verdict: UNVERIFIED: nothing found altered, but some signatures could not be checked "
                     "(see above)")
    else:
        lines.append("verdict: FAILED: %d problem(s) found" % len(fails))
    return "\n".join(lines)
