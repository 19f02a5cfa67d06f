"""bodycam report on a fleet the firmware recorded (tests/fleet.py, on the
MicroPython unix port): its counts against the plan the fleet was made
from, integrity failures shown and failing the exit status, deletes with no
verified copy, the roster's flags, --sample, --public, --from/--to, bad
input, and that the sources are only read."""
import csv
import hashlib
import json
import os
import re
import shutil

import pytest

from bodycam import cli

CLEAN = [0, 1, 3, 4, 5, 6, 7, 8, 9]  # camera 2 left a clip on the camera (never offloaded)


def dev(n):
    return "bc-%08x" % (0x1000 + n)


def run(capsys, *argv):
    code = cli.main(["report"] + [str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out + out.err


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def folders(fleet, cams):
    return [os.path.join(fleet.station, dev(c)) for c in cams]


@pytest.fixture(scope="module")
def clean_report(report_fleet, tmp_path_factory):
    out = tmp_path_factory.mktemp("rep")
    code = cli.main(["report"] + folders(report_fleet, CLEAN) + ["--roster", report_fleet.roster, "--key",
                                                                 report_fleet.keyring, "--out", str(out)])
    return code, out


def test_counts_match_what_the_firmware_was_made_to_do(report_fleet, clean_report):
    code, out = clean_report
    assert code == 0
    recs = rows(out / "recordings.csv")
    for c in CLEAN:
        truth = report_fleet.truth[dev(c)]["recordings"]
        mine = [r for r in recs if r["device"] == dev(c)]
        assert len(mine) == len(truth), dev(c)
        want_stop = ["power_loss" if t["stop"] in ("cut", "brownout", "lost") else t["stop"] for t in truth]
        assert [r["stop"] for r in mine] == want_stop
        assert [int(r["markers"]) for r in mine] == [t["markers"] for t in truth]
        assert [r["short_preroll"] == "True" for r in mine] == [t["short_preroll"] for t in truth]
        assert [r["unrecovered"] == "True" for r in mine] == [t["stop"] == "lost" for t in truth]
        restarted = [i for i, t in enumerate(truth) if t["restart"]]
        assert [i for i, r in enumerate(mine) if r["restart_after_s"]] == restarted
        for r, t in zip(mine, truth):
            if r["utc_from"] == "device" and t["stop"] == "hold":
                # where the plan put it, within a frame (1 fps) and the CSV's whole seconds (camera 1 day 3: 90 s fast)
                assert abs(_ms(r["press_utc"]) - t["press_utc_ms"]) <= (92000 if c == 1 else 2000)
            assert r["copy_verified"] == ("False" if t["stop"] == "lost" else "True")
    cam = {r["camera"]: r for r in rows(out / "by_camera.csv")}
    assert cam[dev(1)]["clock_corrections"] == "1" and cam[dev(1)]["clock_largest_correction_s"] == "-90.0"
    assert int(cam[dev(1)]["equipment_stops"]) >= 4 and int(cam[dev(1)]["unrecovered"]) == 1
    assert sum(int(r["deletes_without_verified_copy"]) for r in cam.values()) == 0
    integ = rows(out / "integrity.csv")
    assert {r["verdict"] for r in integ} == {"VERIFIED"} and len(integ) == len(CLEAN)


def _ms(iso):
    import datetime
    return int(datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000)


def test_flags_name_the_restart_the_roster_and_the_clock(report_fleet, clean_report):
    _, out = clean_report
    flags = rows(out / "flags.csv")
    kinds = {(f["kind"], f["device"]) for f in flags}
    assert ("unassigned", dev(4)) in kinds  # the roster gives camera 4 to nobody on days 2-3
    assert ("roster_overlap", dev(5)) in kinds
    assert ("clock_correction", dev(1)) in kinds
    assert ("unrecovered", dev(1)) in kinds
    restarts = [f for f in flags if f["kind"] == "stop_restart"]
    truth = sum(1 for c in CLEAN for t in report_fleet.truth[dev(c)]["recordings"] if t["restart"])
    assert len(restarts) == truth
    assert all(f["severity"] != "critical" for f in flags)
    officers = {r["officer"] for r in rows(out / "by_officer.csv")}
    assert {"Officer 04", "Officer 54"} <= officers  # camera 3 changed hands
    page = (out / "report.html").read_text()
    assert "Every flag is a prompt to review, not a verdict" in page
    assert "all %d camera trail(s) VERIFIED" % len(CLEAN) in page


def test_never_offloaded_clip_fails_integrity_and_is_flagged(report_fleet, tmp_path, capsys):
    code, text = run(capsys, os.path.join(report_fleet.station, dev(2)), "--key", report_fleet.keyring,
                     "--out", tmp_path / "o")
    assert code == 1
    assert "INTEGRITY FAILED" in text and "missing from the folder" in text
    flags = rows(tmp_path / "o" / "flags.csv")
    assert [f["kind"] for f in flags if f["kind"] == "never_offloaded"] == ["never_offloaded"]
    assert "NOT verified (1 FAILED)" in (tmp_path / "o" / "report.html").read_text()


def test_tampered_audit_log_is_never_hidden(report_fleet, tmp_path, capsys):
    src = tmp_path / "station"
    for c in (0, 3):
        shutil.copytree(os.path.join(report_fleet.station, dev(c)), src / dev(c))
    log = src / dev(3) / "AUDIT.LOG"
    data = bytearray(log.read_bytes())
    i = data.index(b'"reason":"hold"')
    data[i + 11:i + 15] = b"xxxx"  # an officer's stop rewritten
    log.write_bytes(bytes(data))
    code, text = run(capsys, src, "--key", report_fleet.keyring, "--out", tmp_path / "o")
    assert code == 1 and "INTEGRITY FAILED" in text and dev(3) in text
    page = (tmp_path / "o" / "report.html").read_text()
    assert 'class="banner bad"' in page and "1 of 2 camera trail(s) NOT verified" in page
    crit = [f for f in rows(tmp_path / "o" / "flags.csv") if f["severity"] == "critical"]
    assert crit[0]["kind"] == "integrity" and {f["device"] for f in crit} == {dev(3)}
    # its clips no longer count as verified copies, so the camera's deletes are questioned too
    assert {f["kind"] for f in crit} <= {"integrity", "delete_without_copy"}


def test_delete_without_a_verified_copy_is_critical(report_fleet, tmp_path, capsys):
    src = tmp_path / dev(0)
    shutil.copytree(os.path.join(report_fleet.station, dev(0)), src)
    (src / "BC000003.AVI").unlink()
    (src / "BC000003.JSON").unlink()
    code, text = run(capsys, src, "--key", report_fleet.keyring, "--out", tmp_path / "o")
    assert code == 1  # verify only notes it (deleted after offload); the report asks where the copy is
    crit = [f for f in rows(tmp_path / "o" / "flags.csv") if f["severity"] == "critical"]
    assert {f["kind"] for f in crit} == {"delete_without_copy"} and {f["clip"] for f in crit} == {"BC000003"}


def test_sample_is_reproducible_from_the_printed_seed(report_fleet, tmp_path, capsys):
    srcs = folders(report_fleet, CLEAN)
    common = ["--roster", report_fleet.roster, "--key", report_fleet.keyring, "--sample", "2"]
    code, text = run(capsys, *srcs, *common, "--out", tmp_path / "a")
    seed = re.search(r"seed (\d+)", text).group(1)
    run(capsys, *srcs, *common, "--seed", seed, "--out", tmp_path / "b")
    run(capsys, *srcs, *common, "--seed", str(int(seed) + 1), "--out", tmp_path / "c")
    a, b, c = (rows(tmp_path / x / "sample.csv") for x in "abc")
    assert [r["clip"] + r["device"] for r in a] == [r["clip"] + r["device"] for r in b]
    assert a != c
    per = {}
    for r in a:
        per[(r["officer"], r["week"])] = per.get((r["officer"], r["week"]), 0) + 1
    assert max(per.values()) == 2 and len(per) >= 10


def test_public_version_holds_no_ids_and_suppresses_small_cells(report_fleet, tmp_path, capsys):
    out = tmp_path / "pub"
    code, _ = run(capsys, report_fleet.station, "--roster", report_fleet.roster, "--key", report_fleet.keyring,
                  "--public", "--out", out)
    assert code == 1  # camera 2's never-offloaded clip: the public page says so too, without naming it
    assert sorted(os.listdir(out)) == ["public.csv", "report.html"]
    page = (out / "report.html").read_text()
    text = page + (out / "public.csv").read_text()
    cells = rows(out / "public.csv")
    assert {c["team"] for c in cells} == {"Team A", "Team B"}
    assert all(c["recordings"] == "suppressed" for c in cells if c["team"] == "Team B")  # 4 officers
    shown = [c for c in cells if c["recordings"] != "suppressed"]
    assert shown and all(int(c["officers"]) >= 5 and int(c["recordings"]) >= 10 for c in shown)
    forbidden = {dev(c) for c in range(10)} | {"Officer %02d" % n for n in range(1, 60)} | {"BC0000"}
    for t in report_fleet.truth:
        for name in os.listdir(os.path.join(report_fleet.station, t)):
            if name.endswith(".JSON"):
                m = json.load(open(os.path.join(report_fleet.station, t, name)))
                forbidden |= {m["avi_sha256"], m["manifest_hmac"], m["key_id"]}
    assert not [f for f in forbidden if f in text]
    for word in ("fewer than 5 officers or 10 recordings", "bodycam 0.", "SHA-256 of the inputs",
                 "How this was made", "1 of 10 camera logs could NOT be verified"):
        assert word in page
    assert "<script" not in page and "rank" not in page.lower() and "score" not in page.lower()


def test_window_counts_only_its_days(report_fleet, clean_report, tmp_path, capsys):
    _, full = clean_report
    code, _ = run(capsys, *folders(report_fleet, CLEAN), "--key", report_fleet.keyring, "--from", "2026-03-03",
                  "--to", "2026-03-04", "--out", tmp_path / "w")
    assert code == 0
    got = rows(tmp_path / "w" / "recordings.csv")
    want = [r for r in rows(full / "recordings.csv") if "2026-03-03" <= r["press_utc"][:10] <= "2026-03-04"]
    assert got and [(r["device"], r["seq"]) for r in got] == [(r["device"], r["seq"]) for r in want]


def _tree_digest(root):
    h = hashlib.sha256()
    for d, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            p = os.path.join(d, f)
            st = os.stat(p)
            h.update(("%s %d %d\n" % (os.path.relpath(p, root), st.st_size, st.st_mtime_ns)).encode())
            h.update(open(p, "rb").read())
    return h.hexdigest()


def test_sources_are_only_read_and_bad_input_gets_a_clear_error(report_fleet, tmp_path, capsys):
    before = _tree_digest(report_fleet.station)
    run(capsys, report_fleet.station, "--key", report_fleet.keyring, "--out", tmp_path / "o")
    assert _tree_digest(report_fleet.station) == before
    code, text = run(capsys, report_fleet.station, "--out", os.path.join(report_fleet.station, "rep"))
    assert code == 2 and "never writes into its sources" in text
    assert not os.path.exists(os.path.join(report_fleet.station, "rep"))
    bad = tmp_path / "roster.csv"
    bad.write_text("device,name\nbc-1,x\n")
    code, text = run(capsys, report_fleet.station, "--roster", bad, "--out", tmp_path / "o2")
    assert code == 2 and "the header must be device_id,officer,team,valid_from,valid_to" in text
    bad.write_text("device_id,officer,team,valid_from,valid_to\nbc-1,x,A,someday,\n")
    code, text = run(capsys, report_fleet.station, "--roster", bad, "--out", tmp_path / "o2")
    assert code == 2 and "line 2" in text and "'someday' is not a date" in text
    code, text = run(capsys, tmp_path / "nothing-here", "--out", tmp_path / "o3")
    assert code == 2 and "is not a folder" in text
    code, text = run(capsys, report_fleet.station, "--public", "--sample", "2", "--out", tmp_path / "o4")
    assert code == 2 and "cannot go into the --public version" in text
    code, text = run(capsys, report_fleet.station, "--from", "2026-03-05", "--to", "2026-03-01", "--out",
                     tmp_path / "o5")
    assert code == 2 and "--to is before --from" in text
