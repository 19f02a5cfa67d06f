"""`bodycam verify` across clips: the chain of manifests and the audit log's
record of it, on folders the firmware made on MicroPython that the 4-clip
folder of tests/test_verify.py cannot show: a card swapped for another (the
log begins after clips that are elsewhere), clips offloaded and deleted
from the middle, a forked or copied chain, and a first clip that does not
follow the clip the log says came before it. Also the audit log's side of
each clip (cut at or before the entry a clip was sealed after, that entry
removed or altered), and manifests that carry no sequence number or a junk
audit head."""
import json
import os
import shutil

import pytest

from bodycam.evidence import keys, verify
from test_verify import BOARD, device, folder, line_of, mpy, run_verify  # noqa: F401 (fixtures)

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


# A second device, new: its first clip does not start from the genesis hash
# (broken state), and the first clip on its second card is seq 2.
HISTORY_NEW = """
made = {}
k = boot("F")
k.sealer.last_manifest = "e" * 64           # broken state
made["F"] = [clip(k)]                       # seq 1, prev not the genesis hash
k = boot("G")                               # G's first boot records the chain at seq 1
k.sealer.last_manifest = "e" * 64           # broken state
made["G"] = [clip(k)]                       # seq 2: not after seq 1 as G's first boot recorded it
print(json.dumps(made))
"""


def _provisioned(root, ring):
    dev_id, key = keys.provision(board="ai-thinker-esp32-cam", keyring=ring)
    work = root / dev_id
    work.mkdir()
    (work / keys.DEVICE_KEY_FILE).write_bytes(keys.device_key_json(dev_id, key))
    return work


@pytest.fixture(scope="module")
def cards(tmp_path_factory, qvga_dir):
    """The device's work dir after HISTORY; returns (sd dir, keyring)."""
    root = tmp_path_factory.mktemp("cards")
    frames = qvga_dir
    ring = str(root / "keys.json")
    sd = root / "sd"
    sd.mkdir()
    for history, want in ((HISTORY, {"A": ["BC000001", "BC000002", "BC000004"], "B": ["BC000003", "BC000005"],
                                     "C": ["BC000006", "BC000007"], "D": ["BC000008"],
                                     "E": ["BC000009", "BC000010"]}),
                          (HISTORY_NEW, {"F": ["BC000001"], "G": ["BC000002"]})):
        work = _provisioned(root, ring)
        assert mpy(KIT % (BOARD, str(frames)) + history, work) == want
        for name in want:
            os.rename(str(work / "sd" / name), str(sd / name))
    return sd, ring


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
    ks = verify.KeySet.from_keyring(keys.load_keyring(os.environ["BODYCAM_KEYRING"]))
    return verify.verify_dir(str(path), ks)


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
    code, out = run_verify(capsys, e)
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


def test_a_first_clip_that_does_not_start_the_chain_is_named(card):
    rep = report(card("F"))
    assert fails(rep) == [("BC000001", "the first clip of the device does not start the chain (prev hash is not "
                                       "zero)")]


def test_a_second_clip_that_does_not_follow_the_chain_the_log_began_at_is_named(card):
    g = card("G")
    assert first_boot_chain(g)["seq"] == 1
    assert fails(report(g)) == [("BC000002", "does not follow seq 1 as the audit log's first boot recorded it: "
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
    code, out = run_verify(capsys, folder)
    assert code == 0, out
    assert [(f.subject, f.level) for f in report(folder).findings] == [("chain", "note")]
    assert ("note: chain: between BC000001 (seq 1) and BC000003 (seq 3): BC000002 (seq 2, sealed "
            "2025-06-15T") in out
    assert "not here: the audit log shows the device deleted it after offload" in out
    # a clip taken from here as well, but not deleted by the device: missing
    keep = {ext: (folder / ("BC000003." + ext)).read_bytes() for ext in ("AVI", "JSON")}
    for ext in keep:
        (folder / ("BC000003." + ext)).unlink()
    code, out = run_verify(capsys, folder)
    assert code == 1
    assert "chain: between BC000001 (seq 1) and BC000004 (seq 4): BC000002 (seq 2, sealed " in out
    assert "), BC000003 (seq 3, sealed " in out and out.count("are missing") == 1
    # ...named once, as a gap: not also as "missing from the folder"
    assert [(subject, text[-11:]) for subject, text in fails(report(folder))] == [("chain", "are missing")]
    for ext, data in keep.items():
        (folder / ("BC000003." + ext)).write_bytes(data)
    delete("BC000003")
    code, out = run_verify(capsys, folder)
    assert code == 0, out
    assert "not here: the audit log shows the device deleted them after offload" in out
    # without the audit log nothing shows that they were deleted
    (folder / "AUDIT.LOG").unlink()
    code, out = run_verify(capsys, folder)
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
    state.update(seq=3, manifest_sha256=verify._seal().manifest_sha256(three), clip_number=3)
    (work / "evidence.json").write_text(json.dumps(state))
    assert mpy(KIT % (BOARD, str(frames)) + """
k = boot("clips")
print(json.dumps([clip(k)]))
""", work) == ["BC000005"]
    assert json.loads((folder / "BC000005.JSON").read_bytes())["seq"] == 4
    code, out = run_verify(capsys, folder)
    assert code == 1
    assert "chain: BC000004, BC000005 all claim sequence number 4: a forked or copied chain" in out
    rep = report(folder)
    # nothing else (the second clip of seq 4 is no gap in the chain); the
    # log's last seal of seq 4 is BC000005's
    assert fails(rep) == [
        ("BC000004", "the audit log sealed a different manifest for seq 4: the manifest was replaced"),
        ("BC000004", "the audit log sealed seq 4 as BC000005, not BC000004"),
        ("chain", "BC000004, BC000005 all claim sequence number 4: a forked or copied chain"),
        ("chain", "the audit log seals seq 4 twice (BC000004, then BC000005) without the later entry naming "
                  "the manifest it replaces: a forked chain")]
    assert len(rep.findings) == 2 and rep.notes == []


def test_a_copied_clip_is_named(folder, capsys):
    for ext in ("AVI", "JSON"):
        shutil.copy(str(folder / ("BC000002." + ext)), str(folder / ("BC000007." + ext)))
    code, out = run_verify(capsys, folder)
    assert code == 1
    assert "chain: BC000002, BC000007 all claim sequence number 2: a forked or copied chain" in out
    rep = report(folder)
    assert fails(rep) == [
        ("BC000007", "the audit log sealed seq 2 as BC000002, not BC000007"),
        ("BC000007", "the manifest is for BC000002.AVI but the file is named BC000007.JSON (renamed or swapped)"),
        ("chain", "BC000002, BC000007 all claim sequence number 2: a forked or copied chain")]
    assert len(rep.findings) == 1 and rep.notes == []


def _log_lines(folder):
    return (folder / "AUDIT.LOG").read_bytes().split(b"\n")[:-1]


def _head_of(folder, name):
    return json.loads((folder / (name + ".JSON")).read_bytes())["audit_head"]["n"]


def test_the_last_clip_taken_away_is_named_missing(folder):
    for ext in ("AVI", "JSON"):
        (folder / ("BC000004." + ext)).unlink()
    rep = report(folder)
    assert [(subject, text[:60]) for subject, text in fails(rep)] == [
        ("chain", "missing from the folder: BC000004 (seq 4, sealed 2025-06-15T")]


def test_a_log_that_ends_between_a_clips_audit_head_and_its_seal_is_named(folder):
    """The sealer notes the log's last entry (audit_head), then logs the
    seal. A log that ends at that entry lost the seal; one that ends before
    it was cut short (or copied before the clip was made)."""
    lines = _log_lines(folder)
    n = _head_of(folder, "BC000004")
    assert json.loads(lines[n + 1])["k"] == "seal"
    (folder / "AUDIT.LOG").write_bytes(b"".join(x + b"\n" for x in lines[:n + 1]))
    assert fails(report(folder)) == [("BC000004", "its sealing is not in the audit log")]
    (folder / "AUDIT.LOG").write_bytes(b"".join(x + b"\n" for x in lines[:n]))
    assert fails(report(folder)) == [
        ("BC000004", "the audit log ends at entry %d, before entry %d that this clip was sealed after: the log "
                     "was cut short (or copied before this clip)" % (n - 1, n))]


def test_the_entry_a_clip_was_sealed_after_removed_or_altered_is_named(folder):
    lines = _log_lines(folder)
    n = _head_of(folder, "BC000002")
    (folder / "AUDIT.LOG").write_bytes(b"".join(x + b"\n" for i, x in enumerate(lines) if i != n))
    assert ("BC000002", "audit entry %d, which this clip was sealed after, is not in the log" % n) \
        in fails(report(folder))
    e = json.loads(lines[n])
    e["t"] += 1
    lines[n] = verify._seal().canonical(e)
    (folder / "AUDIT.LOG").write_bytes(b"".join(x + b"\n" for x in lines))
    assert ("BC000002", "audit entry %d differs from the one this clip was sealed after: the log was altered"
            % n) in fails(report(folder))


def test_a_clip_renamed_to_a_higher_number_is_named(folder):
    for ext in ("AVI", "JSON"):
        os.rename(str(folder / ("BC000001." + ext)), str(folder / ("BC100001." + ext)))
    rep = report(folder)
    assert ("chain", "BC000002 (seq 2) comes after BC100001 (seq 1) but has a lower number: clips were "
                     "reordered or renamed") in fails(rep)


def _edit_manifests(folder, names, fn):
    for name in names:
        js = folder / (name + ".JSON")
        meta = json.loads(js.read_bytes())
        fn(meta)
        js.write_bytes(json.dumps(meta, ensure_ascii=False).encode())


def test_manifests_without_a_sequence_number_are_named_for_that(card):
    e = card("E")
    _edit_manifests(e, ["BC000009", "BC000010"], lambda m: m.pop("seq"))
    rep = report(e)
    # named for what is wrong with them, not also as missing from the log
    assert fails(rep) == [
        ("BC000009", "the manifest has no sequence number: not sealed by the device"),
        ("BC000009", "the manifest's HMAC is wrong: the manifest was altered (or signed with another key)"),
        ("BC000010", "the manifest has no sequence number: not sealed by the device"),
        ("BC000010", "the manifest's HMAC is wrong: the manifest was altered (or signed with another key)"),
        ("chain", "missing from the folder: BC000009 (seq 9, sealed at unknown UTC), BC000010 (seq 10, sealed at "
                  "unknown UTC) (sealed on the device, not deleted after an offload)")]


def test_an_altered_audit_head_is_a_failure_not_a_crash(folder):
    for junk in ("5", None, [], {"n": "3"}, {"n": -1}, {"n": True}):
        _edit_manifests(folder, ["BC000003"], lambda m: m.update(audit_head=junk))
        found = fails(report(folder))
        assert {("BC000003", "the manifest's HMAC is wrong: the manifest was altered (or signed with another key)"),
                ("BC000003", "the audit log sealed a different manifest for seq 3: the manifest was replaced"),
                ("BC000004", "does not follow BC000003 in the chain: its prev_manifest_sha256 is not BC000003's "
                             "manifest hash (a clip was replaced or the order changed)")} <= set(found), junk


def test_an_empty_audit_log_is_named_and_so_are_the_clips_it_lost(folder):
    (folder / "AUDIT.LOG").write_bytes(b"")
    heads = [_head_of(folder, "BC%06d" % q) for q in range(1, 5)]
    assert fails(report(folder)) == [("AUDIT.LOG", "the audit log has no whole entries")] + [
        ("BC%06d" % q, "the audit log ends at entry -1, before entry %d that this clip was sealed after: the log "
                       "was cut short (or copied before this clip)" % n) for q, n in zip(range(1, 5), heads)]
