"""Legal holds on clips in the evidence store (`bodycam hold`).

A clip in a case, or under complaint, must outlive its retention: S3
Object Lock's legal hold keeps an object version from being deleted or
overwritten until the hold is released, whatever its retention date says.
S3 has one legal-hold flag per object version, so the holds themselves
(who, when, why: one per case) are kept in the store's audit log
(bodycam.evidence.storelog, STORE.LOG): the flag goes off only when the
last hold on the clip is released. Releasing never touches retention (no
PutObjectRetention is ever sent from here): a clip whose retention is over
can be deleted once released, and release says so.

A clip is its AVI and its sidecar (BC000001.AVI and BC000001.JSON): every
stored version of both is held, so no version that may be the evidence
can go."""
import datetime
import re

from bodycam.evidence.store import EvidenceStore, StoreError, parse_url
from bodycam.evidence.storelog import StoreLog

CLIP_RE = re.compile(r"^(BC\d{6})(?:\.(AVI|JSON))?$", re.I)
PARTS = (".AVI", ".JSON")
URL_FORM = "s3://BUCKET/PREFIX/DEVICE/BC000001"


class ClipNotFound(LookupError):
    """The store holds no version of the clip's AVI or sidecar."""


class WhichHold(ValueError):
    """A release that does not say which of several holds it ends, or names
    one that is not active."""


def parse_clip_url(url):
    """'s3://BUCKET/PREFIX/DEVICE/CLIP' -> ('s3://BUCKET/PREFIX', DEVICE, 'BC000001').
    CLIP is the clip's name, with or without .AVI/.JSON."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise ValueError("a clip in the store is named %s, not %r" % (URL_FORM, url))
    bucket, path = parse_url(url)
    parts = path.split("/") if path else []
    if len(parts) < 2:
        raise ValueError("a clip in the store is named %s, not %r: the device id and the clip's name are "
                         "missing" % (URL_FORM, url))
    device, clip = parts[-2], parts[-1]
    m = CLIP_RE.match(clip)
    if not m:
        raise ValueError("%r is not a clip's name (BC and six digits, e.g. BC000001 or BC000001.AVI): use %s"
                         % (clip, URL_FORM))
    return "s3://%s/%s" % (bucket, "/".join(parts[:-2])), device, m.group(1).upper()


def active_holds(entries, stem):
    """{hold number: its entry} of the holds on `stem` not released yet."""
    held = {}
    for e in entries:
        if e.get("clip") != stem:
            continue
        if e.get("event") == "legal-hold":
            held[e["n"]] = e
        elif e.get("event") == "legal-hold-release":
            held.pop(e.get("hold"), None)
    return held


def _iso(d):
    return d.isoformat() if d is not None else None


class Holds:
    def __init__(self, store, device, by=None):
        self.store = store
        self.device = device
        self.log = StoreLog(store, device, by)

    def versions(self, stem):
        """[(key, version id)] of every stored version of the clip's AVI and sidecar."""
        out = []
        for ext in PARTS:
            key = self.store.key(self.device, stem + ext)
            for page in self.store._pages("ListObjectVersions %s" % key, "list_object_versions",
                                          Bucket=self.store.bucket, Prefix=key):
                out += [(key, v["VersionId"]) for v in page.get("Versions", []) if v.get("Key") == key]
        return out

    def _found(self, stem):
        found = self.versions(stem)
        if not found:
            raise ClipNotFound("no %s.AVI or %s.JSON under %s/%s/: check the device id and the clip's name "
                               "(`bodycam verify %s/%s` lists the clips there)"
                               % (stem, stem, self.store.url, self.device, self.store.url, self.device))
        return found

    def _objects(self, found):
        """What the store says of each version: key, version, lock and hold."""
        out = []
        for key, version in found:
            h = self.store.head(key, version) or {}
            out.append({"key": key, "version": version, "lock": h.get("ObjectLockMode"),
                        "retain_until": _iso(h.get("ObjectLockRetainUntilDate")),
                        "legal_hold": h.get("ObjectLockLegalHoldStatus") == "ON"})
        return out

    def _set(self, key, version, status):
        self.store._call("PutObjectLegalHold %s" % key, self.store.s3.put_object_legal_hold,
                         Bucket=self.store.bucket, Key=key, VersionId=version, LegalHold={"Status": status})

    def _missing(self, found, stem):
        keys = {k for k, _ in found}
        return [stem + ext for ext in PARTS if self.store.key(self.device, stem + ext) not in keys]

    def hold(self, stem, reason):
        """Put a legal hold on every version of the clip, then record it.
        Returns the log entry (its "n" is the hold's number) plus "missing"."""
        reason = _reason(reason)
        self.store.require_object_lock("a legal hold cannot be set")
        found = self._found(stem)
        for key, version in found:  # the hold first: it is in force even if the record then fails
            self._set(key, version, "ON")
        objects = self._objects(found)
        entry = self.log.append("legal-hold", until=_latest(objects), clip=stem, reason=reason, objects=objects)
        entry["missing"] = self._missing(found, stem)
        return entry

    def release(self, stem, reason, hold=None):
        """End hold number `hold` (the only active one when None); the
        flags go off only when no other hold on the clip remains. The
        release is recorded first: a release that then fails leaves the
        clip held, never unheld and unrecorded."""
        reason = _reason(reason)
        self.store.require_object_lock("it has no legal holds to release")
        found = self._found(stem)
        active = active_holds(self.log.entries(), stem)
        if hold is None and len(active) > 1:
            raise WhichHold("%s has %d holds: %s. Say which one this release ends with --hold N"
                            % (stem, len(active), _list(active)))
        if hold is not None and hold not in active:
            raise WhichHold("%s has no active hold #%d (active: %s)" % (stem, hold, _list(active) or "none"))
        before = self._objects(found)
        if not active and not any(o["legal_hold"] for o in before):
            raise WhichHold("%s is not on legal hold: nothing to release" % stem)
        if hold is None and active:
            hold = next(iter(active))
        remaining = sorted(n for n in active if n != hold)
        entry = self.log.append("legal-hold-release", until=_latest(before), clip=stem, hold=hold, reason=reason,
                                still_held_by=remaining, objects=before)
        if not remaining:
            for o in before:
                if o["legal_hold"]:
                    self._set(o["key"], o["version"], "OFF")
        after = self._objects(found)
        for b, a in zip(before, after):
            if a["retain_until"] != b["retain_until"] or a["lock"] != b["lock"]:
                raise StoreError("%s (version %s): its retention changed from %s %s to %s %s while the hold was "
                                 "released" % (b["key"], b["version"], b["lock"], b["retain_until"], a["lock"],
                                               a["retain_until"]))
        now = datetime.datetime.now(datetime.timezone.utc)
        entry["deletable"] = [] if remaining else [
            o["key"] for o in after
            if o["retain_until"] is None or datetime.datetime.fromisoformat(o["retain_until"]) <= now]
        entry["missing"] = self._missing(found, stem)
        return entry

    def status(self, stems):
        """{stem: {"held": [file names on legal hold], "holds": [active hold entries]}}
        for the clips (newest version of each file) that are held by
        either account; and the log's problems, if any."""
        from bodycam.evidence.storelog import check
        data, _ = self.log.read()
        entries, problems = check(data)
        out = {}
        for stem in stems:
            held = []
            for ext in PARTS:
                h = self.store.head(self.store.key(self.device, stem + ext))
                if h is not None and h.get("ObjectLockLegalHoldStatus") == "ON":
                    held.append(stem + ext)
            active = active_holds(entries, stem)
            if held or active:
                out[stem] = {"held": held, "holds": [active[n] for n in sorted(active)]}
        return out, problems


def _reason(reason):
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("say why with --reason TEXT (a case number, a complaint): it goes into the store's "
                         "audit log with who and when")
    return reason


def _latest(objects):
    dates = [datetime.datetime.fromisoformat(o["retain_until"]) for o in objects if o["retain_until"]]
    return max(dates) if dates else None


def _list(active):
    return ", ".join("#%d (%s, %s: %s)" % (n, e.get("by"), e.get("t"), e.get("reason")) for n, e in sorted(active.items()))


def store_for(url):
    """(Holds, stem) for a clip's URL."""
    base, device, stem = parse_clip_url(url)
    return Holds(EvidenceStore(base), device), stem
