# Ring and recorder benchmark, run ON THE MICROPYTHON UNIX PORT:
#   micropython -X heapsize=4M bench/ring.py
#   micropython -X heapsize=16M bench/ring.py capacity
# Prints JSON: bytes allocated per pushed frame (must be 0), push cost
# relative to a bare memoryview slice copy of the same bytes (measured side
# by side in this run), and the frames per second the recorder sustains
# writing VGA-sized frames to a clip (push + write + index + close + hash).
# `capacity`: for each board profile, QVGA and VGA at 10 fps, the seconds of
# pre-roll the ring the firmware builds really holds, fed frames of the
# virtual camera's sizes, without thinning and with preroll_full_s = 10.
import gc
import json
import os
import sys
import time

sys.path.insert(0, "firmware")
sys.path.insert(1, "")
from ring import FrameRing  # noqa: E402
from recorder import Recorder  # noqa: E402
import button  # noqa: E402

N = 4000
SIZES = (9000, 12000, 15000, 18000, 11000, 20000, 14000, 10000)  # VGA JPEGs


def frames():
    out = []
    for n in SIZES:
        b = bytearray(n)
        for i in range(0, n, 97):
            b[i] = i & 0xFF
        b[0], b[1], b[n - 2], b[n - 1] = 0xFF, 0xD8, 0xFF, 0xD9
        out.append(memoryview(b))
    return out


def bench_push(fs, levels=None):
    # levels: thinning levels (every frame / 2nd / 4th / 8th), full_ms 10 s
    ring = FrameRing(2 * 1024 * 1024, 2048, levels, 10000 if levels else 0)
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    t0 = time.ticks_us()
    for i in range(N):
        ring.push(fs[i & 7], i * 100)
    dt = time.ticks_diff(time.ticks_us(), t0)
    alloc = gc.mem_alloc() - a0
    gc.enable()
    return dt, alloc


def bench_copy(fs):
    # The floor: the same bytes copied with a bare slice into a same-size
    # buffer, advancing and wrapping like the ring does.
    buf = bytearray(2 * 1024 * 1024)
    mv = memoryview(buf)
    size = len(buf)
    gc.collect()
    t0 = time.ticks_us()
    pos = 0
    for i in range(N):
        f = fs[i & 7]
        n = len(f)
        if pos + n > size:
            pos = 0
        mv[pos:pos + n] = f
        pos += n
    return time.ticks_diff(time.ticks_us(), t0)


def bench_recorder(fs, seconds_of_video=60, fps=10):
    d = "/tmp/bodycam-bench-%d" % time.ticks_ms()
    os.mkdir(d)
    ring = FrameRing(3 * 1024 * 1024, 2048)
    rec = Recorder(ring, d, 640, 480, 0, {"board": "bench", "firmware": "bench", "settings": {"fps": fps}})
    total = seconds_of_video * fps
    t0 = time.ticks_us()
    now = 0
    for i in range(total):
        ring.push(fs[i & 7], now)
        if i == 0:
            rec.on_button(button.PRESS, now)
        rec.step(now, 4)
        now += 1000 // fps
    rec.stop(now, "bench")
    while rec.state != 0:
        rec.step(now, 64)
    dt = time.ticks_diff(time.ticks_us(), t0)
    size = os.stat(d + "/BC000001.AVI")[6]
    for n in os.listdir(d):
        os.remove(d + "/" + n)
    os.rmdir(d)
    return total, dt, size


def capacity_frames(typical):
    # The virtual camera's spread around the typical size (host/bodycam/sim/
    # scene.py at quality 85: VGA 9.3..11.5 KB, mean 10.3 KB): 0.92..1.14x.
    out = []
    for i in range(8):
        n = typical * (92 + (i * 37) % 23) // 100
        b = bytearray(n)
        b[0], b[1], b[n - 2], b[n - 1] = 0xFF, 0xD8, 0xFF, 0xD9
        out.append(memoryview(b))
    return out


def held_seconds(ring, fs, fps, seconds):
    # Push `seconds` of frames; return how far back the ring reaches, how
    # many frames it holds and the stretches (every Nth kept), oldest first.
    step = 1000 // fps
    t = 0
    for i in range(seconds * fps):
        ring.push(fs[i & 7], t)
        t += step
    now = t - step
    span = now - ring.time_of(ring.oldest_seq())
    st = ring.stretches(ring.oldest_seq(), now + 1)
    return span / 1000, ring.count, [(s["from_ms"] / 1000, s["every"]) for s in st]


def bench_capacity(fps=10, full_s=10):
    import boardcfg
    import settings as cfg
    rows = []
    for name in sorted(os.listdir("boards")):
        board = boardcfg.load("boards/" + name)
        for fs_name in ("QVGA", "VGA"):
            typical = cfg.FRAMESIZES[fs_name][2]
            fs = capacity_frames(typical)
            budget = cfg.ring_budget(board["psram_bytes"], fs_name, 2)
            row = {"board": board["id"], "framesize": fs_name, "fps": fps, "ring_bytes": budget}
            gc.collect()
            ring = FrameRing(budget, budget // cfg.MIN_FRAME_BYTES + 16)
            row["plain_s"], row["plain_frames"], _ = held_seconds(ring, fs, fps, 600)
            ring = None
            # the longest pre-roll (<= 120 s) the plan fits with the last full_s whole
            best = None
            for pre in range(120, full_s, -1):
                s = cfg.validate({"framesize": fs_name, "fps": fps, "preroll_s": pre, "preroll_full_s": full_s})
                p = cfg.plan(board["psram_bytes"], s)
                if p["fits"]:
                    best = p
                    break
            if best is None:
                row["thinned_s"] = None
            else:
                gc.collect()
                ring = FrameRing(best["ring_bytes"], best["slots"], best["level_bytes"], best["full_ms"])
                span, n, st = held_seconds(ring, fs, fps, 600)
                ring = None
                row.update({"thinned_plan_preroll_s": best["preroll_s"], "thinned_s": span,
                            "thinned_frames": n, "thinned_stretches_from_s_every": st})
            rows.append(row)
    return rows


if len(sys.argv) > 1 and sys.argv[1] == "capacity":
    print(json.dumps({"capacity": bench_capacity()}))
    sys.exit(0)

fs = frames()
bench_push(fs)  # warm-up
push_us, alloc = bench_push(fs)
LEVELS = (700000, 350000, 350000, 2 * 1024 * 1024 - 1400000)
thin_us, thin_alloc = bench_push(fs, LEVELS)
copy_us = bench_copy(fs)
frames_written, rec_us, avi_bytes = bench_recorder(fs)
print(json.dumps({
    "frames_pushed": N,
    "bytes_allocated_per_push": alloc / N,
    "push_us_per_frame": push_us / N,
    "bare_copy_us_per_frame": copy_us / N,
    "push_vs_bare_copy": push_us / copy_us,
    # the same with four thinning levels (settings.preroll_full_s)
    "thinning_push_us_per_frame": thin_us / N,
    "thinning_bytes_allocated_per_push": thin_alloc / N,
    # The fixed interpreter cost of push() beyond the copy. On the host the
    # copy itself is a ~0.5 us memcpy, so the ratio above is mostly this
    # overhead; on an ESP32 the same 14 KB copy into PSRAM (~20 MB/s) takes
    # ~700 us and this overhead is a small fraction of it.
    "push_overhead_us": (push_us - copy_us) / N,
    "recorder_vga_frames_per_s": frames_written * 1000000 / rec_us,
    "recorder_mb_per_s": avi_bytes / rec_us,
}))
