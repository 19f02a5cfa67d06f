"""Pre-roll thinning end to end on the virtual board (the firmware on the
MicroPython unix port, the AI-Thinker's 4 MB, the virtual camera's real
JPEGs): the settings of issue 15 give a clip with the whole pre-roll, the
last 10 s at the camera's rate and no frame dropped at the press."""
import json

import pytest

from bodycam import timing
from bodycam.sim import VirtualBoard


def record(tmp_path, settings, speed):
    # The typical card (the default); the host's CPU: at 10 fps the esp32 CPU
    # model on this shared host misses ~6 % of captures (docs/preroll.md),
    # which would blur what is measured here, the ring's thinning.
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=speed, settings=settings, card="typical",
                      cpu="host") as vb:
        vb.wait_recording_ready(timeout=120)
        known = vb.list_clips()
        vb.sleep_board((settings["preroll_s"] + 15) * 1000)
        vb.tap()
        vb.sleep_board(5000)
        vb.hold(3500)
        name = vb.wait_for_clip(known, timeout=300)
        avi, side = vb.copy_clip(name, str(tmp_path / "clip"))
    with open(side) as f:
        return avi, json.load(f)


@pytest.mark.parametrize("framesize, preroll, speed", [("VGA", 30, 3), ("QVGA", 120, 4)])
def test_thinned_preroll_on_the_ai_thinker(tmp_path, framesize, preroll, speed):
    s = {"framesize": framesize, "fps": 10, "preroll_s": preroll, "preroll_full_s": 10}
    avi, m = record(tmp_path, s, speed)
    fm = m["frame_ms"]
    assert fm[0] <= -preroll * 1000  # the whole pre-roll
    assert m["dropped"]["ring_full"] == 0  # nothing dropped for want of room, at the press or after
    st = m["preroll_stretches"]
    assert st[0]["every"] == 2  # the oldest seconds were thinned (they would not fit otherwise)
    assert st[-1]["every"] == 1 and st[-1]["from_ms"] <= -10000  # the last 10 s whole
    # around the press: the camera's rate on both sides. Known limit: a
    # 120 s pre-roll's layout (725 frame sizes in NAME.INF) and the clip's
    # four files cost the typical card more than one 100 ms interval, so
    # that capture comes up to one interval late (docs/evidence.md).
    before = [t for t in fm if t < 0][-1]
    after = [t for t in fm if t >= 0][0]
    assert after - before <= (150 if preroll <= 30 else 250)
    rep = timing.check_clip(avi)
    rows = rep["preroll_stretches"]
    assert rows[0]["fps_set"] == 5.0 and rows[0]["fps"] >= 4.75
    # judged stretch by stretch: the thinned seconds are no problem
    assert not [p for p in rep["problems"] if "thinn" in p], rep["problems"]
