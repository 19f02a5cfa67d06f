# Virtual board only: the ESP32-CAM's hardware as the simulator (`bodycam
# sim`, host/bodycam/sim/) wires it to MicroPython's unix port. One control
# socket carries pin edges in and LEDs, RTC, UART rate and reset requests
# out; a camera socket delivers JPEG frames. The board's clock runs `speed`
# times faster than wall time; the simulator owns it and tells us where it
# is at boot, so host and board agree on board time.
#
# BoardHal is the HAL main.py uses on the virtual board: the same interface
# as hal_esp32.Esp32Hal (button_pin, clock, camera, clips_dir, ticks_ms,
# sleep_ms, led), plus reset() standing in for machine.reset(). The UART is
# the process's stdin/stdout (a pty): its speed is the pty's termios speed
# (ptyline.set_pty_baud sets it), which the simulator paces the line by.
import json
import os
import select
import socket
import struct
import sys
import time

import vfs

import clock
import sdmount
from camslot import CameraSlot
from hal_virtual import VirtualPin, _makedirs, signed_frame_buffer
from vboard_bdev import CardImage, Costs, FlashPartition, NoCard, UnreadableCard

ENV = "BODYCAM_VBOARD"  # the simulator's socket folder
FRAMESIZES = {  # width, height (the camera's fb is width*height/5 bytes, as the driver's)
    "QQVGA": (160, 120), "QCIF": (176, 144), "HQVGA": (240, 176), "QVGA": (320, 240),
    "CIF": (400, 296), "HVGA": (480, 320), "VGA": (640, 480), "SVGA": (800, 600),
    "XGA": (1024, 768), "HD": (1280, 720), "SXGA": (1280, 1024), "UXGA": (1600, 1200),
}
BOOT_PY = """\
# This file is executed on every boot (including wake-boot from deepsleep)
#import esp
#esp.osdebug(None)
#import webrepl
#webrepl.start()
"""

LINK = None  # the Link of this boot, once boot() has run


def attached():
    """True when running on the virtual board (boot() has linked us)."""
    return LINK is not None


def _unix_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(struct.pack("H", socket.AF_UNIX) + path.encode() + b"\0")
    return s


class Link:
    """The wiring to the simulator, and the board clock."""

    def __init__(self, sock_dir):
        self.dir = sock_dir
        self.ctl = _unix_socket(sock_dir + "/ctl")
        self.ctl.write(b'{"op": "hello"}\n')
        info = json.loads(self.ctl.readline())
        self.info = info
        self._a = time.ticks_us()  # wall ticks at the anchor...
        self._b = info["board_us"]  # ...and the board time there
        self._sm = info["speed_milli"]  # board us per 1000 wall us
        self.mode = info["mode"]  # "run": boot.py then main.py; "raw": boot.py, then raw REPL
        self._rtc = info.get("rtc_ms")  # RTC (unix ms) at board time _b, or None: never set
        self.pins = {}  # gpio -> VirtualPin
        for k, v in info.get("pins", {}).items():
            self.pins[int(k)] = VirtualPin(v)
        self.edges = []  # [board_ms, gpio, level, id], in time order
        self.irq_t = None  # ticks seen by IRQ handlers while an edge is delivered
        self._rx = b""
        self._poll = select.poll()
        self._poll.register(self.ctl, select.POLLIN)
        self.leds = {}
        # What is plugged into the camera connector ("ok", "missing": no
        # sensor on the bus, "fails-init": a sensor that sends no frame);
        # the simulator tells of a reseated cable with a "camera" message.
        self.camera_state = info.get("camera", "ok")
        self.reset_cause = info.get("reset_cause")

    # --- clock -------------------------------------------------------------
    def board_us(self):
        d = time.ticks_diff(time.ticks_us(), self._a)
        if d > 0x8000000:  # re-anchor long before ticks_us wraps (2**30 us)
            self._a = time.ticks_add(self._a, d)
            self._b += d * self._sm // 1000
            d = 0
        return self._b + d * self._sm // 1000

    def ticks_ms(self):
        if self.irq_t is not None:
            return self.irq_t & 0x3FFFFFFF
        now = self.board_us() // 1000
        self.service(now)
        return now & 0x3FFFFFFF

    def sleep_ms(self, ms, wake=None):
        self.sleep_until_us(self.board_us() + ms * 1000, wake)

    def sleep_until_us(self, end, wake=None):
        """Sleep until board time `end` (us), serving the simulator; sooner
        if wake() turns true (a pin's IRQ handler ran meanwhile)."""
        while True:
            now = self.board_us()
            self.service(now // 1000)
            left = end - now
            if left <= 0 or (wake is not None and wake()):
                return
            if self.edges:
                left = min(left, max(0, self.edges[0][0] * 1000 - now))
            wall_us = left * 1000 // self._sm
            if wall_us >= 2000:
                # poll's timeout is in whole ms: wake a little early, then
                # sleep_us the rest (at speed N, 1 ms of wall is N ms of board)
                self._poll.poll((wall_us - 1000) // 1000)  # wakes early when the simulator sends
            elif wall_us > 0:
                time.sleep_us(wall_us)

    # --- RTC (kept by the simulator across soft resets, lost on power loss)
    def rtc_seconds(self):
        elapsed_ms = (self.board_us() - self._b) // 1000
        if self._rtc is None:
            # Never set: the ESP32 RTC counts from 2000-01-01 at power-on.
            return 946684800 + self.board_us() // 1000000
        return (self._rtc + elapsed_ms) // 1000

    def rtc_set(self, unix_ms):
        self._rtc = unix_ms
        self._b = self.board_us()
        self._a = time.ticks_us()
        self.send({"op": "rtc", "unix_ms": unix_ms, "board_us": self._b})

    # --- messages ------------------------------------------------------------
    def send(self, msg):
        self.ctl.write(json.dumps(msg).encode() + b"\n")

    def service(self, now_ms):
        """Take the simulator's messages, deliver pin edges that are due."""
        if self._poll.poll(0):
            data = self.ctl.recv(1024)
            if not data:
                raise OSError("virtual board: the simulator has gone")
            self._rx += data
            while b"\n" in self._rx:
                line, self._rx = self._rx.split(b"\n", 1)
                self._message(json.loads(line), now_ms)
        while self.edges and self.edges[0][0] <= now_ms:
            t, gpio, level, mid = self.edges.pop(0)
            self._edge(t, gpio, level)
            if mid is not None:
                self.send({"op": "pin_done", "id": mid})

    def _message(self, m, now_ms):
        if m["op"] == "camera":
            self.camera_state = m["state"]
        elif m["op"] == "pin":
            # Edge times count from "at", the board time the simulator sent
            # them (so an edge can fall inside a blocking call, during which
            # this message waits unread), else from now.
            at = m.get("at", now_ms)
            edges = m["edges"]
            for i in range(len(edges)):
                off, level = edges[i]
                mid = m.get("id") if i == len(edges) - 1 else None
                self.edges.append([at + off, m["pin"], level, mid])
            self.edges.sort(key=lambda e: e[0])

    def _edge(self, t, gpio, level):
        pin = self.pins.get(gpio)
        if pin is None:
            pin = self.pins[gpio] = VirtualPin(level)
            return
        self.irq_t = t  # the handler reads the edge's own time, as on the chip
        try:
            pin.set(level)
        finally:
            self.irq_t = None

    # --- blocking C calls --------------------------------------------------
    # On the ESP32 pin IRQs are soft: the handler runs between bytecodes,
    # so edges during a blocking C call (esp_camera_fb_get waiting out its
    # timeout, a long write) reach it only when the call returns
    # (ports/esp32/machine_pin.c and py/scheduler.c, v1.27.0). The virtual
    # HAL brackets its stand-ins for such calls with these two.
    def c_call_begin(self):
        # Edges already due ran between the bytecodes before the call.
        self.service(self.board_us() // 1000)

    def c_call_end(self, blocked=True):
        """blocked: the chip would have spent the whole time since
        c_call_begin() in C (False: only this stand-in was slow, e.g. the
        simulated sensor pacing its frames), so the edges of that time are
        queued on the pins and their handlers run now, reading this time
        and the pins' levels now."""
        now = self.board_us() // 1000
        if not blocked:
            self.service(now)
            return
        pins = list(self.pins.values())
        for pin in pins:
            pin.block()
        try:
            self.service(now)
        finally:
            self.irq_t = now
            try:
                for pin in pins:
                    pin.unblock()
            finally:
                self.irq_t = None

    def pin(self, gpio, level=1):
        if gpio not in self.pins:
            self.pins[gpio] = VirtualPin(level)
        return self.pins[gpio]


class SensorCamera:
    """The OV2640 behind cnadler86's Camera API (src/modcamera.c v0.6.0,
    mp_camera_hal_capture): capture() returns a signed ('b') memoryview
    into one frame buffer (width*height/5 bytes, the driver's limit) that
    the next capture overwrites, or None when esp_camera_fb_get() gives up
    (the simulator's sensor then has already held us for the driver's
    timeout). A failed capture is a blocking C call: pin IRQs wait for its
    end."""

    sensor_name = "OV2640"  # cnadler86's Camera.sensor_name (the virtual sensor stands in for one)

    def __init__(self, link, framesize, fps, quality):
        self._probe(link)
        w, h = FRAMESIZES[framesize]
        self.link = link
        self.fb = signed_frame_buffer(w * h // 5)
        self.mv = memoryview(self.fb)
        self.hdr = bytearray(12)
        self.seq = -1  # sensor frame number of the last capture
        self.t_ms = 0  # its capture time (board ms)
        self.failed = 0  # captures that returned None
        self.sock = _unix_socket(link.dir + "/cam")
        self.sock.write(("S%s %d %d\n" % (framesize, fps, quality)).encode())
        reply = self.sock.readline()
        if not reply.startswith(b"OK"):
            raise OSError("camera init failed: " + reply.decode().strip())

    @staticmethod
    def _probe(link):
        # What cnadler86's Camera(...) does with what is on the connector
        # (src/modcamera_api.c mp_camera_make_new v0.6.0, esp32-camera
        # driver/esp_camera.c camera_probe, v2.1.x): a blocking C call.
        state = link.camera_state
        if state == "ok":
            return
        link.c_call_begin()
        try:
            if state == "missing":
                # 30 ms of power-down/reset delays, then every known sensor
                # address probed on SCCB and NACKed (~1 ms each): ~40 ms.
                link.sleep_ms(40)
                _idf_log("Detected camera not supported.", "camera")
                _idf_log("Camera probe failed with error 0x106(ESP_ERR_NOT_SUPPORTED)", "camera")
                raise OSError(95, "ESP_ERR_NOT_SUPPORTED")  # through check_esp_err (mphalport.c)
            # A sensor that answers and is set up (~320 ms: esp32-camera
            # #339's log), then no frame before esp_camera_fb_get's 4 s
            # timeout (FB_GET_TIMEOUT): the constructor's first capture.
            link.sleep_ms(320 + 4000)
            raise OSError("Failed to capture initial frame. Construct a new object with appropriate "
                          "configuration.")
        finally:
            link.c_call_end(True)

    def _read(self, mv, n):
        got = 0
        while got < n:
            r = self.sock.readinto(mv[got:n])
            if not r:
                raise OSError("camera: the sensor link closed")
            got += r

    def capture(self):
        # A good capture returns at once on the chip: the driver's DMA task
        # keeps the newest frame queued (esp32-camera driver/cam_hal.c, LATEST
        # grab mode), so the simulated sensor's wait for its next frame is
        # not a blocking call. A failed one is: fb_get waits its 4 s out in C.
        self.link.c_call_begin()
        failed = False
        try:
            self.sock.write(b"C")
            self._read(memoryview(self.hdr), 12)
            n, seq, t = struct.unpack("<IIi", self.hdr)
            if n == 0:
                failed = True
                self.failed += 1
                return None  # esp_camera_fb_get() returned NULL
            if n > len(self.fb):
                raise OSError("camera: frame of %d bytes exceeds the %d-byte buffer" % (n, len(self.fb)))
            self._read(self.mv, n)
            self.seq = seq
            self.t_ms = t
            return self.mv[:n]
        finally:
            self.link.c_call_end(failed)

    def deinit(self):
        self.sock.close()


class BoardHal:
    def __init__(self, board, settings):
        if LINK is None:
            raise OSError("BoardHal needs the virtual board (started by `bodycam sim`)")
        link = LINK
        self.link = link
        self.board = board
        b = board["button"]
        self.button_pin = link.pin(b["pin"], 1 if b["active_low"] else 0)
        self.clock = clock.Clock(self.ticks_ms, link.rtc_seconds, link.rtc_set)
        # As hal_esp32: a camera that fails to start is tried again (camslot.py)
        t0 = self.ticks_ms()
        self.camera = CameraSlot(
            lambda: SensorCamera(link, settings["framesize"], settings["fps"], settings["jpeg_quality"]),
            self.ticks_ms, time.ticks_diff)
        t1 = self.ticks_ms()
        self.storage = mount_storage(board, link, self.button_pin)  # a card problem never stops the boot
        self.boot_ms = {"camera": time.ticks_diff(t1, t0), "storage": time.ticks_diff(self.ticks_ms(), t1)}
        # the chip's power-on, in ticks: the process started (the ROM and
        # bootloader's own ~0.5-1.5 s are not modelled: docs/esp32-port.md)
        self.power_on_ms = (link._b // 1000) & 0x3FFFFFFF
        self.clips_dir = self.storage["path"] or "/sd/clips"
        self.leds = {}

    def ticks_ms(self):
        return self.link.ticks_ms()

    def sleep_ms(self, ms, wake=None):
        self.link.sleep_ms(ms, wake)

    def led(self, name, on):
        on = bool(on)
        if self.leds.get(name) is not on and name in self.board["leds"]:
            self.leds[name] = on
            self.link.send({"op": "led", "name": name, "on": on})

    def reset_cause(self):
        """machine.reset_cause() for this boot (the simulator knows why it
        booted: power on and EN give PWRON_RESET, machine.reset() and a
        crash HARD_RESET, a soft reboot SOFT_RESET)."""
        return self.link.reset_cause

    def reset(self):
        """machine.reset(): a software CPU reset (the RTC keeps its time)."""
        self.link.send({"op": "reset"})
        while True:
            time.sleep_ms(1000)


def mount_storage(board, link, button_pin=None):
    """As hal_esp32.mount_storage: sdmount's status dict, never raises for
    a card. The card is mounted the way the ESP32 HAL mounts machine.SDCard
    (vfs.mount(card, "/sd")), so the same FatFs code fails the same way, and
    started only once a button on its DAT3 line is let go."""
    st = board["storage"]
    if st["kind"] == "flash":
        _makedirs("/clips")
        return sdmount.ok_status("flash", "/clips")
    held = None
    if button_pin is not None and sdmount.dat3_pin(board) == board["button"]["pin"]:
        pressed = 0 if board["button"]["active_low"] else 1
        held = sdmount.wait_released(lambda: button_pin.value() == pressed, link.ticks_ms, time.ticks_diff,
                                     link.sleep_ms)
    status = sdmount.mount_sd(lambda: link.sd_card, vfs.mount, held=held)
    if status["ok"]:
        _makedirs(status["path"])
    return status


def boot():
    """The virtual chip's power-on: link to the simulator, open the storage
    images, then do what MicroPython's ESP32 startup does: mount the flash
    filesystem at / (formatting it, with a fresh boot.py, when it holds
    none) and put the firmware ROM on sys.path. Returns the Link."""
    global LINK
    link = Link(os.getenv(ENV))
    info = link.info
    flash = open(info["flash"], "r+b")
    sd = open(info["sd"], "r+b") if info.get("sd") else None
    journal = open(info["sd_journal"], "ab") if info.get("sd_journal") else None
    rom = vfs.VfsPosix(info["rom"])
    chip = vfs.VfsPosix(info["chip"])
    import vboard_costs  # storage and CPU costs in board time (before the host's / goes)
    bt, cpu = vboard_costs.attach(link, info, SensorCamera, ReplUart)
    vfs.umount("/")  # from here on the board sees only its own storage
    fc = info.get("flash_cost")
    part = FlashPartition(flash, info["vfs_offset"], info["vfs_size"], Costs(fc, bt, cpu) if fc or cpu else None)
    if part.costs:
        link.cost_report.devices["flash"] = part.costs
    try:
        vfs.mount(vfs.VfsLfs2(part), "/")
    except OSError:
        print("Performing initial setup")
        vfs.VfsLfs2.mkfs(part)
        vfs.mount(vfs.VfsLfs2(part), "/")
        with open("/boot.py", "w") as f:
            f.write(BOOT_PY)
    # The bodycam firmware this virtual board was built with, read-only,
    # like a ROMFS partition: files deployed to the flash come first.
    vfs.mount(rom, "/rom", readonly=True)
    # The chip's built-in modules (this HAL), as an ESP32 port's are: the
    # firmware imports them by name, nothing deploys them.
    vfs.mount(chip, "/chip", readonly=True)
    os.chdir("/")
    sys.path[:] = ["", "/rom", "/chip", ".frozen", "/lib"]
    kind = info.get("sd_kind", "fat32")
    if sd is None or kind == "none":
        link.sd_card = NoCard()
    elif kind == "unreadable":
        link.sd_card = UnreadableCard(sd)
    else:
        sc = info.get("card")
        link.sd_card = CardImage(sd, Costs(sc, bt, cpu) if sc or cpu else None,
                                 (journal, link.board_us) if journal else None)
        if info.get("dat3_pin") is not None:
            # the card samples DAT3 (its SPI chip select) at CMD0
            link.sd_card.dat3 = (link.pin(info["dat3_pin"]), link.send)
            link.sd_card.spi_mode = bool(info.get("sd_spi_mode"))
        if link.sd_card.costs:
            link.cost_report.devices["sd"] = link.sd_card.costs
    LINK = link
    return link


# --- The REPL UART (UART0) as MicroPython v1.27.0's ESP32 port drives it ----
# ports/esp32/uart.c (v1.27.0) runs the REPL UART through the HAL with no
# ESP-IDF driver installed. Output: mp_hal_stdout_tx_strn (mphalport.c)
# calls uart_stdout_tx_strn, which puts what fits into the 128-byte TX FIFO
# (SOC_UART_FIFO_LEN) and, while bytes are left, waits
# ulTaskNotifyTake(pdFALSE, 1): until the next FreeRTOS tick. The tick is
# 1/CONFIG_FREERTOS_HZ; MicroPython's sdkconfig files (ports/esp32/boards/
# sdkconfig.base and the rest) do not set it, so it is ESP-IDF v5.5.1's
# default of 100 Hz (components/freertos/Kconfig): 10 ms. So a write larger
# than the FIFO's free room blocks the caller in 10 ms steps, and at most
# 128 bytes leave per tick (12.8 KB/s) whatever the baud rate.
TX_FIFO = 128
FREERTOS_HZ = 100
TICK_US = 1000000 // FREERTOS_HZ
ESP_ERR_INVALID_STATE = 0x103


class ReplUart:
    """stdout of the virtual board as the ESP32's REPL UART: the TX FIFO
    drains at baud/10 bytes per second of board time; a write blocks (in
    board time) as uart_stdout_tx_strn does. The bytes go to the pty as
    they enter the FIFO; the simulator carries them at the line rate.
    Only writes through this object are modelled (the dock's); print() and
    the REPL's own output go straight to the pty."""

    def __init__(self, link, out, baud):
        self.link = link
        self.out = out
        self.baud = baud
        self.level = 0  # bytes in the FIFO at board time self.at
        self.rem = 0  # and the part of a byte already sent
        self.at = link.board_us()
        self.tick_waits = 0  # ulTaskNotifyTake calls: writes that had to wait

    def ticks_us(self):
        return self.link.board_us()  # the unix port's ticks_diff spans it

    def sleep_us(self, us):
        self.link.sleep_until_us(self.link.board_us() + us)

    def fifo(self):
        """Bytes in the TX FIFO now (exact: the fraction of a byte carries)."""
        now = self.link.board_us()
        x = (now - self.at) * self.baud + self.rem  # bit times x 1e6; a byte is 10 bits (8N1)
        self.at = now
        gone = x // 10000000
        if gone >= self.level:
            self.level = 0
            self.rem = 0
        else:
            self.level -= gone
            self.rem = x - gone * 10000000
        return self.level

    def write(self, buf, off=0, n=None):
        """uart_stdout_tx_strn: returns when every byte is in the FIFO."""
        if n is None:
            n = len(buf) - off
        end = off + n
        mv = memoryview(buf)
        while True:
            put = min(end - off, TX_FIFO - self.fifo())
            if put > 0:
                self.out.write(mv[off:off + put])
                self.level += put
                off += put
            if off >= end:
                return n
            self.tick_waits += 1
            now = self.link.board_us()
            self.link.sleep_until_us((now // TICK_US + 1) * TICK_US)  # the next tick

    def flush(self):
        pass

    def set_baud(self, baud):
        # The divider changes at once: what is still in the FIFO goes out at
        # the new rate (garbled), as on the chip.
        self.fifo()
        self.baud = baud


_REPL_UART = None


def repl_uart():
    """The board's REPL UART model (one per boot)."""
    global _REPL_UART
    if _REPL_UART is None:
        import ptyline
        _REPL_UART = ReplUart(LINK, sys.stdout.buffer, ptyline.current_baud(115200))
    return _REPL_UART


def UART(uart_id, baudrate=0, **kw):
    """machine.UART(id, ...) on the REPL UART, as machine_uart.c v1.27.0 does
    it: mp_machine_uart_make_new -> mp_machine_uart_init_helper. The REPL
    UART has no IDF driver (uart_is_repl: none is installed), so:
    uart_set_baudrate works (it only writes the divider), then, with
    timeout_char 0, uart_set_rx_full_threshold fails with
    ESP_ERR_INVALID_STATE ("call uart_driver_install API first"), or, with
    a timeout_char, uart_flush_input fails with ESP_FAIL ("uart driver
    error"): check_esp_err raises OSError either way, after the divider
    changed. No object is returned, so UART(0).init(...) never runs; other
    arguments (bits, parity, ...) come after the error and are not applied
    before it. Only UART0 (the REPL) is modelled."""
    if uart_id != 0:
        raise ValueError("the virtual board models UART(0), the REPL UART, only")
    if baudrate:
        import ptyline
        ptyline.set_pty_baud(baudrate)
        repl_uart().set_baud(baudrate)
    # ESP-IDF logs the failing call on the console (errors are printed:
    # sdkconfig.base sets CONFIG_LOG_DEFAULT_LEVEL_ERROR), at the new speed.
    if kw.get("timeout_char", 0):
        _idf_log("uart_flush_input: uart driver error")  # (ESP_RETURN_ON_FALSE adds the source line)
        raise OSError(-1, "ESP_FAIL")  # uart_flush_input: no driver
    _idf_log("call uart_driver_install API first")
    raise OSError(-ESP_ERR_INVALID_STATE, "ESP_ERR_INVALID_STATE")


def _idf_log(msg, tag="uart"):
    line = "E (%d) %s: %s\r\n" % (LINK.board_us() // 1000, tag, msg)
    repl_uart().write(line.encode())
