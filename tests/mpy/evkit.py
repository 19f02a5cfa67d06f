# Evidence test kit (MicroPython unix port): simkit's App with the audit log
# and sealer attached at boot the way main.py does, plus a recorder driven
# directly with chosen frame times (for clips with gaps and drops).
import json

import app
import boardcfg
import evidence
import settings
from hal_virtual import VirtualHal, load_frames
from simkit import Kit


def write_key(path, device="bc-test0001", key=b"k" * 32):
    with open(path, "w") as f:
        f.write(json.dumps({"device": device, "key": "".join("%02x" % b for b in key)}))


class EvKit(Kit):
    """Kit whose HAL has hal.audit and hal.seal (evidence.attach), booted
    with the device key at key_path (none: unsigned)."""

    def __init__(self, board_path, frames_dir, overrides=None, clips_dir="sd/clips",
                 key_path="key.json", state_path="evidence.json", t0=1000):
        self.board = boardcfg.load(board_path)
        self.settings = settings.validate(overrides or {})
        self.hal = VirtualHal(self.board, self.settings, frames=load_frames(frames_dir), clips_dir=clips_dir)
        self.hal.ticks.t = t0
        self.audit, self.sealer = evidence.attach(self.hal, self.board, self.settings, key_path, state_path)
        self.app = app.App(self.hal, self.board, self.settings)
        evidence.watch(self.app)
        self.rec = self.app.recorder
        self.ring = self.app.ring
        self.pin = self.hal.button_pin
        self.pushed_times = []

    def clip(self, preroll_ms=3000, live_ms=3000, marker_at=None):
        """Buffer, press, record live_ms, hold to stop, finish. Returns the
        press time."""
        self.run_for(preroll_ms)
        t = self.press(200)
        if marker_at is not None:
            self.run_for(marker_at)
            self.press(200)
        self.run_for(live_ms)
        self.press(self.settings["hold_ms"] + 300)
        self.finish()
        return t
