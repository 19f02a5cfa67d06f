# Virtual board only: the script the simulator starts MicroPython's unix
# port with (`micropython -i vboard_boot.py`), standing in for the ESP32's
# startup: mount storage, run boot.py, then main.py unless the REPL was in
# raw mode at the soft reset (as ports/esp32/main.c does), then the REPL.
# boot.py and main.py run in the REPL's globals, as on the board.
import sys


def _run(path, g):
    with open(path) as f:
        src = f.read()
    exec(compile(src, path.lstrip("/"), "exec"), g)


def _exists(path):
    import os
    try:
        return os.stat(path)[0] & 0x8000 != 0
    except OSError:
        return False


def _start(g):
    import vboard
    try:
        link = vboard.boot()
    except Exception as e:
        print("virtual board: boot failed:")
        sys.print_exception(e)
        return
    if _exists("/boot.py"):
        try:
            _run("/boot.py", g)
        except Exception as e:
            sys.print_exception(e)
    if link.mode == "run":
        # A main.py deployed to the flash wins over the built-in firmware.
        # The esp32 CPU model charges the firmware's time, not the REPL's.
        cpu = getattr(link, "cpu", None)
        if cpu is not None:
            cpu.firmware(True)
        try:
            _run("/main.py" if _exists("/main.py") else "/rom/main.py", g)
        finally:
            if cpu is not None:
                cpu.firmware(False)


if __name__ == "__main__":
    _start(globals())
