"""`bodycam hold`: legal holds on a clip in the evidence store (S3 Object
Lock legal hold on every version of its AVI and sidecar), recorded in the
store's audit log, listed by `bodycam verify s3://...`; against moto's
S3 server, with every PutObjectRetention checked at the request
(s3server.RetentionGuard): releasing a hold never shortens retention."""
import datetime
import json
import os

import pytest
from botocore.exceptions import ClientError

from bodycam.cli import main
from bodycam.evidence.holds import parse_clip_url
from bodycam.evidence.store import EvidenceStore
from bodycam.evidence.storelog import StoreLog
from s3server import new_bucket, retention_guard, s3, s3_endpoint  # noqa: F401  (fixtures)


def stored_clip(s3, tmp_path, bucket, stem="BC000001", retain_days=None, parts=(".AVI", ".JSON")):
    """Upload a clip's files as the station does; {name: version}."""
    st = EvidenceStore("s3://%s/desk" % bucket, retain_days=retain_days)
    out = {}
    for ext in parts:
        p = tmp_path / (stem + ext)
        p.write_bytes(os.urandom(300))
        out[stem + ext] = st.put_clip("bc-1", stem + ext, str(p))["version"]
    return out


def hold(capsys, *argv):
    try:
        rc = main(["hold"] + list(argv))
    except SystemExit as e:  # argparse's own usage errors
        rc = e.code
    cap = capsys.readouterr()
    return rc, cap.out + cap.err


def status(s3, bucket, key, version=None):
    h = s3.head_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {}))
    return h.get("ObjectLockLegalHoldStatus"), h.get("ObjectLockMode"), h.get("ObjectLockRetainUntilDate")


def test_a_hold_covers_every_version_of_the_clip_and_is_recorded_with_who_when_why(s3, tmp_path, capsys,
                                                                                   retention_guard):
    bucket = new_bucket(s3)
    versions = stored_clip(s3, tmp_path, bucket)  # no retention: only the hold keeps it
    # someone wrote the AVI's key again: both versions may matter, both are held
    newer = s3.put_object(Bucket=bucket, Key="desk/bc-1/BC000001.AVI", Body=b"later")["VersionId"]
    url = "s3://%s/desk/bc-1/BC000001" % bucket
    rc, out = hold(capsys, url, "--reason", "complaint 2026-114", "--by", "sgt. Ortiz")
    assert rc == 0, out
    assert "legal hold #0 set by sgt. Ortiz" in out and "complaint 2026-114" in out
    held = [("desk/bc-1/BC000001.AVI", versions["BC000001.AVI"]), ("desk/bc-1/BC000001.AVI", newer),
            ("desk/bc-1/BC000001.JSON", versions["BC000001.JSON"])]
    for key, v in held:
        assert status(s3, bucket, key, v)[0] == "ON"
        with pytest.raises(ClientError) as e:  # no retention on it, and still it cannot be deleted
            s3.delete_object(Bucket=bucket, Key=key, VersionId=v)
        assert e.value.response["Error"]["Code"] == "AccessDenied"
    (entry,) = StoreLog(EvidenceStore("s3://%s/desk" % bucket), "bc-1").entries()
    assert entry["event"] == "legal-hold" and entry["clip"] == "BC000001" and entry["n"] == 0
    assert entry["by"] == "sgt. Ortiz" and entry["reason"] == "complaint 2026-114" and entry["key_id"] == "testing"
    assert sorted((o["key"], o["version"]) for o in entry["objects"]) == sorted(held)
    assert all(o["legal_hold"] for o in entry["objects"])
    # released: the flags go off, and a clip with no retention left can go
    rc, out = hold(capsys, "--release", url, "--reason", "case closed")
    assert rc == 0, out
    assert "hold #0 released" in out and "it can now be deleted" in out
    assert all(status(s3, bucket, key, v)[0] == "OFF" for key, v in held)
    s3.delete_object(Bucket=bucket, Key="desk/bc-1/BC000001.AVI", VersionId=newer)
    assert retention_guard.requests == []


def test_a_clip_in_two_cases_stays_held_until_both_are_released_and_retention_never_moves(s3, tmp_path, capsys,
                                                                                         retention_guard):
    bucket = new_bucket(s3)
    stored_clip(s3, tmp_path, bucket, retain_days=1)
    url = "s3://%s/desk/bc-1/BC000001.AVI" % bucket  # the file's name names the clip too
    key = "desk/bc-1/BC000001.AVI"
    before = status(s3, bucket, key)
    assert hold(capsys, url, "--reason", "case A")[0] == 0
    rc, out = hold(capsys, url, "--reason", "case B", "--json")
    assert rc == 0 and json.loads(out)["n"] == 1
    rc, out = hold(capsys, "--release", url, "--reason", "A closed")
    assert rc == 2 and "2 holds: #0" in out and "case A" in out and "#1" in out and "--hold N" in out
    rc, out = hold(capsys, "--release", url, "--reason", "A closed", "--hold", "5")
    assert rc == 2 and "no active hold #5" in out
    rc, out = hold(capsys, "--release", url, "--reason", "A closed", "--hold", "0")
    assert rc == 0 and "still held by hold #1" in out
    assert status(s3, bucket, key)[0] == "ON"
    rc, out = hold(capsys, "--release", url, "--reason", "B closed")  # the only one left: no --hold needed
    assert rc == 0 and "hold #1 released" in out and "retention unchanged" in out
    after = status(s3, bucket, key)
    assert after[0] == "OFF" and after[1:] == before[1:]  # same mode, same date
    assert retention_guard.requests == []  # no PutObjectRetention was even sent
    rc, out = hold(capsys, "--release", url, "--reason", "again")
    assert rc == 2 and "not on legal hold" in out
    events = [(e["event"], e.get("hold"), e.get("still_held_by")) for e in
              StoreLog(EvidenceStore("s3://%s/desk" % bucket), "bc-1").entries()]
    assert events == [("legal-hold", None, None), ("legal-hold", None, None),
                      ("legal-hold-release", 0, [1]), ("legal-hold-release", 1, [])]


def test_bad_input_gets_a_clear_error_and_an_exit_status(s3, tmp_path, capsys):
    bucket = new_bucket(s3)
    stored_clip(s3, tmp_path, bucket, stem="BC000001", parts=(".AVI",))  # its sidecar never got there
    for url, says in (("/tmp/BC000001", "s3://BUCKET/PREFIX/DEVICE/BC000001"),
                      ("s3://%s/BC000001" % bucket, "the device id and the clip's name are missing"),
                      ("s3://%s/desk/bc-1/clip.avi" % bucket, "is not a clip's name"),
                      ("s3:///desk/bc-1/BC000001", "no bucket")):
        rc, out = hold(capsys, url, "--reason", "x")
        assert rc == 2 and says in out, (url, out)
    rc, out = hold(capsys, "s3://%s/desk/bc-1/BC000001" % bucket)
    assert rc == 2 and "--reason" in out
    rc, out = hold(capsys, "s3://%s/desk/bc-1/BC000001" % bucket, "--reason", "  ")
    assert rc == 2 and "say why with --reason" in out
    rc, out = hold(capsys, "s3://%s/desk/bc-1/BC000001" % bucket, "--reason", "x", "--hold", "1")
    assert rc == 2 and "--hold N goes with --release" in out
    rc, out = hold(capsys, "s3://%s/desk/bc-1/BC000007" % bucket, "--reason", "x")
    assert rc == 1 and "no BC000007.AVI or BC000007.JSON" in out and "bodycam verify" in out
    rc, out = hold(capsys, "s3://%s/desk/bc-9/BC000001" % bucket, "--reason", "x")
    assert rc == 1 and "check the device id" in out
    rc, out = hold(capsys, "s3://%s/desk/bc-1/BC000001" % bucket, "--reason", "x")
    assert rc == 1 and "NOT IN THE STORE: BC000001.JSON" in out  # what is there is held
    assert status(s3, bucket, "desk/bc-1/BC000001.AVI")[0] == "ON"
    plain = new_bucket(s3, lock=False)
    s3.put_object(Bucket=plain, Key="desk/bc-1/BC000001.AVI", Body=b"x")
    rc, out = hold(capsys, "s3://%s/desk/bc-1/BC000001" % plain, "--reason", "x")
    assert rc == 2 and "has no Object Lock, so a legal hold cannot be set" in out
    rc, out = hold(capsys, "s3://no-such-bucket-here/desk/bc-1/BC000001", "--reason", "x")
    assert rc == 2 and "cannot read the Object Lock setting" in out


def test_a_store_that_is_down_is_exit_status_1(tmp_path, capsys, monkeypatch):
    from s3server import aws_env, free_port
    aws_env(monkeypatch, "http://127.0.0.1:%d" % free_port())
    rc, out = hold(capsys, "s3://b/desk/bc-1/BC000001", "--reason", "x")
    assert rc == 1 and "cannot be reached" in out


def test_verify_lists_the_held_clips_and_holds_set_or_cleared_outside_bodycam(s3, tmp_path, capsys):
    bucket = new_bucket(s3)
    for stem in ("BC000001", "BC000002", "BC000003"):
        stored_clip(s3, tmp_path, bucket, stem=stem, retain_days=1)
    base = "s3://%s/desk/bc-1/" % bucket
    assert hold(capsys, base + "BC000001", "--reason", "complaint 2026-114", "--by", "sgt. Ortiz")[0] == 0
    assert hold(capsys, base + "BC000003", "--reason", "case 7")[0] == 0
    s3.put_object_legal_hold(Bucket=bucket, Key="desk/bc-1/BC000002.AVI", LegalHold={"Status": "ON"})
    s3.put_object_legal_hold(Bucket=bucket, Key="desk/bc-1/BC000003.AVI", LegalHold={"Status": "OFF"})
    s3.put_object_legal_hold(Bucket=bucket, Key="desk/bc-1/BC000003.JSON", LegalHold={"Status": "OFF"})
    assert main(["verify", "--no-key", base]) == 1  # random bytes are no clips: FAILED, holds or not
    out = capsys.readouterr().out.splitlines()
    held = [x for x in out if x.startswith(("held:", "store:"))]
    assert held == [
        "held: BC000001 (BC000001.AVI and BC000001.JSON on legal hold): #0 by sgt. Ortiz at %s: complaint 2026-114"
        % StoreLog(EvidenceStore("s3://%s/desk" % bucket), "bc-1").entries()[0]["t"],
        "held: BC000002 (BC000002.AVI on legal hold): not in STORE.LOG (set outside bodycam)",
        "store: BC000003: STORE.LOG has hold #1 on it, but the store reports no legal hold on it: released outside "
        "bodycam, or this key may not read holds (s3:GetObjectLegalHold)?"]
    assert out[-1].startswith("verdict:") and "STORE.LOG" not in "\n".join(x for x in out if "not a clip" in x)
    assert main(["verify", "--no-key", "--json", base]) == 1
    rep = json.loads(capsys.readouterr().out)
    assert sorted(rep["held"]) == ["BC000001", "BC000002", "BC000003"]
    assert rep["held"]["BC000001"]["held"] == ["BC000001.AVI", "BC000001.JSON"]
    assert rep["held"]["BC000001"]["holds"][0]["reason"] == "complaint 2026-114"
    assert rep["store_log_problems"] == []


def test_clip_urls_parse():
    assert parse_clip_url("s3://b/desk/one/bc-1/BC000014") == ("s3://b/desk/one", "bc-1", "BC000014")
    assert parse_clip_url("s3://b/bc-1/bc000014.json") == ("s3://b/", "bc-1", "BC000014")


def test_help_says_what_it_does_how_and_its_exit_statuses(capsys):
    with pytest.raises(SystemExit) as e:
        main(["hold", "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0
    for words in ("legal hold", "--release", "--reason TEXT", "STORE.LOG", "never", "Exit status: 0",
                  "bodycam hold s3://bodycam-evidence/desk1/bc-1a2b3c4d/BC000014 --reason"):
        assert words in out, words


def test_a_hold_set_outside_bodycam_can_be_released_and_a_retention_moved_meanwhile_is_named(s3, tmp_path, capsys,
                                                                                          monkeypatch):
    bucket = new_bucket(s3)
    stored_clip(s3, tmp_path, bucket, retain_days=1)
    url = "s3://%s/desk/bc-1/BC000001" % bucket
    s3.put_object_legal_hold(Bucket=bucket, Key="desk/bc-1/BC000001.AVI", LegalHold={"Status": "ON"})  # the console
    rc, out = hold(capsys, "--release", url, "--reason", "x", "--hold", "3")
    assert rc == 2 and "no active hold #3 (active: none)" in out
    rc, out = hold(capsys, "--release", url, "--reason", "set by mistake")
    assert rc == 0 and "a legal hold set outside bodycam released" in out
    assert status(s3, bucket, "desk/bc-1/BC000001.AVI")[0] == "OFF"
    # someone moves the date while a release is under way: named, not passed over
    assert hold(capsys, url, "--reason", "case 9")[0] == 0
    from bodycam.evidence import holds as holdsmod
    real = holdsmod.Holds._set

    def set_and_move(self, key, version, status_):
        real(self, key, version, status_)
        s3.put_object_retention(Bucket=bucket, Key=key, VersionId=version, Retention={  # moto allows a cut
            "Mode": "COMPLIANCE", "RetainUntilDate": datetime.datetime.now(datetime.timezone.utc)})

    monkeypatch.setattr(holdsmod.Holds, "_set", set_and_move)
    rc, out = hold(capsys, "--release", url, "--reason", "case 9 closed")
    assert rc == 1 and "its retention changed from COMPLIANCE" in out and "while the hold was released" in out
