"""What frame rate a flash-storage board sustains (bodycam.sim.costs.FLASH_FPS):
records a clip on the virtual board (real littlefs on the modelled SPI
flash, esp32 CPU) for each frame size and rate given, checks it as
`bodycam check` does, and prints JSON per run: ok, mean fps, the check's
problems, frames the camera lost to flash writes, and the largest gap
between a frame's stamp and when the sensor took it.

    python bench/flash_fps.py [--board m5stack-timer-camera] QVGA:2 QVGA:3 VGA:1 ...

Timing-sensitive: the CPU model is calibrated on this host, so a loaded
machine records fewer frames; rerun on a quiet one before changing the
table."""
import argparse
import hashlib
import json
import os
import sys
import tempfile
import time

from bodycam import timing
from bodycam.evidence.avi_reader import read_avi
from bodycam.sim import VirtualBoard


def run(board, fs, fps, live_ms, d):
    t0 = time.time()
    with VirtualBoard(board=board, state_dir=os.path.join(d, "vb"), speed=4, cpu="esp32",
                      settings={"preroll_s": 2, "framesize": fs, "fps": fps}) as vb:
        vb.wait_recording_ready(timeout=120)
        vb.sleep_board(3000)
        vb.tap()
        vb.sleep_board(live_ms)
        vb.hold(3500)
        name = vb.wait_for_clip(timeout=300)
        times = vb.sensor.frame_times()
        driver = vb.sensor.driver.stats()
        avi, side = vb.copy_clip(name, os.path.join(d, "clip"))
    rep = timing.check_clip(avi)
    with open(side) as f:
        meta = json.load(f)
    with open(avi, "rb") as f:
        data = f.read()
    by_sha = {t["sha256"]: t for t in times}
    press = meta["clock"]["press_ticks_ms"]
    late = [abs(press + ms - by_sha[hashlib.sha256(data[o:o + n]).hexdigest()]["exposed_ms"])
            for (o, n), ms in zip(read_avi(avi).frames, meta["frame_ms"])]
    return {"board": board, "framesize": fs, "fps": fps, "ok": rep["ok"], "fps_mean": rep.get("fps_mean"),
            "problems": rep["problems"], "frames": meta["frames"], "lost_to_flash": driver["parked"],
            "stamp_off_max_ms": max(late) if late else None, "wall_s": round(time.time() - t0, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", default="m5stack-timer-camera")
    ap.add_argument("--live-ms", type=int, default=8000)
    ap.add_argument("runs", nargs="+", metavar="FRAMESIZE:FPS")
    a = ap.parse_args(argv)
    for r in a.runs:
        fs, fps = r.split(":")
        with tempfile.TemporaryDirectory() as d:
            print(json.dumps(run(a.board, fs, int(fps), a.live_ms, d)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
