"""bodycam verify on a folder the firmware recorded on MicroPython with a key
provisioned by the host (bodycam.evidence.keys): an untouched folder verifies; a
flipped bit in an AVI, a sidecar or the audit log, a deleted clip and
reordered clips are each detected and named; a power cut's torn entry and
a clip recovered after a power loss are explained, not failed."""
import json
import os
import random
import shutil

import pytest

from bodycam import cli
from bodycam.evidence import keys, verify
from bodycam.resources import boards_dir, shared
from conftest import mpy_json

BOARD = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")
QVGA_HEAP = shared("settings").heap_bytes(4194304, "QVGA", 2)
BOOT = """
import json, os, evkit, evidence
k = evkit.EvKit(%r, %r, {"framesize": "QVGA", "fps": 5, "preroll_s": 1})
"""


def mpy(code, cwd):
    return mpy_json(code, cwd, heapsize=QVGA_HEAP)


@pytest.fixture(scope="module")
def device(tmp_path_factory, qvga_dir):
    """A device provisioned by the host that recorded 4 clips. Returns
    (device work dir, keyring path, key)."""
    root = tmp_path_factory.mktemp("device")
    frames = qvga_dir
    ring = str(root / "keys.json")
    dev_id, key = keys.provision(board="ai-thinker-esp32-cam", keyring=ring)
    work = root / "work"
    work.mkdir()
    (work / keys.DEVICE_KEY_FILE).write_bytes(keys.device_key_json(dev_id, key))
    done = mpy(BOOT % (BOARD, str(frames)) + """
evidence.set_clock(k.hal, 1750000000000, "host")
for i in range(4):
    k.clip(preroll_ms=1500, live_ms=1000, marker_at=400 if i == 1 else None)
print(json.dumps(k.rec.clips_done))
""", work)
    assert done == ["BC000001", "BC000002", "BC000003", "BC000004"]
    return work, frames, ring, key


@pytest.fixture
def folder(device, tmp_path, monkeypatch):
    """A copy of the device (work dir), the keyring in use; returns the
    clips folder."""
    work, _, ring, _ = device
    dst = tmp_path / "dev"
    shutil.copytree(str(work), str(dst))
    monkeypatch.setenv("BODYCAM_KEYRING", ring)
    return dst / "sd" / "clips"


def run_verify(capsys, *argv):
    code = cli.main(["verify"] + [str(a) for a in argv])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out


def line_of(out, name):
    return next(line for line in out.splitlines() if line.startswith(name))


def flip(path, offset, bit=0):
    b = bytearray(path.read_bytes())
    b[offset] ^= 1 << bit
    path.write_bytes(bytes(b))


def test_untouched_folder_verifies(folder, capsys):
    code, out = run_verify(capsys, folder)
    assert code == 0, out
    kid = json.loads((folder / "BC000001.JSON").read_bytes())["key_id"]
    for n in range(1, 5):
        assert line_of(out, "BC%06d" % n).split()[1:4] == ["seq", str(n), "ok"]
        assert line_of(out, "BC%06d" % n).endswith("signed (key %s)" % kid)
    assert line_of(out, "AUDIT.LOG").split()[1] == "ok"
    assert "verdict: VERIFIED: 4 clip(s) and the audit log" in out
    rep = json.loads(run_verify(capsys, folder, "--json")[1])
    assert rep["verdict"] == "VERIFIED" and [c["seq"] for c in rep["clips"]] == [1, 2, 3, 4]


def test_flipped_bit_in_an_avi_is_named(folder, capsys):
    avi = folder / "BC000002.AVI"
    flip(avi, avi.stat().st_size // 2, 3)
    code, out = run_verify(capsys, folder)
    assert code == 1
    assert "FAIL" in line_of(out, "BC000002") and "the AVI's SHA-256 does not match the manifest" in out
    assert "FAIL" not in line_of(out, "BC000001") + line_of(out, "BC000003")


def test_flipped_bit_in_a_sidecar_is_named(folder, capsys):
    js = folder / "BC000003.JSON"
    data = js.read_bytes()
    flip(js, data.index(b'"frames": ') + 10)  # a digit of the frame count
    code, out = run_verify(capsys, folder)
    assert code == 1
    bad = line_of(out, "BC000003")
    assert "FAIL" in bad and "HMAC is wrong" in bad
    # the chain names it too: the next clip no longer follows it
    assert "does not follow BC000003" in line_of(out, "BC000004")
    assert "the audit log sealed a different manifest for seq 3" in bad


def test_flipped_bit_in_an_audit_entry_is_named(folder, capsys):
    log = folder / "AUDIT.LOG"
    lines = log.read_bytes().split(b"\n")
    at = sum(len(x) + 1 for x in lines[:5]) + lines[5].index(b'"t":') + 5
    flip(log, at)
    code, out = run_verify(capsys, folder)
    assert code == 1
    bad = line_of(out, "AUDIT.LOG")
    assert "FAIL" in bad and "entry 5's MAC is wrong" in bad and "entry 6 does not chain" in bad


def test_clip_deleted_from_the_middle_is_named(folder, capsys):
    for ext in ("AVI", "JSON"):
        (folder / ("BC000002." + ext)).unlink()
    code, out = run_verify(capsys, folder)
    assert code == 1
    assert "between BC000001 (seq 1) and BC000003 (seq 3): BC000002 (seq 2, sealed 2025-06-15T" in out
    assert "is missing" in out


def test_reordered_clips_are_named(folder, capsys):
    # swap clips 2 and 3 (both files) by renaming
    for ext in ("AVI", "JSON"):
        os.rename(folder / ("BC000002." + ext), folder / ("tmp." + ext))
        os.rename(folder / ("BC000003." + ext), folder / ("BC000002." + ext))
        os.rename(folder / ("tmp." + ext), folder / ("BC000003." + ext))
    code, out = run_verify(capsys, folder)
    assert code == 1
    assert "the manifest is for BC000003.AVI but the file is named BC000002.JSON" in out
    assert "the manifest is for BC000002.AVI but the file is named BC000003.JSON" in out
    assert "BC000002 (seq 3) comes after BC000003 (seq 2) but has a lower number: clips were reordered" in out


@pytest.mark.slow
def test_any_single_altered_byte_is_detected(folder):
    """Flip one bit at a time across every file the device wrote (every byte
    of one sidecar and of the log's first and last entries, a random
    sample elsewhere): each one must fail the folder."""
    ks = verify.KeySet.from_keyring(keys.load_keyring(os.environ["BODYCAM_KEYRING"]))
    assert verify.verify_dir(str(folder), ks).verdict == "VERIFIED"
    rng = random.Random(66)
    targets = []
    for p in sorted(folder.iterdir()):
        size = p.stat().st_size
        if p.name == "BC000002.JSON":
            offs = range(size)
        elif p.name == "AUDIT.LOG":
            data = p.read_bytes()
            first_end = data.index(b"\n") + 1
            last_start = data.rstrip(b"\n").rindex(b"\n") + 1
            offs = list(range(first_end)) + list(range(last_start, size)) + rng.sample(range(size), 300)
        else:
            offs = rng.sample(range(size), min(size, 60)) + [0, 8, 50, size - 1]
        targets += [(p, o) for o in offs]
    undetected = []
    for p, o in targets:
        orig = p.read_bytes()
        b = bytearray(orig)
        b[o] ^= 1 << rng.randrange(8)
        p.write_bytes(bytes(b))
        if verify.verify_dir(str(folder), ks).verdict != "FAILED":
            undetected.append((p.name, o))
        p.write_bytes(orig)
    assert len(targets) > 3000 and undetected == []


def test_keys_from_file_missing_key_and_no_key(folder, device, capsys, tmp_path, monkeypatch):
    work, _, ring, key = device
    monkeypatch.setenv("BODYCAM_KEYRING", str(tmp_path / "empty.json"))
    code, out = run_verify(capsys, folder)
    assert code == 1 and "UNVERIFIED" in out and "not in the keyring: pass --key FILE" in out
    assert run_verify(capsys, folder, "--key", ring)[0] == 0
    assert run_verify(capsys, folder, "--key", work / "key.json")[0] == 0
    (tmp_path / "k.hex").write_text(key.hex() + "\n")
    assert run_verify(capsys, folder, "--key", tmp_path / "k.hex")[0] == 0
    code, out = run_verify(capsys, folder, "--no-key")
    assert code == 0 and "signatures NOT checked" in out
    # another device's key does not verify these clips
    other = str(tmp_path / "other.json")
    keys.provision(keyring=other)
    code, out = run_verify(capsys, folder, "--key", other)
    assert code == 1 and "UNVERIFIED" in out
    (tmp_path / "bad.json").write_text("{nope")
    code = cli.main(["verify", str(folder), "--key", str(tmp_path / "bad.json")])
    assert code == 2 and "neither a keyring" in capsys.readouterr().err


def test_stripped_signature_is_refused_for_a_device_the_keyring_knows(folder, capsys):
    js = folder / "BC000004.JSON"
    meta = json.loads(js.read_bytes())
    meta["manifest_hmac"] = None
    meta["key_id"] = None
    js.write_bytes(json.dumps(meta, ensure_ascii=False).encode())
    code, out = run_verify(capsys, folder)
    assert code == 1 and "not signed, but device bc-" in line_of(out, "BC000004")


def test_offloaded_and_deleted_clips_are_accounted_for_and_names_never_repeat(folder, device, capsys):
    _, frames, _, _ = device
    out = mpy(BOOT % (BOARD, str(frames)) + """
import hashlib
for name in ("BC000001", "BC000002"):
    # what the dock does after the host verified its copy
    meta = json.load(open("sd/clips/" + name + ".JSON"))
    evidence.log(k.hal, "offload", {"clip": name, "bytes": meta["avi_bytes"], "sha256": meta["avi_sha256"]})
    for ext in (".AVI", ".JSON"):
        os.remove("sd/clips/" + name + ext)
    evidence.log(k.hal, "delete", {"clip": name, "sha256": meta["avi_sha256"]})
k.clip(preroll_ms=1500, live_ms=500)
print(json.dumps(k.rec.clips_done))
""", folder.parent.parent)
    assert out == ["BC000005"]  # not BC000001 again
    code, text = run_verify(capsys, folder)
    assert code == 0, text
    assert "BC000001 (seq 1) is not here: the device deleted it after it was offloaded" in text
    assert line_of(text, "BC000005").split()[1:4] == ["seq", "5", "ok"]


def test_power_cut_tearing_the_last_audit_entry_still_verifies(folder, capsys):
    log = folder / "AUDIT.LOG"
    data = log.read_bytes()
    last = data.rstrip(b"\n").rindex(b"\n") + 1
    log.write_bytes(data[:last + 40])
    code, out = run_verify(capsys, folder)
    assert code == 0, out
    assert "torn entry (power cut while it was written): the log verifies up to entry" in out


def test_log_cut_before_the_last_seal_is_detected(folder, capsys):
    log = folder / "AUDIT.LOG"
    lines = log.read_bytes().split(b"\n")
    seal_at = max(i for i, x in enumerate(lines) if b'"k":"seal"' in x)
    log.write_bytes(b"".join(x + b"\n" for x in lines[:seal_at - 1]))
    code, out = run_verify(capsys, folder)
    assert code == 1 and "the log was cut short" in line_of(out, "BC000004")


def test_clip_recovered_after_a_power_loss_verifies(folder, device, capsys):
    _, frames, _, _ = device
    work = folder.parent.parent
    assert mpy(BOOT % (BOARD, str(frames)) + """
k.run_for(2000)
k.press(200)
k.run_for(2500)
print(json.dumps(k.rec.state))   # recording: then the power goes
""", work) == 1
    assert mpy(BOOT % (BOARD, str(frames)) + "print(json.dumps(k.app.recovered))\n", work)[0][0] == "BC000005"
    code, out = run_verify(capsys, folder)
    assert code == 0, out
    # the unix port's HAL has no machine.reset_cause(): the note says so
    assert ("note: recording BC000005 was cut off by power loss, brownout, reset or crash: the chip did not say "
            "which (found at boot (UTC unknown)); it was rebuilt from its whole frames and sealed") in out
    assert line_of(out, "BC000005").split()[1:4] == ["seq", "5", "ok"]
    # check explains it too, and the clock record says the time was lost
    assert cli.main(["check", str(folder / "BC000005")]) == 0
    text = capsys.readouterr().out
    assert "rebuilt from its whole frames after a power loss" in text and "stopped by:       power_loss" in text
    assert "not set at the press (last synced 2025-06-15T15:06:40.000Z" in text


def test_missing_sidecar_missing_log_and_stray_files(folder, capsys):
    (folder / "notes.txt").write_text("not evidence")
    code, out = run_verify(capsys, folder)
    assert code == 0 and "note: notes.txt: not a clip or the audit log" in out
    (folder / "BC000004.JSON").unlink()
    (folder / "AUDIT.LOG").unlink()
    code, out = run_verify(capsys, folder)
    assert code == 1
    assert "no manifest (BC000004.JSON is missing)" in line_of(out, "BC000004")
    assert "no audit log (AUDIT.LOG) in the folder" in out
    code = cli.main(["verify", str(folder / "nope")])
    assert code == 2 and "is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("junk", [b"*", b"J", b"\x8a", b" "])
def test_the_last_entrys_newline_altered_is_not_a_torn_write(folder, junk):
    # A power cut leaves a prefix of entry + newline; a whole entry followed
    # by anything else was altered (found by the single-byte sweep above:
    # the log's final newline turned into a printable byte read as "torn").
    ks = verify.KeySet.from_keyring(keys.load_keyring(os.environ["BODYCAM_KEYRING"]))
    log = folder / "AUDIT.LOG"
    data = log.read_bytes()
    assert data.endswith(b"\n")
    log.write_bytes(data[:-1] + junk)
    assert verify.verify_dir(str(folder), ks).verdict == "FAILED"
    log.write_bytes(data[:-1])  # the newline alone missing: a torn write, explained
    assert verify.verify_dir(str(folder), ks).verdict == "VERIFIED"


def test_an_empty_folder_says_so(tmp_path, capsys):
    # e.g. the wrong folder given: not just "no audit log"
    code, out = run_verify(capsys, tmp_path)
    assert code == 1
    assert "%s: no clips and no audit log in this folder" % tmp_path in out
    assert "no audit log (AUDIT.LOG) in the folder" in out


def test_a_manifest_holding_a_value_the_device_never_writes_is_named(folder, capsys):
    # canonical JSON (firmware/seal.py) refuses floats: the manifest's hash
    # and HMAC cannot be computed, which is a finding, not a crash
    js = folder / "BC000003.JSON"
    meta = json.loads(js.read_bytes())
    meta["frames"] = float(meta["frames"])
    js.write_bytes(json.dumps(meta, ensure_ascii=False).encode())
    code, out = run_verify(capsys, folder)
    assert code == 1
    assert "the manifest holds values the device never writes (" in line_of(out, "BC000003")
