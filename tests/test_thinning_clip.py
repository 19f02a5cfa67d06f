"""A clip recorded with pre-roll thinning by the firmware (App + Recorder on
the MicroPython unix port, synthetic time), and `bodycam check` judging its
stretches: thinned seconds against the rate they were thinned to, the rest
against the camera's rate."""
import copy
import json
import os

import pytest

from bodycam import timing

BOARD_HEAP = 4194304 - 2 * (640 * 480 // 5)


@pytest.fixture(scope="module")
def scene_vga(tmp_path_factory):
    """16 VGA frames from the virtual camera's scene (typical OV2640 sizes)."""
    from bodycam.sim.scene import Scene

    d = tmp_path_factory.mktemp("scene_vga")
    sc = Scene("VGA", 85)
    for k in range(16):
        (d / ("%03d.jpg" % k)).write_bytes(sc.render(k * 37, k * 3700))
    return d


@pytest.fixture(scope="module")
def thinned_clip(tmp_path_factory, scene_vga):
    """VGA, 10 fps, 30 s pre-roll, last 10 s full, on the AI-Thinker: 60 s
    buffering, press, 5 s, hold to stop. Returns (clip dir, run output)."""
    from bodycam.resources import boards_dir
    from conftest import mpy_json

    work = tmp_path_factory.mktemp("thinned")
    board = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")
    over = {"framesize": "VGA", "fps": 10, "preroll_s": 30, "preroll_full_s": 10}
    code = """
import json, simkit, seal
k = simkit.Kit(%r, %r, %r)
k.rec.seal = seal.Sealer("seal_state.json", key=b"K" * 32, device="test")
k.run_for(60000)
t_press = k.press(300)
k.run_for(5000)
k.press(3500)
k.finish()
print(json.dumps({"press": t_press, "pushed": k.pushed_times, "done": k.rec.clips_done,
                  "dropped": k.ring.dropped_full, "plan": k.app.plan["stretches"]}))
""" % (board, str(scene_vga), over)
    out = mpy_json(code, work, heapsize=BOARD_HEAP, cwd=work)
    return work / "sd" / "clips", out


def test_thinned_clip_keeps_30s_with_the_last_10s_whole(thinned_clip):
    clips, out = thinned_clip
    assert out["done"] == ["BC000001"]
    sc = json.loads((clips / "BC000001.JSON").read_text())
    fm = sc["frame_ms"]
    press = out["press"]
    pushed = [t - press for t in out["pushed"]]
    assert fm[0] <= -30000  # >= 30 s of pre-roll
    # the last 10 s before the press and every live frame: all there
    assert [t for t in fm if t >= -10000] == [t for t in pushed if -10000 <= t <= fm[-1]]
    assert out["dropped"] == 0 and sc["dropped"]["ring_full"] == 0
    # older seconds thinned, never below 1 fps, recorded in the sidecar
    st = sc["preroll_stretches"]
    assert st[0]["every"] == 2 and st[0]["from_ms"] == fm[0]
    assert st[-1]["every"] == 1 and st[-1]["to_ms"] < 0 and st[-1]["from_ms"] <= -10000
    thinned = [t for t in fm if t < st[-1]["from_ms"]]
    assert thinned and all(t in pushed for t in thinned)
    assert len(thinned) < len([t for t in pushed if fm[0] <= t < st[-1]["from_ms"]])
    assert sc["frames"] == len(fm) and sc["preroll_frames"] == len([t for t in fm if t < 0])


def test_check_judges_each_stretch_against_its_own_rate(thinned_clip):
    clips, _ = thinned_clip
    rep = timing.check_clip(str(clips / "BC000001"))
    assert rep["problems"] == []
    rows = rep["preroll_stretches"]
    assert rows[0]["every"] == 2 and rows[0]["fps_set"] == 5.0 and 4.75 <= rows[0]["fps"] <= 5.25
    assert rows[-1]["every"] == 1 and rows[-1]["fps"] >= 9.5
    text = timing.describe(rep)
    assert "pre-roll stretch" in text and "every 2nd" in text and "meets its targets" in text


def _analyse(sc):
    return timing.analyse(sc, None)


def test_check_flags_thinning_inside_the_full_rate_seconds(thinned_clip):
    clips, _ = thinned_clip
    sc = json.loads((clips / "BC000001.JSON").read_text())
    bad = copy.deepcopy(sc)
    bad["settings"]["preroll_full_s"] = 29  # as if configured to keep 29 s whole
    assert any("inside the last 29 s" in p for p in _analyse(bad)["problems"])
    bad = copy.deepcopy(sc)
    bad["settings"]["preroll_full_s"] = None
    assert any("preroll_full_s is not set" in p for p in _analyse(bad)["problems"])


def test_check_flags_a_frame_lost_inside_a_thinned_stretch(thinned_clip):
    clips, _ = thinned_clip
    sc = json.loads((clips / "BC000001.JSON").read_text())
    fm = sc["frame_ms"]
    i = 5  # inside the every-2nd stretch: lose 3 frames in a row
    bad = copy.deepcopy(sc)
    bad["frame_ms"] = fm[:i] + fm[i + 3:]
    bad["frames"] -= 3
    bad["preroll_frames"] -= 3
    assert any(p.startswith("gap: pre-roll") and "thinned to every 2" in p for p in _analyse(bad)["problems"])


def test_without_the_thinning_record_check_sees_the_thinned_seconds_as_drops(thinned_clip):
    # The record is what lets check tell thinning from loss: without it the
    # thinned stretch fails the camera's rate.
    clips, _ = thinned_clip
    sc = json.loads((clips / "BC000001.JSON").read_text())
    del sc["preroll_stretches"]
    assert any(p.startswith("frame rate") for p in _analyse(sc)["problems"])


def test_the_thinning_record_is_sealed(thinned_clip):
    from bodycam.resources import shared
    seal = shared("seal")
    clips, _ = thinned_clip
    sc = json.loads((clips / "BC000001.JSON").read_text())
    key = b"K" * 32
    assert sc["manifest_hmac"] == seal.manifest_hmac(key, sc)
    forged = copy.deepcopy(sc)
    forged["preroll_stretches"][0]["every"] = 1  # claim the old seconds were whole
    assert seal.manifest_hmac(key, forged) != sc["manifest_hmac"]


def test_a_thinned_clip_recovered_after_a_power_cut_numbers_its_frames_as_the_ring_did(tmp_path, scene_vga):
    # The sidecar's first_seq/last_seq are the ring's frame numbers. A thinned
    # pre-roll skips numbers, so recovery must not count one number a frame
    # (it did: last_seq came out short by the frames thinning dropped).
    from bodycam.resources import boards_dir
    from conftest import mpy_json

    board = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")
    over = {"framesize": "VGA", "fps": 10, "preroll_s": 30, "preroll_full_s": 10}
    code = """
import json, simkit, recover
k = simkit.Kit(%r, %r, %r)
k.run_for(60000)
t_press = k.press(300)
k.run_for(5000)
name = k.rec.clip.name
# the power goes here: nothing more runs, the card holds what was written
recover.recover(k.hal.clips_dir, name, bytearray(4096))
print(json.dumps({"press": t_press, "pushed": k.pushed_times, "name": name, "next_seq": k.ring.next_seq}))
""" % (board, str(scene_vga), over)
    out = mpy_json(code, tmp_path, heapsize=BOARD_HEAP, cwd=tmp_path)
    # one frame a tick; frames pushed before the kit's first tick (boot's measuring) come first
    first_pushed = out["next_seq"] - len(out["pushed"])
    sc = json.loads((tmp_path / "sd" / "clips" / (out["name"] + ".JSON")).read_text())
    assert sc["recovered"] is True
    assert any(s["every"] > 1 for s in sc["preroll_stretches"])  # thinned, else this proves nothing
    seq_of = {t - out["press"]: first_pushed + i for i, t in enumerate(out["pushed"])}
    fm = sc["frame_ms"]
    assert sc["frames"] == len(fm) > 100
    assert sc["first_seq"] == seq_of[fm[0]]
    assert sc["last_seq"] == seq_of[fm[-1]]
