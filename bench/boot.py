"""Power-on to buffering, and to a cut clip recovered, on the virtual board
(esp32 CPU): for each SD card profile and each size of clip a power cut
left owing its recovery (made by the firmware's own ClipWriter on the unix
port, left unclosed as a cut leaves it, and put on the card image), power
the board on and time, in board ms:

- buffering: the boot's own trace (BODYCAM-BOOT boot_ms.total: power-on to
  the capture loop about to start) and the sensor's first frame;
- recovered: until the clip's sidecar is on the card (rebuilt in the
  background while the camera buffers, firmware/recover.py).

Prints one JSON object: {"rows": [{"card", "clip_mb", "buffering_ms",
"first_frame_ms", "recovered_ms", "frames", "boot_ms": {...}}], ...}

    python bench/boot.py [--sizes 2,30,100] [--cards fast,typical,slow] [--speed 4]
"""
import argparse
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

MAKE_CLIP = """
import clip, json, os
frames = []
for n in sorted(os.listdir(%(frames)r)):
    with open(%(frames)r + "/" + n, "rb") as f:
        frames.append(f.read())
meta = {"format": "bodycam-clip/1", "clip": "BC000001.AVI", "board": "ai-thinker-esp32-cam", "width": 640,
        "height": 480, "settings": {"fps": 5, "framesize": "VGA"}, "clock": {"set": False, "press_ticks_ms": 1000},
        "preroll_ms": 30000, "first_seq": 0, "preroll_stretches": []}
c = clip.ClipWriter(%(out)r, "BC000001", 640, 480, bytearray(8192), meta, 4096)
size = 0
i = 0
while size < %(nbytes)d:
    f = frames[i %% len(frames)]
    c.add(f, i * 200)
    size += len(f) + 8
    i += 1
    if i %% 25 == 0:
        c.sync()
c.sync()
print(json.dumps({"frames": i, "bytes": size}))
"""  # ...and no close: the power went


def make_cut_clip(d, nbytes):
    """BC000001.* as a recording cut off after nbytes leaves them."""
    from bodycam.device import upy
    from bodycam.sim.scene import Scene  # the virtual camera's own frames
    frames = os.path.join(d, "frames")
    os.makedirs(frames, exist_ok=True)
    scene = Scene("VGA", 85)
    for k in range(25):
        with open(os.path.join(frames, "%03d.jpg" % k), "wb") as f:
            f.write(scene.render(k, k * 200))
    out = os.path.join(d, "cut")
    os.makedirs(out, exist_ok=True)
    script = os.path.join(d, "make.py")
    with open(script, "w") as f:
        f.write(MAKE_CLIP % {"frames": frames, "out": out, "nbytes": nbytes})
    p = upy.run_script(script, heapsize=8 << 20, timeout=1800)
    if p.returncode:
        raise SystemExit("making the cut clip failed:\n" + p.stdout[-2000:] + p.stderr[-2000:])
    return out, json.loads(p.stdout.strip().splitlines()[-1])


def boot_line(vb, timeout=120):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        tail = vb.console_tail(20000)
        for line in tail[tail.rfind("rst:"):].split("\n")[:-1]:
            if line.startswith("BODYCAM-BOOT "):
                return json.loads(line[len("BODYCAM-BOOT "):])
        time.sleep(0.05)
    raise SystemExit("no boot line; the board said:\n" + vb.console_tail(3000))


def trial(card, cut_dir, speed, d, sd_mb):
    from bodycam.sim import VirtualBoard
    state = os.path.join(d, "vb-" + card)
    with VirtualBoard(state_dir=state, speed=speed, card=card, cpu="esp32", sd_bytes=sd_mb << 20) as vb:
        vb.wait_recording_ready(timeout=120)
        vb.power_cut()
        for n in sorted(os.listdir(cut_dir)):
            with open(os.path.join(cut_dir, n), "rb") as f:
                vb.store.sd.write("clips/" + n, f.read())
        vb.power_on()
        boot = boot_line(vb)
        first = vb.sensor.first_ms
        while True:
            if "BC000001" in vb.list_clips():
                recovered = vb.board_ms()
                break
            if vb.board_ms() > 3600000:
                raise SystemExit("BC000001 was not recovered within an hour of board time")
            time.sleep(0.2)
        _, side = vb.copy_clip("BC000001", os.path.join(d, "out-" + card))
    with open(side) as f:
        m = json.load(f)
    return {"card": card, "buffering_ms": boot["boot_ms"].get("total"), "first_frame_ms": first,
            "recovered_ms": recovered, "frames": m["frames"], "boot_ms": boot["boot_ms"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2,30,100", help="MB of cut clip owed recovery (default 2,30,100)")
    ap.add_argument("--cards", default="fast,typical,slow")
    ap.add_argument("--speed", type=float, default=4, help="board time per wall time (default 4)")
    a = ap.parse_args(argv)
    rows = []
    t0 = time.time()
    with tempfile.TemporaryDirectory() as d:
        for mb in [int(x) for x in a.sizes.split(",")]:
            cut, made = make_cut_clip(os.path.join(d, "clip-%d" % mb), mb << 20)
            for card in a.cards.split(","):
                r = trial(card, cut, a.speed, os.path.join(d, "t-%d-%s" % (mb, card)), max(256, 2 * mb + 64))
                r.update(clip_mb=mb, clip_frames=made["frames"])
                rows.append(r)
                print(json.dumps(r), file=sys.stderr, flush=True)
    print(json.dumps({"cpu": "esp32", "speed": a.speed, "rows": rows, "wall_s": round(time.time() - t0, 1)},
                     indent=2))


if __name__ == "__main__":
    main()
