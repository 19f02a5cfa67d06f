"""Board profiles: every shipped profile is valid; bad ones are refused with
a message naming the field, identically on CPython and MicroPython."""
import copy
import json
import subprocess
import sys

import pytest

from bodycam.boards import board_ids, load_board
from bodycam.resources import shared

REQUIRED_BOARDS = {"ai-thinker-esp32-cam", "esp32-s3-eye", "xiao-esp32s3-sense", "m5stack-timer-camera", "lilygo-t-camera"}


def test_all_required_profiles_ship_and_validate():
    assert REQUIRED_BOARDS <= set(board_ids())
    for bid in board_ids():
        b = load_board(bid)
        assert b["flash_offset_int"] == (0x1000 if b["chip"] == "esp32" else 0x0)


def test_ai_thinker_facts():
    b = load_board("ai-thinker-esp32-cam")
    assert b["button"] == {"pin": 13, "active_low": True, "pull": "up"}
    assert b["camera"]["xclk"] == 0 and b["camera"]["pwdn"] == 32
    assert b["storage"]["kind"] == "sd" and b["psram_bytes"] == 4 * 1024 * 1024


def test_boards_without_sd_store_on_flash():
    assert load_board("m5stack-timer-camera")["storage"]["kind"] == "flash"


def bad_variants():
    base = load_board("ai-thinker-esp32-cam")
    base.pop("flash_offset_int")

    def v(mutate):
        d = copy.deepcopy(base)
        mutate(d)
        return d

    return [
        ("pin used twice", v(lambda d: d["leds"]["flash"].update(pin=13)), "GPIO13 is used twice"),
        ("strapping pin button", v(lambda d: d["button"].update(pin=12)), "strapping pin GPIO12"),
        ("camera pin button", v(lambda d: d["button"].update(pin=0)), "which the camera needs"),
        ("missing field", v(lambda d: d["camera"].pop("vsync")), "missing field 'vsync'"),
        ("missing top field", v(lambda d: d.pop("psram_bytes")), "missing field 'psram_bytes'"),
        ("reserved pin", v(lambda d: d["button"].update(pin=1)), "reserved"),
        ("bad chip", v(lambda d: d.update(chip="esp8266")), "field 'chip'"),
        ("bad offset", v(lambda d: d.update(flash_offset="4096k")), "field 'flash_offset'"),
        ("pin out of range", v(lambda d: d["button"].update(pin=99)), "field 'button.pin'"),
        ("short data bus", v(lambda d: d["camera"].update(data=[1, 2])), "must list 8 pins"),
    ]


@pytest.mark.parametrize("name,profile,message", bad_variants(), ids=[b[0] for b in bad_variants()])
def test_bad_profiles_name_the_problem_on_both_interpreters(name, profile, message, run_mpy, tmp_path):
    bc = shared("boardcfg")
    with pytest.raises(bc.BoardError) as e:
        bc.validate(copy.deepcopy(profile))
    assert message in str(e.value)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(profile))
    on_mpy = run_mpy("""
        import json, boardcfg
        try:
            boardcfg.load(%r)
            print(json.dumps(None))
        except boardcfg.BoardError as e:
            print(json.dumps(str(e)))
    """ % str(p))
    assert on_mpy == str(e.value)


def test_unreadable_and_invalid_json_profiles(tmp_path):
    bc = shared("boardcfg")
    with pytest.raises(bc.BoardError, match="cannot read board profile"):
        bc.load(str(tmp_path / "nope.json"))
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(bc.BoardError, match="not valid JSON"):
        bc.load(str(tmp_path / "x.json"))


def bodycam(*args):
    return subprocess.run([sys.executable, "-m", "bodycam", *args], capture_output=True, text=True)


def test_cli_boards_lists_every_profile():
    p = bodycam("boards")
    assert p.returncode == 0
    for bid in REQUIRED_BOARDS:
        assert bid in p.stdout
    assert "(default)" in p.stdout


def test_cli_unknown_board_is_a_clear_error():
    p = bodycam("boards", "no-such-board")
    assert p.returncode == 2
    assert "unknown board 'no-such-board'; known boards: ai-thinker-esp32-cam" in p.stderr
    assert "Traceback" not in p.stderr

