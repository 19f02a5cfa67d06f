"""The virtual OV2640 on the board's camera socket. The firmware configures
it (frame size, fps, quality) as the driver would at init, then each capture
gets the newest frame at or before that moment, waiting for the next one
when it already has it (GrabMode.LATEST): frames come at the configured fps
in board time. Frame k is exposed at t0 + k * 1000/fps and carries its
number and time in the picture. The next frame is rendered ahead in a
worker thread, so a capture costs no rendering time when the firmware keeps
pace.

Faults: fail(every=N) makes every Nth capture fail as the ESP32 driver's do:
no frame reaches the driver, esp_camera_fb_get() waits FB_GET_TIMEOUT
(4000 ms, esp32-camera driver/esp_camera.c) and returns NULL, and
cnadler86's capture() returns None (src/modcamera.c v0.6.0,
mp_camera_hal_capture). The frames the sensor made meanwhile are lost."""
import collections
import hashlib
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

from bodycam.resources import shared
from bodycam.sim.scene import Scene

ERR_CONFIG = 1
ERR_OVERFLOW = 2  # frame larger than the driver's buffer (width*height/5)
ERR_TIMEOUT = 3  # no frame within the driver's timeout
FB_GET_TIMEOUT_MS = 4000  # esp32-camera driver/esp_camera.c FB_GET_TIMEOUT
SERVED_KEPT = 4096  # digests of the last frames served, for tests


class Sensor:
    def __init__(self, clock, log=None):
        self.clock = clock
        self.log = log or (lambda msg: None)
        self._scenes = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vboard-render")
        self.fail_every = 0  # every Nth capture fails (0: none); kept across boots
        self.fail_stall_ms = FB_GET_TIMEOUT_MS
        self.reset_stats()

    def fail(self, every=0, stall_ms=FB_GET_TIMEOUT_MS):
        """Make every Nth capture fail (0: none), each after stall_ms of
        board time (the driver's 4000 ms timeout by default)."""
        if not isinstance(every, int) or every < 0:
            raise ValueError("every must be 0 (no failures) or a whole number >= 1 (1: a dead camera), not %r"
                             % (every,))
        if not isinstance(stall_ms, int) or stall_ms < 0:
            raise ValueError("stall_ms must be a whole number of ms >= 0, not %r" % (stall_ms,))
        self.fail_every, self.fail_stall_ms = every, stall_ms

    def reset_stats(self):
        self.config = None  # (framesize, fps, quality) of the running camera
        self.frames = 0  # captures served since the last boot
        self.first_ms = None  # board ms of the first captured frame
        self.last_ms = None
        self.last_seq = -1
        self.bytes = 0
        self.overflows = 0
        self.requests = 0  # captures asked for since the last boot
        self.failures = 0  # of them, failed (the firmware got None)
        self.stalling = None  # board ms a failing capture began waiting, while it waits
        # (frame number, board ms, SHA-256) of the frames served, newest last
        self.served = collections.deque(maxlen=SERVED_KEPT)

    def scene(self, framesize, quality):
        key = (framesize, quality)
        with self._lock:
            if key not in self._scenes:
                self._scenes[key] = Scene(framesize, quality)
            return self._scenes[key]

    def serve(self, conn):
        f = conn.makefile("rb")
        line = f.readline().decode("ascii", "replace").strip()
        try:
            fs, fps, q = line[1:].split()
            fps, q = int(fps), int(q)
            if not line.startswith("S") or not 1 <= fps <= 60 or not 0 <= q <= 100:
                raise ValueError(line)
            scene = self.scene(fs, q)
        except ValueError as e:
            conn.sendall(b"ER bad camera configuration %s\n" % str(e).encode())
            return
        conn.sendall(b"OK\n")
        self.log("camera on: %s at %d fps, quality %d" % (fs, fps, q))
        w, h, _ = shared("settings").FRAMESIZES[fs]
        limit = w * h // 5
        self.config = (fs, fps, q)
        t0 = self.clock.ms()
        period = 1000.0 / fps
        last = -1
        ahead = None
        while True:
            if not f.read(1):
                return
            self.requests += 1
            if self.fail_every and self.requests % self.fail_every == 0:
                # No frame arrives: the driver gives up after its timeout.
                self.stalling = self.clock.ms()
                self.clock.sleep(self.fail_stall_ms)
                self.stalling = None
                self.failures += 1
                conn.sendall(struct.pack("<IIi", 0, ERR_TIMEOUT, self.clock.ms()))
                continue
            now = self.clock.ms()
            k = max(last + 1, int((now - t0) // period))
            t = int(t0 + k * period)
            self.clock.sleep(t - self.clock.ms())  # not exposed yet: wait for it
            if ahead is not None and ahead[0] == k:
                data = ahead[1].result()
            else:
                data = scene.render(k, t)
            ahead = (k + 1, self._pool.submit(scene.render, k + 1, int(t0 + (k + 1) * period)))
            if len(data) > limit:
                self.overflows += 1
                conn.sendall(struct.pack("<IIi", 0, ERR_OVERFLOW, t))
            else:
                conn.sendall(struct.pack("<IIi", len(data), k, t) + data)
                self.served.append((k, t, hashlib.sha256(data).hexdigest()))
                self.frames += 1
                self.bytes += len(data)
                if self.first_ms is None:
                    self.first_ms = t
                self.last_ms = t
            self.last_seq = k
            last = k

    def close(self):
        self._pool.shutdown(wait=False)
