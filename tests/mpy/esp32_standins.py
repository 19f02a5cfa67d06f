# Strict stand-ins for the ESP32 port (MicroPython 1.27) and cnadler86's
# camera driver (v0.6.0), so firmware/hal_esp32.py and every
# `sys.platform == "esp32"` branch run on the unix port in CI. Each refuses
# an unknown keyword or a wrong type the way the real C code does
# (mp_arg_parse_all: TypeError for an unexpected keyword, mp_obj_get_int:
# TypeError for a non-int). Sources, all at the tags named:
#   machine.Pin      ports/esp32/machine_pin.c (make_new, init_helper args
#                    mode, pull, *value, *drive, *hold; irq args handler,
#                    trigger, wake: there is no `hard`)
#   machine.SDCard   ports/esp32/machine_sdcard.c (all keyword-only: slot,
#                    width, cd, wp, miso, mosi, sck, cs, cmd+data only where
#                    SOC_SDMMC_USE_GPIO_MATRIX (ESP32-S3), freq)
#   machine.RTC      ports/esp32/machine_rtc.c (datetime: an 8-item sequence)
#   machine.UART     ports/esp32/machine_uart.c (init args)
#   vfs.mount        extmod/vfs.c (fsobj, mount_point, *, readonly, mkfs)
#   time             ports/esp32: the epoch is 2000-01-01 (gmtime(0)[0] == 2000)
#   esp32            ports/esp32/modesp32.c idf_heap_info(capabilities)
#   camera           cnadler86 src/modcamera_api.c, typings/camera.pyi
# install(chip) puts them in sys.modules (and a sys whose platform is
# "esp32") before the firmware is imported; nothing else is changed.
import sys

_real_sys = sys
_real_time = __import__("time")
_real_vfs = __import__("vfs")

EPOCH_2000 = 946684800


def _int(name, v):
    # mp_obj_get_int: ints (and bools) only
    if not isinstance(v, int):
        raise TypeError("can't convert %s to int (%s)" % (type(v).__name__, name))
    return v


def _kw(fn, kw, allowed):
    for k in kw:
        if k not in allowed:
            raise TypeError("unexpected keyword argument '%s' (%s)" % (k, fn))


CHIPS = {
    # valid GPIOs; the first input-only one (GPIO_FIRST_NON_OUTPUT)
    "esp32": ([i for i in range(40) if i not in (20, 24, 28, 29, 30, 31)], 34),
    "esp32s3": ([i for i in range(49) if not 22 <= i <= 25], 99),
}
CALLS = []  # what the firmware asked the hardware for, for the tests


# --- machine ----------------------------------------------------------------
class _Machine:
    pass


def _make_machine(chip):
    pins, first_input_only = CHIPS[chip]
    m = _Machine()

    class Pin:
        IN = 1
        OUT = 3
        OPEN_DRAIN = 7
        PULL_UP = 2
        PULL_DOWN = 1
        IRQ_RISING = 1
        IRQ_FALLING = 2
        all = {}

        def __init__(self, id, *args, **kw):
            if not isinstance(id, int) or id not in pins:
                raise ValueError("invalid pin")
            self.id = id
            self.level = 1
            self.mode = None
            self.pull = None
            self.handler = None
            self.trigger = 0
            Pin.all[id] = self
            if args or kw:
                self.init(*args, **kw)

        def init(self, mode=None, pull=-1, **kw):
            _kw("Pin.init", kw, ("value", "drive", "hold"))
            if mode is not None:
                _int("mode", mode)
                if self.id >= first_input_only and mode & 2:
                    raise ValueError("pin can only be input")
                self.mode = mode
            if pull != -1:
                self.pull = None if pull is None else _int("pull", pull)
            if "value" in kw:
                self.level = 1 if kw["value"] else 0

        def value(self, v=None):
            if v is None:
                return self.level
            self.level = 1 if v else 0
            CALLS.append(("pin", self.id, self.level))

        def irq(self, handler=None, trigger=3, wake=None, **kw):
            _kw("Pin.irq", kw, ())  # no `hard` on the ESP32
            _int("trigger", trigger)
            self.handler = handler
            self.trigger = trigger
            return self

        def drive_level(self, level):
            """The outside world sets the pin; the (soft) IRQ runs."""
            if level == self.level:
                return
            self.level = level
            edge = Pin.IRQ_RISING if level else Pin.IRQ_FALLING
            if self.handler is not None and self.trigger & edge:
                self.handler(self)

    class SDCard:
        KEYS = ("slot", "width", "cd", "wp", "miso", "mosi", "sck", "cs", "freq") + (
            ("cmd", "data") if chip == "esp32s3" else ())
        card = None  # the block device behind the slot (set by the test)

        def __init__(self, *args, **kw):
            if args:
                raise TypeError("function takes 0 positional arguments but %d were given" % len(args))
            _kw("SDCard", kw, SDCard.KEYS)
            slot = _int("slot", kw.get("slot", 1))
            width = _int("width", kw.get("width", 1))
            if not 0 <= slot <= 3 or (chip == "esp32" and slot == 0 and False):
                raise ValueError("invalid slot number")
            spi = slot >= 2
            if spi and ("cmd" in kw or "data" in kw):
                raise ValueError("invalid config: SPI slot with SDMMC pin arguments")
            if not spi and ("miso" in kw or "mosi" in kw or "cs" in kw):
                raise ValueError("invalid config: SDMMC slot with SPI pin arguments")
            for k in ("miso", "mosi", "sck", "cs", "cmd", "cd", "wp"):
                if k in kw and kw[k] is not None and (not isinstance(kw[k], int) or kw[k] not in pins):
                    raise ValueError("invalid pin")
            if not spi and width not in (1, 4, 8) or (width == 8 and slot != 0):
                raise ValueError("width must be 1 or 4 (or 8 on slot 0)")
            if "data" in kw and kw["data"] is not None and len(kw["data"]) != width:
                raise ValueError("data argument length must match width %d" % width)
            CALLS.append(("sdcard", dict(kw)))
            self.dev = SDCard.card

        def readblocks(self, n, buf):
            return self.dev.readblocks(n, buf) if self.dev else False

        def writeblocks(self, n, buf):
            return self.dev.writeblocks(n, buf) if self.dev else False

        def ioctl(self, op, arg):
            if self.dev is None:
                return 0 if op in (2, 3) else -1  # sdmmc_card_init failed
            return self.dev.ioctl(op, arg)

    class RTC:
        def datetime(self, *args):
            if len(args) > 1:
                raise TypeError("function takes at most 2 arguments")
            if not args:
                t = _real_time.gmtime()
                return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
            tt = args[0]
            if len(tt) != 8:
                raise ValueError("requested length 8 but object has length %d" % len(tt))
            for i, v in enumerate(tt):
                _int("datetime[%d]" % i, v)
            CALLS.append(("rtc", tuple(tt)))

    class UART:
        INIT_KEYS = ("baudrate", "bits", "parity", "stop", "tx", "rx", "rts", "cts", "txbuf", "rxbuf",
                     "timeout", "timeout_char", "invert", "flow")

        def __init__(self, id, *args, **kw):
            _int("id", id)
            if not 0 <= id <= 2:
                raise ValueError("UART(%d) does not exist" % id)
            self.id = id
            if args or kw:
                self.init(*args, **kw)

        def init(self, *args, **kw):
            _kw("UART.init", kw, UART.INIT_KEYS)
            if "baudrate" in kw:
                _int("baudrate", kw["baudrate"])
            CALLS.append(("uart_init", self.id, dict(kw)))

    def reset_cause():
        return 1  # PWRON_RESET

    m.Pin = Pin
    m.SDCard = SDCard
    m.RTC = RTC
    m.UART = UART
    m.reset_cause = reset_cause
    m.PWRON_RESET = 1
    return m


# --- vfs: the real one, with the port's signature ---------------------------------
class _Vfs:
    pass


def _make_vfs():
    v = _Vfs()

    def mount(fsobj, mount_point, *args, **kw):
        if args:
            raise TypeError("function takes 2 positional arguments but %d were given" % (2 + len(args)))
        _kw("vfs.mount", kw, ("readonly", "mkfs"))
        CALLS.append(("mount", mount_point))
        return _real_vfs.mount(fsobj, mount_point, **kw)

    v.mount = mount
    v.umount = _real_vfs.umount
    v.VfsFat = _real_vfs.VfsFat
    return v


# --- time with the ESP32's 2000 epoch ----------------------------------------------
class _Time:
    pass


def _make_time():
    t = _Time()
    for name in ("ticks_ms", "ticks_us", "ticks_diff", "ticks_add", "sleep_ms", "sleep_us", "sleep"):
        setattr(t, name, getattr(_real_time, name))
    t.time = lambda: int(_real_time.time()) - EPOCH_2000
    t.gmtime = lambda s=None: _real_time.gmtime((int(_real_time.time()) if s is None else s + EPOCH_2000))
    t.localtime = t.gmtime
    return t


# --- esp32 ------------------------------------------------------------------------
class _Esp32:
    HEAP_DATA = 4  # MALLOC_CAP_8BIT
    HEAP_EXEC = 1

    def __init__(self, regions):
        self.regions = regions

    def idf_heap_info(self, cap, *rest):
        if rest:
            raise TypeError("function takes 1 positional arguments but %d were given" % (1 + len(rest)))
        _int("capabilities", cap)
        return [tuple(r) for r in self.regions]


# --- cnadler86 camera (v0.6.0) --------------------------------------------------------
class _Consts:
    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


FrameSize = _Consts(R96X96=0, QQVGA=1, R128x128=2, QCIF=3, HQVGA=4, R240X240=5, QVGA=6, R320X320=7,
                    CIF=8, HVGA=9, VGA=10, SVGA=11, XGA=12, HD=13, SXGA=14, UXGA=15, FHD=16)
PixelFormat = _Consts(RGB565=0, YUV422=1, YUV420=2, GRAYSCALE=3, JPEG=4, RGB888=5, RAW=6, RGB444=7,
                      RGB555=8)
GrabMode = _Consts(WHEN_EMPTY=0, LATEST=1)
_FS_WH = {1: (160, 120), 3: (176, 144), 4: (240, 176), 6: (320, 240), 8: (400, 296), 9: (480, 320),
          10: (640, 480), 11: (800, 600), 12: (1024, 768), 13: (1280, 720), 14: (1280, 1024), 15: (1600, 1200)}
CAMERA_KEYS = ("data_pins", "pclk_pin", "vsync_pin", "href_pin", "sda_pin", "scl_pin", "xclk_pin", "i2c",
               "xclk_freq", "powerdown_pin", "reset_pin", "pixel_format", "frame_size", "jpeg_quality",
               "fb_count", "grab_mode", "init")
_camera_singleton = []


STOP_AFTER = [None]  # captures before capture() raises SystemExit (ends main.py's endless loop)


def _make_camera(frames):
    class Camera:
        def __init__(self, *args, **kw):
            if args:
                raise TypeError("function doesn't take positional arguments")  # all keyword-only
            _kw("Camera", kw, CAMERA_KEYS)
            for k in ("data_pins", "pclk_pin", "vsync_pin", "href_pin", "xclk_pin"):
                if k not in kw:
                    raise TypeError("'%s' argument required" % k)  # no board pins built in
            dp = kw["data_pins"]
            if not isinstance(dp, (list, bytearray)):
                raise TypeError("data_pins must be a list or bytearray")
            if len(dp) != 8:
                raise ValueError("data_pins must have 8 elements")
            for k in CAMERA_KEYS:
                if k in kw and k not in ("data_pins", "i2c", "init"):
                    _int(k, kw[k])
            if kw.get("xclk_freq", 20000000) > 40000000:
                raise ValueError("xclk frequency cannot be grather than 40MHz")
            if kw.get("i2c") is None and (kw.get("sda_pin", -1) == -1 or kw.get("scl_pin", -1) == -1):
                raise ValueError("Either i2c object or sda_pin/scl_pin must be specified")
            if kw.get("grab_mode", 0) not in (0, 1):
                raise ValueError("Invalid grab_mode")
            if kw.get("pixel_format", 0) not in range(9):
                raise ValueError("Invalid pixel_format")
            q = kw.get("jpeg_quality", 85)
            if not 0 <= q <= 100:
                raise ValueError("Invalid setting for quality")
            fs = kw.get("frame_size", 6)
            if fs not in _FS_WH:
                raise ValueError("Invalid setting for frame_size")
            CALLS.append(("camera", dict(kw)))
            w, h = _FS_WH[fs]
            import array
            self.fb = memoryview(array.array("b", bytearray(w * h // 5)))  # JPEG limit w*h/5, signed
            self.i = 0
            self.sensor_name = "OV2640"
            _camera_singleton.append(self)

        def capture(self):
            # A signed view into the one buffer the next capture overwrites
            # (modcamera.c: mp_obj_new_memoryview('b', ...)); None on failure.
            if STOP_AFTER[0] is not None and self.i >= STOP_AFTER[0]:
                raise SystemExit("stand-in camera: capture limit reached")
            if not frames:
                return None
            f = frames[self.i % len(frames)]
            self.i += 1
            n = len(f)
            self.fb[:n] = f
            return self.fb[:n]

        def free_buffer(self):
            pass

        def deinit(self):
            pass

    return Camera


class _Module:
    pass


# What the camera connector holds, for a Camera(...) made now: None (a
# working sensor), "missing" (nothing answers on SCCB: esp32-camera's
# camera_probe gives ESP_ERR_NOT_SUPPORTED, which check_esp_err raises as
# OSError(95, ...)) or "no_frames" (a sensor that sends nothing: cnadler86's
# mp_camera_make_new raises its one-string OSError after the first capture's
# 4 s timeout). Tests change it to act out a reseated cable.
CAMERA_FAULT = [None]


def _camera_module(frames, api):
    mod = _Module()
    Camera = _make_camera(frames)

    class FaultyCamera(Camera):
        def __init__(self, *args, **kw):
            fault = CAMERA_FAULT[0]
            if fault == "missing":
                raise OSError(95, "ESP_ERR_NOT_SUPPORTED")
            if fault == "no_frames":
                raise OSError("Failed to capture initial frame. Construct a new object with appropriate "
                              "configuration.")
            super().__init__(*args, **kw)

    mod.Camera = FaultyCamera
    mod.FrameSize = FrameSize
    mod.PixelFormat = PixelFormat
    mod.GrabMode = GrabMode
    mod.GainCeiling = _Consts(X2=0, X4=1, X8=2)
    return mod


class _Sys:
    def __init__(self):
        self.platform = "esp32"

    def __getattr__(self, k):
        return getattr(_real_sys, k)


def install(chip="esp32", frames=(), camera_api="cnadler86", heap_regions=((4128768, 3900000, 3800000, 3700000),),
            card=None, stop_after=None):
    """Put the stand-ins in sys.modules. card: the block device in the SD
    slot (None: empty slot)."""
    m = _make_machine(chip)
    m.SDCard.card = card
    STOP_AFTER[0] = stop_after
    mods = sys.modules
    mods["machine"] = m
    mods["vfs"] = _make_vfs()
    mods["time"] = _make_time()
    mods["esp32"] = _Esp32(heap_regions)
    if camera_api is None:  # an image without cnadler86's camera module
        mods.pop("camera", None)
    else:
        mods["camera"] = _camera_module(list(frames), camera_api)
    mods["sys"] = _Sys()
    return m
