"""Calibration of the virtual board's CPU model: one fixed workload
(pystone_lowmem, the benchmark behind the ESP32 figures) run ON the virtual
board with the esp32 CPU, timed in board time, next to the ESP32 reference
(1,000-1,600 pystones/s at 240 MHz: micropython/micropython #6565, #5673);
it passes when within +-30% of the 1,300 the model is built on. Also a GC
of a heap holding a 3 MB bytearray (the ring's size on the AI-Thinker), in
board ms, next to the ~100 ms reported for a SPIRAM heap (micropython
#8428). Prints one JSON object.

    python bench/cpu.py [--loops 2000] [--speed 1]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

from bodycam.sim import VirtualBoard
from bodycam.sim import cpu as cpumodel

BOARD_PART = """
import gc, json, vboard
ticks_ms = vboard.LINK.ticks_ms  # pystone times itself with this: board time
vboard.LINK.cpu.firmware(True)  # charge this REPL code as the firmware's (the model leaves the REPL free)
gc.collect()
ms, stones = pystones(%d)
big = bytearray(3 * 1024 * 1024)
gc.collect()
t0 = ticks_ms()
for _ in range(%d):
    gc.collect()
gc_ms = (ticks_ms() - t0) / %d
print("BENCH " + json.dumps({"pystone_ms": ms, "pystones_per_s": stones, "gc_3mb_ms": gc_ms}))
"""


def run_on_board(loops, gcs, speed):
    src = os.path.join(os.path.dirname(cpumodel.__file__), "pystone_lowmem.py")
    with open(src) as f:
        body = f.read().split("if __name__ == '__main__':")[0]
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "bench_cpu.py")
        with open(script, "w") as f:
            f.write(body + BOARD_PART % (loops, gcs, gcs))
        # a board with 8 MB of heap, so the 3 MB bytearray fits beside the REPL
        with VirtualBoard(state_dir=os.path.join(d, "s"), speed=speed, card="host", cpu="esp32",
                          settings={"framesize": "QVGA"}) as vb:
            vb.wait_recording_ready(timeout=60)
            t0 = time.time()
            out = subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port_url, "run", script],
                                 capture_output=True, text=True, timeout=600)
            wall = time.time() - t0
    line = [x for x in out.stdout.splitlines() if x.startswith("BENCH ")]
    if not line:
        raise SystemExit("the board did not answer: %s %s" % (out.stdout[-500:], out.stderr[-500:]))
    r = json.loads(line[0][6:])
    r["wall_s"] = round(wall, 2)
    return r


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loops", type=int, default=2000)
    ap.add_argument("--gcs", type=int, default=3)
    ap.add_argument("--speed", type=float, default=1)
    a = ap.parse_args(argv)
    host = cpumodel.host_pystones()
    board = run_on_board(a.loops, a.gcs, a.speed)
    ref = cpumodel.ESP32_PYSTONES
    ratio = board["pystones_per_s"] / ref
    print(json.dumps({
        "workload": "pystone_lowmem, %d loops" % a.loops,
        "host_pystones_per_s_cpu": round(host),
        "cpu_scale": round(cpumodel.cpu_scale("esp32"), 1),
        "board_pystones_per_s": round(board["pystones_per_s"]),
        "board_pystone_ms": board["pystone_ms"],
        "esp32_reference_pystones_per_s": ref,
        "esp32_reference_range": list(cpumodel.ESP32_PYSTONES_RANGE),
        "ratio_to_reference": round(ratio, 3),
        "within_30_percent": 0.7 <= ratio <= 1.3,
        "gc_collect_ms_3mb_heap": round(board["gc_3mb_ms"], 1),
        "gc_reference_ms": "~100 (SPIRAM heap, micropython #8428)",
        "speed": a.speed, "wall_s": board["wall_s"],
    }, indent=2))


if __name__ == "__main__":
    main()
