"""The parts of `bodycam deploy` decided on the host, before or without a
board: which settings go in config.json (and which are refused), what is
compiled for which bytecode version, what counts as stale on the board, and
whether a boot line matches what was deployed."""
import json
import os

import pytest

from bodycam.device import deploying
from bodycam.device.deploying import DeployError
from bodycam.resources import shared


def test_settings_given_kept_or_default():
    s = shared("settings")
    board, got, plan = deploying.choose_settings("ai-thinker-esp32-cam", {"fps": 4, "preroll_s": None}, None)
    assert got == dict(s.DEFAULTS, fps=4)
    assert plan["fits"]
    current = {"board": "ai-thinker-esp32-cam", "framesize": "QVGA", "fps": 10, "preroll_s": 20}
    _, got, _ = deploying.choose_settings("ai-thinker-esp32-cam", {"fps": 8}, current)
    assert (got["framesize"], got["fps"], got["preroll_s"]) == ("QVGA", 8, 20)
    # A config for another board is not carried over.
    _, got, _ = deploying.choose_settings("esp32-s3-eye", {}, current)
    assert got == s.DEFAULTS
    # A damaged config on the board falls back to the defaults, not to an error.
    _, got, _ = deploying.choose_settings("ai-thinker-esp32-cam", {}, {"board": "ai-thinker-esp32-cam", "fps": 99})
    assert got == s.DEFAULTS


def test_preroll_that_does_not_fit_is_refused_with_what_would():
    with pytest.raises(DeployError) as e:
        deploying.choose_settings("ai-thinker-esp32-cam", {"framesize": "VGA", "fps": 10, "preroll_s": 60}, None)
    msg = str(e.value)
    assert "do not fit" in msg and "nothing was changed" in msg
    assert "would fit (change one): --fps" in msg and "--preroll" in msg
    # 40 s of the same fit an 8 MB ESP32-S3 board, not the 4 MB ESP32-CAM.
    _, _, p = deploying.choose_settings("esp32-s3-eye", {"framesize": "VGA", "fps": 10, "preroll_s": 40}, None)
    assert p["fits"] and p["budget_bytes"] > 7 * 1024 * 1024
    with pytest.raises(DeployError):
        deploying.choose_settings("ai-thinker-esp32-cam", {"framesize": "VGA", "fps": 10, "preroll_s": 40}, None)
    with pytest.raises(ValueError, match="must be a whole number from 0 to 120"):
        deploying.choose_settings("ai-thinker-esp32-cam", {"preroll_s": 500}, None)


def test_config_bytes_are_stable_and_valid():
    s = shared("settings")
    a = deploying.config_bytes("ai-thinker-esp32-cam", dict(s.DEFAULTS))
    b = deploying.config_bytes("ai-thinker-esp32-cam", dict(reversed(list(s.DEFAULTS.items()))))
    assert a == b  # same settings, same bytes: an unchanged config is not resent
    d = json.loads(a)
    assert d.pop("board") == "ai-thinker-esp32-cam"
    assert s.validate(d) == s.DEFAULTS


def test_mpy_versions():
    assert deploying.device_mpy_version(2822) == (6, 3)  # x64 unix port, MicroPython 1.29
    assert deploying.device_mpy_version(6 | (3 << 8) | (10 << 10)) == (6, 3)  # xtensawin: arch ignored
    assert deploying.mpy_cross_version() == (6, 3)


def test_firmware_is_compiled_for_the_board(tmp_path):
    files = deploying.firmware_files((6, 3), str(tmp_path))
    assert "main.py" in files and "main.mpy" not in files  # MicroPython runs main.py only
    mods = [n for n in files if n.endswith(".mpy")]
    assert "app.mpy" in mods and "recorder.mpy" in mods and not [n for n in files if n.endswith(".py") and n != "main.py"]
    for n in mods:
        assert files[n][:2] == b"M\x06", n  # .mpy header: 'M', version 6
    with pytest.raises(DeployError, match="--source"):
        deploying.firmware_files((5, 0), str(tmp_path))
    src = deploying.firmware_files(None, str(tmp_path))
    assert "app.py" in src and not [n for n in src if n.endswith(".mpy")]


def test_stale_files():
    files = {"app.mpy": b"", "ring.mpy": b"", "main.py": b"", "config.json": b"", "boards/x.json": b""}
    listing = {"": ["app.py", "ring.mpy", "main.py", "notes.txt", "seal.mpy.part"], "boards": ["x.json.part"]}
    assert deploying.stale_files(files, listing) == ["app.py", "boards/x.json.part", "seal.mpy.part"]
    src = {"app.py": b"", "main.py": b""}
    assert deploying.stale_files(src, {"": ["app.mpy", "main.py"]}) == ["app.mpy"]


def test_boot_line_must_match_what_was_deployed():
    s = dict(shared("settings").DEFAULTS)
    v = shared("version").VERSION
    line = deploying.BOOT_MARKER + json.dumps({"firmware": v, "board": "ai-thinker-esp32-cam", "settings": s,
                                               "ring_bytes": 1, "clock": None})
    assert deploying._check_boot(line, "ai-thinker-esp32-cam", s)["firmware"] == v
    with pytest.raises(DeployError, match="board 'ai-thinker-esp32-cam', expected 'esp32-s3-eye'"):
        deploying._check_boot(line, "esp32-s3-eye", s)
    with pytest.raises(DeployError, match="setting preroll_s=30, expected 10"):
        deploying._check_boot(line, "ai-thinker-esp32-cam", dict(s, preroll_s=10))
    with pytest.raises(DeployError, match="not JSON"):
        deploying._check_boot(deploying.BOOT_MARKER + "{", "ai-thinker-esp32-cam", s)


def test_no_board_gets_the_virtual_boards_modules(tmp_path):
    # firmware/ holds exactly what is deployed; the virtual board's own HAL
    # lives beside the simulator and is on its path like built-in modules.
    from bodycam.device.deploying import firmware_files
    from bodycam.resources import board_side_dir

    files = firmware_files(None, str(tmp_path))
    assert "main.py" in files and "ring.py" in files
    side = sorted(n for n in os.listdir(board_side_dir()) if n.endswith(".py"))
    assert {"vboard.py", "hal_virtual.py", "vboard_boot.py"} <= set(side)
    assert not set(side) & set(files)


@pytest.mark.parametrize("info,words", [
    ({"platform": "esp32", "version": [1, 22, 2], "camera": "lemariva"}, "MicroPython 1.22.2: bodycam needs 1.23"),
    ({"platform": "esp32", "version": [1, 21, 0], "camera": None}, "needs 1.23 or newer"),
    ({"platform": "esp32", "version": [1, 27, 0], "camera": None}, "has no camera module"),
    ({"platform": "esp32", "version": [1, 24, 1], "camera": "lemariva"}, "lemariva's camera driver (unsupported"),
    ({"platform": "rp2", "version": [1, 27, 0], "camera": None}, "runs on ESP32 boards"),
])
def test_an_image_bodycam_cannot_run_is_refused_before_anything_is_sent(info, words):
    with pytest.raises(DeployError) as e:
        deploying.check_image(dict(info, mpy=6, free=1))
    assert words in str(e.value) and "bodycam flash" in str(e.value)


def test_the_images_bodycam_runs_on_pass():
    deploying.check_image({"platform": "esp32", "version": [1, 27, 0], "camera": "cnadler86"})
    deploying.check_image({"platform": "esp32", "version": [1, 23, 0], "camera": "cnadler86"})
    deploying.check_image({"platform": "linux", "version": [1, 29, 0], "camera": None})  # the virtual board
