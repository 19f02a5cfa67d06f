"""Boards that keep clips in their internal flash (M5Stack Timer Camera,
LilyGO T-Camera) cannot record at SD-card rates (issue 22): each 4 KB
written is a ~45 ms erase and 16 page programs (W25Q32JV datasheet) with
the caches off, when the firmware and the camera's task both stop (ESP-IDF
"Concurrency Constraints for flash on SPI1"), and littlefs copies a file's
last block after each sync. `bodycam plan` says what rate they sustain
(bodycam.sim.costs.FLASH_FPS, measured on the virtual board), and a clip
recorded there at that rate passes `bodycam check`, one above it does not,
and check says why."""
import json

import pytest

from bodycam import timing
from bodycam.cli import main
from bodycam.commands.check import storage_note
from bodycam.sim import VirtualBoard
from bodycam.sim.costs import FLASH_FPS, flash_sustained_fps

FLASH_BOARDS = ("m5stack-timer-camera", "lilygo-t-camera")


@pytest.mark.parametrize("board", FLASH_BOARDS)
def test_plan_reports_the_rate_the_flash_sustains(board, capsys):
    assert main(["plan", "--board", board]) == 1  # VGA at 5 fps: the flash keeps 1
    out = capsys.readouterr().out
    assert "measured, 1 fps at this frame size" in out and "frames WILL be dropped at the 5 fps set" in out
    assert main(["plan", "--board", board, "--framesize", "QVGA", "--fps", "2", "--preroll", "10", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)["storage"]
    assert st["sustained_fps"] == 2 and st["sustains"]
    assert main(["plan", "--board", board, "--framesize", "QVGA", "--fps", "3", "--preroll", "10"]) == 1


def test_sd_boards_are_not_held_to_the_flash_rate(capsys):
    assert main(["plan", "--board", "ai-thinker-esp32-cam", "--json"]) == 0
    assert "sustained_fps" not in json.loads(capsys.readouterr().out)["storage"]


def test_finer_quality_sustains_fewer_frames_and_coarser_is_not_credited_more():
    assert flash_sustained_fps("QVGA", 95) < FLASH_FPS["QVGA"]
    assert flash_sustained_fps("QVGA", 50) == FLASH_FPS["QVGA"]


def record_clip(tmp_path, fps):
    with VirtualBoard(board="m5stack-timer-camera", state_dir=str(tmp_path / ("vb%d" % fps)), speed=4,
                      cpu="esp32", settings={"preroll_s": 2, "framesize": "QVGA", "fps": fps}) as vb:
        vb.wait_recording_ready(timeout=120)
        vb.sleep_board(3000)
        vb.tap()
        vb.sleep_board(8000)
        vb.hold(3500)
        name = vb.wait_for_clip(timeout=180)
        parked = vb.sensor.driver.stats()["parked"]
        avi, side = vb.copy_clip(name, str(tmp_path / ("clip%d" % fps)))
    rep = timing.check_clip(avi)
    return rep, parked


def test_a_clip_at_the_planned_rate_passes_check_and_one_above_fails_saying_why(tmp_path):
    rep, parked = record_clip(tmp_path, FLASH_FPS["QVGA"])
    assert parked > 0  # the camera lost frames while the flash was written (camdriver.py)
    assert rep["ok"], rep["problems"]
    rep, _ = record_clip(tmp_path, 5)
    assert not rep["ok"] and any("fps on average" in p for p in rep["problems"])
    note, fps = storage_note(rep)
    assert fps == 2 and "the 5 fps set is beyond it" in note
