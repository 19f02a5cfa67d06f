"""`bodycam pull` against the virtual board (bodycam.sim: the whole firmware
on the unix port behind an RFC 2217 port with a paced UART): clips come
over serial bit-exact while the board keeps recording, the clip being
recorded stays on the board, the audit log comes last, the baud steps up
(921600, then 2 Mbaud) and back, and mpremote can still interrupt the
firmware afterwards."""
import json
import os
import subprocess
import sys

import pytest

from bodycam.offload import pull_all
from bodycam.sim import VirtualBoard
from stationkit import record


@pytest.fixture
def vb(tmp_path):
    # speed 2: the clip recorded during the first pull stays small
    with VirtualBoard(state_dir=str(tmp_path / "board"), speed=2, cpu="host", settings={"preroll_s": 2, "framesize": "QVGA"}) as b:
        b.wait_recording_ready(timeout=60)
        yield b


def test_pull_while_recording_then_the_rest_and_mpremote_still_works(vb, tmp_path):
    first = record(vb, 2000)
    vb.tap()  # a second clip is being recorded while we pull
    vb.sleep_board(1000)
    want = {ext: vb.read_sd_file("clips/" + first + ext) for ext in (".AVI", ".JSON")}
    out = str(tmp_path / "out")
    s = pull_all(vb.port_url, out, delete=True, baud=921600, progress=False, say=lambda m: None)
    assert s["errors"] == [] and s["baud"] == 921600
    assert sorted(s["pulled"]) == sorted([first + ".AVI", first + ".JSON", "AUDIT.LOG"])
    assert s["pulled"][-1] == "AUDIT.LOG"
    assert s["busy"] == ["BC000002.AVI"]
    for ext in (".AVI", ".JSON"):
        with open(os.path.join(out, first + ext), "rb") as f:
            assert f.read() == want[ext]
    # deleted only what was verified; the clip being recorded and the log stay
    left = {n for n, size, d in vb.sd_listdir("clips")}
    assert first + ".AVI" not in left and "BC000002.AVI" in left and "AUDIT.LOG" in left
    assert vb.uart_stats()["board_baud"] == 115200  # back where mpremote expects it

    vb.hold(3500)  # stop the second clip; it comes with the next pull
    second = vb.wait_for_clip([], timeout=120)  # the first one is gone from the card
    assert second == "BC000002"
    # 2 Mbaud, the CH340's top rate: the UART runs at what the ESP32's
    # divider makes of it (exactly 2,000,000), whatever termios knows
    s = pull_all(vb.port_url, out, baud=2000000, progress=False, say=lambda m: None)
    assert s["errors"] == [] and s["warnings"] == [] and s["baud"] == 2000000 and second + ".AVI" in s["pulled"]
    assert vb.uart_stats()["board_baud"] == 115200
    # above the boot speed the dock wrote through UART1's TX ring on the
    # REPL's pins, and gave them back to UART0 after (firmware/dockuart.py)
    said = [m for t, m in vb.events if m.startswith("the firmware set the UART")]
    assert "the firmware set the UART to 2000000 baud (UART1 drives TX at 2000000)" in said
    assert said[-1] == "the firmware set the UART to 115200 baud"
    with open(os.path.join(out, second + ".AVI"), "rb") as f:
        assert f.read() == vb.read_sd_file("clips/" + second + ".AVI")

    # The dock leaves Ctrl-C alone: mpremote interrupts the firmware as usual.
    p = subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port_url, "resume", "exec", "print(6*7)"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "42" in p.stdout, p.stderr


def test_pull_over_the_boards_kernel_tty_with_baud_auto_takes_the_ch340s_2_mbaud(vb, tmp_path, capsys):
    # The same UART as a plain serial device (/dev/pts/N, opened as
    # /dev/ttyUSB0 would be), standing for the ESP32-CAM-MB's CH340: --baud
    # auto picks 2,000,000 for it, the host sets its tty's speed, the
    # simulator follows it, and the dock steps up and back.
    from bodycam import cli
    from bodycam.device import portfind
    assert vb.tty_path.startswith("/dev/") and portfind.auto_baud(vb.tty_path) == 2000000
    assert vb.tty_path not in [p.device for p in portfind.adapters()]  # never listed as plugged in
    code = cli.main(["pull", "--port", vb.tty_path, "--out", str(tmp_path / "out"), "--baud", "auto", "--json"])
    s = json.loads(capsys.readouterr().out)
    assert code == 0 and s["baud"] == 2000000 and s["warnings"] == [] and "AUDIT.LOG" in s["pulled"]
    st = vb.uart_stats()
    assert st["board_baud"] == 115200 and st["tty"]["to_host"] > 0 and st["tty"]["dropped"] == 0
