# HAL for a real ESP32 board: camera (cnadler86's Camera API), pins, clock,
# storage and LEDs, all configured from the board profile. Only imported on
# an ESP32 running MicroPython >= 1.23 (the `vfs` module, extmod/modvfs.c);
# lemariva's older camera driver builds only up to 1.22 (it uses STATIC,
# removed in 1.23), so it can never run beside this and is not supported
# (docs/flashing.md lists the images that work; `bodycam deploy` checks).
import time

import machine
import vfs

import clock
import sdmount
from camslot import CameraSlot


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
        # A camera that fails to start never stops the boot: it is tried
        # again, and says why meanwhile (camslot.py).
        t0 = time.ticks_ms()
        self.camera = CameraSlot(lambda: open_camera(board, settings), time.ticks_ms, time.ticks_diff)
        t1 = time.ticks_ms()
        # A card problem never stops the boot either: storage says why,
        # clips_dir stays an unmounted path, so every write there fails with
        # OSError (which the recorder and audit log already report) and the
        # camera keeps buffering.
        self.storage = mount_storage(board, self.button_pin)
        self.clips_dir = self.storage["path"] or "/sd/clips"
        self.boot_ms = {"camera": time.ticks_diff(t1, t0), "storage": time.ticks_diff(time.ticks_ms(), t1)}

    def reset_cause(self):
        return machine.reset_cause()

    def ticks_ms(self):
        return time.ticks_ms()

    def sleep_ms(self, ms, wake=None):
        """Sleep ms; with wake, sooner once wake() is true (checked every
        10 ms: pin IRQ handlers run during time.sleep_ms, soft as they are)."""
        if wake is None:
            time.sleep_ms(ms)
            return
        end = time.ticks_add(time.ticks_ms(), ms)
        while not wake():
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                return
            time.sleep_ms(left if left < 10 else 10)

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


def open_camera(board, settings):
    """cnadler86's Camera (v0.6.0), or what its constructor raises
    (camslot.py says what each means)."""
    c = board["camera"]
    from camera import Camera, FrameSize, GrabMode, PixelFormat
    return Camera(
        data_pins=c["data"], vsync_pin=c["vsync"], href_pin=c["href"],
        sda_pin=c["siod"], scl_pin=c["sioc"], pclk_pin=c["pclk"],
        xclk_pin=c["xclk"], xclk_freq=20000000,
        powerdown_pin=c["pwdn"], reset_pin=c["reset"],
        pixel_format=PixelFormat.JPEG,
        frame_size=getattr(FrameSize, settings["framesize"]),
        jpeg_quality=settings["jpeg_quality"],
        fb_count=settings["fb_count"], grab_mode=GrabMode.LATEST)


def mount_storage(board, button_pin=None):
    """Mount the board's clip storage; returns sdmount's status dict (ok,
    path, and on failure reason/error/advice). Never raises for a card.
    Where the button shares the card's DAT3 line (the AI-Thinker's GPIO13)
    the card is started only once the button is released (sdmount.py)."""
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
    held = None
    if button_pin is not None and sdmount.dat3_pin(board) == board["button"]["pin"]:
        pressed = 0 if board["button"]["active_low"] else 1
        held = sdmount.wait_released(lambda: button_pin.value() == pressed, time.ticks_ms, time.ticks_diff,
                                     time.sleep_ms)
    status = sdmount.mount_sd(make, vfs.mount, held=held)
    if status["ok"]:
        _makedirs(status["path"])
    return status


def _makedirs(path):
    import os
    try:
        os.mkdir(path)
    except OSError:
        pass
