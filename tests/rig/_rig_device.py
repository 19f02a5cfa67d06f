# MicroPython (unix port) program run by tests/rig/offload.py; not imported
# on the host. `run`: the real capture loop with the dock service on
# stdin/stdout, in real time, clips in ./sd/clips. `make SECONDS...`: record
# clips of those lengths through the real recorder in synthetic time (0
# makes a clip of no frames), then exit.
import json
import sys
import time

import app
import boardcfg
import settings
from hal_virtual import VirtualHal, load_frames


class RealTimeHal(VirtualHal):
    def ticks_ms(self):
        return time.ticks_ms()

    def sleep_ms(self, ms, wake=None):
        # As hal_esp32: with wake, sooner once wake() is true.
        end = time.ticks_add(time.ticks_ms(), ms)
        while wake is None or not wake():
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                return
            time.sleep_ms(left if left < 10 else 10)


def load():
    with open("rig.json") as f:
        c = json.load(f)
    return boardcfg.load(c["board_path"]), settings.validate(c["settings"])


def run():
    import dock
    board, s = load()
    hal = RealTimeHal(board, s, frames=load_frames("frames"), ticks=time.ticks_ms)
    a = app.App(hal, board, s)
    a.services.append(dock.Dock(a))
    a.run()


def make(specs):
    board, s = load()
    hal = VirtualHal(board, s, frames=load_frames("frames"))
    hal.ticks.t = 1000
    a = app.App(hal, board, s)
    pin = hal.button_pin
    down = 0 if board["button"]["active_low"] else 1

    def run_for(ms):
        end = hal.ticks.t + ms
        while hal.ticks.t < end:
            a.tick()
            hal.ticks.t += a.interval_ms

    made = []
    for secs in specs:
        if secs == 0:
            made.append(empty_clip(a))
            continue
        run_for(1000)
        pin.set(down)
        run_for(200)
        pin.set(1 - down)
        run_for(secs * 1000)
        pin.set(down)
        run_for(s["hold_ms"] + 300)
        pin.set(1 - down)
        while a.recorder.state != 0:
            run_for(a.interval_ms)
        made.append(a.recorder.clips_done[-1])
    print(json.dumps(made))


def empty_clip(a):
    # A clip of no frames: what a press and an immediate storage failure
    # would leave. Written with the real ClipWriter and sidecar code.
    from clip import ClipWriter
    rec = a.recorder
    rec._counter += 1
    name = "BC%06d" % rec._counter
    c = ClipWriter(rec.dir, name, rec.width, rec.height, rec.stage)
    for _ in c.close_steps(100000):
        pass
    c.write_sidecar({"format": "bodycam-clip/1", "clip": name + ".AVI", "frames": 0,
                     "avi_bytes": c.size, "avi_sha256": c.sha256})
    return name


if sys.argv[1] == "run":
    run()
else:
    make([int(x) for x in sys.argv[2:]])
