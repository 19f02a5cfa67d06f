# Test kit for firmware tests on the MicroPython unix port: an App on the
# unix-port HAL with synthetic time, and helpers to press the button.
import json

import app
import boardcfg
import settings
from hal_virtual import VirtualHal, load_frames


class Kit:
    def __init__(self, board_path, frames_dir, overrides=None, clips_dir="sd/clips", max_writes=None, audit=None,
                 background=False):
        self.board = boardcfg.load(board_path)
        self.settings = settings.validate(overrides or {})
        self.hal = VirtualHal(self.board, self.settings, frames=load_frames(frames_dir), clips_dir=clips_dir)
        self.hal.ticks.t = 1000
        if audit is not None:
            self.hal.audit = audit
        self.app = app.App(self.hal, self.board, self.settings, max_writes_per_tick=max_writes)
        if not background:
            self.app.recovery.run_all()  # what a cut left, rebuilt before the test goes on
        self.rec = self.app.recorder
        self.ring = self.app.ring
        self.pin = self.hal.button_pin
        self.pushed_times = []

    def now(self):
        return self.hal.ticks.t

    def run_for(self, ms):
        end = self.hal.ticks.t + ms
        while self.hal.ticks.t < end:
            self.app.step()
            self.pushed_times.append(self.hal.ticks.t)
            self.hal.ticks.t += self.app.interval_ms

    def press(self, ms=200):
        self.pin.set(0)
        t = self.now()
        self.run_for(ms)
        self.pin.set(1)
        return t

    def finish(self, ms=10000):
        # Let the recorder finish writing and closing.
        end = self.hal.ticks.t + ms
        while self.rec.state != 0 and self.hal.ticks.t < end:
            self.run_for(self.app.interval_ms)


def sidecar(clips_dir, name):
    with open(clips_dir + "/" + name + ".JSON") as f:
        return json.load(f)
