"""`pull_all` end to end: the real firmware and dock on the MicroPython unix
port behind a simulated serial line (tests/rig/offload.py), the real host
client. Pulls are bit-exact, resume, never overwrite, delete only what was
verified, and step the baud up (or fall back cleanly)."""
import hashlib
import json
import os

import pytest

from bodycam.offload import pull_all
from bodycam.offload.client import DockClient, DockError, LinkLost
from rig.offload import rig_maker

FAST = 1000000  # unpaced rigs: the speed only sizes frames and windows


def device_files(rig):
    d = os.path.join(rig.dir, "sd", "clips")
    return {n: open(os.path.join(d, n), "rb").read() for n in sorted(os.listdir(d))
            if n.endswith((".AVI", ".JSON", ".LOG"))}


def local_files(out):
    return {n: open(os.path.join(out, n), "rb").read() for n in sorted(os.listdir(out))}


@pytest.fixture
def rig(tmp_path):
    yield from rig_maker(tmp_path, clips=[3, 0, 1], baud=FAST, paced=False, frame_busy=40)


def test_pull_is_bit_exact_and_a_rerun_pulls_nothing(rig, tmp_path):
    r = rig()
    out = str(tmp_path / "out")
    on_device = device_files(r)
    assert len(on_device) == 6 and len(on_device["BC000001.AVI"]) > 500000
    assert len(on_device["BC000002.AVI"]) < 1000  # the clip of no frames
    s = pull_all(r.open_port(), out, progress=False, say=lambda m: None)
    assert s["errors"] == [] and sorted(s["pulled"]) == sorted(on_device)
    assert local_files(out) == on_device  # every byte, no .part left over
    again = pull_all(r.open_port(), out, progress=False, say=lambda m: None)
    assert again["pulled"] == [] and sorted(again["present"]) == sorted(on_device) and again["bytes"] == 0
    assert device_files(r) == on_device  # nothing deleted without --delete


def test_an_interrupted_pull_resumes_where_it_stopped(rig, tmp_path):
    r = rig(clips=[4])
    out = str(tmp_path / "out")
    size = len(device_files(r)["BC000001.AVI"])
    r.faults.down.cut_at = size // 2  # the cable comes out half way
    with pytest.raises(LinkLost, match="run the same command again to resume"):
        pull_all(r.open_port(), out, progress=False, say=lambda m: None)
    parts = [n for n in os.listdir(out) if n.endswith(".part")]
    assert len(parts) == 1 and parts[0].startswith("BC000001.AVI.")
    assert 0 < os.path.getsize(os.path.join(out, parts[0])) < size
    assert not os.path.exists(os.path.join(out, "BC000001.AVI"))  # a partial file never looks complete
    s = pull_all(r.open_port(), out, progress=False, say=lambda m: None)
    assert s["errors"] == [] and "BC000001.AVI" in s["pulled"]
    assert s["bytes"] < size  # resumed, not started over
    assert local_files(out) == device_files(r)


def test_delete_only_what_is_verified_here(rig, tmp_path):
    r = rig()
    out = tmp_path / "out"
    out.mkdir()
    before = device_files(r)
    # DIR already has a different BC000003.AVI: it is not overwritten, and
    # that clip stays on the device.
    (out / "BC000003.AVI").write_bytes(b"someone else's clip")
    s = pull_all(r.open_port(), str(out), delete=True, progress=False, say=lambda m: None)
    assert [e[0] for e in s["errors"]] == ["BC000003.AVI"] and "not overwritten" in s["errors"][0][1]
    assert (out / "BC000003.AVI").read_bytes() == b"someone else's clip"
    assert sorted(device_files(r)) == ["BC000003.AVI", "BC000003.JSON"]
    assert sorted(s["deleted"]) == ["BC000001.AVI", "BC000001.JSON", "BC000002.AVI", "BC000002.JSON"]
    for n in s["deleted"]:
        assert (out / n).read_bytes() == before[n]


def test_the_device_refuses_a_delete_without_the_files_hash(rig, tmp_path):
    r = rig(clips=[1])
    c = DockClient(r.open_port())
    c.connect()
    files = {e["name"]: e for e in c.list()}
    with pytest.raises(DockError, match="not deleted"):
        c.delete("BC000001.AVI", hashlib.sha256(b"not the clip").hexdigest())
    assert "BC000001.AVI" in device_files(r)
    assert c.delete("BC000001.AVI", files["BC000001.AVI"]["sha256"])["deleted"] == "BC000001.AVI"


def when_pulled(name, then):
    """A `say` for pull_all that runs then() right after NAME was pulled
    (renamed under its real name), before anything is deleted."""
    def say(msg):
        if msg.startswith(name + ": ") and " pulled, " in msg:
            then()
    return say


def test_a_copy_changed_here_after_the_download_is_never_proof(rig, tmp_path):
    # The delete proof is the file in DIR, read again right before the
    # delete: a copy altered after it was downloaded (a disk error, a
    # program that "fixed" it) must keep the original on the camera.
    r = rig(clips=[1, 1])
    out = tmp_path / "out"
    before = device_files(r)

    def tamper():
        data = bytearray((out / "BC000001.AVI").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (out / "BC000001.AVI").write_bytes(bytes(data))

    s = pull_all(r.open_port(), str(out), delete=True, progress=False, say=when_pulled("BC000001.AVI", tamper))
    assert sorted(device_files(r)) == ["BC000001.AVI", "BC000001.JSON"]  # the evidence stays on the camera
    assert device_files(r)["BC000001.AVI"] == before["BC000001.AVI"]
    assert sorted(s["deleted"]) == ["BC000002.AVI", "BC000002.JSON"]  # the intact clip still goes
    # ...and the user is told why, not left guessing
    assert [e[0] for e in s["errors"]] == ["BC000001.AVI"]
    assert "no longer matches" in s["errors"][0][1] and "not deleted" in s["errors"][0][1]


def test_bytes_that_do_not_match_the_devices_own_listing_are_never_kept_as_the_clip(rig, tmp_path):
    # Storage corruption on the card: the sidecar recorded the clip's hash
    # (which the dock lists), the card now serves other bytes.
    r = rig(clips=[1])
    avi = os.path.join(r.dir, "sd", "clips", "BC000001.AVI")
    data = bytearray(open(avi, "rb").read())
    recorded = json.loads(device_files(r)["BC000001.JSON"])["avi_sha256"]
    data[len(data) // 3] ^= 0x01
    with open(avi, "wb") as f:
        f.write(data)
    out = tmp_path / "out"
    s = pull_all(r.open_port(), str(out), delete=True, progress=False, say=lambda m: None)
    assert [e[0] for e in s["errors"]] == ["BC000001.AVI"]
    assert recorded in s["errors"][0][1] and "not deleted" in s["errors"][0][1]
    assert not (out / "BC000001.AVI").exists()  # nothing unverified under the clip's name
    assert (out / "BC000001.AVI.unverified").read_bytes() == bytes(data)  # but what came is kept
    assert "BC000001.AVI" not in s["pulled"]
    assert sorted(device_files(r)) == ["BC000001.AVI", "BC000001.JSON"]
    # fetched once: only a resumed .part that fails is fetched again
    assert s["bytes"] == sum(len(b) for b in device_files(r).values())


def test_a_corrupt_part_left_by_an_earlier_run_is_downloaded_again(rig, tmp_path):
    # A crash of the host can leave a .part with damaged bytes: resuming
    # onto it can never verify, so the file is fetched again from the start.
    r = rig(clips=[1])
    data = device_files(r)["BC000001.AVI"]
    sha = hashlib.sha256(data).hexdigest()
    out = tmp_path / "out"
    out.mkdir()
    part = bytearray(data[:len(data) // 2])
    part[100] ^= 0x40
    (out / ("BC000001.AVI.%s.part" % sha[:12])).write_bytes(bytes(part))
    s = pull_all(r.open_port(), str(out), progress=False, say=lambda m: None)
    assert s["errors"] == [] and "BC000001.AVI" in s["pulled"]
    assert (out / "BC000001.AVI").read_bytes() == data
    assert not [n for n in os.listdir(out) if n.endswith((".part", ".unverified"))]


def test_an_avi_its_sidecar_disagrees_with_stays_on_the_device(rig, tmp_path):
    # The sidecar names the AVI's SHA-256. If the copy here is not the AVI
    # the sidecar describes, the pair is not proven and neither is deleted.
    r = rig(clips=[1, 1])
    side = os.path.join(r.dir, "sd", "clips", "BC000001.JSON")
    meta = json.loads(open(side).read())
    meta["avi_sha256"] = hashlib.sha256(b"some other clip").hexdigest()
    meta["avi_bytes"] += 1  # so the dock hashes the AVI itself and lists its true hash
    with open(side, "w") as f:
        json.dump(meta, f)
    out = tmp_path / "out"
    s = pull_all(r.open_port(), str(out), delete=True, progress=False, say=lambda m: None)
    assert [e[0] for e in s["errors"]] == ["BC000001.AVI"] and "not deleted" in s["errors"][0][1]
    assert sorted(device_files(r)) == ["BC000001.AVI", "BC000001.JSON"]
    assert sorted(s["deleted"]) == ["BC000002.AVI", "BC000002.JSON"]


@pytest.mark.parametrize("damage", ["removed", "garbled"])
def test_an_avi_whose_sidecar_is_gone_or_unreadable_here_stays_on_the_device(rig, tmp_path, damage):
    r = rig(clips=[1])
    out = tmp_path / "out"

    def spoil():
        if damage == "removed":
            (out / "BC000001.JSON").unlink()
        else:
            (out / "BC000001.JSON").write_bytes(b'{"avi_sha256": ')

    s = pull_all(r.open_port(), str(out), delete=True, progress=False, say=when_pulled("BC000001.JSON", spoil))
    assert s["errors"] and s["deleted"] == []
    assert sorted(device_files(r)) == ["BC000001.AVI", "BC000001.JSON"]


def test_baud_steps_up_for_the_transfer_and_back_after(rig, tmp_path):
    r = rig(clips=[1], baud=115200, paced=True, frame_busy=5)
    out = str(tmp_path / "out")
    s = pull_all(r.open_port(), out, baud=921600, progress=False, say=lambda m: None)
    assert s["errors"] == [] and s["warnings"] == [] and s["baud"] == 921600
    assert local_files(out) == device_files(r)
    assert r.device_baud() == 115200  # left where mpremote expects it
    # line rate: one pass is ~1 s here, so only a loose bound (bench/ measures)
    assert s["bytes"] / s["seconds"] > 0.5 * 92160


def test_a_baud_the_line_cannot_carry_falls_back(rig, tmp_path):
    r = rig(clips=[1], baud=115200, paced=False, line_max_baud=460800, frame_busy=5)
    out = str(tmp_path / "out")
    notes = []
    s = pull_all(r.open_port(), out, baud=921600, progress=False, say=notes.append)
    assert s["errors"] == [] and s["baud"] == 115200
    assert any("did not work at 921600" in w for w in s["warnings"])
    assert local_files(out) == device_files(r)
    assert r.device_baud() == 115200


def test_the_audit_log_is_pulled_last_never_deleted_and_never_overwritten(rig, tmp_path):
    r = rig(clips=[1])
    log = os.path.join(r.dir, "sd", "clips", "AUDIT.LOG")
    with open(log, "w") as f:
        f.write('{"seq": 1, "kind": "boot"}\n')
    out = tmp_path / "out"
    s = pull_all(r.open_port(), str(out), delete=True, progress=False, say=lambda m: None)
    assert s["errors"] == [] and s["pulled"][-1] == "AUDIT.LOG"
    assert sorted(device_files(r)) == ["AUDIT.LOG"]
    with open(log, "a") as f:
        f.write('{"seq": 2, "kind": "press"}\n')
    s = pull_all(r.open_port(), str(out), progress=False, say=lambda m: None)
    assert s["pulled"] == ["AUDIT.LOG"] and (out / "AUDIT.LOG").read_bytes() == open(log, "rb").read()
    # a log that does not continue ours: both kept
    with open(log, "w") as f:
        f.write('{"seq": 1, "kind": "boot", "other": true}\n')
    old = (out / "AUDIT.LOG").read_bytes()
    s = pull_all(r.open_port(), str(out), progress=False, say=lambda m: None)
    kept = [n for n in os.listdir(out) if n.startswith("AUDIT.LOG.")]
    assert len(kept) == 1 and (out / kept[0]).read_bytes() == old
    assert (out / "AUDIT.LOG").read_bytes() == open(log, "rb").read()
