"""Recorder on MicroPython under synthetic time: pre-roll, continuity across
the pre-roll/live boundary, markers, stops, a writer that falls behind."""
import datetime
import json
import os

import pytest

from bodycam.evidence.avi_reader import read_avi

# The MicroPython heap an AI-Thinker board has beside the camera buffers.
BOARD_HEAP = 4194304 - 2 * (640 * 480 // 5)


@pytest.fixture
def kit(run_mpy, jpeg_dir, tmp_path):
    """kit(body, **overrides) runs `body` with `k` = simkit.Kit; the body's
    last expression goes to `out` and is returned (JSON)."""
    from bodycam.resources import boards_dir

    board = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")

    def run(body, overrides=None, max_writes=None, heapsize=None):
        code = "import json, simkit\n"
        code += "k = simkit.Kit(%r, %r, %r, max_writes=%r)\n" % (board, str(jpeg_dir), overrides or {}, max_writes)
        code += body + "\nprint(json.dumps(out))\n"
        return run_mpy(code, heapsize=heapsize or BOARD_HEAP)

    return run


def sidecars(tmp_path):
    d = tmp_path / "sd" / "clips"
    return {p.stem: json.loads(p.read_text()) for p in sorted(d.glob("*.JSON"))}


def test_press_after_long_buffering_keeps_30s_before_the_press(kit, tmp_path):
    out = kit("""
k.run_for(45000)
t_press = k.press(300)
k.run_for(5000)
t_hold = k.press(3500)
k.finish()
out = {"press": t_press, "hold": t_hold, "pushed": k.pushed_times, "done": k.rec.clips_done, "state": k.rec.state}
""")
    assert out["done"] == ["BC000001"] and out["state"] == 0
    sc = sidecars(tmp_path)["BC000001"]
    fm = sc["frame_ms"]
    press = out["press"]
    # first frame captured at or before T - 30 s
    assert fm[0] <= -30000
    # ...and not much earlier than needed (one frame interval at most)
    assert fm[0] > -30000 - 200
    # every frame captured from there to the stop is present exactly once
    pushed = [t - press for t in out["pushed"]]
    expect = [t for t in pushed if fm[0] <= t <= fm[-1]]
    assert fm == expect
    assert sc["frames"] == len(fm) == sc["last_seq"] - sc["first_seq"] + 1
    assert sc["preroll_frames"] == len([t for t in fm if t < 0])
    assert sc["stop"]["reason"] == "hold"
    # the stop is timed from the press that was held
    assert sc["stop"]["press_ms"] == out["hold"] - press
    assert sc["markers"] == []
    assert sc["dropped"] == {"ring_full": 0, "bad_frame": 0, "too_large": 0, "late_capture": 0}
    # the AVI itself (an independent reader): whole, indexed, and played at
    # the clip's mean frame interval, so it lasts as long as it did
    rep = read_avi(str(tmp_path / "sd" / "clips" / "BC000001.AVI"))
    assert rep.problems == [] and rep.index_problems == []
    assert rep.header_frames == len(rep.index) == len(fm)
    assert rep.us_per_frame == (fm[-1] - fm[0]) * 1000 // (len(fm) - 1)


def test_press_with_less_buffered_keeps_everything(kit, tmp_path):
    out = kit("""
k.run_for(8000)
t_press = k.press(200)
k.run_for(2000)
k.press(3200)
k.finish()
out = {"press": t_press, "first_push": k.pushed_times[0]}
""")
    fm = sidecars(tmp_path)["BC000001"]["frame_ms"]
    assert fm[0] == out["first_push"] - out["press"]  # the very first frame since boot


def test_short_presses_while_recording_are_markers_not_stops(kit, tmp_path):
    out = kit("""
class Log:
    entries = []
    def record(self, kind, data):
        self.entries.append([kind, data])
k.rec.audit = Log()
k.run_for(3000)
p0 = k.press(200)
k.run_for(1000)
m1 = k.press(400)
k.run_for(1000)
m2 = k.press(2700)   # long, but shorter than the 3 s hold: a marker
k.run_for(1000)
state_before_stop = k.rec.state
k.press(3100)
k.finish()
out = {"p0": p0, "m1": m1, "m2": m2, "state": state_before_stop,
       "logged": [d for kind, d in Log.entries if kind == "marker"]}
""")
    sc = sidecars(tmp_path)["BC000001"]
    assert out["state"] == 1  # still recording after both markers
    assert out["logged"] == [{"t": out["m1"], "held_ms": 400}, {"t": out["m2"], "held_ms": 2800}]  # and audited
    assert sc["markers"] == [{"ms": out["m1"] - out["p0"], "held_ms": 400},
                             {"ms": out["m2"] - out["p0"], "held_ms": 2800}]
    assert sc["stop"]["reason"] == "hold"


def test_holding_the_start_press_does_not_stop(kit, tmp_path):
    out = kit("""
k.run_for(2000)
k.press(6000)        # officer keeps the button down after starting
k.run_for(2000)
out = {"state": k.rec.state, "done": k.rec.clips_done}
""")
    assert out == {"state": 1, "done": []}


def test_press_while_finishing_starts_the_next_clip_without_repeating_frames(kit, tmp_path):
    # The writer is held back (max_writes 0) as soon as the first clip is
    # stopped, so the second press really lands while it is being finished.
    out = kit("""
k.run_for(5000)
k.press(200)
k.run_for(1000)
k.app.max_writes = 1
k.pin.set(0)
while k.rec.state != 2:
    k.run_for(k.app.interval_ms)   # held until the hold stops the clip
k.app.max_writes = 0
k.pin.set(1)
k.run_for(200)
t2 = k.now()
k.press(200)         # pressed again while the first clip is being finished
state_at_press = k.rec.state
k.app.max_writes = None
k.run_for(3000)
k.press(3200)
k.finish()
out = {"done": k.rec.clips_done, "state_at_press": state_at_press, "t2": t2}
""")
    assert out["state_at_press"] == 2  # the press came while finishing
    assert out["done"] == ["BC000001", "BC000002"]  # ...and was not lost
    sc = sidecars(tmp_path)
    a, b = sc["BC000001"], sc["BC000002"]
    assert b["first_seq"] == a["last_seq"] + 1  # no frame in both, none lost between
    assert b["clock"]["press_ticks_ms"] == out["t2"]  # the clip is timed from that press


def test_writer_falling_behind_drops_new_frames_never_unwritten_ones(kit, tmp_path):
    # a tiny ring and a writer that manages 1 frame per tick while the
    # pre-roll backlog is ~60 frames: new frames must be dropped and counted,
    # and every frame in the clip is in order with no duplicate
    out = kit("""
k.run_for(20000)
k.press(200)
k.run_for(6000)
k.press(3200)
k.finish(60000)
out = {"done": k.rec.clips_done, "dropped": k.ring.dropped_full}
""", overrides={"fps": 10, "preroll_s": 10, "ring_bytes": 600000}, max_writes=1)
    sc = sidecars(tmp_path)["BC000001"]
    fm = sc["frame_ms"]
    assert out["dropped"] > 0
    assert sc["dropped"]["ring_full"] == out["dropped"]
    assert fm == sorted(set(fm))
    assert sc["frames"] == sc["last_seq"] - sc["first_seq"] + 1
    # with frames dropped, the real mean interval is longer than 1/fps: the
    # AVI plays at the real one, so the clip lasts as long as it did
    us = (fm[-1] - fm[0]) * 1000 // (len(fm) - 1)
    assert us > 1000000 // 10
    assert read_avi(str(tmp_path / "sd" / "clips" / "BC000001.AVI")).us_per_frame == us


def test_clips_dir_missing_gives_a_clear_error_and_keeps_buffering(kit, tmp_path):
    out = kit("""
class Log:
    entries = []
    def record(self, kind, data):
        self.entries.append([kind, data])
k.rec.audit = Log()
k.rec.dir = "no/such/dir"
k.run_for(2000)
k.press(200)
k.run_for(1000)
out = {"state": k.rec.state, "err": k.rec.last_error, "frames": k.ring.count,
       "errors": [d["what"] for kind, d in Log.entries if kind == "error"]}
k.rec.dir = "sd/clips"   # the card is back
k.press(200)
k.run_for(1000)
out["next"] = k.rec.clip.name
""")
    assert out["state"] == 0
    assert "cannot create clip BC000001 in no/such/dir" in out["err"]
    assert out["errors"] == [out["err"]]  # the audit log says so too
    assert out["frames"] > 10
    assert out["next"] == "BC000001"  # the failed clip used up no name




def test_buffering_never_touches_storage(kit, tmp_path):
    out = kit("""
import os
k.run_for(60000)
out = {"files": os.listdir("sd/clips"), "frames": k.ring.count, "state": k.rec.state, "work": k.rec.step(k.now())}
""")
    assert out["files"] == [] and out["state"] == 0 and out["frames"] > 150
    assert out["work"] == 0  # step() has nothing to do while buffering


def test_after_a_press_while_finishing_a_hold_still_stops_the_next_clip(kit, tmp_path):
    # Finishing a long clip takes a while (it is hashed): the officer's
    # press during it is released before the next clip starts. That clip
    # must stop on a hold like any other.
    out = kit("""
k.run_for(5000)
k.press(200)
k.run_for(1000)
k.app.max_writes = 1
k.pin.set(0)
while k.rec.state != 2:
    k.run_for(k.app.interval_ms)
k.app.max_writes = 0
k.pin.set(1)
k.run_for(200)
k.press(200)         # pressed and released while the first clip is finishing
k.run_for(1000)
k.app.max_writes = None
k.run_for(2000)      # the second clip starts and records
recording = k.rec.state
k.press(3200)        # hold to stop
k.finish()
out = {"recording": recording, "state": k.rec.state, "done": k.rec.clips_done}
""")
    assert out["recording"] == 1
    assert out["done"] == ["BC000001", "BC000002"] and out["state"] == 0
    assert sidecars(tmp_path)["BC000002"]["stop"]["reason"] == "hold"


def test_without_preroll_the_clip_starts_at_the_first_frame_of_the_press(kit, tmp_path):
    out = kit("""
k.run_for(3000)
t_press = k.press(200)
k.run_for(2000)
k.press(3200)
k.finish()
out = {"press": t_press, "pushed": k.pushed_times}
""", overrides={"preroll_s": 0})
    sc = sidecars(tmp_path)["BC000001"]
    first = min(t for t in out["pushed"] if t >= out["press"])
    assert sc["frame_ms"][0] == first - out["press"] and sc["preroll_frames"] == 0


def test_a_clip_pressed_with_the_clock_set_is_timed_in_utc_from_the_press(kit, tmp_path):
    out = kit("""
k.run_for(2000)
t_set = k.now()
k.hal.clock.set_utc_ms(1750000000000)
k.run_for(1000)
t_press = k.press(200)
k.run_for(1000)
k.press(3200)
k.finish()
out = {"set": t_set, "press": t_press}
""")
    clock = sidecars(tmp_path)["BC000001"]["clock"]
    at = datetime.datetime.fromtimestamp((1750000000000 + out["press"] - out["set"]) / 1000, datetime.timezone.utc)
    assert out["press"] - out["set"] == 1000
    assert clock["set"] is True and clock["press_utc"] == at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert clock["press_ticks_ms"] == out["press"]


def recorded(run_mpy, jpeg_dir, tmp_path, times, press_t, stop_t, preroll_ms, fps, bad=()):
    """One clip from the real recorder and ring with chosen capture times
    (evkit.timed_clip): a frame at each time, a bad (non-JPEG) one at each
    time in `bad`, the press at press_t (may fall between frames), the stop
    at stop_t. Returns (sidecar, AVI report)."""
    name = run_mpy("""
import os, json, evkit
from hal_virtual import load_frames
os.mkdir("clips")
print(json.dumps(evkit.timed_clip("clips", load_frames(%r), %r, %d, %d, %d, %d, %r)))
""" % (str(jpeg_dir), list(times), press_t, stop_t, preroll_ms, fps, list(bad)), heapsize=BOARD_HEAP)
    base = tmp_path / "clips" / name
    return json.loads((tmp_path / "clips" / (name + ".JSON")).read_text()), read_avi(str(base) + ".AVI")


def test_without_preroll_a_press_between_frames_starts_at_the_next_frame(run_mpy, jpeg_dir, tmp_path):
    # The frame 1 ms before the press was captured before it: not part of a
    # clip without pre-roll.
    times = list(range(1000, 4001, 200))
    sc, _ = recorded(run_mpy, jpeg_dir, tmp_path, times, press_t=2001, stop_t=3000, preroll_ms=0, fps=5)
    assert sc["frame_ms"] == [t - 2001 for t in times if 2001 <= t <= 3000]
    assert sc["preroll_frames"] == 0


def test_each_clip_counts_only_the_frames_dropped_while_it_was_recorded(run_mpy, tmp_path):
    # The ring's drop counters run from boot: a clip's sidecar counts from
    # its start. Before the second clip: ring-full drops (the first clip's
    # writer stalled), bad and too-large frames and a capture stall while
    # buffering; in it, one of each (but ring full).
    out = run_mpy("""
import json, os, button
from recorder import Recorder, BUFFERING
from ring import FrameRing
os.mkdir("clips")
ring = FrameRing(65536, 64)
info = {"board": "t", "firmware": "0", "settings": {"framesize": "QVGA", "fps": 5, "preroll_s": 1}}
rec = Recorder(ring, "clips", 320, 240, 1000, info)
T = [1000]
def frame(kind="ok", write=True, late_ms=0):
    T[0] += late_ms
    t = T[0]
    rec.captured(t)
    ring.push({"ok": b"\\xff\\xd8" + bytes(1500) + b"\\xff\\xd9", "bad": b"\\xff\\xd8bad",
               "big": b"\\xff\\xd8" + bytes(100000) + b"\\xff\\xd9"}[kind], t)
    if write:
        rec.step(t, 64)
    T[0] += 200
def clip(during):
    rec.on_button(button.PRESS, T[0] - 100)
    rec.on_button(button.RELEASE, T[0])
    during()
    rec.stop(T[0], "hold", T[0] - 100)
    while rec.state != BUFFERING:
        rec.step(T[0], 64)
for i in range(10):
    frame()
def stalled():
    for i in range(80):
        frame(write=False)   # the writer is stalled: the ring fills
clip(stalled)
full = ring.dropped_full
frame("bad"); frame("bad"); frame("big"); frame(late_ms=1000)
for i in range(10):
    frame()
def one_of_each():
    frame(); frame("bad"); frame("big"); frame(late_ms=400); frame()
clip(one_of_each)
out = {"done": rec.clips_done, "full": full}
for name in rec.clips_done:
    meta = json.load(open("clips/%s.JSON" % name))
    out[name] = meta["dropped"]
    out[name + " backlog"] = [meta["writer"]["backlog_peak_bytes"], meta["frames"]]
print(json.dumps(out))
""", heapsize=BOARD_HEAP)
    assert out["done"] == ["BC000001", "BC000002"] and out["full"] > 0
    # the stalled writer's backlog peaked at every frame of the clip (1504 bytes each)
    peak, frames = out["BC000001 backlog"]
    assert peak == frames * 1504
    assert out["BC000001"] == {"ring_full": out["full"], "bad_frame": 0, "too_large": 0, "late_capture": 0}
    assert out["BC000002"] == {"ring_full": 0, "bad_frame": 1, "too_large": 1, "late_capture": 2}


def test_a_one_frame_clip_plays_at_the_set_frame_rate(run_mpy, jpeg_dir, tmp_path):
    # One frame has no interval to measure: the AVI takes 1/fps.
    sc, avi = recorded(run_mpy, jpeg_dir, tmp_path, [1000, 1200, 1400, 1600, 1800], press_t=1500, stop_t=1600,
                       preroll_ms=0, fps=5)
    assert sc["frame_ms"] == [100] and sc["frames"] == 1
    assert avi.problems == [] and avi.header_frames == 1 and avi.us_per_frame == 1000000 // 5


def test_clip_names_continue_from_the_card_even_past_99999_or_with_no_card_at_boot(run_mpy, tmp_path):
    out = run_mpy("""
import json, os, button
from recorder import Recorder, BUFFERING
from ring import FrameRing
def one_clip(d):
    ring = FrameRing(65536, 64)
    rec = Recorder(ring, d, 320, 240, 0, {"settings": {"fps": 5}})
    if d not in os.listdir():
        os.mkdir(d)   # the card is mounted after the recorder started
    t = 1000
    for i in range(6):
        ring.push(b"\\xff\\xd8" + bytes(100) + b"\\xff\\xd9", t)
        if i == 2:
            rec.on_button(button.PRESS, t)
            rec.on_button(button.RELEASE, t + 100)
        rec.step(t, 64)
        t += 200
    rec.stop(t, "hold", t - 100)
    while rec.state != BUFFERING:
        rec.step(t, 64)
    return rec.clips_done
os.mkdir("big")
open("big/BC100000.AVI", "w").close()
print(json.dumps([one_clip("late"), one_clip("big")]))
""", heapsize=BOARD_HEAP)
    assert out == [["BC000001"], ["BC100001"]]
