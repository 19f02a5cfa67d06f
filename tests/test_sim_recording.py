"""Recording on the virtual board, end to end: the button press reaches the
firmware's pin IRQ, the clip lands on the SD card image with its pre-roll
and plays in an independent decoder (FFmpeg via PyAV); reset and power cut
keep finished clips and lose the pre-roll in RAM."""
import hashlib
import json

import av  # a declared test dependency: missing, it must fail, not skip
import pytest
import serial

from bodycam.evidence.avi_reader import read_avi
from bodycam.sim import VirtualBoard


def sidecar(vb, name, tmp_path):
    avi, side = vb.copy_clip(name, str(tmp_path / name))
    with open(side) as f:
        return avi, json.load(f)


def record(vb, before_ms, during_ms, hold_ms=3500):
    """Buffer, press, record, hold to stop; returns (clip name, board ms of the press)."""
    known = vb.list_clips()
    vb.sleep_board(before_ms)
    t = vb.board_ms()
    vb.tap()
    vb.sleep_board(during_ms)
    vb.hold(hold_ms)
    return vb.wait_for_clip(known, timeout=60), t


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_press_gives_a_clip_starting_30s_before_it_that_decodes(tmp_path):
    # esp32 CPU at 20x: the host's own jitter x20 on top; this checks pre-roll and decoding
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=20, cpu="host") as vb:
        vb.wait_recording_ready()
        c = vb.sensor.config
        assert (c["framesize"], c["quality"], c["fb_count"], c["grab_mode"]) == ("VGA", 85, 2, "LATEST")
        name, _ = record(vb, 34000, 4000)
        assert name == "BC000001"
        assert vb.leds["status"] is False  # the recording LED went off at the stop
        avi, m = sidecar(vb, name, tmp_path)
    fm = m["frame_ms"]
    assert fm[0] <= -30000  # virtual time: the clip starts >= 30 s before the press
    assert m["preroll_frames"] == sum(1 for t in fm if t < 0) >= 120  # 5 fps; a loaded host drops a few
    assert m["stop"]["reason"] == "hold"
    assert (m["width"], m["height"]) == (640, 480)
    iv = [b - a for a, b in zip(fm, fm[1:])]
    assert sum(iv) / len(iv) == pytest.approx(200, rel=0.1)  # paced at the configured 5 fps
    assert m["avi_sha256"] == sha(avi)
    with av.open(avi) as c:
        frames = [f for f in c.decode(video=0)]
    assert len(frames) == m["frames"]
    assert (frames[0].width, frames[0].height) == (640, 480)


def lines(url, dtr, rts):
    p = serial.serial_for_url(url, baudrate=115200, do_not_open=True)
    p.dtr, p.rts = dtr, rts
    p.open()
    return p


def test_reset_via_rts_and_power_cut_keep_finished_clips_and_lose_the_preroll(tmp_path):
    pre = 10000
    # The host's card: this test is about what a reset and a cut keep once it
    # is on the card ("at most one sync lost" 2 s after a press); on a typical
    # card the pre-roll alone takes longer than that to get there, which
    # tests/test_press_powercut.py and bench/powercut.py cover.
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=20, settings={"preroll_s": 10}, cpu="host",
                      card="host") as vb:
        vb.wait_recording_ready()
        first, _ = record(vb, pre + 3000, 2000)
        kept_avi, kept = sidecar(vb, first, tmp_path / "before")
        assert kept["frame_ms"][0] <= -pre
        kept_sha = sha(kept_avi)

        # The pre-roll buffer is full again, then RTS pulls EN low (ESP32-CAM-MB wiring).
        vb.sleep_board(pre + 3000)
        port = lines(vb.port_url, dtr=False, rts=True)
        try:
            assert vb.state == "reset"
            port.rts = False  # EN released: boots again
            vb.wait_recording_ready()
        finally:
            port.close()
        boots = vb.boots
        second, press = record(vb, 1000, 2000)
        _, after_reset = sidecar(vb, second, tmp_path)
        # Only what was captured since the reboot can be in it: the RAM was lost.
        since_boot = press - vb.sensor.first_ms
        assert -after_reset["frame_ms"][0] <= since_boot + 250 < pre
        assert vb.boots == boots

        # Power cut in the middle of a recording: nothing is flushed or unmounted.
        vb.sleep_board(pre + 3000)
        vb.tap()
        vb.sleep_board(2000)
        assert vb.leds["status"] is True
        vb.power_cut()
        assert vb.state == "off" and vb.proc is None
        vb.power_on()
        vb.wait_recording_ready()
        # The clip cut by the power loss was rebuilt at boot: its pre-roll
        # and the seconds recorded up to the last sync, and it plays.
        cut = "BC%06d" % (int(second[2:]) + 1)
        assert cut in vb.list_clips()
        cut_avi, cut_meta = sidecar(vb, cut, tmp_path / "cut")
        assert cut_meta["recovered"] is True and cut_meta["stop"]["reason"] == "power_loss"
        assert cut_meta["frame_ms"][0] <= -pre + 250  # the full pre-roll was kept
        assert cut_meta["frame_ms"][-1] >= 2000 - 1000 - 250  # at most one sync period (1 s) lost
        assert cut_meta["avi_sha256"] == sha(cut_avi)
        with av.open(cut_avi) as c:
            assert len([f for f in c.decode(video=0)]) == cut_meta["frames"] == len(cut_meta["frame_ms"])
        rep = read_avi(cut_avi)  # header and index rebuilt on the board's FAT card, not only the frames
        assert rep.problems == [] and rep.index_problems == [] and rep.header_frames == cut_meta["frames"]
        third, press = record(vb, 1000, 2000)
        assert third == "BC%06d" % (int(cut[2:]) + 1)
        _, after_cut = sidecar(vb, third, tmp_path)
        assert -after_cut["frame_ms"][0] <= press - vb.sensor.first_ms + 250 < pre

        # The finished clips survived both, byte for byte.
        for name in (first, second):
            assert name in vb.list_clips()
        again_avi, again = sidecar(vb, first, tmp_path / "after")
        assert sha(again_avi) == kept_sha == again["avi_sha256"]
        assert again == kept


def test_button_timing_is_exact_to_the_millisecond_in_board_time(tmp_path):
    # At 20x, 1 ms of wall time is 20 ms of board time: only edges timed on
    # the board itself can give these exact numbers.
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=20, settings={"preroll_s": 2}, cpu="host") as vb:
        vb.wait_recording_ready()
        vb.sleep_board(1000)
        vb.tap()  # start
        vb.sleep_board(1000)
        vb.press(730)  # a marker
        vb.sleep_board(1000)
        vb.hold(2950)  # just under hold_ms (3000): another marker, no stop
        vb.sleep_board(1000)
        assert vb.leds["status"] is True
        vb.hold(3050)  # just over: stop
        name = vb.wait_for_clip(timeout=60)
        _, m = sidecar(vb, name, tmp_path)
    assert [k["held_ms"] for k in m["markers"]] == [730, 2950]
    assert m["stop"]["reason"] == "hold"
    # The loop stops at its first tick once the press has been held hold_ms.
    assert 3000 <= m["stop"]["ms"] - m["stop"]["press_ms"] <= 3000 + 250


def test_a_clip_cut_by_power_loss_is_rebuilt_on_the_boards_fat_card(tmp_path):
    # Recovery on the card the board really has (VfsFat on the SD image),
    # whose files, unlike the unix port's, buffer writes until closed.
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=20, settings={"preroll_s": 2}) as vb:
        vb.wait_recording_ready()
        vb.sleep_board(3000)
        vb.tap()
        vb.sleep_board(3000)
        vb.power_cut()
        vb.power_on()
        vb.wait_recording_ready()  # buffering at once; the rebuild goes on behind it
        assert vb.wait_for_clip(timeout=60) == "BC000001"
        assert vb.list_clips() == ["BC000001"]
        avi, m = sidecar(vb, "BC000001", tmp_path)
    assert m["recovered"] is True and m["stop"]["reason"] == "power_loss"
    assert m["frames"] == len(m["frame_ms"]) >= 10 and m["avi_sha256"] == sha(avi)
    rep = read_avi(avi)
    assert rep.problems == [] and rep.index_problems == []
    assert rep.header_frames == len(rep.index) == m["frames"]
