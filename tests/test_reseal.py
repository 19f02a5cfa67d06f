"""A power cut while a clip is being finished, after the sealer spent its
sequence number but before the sidecar reached the card: the clip is
rebuilt at the next boot and resealed with the same sequence number, so the
chain has no gap, and the audit log names the manifest the reseal replaces
(firmware/seal.py). `bodycam verify` accepts that and says what happened.
(A sequence number sealed twice without that record is a forked chain:
tests/test_verify_chain.py::test_a_forked_chain_is_named.)"""
import json

import pytest

from bodycam.evidence import keys, verify
from conftest import MpyError
from test_verify import BOARD, BOOT, mpy

CLIP = "k.clip(preroll_ms=1500, live_ms=800)\n"

# Where the power goes while BC000003 is finished: right after the sealer
# saved its state (before the audit log has the seal), or after the seal is
# logged and before the sidecar is renamed into place.
CUTS = {
    "after_state_saved": """
import seal
real = seal.Sealer._save
def cut(self):
    real(self)
    raise SystemExit
seal.Sealer._save = cut
""",
    "before_sidecar": """
import clip
def cut(self, meta):
    raise SystemExit
clip.ClipWriter.write_sidecar = cut
""",
}

# The recovery at the next boot is itself cut before its sidecar.
CUT_RECOVERY = """
import recover
def cut(base, meta, stage, times=None):
    raise SystemExit
recover.write_sidecar = cut
"""


def provisioned(tmp_path):
    ring = str(tmp_path / "keys.json")
    dev_id, key = keys.provision(board="ai-thinker-esp32-cam", keyring=ring)
    work = tmp_path / "work"
    work.mkdir()
    (work / keys.DEVICE_KEY_FILE).write_bytes(keys.device_key_json(dev_id, key))
    return work, ring


def boot(work, frames, body, before=""):
    return mpy(before + BOOT % (BOARD, str(frames)) + body, work)


def run_cut(work, frames, body, before=""):
    # The script dies where the power went (files as they were): it never
    # gets to print.
    with pytest.raises(MpyError, match="printed nothing"):
        boot(work, frames, body, before)


def report(work, ring):
    ks = verify.KeySet.from_keyring(keys.load_keyring(ring))
    return verify.verify_dir(str(work / "sd" / "clips"), ks)


def sidecar(work, name):
    return json.loads((work / "sd" / "clips" / (name + ".JSON")).read_text())


def seals(work):
    out = []
    for line in (work / "sd" / "clips" / "AUDIT.LOG").read_bytes().splitlines():
        e = json.loads(line)
        if e["k"] == "seal":
            out.append(e["d"])
    return out


@pytest.mark.parametrize("where", sorted(CUTS))
@pytest.mark.parametrize("recovery_cut_too", [False, True])
def test_a_cut_while_finishing_reseals_the_clip_with_its_own_sequence_number(tmp_path, qvga_dir, where,
                                                                                recovery_cut_too):
    work, ring = provisioned(tmp_path)
    boot(work, qvga_dir, CLIP * 2 + "print(1)")
    run_cut(work, qvga_dir, CUTS[where] + CLIP + "print(1)")
    clips = work / "sd" / "clips"
    assert not (clips / "BC000003.JSON").exists()
    if recovery_cut_too:
        run_cut(work, qvga_dir, "print(1)", before=CUT_RECOVERY)
        assert not (clips / "BC000003.JSON").exists()
    out = boot(work, qvga_dir, CLIP + "print(json.dumps([k.app.recovered, k.rec.clips_done]))")
    assert out[0][0][0] == "BC000003" and out[0][0][1] > 0 and out[1] == ["BC000004"]
    metas = {n: sidecar(work, n) for n in ("BC000001", "BC000002", "BC000003", "BC000004")}
    assert [m["seq"] for m in metas.values()] == [1, 2, 3, 4]
    assert metas["BC000003"]["recovered"] is True
    s = verify._seal()
    assert metas["BC000003"]["prev_manifest_sha256"] == s.manifest_sha256(metas["BC000002"])
    assert metas["BC000004"]["prev_manifest_sha256"] == s.manifest_sha256(metas["BC000003"])
    # the log: each reseal names the manifest it replaces; the last is the one on the card
    thirds = [d for d in seals(work) if d["seq"] == 3]
    logged_first = where == "before_sidecar"
    assert len(thirds) == int(logged_first) + 1 + int(recovery_cut_too)
    for a, b in zip(thirds, thirds[1:]):
        assert b["replaces_manifest_sha256"] == a["manifest_sha256"] and b["clip"] == a["clip"] == "BC000003"
    assert thirds[-1]["manifest_sha256"] == s.manifest_sha256(metas["BC000003"])
    rep = report(work, ring)
    fails = [(f.subject, f.text) for f in rep.all_findings() if f.level == "fail"]
    assert fails == []
    twice = [n for n in rep.notes if "sealed twice" in n]
    assert len(twice) == len(thirds) - 1

