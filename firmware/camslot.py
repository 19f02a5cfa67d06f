# The camera as the capture loop sees it, whatever happened when it was
# started: a camera that failed to start never stops the boot, it is tried
# again (a reseated ribbon cable works without a reset) and says why.
#
# What cnadler86's Camera(...) raises (v0.6.0, src/modcamera_api.c
# mp_camera_make_new, src/modcamera.c init_camera; research notes in
# docs/esp32-port.md, "The camera fails to start"):
# - esp_camera_init failing goes through check_esp_err (ports/esp32/
#   mphalport.c): OSError(errno, 'ESP_ERR_...'), e.g. no sensor on the bus
#   (camera_probe in esp32-camera >= 2.1.0) OSError(95, 'ESP_ERR_NOT_SUPPORTED')
#   after ~40 ms, no memory for the frame buffers OSError(12, 'ESP_ERR_NO_MEM');
# - the first capture failing (a sensor that answers but sends no frame, or
#   a frame larger than the driver's buffer) raises, after esp_camera_fb_get's
#   4 s timeout, OSError('Failed to capture initial frame. ...'): one string
#   argument, so its errno is that string;
# - an image without the module: ImportError.
# The driver cleans up after a failure (esp_camera_deinit) and the next
# Camera(...) deinitialises the old singleton first: a retry needs no reset.

RETRY_MS = (2000, 4000, 8000, 15000, 30000)  # waits before each new try, then every 30 s
ENOMEM = 12
EOPNOTSUPP = 95  # ESP_ERR_NOT_SUPPORTED through check_esp_err

NO_DRIVER = "no_driver"
NOT_FOUND = "not_found"
NO_MEMORY = "no_memory"
NO_FRAMES = "no_frames"
INIT_FAILED = "init_failed"

ADVICE = {
    NO_DRIVER: "this MicroPython image has no camera module (cnadler86's camera API): flash a camera "
               "image with `bodycam flash` (docs/flashing.md lists the images that work)",
    NOT_FOUND: "no camera answered on its bus: power off, reseat the camera's ribbon cable (contacts "
               "towards the board, latch closed) and power on; the camera is tried again meanwhile",
    NO_MEMORY: "not enough memory for the camera's frame buffers: lower framesize or fb_count "
               "(bodycam plan shows what fits)",
    NO_FRAMES: "the camera answered but sent no frame within 4 s: reseat its ribbon cable, check the "
               "board profile's camera pins (xclk, pclk, vsync), and that a frame fits the driver's "
               "buffer (bodycam plan); the camera is tried again meanwhile",
    INIT_FAILED: "the camera driver could not start the camera: check the board profile's camera pins "
                 "and the ribbon cable; the camera is tried again meanwhile",
}


def describe(err):
    """(reason, advice) for what opening the camera raised."""
    if isinstance(err, ImportError):
        return NO_DRIVER, ADVICE[NO_DRIVER]
    code = err.args[0] if err.args else None
    if isinstance(code, int):
        if code == EOPNOTSUPP:
            return NOT_FOUND, ADVICE[NOT_FOUND]
        if code == ENOMEM:
            return NO_MEMORY, ADVICE[NO_MEMORY]
        return INIT_FAILED, ADVICE[INIT_FAILED]
    return NO_FRAMES, ADVICE[NO_FRAMES]


def error_text(e):
    return "%s(%s)" % (type(e).__name__, ", ".join(repr(a) for a in e.args))


class CameraSlot:
    """Holds the driver's camera once it has started; until then capture()
    returns None (counted as a failed capture, as the driver's own None is)
    and, at growing intervals, tries to start it again. log(kind, data),
    when set, gets "camera_failed" and "camera_started" entries."""

    def __init__(self, opener, ticks_ms, diff, log=None):
        self.opener = opener
        self.ticks = ticks_ms
        self.diff = diff
        self.log = log
        self.cam = None
        self.tries = 0
        self.status = None
        self._next = 0
        self._open()

    def _open(self):
        self.tries += 1
        try:
            cam = self.opener()
        except Exception as e:  # ImportError, OSError, ValueError: never the boot's end
            reason, advice = describe(e)
            self.status = {"ok": False, "reason": reason, "error": error_text(e), "advice": advice,
                           "tries": self.tries}
            wait = RETRY_MS[self.tries - 1] if self.tries <= len(RETRY_MS) else RETRY_MS[-1]
            self._next = (self.ticks() + wait) & 0x3FFFFFFF
            if reason == NO_DRIVER:
                self._next = None  # no driver to try again
            if self.log is not None and self.tries == 1:
                self.log("camera_failed", self.status)
            return False
        self.cam = cam
        self.status = {"ok": True, "sensor": getattr(cam, "sensor_name", None), "tries": self.tries}
        if self.log is not None and self.tries > 1:
            self.log("camera_started", self.status)
        return True

    def capture(self):
        cam = self.cam
        if cam is not None:
            return cam.capture()
        if self._next is not None and self.diff(self.ticks(), self._next) >= 0:
            self._open()
        return None

    def free_buffer(self):
        # (the capture loop gives the buffer back as soon as it has copied
        # the frame: app.py; before the camera has started there is none)
        cam = self.cam
        if cam is not None:
            cam.free_buffer()

    @property
    def ok(self):
        return self.cam is not None

    @property
    def sensor_name(self):
        return getattr(self.cam, "sensor_name", None)

    def __getattr__(self, name):
        # the driver's other calls (free_buffer, deinit, ...) go to it
        if name == "cam":
            raise AttributeError(name)
        cam = self.cam
        if cam is None:
            raise AttributeError(name)
        return getattr(cam, name)
