"""The store's own audit log: what was done in the evidence store to a
device's evidence after it was uploaded (retention extended, a legal hold
set or released), by whom, when and why.

One per device, beside its clips: PREFIX/<device-id>/STORE.LOG, one JSON
object a line:

    {"n": 0, "t": "2026-12-07T10:00:00.000Z", "event": "legal-hold",
     "by": "alice@desk1", "key_id": "AKIA...", "prev": "<sha256 of the log before this line>", ...}

The camera's AUDIT.LOG is the device's, hash-chained and signed by it;
this one is the store's side of the story, so it is a separate object.

- Appending writes the whole log again as a new version of STORE.LOG (the
  bucket keeps every version), conditionally: If-Match on the ETag of the
  version read, If-None-Match: * for the first one. Two writers at once
  cannot drop each other's entry: the one that loses reads again and
  retries.
- Each entry names the SHA-256 of the log before it ("prev") and its
  number ("n"), so check() sees a version that does not extend the one
  before it.
- Each version is locked in COMPLIANCE mode at least as long as the
  version before it and as the caller asks (the store's --retain-days,
  the objects the entry is about), so the record lasts as long as what it
  is about."""
import datetime
import getpass
import hashlib
import json
import socket

from bodycam.evidence.store import STORE_LOG_NAME, StoreError, _code, b64

NAME = STORE_LOG_NAME
WRITE_TRIES = 5


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def person():
    """Who is at the keyboard: login name @ host name."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        user = "unknown"
    return "%s@%s" % (user, socket.gethostname())


def access_key_id():
    """The access key the usual AWS configuration signs with (the name the
    store's own request logs know the caller by), or None."""
    import boto3
    creds = boto3.session.Session().get_credentials()
    return creds.access_key if creds is not None else None


def check(data):
    """(entries, problems) of a STORE.LOG's bytes: each line an object,
    numbered from 0, naming the SHA-256 of the bytes before it."""
    entries, problems = [], []
    pos = 0
    for i, line in enumerate(data.split(b"\n")[:-1]):
        try:
            e = json.loads(line)
        except ValueError:
            e = None
        if not isinstance(e, dict):
            problems.append("line %d is not a log entry" % (i + 1))
        elif e.get("n") != i or e.get("prev") != hashlib.sha256(data[:pos]).hexdigest():
            problems.append("entry %d does not follow the entries before it (n %r): the log was altered"
                            % (i, e.get("n")))
        else:
            entries.append(e)
        pos += len(line) + 1
    if not data.endswith(b"\n") and data:
        problems.append("the last line is not whole")
    return entries, problems


class StoreLog:
    def __init__(self, store, device, by=None):
        self.store = store
        self.device = device
        self.key = store.key(device, NAME)
        self.by = by or person()

    def read(self):
        """(bytes, head) of the newest version; (b"", None) when there is none."""
        h = self.store.head(self.key)
        if h is None:
            return b"", None
        r = self.store._call("GetObject %s" % self.key, self.store.s3.get_object, Bucket=self.store.bucket,
                             Key=self.key, VersionId=h["VersionId"])
        return r["Body"].read(), h

    def entries(self):
        """The entries of the newest version; StoreError when it does not check."""
        data, _ = self.read()
        entries, problems = check(data)
        if problems:
            raise StoreError("%s on %s: %s" % (self.key, self.store.url, "; ".join(problems)))
        return entries

    def append(self, event, until=None, **fields):
        """Add one entry as a new version; returns the entry (with the new
        version's "version"). `until`: lock the new version at least that long."""
        for _ in range(WRITE_TRIES):
            data, h = self.read()
            entries, problems = check(data)
            if problems:
                raise StoreError("%s on %s cannot be extended: %s" % (self.key, self.store.url, "; ".join(problems)))
            entry = {"n": len(entries), "t": now_iso(), "event": event, "by": self.by, "key_id": access_key_id(),
                     "prev": hashlib.sha256(data).hexdigest()}
            entry.update(fields)
            body = data + json.dumps(entry, sort_keys=True, default=str).encode() + b"\n"
            cond = {"IfMatch": h["ETag"]} if h is not None else {"IfNoneMatch": "*"}
            try:
                r = self.store._call("PutObject %s" % self.key, self.store.s3.put_object, Bucket=self.store.bucket,
                                     Key=self.key, Body=body, ChecksumAlgorithm="SHA256",
                                     **self.store._lock_args(self._lock_until(until, h)), **cond)
            except StoreError as e:
                if _code(e.__cause__) in ("PreconditionFailed", "ConditionalRequestConflict"):
                    continue  # another writer came first: read its entry, then add ours after it
                raise
            entry["version"] = r.get("VersionId")
            got = self.store.head(self.key, entry["version"])
            if got is None or got.get("ChecksumSHA256") != b64(hashlib.sha256(body).digest()):
                raise StoreError("%s on %s: the store does not confirm the new version's SHA-256"
                                 % (self.key, self.store.url))
            return entry
        raise StoreError("%s on %s: other writers kept changing it (%d tries)" % (self.key, self.store.url, WRITE_TRIES))

    def _lock_until(self, until, h):
        dates = [d for d in (until, self.store._retain_until(), h and h.get("ObjectLockRetainUntilDate"))
                 if d is not None]
        return max(dates) if dates else None

