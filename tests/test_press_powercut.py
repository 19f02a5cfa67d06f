"""A power cut right after the press, on the virtual board: what the clip is
(format, size, settings, press time) is on the card from the press onwards,
so the clip rebuilt at the next boot is a well-formed, sealed clip that
`bodycam verify` accepts, and `bodycam check` says the pre-roll was lost to
the power cut instead of calling the sidecar garbage."""
import json
import time

from bodycam import timing
from bodycam.evidence import verify
from bodycam.sim import VirtualBoard


def wait_led(vb, on=True, timeout=20):
    deadline = time.monotonic() + timeout
    while vb.leds.get("status") is not on:
        assert time.monotonic() < deadline, "the recording LED never came %s" % ("on" if on else "off")
        time.sleep(0.002)


def test_cut_just_after_the_press_leaves_an_honest_sealed_clip(tmp_path):
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=5, settings={"preroll_s": 10}) as vb:
        vb.wait_recording_ready()
        vb.sleep_board(11000)  # the pre-roll is full
        vb.press()
        wait_led(vb)  # the firmware has started the clip...
        vb.power_cut()  # ...and the power goes at once
        vb.release()
        vb.power_on()
        vb.wait_recording_ready()
        name = vb.wait_for_clip(timeout=60)
        assert name == "BC000001"
        avi, side = vb.copy_clip(name, str(tmp_path / "out"))
        with open(str(tmp_path / "out" / "AUDIT.LOG"), "wb") as f:
            f.write(vb.read_sd_file("clips/AUDIT.LOG"))
    with open(side) as f:
        m = json.load(f)
    # what the clip is was on the card before any frame was
    assert m["format"] == "bodycam-clip/1"
    assert (m["width"], m["height"]) == (640, 480)
    assert m["settings"]["preroll_s"] == 10
    assert m["clock"]["press_ticks_ms"] is not None
    assert m["recovered"] is True and m["stop"]["reason"] == "power_loss"
    # verify: sealed and consistent (no key on this board: hashes and chain only)
    rep = verify.verify_dir(str(tmp_path / "out"), verify.KeySet(checking=False))
    fails = [f.text for f in rep.all_findings() if f.level == "fail"]
    assert fails == [], fails
    # check: the pre-roll's loss is named, with its cause
    rep = timing.check_clip(avi)
    text = timing.describe(rep)
    assert "pre-roll lost to a power cut before it reached the card" in text, text
    assert "0x0" not in text and "None" not in text.split("verdict")[1]


PRESS_SYNCS = """
import json, simkit
k = simkit.Kit(%r, %r)
k.run_for(35000)
syncs = []
real_start = k.rec.start
def start(t):
    ok = real_start(t)
    real_sync = k.rec.clip.sync
    def sync():
        r = k.rec
        syncs.append({"next": r.next, "live_next": r.ring.time_of(r.next) >= r.press_t if r.next <= r.ring.newest_seq() else True,
                      "written": r.clip.frames, "pre": r.preroll_frames})
        real_sync()
    k.rec.clip.sync = sync
    return ok
k.rec.start = start
k.press(200)
k.run_for(400)
c = k.rec.clip
with open(c.base + ".INF") as f:
    inf = [json.loads(line) for line in f]
print(json.dumps({"syncs": syncs, "durable": k.rec.preroll_durable_ms, "inf": inf,
                  "preroll_bytes": k.rec.preroll_bytes, "pre": k.rec.preroll_frames}))
"""


def test_preroll_is_synced_as_soon_as_it_is_written_not_on_the_next_tick(run_mpy, jpeg_dir):
    import os
    from bodycam.resources import boards_dir
    board = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")
    out = run_mpy(PRESS_SYNCS % (board, str(jpeg_dir)), heapsize=4194304 - 2 * (640 * 480 // 5))
    # 30 s of VGA pre-roll: synced every 128 KB on the way, and once all of
    # it is written, before the first live frame goes in (not a second later)
    assert out["pre"] >= 150
    # (a 128 KB sync may land inside the last pre-roll frame: count whole ones)
    done = [s for s in out["syncs"] if s["written"] >= out["pre"]]
    assert done and done[0]["live_next"], out["syncs"]
    assert len(out["syncs"]) >= out["preroll_bytes"] // 131072
    assert out["durable"] is not None and 0 <= out["durable"] <= 400
    assert {"preroll_durable_ms": out["durable"], "preroll_bytes": out["preroll_bytes"]} in out["inf"]


LATE = """
import json, simkit
k = simkit.Kit(%r, %r, {"preroll_s": 2})
k.run_for(3000)
k.press(200)
k.run_for(1000)
k.hal.ticks.t += 600     # the loop was busy 600 ms longer (a card stall): 3 frames not taken
k.run_for(1000)
k.hal.ticks.t += 150     # a late capture (350 ms after the one before): nothing lost
k.run_for(1000)
k.pin.set(0)
k.run_for(3400)
k.pin.set(1)
k.finish()
print(json.dumps(simkit.sidecar("sd/clips", k.rec.clips_done[-1])))
"""


def test_frames_the_loop_was_too_late_for_are_counted_in_the_sidecar(run_mpy, jpeg_dir):
    import os
    from bodycam import timing
    from bodycam.resources import boards_dir
    board = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")
    m = run_mpy(LATE % (board, str(jpeg_dir)), heapsize=4194304 - 2 * (640 * 480 // 5))
    assert m["dropped"]["late_capture"] == 3
    rep = timing.analyse(m, None)
    assert "late capture 3" in timing.describe(dict(rep, clip="c"))
