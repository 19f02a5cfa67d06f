"""How the virtual board boots: the ROM samples IO0 (DTR) when EN (RTS)
rises, and a firmware image written by esptool is checked before the
board "runs" it."""
import json
import sys
import time

import serial
from esp_pylib.serial_reset import classic_bootloader_reset, hard_reset
from esptool.bin_image import ESP32FirmwareImage, ImageSegment

from bodycam.boards import load_board
from bodycam.resources import shared
from bodycam.sim import VirtualBoard
from bodycam.sim.storage import StateDir


def wait_state(vb, state, timeout=10):
    end = time.monotonic() + timeout
    while vb.state != state and time.monotonic() < end:
        time.sleep(0.02)
    assert vb.state == state, vb.console_tail()


def wait_said(vb, text, timeout=5):
    """Until the board has sent text on its UART (heard by a client or not)."""
    end = time.monotonic() + timeout
    while text not in vb.console_tail() and time.monotonic() < end:
        time.sleep(0.02)
    assert text in vb.console_tail()


def test_esptools_reset_sequence_enters_download_mode_and_hard_reset_leaves_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bodycam.sim.romloader", None)  # no ROM loader: says so
    with VirtualBoard(state_dir=str(tmp_path / "s")) as vb:
        vb.wait_recording_ready()
        port = serial.serial_for_url(vb.port_url, baudrate=115200, timeout=0.1)
        try:
            classic_bootloader_reset(port)  # esptool's DTR/RTS dance, over RFC 2217
            wait_state(vb, "download")
            wait_said(vb, "virtual board: download mode: ROM loader not available")
            assert "boot:0x3 (DOWNLOAD_BOOT" in vb.console_tail()
            hard_reset(port)  # RTS pulse with IO0 high: boots the firmware
            vb.wait_recording_ready()
        finally:
            port.close()


def app_image():
    img = ESP32FirmwareImage()
    seg = ImageSegment(0x40080000, bytes(range(256)) * 4)
    seg.name = ".iram0.text"
    img.segments.append(seg)
    img.entrypoint = 0x40080000
    return img.save(None)


def flashed(tmp_path, data):
    """A board's state dir whose flash was written at 0x1000 by a host tool."""
    st = StateDir(str(tmp_path / "s"), load_board("ai-thinker-esp32-cam"))
    st.ensure()
    with open(st.flash_path, "r+b") as f:
        f.seek(0x1000)
        f.write(data)
    st.state["app"] = "flashed"
    st.save_state()
    st.close()
    return str(tmp_path / "s")


def test_a_bad_flashed_image_halts_the_board_with_the_reason(tmp_path):
    with VirtualBoard(state_dir=flashed(tmp_path, b"\x12\x34" * 100)) as vb:
        assert vb.state == "halted" and vb.proc is None
        wait_said(vb, "virtual board: cannot boot the flashed firmware: at 0x1000: not an ESP32-family image")


def test_a_valid_flashed_image_boots_with_micropython_standing_in(tmp_path):
    with VirtualBoard(state_dir=flashed(tmp_path, app_image())) as vb:
        vb.wait_recording_ready()
        ok, msg = vb.last_validation
        assert ok and "valid esp32 image" in msg
        wait_said(vb, "flashed firmware checks out")
        assert "MicroPython's unix port runs in its place" in vb.console_tail()


def test_config_json_sets_the_heap_like_the_boards_memory(tmp_path):
    with VirtualBoard(state_dir=str(tmp_path / "s"), settings={"framesize": "QVGA", "fb_count": 1}) as vb:
        vb.wait_recording_ready()
        assert vb.sensor.config["framesize"] == "QVGA" and vb.sensor.config["fb_count"] == 1
        assert json.loads(vb.read_flash_file("config.json"))["framesize"] == "QVGA"
        heap = [m for _, m in vb.events if m.startswith("boot ")][-1]
        # PSRAM less the driver's one QVGA buffer, plus the virtual camera's own buffer on the heap
        want = shared("settings").heap_bytes(4 * 1024 * 1024, "QVGA", 1) + 320 * 240 // 5
        assert "heap %d bytes" % want in heap
