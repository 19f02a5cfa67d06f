"""A missing, unreadable or exFAT card: the board boots, keeps buffering,
blinks its error pattern and says why (boot line, `bodycam info`); a press
is counted, never a crash. The cards fail through MicroPython's own
vfs.mount/FatFs on the unix port, as machine.SDCard does on the ESP32
(firmware/sdmount.py cites the 1.27 sources)."""
import json
import time

import pytest

from bodycam.offload.client import docked
from bodycam.sim import VirtualBoard
from bodycam.sim.errors import SimError
from bodycam.sim.storage import write_exfat_card

MIB = 1024 * 1024


def test_each_bad_card_mounts_to_the_reason_the_port_gives(run_mpy, tmp_path):
    write_exfat_card(str(tmp_path / "ex.img"), 64 * MIB)
    with open(tmp_path / "fat.img", "wb") as f:
        f.truncate(8 * MIB)
    out = run_mpy("""
        import json, vfs, sdmount
        from vboard_bdev import CardImage, NoCard, UnreadableCard
        fat = CardImage(open("fat.img", "r+b"))
        vfs.VfsFat.mkfs(fat)
        cards = {"none": NoCard(), "unreadable": UnreadableCard(open("fat.img", "r+b")),
                 "exfat": CardImage(open("ex.img", "r+b")), "blank": CardImage(open("ex.img", "r+b")),
                 "fat": fat}
        # a card with a boot signature but no filesystem at all
        cards["blank"].readblocks = lambda n, buf: None
        out = {}
        for k, c in cards.items():
            st = sdmount.mount_sd(lambda: c, vfs.mount, "/sd_" + k)
            out[k] = [st["ok"], st.get("reason"), st.get("error")]
        def bad_setup():
            raise ValueError("invalid config: SDMMC slot with SPI pin arguments")
        st = sdmount.mount_sd(bad_setup, vfs.mount)
        out["setup"] = [st["ok"], st["reason"], st["error"]]
        print(json.dumps(out))
    """)
    assert out["none"] == [False, "no_card", "OSError(16 EBUSY)"]
    assert out["unreadable"] == [False, "unreadable", "OSError(5 EIO)"]
    assert out["exfat"] == [False, "exfat", "OSError(19 ENODEV)"]
    assert out["blank"] == [False, "not_fat", "OSError(19 ENODEV)"]
    assert out["fat"] == [True, None, None]
    assert out["setup"][:2] == [False, "sd_setup"]


def test_app_without_storage_buffers_blinks_and_counts_presses(run_mpy, tmp_path, jpeg_dir):
    out = run_mpy("""
        import json, app, boardcfg, settings, health
        from hal_virtual import VirtualHal, load_frames
        board = boardcfg.load("%s/boards/ai-thinker-esp32-cam.json")
        s = settings.validate({"preroll_s": 5})
        hal = VirtualHal(board, s, frames=load_frames("%s"), clips_dir="sd/clips")
        hal.storage = {"ok": False, "kind": "sd", "path": None, "reason": "no_card",
                       "error": "OSError(16 EBUSY)", "advice": "insert a card"}
        hal.clips_dir = "/no/such/card/clips"  # unmounted: every write fails, as on the board
        a = app.App(hal, board, s)
        leds = []
        for i in range(60):
            a.step(); hal.ticks.t += 100
            leds.append(hal.leds["status"])
            if i == 30:
                hal.button_pin.set(0)
            if i == 33:
                hal.button_pin.set(1)
        h = a.health()
        print(json.dumps({"leds": leds, "state": a.recorder.state, "frames": a.ring.count,
                          "health": h}))
    """ % (REPO, jpeg_dir), heapsize=4 * MIB)
    assert out["state"] == 0 and out["frames"] > 40  # still buffering, frames kept
    h = out["health"]
    assert h["storage"]["reason"] == "no_card"
    assert h["unrecorded"]["presses"] == 1 and h["unrecorded"]["errors"] == 1
    leds = out["leds"]
    assert True in leds and leds.count(True) < len(leds) // 2  # blinking, not steady


def wait_line(vb, prefix, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for line in vb.console_tail(6000).split("\n")[:-1]:  # whole lines only
            if line.startswith(prefix):
                return line.rstrip("\r")
        time.sleep(0.1)
    raise AssertionError("no %r line; console:\n%s" % (prefix, vb.console_tail()))


@pytest.mark.parametrize("kind,reason,errno", [("none", "no_card", 16), ("exfat", "exfat", 19),
                                               ("unreadable", "unreadable", 5)])
def test_virtual_board_without_a_usable_card_boots_buffers_and_reports(tmp_path, kind, reason, errno):
    with VirtualBoard(speed=10, sd=kind, state_dir=str(tmp_path / "s")) as vb:
        vb.wait_recording_ready(timeout=60)
        boot = json.loads(wait_line(vb, "BODYCAM-BOOT ")[len("BODYCAM-BOOT "):])
        assert boot["storage"]["ok"] is False and boot["storage"]["reason"] == reason
        assert boot["storage"]["error"].startswith("OSError(%d" % errno)
        assert "PROBLEM no clip storage" in wait_line(vb, "BODYCAM-PROBLEM")
        vb.tap()  # a press with no card: counted, never a crash
        vb.sleep_board(2500)
        with docked(vb.port_url) as c:
            info = c.info()
        assert info["state"] == "buffering"
        assert info["health"]["storage"]["reason"] == reason
        assert info["health"]["unrecorded"]["presses"] == 1
        assert vb.state == "running" and vb.boots == 1
        blinks = [m for _, m in vb.events if m == "LED status on"]
        assert len(blinks) >= 2  # the error pattern, not steady off
        assert vb.list_clips() == []


def test_fat_card_after_a_bad_one_records_and_keeps_its_clips_apart(tmp_path):
    state = str(tmp_path / "s")
    with VirtualBoard(speed=10, sd="exfat", state_dir=state) as vb:
        vb.wait_recording_ready(timeout=60)
    with VirtualBoard(speed=10, sd="fat32", state_dir=state) as vb:
        vb.wait_recording_ready(timeout=60)
        boot = json.loads(wait_line(vb, "BODYCAM-BOOT ")[len("BODYCAM-BOOT "):])
        assert boot["storage"] == {"ok": True, "kind": "sd", "path": "/sd/clips"}
        vb.sleep_board(2000)
        vb.tap()
        vb.sleep_board(1500)
        vb.hold(3500)
        assert vb.wait_for_clip(timeout=60)


def test_unknown_sd_kind_is_refused_with_the_choices(tmp_path):
    with pytest.raises(SimError, match="fat32, exfat, unreadable, none"):
        VirtualBoard(sd="ntfs", state_dir=str(tmp_path / "s"))


REPO = __import__("os").path.dirname(__import__("os").path.dirname(__import__("os").path.abspath(__file__)))
