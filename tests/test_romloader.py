"""The virtual board's ROM loader, driven by the real esptool (as a library)
over a local TCP socket (pyserial's socket:// URL, no reset lines: esptool
runs with --before no-reset). Also the kit test_flash*.py uses: RomServer
and firmware images built with esptool's own image writer."""
import hashlib
import io
import os
import socket
import struct
import threading
from contextlib import redirect_stdout

import esptool
from esptool.bin_image import ESP32FirmwareImage, ESP32S3FirmwareImage, ImageSegment

from bodycam.device.appimage import validate_app_image, validate_image_bytes
from bodycam.sim.romloader import (BANNERS, CHANGE_BAUDRATE, FLASH_BEGIN, FLASH_DATA, MEM_BEGIN,
                                   E_CHECKSUM, RomLoader, SlipDecoder, checksum, slip_encode)

MIB = 1024 * 1024


# --- kit ----------------------------------------------------------------------

class RomServer:
    """A RomLoader behind a TCP socket, one client at a time. Knobs for
    failure tests: `mute` (read, never answer), `drop_after_blocks` (close
    the connection and stop listening after that many FLASH_DATA blocks)."""

    def __init__(self, flash_path, chip="esp32", mac=None, mute=False, drop_after_blocks=None):
        kw = {"mac": mac} if mac else {}
        self.loader = RomLoader(str(flash_path), chip=chip, **kw)
        self.mute = mute
        self.drop_after = drop_after_blocks
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = "socket://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.bauds = []
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                while True:
                    try:
                        data = conn.recv(65536)
                    except OSError:
                        break
                    if not data:
                        break
                    if self.mute:
                        continue
                    out = self.loader.feed(data)
                    if out:
                        conn.sendall(out)
                    if self.loader.new_baud:
                        self.bauds.append(self.loader.new_baud)
                        self.loader.new_baud = None
                    if self.drop_after is not None and self.loader.blocks_written >= self.drop_after:
                        self.close()
                        return

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def esptool_run(args):
    """esptool's CLI in-process; returns (exit ok, output)."""
    out = io.StringIO()
    with redirect_stdout(out):
        try:
            esptool.main(args)
            ok = True
        except (esptool.FatalError, SystemExit) as e:
            print("ERROR:", e)
            ok = False
    return ok, out.getvalue()


def app_image(chip="esp32", payload=b"bodycam test app", entry=None):
    """A small valid app image, written by esptool's own image class."""
    if chip == "esp32":
        img = ESP32FirmwareImage()
        dram, iram = 0x3FFB0000, 0x40080000
    else:
        img = ESP32S3FirmwareImage()
        dram, iram = 0x3FC88000, 0x40378000
    for addr, data, name in ((dram, payload * 40, ".dram0.data"), (iram, bytes(range(256)) * 12, ".iram0.text")):
        seg = ImageSegment(addr, data)
        seg.name = name
        img.segments.append(seg)
    img.entrypoint = entry or iram
    return img.save(None)


def partition_table(app_offset, app_size):
    rows = [(0x01, 0x02, 0x9000, 0x6000, b"nvs"), (0x01, 0x01, 0xF000, 0x1000, b"phy_init"),
            (0x00, 0x00, app_offset, app_size, b"factory"), (0x01, 0x81, app_offset + app_size, 0x100000, b"vfs")]
    t = b"".join(b"\xaa\x50" + struct.pack("<BBII", *r[:4]) + r[4].ljust(16, b"\0") + b"\0" * 4 for r in rows)
    t += b"\xeb\xeb" + b"\xff" * 14 + hashlib.md5(t).digest()
    return t


def merged_image(chip="esp32", app=None):
    """The layout of MicroPython's firmware.bin, as it is written at the
    chip's flash offset: bootloader there, partition table at 0x8000, the
    factory app at 0x10000 (0xFF between)."""
    offset = 0x1000 if chip == "esp32" else 0x0
    boot = app_image(chip, b"second stage bootloader")
    app = app or app_image(chip, b"micropython camera app")
    buf = bytearray(b"\xff" * (0x10000 - offset + len(app)))
    buf[0:len(boot)] = boot
    pt = partition_table(0x10000, 0x1F0000)
    buf[0x8000 - offset:0x8000 - offset + len(pt)] = pt
    buf[0x10000 - offset:] = app
    return bytes(buf), offset


def flash_bytes(path, offset, n):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)


# --- esptool against the loader --------------------------------------------------

def test_esptool_writes_and_verifies_byte_for_byte(tmp_path):
    image, offset = merged_image("esp32")
    img_file = tmp_path / "fw.bin"
    img_file.write_bytes(image)
    flash = tmp_path / "flash.bin"
    with RomServer(flash) as srv:
        ok, out = esptool_run(["--port", srv.url, "--before", "no-reset", "--after", "no-reset", "--no-stub",
                               "--baud", "460800", "write-flash", "0x%x" % offset, str(img_file)])
        assert ok, out
        assert "Hash of data verified" in out
        assert srv.bauds == [460800]  # esptool switched the line up after syncing at 115200
        ok, out = esptool_run(["--port", srv.url, "--before", "no-reset", "--no-stub",
                               "verify-flash", "0x%x" % offset, str(img_file)])
        assert ok and "Verification successful" in out, out
        # Read back through the ROM's 64-byte READ_FLASH_SLOW too.
        back = tmp_path / "back.bin"
        ok, out = esptool_run(["--port", srv.url, "--before", "no-reset", "--no-stub",
                               "read-flash", "0x%x" % offset, "0x600", str(back)])
        assert ok, out
    assert back.read_bytes() == image[:0x600]
    assert os.path.getsize(flash) == 4 * MIB
    assert flash_bytes(flash, offset, len(image)) == image
    assert flash_bytes(flash, 0, offset) == b"\xff" * offset  # nothing before the offset
    ok, msg = validate_app_image(str(flash), offset, "esp32")
    assert ok, msg
    assert "app 'factory' at 0x10000: valid esp32 image" in msg


def test_esptool_detects_the_chip_and_flash(tmp_path):
    with RomServer(tmp_path / "f.bin") as srv:
        ok, out = esptool_run(["--port", srv.url, "--before", "no-reset", "--no-stub", "flash-id"])
    assert ok, out
    assert "ESP32-D0WD-V3 (revision v3.0)" in out
    assert "Detected flash size: 4MB" in out
    assert "02:bc:ca:00:00:01" in out.lower()


def test_esp32s3_is_detected_through_security_info(tmp_path):
    image = app_image("esp32s3")
    (tmp_path / "a.bin").write_bytes(image)
    with RomServer(tmp_path / "f.bin", chip="esp32s3") as srv:
        ok, out = esptool_run(["--port", srv.url, "--before", "no-reset", "--no-stub",
                               "write-flash", "--compress", "0x0", str(tmp_path / "a.bin")])
        assert ok, out
        assert "ESP32-S3" in out
        assert [d for k, d in srv.loader.log if k == "flash_begin"] == [(0, 4096, True)]  # FLASH_DEFL_BEGIN
    assert flash_bytes(tmp_path / "f.bin", 0, len(image)) == image


def test_erase_region_through_flash_begin(tmp_path):
    flash = tmp_path / "f.bin"
    flash.write_bytes(b"\x00" * 4 * MIB)  # a used chip
    with RomServer(flash) as srv:
        ok, out = esptool_run(["--port", srv.url, "--before", "no-reset", "--no-stub",
                               "erase-region", "0x0", "0x400000"])
    assert ok, out
    assert flash.read_bytes() == b"\xff" * 4 * MIB


def test_stub_upload_is_refused_with_a_reason(tmp_path):
    flash = tmp_path / "f.bin"
    with RomServer(flash) as srv:
        ok, out = esptool_run(["--port", srv.url, "--before", "no-reset", "flash-id"])
        log = list(srv.loader.log)
    assert not ok
    # esptool names the step that failed and the ROM's error code (0x06:
    # "failed"), and the loader says why and what to do instead
    assert "Failed to enter RAM download mode" in out and "0106" in out
    assert ("error", "_mem_refused: RAM download (the esptool stub) cannot run on the virtual board: "
                     "use --no-stub") in log


# --- the loader directly ------------------------------------------------------------

def request(op, data=b"", chk=0):
    return slip_encode(struct.pack("<BBHI", 0, op, len(data), chk) + data)


def replies(raw):
    out = []
    for frame in SlipDecoder().feed(raw):
        _, op, n, val = struct.unpack("<BBHI", frame[:8])
        out.append((op, val, frame[8:]))
    return out


def test_slip_frames_split_escaped_and_after_noise():
    payload = b"\x00\xc0\xdb\x01"
    frame = slip_encode(payload)
    assert frame == b"\xc0\x00\xdb\xdc\xdb\xdd\x01\xc0"
    d = SlipDecoder()
    got = []
    for part in (b"boot noise\r\n", frame[:3], frame[3:], b"\xc0\x02\xdb\x99\xc0", slip_encode(b"ok")):
        got += d.feed(part)
    assert got == [payload, b"ok"]  # the frame with a bad escape is dropped


def test_checksum_error_and_nor_write_semantics(tmp_path):
    flash = tmp_path / "f.bin"
    rl = RomLoader(str(flash))
    assert rl.boot_message() == BANNERS["esp32"]
    assert b"waiting for download" in rl.boot_message()
    r = replies(rl.feed(request(FLASH_BEGIN, struct.pack("<IIII", 4096, 4, 1024, 0x2000))))
    assert r[0][2] == b"\0\0\0\0"
    block = bytes([0xF0]) * 1024
    bad = replies(rl.feed(request(FLASH_DATA, struct.pack("<IIII", 1024, 0, 0, 0) + block, checksum(block) ^ 1)))
    assert bad[0][2][:2] == bytes([1, E_CHECKSUM])
    good = replies(rl.feed(request(FLASH_DATA, struct.pack("<IIII", 1024, 0, 0, 0) + block, checksum(block))))
    assert good[0][2][:2] == b"\0\0"
    # Programming without an erase can only clear bits: 0xF0 then 0x3C reads 0x30.
    rl._program(0x2000, bytes([0x3C]) * 4)
    assert flash_bytes(flash, 0x2000, 5) == bytes([0x30] * 4 + [0xF0])


def test_change_baudrate_and_unknown_commands(tmp_path):
    rl = RomLoader(str(tmp_path / "f.bin"))
    r = replies(rl.feed(request(CHANGE_BAUDRATE, struct.pack("<II", 921600, 0))))
    assert r[0][0] == CHANGE_BAUDRATE and r[0][2][:2] == b"\0\0"
    assert rl.new_baud == 921600
    r = replies(rl.feed(request(0x14)))  # GET_SECURITY_INFO: not in the ESP32 ROM
    assert r[0][2][:2] == b"\x01\x05"
    r = replies(rl.feed(request(MEM_BEGIN, struct.pack("<IIII", 16, 1, 16, 0x40080000))))
    assert r[0][2][0] == 1


def test_flash_beyond_the_set_size_is_refused(tmp_path):
    rl = RomLoader(str(tmp_path / "f.bin"))
    # Until SPI_SET_PARAMS the ROM assumes 2 MB.
    r = replies(rl.feed(request(FLASH_BEGIN, struct.pack("<IIII", 4096, 4, 1024, 0x200000))))
    assert r[0][2][0] == 1


# --- boot check ---------------------------------------------------------------------

def test_validate_rejects_blank_corrupt_and_wrong_chip(tmp_path):
    image, offset = merged_image("esp32")
    assert validate_image_bytes(image, offset, "esp32")[0]
    ok, msg = validate_image_bytes(image, offset, "esp32s3")
    assert not ok and "built for esp32, not esp32s3" in msg
    broken = bytearray(image)
    broken[0x10000 - offset + 100] ^= 0xFF  # a byte inside the app's first segment
    ok, msg = validate_image_bytes(bytes(broken), offset, "esp32")
    assert not ok and "app 'factory'" in msg and ("invalid" in msg or "parse" in msg), msg
    ok, msg = validate_image_bytes(b"\xff" * 4096, offset)
    assert not ok and "erased" in msg
    ok, msg = validate_image_bytes(b"PK\x03\x04" + b"\0" * 100, offset)
    assert not ok and "not an ESP32-family image" in msg
    flash = tmp_path / "blank.bin"
    RomLoader(str(flash))
    assert validate_app_image(str(flash), 0x1000) == (False, "at 0x1000: erased flash (0xFF), no image")
