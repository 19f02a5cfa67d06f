"""`bodycam plan` and the memory plan the firmware sizes its ring with."""
import json
import subprocess
import sys

import pytest

from bodycam.resources import shared


def plan(*args):
    return subprocess.run([sys.executable, "-m", "bodycam", "plan", *args], capture_output=True, text=True)


def test_default_settings_fit_the_ai_thinker():
    p = plan("--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["fits"] and d["ring_bytes"] <= d["budget_bytes"] and d["need_bytes"] <= d["budget_bytes"]


def test_vga_10fps_30s_does_not_fit_4mb_and_suggestions_do():
    # reference: 30 s of VGA at 10 fps is 3-6 MB, beside camera buffers and heap in 4 MB it does not fit
    p = plan("--board", "ai-thinker-esp32-cam", "--framesize", "VGA", "--fps", "10", "--preroll", "30")
    assert p.returncode == 1
    assert "does NOT fit" in p.stdout and "would fit" in p.stdout
    d = json.loads(plan("--framesize", "VGA", "--fps", "10", "--json").stdout)
    sug = d["suggest"]
    assert set(sug) >= {"fps", "preroll_s", "framesize"}
    for key, flag in (("fps", "--fps"), ("preroll_s", "--preroll"), ("framesize", "--framesize")):
        args = {"--framesize": "VGA", "--fps": "10", "--preroll": "30"}
        args[flag] = str(sug[key])
        flat = [x for kv in args.items() for x in kv]
        assert plan(*flat).returncode == 0, (key, sug[key])


def test_bigger_psram_fits_more():
    small = json.loads(plan("--board", "ai-thinker-esp32-cam", "--framesize", "SVGA", "--fps", "10", "--json").stdout)
    big = json.loads(plan("--board", "esp32-s3-eye", "--framesize", "SVGA", "--fps", "10", "--json").stdout)
    assert big["budget_bytes"] > small["budget_bytes"]


@pytest.mark.parametrize("args,msg", [
    (["--preroll", "500"], "setting 'preroll_s' must be a whole number from 0 to 120"),
    (["--fps", "0"], "setting 'fps' must be a whole number from 1 to 30"),
    (["--board", "nope"], "unknown board 'nope'"),
])
def test_bad_input_is_a_clear_error(args, msg):
    p = plan(*args)
    assert p.returncode == 2
    assert msg in p.stderr and "Traceback" not in p.stderr


def test_settings_refuse_unknown_and_wrong_types():
    s = shared("settings")
    with pytest.raises(s.SettingsError, match="unknown setting 'prerol'"):
        s.validate({"prerol": 30})
    with pytest.raises(s.SettingsError, match="'fps' must be a whole number"):
        s.validate({"fps": "10"})
    with pytest.raises(s.SettingsError, match="'framesize' must be one of"):
        s.validate({"framesize": "4K"})
