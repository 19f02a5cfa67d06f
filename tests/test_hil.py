"""Hardware-in-loop, through the package's pytest plugin (bodycam.pytest_plugin):
with --bodycam-port (or $BODYCAM_PORT) these run on that real board, which
must be deployed with `bodycam deploy --test-hooks` so the tests can press
its button; otherwise on a virtual board. The plugin's real-board path is
also tested here against a virtual board deployed with test hooks."""
import hashlib
import json
import socket
import subprocess
import sys
import threading
import time

import pytest

import bodycam
from bodycam.boards import board_ids
from bodycam.pytest_plugin import BoardError, RealBoard

pytestmark = pytest.mark.hardware


def bodycam_cli(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "bodycam", *args], capture_output=True, text=True, timeout=timeout)


def new_clip(board, known, timeout=90):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        new = [c for c in board.clips() if c not in known]
        if new:
            return new[0]
        time.sleep(1)
    raise AssertionError("no new clip on the board within %d s" % timeout)


def record(board, before_ms=32000, during_ms=3000):
    known = board.clips()
    board.sleep(before_ms)  # buffer past the 30 s pre-roll
    board.tap()
    board.sleep(during_ms)
    board.hold(3500)
    return new_clip(board, known)


def test_info_reports_a_known_board_running_this_firmware(board):
    info = board.info()
    assert info["board"] in board_ids()
    assert info["firmware"] == bodycam.__version__
    assert info["state"] in ("buffering", "recording", "finalizing")
    assert info["health"]["storage"]["ok"], info["health"]  # a board under test needs its card


def test_record_pull_check_on_the_board(board, tmp_path):
    name = record(board)
    out = tmp_path / "pulled"
    summary = board.pull(out, baud=921600)
    assert not summary["errors"], summary
    sc = json.loads((out / (name + ".JSON")).read_text())
    avi = out / sc["clip"]
    assert hashlib.sha256(avi.read_bytes()).hexdigest() == sc["avi_sha256"]
    chk = bodycam_cli("check", str(avi), "--json")
    assert chk.returncode == 0, chk.stdout + chk.stderr
    assert json.loads(chk.stdout)["preroll_ms"] >= 30000
    if board.real:
        assert sc["test_trigger"]["triggers"] >= 2  # the clip says a test pressed for it


def test_mpremote_can_still_interrupt_the_firmware_and_use_the_repl(board):
    p = subprocess.run([sys.executable, "-m", "mpremote", "connect", board.port_url, "exec", "print(6*7)"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "42" in p.stdout


@pytest.mark.bodycam_real
def test_real_board_keeps_its_clock_across_a_reset(board):
    before = board.info()["clock"]["set"]
    board.reset()
    assert board.info()["clock"]["set"] == before


# --- the plugin's real-board path, on a virtual board --------------------------------

def test_real_board_presses_go_through_test_hooks_and_mark_the_clip(tmp_path):
    from bodycam.sim import VirtualBoard
    # Real time: deploy checks the clock. Host CPU: under the esp32 CPU model
    # mpremote's raw-REPL upload times out (docs/virtual-board.md, limits).
    with VirtualBoard(speed=1, state_dir=str(tmp_path / "vb"), cpu="host") as vb:
        vb.wait_recording_ready(timeout=60)
        real_board_path(vb, tmp_path)


def real_board_path(vb, tmp_path):
    p = bodycam_cli("deploy", "--port", vb.port_url, "--test-hooks", "--preroll", "4", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    assert any(n.startswith("testhooks.") for n in json.loads(p.stdout)["sent"])
    vb.wait_recording_ready(timeout=60)
    b = RealBoard(vb.port_url)
    b.check()
    known = b.clips()
    vb.sleep_board(5000)
    b.tap()
    vb.sleep_board(2000)
    b.hold(3500)
    name = new_clip(b, known)
    out = tmp_path / "pulled"
    assert not b.pull(out, baud=921600)["errors"]  # (115200 took 52 s of this test)
    sc = json.loads((out / (name + ".JSON")).read_text())
    assert sc["test_trigger"] == {"triggers": 2}
    assert sc["stop"]["reason"] == "hold"
    log = (out / "AUDIT.LOG").read_text()
    assert log.count('"test_trigger"') >= 2
    # a plain deploy takes the hooks off again, and a press then says what to do
    p = bodycam_cli("deploy", "--port", vb.port_url, "--preroll", "4", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    assert any(n.startswith("testhooks.") for n in json.loads(p.stdout)["removed"])
    vb.wait_recording_ready(timeout=60)
    with pytest.raises(BoardError, match="bodycam deploy --port .* --test-hooks"):
        b.tap()


def test_a_port_that_answers_but_is_not_bodycam_fails_clearly():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def chatter():
        conn, _ = srv.accept()
        conn.settimeout(0.1)
        while not stop.is_set():
            try:
                conn.recv(256)
            except OSError:
                pass
            try:
                conn.sendall(b"GPS $GPRMC,123519,A,4807.038,N*6A\r\n")
            except OSError:
                return
        conn.close()

    t = threading.Thread(target=chatter, daemon=True)
    t.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(BoardError, match="does not answer as a bodycam board.*bodycam deploy"):
            RealBoard("socket://127.0.0.1:%d" % srv.getsockname()[1]).check()
    finally:
        stop.set()
        srv.close()
    assert time.monotonic() - t0 < 30  # bounded


def test_test_hooks_module_compiles_for_the_board(tmp_path, run_mpy):
    import os

    from bodycam.device import upy
    from bodycam.resources import firmware_dir
    src = os.path.join(firmware_dir(), "hooks", "testhooks.py")
    out = upy.compile_mpy(src, str(tmp_path / "testhooks.mpy"))
    assert open(out, "rb").read()[:1] == b"M"
    assert run_mpy("import sys\nsys.path.append(%r)\nimport testhooks\nprint('\"ok\"')"
                   % os.path.dirname(src)) == "ok"
