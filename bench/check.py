"""How long `bodycam check` and `bodycam verify` take on an hour of footage.

Run with CPython from the repository root:
    python bench/check.py [--minutes 60] [--fps 10] [--frame-bytes 4000]

Makes one clip of MINUTES at FPS (36000 frames by default) with the
firmware's own recorder, ring, clip writer, audit log and sealer (they run
on CPython too), with capture jitter and a few camera drops, then times:
  - check: read the AVI (headers, index, chunk scan), load the sidecar,
    analyse the timing (what `bodycam check CLIP` does, without printing);
  - the `bodycam check CLIP` command as a new process (Python start-up
    included), with and without --plot;
  - verify: the whole folder (AVI SHA-256, manifest HMAC, chain, audit log).
Prints JSON. Each timing is the best of 3 runs (warm file cache).
"""
import argparse
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "firmware"))

import audit  # noqa: E402  (the firmware's modules, on CPython)
import button  # noqa: E402
import seal  # noqa: E402
from recorder import BUFFERING, Recorder  # noqa: E402
from ring import FrameRing  # noqa: E402

from bodycam import timing
from bodycam.evidence import verify  # noqa: E402


def jpeg(size_bytes):
    from PIL import Image, ImageDraw
    rng = random.Random(1)
    im = Image.new("RGB", (320, 240), (60, 90, 160))
    d = ImageDraw.Draw(im)
    q = 90
    while True:
        for _ in range(40):
            x, y = rng.randrange(320), rng.randrange(240)
            d.rectangle((x, y, x + 8, y + 8), fill=(rng.randrange(256), 90, 40))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=q)
        if out.tell() >= size_bytes:
            return out.getvalue()


def make_clip(d, minutes, fps, frame_bytes, key):
    clips = os.path.join(d, "clips")
    os.makedirs(clips)
    frame = jpeg(frame_bytes)
    log = audit.AuditLog(os.path.join(clips, "AUDIT.LOG"), key)
    log.record("boot", {"key_id": seal.key_id(key), "device": "bc-bench"})
    sealer = seal.Sealer(os.path.join(d, "evidence.json"), key, "bc-bench", log)
    ring = FrameRing(8 << 20, 4096)
    settings = {"framesize": "QVGA", "fps": fps, "preroll_s": 30, "hold_ms": 3000, "jpeg_quality": 85,
                "fb_count": 2}
    rec = Recorder(ring, clips, 320, 240, 30000, {"board": "bench", "firmware": "bench", "settings": settings},
                   audit=log, seal=sealer)
    rng = random.Random(2)
    step = 1000 // fps
    n = minutes * 60 * fps
    warm = 35 * fps  # frames buffered before the press
    t = 0
    press = None
    for i in range(n + warm):
        t += step + rng.randrange(-3, 4)
        if i == warm:
            press = t - step // 2
            rec.on_button(button.PRESS, press)
            rec.on_button(button.RELEASE, press + 100)
        if rng.random() < 0.0002:
            ring.push(b"\xff\xd8bad", t)  # a camera glitch: dropped, a gap
        else:
            ring.push(frame, t)
        rec.step(t, 64)
    rec.stop(t, "hold", t - 3000)
    while rec.state != BUFFERING:
        rec.step(t, 64)
    log.close()
    return os.path.join(clips, rec.clips_done[-1]), clips


def best_of(fn, runs=3):
    best = None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
    return best, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=int, default=60)
    ap.add_argument("--fps", type=int, default=10)
    ap.add_argument("--frame-bytes", type=int, default=4000)
    args = ap.parse_args()
    key = bytes(range(32))
    d = tempfile.mkdtemp(prefix="bodycam-bench-")
    try:
        t0 = time.perf_counter()
        base, clips = make_clip(d, args.minutes, args.fps, args.frame_bytes, key)
        made = time.perf_counter() - t0
        t_check, rep = best_of(lambda: timing.check_clip(base))
        png = os.path.join(d, "plot.png")
        t_cli, _ = best_of(lambda: subprocess.run([sys.executable, "-m", "bodycam", "check", base],
                                                  capture_output=True))
        t_plot, _ = best_of(lambda: subprocess.run([sys.executable, "-m", "bodycam", "check", base, "--plot", png],
                                                   capture_output=True))
        ks = verify.KeySet({seal.key_id(key): key})
        t_verify, vrep = best_of(lambda: verify.verify_dir(clips, ks))
        print(json.dumps({
            "frames": rep["frames"], "minutes": args.minutes, "fps": args.fps,
            "avi_bytes": os.path.getsize(base + ".AVI"), "sidecar_bytes": os.path.getsize(base + ".JSON"),
            "make_clip_s": round(made, 2),
            "check_s": round(t_check, 3), "check_frames_per_s": int(rep["frames"] / t_check),
            "check_ok": rep["ok"], "check_problems": rep["problems"],
            "check_cli_s": round(t_cli, 3), "check_cli_with_plot_s": round(t_plot, 3),
            "verify_s": round(t_verify, 3), "verify_verdict": vrep.verdict,
        }, indent=2))
    finally:
        shutil.rmtree(d)


if __name__ == "__main__":
    main()
