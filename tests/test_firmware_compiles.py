"""Every firmware file (and every module of the virtual board's device
side) compiles with mpy-cross and imports on the unix port."""
import os

import pytest

from bodycam.device import upy
from bodycam.resources import board_side_dir, firmware_dir

FILES = sorted(f for f in os.listdir(firmware_dir()) if f.endswith(".py"))
SIDE = sorted(f for f in os.listdir(board_side_dir()) if f.endswith(".py"))
# Modules that need the ESP32's hardware modules (machine.Pin, camera, vfs
# SD card) or run the loop forever on import.
NOT_IMPORTABLE_ON_UNIX = {"hal_esp32.py", "main.py"}


def test_firmware_has_files():
    assert {"ring.py", "button.py", "recorder.py", "clip.py", "avi.py", "main.py"} <= set(FILES)


@pytest.mark.parametrize("path", [os.path.join(firmware_dir(), f) for f in FILES] +
                         [os.path.join(board_side_dir(), f) for f in SIDE], ids=FILES + SIDE)
def test_mpy_cross_compiles(path, tmp_path):
    name = os.path.basename(path)
    out = upy.compile_mpy(path, str(tmp_path / (name[:-3] + ".mpy")))
    data = open(out, "rb").read()
    assert data[:1] == b"M" and len(data) > 8


def test_mpy_cross_rejects_cpython_only_syntax(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(x):\n    match x:\n        case 1: return 1\n")
    with pytest.raises(RuntimeError, match="mpy-cross failed"):
        upy.compile_mpy(str(bad), str(tmp_path / "bad.mpy"))


@pytest.mark.parametrize("name", [f for f in FILES if f not in NOT_IMPORTABLE_ON_UNIX])
def test_imports_on_micropython(name, run_mpy):
    mod = name[:-3]
    assert run_mpy("import %s\nprint('\"ok\"')" % mod) == "ok"
