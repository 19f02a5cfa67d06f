"""The virtual OV2640 and its driver's frame buffers on the board's camera
socket. The firmware configures the camera as cnadler86's Camera(...)
does (frame size, quality, fb_count, grab mode); from then on the sensor
free-runs at its own rate for the frame size (settings.sensor_period_us)
and the driver model (camdriver.py, from esp32-camera's cam_hal.c) decides
which frame each capture() gets and when: a buffer the firmware holds is
not refilled until free_buffer() or the next capture() gives it back, and
frames no buffer can take are lost. Only the frames handed over are
rendered (scene.py), one ahead in a worker thread; each carries its number
and time in the picture.

The socket carries, board to sensor: "S<framesize> <quality> <fb_count>
<grab>" and a newline at init, then one byte per call and the board us
it was made at ("<Q"): C (capture: the reply is a 16-byte header "<IIii"
length, frame number, ms the frame was done, whether the driver had to
wait, then the JPEG; length 0 with an error code on failure), F
(free_buffer), and P (a flash write from then, lasting "<I" us: the
sensor's frames are lost meanwhile, see camdriver.py). The board's own
times, not the moment a message arrives here, so the host's scheduling
does not move them.

Faults: fail(every=N) makes every Nth capture fail as the ESP32 driver's
do: no frame reaches the driver, esp_camera_fb_get() waits FB_GET_TIMEOUT
(4000 ms, esp32-camera driver/esp_camera.c) and returns NULL, and
cnadler86's capture() returns None (src/modcamera.c v0.6.0,
mp_camera_hal_capture). oversize(every=N) makes every Nth sensor frame too
large for the driver's buffer (a busy scene's spike): the driver drops it
and prints "cam_hal: FB-OVF" on UART0, at the moment it does so."""
import collections
import hashlib
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

from bodycam.resources import shared
from bodycam.sim.camdriver import LATEST, WHEN_EMPTY, Driver
from bodycam.sim.scene import Scene

ERR_CONFIG = 1
ERR_OVERFLOW = 2  # (kept for the board side's protocol: no longer sent)
ERR_TIMEOUT = 3  # no frame within the driver's timeout
FB_GET_TIMEOUT_MS = 4000  # esp32-camera driver/esp_camera.c FB_GET_TIMEOUT
SERVED_KEPT = 4096  # frames handed over, kept for tests (frame_times)
AT = struct.Struct("<Q")
PARK = struct.Struct("<I")
# The driver's own console messages are put on UART0 by a ticker that runs
# cam_task's work this far behind board time (it has to know the flash
# writes of that time, which the board reports as they are charged).
TICK_LAG_US = 5000
# A scene whose sample frames come this close to the buffer may overflow:
# every frame the driver takes is then rendered to know its size.
PRONE_MARGIN = 1.25


class Sensor:
    def __init__(self, clock, log=None, console=None):
        self.clock = clock
        self.log = log or (lambda msg: None)
        self.console = console  # say(bytes): UART0 output of the board, for the driver's messages
        self._scenes = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vboard-render")
        self.fail_every = 0  # every Nth capture fails (0: none); kept across boots
        self.fail_stall_ms = FB_GET_TIMEOUT_MS
        self.oversize_every = 0  # every Nth sensor frame overflows the buffer (0: none); kept across boots
        self.reset_stats()

    def fail(self, every=0, stall_ms=FB_GET_TIMEOUT_MS):
        """Make every Nth capture fail (0: none), each after stall_ms of
        board time (the driver's 4000 ms timeout by default)."""
        _check_every(every)
        if not isinstance(stall_ms, int) or stall_ms < 0:
            raise ValueError("stall_ms must be a whole number of ms >= 0, not %r" % (stall_ms,))
        self.fail_every, self.fail_stall_ms = every, stall_ms

    def oversize(self, every=0):
        """Make every Nth sensor frame larger than the driver's buffer (0: none)."""
        _check_every(every)
        self.oversize_every = every
        cam = self.camera
        if every and cam is not None:
            cam.start_ticker()  # the running camera's driver prints on time from now on

    def reset_stats(self):
        self.config = None  # {"framesize", "quality", "fb_count", "grab_mode", "period_ms"} of the running camera
        self.driver = None  # the camdriver.Driver of the running camera
        self.camera = None  # the running _Camera
        self.frames = 0  # captures served since the last boot
        self.first_ms = None  # board ms of the first captured frame
        self.last_ms = None
        self.last_seq = -1
        self.bytes = 0
        self.overflows = 0  # frames the driver dropped for FB-OVF
        self.requests = 0  # captures asked for since the last boot
        self.failures = 0  # of them, failed (the firmware got None)
        self.frees = 0  # free_buffer() calls
        self.stalling = None  # board ms a failing capture began waiting, while it waits
        self.said = []  # (board ms, text) the driver printed on UART0
        # (frame number, exposed ms, served ms, SHA-256) of the frames served, newest last
        self.times = collections.deque(maxlen=SERVED_KEPT)

    @property
    def served(self):
        """(frame number, served ms, SHA-256) of the last frames served."""
        return [(k, s, h) for k, _, s, h in self.times]

    def frame_times(self, n=None):
        """The last n (default all kept) frames handed over: {"number",
        "exposed_ms" (the sensor finished it), "served_ms" (capture()
        returned it), "sha256"} in board ms."""
        rows = list(self.times)[-n:] if n else list(self.times)
        return [{"number": k, "exposed_ms": e, "served_ms": s, "sha256": h} for k, e, s, h in rows]

    def scene(self, framesize, quality):
        key = (framesize, quality)
        with self._lock:
            if key not in self._scenes:
                self._scenes[key] = Scene(framesize, quality)
            return self._scenes[key]

    def serve(self, conn):
        f = conn.makefile("rb")
        line = f.readline().decode("ascii", "replace").strip()
        s = shared("settings")
        try:
            fs, q, fb_count, grab = line[1:].split()
            q, fb_count = int(q), int(fb_count)
            if not line.startswith("S") or not 0 <= q <= 100 or not 1 <= fb_count <= 2 \
                    or grab not in (LATEST, WHEN_EMPTY):
                raise ValueError(line)
            scene = self.scene(fs, q)
        except ValueError as e:
            conn.sendall(b"ER bad camera configuration %s\n" % str(e).encode())
            return
        cam = _Camera(self, scene, s.fb_bytes(fs), s.sensor_period_us(fs), fb_count, grab)
        conn.sendall(b"OK\n")
        self.log("camera on: %s, quality %d (QS %d), %d frame buffer%s, %s; the sensor runs at %g fps"
                 % (fs, q, scene.qs, fb_count, "s" if fb_count > 1 else "", grab, 1e6 / cam.period))
        try:
            cam.run(f, conn)
        finally:
            cam.stop()

    def close(self):
        self._pool.shutdown(wait=False)


class _Camera:
    """One Camera(...) of the firmware: the driver model, the rendering,
    the ticker that prints the driver's messages on time."""

    def __init__(self, sensor, scene, fb, period_us, fb_count, grab):
        self.sensor = sensor
        self.scene = scene
        self.fb = fb
        self.period = period_us
        self.lock = threading.Lock()
        self.lens = {}  # frame number -> JPEG bytes, of frames rendered
        self.ahead = None  # (frame number, future): the next frame, rendered ahead
        self.step = 1  # frame numbers between the last two captures (what to render ahead)
        self.last_k = None
        # A scene near the buffer's size may overflow: then every frame the
        # driver takes is rendered, to know.
        self.prone = not shared("settings").chunk_fits(int(scene.sample_max() * PRONE_MARGIN), fb)
        self.driver = Driver(sensor.clock.us(), period_us, fb_count, fb, grab, size_of=self.size_of,
                             typical_bytes=scene.typical, on_message=self.say)
        sensor.driver = self.driver
        sensor.camera = self
        sensor.config = {"framesize": scene.framesize, "quality": scene.quality, "fb_count": fb_count,
                         "grab_mode": grab, "period_ms": period_us / 1000.0}
        self.running = True
        self.ticker = None
        if self.prone or sensor.oversize_every:
            self.start_ticker()

    def start_ticker(self):
        """Run cam_task's work in board time from now on, so the driver's
        messages come out when it would print them, not only when a
        capture looks (needed once frames can overflow)."""
        with self.lock:
            if self.ticker is not None or not self.running:
                return
            self.ticker = threading.Thread(target=self._tick, name="vboard-cam-task", daemon=True)
        self.ticker.start()

    def size_of(self, k):
        every = self.sensor.oversize_every
        if every and k % every == every - 1:
            return self.fb + 1
        if k in self.lens:
            return self.lens[k]
        if not self.prone:
            return None  # the scene's frames fit: not rendered unless handed over
        n = len(self._render(k))
        return n

    def _render(self, k):
        a = self.ahead
        data = a[1].result() if a is not None and a[0] == k else self.scene.render(k, self._done_ms(k))
        self.lens[k] = len(data)
        if len(self.lens) > 64:
            for old in sorted(self.lens)[:-32]:
                del self.lens[old]
        return data

    def _done_ms(self, k):
        return self.driver.vsync_us(k + 1) // 1000

    def say(self, t_us, text):
        sensor = self.sensor
        sensor.said.append((t_us // 1000, text))
        if sensor.console is not None:
            sensor.console(text)

    def _tick(self):
        clock = self.sensor.clock
        while self.running:
            with self.lock:
                self.driver.advance(clock.us() - TICK_LAG_US)
            clock.sleep(self.period / 1000.0)

    def stop(self):
        self.running = False
        if self.sensor.camera is self:
            self.sensor.camera = None

    def run(self, f, conn):
        sensor = self.sensor
        clock = sensor.clock
        while True:
            op = f.read(1)
            at = f.read(AT.size)
            if len(at) < AT.size:
                return
            t = AT.unpack(at)[0]
            if op == b"C":
                self._capture(conn, t)
            elif op == b"F":
                with self.lock:
                    self.driver.free(t)
                sensor.frees += 1
            elif op == b"P":
                dur = PARK.unpack(f.read(PARK.size))[0]
                with self.lock:
                    self.driver.park(t, t + dur)
            else:
                return  # not our protocol: the board's process is gone or confused

    def _capture(self, conn, t):
        sensor = self.sensor
        clock = sensor.clock
        sensor.requests += 1
        if sensor.fail_every and sensor.requests % sensor.fail_every == 0:
            # No frame arrives: the driver gives up after its timeout.
            sensor.stalling = t // 1000
            with self.lock:
                until = self.driver.fail(t, sensor.fail_stall_ms * 1000)
            clock.sleep((until - clock.us()) / 1000.0)
            sensor.stalling = None
            sensor.failures += 1
            conn.sendall(struct.pack("<IIii", 0, ERR_TIMEOUT, clock.ms(), 1))
            return
        with self.lock:
            before = self.driver.overflows
            fr = self.driver.capture(t)
            sensor.overflows += self.driver.overflows - before
            data = self._render(fr.k) if fr is not None else None
        if fr is None:
            clock.sleep((t + FB_GET_TIMEOUT_MS * 1000 - clock.us()) / 1000.0)
            sensor.failures += 1
            conn.sendall(struct.pack("<IIii", 0, ERR_TIMEOUT, clock.ms(), 1))
            return
        clock.sleep((fr.served_us - clock.us()) / 1000.0)  # (when it had to wait for the frame)
        done = fr.done_us // 1000
        served = clock.ms()
        # Counted before the reply: once the board has the frame, whoever
        # watches the sensor (a test reading first_ms after the boot line)
        # sees it too.
        sensor.times.append((fr.k, done, served, hashlib.sha256(data).hexdigest()))
        sensor.frames += 1
        sensor.bytes += len(data)
        if sensor.first_ms is None:
            sensor.first_ms = done
        sensor.last_ms = done
        sensor.last_seq = fr.k
        conn.sendall(struct.pack("<IIii", len(data), fr.k, done, int(fr.served_us > t)) + data)
        # The frame the next capture will likely want, rendered meanwhile
        # (after the reply: the render thread would hold the GIL before it).
        if self.last_k is not None and fr.k > self.last_k:
            self.step = fr.k - self.last_k
        self.last_k = fr.k
        nk = fr.k + self.step
        self.ahead = (nk, sensor._pool.submit(self.scene.render, nk, self._done_ms(nk)))


def _check_every(every):
    if not isinstance(every, int) or isinstance(every, bool) or every < 0:
        raise ValueError("every must be 0 (none) or a whole number >= 1 (1: all), not %r" % (every,))
