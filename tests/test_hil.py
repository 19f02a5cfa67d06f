"""Hardware-in-loop: the bodycam tools against a board over its serial port.
With --port (or $BODYCAM_PORT) they run on that real board; otherwise on
the virtual board, which can also press the button for them."""
import hashlib
import json
import subprocess
import sys

import pytest

import bodycam
from bodycam.boards import board_ids

pytestmark = pytest.mark.hardware


def bodycam_cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "bodycam", *args], capture_output=True, text=True, timeout=timeout)


def test_info_reports_a_known_board_running_this_firmware(hil):
    p = bodycam_cli("info", "--port", hil.port_url, "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["board"] in board_ids()
    assert info["firmware"] == bodycam.__version__
    assert info["state"] in ("buffering", "recording", "finalizing")


def test_recorded_clip_comes_off_the_board_bit_exact_and_meets_its_targets(hil, tmp_path):
    if hil.vb is not None:
        hil.vb.sleep_board(32000)  # buffer past the 30 s pre-roll
        hil.vb.tap()
        hil.vb.sleep_board(3000)
        hil.vb.hold(3500)
        hil.vb.wait_for_clip(timeout=60)
    out = tmp_path / "pulled"
    # 921600 baud: a 2 MB clip takes ~25 s instead of ~3 min (the pull falls
    # back to the boot speed by itself where the adapter cannot)
    p = bodycam_cli("pull", "--port", hil.port_url, "--out", str(out), "--quiet", "--baud", "921600")
    assert p.returncode == 0, p.stdout + p.stderr
    sidecars = sorted(out.glob("BC*.JSON"))
    if hil.real and not sidecars:
        pytest.skip("the real board holds no clips yet: press record on it, then run again")
    assert sidecars
    for sc_path in sidecars:
        sc = json.loads(sc_path.read_text())
        avi = out / sc["clip"]
        assert hashlib.sha256(avi.read_bytes()).hexdigest() == sc["avi_sha256"]
    if hil.vb is not None:
        newest = sidecars[-1]
        chk = bodycam_cli("check", str(out / json.loads(newest.read_text())["clip"]), "--json")
        assert chk.returncode == 0, chk.stdout + chk.stderr
        assert json.loads(chk.stdout)["preroll_ms"] >= 30000


def test_mpremote_can_still_interrupt_the_firmware_and_use_the_repl(hil):
    p = subprocess.run([sys.executable, "-m", "mpremote", "connect", hil.port_url, "exec", "print(6*7)"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "42" in p.stdout
