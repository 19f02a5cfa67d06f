"""preroll_full_s in the settings, the memory plan, `bodycam plan
--preroll-full` and `bodycam deploy --preroll-full` (host side)."""
import json
import subprocess
import sys

import pytest

from bodycam.device import deploying
from bodycam.device.deploying import DeployError
from bodycam.resources import shared

AI_THINKER_PSRAM = 4194304


def plan(*args):
    return subprocess.run([sys.executable, "-m", "bodycam", "plan", *args], capture_output=True, text=True)


def test_vga_10fps_30s_fits_the_ai_thinker_with_the_last_10s_whole():
    p = plan("--framesize", "VGA", "--fps", "10", "--preroll", "30", "--preroll-full", "10")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "fits" in p.stdout
    assert "at 5 fps (every 2nd frame)" in p.stdout and "to the press at 10 fps (every frame)" in p.stdout
    d = json.loads(plan("--framesize", "VGA", "--fps", "10", "--preroll", "30", "--preroll-full", "10",
                        "--json").stdout)
    st = d["stretches"]
    assert st[0]["from_s"] == -30 and st[-1]["to_s"] == 0 and st[-1]["every"] == 1 and st[-1]["from_s"] <= -10
    assert all(s["fps"] >= 1 for s in st)
    assert sum(d["level_bytes"]) == d["ring_bytes"] <= d["budget_bytes"] and d["full_ms"] == 10000


def test_qvga_10fps_120s_fits_with_the_last_10s_whole():
    d = json.loads(plan("--framesize", "QVGA", "--fps", "10", "--preroll", "120", "--preroll-full", "10",
                        "--json").stdout)
    assert d["fits"] and d["stretches"][0]["from_s"] == -120 and d["stretches"][-1]["every"] == 1


def test_thinning_is_only_used_when_the_whole_preroll_does_not_fit():
    s = shared("settings")
    p = s.plan(AI_THINKER_PSRAM, s.validate({"fps": 5, "preroll_s": 30, "preroll_full_s": 10}))
    assert p["fits"] and p["level_bytes"] is None and p["full_ms"] == 0
    assert p["stretches"] == [{"from_s": -30, "to_s": 0, "every": 1, "fps": 5.0}]
    # never below 1 fps: at 1 fps there is nothing to thin
    p = s.plan(AI_THINKER_PSRAM, s.validate({"framesize": "UXGA", "fps": 1, "preroll_s": 60, "preroll_full_s": 0}))
    assert not p["fits"]


@pytest.mark.parametrize("full, msg", [
    ("40", "must be a whole number from 0 to the pre-roll (30 s), not 40: the nearest allowed is 30"),
    ("-1", "not -1: the nearest allowed is 0"),
])
def test_bad_preroll_full_is_refused_with_the_nearest_allowed(full, msg):
    p = plan("--framesize", "VGA", "--fps", "10", "--preroll", "30", "--preroll-full", full)
    assert p.returncode == 2 and msg in p.stderr and "Traceback" not in p.stderr


def test_impossible_even_fully_thinned_is_refused_with_a_preroll_full_that_fits():
    args = ["--framesize", "VGA", "--fps", "10", "--preroll", "120", "--preroll-full", "60"]
    p = plan(*args)
    assert p.returncode == 1 and "does NOT fit" in p.stdout and "--preroll-full" in p.stdout
    sug = json.loads(plan(*args, "--json").stdout)["suggest"]
    assert 0 < sug["preroll_full_s"] < 60
    ok = plan(*args[:-1], str(sug["preroll_full_s"]))
    assert ok.returncode == 0, ok.stdout
    # one second more whole does not fit: it is the nearest
    assert plan(*args[:-1], str(sug["preroll_full_s"] + 1)).returncode == 1


def test_plan_without_thinning_names_preroll_full_as_a_way_to_fit():
    p = plan("--framesize", "VGA", "--fps", "10", "--preroll", "30")
    assert p.returncode == 1 and "--preroll-full 25" in p.stdout
    assert plan("--framesize", "VGA", "--fps", "10", "--preroll", "30", "--preroll-full", "25").returncode == 0


def test_deploy_settings_with_preroll_full():
    s = shared("settings")
    vga10 = {"framesize": "VGA", "fps": 10, "preroll_s": 30}
    _, got, p = deploying.choose_settings("ai-thinker-esp32-cam", dict(vga10, preroll_full_s=10), None)
    assert got["preroll_full_s"] == 10 and p["fits"] and p["level_bytes"]
    cfg = json.loads(deploying.config_bytes("ai-thinker-esp32-cam", got))
    assert cfg["preroll_full_s"] == 10 and s.validate(cfg)["preroll_full_s"] == 10
    # kept from the board's config; clamped when a shorter pre-roll is given
    current = dict(cfg)
    _, got, _ = deploying.choose_settings("ai-thinker-esp32-cam", {"preroll_s": 8, "fps": 5}, current)
    assert got["preroll_full_s"] == 8
    _, got, _ = deploying.choose_settings("ai-thinker-esp32-cam", {"fps": 5, "preroll_full_s": "off"}, current)
    assert got["preroll_full_s"] is None
    with pytest.raises(DeployError, match="--preroll-full"):
        deploying.choose_settings("ai-thinker-esp32-cam", dict(vga10, preroll_s=120, preroll_full_s=100), None)
    with pytest.raises(ValueError, match="nearest allowed is 30"):
        deploying.choose_settings("ai-thinker-esp32-cam", dict(vga10, preroll_full_s=31), None)


def test_deploy_command_line_takes_preroll_full():
    from bodycam.cli import build_parser
    from bodycam.commands import deploy
    a = build_parser().parse_args(["deploy", "--port", "x", "--preroll-full", "10"])
    assert deploy.settings_from_args(a)["preroll_full_s"] == 10
    a = build_parser().parse_args(["deploy", "--port", "x", "--preroll-full", "off"])
    assert deploy.settings_from_args(a)["preroll_full_s"] == "off"
    p = subprocess.run([sys.executable, "-m", "bodycam", "deploy", "--preroll-full", "ten"],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "a whole number (e.g. 10) or 'off'" in p.stderr
