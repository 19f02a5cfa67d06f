# HAL for the unix port: the pieces the virtual board and the firmware tests
# plug together. A pin whose level the outside world sets (edges reach the
# handler the way ESP32 soft IRQs do: later, from the loop), a camera that
# replays JPEG frames, and a clock that only moves when told to.
import array
import os

import clock


# MicroPython's ESP32 port queues at most this many scheduled callbacks
# (ports/esp32/mpconfigport.h v1.27.0: MICROPY_SCHEDULER_DEPTH 8); an edge
# whose ISR finds the queue full is lost (py/scheduler.c mp_sched_schedule
# returns false, machine_pin_isr_handler ignores it).
SCHED_DEPTH = 8

# esp_camera_fb_get() waits this long for a frame before it returns NULL
# (esp32-camera driver/esp_camera.c FB_GET_TIMEOUT, 4000 ms), and
# cnadler86's capture() then returns None.
FB_GET_TIMEOUT_MS = 4000


class VirtualPin:
    """A GPIO input whose level the outside world sets, with the ESP32
    port's soft pin IRQs (ports/esp32/machine_pin.c v1.27.0): the GPIO ISR
    only schedules the handler (mp_sched_schedule, one queue entry per
    edge, never merged), and the VM runs scheduled handlers between
    bytecodes, so a handler reads ticks and the pin level when it runs, not
    when the edge happened. Between bytecodes that is at once; inside a
    blocking C call (a camera capture, a long write) the handlers wait until
    the call returns, then all run, each seeing the time and level of that
    moment. block()/unblock() bracket such a call."""

    IN = 1
    OUT = 3
    PULL_UP = 1
    IRQ_FALLING = 1
    IRQ_RISING = 2

    def __init__(self, level=1):
        self.level = level
        self.handler = None
        self.trigger = 0
        self.blocked = 0  # depth of blocking C calls in progress
        self.pending = 0  # handler runs scheduled while blocked
        self.lost = 0  # edges whose ISR found the scheduler queue full

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
        """Drive the pin (the outside world). The handler runs at once, as
        a soft IRQ does before the loop's next bytecode, unless a blocking
        call is in progress: then it is queued until unblock()."""
        level = 1 if level else 0
        if level == self.level:
            return
        self.level = level
        edge = self.IRQ_RISING if level else self.IRQ_FALLING
        if self.handler is None or not self.trigger & edge:
            return
        if not self.blocked:
            self.handler(self)
        elif self.pending < SCHED_DEPTH:
            self.pending += 1
        else:
            self.lost += 1

    def block(self):
        """The firmware enters a blocking C call."""
        self.blocked += 1

    def unblock(self):
        """The blocking call returned: the scheduler runs every queued
        handler now (one per bytecode boundary, so all at this moment)."""
        self.blocked -= 1
        if self.blocked:
            return
        n, self.pending = self.pending, 0
        for _ in range(n):
            self.handler(self)


def signed_frame_buffer(n):
    """n bytes seen as signed ('b'), like the driver's frame buffer. Built
    from range(n) (its length is known, so only the array is allocated:
    no n-byte temporary that could split the heap before the ring's big
    block); the contents are junk until a capture fills them."""
    return array.array("b", range(n))


class ReplayCamera:
    """Returns the given JPEG frames in turn as cnadler86's driver does
    (src/modcamera.c v0.6.0, mp_camera_hal_capture): a signed ('b')
    memoryview into one frame buffer that the next capture overwrites, or
    None when a capture fails. fail_every=N fails every Nth capture; a
    failed capture first calls stall(FB_GET_TIMEOUT_MS), as esp_camera_fb_get
    blocks that long before giving up. A failed capture skips no frame."""

    def __init__(self, frames, fail_every=0, stall=None):
        self.frames = frames
        self.i = 0
        self.captures = 0
        self.failed = 0
        self.fail_every = fail_every
        self.stall = stall
        self.fb = signed_frame_buffer(max(len(f) for f in frames))
        self.mv = memoryview(self.fb)

    def capture(self):
        self.captures += 1
        if self.fail_every and self.captures % self.fail_every == 0:
            self.failed += 1
            if self.stall is not None:
                self.stall(FB_GET_TIMEOUT_MS)
            return None
        f = self.frames[self.i % len(self.frames)]
        self.i += 1
        n = len(f)
        self.mv[:n] = f
        return self.mv[:n]


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
        self.camera = ReplayCamera(frames or load_frames("frames"), stall=self._blocked_for)
        self.clips_dir = clips_dir
        self.leds = {}
        _makedirs(clips_dir)

    def ticks_ms(self):
        return self.ticks()

    def sleep_ms(self, ms, wake=None):
        if isinstance(self.ticks, SyntheticTicks):
            self.ticks.t += ms

    def led(self, name, on):
        self.leds[name] = bool(on)

    def _blocked_for(self, ms):
        # A blocking C call of ms (synthetic time): pin IRQs wait for its end.
        self.button_pin.block()
        self.sleep_ms(ms)
        self.button_pin.unblock()


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
