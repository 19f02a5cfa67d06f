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
                 key_path="key.json", state_path="evidence.json", t0=1000, background=False):
        self.board = boardcfg.load(board_path)
        self.settings = settings.validate(overrides or {})
        self.hal = VirtualHal(self.board, self.settings, frames=load_frames(frames_dir), clips_dir=clips_dir)
        self.hal.ticks.t = t0
        self.audit, self.sealer = evidence.attach(self.hal, self.board, self.settings, key_path, state_path)
        self.app = app.App(self.hal, self.board, self.settings)
        if not background:
            self.app.recovery.run_all()  # what a cut left, rebuilt before the test goes on
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


def timed_clip(clips_dir, jpegs, times, press_t, stop_t, preroll_ms, fps, bad=(), width=320, height=240,
               audit=None, seal=None):
    """One clip from the real recorder with chosen capture times: a frame
    is pushed at each time in `times` (a bad, non-JPEG frame at each time in
    `bad`: dropped by the ring, so a gap), the button is pressed at press_t
    (between frames) and the clip stopped at stop_t. Returns the clip name."""
    import button
    from recorder import BUFFERING, Recorder
    from ring import FrameRing
    from version import VERSION
    ring = FrameRing(1 << 21, 1024)
    info = {"board": "test-board", "firmware": VERSION,
            "settings": {"framesize": "QVGA", "fps": fps, "preroll_s": preroll_ms // 1000, "hold_ms": 3000,
                         "jpeg_quality": 85, "fb_count": 2}}
    rec = Recorder(ring, clips_dir, width, height, preroll_ms, info, audit=audit, seal=seal)
    pressed = False
    for i, t in enumerate(times):
        if not pressed and t >= press_t:
            rec.on_button(button.PRESS, press_t)
            rec.on_button(button.RELEASE, press_t + 100)
            pressed = True
        if t > stop_t:
            break
        ring.push(b"\xff\xd8bad" if t in bad else jpegs[i % len(jpegs)], t)
        rec.step(t, 64)
    rec.stop(stop_t, "hold", stop_t - 3000)
    while rec.state != BUFFERING:
        rec.step(stop_t, 64)
    return rec.clips_done[-1]
