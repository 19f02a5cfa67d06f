"""Bad use of the virtual board gets a clear error that says what to do,
and leaves nothing running or half-made."""
import os
import subprocess
import sys

import pytest

from bodycam.cli import main
from bodycam.sim import SimError, VirtualBoard


def test_unknown_board_lists_the_known_ones(tmp_path):
    with pytest.raises(SimError, match="unknown board 'esp32-potato'; known boards: ai-thinker-esp32-cam, "):
        VirtualBoard(board="esp32-potato", state_dir=str(tmp_path / "s"))
    assert not (tmp_path / "s").exists()  # checked before anything is made


def test_unknown_board_on_the_command_line(capsys):
    assert main(["sim", "--board", "esp32-potato"]) == 2
    err = capsys.readouterr().err
    assert "bodycam sim: error: unknown board 'esp32-potato'; known boards:" in err


def test_state_dir_under_a_file_is_refused(tmp_path):
    f = tmp_path / "afile"
    f.write_text("not a folder")
    with pytest.raises(SimError, match="cannot use .*afile/state as the virtual board's state dir.*pick a folder"):
        VirtualBoard(state_dir=str(f / "state"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_state_dir_is_refused(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    try:
        with pytest.raises(SimError, match="state dir.*pick a folder you can write"):
            VirtualBoard(state_dir=str(d))
    finally:
        d.chmod(0o700)


def test_state_dir_in_use_by_another_board(tmp_path):
    with VirtualBoard(state_dir=str(tmp_path / "s")) as vb:
        with pytest.raises(SimError, match=r"in use by another virtual board \(pid %d\)" % os.getpid()):
            VirtualBoard(state_dir=str(tmp_path / "s"))
        assert vb.state == "running"  # the first one is untouched
    with VirtualBoard(state_dir=str(tmp_path / "s")):  # free once it closed
        pass


def test_state_dir_of_another_board_id(tmp_path):
    with VirtualBoard(state_dir=str(tmp_path / "s")):
        pass
    with pytest.raises(SimError, match="holds a virtual ai-thinker-esp32-cam, not a xiao-esp32s3-sense; "
                                       "use --board ai-thinker-esp32-cam or another --state"):
        VirtualBoard(board="xiao-esp32s3-sense", state_dir=str(tmp_path / "s"))


@pytest.mark.parametrize("kw, msg", [
    ({"speed": 0}, "speed must be more than 0"),
    ({"speed": 5000}, "at most 1000"),
    ({"baud": 6000000}, "cannot run at 6000000 baud: the ESP32.s UART goes up to 5000000"),
    ({"settings": {"fps": 99}}, "settings: setting 'fps' must be a whole number from 1 to 30"),
    ({"settings": {"framerate": 5}}, "unknown setting 'framerate'"),
])
def test_bad_parameters(tmp_path, kw, msg):
    with pytest.raises(SimError, match=msg):
        VirtualBoard(state_dir=str(tmp_path / "s"), **kw)


def test_closing_leaves_no_process_behind(tmp_path):
    with VirtualBoard(state_dir=str(tmp_path / "s")) as vb:
        pid = vb.proc.pid
    assert vb.proc is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_reset_when_off_says_to_power_on(tmp_path):
    with VirtualBoard(state_dir=str(tmp_path / "s")) as vb:
        vb.power_cut()
        with pytest.raises(SimError, match="the board is off: power_on"):
            vb.reset()


def test_sim_command_prints_the_port_url_first_and_takes_console_commands(tmp_path):
    p = subprocess.run([sys.executable, "-m", "bodycam", "sim", "--state", str(tmp_path / "s"), "--speed", "5"],
                       input="status\nfrobnicate\nhold x\nquit\n", capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert out[0].startswith("rfc2217://127.0.0.1:")
    assert any(line.startswith("state running, board time") for line in out)
    assert "unknown command 'frobnicate'; type help" in out
    assert "error: 'x' is not a whole number of milliseconds" in out
    assert out[-1] == "stopped"
    assert "[sim] power on" in p.stderr
