"""firmware/hal_esp32.py and every `sys.platform == "esp32"` branch, run on
the MicroPython unix port against strict stand-ins for the ESP32 port and
the camera drivers (tests/mpy/esp32_standins.py, each citing its source).
A wrong keyword or type fails here as it would on a user's desk."""
import json
import os

import pytest

from bodycam.boards import board_ids
from bodycam.sim.storage import write_exfat_card

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MIB = 1024 * 1024

BOOT = """
import json, os, sys, vfs
frames = []
for n in sorted(os.listdir("%(frames)s")):
    with open("%(frames)s/" + n, "rb") as f:
        frames.append(f.read())
import boardcfg
board = boardcfg.load("%(repo)s/boards/%(board)s.json")
card = None
if %(card)r:
    from vboard_bdev import CardImage
    card = CardImage(open(%(card)r, "r+b"))
    if %(mkfs)r:
        vfs.VfsFat.mkfs(card)
import esp32_standins as E
E.install(board["chip"], frames=frames, camera_api=%(api)r, card=card, heap_regions=%(regions)r)
E.CAMERA_FAULT[0] = %(fault)r
import camslot
camslot.RETRY_MS = (100,)  # (2 s, 4 s... on a board: this test runs under a second)
import sys as fake_sys
assert fake_sys.platform == "esp32"
import settings, app, hal_esp32, sdmount, evidence, dockio
cwd = os.getcwd()
vfs.umount("/")  # the firmware's "/" is this test's folder, as the board's flash
vfs.mount(vfs.VfsPosix(cwd), "/")
s = settings.validate({"framesize": "QVGA", "preroll_s": 5, "fps": 30})
hal = hal_esp32.Esp32Hal(board, s)
evidence.attach(hal, board, s)
a = app.App(hal, board, s)
pin = E.CALLS  # what was asked of the hardware
bp = sys.modules["machine"].Pin.all[board["button"]["pin"]]
t0 = hal.ticks_ms()
for i in range(25):
    a.step()
    hal.sleep_ms(a.interval_ms)  # real time: the ESP32 HAL's ticks are time.ticks_ms
    if i == 5:
        bp.drive_level(0 if board["button"]["active_low"] else 1)
    if i == 12:
        bp.drive_level(1 if board["button"]["active_low"] else 0)
    if i == 14:
        E.CAMERA_FAULT[0] = None  # the ribbon reseated: the next try starts the camera
link = dockio.StdioLink()
out = {"frames": a.ring.count, "bad": a.ring.dropped_bad, "errors": a.capture_errors,
       "storage": hal.storage, "clips_dir": hal.clips_dir, "state": a.recorder.state,
       "baud": link.baud, "rtc_s": hal_esp32._rtc_seconds(), "memory": a.memory,
       "last_error": a.recorder.last_error, "camera": hal.camera.status}
dockio.set_baud(921600)
dockio.set_rtc(1767225600123)
hal.clock.set_utc_ms(1767225600000)
out["calls"] = [c for c in E.CALLS if c[0] in ("sdcard", "camera", "uart_init", "rtc", "mount")]
print(json.dumps(out))
"""


def boot(run_mpy, tmp_path, qvga_dir, board, api="cnadler86", card="fat",
         regions=((4128768, 3900000, 3800000, 3700000),), fault=None):
    img = None
    mkfs = False
    if card == "fat":
        img = str(tmp_path / "sd.img")
        with open(img, "wb") as f:
            f.truncate(16 * MIB)
        mkfs = True
    elif card == "exfat":
        img = str(tmp_path / "sd.img")
        write_exfat_card(img, 64 * MIB)
    code = BOOT % {"frames": qvga_dir, "repo": REPO, "board": board, "card": img, "mkfs": mkfs, "api": api,
                   "regions": regions, "fault": fault}
    return run_mpy(code, heapsize=6 * MIB)


@pytest.mark.parametrize("board", board_ids())
def test_each_board_profile_boots_through_esp32hal_and_captures(run_mpy, tmp_path, qvga_dir, board):
    out = boot(run_mpy, tmp_path, qvga_dir, board)
    assert out["errors"] == 0 and out["bad"] == 0  # the signed views are whole JPEGs
    assert out["frames"] >= 20
    assert out["storage"]["ok"], out["storage"]
    assert out["state"] == 1, out  # the press reached the soft IRQ and started a clip
    assert out["baud"] == 115200
    assert abs(out["rtc_s"] - __import__("time").time()) < 120  # the 2000 epoch was handled
    calls = {c[0]: c for c in out["calls"]}
    cam = calls["camera"][1]
    assert cam["pixel_format"] == 4 and cam["frame_size"] == 6 and cam["grab_mode"] == 1  # JPEG, QVGA, LATEST
    assert calls["uart_init"][1:] == [0, {"baudrate": 921600}]
    rtc = [c[1] for c in out["calls"] if c[0] == "rtc"]  # dockio.set_rtc, then hal_esp32._rtc_set
    assert rtc[0] == [2026, 1, 1, 3, 0, 0, 0, 123000]  # 2026-01-01 is a Thursday (Monday = 0)
    assert rtc[1] == [2026, 1, 1, 3, 0, 0, 0, 0]
    prof = json.loads(open(os.path.join(REPO, "boards", board + ".json")).read())
    if prof["storage"]["kind"] == "sd":
        assert out["clips_dir"] == "/sd/clips"
        assert "sdcard" in calls and calls["mount"][1] == "/sd"
    else:
        assert out["clips_dir"] == "/clips" and "sdcard" not in calls


def test_esp32_s3_sdmmc_pins_are_passed_through_the_gpio_matrix(run_mpy, tmp_path, qvga_dir):
    out = boot(run_mpy, tmp_path, qvga_dir, "esp32-s3-eye")
    sd = [c for c in out["calls"] if c[0] == "sdcard"][0][1]
    assert sd == {"slot": 1, "width": 1, "sck": 39, "cmd": 38, "data": [40]}


def test_an_image_without_the_camera_module_boots_and_says_to_flash_a_camera_image(run_mpy, tmp_path, qvga_dir):
    # (lemariva's driver, once a fallback, builds only up to MicroPython
    # 1.22; hal_esp32 needs 1.23's vfs: no image can have both)
    out = boot(run_mpy, tmp_path, qvga_dir, "ai-thinker-esp32-cam", api=None)
    cam = out["camera"]
    assert cam["ok"] is False and cam["reason"] == "no_driver" and "bodycam flash" in cam["advice"]
    assert cam["tries"] == 1  # no driver: nothing to try again
    assert out["frames"] == 0 and out["errors"] == 25 and out["storage"]["ok"]  # the loop ran all the same


@pytest.mark.parametrize("fault,reason", [("missing", "not_found"), ("no_frames", "no_frames")])
def test_a_camera_that_fails_to_start_boots_buffering_nothing_and_starts_once_reseated(
        run_mpy, tmp_path, qvga_dir, fault, reason):
    out = boot(run_mpy, tmp_path, qvga_dir, "ai-thinker-esp32-cam", fault=fault)
    cam = out["camera"]
    # the constructor's error never ended the boot; the slot tried again
    # (every 100 ms here) and the camera came up once the fault was gone,
    # with no reset
    assert cam == {"ok": True, "sensor": "OV2640", "tries": cam["tries"]} and cam["tries"] >= 2
    assert out["frames"] > 0 and out["errors"] > 0
    assert len([c for c in out["calls"] if c[0] == "camera"]) == 1  # the one Camera(...) that worked


def test_exfat_card_on_the_esp32_hal_boots_buffering_with_the_reason(run_mpy, tmp_path, qvga_dir):
    out = boot(run_mpy, tmp_path, qvga_dir, "ai-thinker-esp32-cam", card="exfat")
    assert out["storage"]["reason"] == "exfat" and out["storage"]["error"] == "OSError(19 ENODEV)"
    assert out["frames"] >= 20 and out["state"] == 0


def test_empty_slot_on_the_esp32_hal_boots_buffering(run_mpy, tmp_path, qvga_dir):
    out = boot(run_mpy, tmp_path, qvga_dir, "ai-thinker-esp32-cam", card=None)
    assert out["storage"]["reason"] == "no_card" and out["frames"] >= 20


STRICT = """
import json, esp32_standins as E
E.install("esp32", frames=[b"\\xff\\xd8xx\\xff\\xd9"])
import machine, camera, vfs, time, esp32
out = {}
def check(name, f):
    try:
        f(); out[name] = "ok"
    except Exception as e:
        out[name] = type(e).__name__
check("pin_hard", lambda: machine.Pin(13, machine.Pin.IN).irq(handler=None, trigger=3, hard=True))
check("pin_bad", lambda: machine.Pin(24))
check("pin_out_on_input_only", lambda: machine.Pin(34, machine.Pin.OUT))
check("sd_cmd_on_esp32", lambda: machine.SDCard(slot=1, width=1, cmd=15))
check("sd_positional", lambda: machine.SDCard(1))
check("sd_spi_pins_on_sdmmc", lambda: machine.SDCard(slot=1, miso=2))
check("rtc_7", lambda: machine.RTC().datetime((2026, 1, 1, 3, 0, 0, 0)))
check("cam_tuple_pins", lambda: camera.Camera(data_pins=(1, 2, 3, 4, 5, 6, 7, 8), pclk_pin=1, vsync_pin=2,
                                              href_pin=3, xclk_pin=4, sda_pin=5, scl_pin=6))
check("cam_unknown_kw", lambda: camera.Camera(data_pins=[1] * 8, pclk_pin=1, vsync_pin=2, href_pin=3,
                                              xclk_pin=4, sda_pin=5, scl_pin=6, quality=10))
check("cam_str_pin", lambda: camera.Camera(data_pins=[1] * 8, pclk_pin="22", vsync_pin=2, href_pin=3,
                                           xclk_pin=4, sda_pin=5, scl_pin=6))
check("mount_kw", lambda: vfs.mount(None, "/x", read_only=True))
check("heap_info_str", lambda: esp32.idf_heap_info("data"))
c = camera.Camera(data_pins=[1] * 8, pclk_pin=1, vsync_pin=2, href_pin=3, xclk_pin=4, sda_pin=5, scl_pin=6,
                  pixel_format=camera.PixelFormat.JPEG, frame_size=camera.FrameSize.QVGA)
mv = c.capture()
out["first"] = mv[0]
out["gmtime0"] = time.gmtime(0)[0]
print(json.dumps(out))
"""


def test_stand_ins_refuse_what_the_port_and_driver_refuse(run_mpy):
    out = run_mpy(STRICT)
    assert out["pin_hard"] == "TypeError"  # no `hard` on ESP32 Pin.irq
    assert out["pin_bad"] == "ValueError" and out["pin_out_on_input_only"] == "ValueError"
    assert out["sd_cmd_on_esp32"] == "TypeError" and out["sd_positional"] == "TypeError"
    assert out["sd_spi_pins_on_sdmmc"] == "ValueError"
    assert out["rtc_7"] == "ValueError"
    assert out["cam_tuple_pins"] == "TypeError"  # "data_pins must be a list or bytearray"
    assert out["cam_unknown_kw"] == "TypeError" and out["cam_str_pin"] == "TypeError"
    assert out["mount_kw"] == "TypeError" and out["heap_info_str"] == "TypeError"
    assert out["first"] == -1  # signed view, as modcamera.c hands out
    assert out["gmtime0"] == 2000


def test_ring_is_bounded_by_the_largest_free_idf_block(run_mpy, tmp_path, qvga_dir):
    # PSRAM free in two blocks of ~1 MB: gc_try_add_heap grows the GC heap by
    # one area from one block (py/gc.c, gccollect.c), so the IDF's total free
    # does not raise the ring's bound: only the GC heap's own free space or
    # one IDF block can hold it.
    regions = ((2097152, 1100000, 1000000, 900000), (2097152, 1100000, 1000000, 900000))
    out = boot(run_mpy, tmp_path, qvga_dir, "ai-thinker-esp32-cam", regions=regions)
    m = out["memory"]
    assert m["ring_bytes"] <= m["largest_bytes"] < m["free_bytes"] - m["reserve_bytes"]
    assert m["free_bytes"] - m["largest_bytes"] == 2200000  # the IDF's free memory counted, not granted


MAIN = """
import json, os, sys, vfs
frames = []
for n in sorted(os.listdir("%(frames)s")):
    with open("%(frames)s/" + n, "rb") as f:
        frames.append(f.read())
from vboard_bdev import CardImage
card = CardImage(open("sd.img", "r+b"))
vfs.VfsFat.mkfs(card)
import esp32_standins as E
E.install("esp32", frames=frames, card=card, stop_after=40)
# everything main.py imports, while the firmware folder is still reachable
import app, hal_esp32, sdmount, evidence, dock, dockio, health, memsize, bringup, boardcfg, settings, startup, camslot, standby
with open("%(repo)s/firmware/main.py") as f:
    main_src = f.read()
cwd = os.getcwd()
vfs.umount("/")
vfs.mount(vfs.VfsPosix(cwd), "/")
try:
    # boots: sys.platform == "esp32" picks Esp32Hal; runs until the camera stops it
    exec(compile(main_src, "main.py", "exec"), {"__name__": "__main__"})
except SystemExit as e:
    stopped = str(e)
print(json.dumps({"stopped": stopped}))
"""


def test_main_boots_on_the_esp32_branch_and_prints_its_boot_line(run_mpy, tmp_path, qvga_dir):
    (tmp_path / "boards").mkdir()
    (tmp_path / "boards" / "ai-thinker-esp32-cam.json").write_text(
        open(os.path.join(REPO, "boards", "ai-thinker-esp32-cam.json")).read())
    (tmp_path / "config.json").write_text(json.dumps({"board": "ai-thinker-esp32-cam", "framesize": "QVGA",
                                                      "fps": 20, "preroll_s": 5}))
    with open(tmp_path / "sd.img", "wb") as f:
        f.truncate(16 * MIB)
    from bodycam.device import upy
    script = tmp_path / "t_script.py"
    script.write_text(MAIN % {"frames": qvga_dir, "repo": REPO})
    p = upy.run_script(str(script), heapsize=6 * MIB, cwd=str(tmp_path),
                       extra_path=[os.path.join(HERE, "mpy")], timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    boot = [line for line in p.stdout.splitlines() if line.startswith("BODYCAM-BOOT ")]
    assert boot, p.stdout[-2000:]
    b = json.loads(boot[0][len("BODYCAM-BOOT "):])
    assert b["board"] == "ai-thinker-esp32-cam" and b["storage"] == {"ok": True, "kind": "sd", "path": "/sd/clips"}
    assert b["memory"]["ring_bytes"] > 0 and b["memory"]["frame_measured"]
    assert json.loads(p.stdout.splitlines()[-1])["stopped"] == "stand-in camera: capture limit reached"
