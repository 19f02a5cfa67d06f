"""Settings checked against what the camera and its driver can take
(firmware/settings.py, issue 22): the JPEG buffer is width*height/5
(esp32-camera cam_hal.c), cnadler86 maps quality 0-100 onto the sensor's
QS 63-0 and keeps at most 2 frame buffers (src/modcamera.c v0.6.0), the
OV2640 free-runs at 50/25/12.5 fps by frame size. plan, deploy and the
firmware refuse the same combinations and name the nearest that works."""
import json
import math
import subprocess
import sys

import pytest

from bodycam.resources import shared

s = shared("settings")


def test_quality_maps_onto_the_sensor_as_cnadler86s_c_code_does():
    # map(q, 0, 100, 63, 0): (q - 0) * (0 - 63) / (100 - 0) + 63 in C ints (truncation toward zero)
    for q in range(0, 101):
        assert s.driver_qs(q) == math.trunc(q * (0 - 63) / 100) + 63
    assert (s.driver_qs(85), s.driver_qs(100), s.driver_qs(10)) == (10, 0, 57)


def test_a_frame_fits_the_buffer_only_with_room_for_the_drivers_last_copy():
    # cam_hal.c stops with FB-OVF when len + 1024 would pass fb_size
    assert s.fb_bytes("VGA") == 61440 and s.fb_bytes("QQVGA") == 3840
    assert s.frame_fits("VGA", 61439) and not s.frame_fits("VGA", 61440)
    assert s.frame_fits("QQVGA", 3071) and not s.frame_fits("QQVGA", 3072)


@pytest.mark.parametrize("given,msg,nearest", [
    ({"framesize": "QQVGA"}, "overflows the camera driver's 3840-byte frame buffer",
     [{"framesize": "QQVGA", "jpeg_quality": 69}, {"framesize": "HQVGA"}]),
    ({"framesize": "QCIF"}, "overflows the camera driver's 5068-byte frame buffer",
     [{"framesize": "QCIF", "jpeg_quality": 74}]),
    ({"jpeg_quality": 100}, "overflows the camera driver's 61440-byte frame buffer", [{"jpeg_quality": 99}]),
    ({"fps": 30}, "faster than the OV2640 makes VGA frames (25 fps", [{"fps": 25}]),
])
def test_what_the_driver_cannot_take_is_refused_with_the_nearest_that_works(given, msg, nearest):
    with pytest.raises(s.SettingsError, match="the nearest") as e:
        s.validate(given)
    assert msg in str(e.value)
    for near in nearest:
        word = " or ".join("%s %s" % kv for kv in near.items() if kv[0] != "framesize" or len(near) == 1)
        assert word in str(e.value)
        s.validate(near)  # ...and it is accepted


def test_fb_count_is_what_cnadler86_honours():
    for n in (1, 2):
        assert s.validate({"fb_count": n})["fb_count"] == n
    with pytest.raises(s.SettingsError, match="at most 2 frame buffers"):
        s.validate({"fb_count": 3})
    # the memory plan counts the buffers the driver really takes
    assert s.camera_bytes("VGA", 2) == 2 * 61440


def test_the_firmware_refuses_the_same_on_micropython(run_mpy):
    out = run_mpy("""
import json, settings
res = []
for d in ({"framesize": "QQVGA"}, {"fps": 30}, {"jpeg_quality": 99}):
    try:
        settings.validate(d)
        res.append("ok")
    except settings.SettingsError as e:
        res.append(str(e))
print(json.dumps(res))
""")
    assert "3840-byte frame buffer" in out[0] and "25 fps" in out[1] and out[2] == "ok"


def plan(*args):
    return subprocess.run([sys.executable, "-m", "bodycam", "plan", *args], capture_output=True, text=True)


def test_plan_says_what_the_driver_cannot_take_and_what_would_work():
    p = plan("--framesize", "QQVGA")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "camera: does NOT work" in p.stdout and "jpeg_quality 69" in p.stdout
    assert plan("--framesize", "QQVGA", "--jpeg-quality", "69").returncode == 0
    d = json.loads(plan("--framesize", "VGA", "--fps", "30", "--json").stdout)
    assert "fps 25" in d["driver_problem"]
    assert plan("--fb-count", "3").returncode == 2  # out of range: an error, as any bad value


def test_memory_suggestions_never_name_a_frame_size_the_driver_cannot_take():
    p = s.plan(4 << 20, s.validate({"framesize": "VGA", "fps": 25, "preroll_s": 120}))
    assert not p["fits"]
    fs = p["suggest"].get("framesize")
    assert fs is None or s.quality_fits(fs, 85)


def test_deploy_refuses_before_touching_the_board():
    from bodycam.device.deploying import choose_settings
    with pytest.raises(ValueError, match="jpeg_quality 69"):
        choose_settings("ai-thinker-esp32-cam", {"framesize": "QQVGA"}, None)


def test_the_size_table_is_the_virtual_sensors():
    # firmware/settings.py QS_SIZE was measured on the virtual OV2640 (bench/quality.py)
    from bodycam.sim.scene import size_factors
    got = size_factors(["QVGA", "VGA"], [1, 4, 20, 50])
    table = dict(s.QS_SIZE)
    for qs, f in got.items():
        assert f == pytest.approx(table[qs], rel=0.1), qs
