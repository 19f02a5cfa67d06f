"""bodycam doctor on the virtual board: every check, each failure with what
to do, the SD test refused while recording, a port that is not bodycam."""
import argparse
import json
import socket
import subprocess
import sys

from bodycam.commands import doctor
from bodycam.sim import VirtualBoard


def args(port, **kw):
    a = argparse.Namespace(port=port, json=True, button_wait=20, sd_kb=256)
    a.__dict__.update(kw)
    return a


def run_doctor(capsys, port, **kw):
    rc = doctor.run(args(port, **kw), say=lambda m: None)
    report = json.loads(capsys.readouterr().out)
    return rc, {c["name"]: c for c in report["checks"]}


def test_doctor_on_a_fresh_virtual_board(tmp_path, capsys):
    with VirtualBoard(speed=5, state_dir=str(tmp_path / "s")) as vb:
        vb.wait_recording_ready(timeout=60)
        rc, c = run_doctor(capsys, vb.port_url)
        assert rc == 1  # a fresh board: clock unset, no device key
        for name in ("firmware", "memory", "camera", "storage", "button", "leds"):
            assert c[name]["ok"], c[name]
        assert 4 <= c["camera"]["fps"] <= 6  # 5 fps configured, counted in board time
        assert c["storage"]["write"]["bytes"] == 256 * 1024 and c["storage"]["write"]["bytes_per_s"] > 0
        assert sorted(c["leds"]["leds"]) == ["flash", "status"]
        assert "press seen" in c["button"]["text"]
        assert not c["clock"]["ok"] and "--set-clock" in c["clock"]["do"]
        assert not c["key"]["ok"] and "bodycam deploy" in c["key"]["do"]
        assert any("tapped for the firmware" in m for _, m in vb.events)
        # the temporary file is gone
        assert "DOCTOR.TMP" not in [n for n, _, _ in vb.sd_listdir("clips")]
        # while recording, the SD test is refused with what to do
        vb.tap()
        vb.sleep_board(1000)
        rc, c = run_doctor(capsys, vb.port_url, button_wait=0)
        assert not c["storage"]["ok"] and "recording" in c["storage"]["text"]
        assert "hold the button" in c["storage"]["do"]


def test_doctor_names_a_missing_card(tmp_path, capsys):
    with VirtualBoard(speed=5, sd="none", state_dir=str(tmp_path / "s")) as vb:
        vb.wait_recording_ready(timeout=60)
        rc, c = run_doctor(capsys, vb.port_url, button_wait=0)
        assert rc == 1
        assert not c["storage"]["ok"] and "no_card" in c["storage"]["text"]
        assert "insert a card" in c["storage"]["do"]


def test_doctor_on_a_port_that_is_not_bodycam(capsys):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        p = subprocess.run([sys.executable, "-m", "bodycam", "doctor", "--port",
                            "socket://127.0.0.1:%d" % srv.getsockname()[1]],
                           capture_output=True, text=True, timeout=60)
    finally:
        srv.close()
    assert p.returncode == 1
    assert "does not answer as a bodycam board" in p.stdout and "bodycam flash" in p.stdout
