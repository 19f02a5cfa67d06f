"""Pre-roll thinning (settings.preroll_full_s) in the FrameRing, on the real
MicroPython interpreter: allocation-free, the newest full_ms never thinned,
held frames never touched, never below 1 fps, and the plan's ring keeps the
pre-roll it promises."""
import pytest

# The MicroPython heap an AI-Thinker board has beside two VGA camera buffers.
BOARD_HEAP = 4194304 - 2 * (640 * 480 // 5)

# A frame of n bytes stamped with its number k (bytes 2..4), built into a
# preallocated buffer so pushing it allocates nothing.
STAMP = """
def stamp(k, n, out):
    out[0] = 0xFF; out[1] = 0xD8
    out[2] = k & 0xFF; out[3] = (k >> 8) & 0xFF; out[4] = (k >> 16) & 0xFF
    out[n - 2] = 0xFF; out[n - 1] = 0xD9
    return out if n == len(out) else memoryview(out)[:n]  # (exact-size buffers: no allocation)

def stamped(ring, seq):
    f = ring.frame(seq)
    return f[2] | (f[3] << 8) | (f[4] << 16)
"""


def test_thinning_push_allocates_nothing(run_mpy):
    # Every path of a thinning push under heap_lock: level choice, eviction
    # inside a level (thinning), fallback to the next level when the newest
    # full_ms would be thinned, slot table full, held frames, drops.
    r = run_mpy(STAMP + """
import micropython, json
from ring import FrameRing
ring = FrameRing(60000, 120, (20000, 15000, 25000), full_ms=1000)
views = []
for n in (500, 900, 1300, 1700):
    views.append(memoryview(bytearray(n)))
bad = bytearray(b'not a jpeg')
big = bytearray(30000); big[0] = 0xFF; big[1] = 0xD8; big[-2] = 0xFF; big[-1] = 0xD9
ring.push(stamp(0, 500, views[0]), 0)
def hot(n0, n):
    for k in range(n0, n0 + n):
        v = views[k & 3]
        ring.push(stamp(k, len(v), v), k * 100)
    ring.push(bad, 1)
    ring.push(big, 2)
    ring.hold(ring.newest_seq() - 5)
    for k in range(n0 + n, n0 + n + 200):
        v = views[k & 3]
        ring.push(stamp(k, len(v), v), k * 100)
    ring.hold(-1)
micropython.heap_lock()
try:
    hot(1, 3000)
    ok = True
except MemoryError:
    ok = False
micropython.heap_unlock()
micropython.heap_lock()
try:
    x = [1, 2]
    caught = False
except MemoryError:
    caught = True
micropython.heap_unlock()
print(json.dumps({"ok": ok, "control": caught, "thinned": ring.thinned_total, "full": ring.dropped_full,
                  "large": ring.dropped_large, "bad": ring.dropped_bad}))
""")
    assert r["control"] is True, "heap_lock did not catch an allocation: the test would prove nothing"
    assert r["ok"] is True, "a thinning push() allocated under heap_lock"
    assert r["thinned"] > 100 and r["full"] > 0 and r["large"] == 1 and r["bad"] == 1


def test_thinning_keeps_the_newest_full_rate_and_never_below_the_floor(run_mpy):
    # 2 hours at 10 fps of 400..1600-byte frames through three levels
    # (every frame, every 2nd, every 4th): after every push, no frame in the
    # newest full_ms is missing, frames kept are intact and in order, and no
    # older stretch keeps fewer than every 4th frame (2.5 fps).
    r = run_mpy(STAMP + """
import json
from ring import FrameRing
FULL = 3000
ring = FrameRing(80000, 400, (20000, 20000, 40000), full_ms=FULL)
buf = bytearray(1600)
bad = 0
thin_in_full = 0
worst_step = 0
spans = []
for k in range(2 * 3600 * 10):
    n = 400 + (k * 2654435761) % 1200
    seq = ring.push(stamp(k, n, buf), k * 100)
    if seq != k:
        bad += 1
        break
    if k % 101 == 0:
        prev = -1
        for s in range(ring.oldest_seq(), ring.newest_seq() + 1):
            if ring.thinned(s):
                if k * 100 - ring.time_of(s) < FULL:
                    thin_in_full += 1
                continue
            if stamped(ring, s) != (s & 0xFFFFFF) or ring.time_of(s) != s * 100:
                bad += 1
            if prev >= 0 and s - prev > worst_step:
                worst_step = s - prev
            prev = s
        spans.append(k * 100 - ring.time_of(ring.oldest_seq()))
print(json.dumps({"bad": bad, "thin_in_full": thin_in_full, "worst_step": worst_step,
                  "thinned": ring.thinned_total, "min_span": min(spans[100:]), "dropped": ring.dropped_full}))
""")
    assert r["bad"] == 0
    assert r["thin_in_full"] == 0
    assert r["thinned"] > 10000
    assert r["worst_step"] == 4  # every 4th at the oldest, never fewer
    assert r["dropped"] == 0
    # 80 KB of ~1 KB frames: ~80 frames; thinned they span far more than 8 s
    assert r["min_span"] > 12000


def test_held_frames_are_never_thinned(run_mpy):
    r = run_mpy(STAMP + """
import json
from ring import FrameRing, RING_FULL
ring = FrameRing(30000, 200, (10000, 20000), full_ms=500)
buf = bytearray(1000)
for k in range(200):
    ring.push(stamp(k, 1000, buf), k * 100)
held = ring.oldest_seq() + 3
ring.hold(held)
span = list(range(held, ring.newest_seq() + 1))
kept = [s for s in span if ring.has(s)]
codes = [ring.push(stamp(1000 + k, 1000, buf), 20000 + k * 100) for k in range(60)]
print(json.dumps({"kept_before": kept, "kept_after": [s for s in span if ring.has(s)],
                  "full": codes.count(RING_FULL), "stored": len([c for c in codes if c >= 0])}))
""")
    assert r["kept_before"], "nothing held: the test would prove nothing"
    assert r["kept_after"] == r["kept_before"]
    assert r["full"] > 0  # the ring filled with held frames: new ones dropped, counted
    assert r["stored"] > 0  # until then new frames went wherever unheld room was


def test_without_levels_the_ring_never_thins(run_mpy):
    r = run_mpy(STAMP + """
import json
from ring import FrameRing
ring = FrameRing(20000, 100)
buf = bytearray(1500)
for k in range(2000):
    ring.push(stamp(k, 500 + k % 1000, buf), k * 100)
holes = [s for s in range(ring.oldest_seq(), ring.next_seq) if not ring.has(s)]
print(json.dumps({"holes": holes, "thinned": ring.thinned_total,
                  "stretches": ring.stretches(ring.oldest_seq(), 2000 * 100)}))
""")
    assert r["holes"] == [] and r["thinned"] == 0
    assert [s["every"] for s in r["stretches"]] == [1]


@pytest.mark.parametrize("framesize, preroll, sizes", [
    ("VGA", 30, (9300, 10300, 11500, 10000)),   # the virtual camera's VGA sizes at quality 85
    ("QVGA", 120, (3600, 4100, 4650, 4000)),
])
def test_plan_sized_ring_keeps_the_promised_preroll(run_mpy, framesize, preroll, sizes):
    # The ring App builds for <framesize>, 10 fps, preroll_s, preroll_full_s 10
    # on the AI-Thinker, fed typical-sized frames for longer than the pre-roll:
    # it spans the whole pre-roll, the last 10 s at 10 fps.
    r = run_mpy(STAMP + """
import json, settings
from ring import FrameRing
s = settings.validate({"framesize": %r, "fps": 10, "preroll_s": %d, "preroll_full_s": 10})
p = settings.plan(4194304, s)
ring = FrameRing(p["ring_bytes"], p["slots"], p["level_bytes"], p["full_ms"])
views = [memoryview(bytearray(n)) for n in %r]
T = (%d + 30) * 10
for k in range(T):
    v = views[k %% 4]
    ring.push(stamp(k, len(v), v), 1000 + k * 100)
now = 1000 + (T - 1) * 100
st = ring.stretches(ring.oldest_seq(), now + 1)
full = [s for s in range(ring.oldest_seq(), ring.next_seq) if now - ring.time_of(s) < 10000]
print(json.dumps({"fits": p["fits"], "plan": p["stretches"], "span": now - ring.time_of(ring.oldest_seq()),
                  "missing_in_full": [s for s in full if not ring.has(s)], "stretches": st,
                  "dropped": ring.dropped_full}))
""" % (framesize, preroll, list(sizes), preroll), heapsize=BOARD_HEAP)
    assert r["fits"] is True
    assert r["span"] >= preroll * 1000
    assert r["missing_in_full"] == []
    assert r["dropped"] == 0
    st = r["stretches"]
    assert st[-1]["every"] == 1 and st[-1]["from_ms"] <= -10000
    assert st[0]["every"] >= 2  # the oldest stretch was thinned: it would not fit otherwise
    assert all(s["every"] <= 10 for s in st)  # never below 1 fps


def test_busier_scene_than_planned_still_keeps_the_newest_at_full_rate(run_mpy):
    # Frames 60 % larger than the plan's typical size (beyond its 25 %
    # margin): the pre-roll gets shorter, but the last 10 s stay whole.
    r = run_mpy(STAMP + """
import json, settings
from ring import FrameRing
s = settings.validate({"framesize": "VGA", "fps": 10, "preroll_s": 30, "preroll_full_s": 10})
p = settings.plan(4194304, s)
ring = FrameRing(p["ring_bytes"], p["slots"], p["level_bytes"], p["full_ms"])
v = memoryview(bytearray(16000))
for k in range(900):
    ring.push(stamp(k, 16000, v), k * 100)
now = 899 * 100
full = [s for s in range(ring.oldest_seq(), ring.next_seq) if now - ring.time_of(s) < 10000]
print(json.dumps({"span": now - ring.time_of(ring.oldest_seq()), "missing_in_full": [s for s in full if not ring.has(s)],
                  "n_full": len(full), "dropped": ring.dropped_full}))
""", heapsize=BOARD_HEAP)
    assert r["n_full"] == 100 and r["missing_in_full"] == []
    assert 10000 < r["span"] < 30000
    assert r["dropped"] == 0
