"""End to end on the virtual board (bodycam.sim.VirtualBoard): `bodycam
flash` through its ROM download mode (DTR/RTS reset sequence, RFC 2217),
then `bodycam deploy` through its REPL, from a blank state; the board boots
the deployed .mpy files and config and records a clip on a button press.
Then: a second deploy sends nothing, settings that do not fit are refused,
an upload cut by a power loss is recovered by a rerun; a wrong chip and a
silent board give clear errors."""
import hashlib
import json

import pytest

from bodycam.device import deploying
from bodycam.device.repl import Device
from test_flash import bodycam
from test_romloader import flash_bytes, merged_image

from bodycam.sim import VirtualBoard  # the project's own: a broken import fails, never skips

pytestmark = pytest.mark.slow

BOARD = "ai-thinker-esp32-cam"


def report(out):
    """The JSON report at the end of --json output."""
    return json.loads(out[out.index("{\n"):])


@pytest.fixture
def keyring(tmp_path, monkeypatch):
    path = tmp_path / "keys.json"
    monkeypatch.setenv("BODYCAM_KEYRING", str(path))
    return path


def test_flash_deploy_record_from_blank(tmp_path, keyring, monkeypatch):
    image, offset = merged_image("esp32")
    (tmp_path / "fw.bin").write_bytes(image)
    # the esp32 CPU model: boots, the clock's save to littlefs and the REPL as the chip pays them
    with VirtualBoard(board=BOARD, state_dir=str(tmp_path / "state"), cpu="esp32") as vb:
        flash_file = vb.store.flash_path
        assert flash_bytes(flash_file, 0, 0x10000 + len(image)) == b"\xff" * (0x10000 + len(image))
        rc, out, err = bodycam("flash", "--json", "--port", vb.port_url, "--image", str(tmp_path / "fw.bin"),
                               "--preroll", "3", "--fps", "5", "--framesize", "QVGA", "--hold-ms", "1000")
        assert rc == 0, err[-3000:]
        r = report(out)
        f, d = r["flash"], r["deploy"]

        # The flash: the image at the profile's offset, byte for byte, checked by the board at boot.
        assert f["chip"] == "esp32" and f["virtual"] and not f["stub"] and f["offset"] == 0x1000
        assert flash_bytes(flash_file, offset, len(image)) == image
        assert vb.last_validation[0], vb.last_validation

        # The deploy: compiled modules, main.py, config, board profile, device key; the boot line.
        assert d["compiled"] and d["device"]["mpy"] & 0xFF == 6
        sent = set(d["sent"])
        assert {"app.mpy", "recorder.mpy", "main.py", "config.json", "boards/%s.json" % BOARD, "key.json"} <= sent
        assert not [n for n in sent if n.endswith(".py") and n != "main.py"]
        assert d["boot"]["firmware"] == "0.1.0" and d["boot"]["board"] == BOARD
        assert (d["settings"]["preroll_s"], d["settings"]["fps"], d["settings"]["framesize"]) == (3, 5, "QVGA")
        cfg = vb.read_flash_file("config.json")
        assert cfg == deploying.config_bytes(BOARD, d["settings"])
        app_mpy = vb.read_flash_file("app.mpy")
        assert app_mpy[:2] == b"M\x06"
        assert abs(d["clock"]["offset_s"]) < 2 and not d["clock"]["was_set"]
        key = json.loads(vb.read_flash_file("key.json"))
        ring = json.loads(keyring.read_text())
        assert ring["devices"][key["device"]]["keys"][-1]["key"] == key["key"]

        # It records: press, keep recording, hold to stop; the clip says what was deployed.
        vb.wait_recording_ready()
        known = vb.list_clips()
        vb.sleep_board(1000)
        vb.tap()
        vb.sleep_board(1500)
        vb.hold(1300)
        clip = vb.wait_for_clip(known, timeout=60)
        avi, side = vb.copy_clip(clip, str(tmp_path / "clips"))
        meta = json.loads(open(side).read())
        assert meta["board"] == BOARD and meta["firmware"] == "0.1.0"
        assert meta["settings"]["preroll_s"] == 3 and meta["settings"]["framesize"] == "QVGA"
        assert (meta["width"], meta["height"]) == (320, 240)
        assert meta["preroll_frames"] > 0 and meta["frames"] > meta["preroll_frames"]
        assert meta["clock"]["set"] and meta["clock"]["press_utc"].endswith("Z")  # deploy set the clock
        assert hashlib.sha256(open(avi, "rb").read()).hexdigest() == meta["avi_sha256"]

        # Deploy again: nothing changed, nothing sent; the same key kept.
        rc, out, err = bodycam("deploy", "--json", "--port", vb.port_url)
        assert rc == 0, err[-3000:]
        again = report(out)
        assert again["sent"] == [] and again["bytes_sent"] == 0 and again["removed"] == []
        assert set(again["unchanged"]) == sent - {"key.json"}
        assert again["key"]["new"] is False and again["key"]["device"] == key["device"]
        assert again["settings"] == d["settings"]  # kept from the board's config.json

        # Settings that do not fit: refused, saying what would; the board keeps its config.
        rc, out, err = bodycam("deploy", "--port", vb.port_url, "--framesize", "VGA", "--fps", "10", "--preroll", "60")
        assert rc == 2
        assert "do not fit" in err and "would fit (change one): --fps" in err
        assert vb.read_flash_file("config.json") == cfg

        # A new pre-roll changes config.json only. The power goes while it is on its way...
        from bodycam.device import repl as device_module
        monkeypatch.setattr(device_module, "READ_TIMEOUT_S", 1)  # how long a silent board is waited for
        real_put = Device.put

        def put(self, path, data, progress=None):
            self.run("import binascii\n_f = open(%r, 'wb')\n_f.write(b'half')\n_f.close()" % (path + ".part"))
            vb.power_cut()
            return real_put(self, path, data, progress)

        monkeypatch.setattr(Device, "put", put)
        rc, out, err = bodycam("deploy", "--port", vb.port_url, "--preroll", "4")
        assert rc == 2 and "lost the device" in err
        monkeypatch.setattr(Device, "put", real_put)
        # ...leaving half a file under its temporary name, the old config whole.
        files = {n for n, _, _ in vb.store.flash.listdir("")}
        assert "config.json.part" in files
        assert vb.read_flash_file("config.json") == cfg
        # Power back, deploy again: the leftover goes, the new config arrives whole.
        vb.power_on()
        rc, out, err = bodycam("deploy", "--json", "--port", vb.port_url, "--preroll", "4")
        assert rc == 0, err[-3000:]
        r = report(out)
        assert r["sent"] == ["config.json"] and r["removed"] == ["config.json.part"]
        assert r["boot"]["settings"]["preroll_s"] == 4
        assert not [n for n, _, _ in vb.store.flash.listdir("") if n.endswith(".part")]
        assert json.loads(vb.read_flash_file("config.json"))["preroll_s"] == 4

        # The board runs the deployed bytecode: its imports resolve to the .mpy files.
        with Device(vb.port_url) as dev:
            dev.enter()
            got = dev.run_json("import json, app, recorder\nprint(json.dumps([app.__file__, recorder.__file__]))")
        assert got == ["app.mpy", "recorder.mpy"]


def test_wrong_chip_and_silent_board(tmp_path, monkeypatch):
    from bodycam.device import repl as device_module
    monkeypatch.setattr(device_module, "ENTER_TIMEOUT_S", 2)  # how long a silent board is waited for
    image, _ = merged_image("esp32")
    (tmp_path / "fw.bin").write_bytes(image)
    with VirtualBoard(board="esp32-s3-eye", state_dir=str(tmp_path / "s3")) as vb:
        rc, out, err = bodycam("flash", "--port", vb.port_url, "--board", BOARD, "--image", str(tmp_path / "fw.bin"),
                               "--no-deploy")
        assert rc == 2
        assert "is an ESP32-S3, but profile '%s' is for an ESP32: nothing was written" % BOARD in err
        assert flash_bytes(vb.store.flash_path, 0, 0x20000) == b"\xff" * 0x20000
        vb.power_cut()
        rc, out, err = bodycam("flash", "--port", vb.port_url, "--board", "esp32-s3-eye", "--image",
                               str(tmp_path / "fw.bin"), "--no-deploy", "--connect-attempts", "2")
        assert rc == 2
        # The ESP32 image is refused first; a right one meets a board that is off.
        assert "not a bootable esp32s3 firmware" in err
        s3, _ = merged_image("esp32s3")
        (tmp_path / "s3.bin").write_bytes(s3)
        rc, out, err = bodycam("flash", "--port", vb.port_url, "--board", "esp32-s3-eye", "--image",
                               str(tmp_path / "s3.bin"), "--no-deploy", "--connect-attempts", "1")
        assert rc == 2
        assert "no ESP32 bootloader answered on " + vb.port_url in err
        rc, out, err = bodycam("deploy", "--port", vb.port_url, "--reboot-timeout", "5")
        assert rc == 2 and "no MicroPython REPL answered" in err
