"""The evidence store (bodycam.evidence.store) against a real S3 API server (moto's
server mode, tests/s3server.py): keys, SHA-256 checksums checked by the
store, Object Lock COMPLIANCE retention confirmed from HeadObject,
locked versions that cannot be deleted or replaced, the audit log kept as
versions, multipart uploads that resume, buckets refused with a clear
message, and `bodycam verify s3://...`."""
import base64
import datetime
import hashlib
import os

import boto3
import pytest
from botocore.exceptions import ClientError

from bodycam.evidence import store as storemod
from bodycam.evidence.store import EvidenceStore, StoreConflict, StoreError, StoreRefused
from bodycam.evidence.storelog import StoreLog
from s3server import ShortenedRetention, new_bucket, retention_guard, s3, s3_endpoint  # noqa: F401  (fixtures)

DAY = datetime.timedelta(days=1)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path), hashlib.sha256(data).hexdigest()


def test_url_parsing():
    assert storemod.parse_url("s3://b/p/q/") == ("b", "p/q")
    assert storemod.parse_url("s3://b") == ("b", "")
    with pytest.raises(ValueError, match="s3://BUCKET/PREFIX"):
        storemod.parse_url("/tmp/x")


def test_clip_goes_up_with_checksum_and_compliance_lock(s3, tmp_path):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/station1" % bucket, retain_days=7)
    data = os.urandom(50000)
    path, sha = write(tmp_path / "BC000001.AVI", data)
    conf = st.put_clip("bc-0001", "BC000001.AVI", path, sha)
    assert conf["key"] == "station1/bc-0001/BC000001.AVI"
    assert conf["lock"] == "COMPLIANCE" and conf["sha256"] == sha
    # What the store itself says, asked directly.
    h = s3.head_object(Bucket=bucket, Key=conf["key"], ChecksumMode="ENABLED")
    assert h["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert h["ObjectLockMode"] == "COMPLIANCE"
    until = h["ObjectLockRetainUntilDate"]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=6, hours=23) < until - now <= datetime.timedelta(days=7)
    assert s3.get_object(Bucket=bucket, Key=conf["key"])["Body"].read() == data
    # The locked version can be neither deleted nor replaced.
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=bucket, Key=conf["key"], VersionId=conf["version"])
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    s3.put_object(Bucket=bucket, Key=conf["key"], Body=b"forged")  # only adds a newer version...
    old = s3.get_object(Bucket=bucket, Key=conf["key"], VersionId=conf["version"])
    assert old["Body"].read() == data  # ...the locked one is intact
    # and the station notices that the key now holds other bytes: not confirmed, not overwritten
    with pytest.raises(StoreError, match="not confirmed"):
        st.confirm("bc-0001", "BC000001.AVI", path, sha)
    with pytest.raises(StoreConflict, match="not overwritten"):
        st.put_clip("bc-0001", "BC000001.AVI", path, sha)


def test_second_upload_of_the_same_clip_only_confirms(s3, tmp_path):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=1)
    path, sha = write(tmp_path / "BC000002.JSON", b'{"a": 1}')
    a = st.put_clip("bc-2", "BC000002.JSON", path, sha)
    b = st.put_clip("bc-2", "BC000002.JSON", path, sha)
    assert a["version"] == b["version"]
    vs = s3.list_object_versions(Bucket=bucket, Prefix="p/bc-2/")["Versions"]
    assert len(vs) == 1


def test_audit_log_is_versioned_never_overwritten(s3, tmp_path):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=1)
    first, sha1 = write(tmp_path / "AUDIT.LOG", b"entry 0\n")
    c1 = st.put_log("bc-3", first, sha1)
    again = st.put_log("bc-3", first, sha1)  # unchanged: no new version
    assert again["version"] == c1["version"]
    second, sha2 = write(tmp_path / "AUDIT.LOG", b"entry 0\nentry 1\n")
    c2 = st.put_log("bc-3", second, sha2)
    assert c2["version"] != c1["version"]
    vs = s3.list_object_versions(Bucket=bucket, Prefix="p/bc-3/AUDIT.LOG")["Versions"]
    assert sorted(v["Size"] for v in vs) == [8, 16]
    assert s3.get_object(Bucket=bucket, Key="p/bc-3/AUDIT.LOG", VersionId=c1["version"])["Body"].read() == b"entry 0\n"


def test_bucket_without_object_lock_is_refused_before_any_upload(s3, tmp_path):
    bucket = new_bucket(s3, lock=False)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=30)
    path, sha = write(tmp_path / "BC000001.AVI", b"x" * 100)
    with pytest.raises(StoreRefused, match="has no Object Lock.*create a bucket with Object Lock"):
        st.put_clip("bc-1", "BC000001.AVI", path, sha)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
    # Without retention asked for, a versioned bucket will do; an unversioned one will not.
    EvidenceStore("s3://%s/p" % bucket).check()
    plain = new_bucket(s3, lock=False, versioning=False)
    with pytest.raises(StoreRefused, match="versioning"):
        EvidenceStore("s3://%s/p" % plain).check()
    with pytest.raises(StoreRefused, match="cannot use bucket"):
        EvidenceStore("s3://no-such-bucket-here/p").check()


def test_multipart_upload_resumes_and_is_confirmed_by_composite_checksum(s3, tmp_path, monkeypatch):
    bucket = new_bucket(s3)
    part = 5 * 1024 * 1024  # S3's smallest part
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=2, part_bytes=part, multipart_at=part)
    data = os.urandom(2 * part + 12345)
    path, sha = write(tmp_path / "BC000009.AVI", data)
    # The first try dies after its first part went up (link to the store lost).
    sent = []
    real = st.s3.upload_part

    def flaky(**kw):
        if sent:
            raise StoreError("connection reset")
        sent.append(kw["PartNumber"])
        return real(**kw)

    monkeypatch.setattr(st.s3, "upload_part", flaky)
    with pytest.raises(StoreError):
        st.put_clip("bc-9", "BC000009.AVI", path, sha)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    # The second run finds that upload and sends only the parts still missing.
    again = []

    def counting(**kw):
        again.append(kw["PartNumber"])
        return real(**kw)

    monkeypatch.setattr(st.s3, "upload_part", counting)
    conf = st.put_clip("bc-9", "BC000009.AVI", path, sha)
    assert again == [2, 3]
    assert conf["lock"] == "COMPLIANCE"
    assert s3.get_object(Bucket=bucket, Key="p/bc-9/BC000009.AVI")["Body"].read() == data
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_store_down_is_a_store_error(tmp_path, monkeypatch):
    from s3server import aws_env, free_port
    aws_env(monkeypatch, "http://127.0.0.1:%d" % free_port())
    st = EvidenceStore("s3://anything/p", retain_days=1)
    path, sha = write(tmp_path / "BC000001.AVI", b"x")
    with pytest.raises(StoreError, match="cannot be reached|does not answer"):
        st.put_clip("bc-1", "BC000001.AVI", path, sha)


def test_station_refuses_a_bucket_without_object_lock_before_touching_a_camera(s3, tmp_path, capsys):
    from bodycam.cli import main
    bucket = new_bucket(s3, lock=False)
    rc = main(["station", "--out", str(tmp_path / "out"), "--store", "s3://%s/p" % bucket, "--retain-days", "10",
               "--port", "rfc2217://127.0.0.1:9", "--once", "--json"])
    err = capsys.readouterr().err
    assert rc == 2 and "has no Object Lock" in err and "--object-lock-enabled-for-bucket" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# --- the confirmation, condition by condition ------------------------------------------
# Each condition of confirm() (the store's SHA-256, the length, COMPLIANCE
# mode, a retain-until date --retain-days out) has a test here that fails
# when that condition's check is switched off.

def days_left(h):
    return (h["ObjectLockRetainUntilDate"] - datetime.datetime.now(datetime.timezone.utc)) / DAY


def test_confirmation_needs_the_stores_sha256_of_exactly_these_bytes(s3, tmp_path, retention_guard):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=7)
    data = os.urandom(4000)
    path, sha = write(tmp_path / "BC000001.AVI", data)
    lock = {"ObjectLockMode": "COMPLIANCE",
            "ObjectLockRetainUntilDate": datetime.datetime.now(datetime.timezone.utc) + 40 * DAY}
    # Other bytes of the same length, under a long COMPLIANCE lock: only the checksum tells.
    s3.put_object(Bucket=bucket, Key="p/bc-1/BC000001.AVI", Body=bytes(b ^ 1 for b in data),
                  ChecksumAlgorithm="SHA256", **lock)
    with pytest.raises(StoreError, match="SHA-256 checksum .* does not match"):
        st.confirm("bc-1", "BC000001.AVI", path, sha)
    with pytest.raises(StoreConflict, match="different bytes"):
        st.put_clip("bc-1", "BC000001.AVI", path, sha)
    # The same bytes stored without a checksum: nothing the store checked.
    s3.put_object(Bucket=bucket, Key="p/bc-1/BC000002.AVI", Body=data, ContentMD5=base64.b64encode(
        hashlib.md5(data).digest()).decode(), **lock)
    assert "ChecksumSHA256" not in s3.head_object(Bucket=bucket, Key="p/bc-1/BC000002.AVI", ChecksumMode="ENABLED")
    with pytest.raises(StoreError, match="SHA-256 checksum \\(None"):
        st.confirm("bc-1", "BC000002.AVI", path, sha)


def test_confirmation_needs_the_length_of_the_verified_copy(s3, tmp_path, retention_guard):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=7)
    path, sha = write(tmp_path / "BC000001.AVI", os.urandom(3000))
    conf = st.put_clip("bc-1", "BC000001.AVI", path, sha)
    with open(path, "ab") as f:  # the copy here grew after it was verified and stored
        f.write(b"\0")
    with pytest.raises(StoreError, match="3000 bytes\\) does not match"):
        st.confirm("bc-1", "BC000001.AVI", path, sha, conf["version"])


def test_confirmation_needs_compliance_mode_and_gets_it_without_shortening(s3, tmp_path, retention_guard):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=7)
    data = os.urandom(2000)
    path, sha = write(tmp_path / "BC000001.AVI", data)
    # Stored earlier by hand in GOVERNANCE mode, 60 days: a mode that a privileged user can lift.
    s3.put_object(Bucket=bucket, Key="p/bc-1/BC000001.AVI", Body=data, ChecksumAlgorithm="SHA256",
                  ObjectLockMode="GOVERNANCE",
                  ObjectLockRetainUntilDate=datetime.datetime.now(datetime.timezone.utc) + 60 * DAY)
    with pytest.raises(StoreError, match="no COMPLIANCE retention on it \\(mode GOVERNANCE\\)"):
        st.confirm("bc-1", "BC000001.AVI", path, sha)
    conf = st.put_clip("bc-1", "BC000001.AVI", path, sha)
    h = s3.head_object(Bucket=bucket, Key="p/bc-1/BC000001.AVI")
    # COMPLIANCE now, and still 60 days: the 7 asked for would have shortened it
    assert conf["lock"] == h["ObjectLockMode"] == "COMPLIANCE" and 59.9 < days_left(h) <= 60
    assert [(r["mode_was"], r["mode"]) for r in retention_guard.requests] == [("GOVERNANCE", "COMPLIANCE")]
    # A version with no lock at all is not confirmed either, and gets one.
    path2, sha2 = write(tmp_path / "BC000002.AVI", data)
    s3.put_object(Bucket=bucket, Key="p/bc-1/BC000002.AVI", Body=data, ChecksumAlgorithm="SHA256")
    with pytest.raises(StoreError, match="mode None"):
        st.confirm("bc-1", "BC000002.AVI", path2, sha2)
    assert 6.9 < days_left(s3.head_object(Bucket=bucket, Key="p/bc-1/BC000002.AVI",
                                          VersionId=st.put_clip("bc-1", "BC000002.AVI", path2, sha2)["version"])) <= 7


def test_a_clip_stored_for_1_day_is_extended_to_31_days_and_the_store_log_says_so(s3, tmp_path, retention_guard):
    bucket = new_bucket(s3)
    path, sha = write(tmp_path / "BC000001.AVI", os.urandom(5000))
    log, log_sha = write(tmp_path / "AUDIT.LOG", b"entry 0\n")
    one = EvidenceStore("s3://%s/p" % bucket, retain_days=1)
    first = one.put_clip("bc-1", "BC000001.AVI", path, sha)
    one.put_log("bc-1", log, log_sha)
    month = EvidenceStore("s3://%s/p" % bucket, retain_days=31)
    with pytest.raises(StoreError, match="retained only until .* less than --retain-days 31"):
        month.confirm("bc-1", "BC000001.AVI", path, sha, first["version"])
    conf = month.put_clip("bc-1", "BC000001.AVI", path, sha)
    assert conf["version"] == first["version"]  # the same version, not a new upload
    assert 30.9 < days_left(s3.head_object(Bucket=bucket, Key="p/bc-1/BC000001.AVI")) <= 31
    month.put_log("bc-1", log, log_sha)
    assert 30.9 < days_left(s3.head_object(Bucket=bucket, Key="p/bc-1/AUDIT.LOG")) <= 31
    # Each extension is in the store's audit log, written before the request
    entries = StoreLog(month, "bc-1").entries()
    assert [(e["event"], e["key"]) for e in entries] == [("extend-retention", "p/bc-1/BC000001.AVI"),
                                                        ("extend-retention", "p/bc-1/AUDIT.LOG")]
    e = entries[0]
    assert e["version"] == first["version"] and e["mode_was"] == "COMPLIANCE" and e["retain_days"] == 31
    assert e["until_was"] == first["retain_until"] and e["retain_until"] == conf["retain_until"]
    assert e["by"] and e["key_id"] == "testing" and e["t"].endswith("Z")
    # and the log's versions are locked as long as what they record
    assert 30.9 < days_left(s3.head_object(Bucket=bucket, Key="p/bc-1/STORE.LOG")) <= 31
    # Asked again: nothing more to extend, nothing more recorded.
    month.put_clip("bc-1", "BC000001.AVI", path, sha)
    assert len(StoreLog(month, "bc-1").entries()) == 2
    assert [r["Key"] for r in retention_guard.requests] == ["p/bc-1/BC000001.AVI", "p/bc-1/AUDIT.LOG"]


def test_fewer_days_asked_later_never_shorten_a_retention(s3, tmp_path, retention_guard):
    bucket = new_bucket(s3)
    path, sha = write(tmp_path / "BC000001.AVI", os.urandom(100))
    EvidenceStore("s3://%s/p" % bucket, retain_days=31).put_clip("bc-1", "BC000001.AVI", path, sha)
    conf = EvidenceStore("s3://%s/p" % bucket, retain_days=1).put_clip("bc-1", "BC000001.AVI", path, sha)
    assert 30.9 < days_left(s3.head_object(Bucket=bucket, Key="p/bc-1/BC000001.AVI")) <= 31
    assert conf["lock"] == "COMPLIANCE" and retention_guard.requests == []  # nothing asked of the store
    assert s3.list_objects_v2(Bucket=bucket, Prefix="p/bc-1/STORE.LOG").get("KeyCount") == 0


def test_a_date_a_few_minutes_short_is_clock_skew_not_a_short_retention(s3, tmp_path, retention_guard):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=2)
    data = os.urandom(100)
    now = datetime.datetime.now(datetime.timezone.utc)
    for name, short in (("BC000001.AVI", 5), ("BC000002.AVI", 15)):
        s3.put_object(Bucket=bucket, Key="p/bc-1/" + name, Body=data, ChecksumAlgorithm="SHA256",
                      ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=now + 2 * DAY - datetime.timedelta(minutes=short))
    path, sha = write(tmp_path / "BC000001.AVI", data)
    st.confirm("bc-1", "BC000001.AVI", path, sha)  # 5 minutes short: the host's clock may be ahead
    with pytest.raises(StoreError, match="retained only until"):
        st.confirm("bc-1", "BC000002.AVI", path, sha)  # 15 minutes short: not confirmed


def test_the_guard_catches_a_shortening_that_moto_itself_accepts(s3, retention_guard):
    bucket = new_bucket(s3)
    now = datetime.datetime.now(datetime.timezone.utc)
    v = s3.put_object(Bucket=bucket, Key="k", Body=b"x", ChecksumAlgorithm="SHA256", ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=now + 30 * DAY)["VersionId"]
    shorter = {"Mode": "COMPLIANCE", "RetainUntilDate": now + DAY}
    guarded = retention_guard.attach(boto3.client("s3"))
    with pytest.raises(ShortenedRetention):
        guarded.put_object_retention(Bucket=bucket, Key="k", VersionId=v, Retention=shorter)
    assert 29.9 < days_left(s3.head_object(Bucket=bucket, Key="k", VersionId=v))  # never sent
    s3.put_object_retention(Bucket=bucket, Key="k", VersionId=v, Retention=shorter)  # moto: accepted (AWS: AccessDenied)
    assert days_left(s3.head_object(Bucket=bucket, Key="k", VersionId=v)) < 1.1


# --- what the mutation samples of store.py found untested --------------------------------

MIB = 1024 * 1024


def test_files_of_16_mib_and_more_go_up_in_8_mib_parts(s3, tmp_path):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=1)  # the sizes docs/station.md gives
    data = os.urandom(16 * MIB)
    small, small_sha = write(tmp_path / "BC000001.AVI", data[:-1])
    big, big_sha = write(tmp_path / "BC000002.AVI", data)
    st.put_clip("bc-1", "BC000001.AVI", small, small_sha)
    st.put_clip("bc-1", "BC000002.AVI", big, big_sha)
    one = s3.head_object(Bucket=bucket, Key="p/bc-1/BC000001.AVI", ChecksumMode="ENABLED")
    assert "-" not in one["ChecksumSHA256"] and "PartsCount" not in s3.head_object(
        Bucket=bucket, Key="p/bc-1/BC000001.AVI", PartNumber=1)  # one PutObject
    parts = s3.head_object(Bucket=bucket, Key="p/bc-1/BC000002.AVI", ChecksumMode="ENABLED", PartNumber=1)
    assert (parts["PartsCount"], parts["ContentLength"]) == (2, 8 * MIB)


def test_retain_days_is_a_whole_number_of_days():
    for bad in (0, -1, "7", 1.5):
        with pytest.raises(ValueError, match="whole number of days, 1 or more"):
            EvidenceStore("s3://b/p", retain_days=bad, client=object())
    assert EvidenceStore("s3://b/p", retain_days=1, client=object()).retain_days == 1


def test_a_store_that_refuses_a_question_is_not_taken_to_lack_the_object(s3, tmp_path):
    bucket = new_bucket(s3)
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=1)
    path, sha = write(tmp_path / "BC000001.AVI", os.urandom(100))
    conf = st.put_clip("bc-1", "BC000001.AVI", path, sha)

    def deny(**kw):  # a key without s3:GetObject
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                           "ResponseMetadata": {"HTTPStatusCode": 403}}, "HeadObject")

    st.s3.meta.events.register("before-call.s3.HeadObject", deny)
    with pytest.raises(StoreError, match="HeadObject p/bc-1/BC000001.AVI .*AccessDenied"):
        st.confirm("bc-1", "BC000001.AVI", path, sha, conf["version"])
    with pytest.raises(StoreError, match="AccessDenied"):  # not uploaded again as if it were not there
        st.put_clip("bc-1", "BC000001.AVI", path, sha)
    assert len(s3.list_object_versions(Bucket=bucket, Prefix="p/bc-1/BC000001.AVI")["Versions"]) == 1


def test_a_store_that_is_down_is_tried_again_twice_then_left_to_the_stations_backoff(tmp_path, monkeypatch):
    from s3server import aws_env, free_port
    aws_env(monkeypatch, "http://127.0.0.1:%d" % free_port())
    st = EvidenceStore("s3://b/p", retain_days=1)
    sent = []
    st.s3.meta.events.register("before-send.s3.HeadObject", lambda **kw: sent.append(1))
    path, sha = write(tmp_path / "BC000001.AVI", b"x")
    with pytest.raises(StoreError, match="HeadObject p/bc-1/BC000001.AVI on s3://b/p: Could not connect"):
        st.confirm("bc-1", "BC000001.AVI", path, sha)
    assert len(sent) == 3  # botocore's retries {"max_attempts": 2}: two more after the first



@pytest.mark.parametrize("status, code, later", [
    (500, "InternalError", True), (503, "ServiceUnavailable", True), (503, "SlowDown", True),
    (400, "RequestTimeout", True), (403, "AccessDenied", False), (404, "NoSuchBucket", False)])
def test_a_store_in_trouble_is_tried_later_a_bucket_refused_is_said_so(s3, status, code, later):
    # the station retries a StoreError later and stops on a StoreRefused
    st = EvidenceStore("s3://%s/p" % new_bucket(s3), retain_days=1)

    def answer(**kw):
        raise ClientError({"Error": {"Code": code, "Message": code},
                           "ResponseMetadata": {"HTTPStatusCode": status}}, "HeadBucket")

    st.s3.meta.events.register("before-call.s3.HeadBucket", answer)
    with pytest.raises((StoreError, StoreRefused)) as e:
        st.check()
    assert isinstance(e.value, StoreError) == later and isinstance(e.value, StoreRefused) == (not later)
    assert ("does not answer" if later else "check the bucket name and the credentials") in str(e.value)


def test_a_store_asked_for_no_retention_sets_none_on_a_multipart_upload(s3, tmp_path):
    bucket = new_bucket(s3)
    part = 5 * MIB  # S3's smallest part: the file goes up as one part
    st = EvidenceStore("s3://%s/p" % bucket, part_bytes=part, multipart_at=part)  # no --retain-days
    sent = []
    st.s3.meta.events.register("before-parameter-build.s3.PutObjectRetention", lambda **kw: sent.append(1))
    path, sha = write(tmp_path / "BC000001.AVI", os.urandom(part))
    conf = st.put_clip("bc-1", "BC000001.AVI", path, sha)
    assert conf["sha256"] == sha
    assert s3.head_object(Bucket=bucket, Key=conf["key"], PartNumber=1)["PartsCount"] == 1  # went up in parts
    assert conf["lock"] is None and sent == []

def test_the_extension_is_asked_for_the_very_version_it_confirms(s3, tmp_path, retention_guard):
    bucket = new_bucket(s3)
    path, sha = write(tmp_path / "BC000001.AVI", os.urandom(100))
    first = EvidenceStore("s3://%s/p" % bucket, retain_days=1).put_clip("bc-1", "BC000001.AVI", path, sha)
    month = EvidenceStore("s3://%s/p" % bucket, retain_days=31)
    # Between the store's answer and the request, someone writes the key again.
    month.s3.meta.events.register("before-parameter-build.s3.PutObjectRetention", lambda params, **kw: s3.put_object(
        Bucket=bucket, Key=params["Key"], Body=b"written meanwhile"))
    conf = month.put_clip("bc-1", "BC000001.AVI", path, sha)
    assert conf["version"] == first["version"]
    assert 30.9 < days_left(s3.head_object(Bucket=bucket, Key="p/bc-1/BC000001.AVI", VersionId=first["version"]))


def test_an_upload_is_confirmed_by_its_own_version_although_the_key_is_written_meanwhile(s3, tmp_path):
    bucket = new_bucket(s3)
    path, sha = write(tmp_path / "BC000001.AVI", os.urandom(100))
    st = EvidenceStore("s3://%s/p" % bucket, retain_days=1)
    # Right after our PutObject, someone writes the key again: the newest
    # version is not ours, the one we sent is still the one to confirm.
    st.s3.meta.events.register("after-call.s3.PutObject", lambda **kw: s3.put_object(
        Bucket=bucket, Key="p/bc-1/BC000001.AVI", Body=b"written meanwhile"))
    conf = st.put_clip("bc-1", "BC000001.AVI", path, sha)
    versions = s3.list_object_versions(Bucket=bucket, Prefix="p/bc-1/BC000001.AVI")["Versions"]
    ours = [v["VersionId"] for v in versions if v["Size"] == 100]
    assert len(versions) == 2 and conf["version"] == ours[0] and conf["sha256"] == sha


def test_a_store_without_a_prefix_lists_its_devices(s3, tmp_path):
    from bodycam.evidence.storeverify import device_folders
    bucket = new_bucket(s3)
    path, sha = write(tmp_path / "BC000001.AVI", b"x")
    EvidenceStore("s3://%s" % bucket).put_clip("bc-1", "BC000001.AVI", path, sha)
    assert EvidenceStore("s3://%s" % bucket).list_devices() == ["bc-1"]
    assert [(label, d) for label, _, d in device_folders("s3://%s" % bucket)] == [("s3://%s/bc-1" % bucket, "bc-1")]
