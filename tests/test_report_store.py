"""bodycam report s3://BUCKET/PREFIX against moto's S3 server: the station's
store read with boto3, each object verified as `bodycam verify s3://` does,
and each clip's Object Lock retention checked against --retain-days."""
import csv
import os

from bodycam import cli
from bodycam.evidence.store import EvidenceStore
from bodycam.report import metrics
from s3server import new_bucket, s3, s3_endpoint  # noqa: F401 (fixtures)


def dev(n):
    return "bc-%08x" % (0x1000 + n)


def upload(url, folder, device, retain_days, short=()):
    st = EvidenceStore(url, retain_days=retain_days)
    brief = EvidenceStore(url, retain_days=1)
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name == "AUDIT.LOG":
            st.put_log(device, path)
        else:
            (brief if name in short else st).put_clip(device, name, path)


def test_report_reads_the_store_with_its_locks(report_fleet, s3, tmp_path, capsys):  # noqa: F811
    bucket = new_bucket(s3)
    url = "s3://%s/desk1" % bucket
    for c in (0, 3):
        upload(url, os.path.join(report_fleet.station, dev(c)), dev(c), 30,
               short=("BC000002.AVI",) if c == 3 else ())
    before = s3.list_object_versions(Bucket=bucket)["Versions"]
    code = cli.main(["report", url, "--key", report_fleet.keyring, "--retain-days", "30", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2 camera trail(s)" in out
    with open(tmp_path / "by_camera.csv") as f:
        cams = {r["camera"]: r for r in csv.DictReader(f)}
    avis = [n for n in os.listdir(os.path.join(report_fleet.station, dev(0))) if n.endswith(".AVI")]
    assert cams[dev(0)]["in_store"] == str(len(avis)) and cams[dev(0)]["lock_short"] == "0"
    assert cams[dev(3)]["lock_short"] == "1" and cams[dev(3)]["no_lock"] == "0"
    with open(tmp_path / "flags.csv") as f:
        short = [r for r in csv.DictReader(f) if r["kind"] == "lock_short"]
    assert [(r["device"], r["clip"]) for r in short] == [(dev(3), "BC000002")]
    with open(tmp_path / "integrity.csv") as f:
        assert [r["source"] for r in csv.DictReader(f)] == ["%s/%s" % (url, dev(0)), "%s/%s" % (url, dev(3))]
    assert s3.list_object_versions(Bucket=bucket)["Versions"] == before  # read only


def test_lock_status_rules():
    day = 86400000
    lk = {"lock": "COMPLIANCE", "stored_ms": 0, "retain_until_ms": 30 * day}
    assert metrics.lock_status(lk, now_ms=day, policy_days=30) is None
    assert metrics.lock_status(lk, now_ms=31 * day, policy_days=30) == "past_retention"
    assert metrics.lock_status(lk, now_ms=day, policy_days=60) == "lock_short"
    assert metrics.lock_status(lk, now_ms=day, policy_days=7) == "lock_long"
    assert metrics.lock_status({"lock": None, "retain_until_ms": None}, day, 30) == "no_lock"
