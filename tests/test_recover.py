"""Power loss while recording: the clip is rebuilt at the next boot from
what reached the card, and nothing that reached it is lost."""
import json
import os
import struct

import av
import pytest

from bodycam.evidence.avi_reader import read_avi
from bodycam.resources import boards_dir

BOARD = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")
HEAP = 4194304 - 2 * (640 * 480 // 5)


def boot(run_mpy, jpeg_dir, body, settings=None):
    return run_mpy("import json, simkit\nk = simkit.Kit(%r, %r, %r)\n%s" % (BOARD, str(jpeg_dir), settings or {}, body),
                   heapsize=HEAP)


CUT_WHILE_RECORDING = """
k.run_for(35000)
p = k.press(200)
k.run_for(1000)
k.press(400)              # a marker
k.run_for(5000)
c = k.rec.clip
print(json.dumps({"written": c.frames, "synced_avi": c.avi.written - c.avi.fill, "state": k.rec.state}))
"""  # ...and the script ends: no close, no flush: the power is gone


HEADER_BYTES = 224  # firmware/avi.py: the frame chunks start here


def whole_chunks(avi_path):
    """(offset, length) of every whole '00dc' chunk in a cut-off AVI."""
    data = avi_path.read_bytes()
    out = []
    pos = HEADER_BYTES
    while pos + 8 <= len(data) and data[pos:pos + 4] == b"00dc":
        n = struct.unpack_from("<I", data, pos + 4)[0]
        if pos + 8 + n > len(data):
            break
        out.append((pos, n))
        pos += 8 + n + (n & 1)
    return out


def assert_sound_avi(path, frame_ms, size=(640, 480)):
    """The rebuilt AVI is what a finished clip would be: an independent
    reader (bodycam.evidence.avi_reader) finds no problem, and the header, rate and
    index describe exactly the frames in it."""
    rep = read_avi(str(path))
    assert rep.problems == [] and rep.index_problems == []
    n = len(frame_ms)
    assert rep.header_frames == rep.stream_frames == len(rep.frames) == n
    assert (rep.width, rep.height) == size
    us = (frame_ms[-1] - frame_ms[0]) * 1000 // (n - 1) if n > 1 and frame_ms[-1] > frame_ms[0] else 200000
    assert rep.us_per_frame == us  # the clip's mean frame interval (5 fps if it has none)
    assert rep.index == [(off - 8 - rep.movi_at, nbytes) for off, nbytes in rep.frames]
    data = path.read_bytes()
    riff, movi_list = struct.unpack_from("<I", data, 4)[0], struct.unpack_from("<I", data, 216)[0]
    assert riff == len(data) - 8
    assert data[220 + movi_list:][:4] == b"idx1"  # the frames list ends where the index starts
    suggested = struct.unpack_from("<I", data, 32 + 4 * 7)[0]  # avih dwSuggestedBufferSize
    assert suggested == max([nbytes for _, nbytes in rep.frames] or [0])


def test_clip_cut_by_power_loss_is_rebuilt_at_next_boot(run_mpy, jpeg_dir, tmp_path):
    before = boot(run_mpy, jpeg_dir, CUT_WHILE_RECORDING)
    assert before["state"] == 1 and before["written"] > 150
    clips = tmp_path / "sd" / "clips"
    assert not (clips / "BC000001.JSON").exists()
    # what reached the card: every byte the clip had synced, and no more
    assert (clips / "BC000001.AVI").stat().st_size == before["synced_avi"]
    on_card = min(len(whole_chunks(clips / "BC000001.AVI")), (clips / "BC000001.TIM").stat().st_size // 4)
    after = boot(run_mpy, jpeg_dir, 'print(json.dumps({"recovered": k.app.recovered, "files": sorted(__import__("os").listdir("sd/clips"))}))')
    assert after["files"] == ["BC000001.AVI", "BC000001.JSON"]
    name, frames = after["recovered"][0]
    assert name == "BC000001"
    sc = json.loads((clips / "BC000001.JSON").read_text())
    assert sc["recovered"] is True and sc["stop"]["reason"] == "power_loss"
    assert sc["frames"] == frames == len(sc["frame_ms"])
    assert frames == on_card  # every whole frame that reached the card is in the clip
    assert_sound_avi(clips / "BC000001.AVI", sc["frame_ms"])
    # at most the last second (one sync period, 5 frames at 5 fps) plus the
    # staged tail is lost; everything before was kept
    assert before["written"] - frames <= 6
    assert sc["frame_ms"][0] <= -30000 and sc["preroll_frames"] == len([t for t in sc["frame_ms"] if t < 0])
    assert sc["markers"] and sc["markers"][0]["held_ms"] == 400
    with av.open(str(clips / "BC000001.AVI")) as c:
        packets = [bytes(p) for p in c.demux(video=0) if p.size]
    src = [p.read_bytes() for p in sorted(jpeg_dir.glob("*.jpg"))]
    assert packets == [src[(sc["first_seq"] + i) % len(src)] for i in range(frames)]
    # the next recording gets the next name
    nxt = boot(run_mpy, jpeg_dir, "k.run_for(2000)\nk.press(200)\nk.run_for(1000)\nprint(json.dumps(k.rec.clip.name))")
    assert nxt == "BC000002"


@pytest.mark.parametrize("damage", ["torn", "one-byte-short", "zero-filled", "pad-missing", "third-torn"])
def test_a_torn_last_frame_is_left_out_and_every_whole_one_kept(run_mpy, jpeg_dir, tmp_path, damage):
    # The power went in the middle of writing a frame: its chunk header and
    # half (or all but one) of its bytes are on the card, or the file's
    # length reached the card but its last cluster did not and reads as
    # zeros. Recovery keeps every frame before it, each byte for byte, and
    # nothing after. A frame whose pad byte is missing is whole: kept.
    # (10 fps, so the rebuilt rate is not the 5 fps default by chance.)
    boot(run_mpy, jpeg_dir, CUT_WHILE_RECORDING, settings={"fps": 10})
    clips = tmp_path / "sd" / "clips"
    avi_path = clips / "BC000001.AVI"
    chunks = whole_chunks(avi_path)
    times = (clips / "BC000001.TIM").stat().st_size // 4
    last = min(len(chunks), times)  # the last frame with both its bytes and its time
    assert last > 150
    if damage == "pad-missing":
        # the last odd-sized frame: the cut came after its bytes, before
        # its pad byte. That frame is whole, so it is kept.
        last = max(i for i in range(last) if chunks[i][1] & 1) + 1
    elif damage == "third-torn":
        last = 3  # only two whole frames are left: the smallest clip with a frame interval
    pos, n = chunks[last - 1]
    with open(avi_path, "r+b") as f:
        if damage == "pad-missing":
            f.truncate(pos + 8 + n)
        elif damage in ("torn", "third-torn"):
            f.truncate(pos + 8 + n // 2)  # that frame torn half way
        elif damage == "one-byte-short":
            f.truncate(pos + 8 + n - 1)
        else:
            f.truncate(pos)
            f.seek(pos)
            f.write(bytes(4096))
    whole = last if damage == "pad-missing" else last - 1
    after = boot(run_mpy, jpeg_dir, 'print(json.dumps(k.app.recovered))')
    assert after == [["BC000001", whole]]
    sc = json.loads((clips / "BC000001.JSON").read_text())
    assert sc["frames"] == whole == len(sc["frame_ms"])
    assert_sound_avi(avi_path, sc["frame_ms"])
    assert sc["frame_ms"][1] - sc["frame_ms"][0] == 100  # (really 10 fps)
    with av.open(str(avi_path)) as c:
        packets = [bytes(p) for p in c.demux(video=0) if p.size]
    src = [p.read_bytes() for p in sorted(jpeg_dir.glob("*.jpg"))]
    assert packets == [src[(sc["first_seq"] + i) % len(src)] for i in range(whole)]


CUT_RECOVERY = """
import json, os, recover
D = "sd/clips"
def copy(src, dst):
    with open(src, "rb") as a, open(dst, "wb") as b:
        while True:
            x = a.read(65536)
            if not x:
                break
            b.write(x)
names = sorted(os.listdir(D))
os.mkdir("orig")
for n in names:
    copy(D + "/" + n, "orig/" + n)
def restore():
    for n in os.listdir(D):
        os.remove(D + "/" + n)
    for n in names:
        copy("orig/" + n, D + "/" + n)
def outcome():
    with open(D + "/BC000001.JSON") as f:
        m = json.load(f)
    return [m["frames"], m["avi_sha256"], m["frame_ms_sha256"], sorted(os.listdir(D))]
total = sum(1 for _ in recover.recover_steps(D, "BC000001", bytearray(8192)))
ref = outcome()
cuts = list(range(0, 24)) + list(range(24, total, 7))
bad = []
for k in cuts:
    restore()
    g = recover.recover_steps(D, "BC000001", bytearray(8192))
    for _ in range(k):
        next(g)
    # the power goes here: the generator never runs again; the next boot recovers
    recover.recover_all(D, bytearray(8192))
    if outcome() != ref:
        bad.append([k, outcome()])
print(json.dumps({"total": total, "cuts": len(cuts), "ref": ref, "bad": bad}))
"""


def test_power_cut_at_any_step_of_recovery_just_recovers_again(run_mpy, jpeg_dir, tmp_path):
    # Recovery works in place, a piece per step: cut it after any step (the
    # scan, the JUNK and index writes, the header patch, the hash) and the
    # next boot's recovery gives the same clip, byte for byte.
    boot(run_mpy, jpeg_dir, CUT_WHILE_RECORDING)
    out = run_mpy(CUT_RECOVERY)
    assert out["total"] > 30 and out["cuts"] > 40
    assert out["bad"] == []
    frames, _, _, files = out["ref"]
    assert frames > 150 and files == ["BC000001.AVI", "BC000001.JSON"]
    clips = tmp_path / "sd" / "clips"
    sc = json.loads((clips / "BC000001.JSON").read_text())
    with av.open(str(clips / "BC000001.AVI")) as c:
        assert len([p for p in c.demux(video=0) if p.size]) == sc["frames"]
    assert_sound_avi(clips / "BC000001.AVI", sc["frame_ms"])


def test_out_of_memory_while_recording_keeps_the_whole_frames(run_mpy, jpeg_dir, tmp_path):
    out = boot(run_mpy, jpeg_dir, """
k.run_for(35000)
k.press(200)
k.run_for(3000)
clip = k.rec.clip
def add(data):
    # half the frame reaches the staging buffer, then the heap is exhausted
    clip.avi.write(memoryview(data)[:len(data) // 2])
    raise MemoryError
clip.write_data = add
written = clip.frames
k.run_for(400)
drops = k.ring.dropped_full
k.run_for(45000)          # and the camera carries on buffering, evicting old frames as before
print(json.dumps({"written": written, "done": k.rec.clips_done, "state": k.rec.state,
                  "mem": k.app.memory_errors, "buffered": k.ring.count, "drops": k.ring.dropped_full - drops}))
""")
    assert out["mem"] == 1 and out["state"] == 0 and out["done"] == ["BC000001"]
    assert out["drops"] == 0 and out["buffered"] > 100  # nothing left held: no frame dropped
    sc = json.loads((tmp_path / "sd" / "clips" / "BC000001.JSON").read_text())
    assert sc["stop"]["reason"] == "memory" and sc["frames"] == out["written"]
    with av.open(str(tmp_path / "sd" / "clips" / "BC000001.AVI")) as c:
        packets = [bytes(p) for p in c.demux(video=0) if p.size]
    src = [p.read_bytes() for p in sorted(jpeg_dir.glob("*.jpg"))]
    assert packets == [src[(sc["first_seq"] + i) % len(src)] for i in range(sc["frames"])]


def test_a_clip_cut_as_it_was_created_is_recovered_empty_and_the_camera_boots(run_mpy, jpeg_dir, tmp_path):
    # The power went right after the clip's AVI was created: no frame, no
    # times, no start facts on the card. Boot must not fail on it.
    clips = tmp_path / "sd" / "clips"
    clips.mkdir(parents=True)
    (clips / "BC000001.AVI").write_bytes(b"")
    out = boot(run_mpy, jpeg_dir, """
k.run_for(2000)
k.press(200)
k.run_for(1000)
print(json.dumps({"recovered": k.app.recovered, "next": k.rec.clip.name}))
""")
    assert out == {"recovered": [["BC000001", 0]], "next": "BC000002"}
    sc = json.loads((clips / "BC000001.JSON").read_text())
    assert sc["recovered"] is True and sc["frames"] == 0 and sc["frame_ms"] == []
    assert sc["stop"] == {"reason": "power_loss", "ms": 0}
    assert_sound_avi(clips / "BC000001.AVI", [], size=(0, 0))  # no start facts: no size known
    with av.open(str(clips / "BC000001.AVI")) as c:
        assert [p for p in c.demux(video=0) if p.size] == []


def test_leftovers_beside_a_finished_clip_are_removed_and_the_clip_kept(run_mpy, jpeg_dir, tmp_path):
    # A cut after the sidecar was written but before the temporary files
    # were removed: the clip is finished; only the leftovers go.
    boot(run_mpy, jpeg_dir, "k.run_for(3000)\nk.press(200)\nk.run_for(2000)\nk.press(3200)\nk.finish()\nprint(1)")
    clips = tmp_path / "sd" / "clips"
    kept = {p.name: p.read_bytes() for p in clips.iterdir()}
    assert sorted(kept) == ["BC000001.AVI", "BC000001.JSON"]
    for ext in (".INF", ".TIM", ".IDX", ".AVO", ".JS_"):
        (clips / ("BC000001" + ext)).write_bytes(b"left over")
    after = boot(run_mpy, jpeg_dir, 'print(json.dumps(k.app.recovered))')
    assert after == []
    assert {p.name: p.read_bytes() for p in clips.iterdir()} == kept


def test_a_card_too_full_to_rebuild_a_cut_clip_still_boots_and_keeps_the_clip(run_mpy, jpeg_dir, tmp_path):
    # Found by bench/powercut.py's 200-cut run: after 161 cuts the card was
    # full, the rebuilt copy of the cut clip could not be written (OSError
    # 28), and the camera never booted again (recovery copied the clip then).
    # Now the clip stays as it was,
    # the camera boots and buffers, says why, and a later boot (after an
    # offload made room) recovers the clip.
    boot(run_mpy, jpeg_dir, CUT_WHILE_RECORDING)
    clips = tmp_path / "sd" / "clips"
    before = {p.name: p.read_bytes() for p in clips.iterdir()}
    assert "BC000001.AVI" in before and "BC000001.JSON" not in before
    full = run_mpy("""
import json, recover, simkit
_open = open


class FullCard:
    # a file on a card with 1 KB left: writing more raises ENOSPC, as VfsFat does
    # (recovery works in place: it needs room only for the index, its
    # scratch files and the sidecar)
    left = [1024]

    def __init__(self, f):
        self.f = f

    def write(self, b):
        if len(b) > self.left[0]:
            raise OSError(28)
        self.left[0] -= len(b)
        return self.f.write(b)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.f.close()

    def __getattr__(self, name):
        return getattr(self.f, name)


recover.open = lambda path, mode="r": FullCard(_open(path, mode)) if "w" in mode else _open(path, mode)
log = []


class Audit:
    def record(self, kind, data=None):
        log.append([kind, data])
        return True


k = simkit.Kit(%r, %r, {}, audit=Audit())
k.run_for(2000)
print(json.dumps({"recovered": k.app.recovered, "log": log, "health": k.app.health().get("unrecovered"),
                  "buffered": k.ring.count}))
""" % (BOARD, str(jpeg_dir)), heapsize=HEAP)
    assert full["recovered"] == [["BC000001", None]]
    assert full["health"] == ["BC000001"]
    assert full["buffered"] >= 9  # the camera booted and buffers
    errors = [d["what"] for kind, d in full["log"] if kind == "error"]
    assert any("BC000001" in w and "card is full" in w and "bodycam pull --delete" in w for w in errors), errors
    assert {p.name: p.read_bytes() for p in clips.iterdir()} == before  # kept as it was, no partial copy left
    # room again (an offload deleted clips): the next boot rebuilds it
    after = boot(run_mpy, jpeg_dir, 'print(json.dumps(k.app.recovered))')
    sc = json.loads((clips / "BC000001.JSON").read_text())
    assert after == [["BC000001", sc["frames"]]] and sc["frames"] > 150
    assert_sound_avi(clips / "BC000001.AVI", sc["frame_ms"])


BACKGROUND = """
import json, os, evkit
evkit.write_key("key.json")
k = evkit.EvKit(%(board)r, %(frames)r)
k.run_for(6000)
k.press(200)
k.run_for(4000)          # recording BC000001 when the power goes: a new boot, nothing closed
k = None
import gc
gc.collect()             # (the first boot's ring goes, as RAM does at a power cut)
k = evkit.EvKit(%(board)r, %(frames)r, t0=1000, background=True)
k.app.recovery.max_steps = 4  # (slow recovery: the press comes in the middle of it)
k.run_for(400)
owed = list(k.app.recovery.owed)
k.press(200)             # a press while BC000001 is still being rebuilt
k.run_for(2000)
k.press(k.settings["hold_ms"] + 300)
k.finish()
while k.app.recovery.busy():
    k.run_for(200)
print(json.dumps({"owed_at_press": owed, "done": k.rec.clips_done, "recovered": k.app.recovered}))
"""


def test_a_press_during_background_recovery_records_and_verify_says_why_the_order_is_odd(run_mpy, jpeg_dir,
                                                                                          tmp_path):
    from bodycam.evidence import verify
    out = run_mpy(BACKGROUND % {"board": BOARD, "frames": str(jpeg_dir)}, heapsize=HEAP)
    assert out["owed_at_press"] == ["BC000001"] and out["done"] == ["BC000002"]
    assert out["recovered"][0][0] == "BC000001" and out["recovered"][0][1] > 30
    clips = tmp_path / "sd" / "clips"
    new = json.loads((clips / "BC000002.JSON").read_text())
    cut = json.loads((clips / "BC000001.JSON").read_text())
    assert new["seq"] < cut["seq"]  # the new clip was sealed first
    assert new["preroll_frames"] > 0 and new["stop"]["reason"] == "hold"
    rep = verify.verify_dir(str(clips), verify.KeySet(checking=False))
    assert [f.text for f in rep.all_findings() if f.level == "fail"] == []
    notes = [f.text for f in rep.all_findings() if f.level == "note"]
    assert any("BC000001 (seq 2) was rebuilt after a cut and sealed after BC000002 (seq 1)" in n for n in notes), notes
    # ...while a clip that was not rebuilt, sealed out of order, still fails
    cut["recovered"] = False
    (clips / "BC000001.JSON").write_text(json.dumps(cut))
    rep = verify.verify_dir(str(clips), verify.KeySet(checking=False))
    assert any("reordered or renamed" in f.text for f in rep.all_findings() if f.level == "fail")
