"""`bodycam info`, `bodycam ls` and `bodycam pull` as a user runs them, on
a port URL (socket:// to the offload rig: the firmware's dock on the unix
port)."""
import json
import os
import subprocess
import sys

import pytest

from bodycam import cli
from rig.offload import DockRig


@pytest.fixture
def rig(tmp_path):
    r = DockRig(str(tmp_path / "rig"), clips=[1, 0], paced=False, frame_busy=5, frame_size=(160, 120))
    yield r
    r.close()


def bodycam(*args):
    p = subprocess.run([sys.executable, "-m", "bodycam"] + list(args), capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def test_info_ls_pull_delete(rig, tmp_path):
    url = rig.serve_tcp()
    code, out, err = bodycam("info", "--port", url)
    assert code == 0, err
    assert "ai-thinker-esp32-cam" in out and "buffering" in out and "not set" in out
    code, out, err = bodycam("info", "--port", url, "--set-clock", "--json")
    assert code == 0 and json.loads(out)["clock"]["set"] is True
    code, out, err = bodycam("ls", "--port", url)
    assert code == 0
    lines = out.splitlines()
    assert [ln.split()[0] for ln in lines[:-1]] == ["BC000001.AVI", "BC000001.JSON", "BC000002.AVI", "BC000002.JSON"]
    assert lines[-1].startswith("4 files")
    dest = tmp_path / "clips"
    code, out, err = bodycam("pull", "--port", url, "--out", str(dest), "--delete")
    assert code == 0, err
    assert "pulled 4 files" in out and "deleted 4 from the device" in out
    assert sorted(os.listdir(dest)) == ["BC000001.AVI", "BC000001.JSON", "BC000002.AVI", "BC000002.JSON"]
    code, out, err = bodycam("ls", "--port", url, "--json")
    assert code == 0 and json.loads(out) == []


def test_pull_json_summary_and_errors_exit_1(rig, tmp_path, capsys):
    url = rig.serve_tcp()
    dest = tmp_path / "clips"
    dest.mkdir()
    (dest / "BC000002.JSON").write_text("{}")  # not the device's file
    code = cli.main(["pull", "--port", url, "--out", str(dest), "--json"])
    s = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [e["file"] for e in s["errors"]] == ["BC000002.JSON"]
    assert sorted(s["pulled"]) == ["BC000001.AVI", "BC000001.JSON", "BC000002.AVI"]


def test_nothing_there_is_a_plain_error(tmp_path, capsys):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there
    code = cli.main(["ls", "--port", "socket://127.0.0.1:%d" % port])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("bodycam ls: error: cannot open socket://127.0.0.1:%d" % port)


def test_progress_line_shows_bytes_rate_and_time_left():
    import io
    import time

    from bodycam.progress import Progress
    out = io.StringIO()
    p = Progress(5000000, stream=out, every=0, force=True)
    p.start_file("BC000001.AVI")
    p.samples = [(time.monotonic() - 2.0, 0)]  # 2 s ago, nothing yet
    p.add(23040)  # 11.5 kB/s over those 2 s
    line = out.getvalue().split("\r")[-1]
    assert "BC000001.AVI" in line and "23.0 kB / 5.0 MB" in line and "kB/s" in line
    eta = line.split("ETA ")[1].strip()
    m, s = eta.split(":")
    assert 400 < int(m) * 60 + int(s) < 460  # (5 MB - 23 kB) / 11.5 kB/s ~ 433 s
    p.clear()
    assert out.getvalue().endswith("\r")


def test_pull_from_a_tty_device_path(tmp_path):
    # A real serial device path: the firmware's end is a pty master, the
    # host opens the slave /dev/pts/N the way it opens /dev/ttyUSB0.
    import pty

    from bodycam.device import upy
    from rig.offload import DEVICE_SCRIPT
    r = DockRig(str(tmp_path / "rig"), clips=[1, 0], paced=False, frame_busy=5, frame_size=(160, 120))
    r.stop_device()
    master, slave = pty.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    proc = subprocess.Popen([upy.micropython_exe(), "-X", "heapsize=4194304", DEVICE_SCRIPT, "run"], cwd=r.dir,
                            stdin=master, stdout=master, stderr=subprocess.PIPE, env=upy.micropython_env())
    try:
        dest = tmp_path / "clips"
        code = cli.main(["pull", "--port", path, "--out", str(dest), "--quiet"])
        assert code == 0
        clips = os.path.join(r.dir, "sd", "clips")
        for n in ("BC000001.AVI", "BC000001.JSON", "BC000002.AVI", "BC000002.JSON"):
            assert (dest / n).read_bytes() == open(os.path.join(clips, n), "rb").read()
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
        r.close()
