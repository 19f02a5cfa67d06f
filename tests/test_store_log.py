"""The store's own audit log (bodycam.evidence.storelog, STORE.LOG) against
moto's S3 server: entries chained and numbered, each one a new locked
version, two writers at once both kept, an altered log refused."""
import datetime
import hashlib
import json

import boto3
import pytest

from bodycam.evidence.store import EvidenceStore, StoreError
from bodycam.evidence.storelog import StoreLog, check
from s3server import new_bucket, s3, s3_endpoint  # noqa: F401  (fixtures)


def test_entries_are_numbered_chained_and_each_is_a_new_locked_version(s3):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=3)
    log = StoreLog(st, "bc-1", by="alice@desk1")
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=40)
    a = log.append("legal-hold", until=later, clip="BC000001", reason="case 1")
    b = log.append("legal-hold-release", clip="BC000001", hold=0, reason="closed")
    assert (a["n"], b["n"]) == (0, 1) and a["version"] != b["version"]
    data = s3.get_object(Bucket=bucket, Key="p/bc-1/STORE.LOG")["Body"].read()
    lines = data.split(b"\n")
    assert json.loads(lines[0])["prev"] == hashlib.sha256(b"").hexdigest()
    assert json.loads(lines[1])["prev"] == hashlib.sha256(lines[0] + b"\n").hexdigest()
    entries = log.entries()
    assert [(e["event"], e["by"], e["reason"]) for e in entries] == [("legal-hold", "alice@desk1", "case 1"),
                                                                     ("legal-hold-release", "alice@desk1", "closed")]
    # the first version stays, locked until the date asked; the next is locked at least as long
    vs = {v["VersionId"]: v for v in s3.list_object_versions(Bucket=bucket, Prefix="p/bc-1/STORE.LOG")["Versions"]}
    assert set(vs) == {a["version"], b["version"]}
    for v in (a["version"], b["version"]):
        h = s3.head_object(Bucket=bucket, Key="p/bc-1/STORE.LOG", VersionId=v)
        assert h["ObjectLockMode"] == "COMPLIANCE"
        assert abs((h["ObjectLockRetainUntilDate"] - later).total_seconds()) < 2
    first = s3.get_object(Bucket=bucket, Key="p/bc-1/STORE.LOG", VersionId=a["version"])["Body"].read()
    assert data.startswith(first) and first.count(b"\n") == 1


def test_two_writers_at_once_both_get_their_entry_in(s3):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=1)
    other = StoreLog(EvidenceStore("s3://%s/p" % bucket, retain_days=1), "bc-1", by="bob@desk2")
    log = StoreLog(st, "bc-1", by="alice@desk1")
    log.append("legal-hold", clip="BC000001", reason="first")
    raced = []

    def meanwhile(params, **kw):
        # Right before alice's write goes out, bob writes his entry.
        if params.get("Key") == "p/bc-1/STORE.LOG" and not raced:
            raced.append(other.append("legal-hold", clip="BC000002", reason="bob's"))

    st.s3.meta.events.register("before-parameter-build.s3.PutObject", meanwhile)
    mine = log.append("legal-hold", clip="BC000003", reason="alice's")
    assert raced and mine["n"] == 2  # refused with the stale ETag, read again, written after bob's
    assert [(e["n"], e["reason"]) for e in log.entries()] == [(0, "first"), (1, "bob's"), (2, "alice's")]


def test_a_log_that_was_altered_is_named_and_not_written_on(s3):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=1)
    log = StoreLog(st, "bc-1")
    log.append("legal-hold", clip="BC000001", reason="case 1")
    log.append("legal-hold", clip="BC000002", reason="case 2")
    data = s3.get_object(Bucket=bucket, Key="p/bc-1/STORE.LOG")["Body"].read()
    forged = data.replace(b"case 1", b"case 9")  # a new version, written by hand
    s3.put_object(Bucket=bucket, Key="p/bc-1/STORE.LOG", Body=forged, ChecksumAlgorithm="SHA256")
    assert check(forged)[1] == ["entry 1 does not follow the entries before it (n 1): the log was altered"]
    with pytest.raises(StoreError, match="the log was altered"):
        log.entries()
    with pytest.raises(StoreError, match="cannot be extended"):
        log.append("legal-hold", clip="BC000003", reason="case 3")


def test_check_names_what_is_wrong_with_a_log():
    good = b""
    for i in range(2):
        good += json.dumps({"n": i, "prev": hashlib.sha256(good).hexdigest()}).encode() + b"\n"
    assert check(good) == ([{"n": 0, "prev": hashlib.sha256(b"").hexdigest()},
                            {"n": 1, "prev": hashlib.sha256(good.split(b"\n")[0] + b"\n").hexdigest()}], [])
    assert check(b"") == ([], [])
    assert check(good + b"[1]\n")[1] == ["line 3 is not a log entry"]
    assert check(good + b"{\"n\": 2")[1] == ["the last line is not whole"]
    dropped = good.split(b"\n", 1)[1]  # the first entry taken out
    assert check(dropped)[1] == ["entry 0 does not follow the entries before it (n 1): the log was altered"]


def test_a_store_that_keeps_refusing_the_condition_is_an_error_not_a_loop(s3, monkeypatch):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=1)
    log = StoreLog(st, "bc-1")
    log.append("legal-hold", clip="BC000001", reason="x")
    other = boto3.client("s3")

    def always_first(params, **kw):
        # another writer's entry lands between every read and write
        if params.get("Key") == "p/bc-1/STORE.LOG" and "IfMatch" in params:
            entry = {"n": 0, "prev": hashlib.sha256(b"").hexdigest(), "other": len(other_writes)}
            other_writes.append(other.put_object(Bucket=bucket, Key="p/bc-1/STORE.LOG", ChecksumAlgorithm="SHA256",
                                                 Body=json.dumps(entry).encode() + b"\n"))

    other_writes = []

    st.s3.meta.events.register("before-parameter-build.s3.PutObject", always_first)
    with pytest.raises(StoreError, match="other writers kept changing it \\(5 tries\\)"):
        log.append("legal-hold", clip="BC000002", reason="y")
    assert len(other_writes) == 5


def test_a_write_the_store_refuses_or_does_not_confirm_is_an_error(s3):
    from botocore.exceptions import ClientError
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=1)
    log = StoreLog(st, "bc-1")

    def deny(**kw):  # a key without s3:PutObject on STORE.LOG
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                           "ResponseMetadata": {"HTTPStatusCode": 403}}, "PutObject")

    st.s3.meta.events.register("before-call.s3.PutObject", deny)
    with pytest.raises(StoreError, match="PutObject p/bc-1/STORE.LOG .*AccessDenied"):
        log.append("legal-hold", clip="BC000001", reason="x")

    def wrong_checksum(params, **kw):  # moto then keeps no checksum (AWS would answer BadDigest)
        params.pop("ChecksumAlgorithm", None)
        params["ChecksumSHA256"] = "2SmKENGwc1g33EvYXaxkGw887yekfl1TpU8vP1svz/o="

    unlocked = EvidenceStore("s3://%s/p" % bucket)  # no lock headers: moto wants no Content-MD5 then
    unlocked.s3.meta.events.register("before-parameter-build.s3.PutObject", wrong_checksum)
    with pytest.raises(StoreError, match="does not confirm the new version's SHA-256"):
        StoreLog(unlocked, "bc-1").append("legal-hold", clip="BC000001", reason="x")


def test_who_is_the_login_name_at_the_host_and_the_lines_are_canonical(s3, monkeypatch):
    import getpass
    import socket

    from bodycam.evidence.storelog import person
    monkeypatch.setattr(getpass, "getuser", lambda: "alice")
    assert person() == "alice@" + socket.gethostname()

    def no_name():
        raise KeyError("getpwuid(): uid not found: 1234")  # a container without a passwd entry

    monkeypatch.setattr(getpass, "getuser", no_name)
    assert person() == "unknown@" + socket.gethostname()
    bucket = new_bucket(s3)
    StoreLog(EvidenceStore("s3://%s/p" % bucket), "bc-1").append("legal-hold", clip="BC000001", reason="x")
    line = s3.get_object(Bucket=bucket, Key="p/bc-1/STORE.LOG")["Body"].read().rstrip(b"\n")
    assert line == json.dumps(json.loads(line), sort_keys=True).encode()  # keys sorted, as docs/station.md shows
    assert json.loads(line)["by"] == "unknown@" + socket.gethostname()
