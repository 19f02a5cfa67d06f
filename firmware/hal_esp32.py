# HAL for a real ESP32 board: camera (cnadler86 Camera API, lemariva's
# camera.init/capture as a fallback), pins, clock, storage and LEDs, all
# configured from the board profile. Only imported on an ESP32.
import time

import machine
import vfs

import clock


class Esp32Hal:
    def __init__(self, board, settings):
        self.board = board
        b = board["button"]
        pull = {"up": machine.Pin.PULL_UP, "down": machine.Pin.PULL_DOWN}.get(b.get("pull"))
        self.button_pin = machine.Pin(b["pin"], machine.Pin.IN, pull)
        self.leds = {}
        for name, led in board["leds"].items():
            self.leds[name] = (machine.Pin(led["pin"], machine.Pin.OUT), led.get("active_low", False))
            self.led(name, False)
        if "power_hold" in board:  # keeps a battery board powered
            machine.Pin(board["power_hold"], machine.Pin.OUT, value=1)
        self.clock = clock.Clock(time.ticks_ms, _rtc_seconds, _rtc_set)
        self.camera = open_camera(board, settings)
        # A card problem never stops the boot: storage says why, clips_dir
        # stays an unmounted path, so every write there fails with OSError
        # (which the recorder and audit log already report) and the camera
        # keeps buffering.
        self.storage = mount_storage(board)
        self.clips_dir = self.storage["path"] or "/sd/clips"

    def ticks_ms(self):
        return time.ticks_ms()

    def sleep_ms(self, ms):
        time.sleep_ms(ms)

    def led(self, name, on):
        if name in self.leds:
            pin, active_low = self.leds[name]
            pin.value((not on) if active_low else on)


def _rtc_seconds():
    # Seconds since 1970 from the RTC (MicroPython's ESP32 epoch is 2000).
    return time.time() + 946684800 if time.gmtime(0)[0] == 2000 else time.time()


def _rtc_set(unix_ms):
    # The RTC survives soft resets (not power loss): deploy/dock set it.
    y, mo, d, h, mi, s, wd = clock.civil_from_unix(unix_ms // 1000)
    machine.RTC().datetime((y, mo, d, wd, h, mi, s, (unix_ms % 1000) * 1000))


class _LemarivaCamera:
    # lemariva's driver returns a new bytes object per frame (it allocates);
    # kept only as a fallback for older firmware images.
    def __init__(self, cam):
        self.cam = cam

    def capture(self):
        # A failed capture returns False there (lemariva src/modcamera.c,
        # camera_capture); the loop counts None as a failed capture.
        f = self.cam.capture()
        return f if f else None


def open_camera(board, settings):
    c = board["camera"]
    try:
        from camera import Camera, FrameSize, GrabMode, PixelFormat
    except ImportError:
        Camera = None
    if Camera is not None:
        return Camera(
            data_pins=c["data"], vsync_pin=c["vsync"], href_pin=c["href"],
            sda_pin=c["siod"], scl_pin=c["sioc"], pclk_pin=c["pclk"],
            xclk_pin=c["xclk"], xclk_freq=20000000,
            powerdown_pin=c["pwdn"], reset_pin=c["reset"],
            pixel_format=PixelFormat.JPEG,
            frame_size=getattr(FrameSize, settings["framesize"]),
            jpeg_quality=settings["jpeg_quality"],
            fb_count=settings["fb_count"], grab_mode=GrabMode.LATEST)
    import camera  # lemariva/micropython-camera-driver
    d = c["data"]
    # Its quality runs 10 (best) to 63; map ours (higher is better).
    q = 63 - (settings["jpeg_quality"] - 10) * 53 // 90
    camera.init(0, d0=d[0], d1=d[1], d2=d[2], d3=d[3], d4=d[4], d5=d[5], d6=d[6], d7=d[7],
                vsync=c["vsync"], href=c["href"], pclk=c["pclk"], xclk=c["xclk"],
                siod=c["siod"], sioc=c["sioc"], pwdn=c["pwdn"], reset=c["reset"],
                format=camera.JPEG, framesize=getattr(camera, "FRAME_" + settings["framesize"]),
                quality=q, fb_location=camera.PSRAM)
    return _LemarivaCamera(camera)


def mount_storage(board):
    """Mount the board's clip storage; returns sdmount's status dict (ok,
    path, and on failure reason/error/advice). Never raises for a card."""
    import sdmount
    st = board["storage"]
    if st["kind"] == "flash":
        _makedirs("/clips")
        return sdmount.ok_status("flash", "/clips")
    p = st.get("pins", {})
    if st["slot"] == 3:  # SPI mode (machine_sdcard.c: slots 2, 3)
        def make():
            return machine.SDCard(slot=3, sck=p["sck"], mosi=p["mosi"], miso=p["miso"], cs=p["cs"])
    elif board["chip"] == "esp32":
        # The original ESP32's SDMMC pins are fixed (IO_MUX); its SDCard has
        # no cmd/data keywords (machine_sdcard.c: SOC_SDMMC_USE_GPIO_MATRIX).
        def make():
            return machine.SDCard(slot=st["slot"], width=st.get("width", 1))
    else:
        # ESP32-S3: SDMMC pins go through the GPIO matrix and default to
        # other pins than the board's: pass them (sck is the CLK pin, data
        # holds `width` pins; machine_sdcard.c, SOC_SDMMC_USE_GPIO_MATRIX).
        w = st.get("width", 1)
        data = tuple(p["d%d" % i] for i in range(w))

        def make():
            return machine.SDCard(slot=st["slot"], width=w, sck=p["clk"], cmd=p["cmd"], data=data)
    status = sdmount.mount_sd(make, vfs.mount)
    if status["ok"]:
        _makedirs(status["path"])
    return status


def _makedirs(path):
    import os
    try:
        os.mkdir(path)
    except OSError:
        pass
