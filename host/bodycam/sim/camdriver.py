"""The esp32-camera driver's frame buffers, for the virtual board: which
frame each capture() gets, and when. Pure logic in board time (us); the
virtual sensor (sensor.py) drives it and renders only the frames it hands
over.

Read in cnadler86/esp32-camera's `micropython` branch at 22e014b (espressif
v2.1.4 merged; cam_hal.c last changed 2025-08-22, before the b9c5c51 that
cnadler86/micropython-camera-API v0.6.0 pins), driver/cam_hal.c:

- The OV2640 free-runs (settings.sensor_period_us): VSYNC j comes at
  t0 + j*P; frame j is read out until VSYNC j+1, when it is complete (its
  `done` time here; the driver stamps fb->timestamp at its start, in
  cam_start_frame).
- cam_task, at a VSYNC: the frame in progress is done and goes into
  frame_buffer_queue; a full queue first gives its oldest frame back
  (cam_give), so the newest wins. The queue holds fb_count-1 frames in
  CAMERA_GRAB_LATEST with 2+ buffers, else fb_count (cam_config). Then the
  next frame starts in a free buffer (cam_start_frame ->
  cam_get_next_frame: frames[x].en); with none free the driver idles and
  that frame is lost, as is every frame until a buffer is free at a VSYNC.
- esp_camera_fb_get() = cam_take(4000 ms): pops the queue, waiting for the
  next frame when it is empty. esp_camera_fb_return() = cam_give: the
  buffer is free again. cnadler86's capture() returns the buffer it holds,
  then calls fb_get (src/modcamera.c mp_camera_hal_capture); free_buffer()
  only returns it. So a buffer the firmware holds is never refilled.
- A frame larger than the buffer: cam_task copies DMA_CHUNK bytes per DMA
  interrupt and prints "cam_hal: FB-OVF" when a copy would pass the end,
  at that interrupt and again at the VSYNC (ets_printf, straight to UART0);
  the truncated frame is queued all the same, and cam_take drops it for
  its missing EOI ("NO-EOI": CAM_WARN_THROTTLE, compiled out at
  MicroPython's CONFIG_LOG_DEFAULT_LEVEL_ERROR) and waits for the next.
- Parked: while the SPI flash is written or erased the cache is off and
  only IRAM code runs (ESP-IDF components/spi_flash, esp_flash_api.c holds
  the cache off around each erase and page program). The I2S DMA interrupt
  is IRAM and keeps queueing "half buffer full" events, but cam_task is in
  flash and cannot copy them out; its event queue holds 7 (dma_half_buffer_cnt
  - 1, target/esp32/ll_cam.c: 8 halves of 1 KB of JPEG), so a stall longer
  than 7 KB of the frame's data loses the frame (EV-EOF-OVF, ll_cam_stop).
  The VSYNC interrupt reaches ll_cam_vsync_isr through the GPIO ISR service
  that MicroPython installed without ESP_INTR_FLAG_IRAM (ports/esp32/
  machine_pin.c), so a VSYNC in a stall is seen only after it: the frame
  that starts there is taken from the middle (no SOI) and dropped.
"""
import collections

from bodycam.resources import shared

FREE, FILL, QUEUED, HELD = 0, 1, 2, 3
LATEST, WHEN_EMPTY = "LATEST", "WHEN_EMPTY"
FB_GET_TIMEOUT_US = 4000000  # esp32-camera driver/esp_camera.c FB_GET_TIMEOUT
_settings = shared("settings")
DMA_CHUNK = _settings.DMA_CHUNK  # JPEG bytes per DMA interrupt on the ESP32
EVENT_QUEUE = 7  # cam_task's event queue: dma_half_buffer_cnt - 1
OVF_LINE = b"cam_hal: FB-OVF\r\n"
PARKS_KEPT = 256


class Frame:
    """What a capture got: sensor frame number k, read out from start_us to
    done_us (board time), handed over at served_us."""
    __slots__ = ("k", "start_us", "done_us", "served_us")

    def __init__(self, k, start_us, done_us, served_us):
        self.k, self.start_us, self.done_us, self.served_us = k, start_us, done_us, served_us


class Driver:
    def __init__(self, t0_us, period_us, fb_count, fb_bytes, grab=LATEST, size_of=None,
                 typical_bytes=None, on_message=None):
        if fb_count < 1:
            raise ValueError("fb_count must be >= 1")
        if grab not in (LATEST, WHEN_EMPTY):
            raise ValueError("grab mode must be LATEST or WHEN_EMPTY")
        self.t0 = t0_us
        self.period = period_us
        self.fb_bytes = fb_bytes
        self.grab = grab
        self.qlen = fb_count - 1 if grab == LATEST and fb_count > 1 else fb_count
        self.state = [FREE] * fb_count
        self.frame = [-1] * fb_count  # sensor frame number in each buffer
        self.bad = [False] * fb_count  # truncated by FB-OVF
        self.queue = collections.deque()
        self.filling = None  # buffer index being filled
        self.held = None  # buffer the firmware holds
        self.next_j = 0  # the next VSYNC to process
        self.size_of = size_of or (lambda k: None)  # JPEG bytes of frame k, or None: fits
        # how long a stall the driver's event queue rides out, at a typical frame's data rate
        self.tolerance_us = EVENT_QUEUE * DMA_CHUNK * period_us // max(1, typical_bytes or fb_bytes)
        self.on_message = on_message or (lambda t_us, text: None)
        self.parks = collections.deque(maxlen=PARKS_KEPT)  # (start_us, end_us): flash writes
        self.dead = None  # (start_us, end_us): no frames at all (a sensor fault)
        # counts
        self.done = 0  # frames the driver completed into a buffer
        self.no_buffer = 0  # frames lost: no free buffer at their VSYNC
        self.parked = 0  # frames lost to a flash write
        self.displaced = 0  # completed frames a newer one pushed out of the queue (LATEST)
        self.overflows = 0  # frames dropped for FB-OVF
        self.messages = 0

    # --- time ---------------------------------------------------------------
    def vsync_us(self, j):
        return self.t0 + j * self.period

    def advance(self, t_us):
        """Run cam_task over every VSYNC up to board time t_us."""
        while self.vsync_us(self.next_j) <= t_us:
            if self.filling is None and FREE not in self.state and not self.dead:
                # nothing can start until the firmware gives a buffer back
                n = (t_us - self.t0) // self.period + 1
                self.no_buffer += n - self.next_j
                self.next_j = n
                return
            self._vsync(self.next_j)
            self.next_j += 1

    def _vsync(self, j):
        v = self.vsync_us(j)
        i = self.filling
        if i is not None:
            self.filling = None
            k = self.frame[i]
            if self._lost(k):
                self.state[i] = FREE
            else:
                self._complete(i, k, v)
        if self._in_park(v) or self._in_dead(v):
            self.parked += 1  # its start was missed: the DMA began mid-frame, no SOI
            return
        if FREE in self.state:
            i = self.state.index(FREE)
            self.state[i] = FILL
            self.frame[i] = j
            self.bad[i] = False
            self.filling = i
        else:
            self.no_buffer += 1

    def _complete(self, i, k, v):
        self.done += 1
        n = self.size_of(k)
        if n is not None and not _settings.chunk_fits(n, self.fb_bytes):
            self.bad[i] = True
            self.overflows += 1
            a = v - self.period
            if (n // DMA_CHUNK) * DMA_CHUNK > self.fb_bytes:  # a DMA interrupt overflowed first
                at = a + self.period * ((self.fb_bytes // DMA_CHUNK + 1) * DMA_CHUNK) // n
                self._say(min(at, v), OVF_LINE)
            self._say(v, OVF_LINE)
        if len(self.queue) >= self.qlen:
            old = self.queue.popleft()  # LATEST: the oldest queued frame goes back
            self.state[old] = FREE
            self.displaced += 1
        self.state[i] = QUEUED
        self.queue.append(i)

    def _say(self, t_us, text):
        self.messages += 1
        self.on_message(t_us, text)

    def _lost(self, k):
        a = self.vsync_us(k)
        b = a + self.period
        d = self.dead
        if d and d[0] < b and a < d[1]:
            self.parked += 1
            return True
        for s, e in self.parks:
            if s < b and a < e and min(b, e) - max(a, s) >= self.tolerance_us:
                self.parked += 1
                return True
        return False

    def _in_park(self, t):
        for s, e in self.parks:
            if s <= t < e:
                return True
        return False

    def _in_dead(self, t):
        d = self.dead
        return bool(d) and d[0] <= t < d[1]

    # --- what the firmware and the board do ----------------------------------
    def park(self, start_us, end_us):
        """The flash was written or erased from start_us to end_us."""
        if end_us > start_us:
            self.parks.append((start_us, end_us))

    def capture(self, t_us):
        """cnadler86's capture() called at t_us: the Frame it returns, or
        None after the driver's 4 s timeout (then at t_us + 4 s)."""
        self.advance(t_us)
        self._give_back()
        deadline = t_us + FB_GET_TIMEOUT_US
        now = t_us
        while True:
            while self.queue:
                i = self.queue.popleft()
                if self.bad[i]:
                    self.state[i] = FREE  # no EOI: cam_take gives it back and waits on
                    continue
                self.state[i] = HELD
                self.held = i
                k = self.frame[i]
                return Frame(k, self.vsync_us(k), self.vsync_us(k + 1), now)
            nv = self.vsync_us(self.next_j)
            if nv > deadline:
                self.advance(deadline)
                return None
            self.advance(nv)
            now = nv

    def fail(self, t_us, stall_us):
        """A sensor fault at a capture at t_us: no frame reaches the driver
        for stall_us (what is queued is lost too); the capture gives up
        then. Returns the time it gives up."""
        self.advance(t_us)
        self._give_back()
        while self.queue:
            self.state[self.queue.popleft()] = FREE
        self.dead = (t_us, t_us + stall_us)
        self.advance(t_us + stall_us)
        return t_us + stall_us

    def free(self, t_us):
        """free_buffer() at t_us."""
        self.advance(t_us)
        self._give_back()

    def _give_back(self):
        if self.held is not None:
            self.state[self.held] = FREE
            self.held = None

    def available(self, t_us):
        """frame_available(): a frame is queued."""
        self.advance(t_us)
        return any(not self.bad[i] for i in self.queue)

    def stats(self):
        return {"done": self.done, "no_buffer": self.no_buffer, "parked": self.parked,
                "displaced": self.displaced, "overflows": self.overflows, "messages": self.messages}
