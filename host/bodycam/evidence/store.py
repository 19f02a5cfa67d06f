"""The evidence store: any S3-compatible object storage (AWS S3, MinIO,
Ceph RGW) through boto3, with endpoint and credentials from the usual AWS
environment and config (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_PROFILE...).

Layout: s3://BUCKET/PREFIX/<device-id>/<clip>.AVI|.JSON and .../AUDIT.LOG.

- Every upload carries a SHA-256 checksum (ChecksumAlgorithm='SHA256'), so
  the store checks the bytes itself; large files go up in parts (each part
  checked by the store), and an interrupted multipart upload is resumed:
  the parts already there are found with ListMultipartUploads/ListParts.
- A clip key is written once: if it holds other bytes, that is an error,
  never an overwrite. The audit log grows, so each new state of it is a new
  version of AUDIT.LOG (the bucket must have versioning on: old versions
  are kept, never overwritten).
- With retain_days, every object gets Object Lock COMPLIANCE retention; a
  bucket without Object Lock is refused before anything is uploaded.
- confirm() asks the store (HeadObject) for the object's checksum and lock.
  Retention is read from HeadObject, not GetObjectRetention: that is what
  AWS documents as returning ObjectLockMode/ObjectLockRetainUntilDate, and
  moto 5.2's server answers GetObjectRetention with a 500.

Only confirm()'s answer lets the station delete a clip on the camera.
"""
import base64
import datetime
import hashlib
import os

from bodycam.evidence.hashing import sha256_file

PART_BYTES = 8 * 1024 * 1024  # S3 parts are 5 MiB..5 GiB (except the last)
MULTIPART_AT = 16 * 1024 * 1024  # files this big or bigger go up in parts
AUDIT_NAME = "AUDIT.LOG"
STORE_LOG_NAME = "STORE.LOG"  # the store's own audit log (bodycam.evidence.storelog)
EVIDENCE_SUFFIXES = (".AVI", ".JSON")


class StoreError(OSError):
    """The store could not be reached or failed a request: worth a retry
    later; nothing on the camera is deleted meanwhile."""


class StoreRefused(ValueError):
    """The store is set up so that evidence must not go there (no Object
    Lock with --retain-days, no versioning, no such bucket). Says what to do."""


class StoreConflict(StoreError):
    """The key already holds different bytes: never overwritten."""


def parse_url(url):
    """'s3://BUCKET/PREFIX/...' -> (bucket, prefix without slashes at the ends)."""
    if not isinstance(url, str) or not url.startswith("s3://"):
        raise ValueError("an evidence store is given as s3://BUCKET/PREFIX, not %r" % (url,))
    rest = url[5:]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ValueError("no bucket in %r: use s3://BUCKET/PREFIX" % url)
    return bucket, prefix.strip("/")


def b64(digest):
    return base64.b64encode(digest).decode()


def sha256_b64_of_hex(hexdigest):
    return b64(bytes.fromhex(hexdigest))


def part_ranges(size, part_bytes=PART_BYTES):
    """[(offset, length)] of the parts of a file of `size` bytes."""
    out = []
    off = 0
    while off < size or not out:
        n = min(part_bytes, size - off)
        out.append((off, n))
        off += n
        if n == 0:
            break
    return out


def _read(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def composite_sha256(path, part_bytes=PART_BYTES):
    """S3's checksum of a multipart object: SHA-256 over the parts' SHA-256
    digests, base64, with '-<parts>' (AWS "COMPOSITE" checksum type)."""
    ranges = part_ranges(os.path.getsize(path), part_bytes)
    h = hashlib.sha256()
    for off, n in ranges:
        h.update(hashlib.sha256(_read(path, off, n)).digest())
    return "%s-%d" % (b64(h.digest()), len(ranges))


def client_from_env():
    """A boto3 S3 client configured the usual AWS way (env, ~/.aws/config):
    AWS_ENDPOINT_URL selects MinIO/Ceph; retries are left to the station."""
    import boto3
    from botocore.config import Config
    return boto3.client("s3", config=Config(retries={"max_attempts": 2, "mode": "standard"},
                                            connect_timeout=5, read_timeout=60))


def _transient(err):
    """Is a botocore error worth a retry later (store down, 5xx, throttled)?"""
    from botocore.exceptions import BotoCoreError, ClientError
    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        code = err.response.get("Error", {}).get("Code", "")
        return status >= 500 or code in ("SlowDown", "RequestTimeout", "Throttling", "ThrottlingException")
    return isinstance(err, BotoCoreError)


def _code(err):
    return getattr(err, "response", {}).get("Error", {}).get("Code", "")


class EvidenceStore:
    def __init__(self, url, retain_days=None, client=None, part_bytes=PART_BYTES, multipart_at=MULTIPART_AT):
        self.url = url
        self.bucket, self.prefix = parse_url(url)
        if retain_days is not None and (not isinstance(retain_days, int) or retain_days < 1):
            raise ValueError("--retain-days must be a whole number of days, 1 or more, not %r" % (retain_days,))
        self.retain_days = retain_days
        self.s3 = client or client_from_env()
        self.part_bytes = part_bytes
        self.multipart_at = max(multipart_at, part_bytes)
        self.checked = False

    def __repr__(self):
        return "EvidenceStore(%s)" % self.url

    # --- errors -------------------------------------------------------------
    def _call(self, what, fn, **kw):
        """Run one S3 request; store-side trouble becomes StoreError."""
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            return fn(**kw)
        except (BotoCoreError, ClientError) as e:
            raise StoreError("%s on %s: %s" % (what, self.url, e)) from e

    def _pages(self, what, operation, **kw):
        """Every page of a listing, through botocore's paginator; store-side
        trouble becomes StoreError."""
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            yield from self.s3.get_paginator(operation).paginate(**kw)
        except (BotoCoreError, ClientError) as e:
            raise StoreError("%s on %s: %s" % (what, self.url, e)) from e

    # --- the bucket -----------------------------------------------------------
    def check(self):
        """Refuse a bucket that cannot hold evidence as asked (StoreRefused),
        or raise StoreError when the store can't be reached (retry later)."""
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except ClientError as e:
            if _transient(e):
                raise StoreError("the store at %s does not answer: %s" % (self.url, e)) from e
            raise StoreRefused("cannot use bucket %r: %s (check the bucket name and the credentials)"
                               % (self.bucket, e)) from e
        except BotoCoreError as e:
            raise StoreError("the store at %s cannot be reached: %s" % (self.url, e)) from e
        v = self._call("GetBucketVersioning", self.s3.get_bucket_versioning, Bucket=self.bucket)
        if v.get("Status") != "Enabled":
            raise StoreRefused(
                "bucket %r does not have versioning on, so a new audit log could replace the old one: "
                "turn it on (aws s3api put-bucket-versioning --bucket %s --versioning-configuration "
                "Status=Enabled) or, better, use a bucket created with Object Lock" % (self.bucket, self.bucket))
        if self.retain_days is not None:
            self.require_object_lock("--retain-days %d cannot be enforced" % self.retain_days,
                                     "nothing was uploaded")
        self.checked = True

    def require_object_lock(self, what, after="nothing was changed"):
        """Raise StoreRefused unless the bucket has Object Lock on (`what`
        says what would not hold without it), StoreError when the store
        cannot be asked."""
        from botocore.exceptions import BotoCoreError, ClientError
        try:
            cfg = self.s3.get_object_lock_configuration(Bucket=self.bucket)
            enabled = cfg.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        except ClientError as e:
            if _transient(e):
                raise StoreError("the store at %s does not answer: %s" % (self.url, e)) from e
            if _code(e) not in ("ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration"):
                raise StoreRefused("cannot read the Object Lock setting of bucket %r: %s" % (self.bucket, e))
            enabled = False
        except BotoCoreError as e:
            raise StoreError("the store at %s cannot be reached: %s" % (self.url, e)) from e
        if not enabled:
            raise StoreRefused(
                "bucket %r has no Object Lock, so %s: create a bucket with Object Lock enabled "
                "(aws s3api create-bucket --bucket NAME --object-lock-enabled-for-bucket; MinIO: "
                "mc mb --with-lock ALIAS/NAME) and use that; %s" % (self.bucket, what, after))

    # --- keys ---------------------------------------------------------------------
    def key(self, device, name):
        if not device or "/" in device or device in (".", ".."):
            raise ValueError("bad device id %r" % (device,))
        return "/".join(p for p in (self.prefix, device, name) if p)

    def _retain_until(self):
        if self.retain_days is None:
            return None
        return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=self.retain_days)) \
            .replace(microsecond=0)

    def _lock_args(self, until):
        return {} if until is None else {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until}

    # --- what the store says -----------------------------------------------------------
    def head(self, key, version=None):
        """HeadObject with checksums, or None when there is no such object."""
        from botocore.exceptions import BotoCoreError, ClientError
        kw = {"Bucket": self.bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if version:
            kw["VersionId"] = version
        try:
            return self.s3.head_object(**kw)
        except ClientError as e:
            if _code(e) in ("404", "NoSuchKey", "NotFound", "NoSuchVersion") and not _transient(e):
                return None
            raise StoreError("HeadObject %s on %s: %s" % (key, self.url, e)) from e
        except BotoCoreError as e:
            raise StoreError("HeadObject %s on %s: %s" % (key, self.url, e)) from e

    def _checksum_matches(self, h, path, sha256_hex, size):
        got = h.get("ChecksumSHA256")
        if not got or h.get("ContentLength") != size:
            return False
        if "-" not in got and got == sha256_b64_of_hex(sha256_hex):
            return True
        # A multipart object: S3 keeps the checksum of the parts' checksums.
        comp = composite_sha256(path, self.part_bytes)
        return got == comp or got == comp.split("-")[0]

    def _problems(self, h, path, sha256_hex, size, until=None):
        """Why the object `h` does not (yet) confirm the local file; [] when it does."""
        if h is None:
            return ["not in the store"]
        out = []
        if not self._checksum_matches(h, path, sha256_hex, size):
            out.append("the store's SHA-256 checksum (%s, %s bytes) does not match the verified copy" % (
                h.get("ChecksumSHA256"), h.get("ContentLength")))
        if self.retain_days is not None:
            mode = h.get("ObjectLockMode")
            have = h.get("ObjectLockRetainUntilDate")
            want = until or self._retain_until()
            if mode != "COMPLIANCE" or have is None:
                out.append("no COMPLIANCE retention on it (mode %s)" % mode)
            elif have < want - datetime.timedelta(minutes=10):
                out.append("retained only until %s, less than --retain-days %d" % (have.isoformat(), self.retain_days))
        return out

    def confirm(self, device, name, path, sha256_hex, version=None):
        """Ask the store whether it holds exactly this verified file, under
        the retention asked for. Returns the confirmation dict, or raises
        StoreError saying what is missing."""
        key = self.key(device, name)
        size = os.path.getsize(path)
        h = self.head(key, version)
        bad = self._problems(h, path, sha256_hex, size)
        if bad:
            raise StoreError("%s: not confirmed by the store: %s" % (key, "; ".join(bad)))
        return self._confirmation(key, h, sha256_hex)

    def _confirmation(self, key, h, sha256_hex):
        until = h.get("ObjectLockRetainUntilDate")
        return {"key": key, "version": h.get("VersionId"), "sha256": sha256_hex,
                "checksum": h.get("ChecksumSHA256"), "bytes": h.get("ContentLength"),
                "lock": h.get("ObjectLockMode"), "retain_until": until.isoformat() if until else None}

    # --- uploads ---------------------------------------------------------------------
    def put_clip(self, device, name, path, sha256_hex=None, progress=None):
        """Upload a verified clip file once (idempotent: a clip already
        stored with the same bytes is only confirmed). Returns the
        confirmation; raises StoreConflict if the key holds other bytes."""
        if not self.checked:
            self.check()
        sha256_hex = sha256_hex or sha256_file(path)
        key = self.key(device, name)
        size = os.path.getsize(path)
        h = self.head(key)
        if h is not None:
            if not self._checksum_matches(h, path, sha256_hex, size):
                raise StoreConflict("%s already holds different bytes (checksum %s, %s bytes); not overwritten: "
                                    "the verified copy stays in the folder and on the camera"
                                    % (key, h.get("ChecksumSHA256"), h.get("ContentLength")))
            if self._problems(h, path, sha256_hex, size):
                self._extend(device, key, h)  # stored before, under a shorter lock or none
            return self.confirm(device, name, path, sha256_hex, h.get("VersionId"))
        version = self._upload(key, path, size, progress)
        return self.confirm(device, name, path, sha256_hex, version)

    def put_log(self, device, path, sha256_hex=None, name=AUDIT_NAME):
        """Upload the audit log as a new version of its key unless the
        newest version already holds these bytes. Old versions stay."""
        if not self.checked:
            self.check()
        sha256_hex = sha256_hex or sha256_file(path)
        key = self.key(device, name)
        size = os.path.getsize(path)
        h = self.head(key)
        if h is not None and self._checksum_matches(h, path, sha256_hex, size):
            if self._problems(h, path, sha256_hex, size):
                self._extend(device, key, h)
            return self.confirm(device, name, path, sha256_hex, h.get("VersionId"))
        version = self._upload(key, path, size, None)
        return self.confirm(device, name, path, sha256_hex, version)

    def _upload(self, key, path, size, progress):
        until = self._retain_until()
        if size < self.multipart_at:
            with open(path, "rb") as f:
                body = f.read()
            r = self._call("PutObject %s" % key, self.s3.put_object, Bucket=self.bucket, Key=key, Body=body,
                           ChecksumAlgorithm="SHA256", **self._lock_args(until))
            if progress:
                progress(size)
            return r.get("VersionId")
        return self._multipart(key, path, size, until, progress)

    def _extend(self, device, key, h):
        """Lengthen the retention of the stored version `h` to --retain-days
        from now, in COMPLIANCE mode, never to a date before the one it has
        (AWS refuses that in COMPLIANCE mode; some stores, moto among them,
        do not). The store's audit log records it first, so no extension
        goes unrecorded."""
        want = self._retain_until()
        if want is None:
            return
        have = h.get("ObjectLockRetainUntilDate")
        until = max(want, have) if have is not None else want
        from bodycam.evidence.storelog import StoreLog
        StoreLog(self, device).append(
            "extend-retention", until=until, key=key, version=h.get("VersionId"),
            mode_was=h.get("ObjectLockMode"), until_was=have.isoformat() if have is not None else None,
            retain_until=until.isoformat(), retain_days=self.retain_days)
        self._set_retention(key, h.get("VersionId"), until)

    def _set_retention(self, key, version, until):
        kw = {"Bucket": self.bucket, "Key": key,
              "Retention": {"Mode": "COMPLIANCE", "RetainUntilDate": until}, "ChecksumAlgorithm": "SHA256"}
        if version:
            kw["VersionId"] = version
        self._call("PutObjectRetention %s" % key, self.s3.put_object_retention, **kw)

    def _multipart(self, key, path, size, until, progress):
        """Upload in parts, resuming an upload of this key left by an
        earlier run: parts already there whose bytes match are kept."""
        ranges = part_ranges(size, self.part_bytes)
        upload, have = self._resumable(key)
        if upload is None:
            r = self._call("CreateMultipartUpload %s" % key, self.s3.create_multipart_upload,
                           Bucket=self.bucket, Key=key, ChecksumAlgorithm="SHA256", **self._lock_args(until))
            upload = r["UploadId"]
        done = []
        for number, (off, n) in enumerate(ranges, 1):
            data = _read(path, off, n)
            sha = b64(hashlib.sha256(data).digest())
            old = have.get(number)
            if old is not None and old.get("Size") == n and (
                    old.get("ChecksumSHA256") == sha or
                    old.get("ETag", "").strip('"') == hashlib.md5(data, usedforsecurity=False).hexdigest()):
                etag = old["ETag"]  # sent by an earlier run: resume after it
            else:
                r = self._call("UploadPart %d of %s" % (number, key), self.s3.upload_part, Bucket=self.bucket,
                               Key=key, UploadId=upload, PartNumber=number, Body=data, ChecksumSHA256=sha)
                etag = r["ETag"]
            done.append({"PartNumber": number, "ETag": etag, "ChecksumSHA256": sha})
            if progress:
                progress(n)
        r = self._call("CompleteMultipartUpload %s" % key, self.s3.complete_multipart_upload,
                       Bucket=self.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done})
        version = r.get("VersionId")
        # Some stores (moto 5.2) drop the lock given at CreateMultipartUpload:
        # set it on the version just made; confirm() checks it either way.
        h = self.head(key, version)
        if until is not None and (h is None or h.get("ObjectLockMode") != "COMPLIANCE"):
            self._set_retention(key, version, until)
        return version

    def _resumable(self, key):
        """(upload id, {part number: part}) of an unfinished multipart upload
        of `key`, or (None, {})."""
        r = self._call("ListMultipartUploads %s" % key, self.s3.list_multipart_uploads,
                       Bucket=self.bucket, Prefix=key)
        ups = sorted((u for u in r.get("Uploads", []) if u.get("Key") == key),
                     key=lambda u: u.get("Initiated") or 0)
        if not ups:
            return None, {}
        upload = ups[-1]["UploadId"]
        parts = {}
        for page in self._pages("ListParts %s" % key, "list_parts", Bucket=self.bucket, Key=key, UploadId=upload):
            for p in page.get("Parts", []):
                parts[p["PartNumber"]] = p
        return upload, parts

    # --- reading back (bodycam verify s3://...) ------------------------------------------
    def list_devices(self):
        """Device ids under the prefix (its 'folders')."""
        base = self.prefix + "/" if self.prefix else ""
        return [p["Prefix"][len(base):].rstrip("/")
                for page in self._pages("ListObjectsV2", "list_objects_v2", Bucket=self.bucket, Prefix=base,
                                        Delimiter="/")
                for p in page.get("CommonPrefixes", [])]

    def list_names(self, device=None):
        """{name: size} of the objects directly under PREFIX[/DEVICE]/."""
        base = "/".join(p for p in (self.prefix, device) if p)
        base = base + "/" if base else ""
        return {o["Key"][len(base):]: o["Size"]
                for page in self._pages("ListObjectsV2", "list_objects_v2", Bucket=self.bucket, Prefix=base,
                                        Delimiter="/")
                for o in page.get("Contents", [])}

    def download_dir(self, device, dest, skip=()):
        """Copy the newest version of each object under PREFIX[/DEVICE]/
        (but the names in `skip`) into dest (a folder `bodycam verify` can
        read); returns dest."""
        base = "/".join(p for p in (self.prefix, device) if p)
        os.makedirs(dest, exist_ok=True)
        for name in sorted(set(self.list_names(device)) - set(skip)):
            key = base + "/" + name if base else name
            self._call("GetObject %s" % key, self.s3.download_file, Bucket=self.bucket, Key=key,
                       Filename=os.path.join(dest, name))
        return dest
