# HAL for the unix port: the pieces the virtual board and the firmware tests
# plug together. A pin whose level the outside world sets (edges reach the
# handler the way ESP32 soft IRQs do: later, from the loop), a camera that
# replays JPEG frames, and a clock that only moves when told to.
import os

import clock


class VirtualPin:
    IN = 1
    OUT = 3
    PULL_UP = 1
    IRQ_FALLING = 1
    IRQ_RISING = 2

    def __init__(self, level=1):
        self.level = level
        self.handler = None
        self.trigger = 0
        self.pending = 0  # scheduled IRQs not yet run (soft IRQ queue)

    def value(self, v=None):
        if v is None:
            return self.level
        self.set(v)

    def irq(self, handler=None, trigger=3, hard=False):
        if hard:
            raise TypeError("hard IRQs are not supported on this port")  # as on ESP32
        self.handler = handler
        self.trigger = trigger

    def set(self, level):
        """Drive the pin (the outside world); the IRQ runs at once, as a soft
        IRQ would before the loop's next bytecode."""
        level = 1 if level else 0
        if level == self.level:
            return
        self.level = level
        edge = self.IRQ_RISING if level else self.IRQ_FALLING
        if self.handler is not None and self.trigger & edge:
            self.handler(self)


class ReplayCamera:
    """Returns the given JPEG frames in turn, as memoryviews into one frame
    buffer that the next capture overwrites (like cnadler86's driver)."""

    def __init__(self, frames):
        self.frames = frames
        self.i = 0
        self.fb = bytearray(max(len(f) for f in frames))

    def capture(self):
        f = self.frames[self.i % len(self.frames)]
        self.i += 1
        n = len(f)
        self.fb[:n] = f
        return memoryview(self.fb)[:n]


def load_frames(directory):
    names = sorted(n for n in os.listdir(directory) if n.endswith(".jpg"))
    out = []
    for n in names:
        with open(directory + "/" + n, "rb") as f:
            out.append(f.read())
    return out


class SyntheticTicks:
    def __init__(self, t=0):
        self.t = t

    def __call__(self):
        return self.t


class VirtualHal:
    """Default unix-port HAL: replay camera, settable pin, synthetic ticks
    (advanced by sleep_ms), clips in ./sd/clips. The virtual board swaps in
    its own camera and clock."""

    def __init__(self, board, settings, frames=None, clips_dir="sd/clips", ticks=None):
        self.board = board
        self.button_pin = VirtualPin(1 if board["button"]["active_low"] else 0)
        self.ticks = ticks or SyntheticTicks()
        self.clock = clock.Clock(self.ticks)
        self.camera = ReplayCamera(frames or load_frames("frames"))
        self.clips_dir = clips_dir
        self.leds = {}
        _makedirs(clips_dir)

    def ticks_ms(self):
        return self.ticks()

    def sleep_ms(self, ms):
        if isinstance(self.ticks, SyntheticTicks):
            self.ticks.t += ms

    def led(self, name, on):
        self.leds[name] = bool(on)


def _makedirs(path):
    p = ""
    for part in path.split("/"):
        if not part:
            continue
        p = p + "/" + part if p or path.startswith("/") else part
        try:
            os.mkdir(p)
        except OSError:
            pass


def board_hal():
    """The HAL class for this unix-port run: the virtual board's when
    `bodycam sim` booted us (vboard.boot() ran), else VirtualHal."""
    try:
        import vboard
    except ImportError:
        return VirtualHal
    return vboard.BoardHal if vboard.attached() else VirtualHal
