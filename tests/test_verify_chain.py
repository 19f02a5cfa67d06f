"""`bodycam verify` across clips: the chain of manifests and the audit log's
record of it, on folders the firmware made on MicroPython that the 4-clip
folder of tests/test_verify.py cannot show: a card swapped for another (the
log begins after clips that are elsewhere), clips offloaded and deleted
from the middle, a forked or copied chain, and a first clip that does not
follow the clip the log says came before it."""
import json
import os
import shutil

import pytest

from bodycam import cli, evidence, keys
from conftest import make_jpeg
from test_verify import BOARD, device, folder, line_of, mpy, verify  # noqa: F401 (fixtures)

KIT = """
import json, os, gc, evkit, evidence
BOARD, FRAMES = %r, %r
def boot(card):
    gc.collect()
    return evkit.EvKit(BOARD, FRAMES, {"framesize": "QVGA", "fps": 5, "preroll_s": 1}, clips_dir="sd/" + card)
def clip(k):
    k.clip(preroll_ms=1500, live_ms=800)
    return k.rec.clips_done[-1]
def offload_and_delete(k, card, name):
    # what the dock does after the host verified its copy
    meta = json.load(open("sd/%%s/%%s.JSON" %% (card, name)))
    evidence.log(k.hal, "offload", {"clip": name, "bytes": meta["avi_bytes"], "sha256": meta["avi_sha256"]})
    for ext in (".AVI", ".JSON"):
        os.remove("sd/%%s/%%s%%s" %% (card, name, ext))
    evidence.log(k.hal, "delete", {"clip": name, "sha256": meta["avi_sha256"]})
"""

# One device, five SD cards, in the order it used them. "Broken state"
# sets the chain state the sealer holds in memory to a hash no clip has,
# after the boot entry recorded it: the next clip is signed and sealed in
# the log, but does not link to the clip before it.
HISTORY = """
made = {}
k = boot("A")
evidence.set_clock(k.hal, 1750000000000, "host")
made["A"] = [clip(k), clip(k)]              # seq 1, 2
k = boot("B")                               # card swapped: B's log begins after seq 2
made["B"] = [clip(k)]                       # seq 3
k = boot("A")                               # card A back in
made["A"].append(clip(k))                   # seq 4
k = boot("B")
made["B"].append(clip(k))                   # seq 5
k = boot("C")
made["C"] = [clip(k)]                       # seq 6, then offloaded and deleted
offload_and_delete(k, "C", made["C"][0])
k.sealer.last_manifest = "e" * 64           # broken state
made["C"].append(clip(k))                   # seq 7: not after seq 6 as C's log sealed it
k = boot("D")                               # D's first boot records the chain at seq 7
k.sealer.last_manifest = "e" * 64           # broken state
made["D"] = [clip(k)]                       # seq 8: not after seq 7 as D's first boot recorded it
k = boot("E")
made["E"] = [clip(k), clip(k)]              # seq 9, 10: after seq 8 as E's first boot recorded it
print(json.dumps(made))
"""


@pytest.fixture(scope="module")
def cards(tmp_path_factory):
    """The device's work dir after HISTORY; returns (sd dir, keyring)."""
    root = tmp_path_factory.mktemp("cards")
    frames = root / "frames"
    frames.mkdir()
    for i in range(6):
        (frames / ("%03d.jpg" % i)).write_bytes(make_jpeg(i, size=(320, 240), busy=i * 20))
    ring = str(root / "keys.json")
    dev_id, key = keys.provision(board="ai-thinker-esp32-cam", keyring=ring)
    work = root / "work"
    work.mkdir()
    (work / keys.DEVICE_KEY_FILE).write_bytes(keys.device_key_json(dev_id, key))
    made = mpy(KIT % (BOARD, str(frames)) + HISTORY, work)
    assert made == {"A": ["BC000001", "BC000002", "BC000004"], "B": ["BC000003", "BC000005"],
                    "C": ["BC000006", "BC000007"], "D": ["BC000008"], "E": ["BC000009", "BC000010"]}
    return work / "sd", ring


@pytest.fixture
def card(cards, tmp_path, monkeypatch):
    """card(name) -> a copy of that card's folder, the device's keyring in use."""
    sd, ring = cards
    monkeypatch.setenv("BODYCAM_KEYRING", ring)

    def copy(name):
        dst = tmp_path / name
        shutil.copytree(str(sd / name), str(dst))
        return dst
    return copy


def report(path):
    ks = evidence.KeySet.from_keyring(keys.load_keyring(os.environ["BODYCAM_KEYRING"]))
    return evidence.verify_dir(str(path), ks)


def fails(rep):
    return sorted((f.subject, f.text) for f in rep.all_findings() if f.level == "fail")


def first_boot_chain(path):
    for line in (path / "AUDIT.LOG").read_bytes().splitlines():
        e = json.loads(line)
        if e["k"] == "boot":
            return e["d"]["chain"]


def test_a_card_whose_log_begins_after_clips_on_another_card_verifies(card, capsys):
    e = card("E")
    assert first_boot_chain(e)["seq"] == 8
    code, out = verify(capsys, e)
    assert code == 0, out
    assert line_of(out, "BC000009").split()[1:4] == ["seq", "9", "ok"]
    assert "verdict: VERIFIED: 2 clip(s) and the audit log" in out


def test_a_first_clip_that_does_not_follow_the_chain_the_log_began_at_is_named(card):
    d = card("D")
    assert first_boot_chain(d)["seq"] == 7
    rep = report(d)
    # the clip itself is signed and sealed as it is: the link is all that is wrong
    assert fails(rep) == [("BC000008", "does not follow seq 7 as the audit log's first boot recorded it: "
                                       "the chain is broken")]


def test_a_first_clip_that_does_not_follow_the_deleted_clip_the_log_sealed_is_named(card):
    c = card("C")
    rep = report(c)
    assert fails(rep) == [("BC000007", "does not follow seq 6 as the audit log sealed it: the chain is broken")]
    assert rep.notes == ["BC000006 (seq 6) is not here: the device deleted it after it was offloaded"]


def test_a_first_clip_whose_predecessor_is_neither_here_nor_in_the_log_is_named(card):
    b = card("B")
    rep = report(b)
    # BC000004 went to card A: the gap is named, and not as deleted
    assert fails(rep) == [("chain", "between BC000003 (seq 3) and BC000005 (seq 5): seq 4 is missing")]
    for ext in ("AVI", "JSON"):
        (b / ("BC000003." + ext)).unlink()
    assert fails(report(b)) == [
        ("BC000005", "its predecessor (seq 4) is neither here nor sealed in the audit log"),
        ("chain", "missing from the folder: BC000003 (seq 3, sealed at unknown UTC) (sealed on the device, "
                  "not deleted after an offload)")]


def test_a_clip_from_before_the_log_began_is_named_as_such(card):
    e = card("E")
    d = card("D")
    for ext in ("AVI", "JSON"):
        shutil.copy(str(d / ("BC000008." + ext)), str(e / ("BC000008." + ext)))
    rep = report(e)
    assert rep.notes == ["the audit log begins after seq 8: the link from BC000008 to the clip before it "
                         "predates the log"]
    assert [c.stem for c in rep.clips if c.status == "FAIL"] == ["BC000008"]


def test_clips_offloaded_and_deleted_from_the_middle_are_accounted_for(folder, device, capsys):
    _, frames, _, _ = device
    work = folder.parent.parent

    def delete(*names):
        mpy(KIT % (BOARD, str(frames)) + """
k = boot("clips")
for name in %r:
    offload_and_delete(k, "clips", name)
print(1)
""" % (names,), work)

    delete("BC000002")
    code, out = verify(capsys, folder)
    assert code == 0, out
    assert ("note: chain: between BC000001 (seq 1) and BC000003 (seq 3): BC000002 (seq 2, sealed "
            "2025-06-15T") in out
    assert "not here: the audit log shows the device deleted it after offload" in out
    # a clip taken from here as well, but not deleted by the device: missing
    keep = {ext: (folder / ("BC000003." + ext)).read_bytes() for ext in ("AVI", "JSON")}
    for ext in keep:
        (folder / ("BC000003." + ext)).unlink()
    code, out = verify(capsys, folder)
    assert code == 1
    assert "chain: between BC000001 (seq 1) and BC000004 (seq 4): BC000002 (seq 2, sealed " in out
    assert "), BC000003 (seq 3, sealed " in out and out.count("are missing") == 1
    for ext, data in keep.items():
        (folder / ("BC000003." + ext)).write_bytes(data)
    delete("BC000003")
    code, out = verify(capsys, folder)
    assert code == 0, out
    assert "not here: the audit log shows the device deleted them after offload" in out
    # without the audit log nothing shows that they were deleted
    (folder / "AUDIT.LOG").unlink()
    code, out = verify(capsys, folder)
    assert code == 1
    assert "chain: between BC000001 (seq 1) and BC000004 (seq 4): seq 2, seq 3 are missing" in out


def test_a_forked_chain_is_named(folder, device, capsys):
    """The device's chain state lost its last update (the state file on the
    flash rolled back to the one after BC000003): the next clip takes seq 4
    again. Both are signed; the fork is named."""
    _, frames, _, _ = device
    work = folder.parent.parent
    three = json.loads((folder / "BC000003.JSON").read_bytes())
    state = json.loads((work / "evidence.json").read_text())
    assert state["seq"] == 4
    state.update(seq=3, manifest_sha256=evidence._seal().manifest_sha256(three), clip_number=3)
    (work / "evidence.json").write_text(json.dumps(state))
    assert mpy(KIT % (BOARD, str(frames)) + """
k = boot("clips")
print(json.dumps([clip(k)]))
""", work) == ["BC000005"]
    assert json.loads((folder / "BC000005.JSON").read_bytes())["seq"] == 4
    code, out = verify(capsys, folder)
    assert code == 1
    assert "chain: BC000004, BC000005 all claim sequence number 4: a forked or copied chain" in out


def test_a_copied_clip_is_named(folder, capsys):
    for ext in ("AVI", "JSON"):
        shutil.copy(str(folder / ("BC000002." + ext)), str(folder / ("BC000007." + ext)))
    code, out = verify(capsys, folder)
    assert code == 1
    assert "chain: BC000002, BC000007 all claim sequence number 2: a forked or copied chain" in out
