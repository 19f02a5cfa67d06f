"""Item 7 of issue 9: UTC stays right over 30+ days of board time.

time.ticks_ms() wraps every 2**30 ms (12.4 days) on MicroPython ports
(extmod/modtime.c v1.27.0, MICROPY_PY_TIME_TICKS_PERIOD) and a tick
difference is only meaningful within +-2**29 ms (6.2 days). The clock's
anchor (UTC at one tick) is moved forward by keep(), which the capture loop
calls every frame. Synthetic ticks, on the unix port."""
import os

from bodycam.resources import boards_dir

BOARD = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")
SET_MS = 1767225600000  # 2026-01-01T00:00:00Z
PERIOD = 1 << 30


def test_utc_is_right_for_40_days_across_three_tick_wraps(run_mpy):
    r = run_mpy("""
import json, clock
T0 = 0x3FFFF000          # close to a wrap, as a long-running board may be
t = [T0]
c = clock.Clock(lambda: t[0] & 0x3FFFFFFF)
c.set_utc_ms(%d)
bad = []
step = 997 * 1000       # ~16.6 min of board time per frame batch
el = 0
while el < 40 * 86400000:
    el += step
    t[0] = T0 + el
    want = %d + el
    if c.unix_ms() != want or c.unix_ms(t[0] & 0x3FFFFFFF) != want:
        bad.append([el, c.unix_ms(t[0] & 0x3FFFFFFF) - want])
    # a frame captured 30 s ago (the pre-roll) converts right too
    if c.unix_ms((t[0] - 30000) & 0x3FFFFFFF) != want - 30000:
        bad.append([el, "preroll"])
print(json.dumps({"bad": bad[:5], "n": len(bad), "el": el, "wraps": (T0 + el) // 0x40000000}))
""" % (SET_MS, SET_MS))
    assert r["wraps"] >= 3 and r["el"] >= 40 * 86400000
    assert r["n"] == 0, r["bad"]


def test_clock_left_alone_stays_right_through_the_capture_loop(run_mpy, jpeg_dir):
    # Nobody asks for UTC for 20 days (a camera buffering on a shelf); only
    # the loop runs. Then a press: the clip's start time must be right.
    r = run_mpy("""
import json, simkit, clock
k = simkit.Kit(%r, %r, {"preroll_s": 2})
hal = k.hal
hal.ticks.t = 0x3FFFF000 - 20000
hal.clock.set_utc_ms(%d)
el = 0
# 20 days of loop ticks, 10 minutes apart (synthetic time), each a real App
# tick; ticks wrap as the port's do
while el < 20 * 86400000:
    hal.ticks.t = (hal.ticks.t + 600000) & 0x3FFFFFFF
    el += 600000
    k.app.step()
t0 = hal.ticks.t
k.run_for(3000)
t = k.press(200)
el += t - t0
k.run_for(2000)
k.press(3200)
k.finish()
sc = simkit.sidecar(hal.clips_dir, k.rec.clips_done[0])
print(json.dumps({"press_utc": sc["clock"]["press_utc"], "want": clock.iso_utc(%d + el)}))
""" % (BOARD, str(jpeg_dir), SET_MS, SET_MS), heapsize=4194304 - 2 * (640 * 480 // 5))
    assert r["press_utc"] == r["want"]
