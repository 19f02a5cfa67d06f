"""The virtual board's parts, one at a time: line pacing, REPL tracking,
camera frames, storage images (through the real MicroPython), board clock."""
import io
import os
import time

import pytest
from PIL import Image

from bodycam.resources import shared
from bodycam.sim.clock import BoardClock
from bodycam.sim.errors import SimError
from bodycam.sim.scene import Scene
from bodycam.sim.storage import Image as FsImage
from bodycam.sim.uart import RAW_BANNER, ReplWatch, uart_rate
from bodycam.sim.wire import Wire, garble

BANNER = (b'MicroPython 9458e3a23f on 2026-07-05; linux [GCC 14.2.1] version\r\n'
          b'Type "help()" for more information.\r\n>>> ')


def test_wire_takes_at_least_the_line_time():
    w = Wire()
    t0 = time.monotonic()
    for _ in range(8):
        w.cross(144, 115200)  # 1152 bytes = 0.1 s at 11520 bytes/s
    assert time.monotonic() - t0 >= 0.1


def test_wire_back_to_back_sends_queue_behind_each_other():
    w = Wire()
    a = w.cross(576, 115200)
    b = w.cross(576, 115200)
    assert b - a == pytest.approx(0.05, abs=0.002)


def test_garble_only_when_rates_disagree():
    data = bytes(range(256))
    assert garble(data, 115200, 115200) == data
    assert garble(data, 115200, 116000) == data  # within a UART's tolerance
    junk = garble(data, 115200, 9600)
    assert len(junk) == len(data) and junk != data


def test_the_uart_runs_at_what_the_esp32_divider_makes_of_any_baud():
    # (80 MHz << 4) / baud, integer and 4-bit fraction: 2 Mbaud is exact,
    # 921600 is 922190, odd rates are fine, termios has nothing to say
    assert uart_rate(2000000) == 2000000 and uart_rate(115200) == pytest.approx(115200, rel=1e-4)
    assert uart_rate(921600) == pytest.approx(922190, abs=1) and uart_rate(123457) == pytest.approx(123457, rel=1e-4)
    with pytest.raises(ValueError, match="cannot run at 6000000 baud: the ESP32's UART goes up to 5000000"):
        uart_rate(6000000)
    with pytest.raises(ValueError, match="too slow for the ESP32's divider"):
        uart_rate(50)


def test_repl_watch_follows_raw_and_friendly_mode():
    w = ReplWatch()
    assert w.feed(b">>> ") == b">>> " and not w.raw
    w.feed(b"\r\n" + RAW_BANNER[:10])
    w.feed(RAW_BANNER[10:] + b">")  # split across reads
    assert w.raw
    w.feed(b"OK\x04\x04>")
    assert w.raw
    w.feed(b"\r\n" + BANNER)  # Ctrl-B: back to the friendly REPL
    assert not w.raw


def test_repl_watch_swallows_the_unix_banner_only():
    w = ReplWatch()
    w.swallow = True
    stream = b"boot.py says hi\n" + BANNER + b"\r\n" + RAW_BANNER + b">"
    out = b"".join(w.feed(stream[i:i + 7]) for i in range(0, len(stream), 7))
    assert out == b"boot.py says hi\n\r\n" + RAW_BANNER + b">"
    assert w.raw and not w.swallow


@pytest.mark.parametrize("framesize", ["QVGA", "VGA", "SVGA"])
def test_camera_frames_are_real_jpegs_sized_like_an_ov2640(framesize):
    sc = Scene(framesize, 85)
    w, h, typical = shared("settings").FRAMESIZES[framesize]
    sizes = []
    for k in range(0, 150, 5):
        data = sc.render(k, k * 200)
        sizes.append(len(data))
        assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG" and im.size == (w, h)
    mean = sum(sizes) / len(sizes)
    assert 0.8 * typical <= mean <= 1.2 * typical  # the firmware's ring is planned on these
    assert max(sizes) < w * h // 5  # the driver's frame buffer limit
    assert max(sizes) - min(sizes) > 0.1 * mean  # the scene changes


def test_camera_quality_scales_frame_size():
    assert len(Scene("VGA", 40).render(3, 600)) < len(Scene("VGA", 85).render(3, 600)) \
        < len(Scene("VGA", 95).render(3, 600))


def test_camera_draws_the_frame_number_and_time():
    sc = Scene("QVGA", 85)
    bar = (0, 0, 320, sc.font.size + 6)
    a, b, c = sc.draw(7, 1400), sc.draw(7, 1600), sc.draw(8, 1400)
    assert a.crop(bar).tobytes() != b.crop(bar).tobytes()  # other time in the overlay
    assert a.crop(bar).tobytes() != c.crop(bar).tobytes()  # other frame number
    assert sc.draw(7, 1400).tobytes() == a.tobytes()  # deterministic


def test_board_clock_runs_speed_times_wall_time():
    c = BoardClock(speed=20)
    t0 = c.ms()
    time.sleep(0.1)
    assert 1900 <= c.ms() - t0 <= 2600
    assert c.wall_seconds(1000) == pytest.approx(0.05)
    with pytest.raises(ValueError):
        BoardClock(0)


def _blank(path, size, fill=b"\xff"):
    with open(path, "wb") as f:
        f.write(fill * size)


def test_sd_image_round_trip_through_micropython_vfsfat(tmp_path):
    p = str(tmp_path / "sd.img")
    with open(p, "wb") as f:
        f.truncate(8 * 1024 * 1024)
    img = FsImage(p, "fat")
    img.mkfs([["mkdir", "clips"]])
    data = os.urandom(70000)
    img.write("clips/BC000001.AVI", data)
    assert img.read("clips/BC000001.AVI") == data
    assert img.listdir("clips") == [("BC000001.AVI", 70000, False)]
    with pytest.raises(FileNotFoundError, match="clips/NOPE"):
        img.read("clips/NOPE")


def test_flash_image_is_littlefs_at_the_vfs_offset(tmp_path):
    p = str(tmp_path / "flash.bin")
    _blank(p, 4 * 1024 * 1024)
    img = FsImage(p, "lfs", 0x200000, 0x200000)
    img.mkfs()
    img.write("config.json", b'{"fps": 5}')
    assert img.read("config.json") == b'{"fps": 5}'
    raw = open(p, "rb").read()
    assert raw[:0x200000] == b"\xff" * 0x200000  # the app region is untouched


def test_unformatted_image_gives_a_clear_error(tmp_path):
    p = str(tmp_path / "sd.img")
    _blank(p, 1024 * 1024, b"\0")
    with pytest.raises(SimError, match="cannot mount the fat image"):
        FsImage(p, "fat").listdir("")


def test_flash_programming_can_only_clear_bits(run_mpy, tmp_path):
    # NOR flash: erase sets 0xFF, programming ANDs; littlefs relies on it.
    p = tmp_path / "f.bin"
    _blank(str(p), 8192)
    out = run_mpy("""
        from vboard_bdev import FlashPartition
        f = open("f.bin", "r+b")
        part = FlashPartition(f, 4096, 4096)
        part.writeblocks(0, b"\\x0f\\xf0", 0)
        part.writeblocks(0, b"\\xff\\x3c", 0)
        b = bytearray(3)
        part.readblocks(0, b)
        r1 = list(b)
        part.ioctl(6, 0)
        part.readblocks(0, b)
        print([r1, list(b), part.ioctl(4, 0), part.ioctl(5, 0)])
    """, cwd=tmp_path)
    assert out == [[0x0F, 0x30, 0xFF], [0xFF, 0xFF, 0xFF], 1, 4096]
    assert open(p, "rb").read(4096) == b"\xff" * 4096  # outside the partition
