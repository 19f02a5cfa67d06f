"""firmware/seal.py: HMAC-SHA256 and canonical JSON agree between MicroPython
(the device) and CPython (the host, and CPython's own hmac and json), and
the sealer chains manifests across clips and reboots."""
import hashlib
import hmac
import json
import random

import pytest

from bodycam.resources import shared


def _inputs():
    rng = random.Random(6)
    cases = []
    # key lengths around the 64-byte block (a key longer than a block is
    # hashed first) and message lengths around block boundaries
    for klen in (0, 1, 31, 32, 63, 64, 65, 100, 129):
        for mlen in (0, 1, 55, 56, 63, 64, 65, 119, 200, 1000):
            cases.append((bytes(rng.randrange(256) for _ in range(klen)),
                          bytes(rng.randrange(256) for _ in range(mlen))))
    return cases


def test_hmac_matches_cpython_hmac_on_micropython_and_cpython(run_mpy):
    cases = _inputs()
    want = [hmac.new(k, m, hashlib.sha256).hexdigest() for k, m in cases]
    seal = shared("seal")
    assert [seal.hexstr(seal.hmac_sha256(k, m)) for k, m in cases] == want
    got = run_mpy("""
import json, seal
cases = %r
print(json.dumps([seal.hexstr(seal.hmac_sha256(bytes.fromhex(k), bytes.fromhex(m))) for k, m in cases]))
""" % [(k.hex(), m.hex()) for k, m in cases])
    assert got == want
    # RFC 4231 test case 2
    assert seal.hexstr(seal.hmac_sha256(b"Jefe", b"what do ya want for nothing?")) == \
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


TRICKY = [
    {},
    [],
    {"b": 1, "a": [1, -2, 0, 2 ** 40, -(2 ** 63)], "c": {"z": None, "y": True, "x": False}},
    {"s": 'quote " backslash \\ slash / nl \n cr \r tab \t bs \b ff \f nul \x00 us \x1f del \x7f'},
    {"unicode": "caf\u00e9 \u20ac \U0001f4f7", "\u00e9": 1, "Z": 2, "a": 3, "": 4},
    {"nested": [[[]], [{}], [{"k": [None]}]]},
    "plain string",
    12345678901234567890,
    None,
]


def test_canonical_json_is_cpythons_sorted_compact_json_on_both_interpreters(run_mpy):
    seal = shared("seal")
    want = [json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            for o in TRICKY]
    assert [seal.canonical(o) for o in TRICKY] == want
    got = run_mpy("""
import json, seal
objs = json.loads(%r)
print(json.dumps([seal.hexstr(seal.canonical(o)) for o in objs]))
""" % json.dumps(TRICKY, ensure_ascii=False))
    assert [bytes.fromhex(h) for h in got] == want


@pytest.mark.parametrize("bad", [1.5, {"a": 2.0}, [object()], {1: "int key"}, b"bytes"])
def test_canonical_json_refuses_what_the_two_sides_could_print_differently(bad):
    with pytest.raises(ValueError, match="canonical JSON"):
        shared("seal").canonical(bad)


def test_sealer_chains_clips_across_reboots_and_the_host_checks_the_hmac(run_mpy, tmp_path):
    key = bytes(range(32))
    out = run_mpy("""
import json, seal
key = bytes(range(32))
def meta(n):
    return {"clip": "BC%06d.AVI" % n, "frames": 3, "preroll_frames": 1, "frame_ms": [-5, 0, 5],
            "clock": {"set": False, "press_utc": None, "press_ticks_ms": 100}}
s = seal.Sealer("state.json", key, "bc-dev1")
a = s(meta(1))
b = s(meta(2))
s = seal.Sealer("state.json", key, "bc-dev1")   # reboot: the chain goes on
c = s(meta(7))
print(json.dumps([a, b, c, s.last_clip_number]))
""", cwd=tmp_path)
    a, b, c, last_no = out
    seal = shared("seal")
    assert [m["seq"] for m in (a, b, c)] == [1, 2, 3]
    assert a["prev_manifest_sha256"] == seal.GENESIS
    assert b["prev_manifest_sha256"] == seal.manifest_sha256(a)
    assert c["prev_manifest_sha256"] == seal.manifest_sha256(b)
    assert last_no == 7
    for m in (a, b, c):
        assert m["device"] == "bc-dev1" and m["key_id"] == seal.key_id(key)
        body = {k: v for k, v in m.items() if k not in ("manifest_hmac", "frame_ms")}
        canon = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert m["manifest_hmac"] == hmac.new(key, b"bodycam-manifest/1\n" + canon, hashlib.sha256).hexdigest()
        assert m["parts"] == [{"part": "preroll", "from_frame": 0, "to_frame": 1},
                              {"part": "live", "from_frame": 1, "to_frame": 3}]
    # any change to a sealed field breaks the HMAC; frame_ms is bound by its own hash instead
    changed = dict(b, frames=4)
    assert seal.manifest_hmac(key, changed) != b["manifest_hmac"]
    assert seal.manifest_hmac(key, dict(b, frame_ms=[1])) == b["manifest_hmac"]


def test_state_file_cut_before_its_rename_is_still_found(run_mpy, tmp_path):
    out = run_mpy("""
import json, os, seal
s = seal.Sealer("state.json", None, None)
m = s({"clip": "BC000001.AVI"})
os.rename("state.json", "state.json.new")   # a power cut between remove and rename
s2 = seal.Sealer("state.json", None, None)
print(json.dumps([s2.last_seq, s2.last_manifest == seal.manifest_sha256(m), m["manifest_hmac"], m["key_id"]]))
""", cwd=tmp_path)
    assert out == [1, True, None, None]


def test_key_file_loading(run_mpy, tmp_path):
    (tmp_path / "good.json").write_text(json.dumps({"device": "bc-1", "key": "ab" * 32}))
    (tmp_path / "bad.json").write_text(json.dumps({"device": "bc-1", "key": "abc"}))
    out = run_mpy("""
import json, seal
d, k = seal.load_key("good.json")
n = seal.load_key("missing.json")
try:
    seal.load_key("bad.json")
    err = None
except ValueError as e:
    err = str(e)
print(json.dumps([d, seal.hexstr(k), list(n), err]))
""", cwd=tmp_path)
    assert out == ["bc-1", "ab" * 32, [None, None], "bad.json: 'key' must be 64 hex digits"]


def test_a_field_canonical_json_refuses_never_loses_the_clip(run_mpy, tmp_path):
    out = run_mpy("""
import json, seal
s = seal.Sealer("state.json", bytes(32), "bc-1")
m = s({"clip": "BC000001.AVI", "odd": 1.5})
n = s({"clip": "BC000002.AVI"})
print(json.dumps([m["manifest_hmac"], "float" in m["seal_error"] or "1.5" in m["seal_error"], n["seq"]]))
""", cwd=tmp_path)
    # unsigned (the verifier will say so), the chain does not advance past it
    assert out == [None, True, 1]
