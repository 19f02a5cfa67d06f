"""`bodycam flash` (esptool as a library) against the ROM loader emulation
over a local socket (test_romloader's RomServer): the image lands at the
profile's offset byte for byte; wrong chip, damaged image, silent board and
an interrupted upload give clear errors and write nothing wrong; a rerun
recovers. Also the image cache: no network -> what to download and where."""
import hashlib
import io
import json
import os
import zipfile
from contextlib import redirect_stderr, redirect_stdout

import pytest

from bodycam import cli
from bodycam.device import fwimage
from bodycam.boards import load_board
from test_romloader import RomServer, flash_bytes, merged_image

MIB = 1024 * 1024


def bodycam(*argv):
    """Run the CLI in-process; returns (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def flash_args(url, *extra):
    return ["flash", "--port", url, "--before", "no-reset", "--no-deploy", "--connect-attempts", "2"] + list(extra)


@pytest.fixture
def esp32_image(tmp_path):
    image, offset = merged_image("esp32")
    p = tmp_path / "firmware.bin"
    p.write_bytes(image)
    return p, image, offset


def test_flash_writes_the_image_at_the_profile_offset(tmp_path, esp32_image):
    path, image, offset = esp32_image
    assert offset == load_board("ai-thinker-esp32-cam")["flash_offset_int"] == 0x1000
    flash = tmp_path / "flash.bin"
    flash.write_bytes(b"\x5a" * 4 * MIB)  # an old firmware and filesystem everywhere
    with RomServer(flash) as srv:
        rc, out, err = bodycam(*flash_args(srv.url, "--image", str(path), "--json"))
    assert rc == 0, err
    rep = json.loads(out)["flash"]
    assert rep["chip"] == "esp32" and rep["virtual"] and rep["stub"] is False
    assert rep["md5"] == hashlib.md5(image).hexdigest()
    data = flash.read_bytes()
    assert data[offset:offset + len(image)] == image
    # erased everywhere else: the old filesystem is gone, the ROM was told 4 MB
    assert data[:offset] == b"\xff" * offset
    assert data[offset + len(image):] == b"\xff" * (4 * MIB - offset - len(image))
    assert srv.bauds == [460800]


def test_flash_without_erase_keeps_the_filesystem(tmp_path, esp32_image):
    path, image, offset = esp32_image
    flash = tmp_path / "flash.bin"
    flash.write_bytes(b"\x5a" * 4 * MIB)
    with RomServer(flash) as srv:
        rc, out, err = bodycam(*flash_args(srv.url, "--image", str(path), "--no-erase"))
    assert rc == 0, err
    data = flash.read_bytes()
    assert data[offset:offset + len(image)] == image
    end = offset + (len(image) + 4095) // 4096 * 4096  # the ROM erases whole sectors
    assert data[end:] == b"\x5a" * (4 * MIB - end)


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_flash_into_a_log_prints_a_handful_of_progress_lines(tmp_path, esp32_image):
    # esptool draws a progress bar per 1 KB block: off a terminal that was
    # one line per block (1,400 for a 1.4 MB image, 64 here).
    from esp_pylib.logger import EspLog
    before = EspLog.instance
    path, image, _ = esp32_image
    with RomServer(tmp_path / "flash.bin") as srv:
        rc, out, err = bodycam(*flash_args(srv.url, "--image", str(path), "--no-erase"))
    assert rc == 0, err
    assert "Writing at 0x" not in out + err
    bars = [ln for ln in err.splitlines() if ln.startswith("[")]
    assert 5 <= len(bars) <= 11, err
    assert bars[-1].startswith("[100%]") and "65.5 kB / 65.5 kB" in bars[-1]
    assert len((out + err).splitlines()) < 45
    assert EspLog.instance is before  # esptool's own logger is back


def test_flash_on_a_terminal_redraws_one_progress_line(tmp_path, esp32_image):
    path, image, _ = esp32_image
    out, err = io.StringIO(), _Terminal()
    with RomServer(tmp_path / "flash.bin") as srv, redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(flash_args(srv.url, "--image", str(path), "--no-erase"))
    assert rc == 0, err.getvalue()
    text = err.getvalue()
    assert text.count("\n") == 1 and text.count("\r") >= 2  # redrawn in place, ended once
    assert text.rstrip().split("\r")[-1].startswith("[100%]")


def test_wrong_chip_writes_nothing(tmp_path):
    image, _ = merged_image("esp32s3")
    (tmp_path / "s3.bin").write_bytes(image)
    flash = tmp_path / "flash.bin"
    with RomServer(flash, chip="esp32s3") as srv:
        before = flash.read_bytes()
        # An ESP32 profile on an ESP32-S3 board...
        rc, out, err = bodycam(*flash_args(srv.url, "--board", "ai-thinker-esp32-cam",
                                           "--image", str(tmp_path / "s3.bin")))
        assert rc == 2
        # ...is refused at the image already (it is an ESP32-S3 image)...
        assert "not a bootable esp32 firmware" in err and "built for esp32s3" in err
        esp32_img, _ = merged_image("esp32")
        (tmp_path / "e.bin").write_bytes(esp32_img)
        # ...and by the chip check with an ESP32 image.
        rc, out, err = bodycam(*flash_args(srv.url, "--board", "ai-thinker-esp32-cam", "--image", str(tmp_path / "e.bin")))
        assert rc == 2
        assert "is an ESP32-S3, but profile 'ai-thinker-esp32-cam' is for an ESP32" in err
        assert not [k for k, _ in srv.loader.log if k.startswith("flash")]
        # The right profile flashes it, at 0x0.
        rc, out, err = bodycam(*flash_args(srv.url, "--board", "esp32-s3-eye", "--image", str(tmp_path / "s3.bin")))
        assert rc == 0, err
    assert before == b"\xff" * 4 * MIB
    assert flash_bytes(flash, 0, len(image)) == image


def test_corrupt_image_is_refused_before_connecting(tmp_path, esp32_image):
    path, image, offset = esp32_image
    bad = bytearray(image)
    bad[0x10000 - offset + 200] ^= 0x01
    (tmp_path / "bad.bin").write_bytes(bytes(bad))
    rc, out, err = bodycam(*flash_args("socket://127.0.0.1:9", "--image", str(tmp_path / "bad.bin")))
    assert rc == 2
    assert "is not a bootable esp32 firmware" in err and "app 'factory'" in err
    (tmp_path / "text.bin").write_text("not firmware")
    rc, out, err = bodycam(*flash_args("socket://127.0.0.1:9", "--image", str(tmp_path / "text.bin")))
    assert rc == 2 and "not an ESP32-family image" in err
    rc, out, err = bodycam(*flash_args("socket://127.0.0.1:9", "--image", str(tmp_path / "missing.bin")))
    assert rc == 2 and "cannot read image" in err


def test_board_that_does_not_answer(tmp_path, esp32_image):
    path, _, _ = esp32_image
    with RomServer(tmp_path / "flash.bin", mute=True) as srv:
        rc, out, err = bodycam(*flash_args(srv.url, "--image", str(path)))
    assert rc == 2
    assert "no ESP32 bootloader answered on " + srv.url in err
    assert "download mode" in err


def test_interrupted_upload_then_a_rerun_recovers(tmp_path, esp32_image, monkeypatch):
    import esptool.cmds
    monkeypatch.setattr(esptool.cmds, "DEFAULT_CONNECT_ATTEMPTS", 1)  # esptool waits 1 s per reopen try
    path, image, offset = esp32_image
    flash = tmp_path / "flash.bin"
    # The link dies 20 blocks into the image (and the port stays gone).
    with RomServer(flash, drop_after_blocks=20) as srv:
        rc, out, err = bodycam(*flash_args(srv.url, "--image", str(path)))
    assert rc == 2
    assert "flashing failed" in err and "run bodycam flash again" in err
    assert flash_bytes(flash, offset, len(image)) != image
    with RomServer(flash) as srv:
        rc, out, err = bodycam(*flash_args(srv.url, "--image", str(path)))
    assert rc == 0, err
    assert flash_bytes(flash, offset, len(image)) == image


def test_real_board_gets_the_stub(tmp_path, esp32_image):
    # A factory MAC (not locally administered) means real hardware: bodycam
    # uses esptool's stub, which this ROM emulation cannot run, so the
    # attempt fails plainly; --no-stub works.
    path, image, offset = esp32_image
    with RomServer(tmp_path / "flash.bin", mac=(0x24, 0x0A, 0xC4, 1, 2, 3)) as srv:
        rc, out, err = bodycam(*flash_args(srv.url, "--image", str(path)))
        assert rc == 2 and "RAM download mode" in err
        rc, out, err = bodycam(*flash_args(srv.url, "--image", str(path), "--no-stub"))
        assert rc == 0, err


# --- the image catalogue and cache ----------------------------------------------------

def test_catalogue_covers_every_board():
    from bodycam.boards import board_ids
    cat = fwimage.catalogue()
    for bid in board_ids():
        e = cat[bid]
        assert e["release"] == "v0.6.0"
        assert e["url"].endswith("/releases/download/v0.6.0/" + e["asset"])
        assert e["asset"].startswith("mpy_cam-v1.27.0-") and e["asset"].endswith(".zip")
        assert e["sha256"] is None or len(e["sha256"]) == 64


def test_no_network_says_what_to_download_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("BODYCAM_CACHE", str(tmp_path / "cache"))
    entry = dict(fwimage.entry("ai-thinker-esp32-cam"), url="http://127.0.0.1:9/mpy_cam.zip")
    monkeypatch.setattr(fwimage, "entry", lambda bid: entry)
    rc, out, err = bodycam(*flash_args("socket://127.0.0.1:9"))
    assert rc == 2
    want = os.path.join(str(tmp_path / "cache"), "images", entry["asset"])
    assert "Download http://127.0.0.1:9/mpy_cam.zip" in err and "save it as " + want in err
    assert not os.path.exists(want) and not os.path.exists(want + ".part")
    rc, out, err = bodycam(*flash_args("socket://127.0.0.1:9", "--offline"))
    assert rc == 2 and "not in the cache" in err


def test_cached_release_zip_is_used_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("BODYCAM_CACHE", str(tmp_path / "cache"))
    image, offset = merged_image("esp32")
    entry = dict(fwimage.entry("ai-thinker-esp32-cam"), url="http://127.0.0.1:9/x.zip")
    monkeypatch.setattr(fwimage, "entry", lambda bid: entry)
    zpath = os.path.join(str(tmp_path / "cache"), "images", entry["asset"])
    os.makedirs(os.path.dirname(zpath))
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("firmware.bin", image)
        z.writestr("README.txt", "MicroPython with the camera module")
    flash = tmp_path / "flash.bin"
    with RomServer(flash) as srv:
        rc, out, err = bodycam(*flash_args(srv.url, "--offline"))
        assert rc == 0, err
        assert "no SHA-256 is pinned" in out
        assert flash_bytes(flash, offset, len(image)) == image
        # A pinned hash that does not match: refused, nothing flashed.
        entry["sha256"] = "0" * 64
        n = len(srv.loader.log)
        rc, out, err = bodycam(*flash_args(srv.url, "--offline"))
        assert rc == 2 and "not the pinned" in err
        assert len(srv.loader.log) == n
        entry["sha256"] = fwimage.sha256_file(zpath)
        rc, out, err = bodycam(*flash_args(srv.url, "--offline"))
        assert rc == 0, err
        assert "no SHA-256 is pinned" not in out


def test_settings_that_do_not_fit_are_refused_before_erasing(tmp_path, esp32_image):
    path, _, _ = esp32_image
    rc, out, err = bodycam("flash", "--port", "socket://127.0.0.1:9", "--image", str(path),
                           "--framesize", "VGA", "--fps", "10", "--preroll", "60")
    assert rc == 2
    assert "do not fit" in err and "would fit (change one): --fps" in err
