"""The boot never dies (firmware/startup.py): on the virtual board, one row
per failing part. Whatever failed, the board prints its BODYCAM-BOOT line
and a BODYCAM-PROBLEM line saying what to do, answers `bodycam info` over
its dock (so the clips already on the card can be pulled), reports the
problem there, logs it in the audit log, and blinks the status LED's
problem pattern. (The card's own rows, no card / unreadable / exFAT, are
tests/test_sd_card.py; too little memory is tests/test_boot_memory.py.)"""
import json
import time

import pytest

from bodycam.offload.client import docked
from bodycam.sim import VirtualBoard
from test_sd_card import wait_line

GOOD_CONFIG = {"board": "ai-thinker-esp32-cam", "framesize": "VGA", "fps": 5, "preroll_s": 30}
BROKEN_MODULE = b"raise RuntimeError('a deployed module that raises at import')\n"

ROWS = {
    # part: (VirtualBoard keywords, flash files to spoil before the boot, what the problem names)
    "camera missing": ({"camera": "missing"}, {}, ("camera", "reseat the camera's ribbon cable")),
    "camera fails-init": ({"camera": "fails-init"}, {}, ("camera", "sent no frame within 4 s")),
    "config.json": ({}, {"config.json": b"{not json"}, ("config", "default settings are in use")),
    "board profile": ({}, {"boards/ai-thinker-esp32-cam.json": b"{}"}, ("board", "missing field")),
    "key file": ({}, {"key.json": b'{"device": "bc-x", "key": "short"}'}, ("key", "64 hex digits")),
    "firmware module": ({}, {"recorder.py": BROKEN_MODULE}, ("firmware", "capture loop did not start")),
}


def boot_spoiled(tmp_path, kw, files):
    state = str(tmp_path / "vb")
    if files:
        # spoil the flash with the board off, as a bad deploy or a worn flash would
        with VirtualBoard(state_dir=state, speed=10, cpu="host") as vb:
            vb.power_cut()
            for path, data in files.items():
                vb.store.flash.write(path, data)
    return VirtualBoard(state_dir=state, speed=10, cpu="host", **kw)


def led_blinks(vb, window_s=2.5):
    """How many times the status LED went on in a window of board time."""
    n0 = len([m for _, m in vb.events if m == "LED status on"])
    vb.sleep_board(int(window_s * 1000))
    return len([m for _, m in vb.events if m == "LED status on"]) - n0


@pytest.mark.parametrize("row", sorted(ROWS))
def test_whatever_fails_the_board_reaches_its_dock_and_says_what_to_do(tmp_path, row):
    kw, files, (part, words) = ROWS[row]
    with boot_spoiled(tmp_path, kw, files) as vb:
        line = wait_line(vb, "BODYCAM-BOOT ", timeout=60)
        boot = json.loads(line[len("BODYCAM-BOOT "):])
        mine = [p for p in boot["problems"] if p["part"] == part]
        assert mine and words in mine[0]["error"] + mine[0]["advice"], boot["problems"]
        said = wait_line(vb, "BODYCAM-PROBLEM %s:" % part, timeout=10)
        assert mine[0]["advice"] in said
        with docked(vb.port_url) as c:  # the dock answers: clips can still be pulled
            info = c.info()
        h = info["health"]
        assert [p for p in h["problems"] if p["part"] == part]
        log = vb.read_sd_file("clips/AUDIT.LOG").decode()
        kind = {"camera": "camera_failed", "key": '"device key'}.get(part, "boot_problem")
        assert kind in log, log[-600:]
        assert led_blinks(vb) >= 2  # the problem pattern, not steady off
        assert vb.state == "running" and vb.boots == 1


def test_a_camera_plugged_back_in_starts_without_a_reset_and_the_camera_records(tmp_path):
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=10, cpu="host", camera="missing") as vb:
        wait_line(vb, "BODYCAM-PROBLEM camera:", timeout=60)
        with docked(vb.port_url) as c:
            cam = c.info()["health"]["camera"]
        assert cam["ok"] is False and cam["reason"] == "not_found"
        assert cam["error"] == "OSError(95, 'ESP_ERR_NOT_SUPPORTED')"  # what cnadler86's Camera() raises
        assert "Camera probe failed with error 0x106(ESP_ERR_NOT_SUPPORTED)" in vb.console_tail(4000)
        vb.set_camera("ok")  # the ribbon reseated
        deadline = time.monotonic() + 60
        while True:
            with docked(vb.port_url) as c:
                info = c.info()
            if info["health"]["camera"]["ok"]:
                break
            assert time.monotonic() < deadline, info["health"]["camera"]
            vb.sleep_board(2000)
        assert info["health"]["camera"]["tries"] >= 2 and vb.boots == 1
        vb.sleep_board(2000)
        vb.tap()
        vb.sleep_board(2000)
        vb.hold(3500)
        name = vb.wait_for_clip(timeout=60)
        log = vb.read_sd_file("clips/AUDIT.LOG").decode()
    assert "camera_started" in log and name == "BC000001"


def test_the_built_in_fallback_profile_is_the_ai_thinkers():
    # (startup.py's last resort when boards/ cannot be read at all)
    import os
    from bodycam.resources import boards_dir, shared
    with open(os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")) as f:
        want = json.load(f)
    fallback = shared("startup").FALLBACK_BOARD
    assert fallback == {k: v for k, v in want.items() if k not in ("firmware_build", "notes")}
    shared("boardcfg").validate(dict(fallback))


def test_the_card_is_started_only_once_the_button_on_its_dat3_line_is_let_go(tmp_path):
    # AI-Thinker: the button is GPIO13, the SD slot's DAT3. A card that sees
    # DAT3 low at CMD0 goes into SPI mode until its power is cut; the boot
    # waits for the button to be let go before it starts the card.
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=10, cpu="host") as vb:
        vb.power_cut()
        vb.press()  # held down as the camera is switched on
        vb.power_on()
        vb.sleep_board(7000)  # (the card is reached ~2-3 s after power-on: the wait is the rest)
        vb.release()
        boot = json.loads(wait_line(vb, "BODYCAM-BOOT ", timeout=60)[len("BODYCAM-BOOT "):])
        assert boot["storage"]["ok"] and 2500 <= boot["storage"]["dat3_wait_ms"] <= 7000, boot["storage"]
        assert boot["boot_ms"]["storage"] >= boot["storage"]["dat3_wait_ms"]
        assert not vb.sd_spi_mode


def test_a_card_started_with_the_button_held_says_to_power_cycle_and_a_power_cycle_mends_it(tmp_path):
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=20, cpu="host") as vb:
        vb.power_cut()
        vb.press()
        vb.power_on()  # ...and held past the boot's 10 s wait: the card sees DAT3 low
        line = wait_line(vb, "BODYCAM-BOOT ", timeout=60)
        boot = json.loads(line[len("BODYCAM-BOOT "):])
        st = boot["storage"]
        assert st["reason"] == "spi_mode" and "power-cycle the board" in st["advice"], st
        assert vb.sd_spi_mode
        vb.release()
        vb.reset()  # EN: the card keeps its power, and its SPI mode
        deadline = time.monotonic() + 60
        while True:  # the second boot's line (whole lines only)
            line = [ln for ln in vb.console_tail(20000).split("\n")[:-1] if ln.startswith("BODYCAM-BOOT ")]
            if len(line) >= 2:
                break
            assert time.monotonic() < deadline
            time.sleep(0.1)
        st = json.loads(line[-1][len("BODYCAM-BOOT "):])["storage"]
        assert st["reason"] == "no_card" and "power-cycle the board" in st["advice"], st
        vb.power_cut()
        vb.power_on()  # the card's power cut: SD mode again
        vb.wait_recording_ready(timeout=60)
        assert not vb.sd_spi_mode and vb.list_clips() == []
        vb.tap()
        vb.sleep_board(2000)
        vb.hold(3500)
        assert vb.wait_for_clip(timeout=60)


def test_a_recording_a_crash_ended_says_reset_or_crash_not_power_loss(tmp_path):
    import signal
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=10, cpu="host") as vb:
        vb.wait_recording_ready(timeout=60)
        vb.sleep_board(3000)
        vb.tap()
        vb.sleep_board(3000)
        vb.proc.send_signal(signal.SIGABRT)  # the firmware process dies: a panic, HARD_RESET at the reboot
        name = vb.wait_for_clip(timeout=120)
        out = tmp_path / "out"
        _, side = vb.copy_clip(name, str(out))
        log = vb.read_sd_file("clips/AUDIT.LOG").decode()
    with open(side) as f:
        m = json.load(f)
    assert m["recovered"] and m["stop"]["reason"] == "reset" and m["stop"]["cause"] == "reset or crash"
    assert '"cause":"reset or crash"' in log and '"reset_cause":2' in log
    from bodycam import timing
    text = timing.describe(timing.check_clip(str(out / (name + ".AVI"))))
    assert "stopped by:       reset (reset or crash)" in text
