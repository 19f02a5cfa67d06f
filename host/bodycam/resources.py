"""Where the firmware and board profiles are (inside the installed package),
and the firmware modules the host shares with the device."""
import importlib.util
import os
from functools import lru_cache

_PKG = os.path.dirname(os.path.abspath(__file__))


def _data_dir(name):
    # Installed: bodycam/<name>/ inside the package. Source tree or editable
    # install: <repo>/<name>/ beside host/.
    for d in (os.path.join(_PKG, name), os.path.join(_PKG, "..", "..", name)):
        if os.path.isdir(d):
            return os.path.normpath(d)
    raise FileNotFoundError("bodycam's %s/ folder is missing from %s: reinstall bodycam" % (name, _PKG))


def firmware_dir():
    return _data_dir("firmware")


def board_side_dir():
    """The virtual board's own device-side modules (its HAL: camera, pins,
    UART, storage, boot), MicroPython files that play the part of the ESP32
    port's built-in modules. Never deployed: firmware/ holds only what goes
    onto a board."""
    return os.path.join(_PKG, "sim", "board_side")


def boards_dir():
    return _data_dir("boards")


@lru_cache(maxsize=None)
def shared(name):
    """Load a dependency-free firmware module (settings, boardcfg, clock, avi)
    by path, so host and device run the very same checks. It is registered
    under a private name: the firmware's flat module names stay off the
    host's import path."""
    path = os.path.join(firmware_dir(), name + ".py")
    spec = importlib.util.spec_from_file_location("bodycam._fw_" + name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
