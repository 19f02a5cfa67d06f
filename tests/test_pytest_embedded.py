"""Interop with Espressif's pytest-embedded: its serial `dut` opens the
virtual board's rfc2217:// port (pyserial's serial_for_url, as for a USB
adapter), resets the board through DTR/RTS wired as on the ESP32-CAM-MB and
expects the firmware's boot line. pytest-embedded is a test extra."""
import subprocess
import sys

import pytest

from bodycam.sim import VirtualBoard

pytest.importorskip("pytest_embedded_serial")

DUT_TEST = '''
import time


def test_boot_line_after_reset(dut):
    s = dut.serial.proc          # the pyserial port pytest-embedded opened
    s.dtr = False                # RTS alone asserted: EN low, the chip is held in reset
    s.rts = True
    time.sleep(0.3)
    s.rts = False                # EN rises: the chip boots
    dut.expect(r"BODYCAM-BOOT \\{.*\\"board\\": \\"ai-thinker-esp32-cam\\"", timeout=60)
'''


def test_pytest_embedded_dut_expects_the_boot_line_after_a_reset(tmp_path):
    (tmp_path / "test_dut.py").write_text(DUT_TEST)
    with VirtualBoard(speed=1, state_dir=str(tmp_path / "vb")) as vb:
        vb.wait_recording_ready(timeout=60)
        boots = vb.boots
        p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:bodycam",
                            "--embedded-services", "serial", "--port", vb.port_url, "--baud", "115200",
                            str(tmp_path / "test_dut.py")],
                           cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
        assert vb.boots == boots + 1  # the reset really happened
