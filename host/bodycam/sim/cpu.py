"""The virtual board's CPU speed: how many board microseconds one microsecond
of this host's CPU time is worth, so the firmware's Python (GC included)
takes about as long in board time as on an ESP32 at 240 MHz.

Reference: MicroPython's pystone_lowmem on an ESP32 at 240 MHz runs 1,000-
1,600 pystones/s (micropython/micropython #6565: 1,602 on v1.12, 1,014 on
v1.13; #5673: 499-1,661 depending on the build). We take 1,300. The host's
rate is measured here once per process with the same benchmark on the same
MicroPython unix port the board runs, in CPU time (not wall time, so a
loaded machine does not make the board slower); the ratio is the scale the
board side (firmware/vboard_costs.py) applies to its own CPU time."""
import json
import os
import subprocess

from bodycam.device import upy
from bodycam.sim.errors import SimError

CPUS = ("esp32", "host")
DEFAULT_CPU = "esp32"
ESP32_PYSTONES = 1300  # pystones/s, ESP32 @ 240 MHz, MicroPython (see above)
ESP32_PYSTONES_RANGE = (1000, 1600)

_MEASURE = """
import sys, json
sys.path.insert(0, %r)
import pystone_lowmem as p
try:
    f = open("/proc/self/schedstat", "rb")
    def cpu_us():
        f.seek(0)
        return int(f.read().split()[0]) // 1000
except OSError:
    import time
    def cpu_us():
        return int(time.clock() * 1000000)
p.Proc0(%d)  # warm up first: a fresh process measured cold reads the host as slower than it runs
best = None
for _ in range(%d):
    c0 = cpu_us()
    p.Proc0(%d)
    us = cpu_us() - c0
    if us > 0 and (best is None or us < best):
        best = us
print(json.dumps(%d * 1000000 / best))
"""

_cache = {}


def check_cpu(name):
    if name not in CPUS:
        raise SimError("unknown cpu %r: use one of %s" % (name, ", ".join(CPUS)))
    return name


def host_pystones(loops=5000, runs=5):
    """pystones per second of host CPU time on the MicroPython unix port."""
    key = (loops, runs)
    if key not in _cache:
        code = _MEASURE % (os.path.dirname(os.path.abspath(__file__)), loops, runs, loops, loops)
        out = subprocess.run([upy.micropython_exe(), "-c", code], capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise SimError("could not measure this host's MicroPython speed: %s" % out.stderr.strip()[-500:])
        _cache[key] = json.loads(out.stdout.strip().splitlines()[-1])
    return _cache[key]


_CALIBRATE = """
import sys, json
sys.path.insert(0, %r)
import vboard_costs
print(json.dumps(vboard_costs.calibrate()))
"""


def bookkeeping():
    """What the board side's own CPU-model bookkeeping costs on this host
    (a HAL call's clock reads, a block op's framing, a hold's sleep), in
    host ns: measured once per process, at length, on the same unix port
    (board_side/vboard_costs.py), so each boot can leave it out exactly."""
    if "bookkeeping" not in _cache:
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "board_side")
        out = subprocess.run([upy.micropython_exe(), "-c", _CALIBRATE % here], capture_output=True, text=True,
                             timeout=120)
        if out.returncode != 0:
            raise SimError("could not measure the CPU model's bookkeeping: %s" % out.stderr.strip()[-500:])
        _cache["bookkeeping"] = json.loads(out.stdout.strip().splitlines()[-1])
    return _cache["bookkeeping"]


def cpu_scale(name):
    """Board us per host CPU us for cpu `name` (None: no CPU cost, "host")."""
    check_cpu(name)
    if name == "host":
        return None
    return host_pystones() / ESP32_PYSTONES
