"""The virtual board's ROM: the firmware as a deployed board holds it,
compiled to .mpy by mpy-cross (bodycam deploy does the same; main.py stays
a source file, as only main.py runs at boot). Importing .py source would
make the board compile every module at boot, and the CPU model would bill
that compilation as ESP32 time: seconds a real board never spends. Built
once per firmware version into the user's cache."""
import hashlib
import os
import shutil
import tempfile

from bodycam.resources import firmware_dir


def _cache_root():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bodycam", "vboard-rom")


def firmware_digest():
    """SHA-256 over the firmware's sources (and mpy-cross's format), naming the cached ROM."""
    from bodycam.device.deploying import mpy_cross_version
    h = hashlib.sha256(repr(mpy_cross_version()).encode())
    src = firmware_dir()
    for n in sorted(os.listdir(src)):
        if n.endswith(".py"):
            h.update(n.encode() + b"\0")
            with open(os.path.join(src, n), "rb") as f:
                h.update(f.read())
    return h.hexdigest()[:16]


def compiled_rom():
    """A folder holding the firmware as a deployed board does; made the
    first time (about a second), then reused. Falls back to the sources
    when mpy-cross cannot be run."""
    from bodycam.device.deploying import DeployError, firmware_files, mpy_cross_version
    try:
        digest = firmware_digest()
    except (DeployError, OSError):
        return firmware_dir()
    path = os.path.join(_cache_root(), digest)
    if os.path.isdir(path):
        return path
    os.makedirs(_cache_root(), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="rom-", dir=_cache_root())
    try:
        with tempfile.TemporaryDirectory() as work:
            files = firmware_files(mpy_cross_version(), work)
        for name, data in files.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
        shutil.copytree(os.path.join(firmware_dir(), "hooks"), os.path.join(tmp, "hooks"))
        try:
            os.rename(tmp, path)  # atomic: a board made meanwhile sees all of it or none
        except OSError:
            pass  # another board got there first
    except (DeployError, OSError):
        return firmware_dir()
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return path
