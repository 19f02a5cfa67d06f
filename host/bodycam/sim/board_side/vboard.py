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
# the process's stdin/stdout (a pty); its speed is the divider set through
# UART() below, which tells the simulator over the control socket (any rate
# the ESP32's divider makes, not only the ones termios knows).
import json
import os
import select
import socket
import struct
import sys
import time

import uctypes
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
        self._pins = tuple(self.pins.values())  # (no list per blocking call)
        self.edges = []  # [board_ms, gpio, level, id], in time order
        self.irq_t = None  # ticks seen by IRQ handlers while an edge is delivered
        self._rx = b""
        self._poll = select.poll()
        self._poll.register(self.ctl, select.POLLIN)
        self.leds = {}
        self.camera = None  # the SensorCamera once the firmware made one
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
                for _ in self._poll.ipoll((wall_us - 1000) // 1000):  # wakes early when the simulator sends
                    break
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
        # ipoll: no list per call. The virtual board's own Python shares the
        # firmware's heap, and garbage of its own would bring collections the
        # chip never has (vboard_costs.GcTrace).
        ready = False
        for _ in self._poll.ipoll(0):
            ready = True
        if ready:
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
            self._pins = tuple(self.pins.values())
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
        pins = self._pins
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

    def flash_busy(self, us):
        """A flash write or erase of us board us is being charged: it holds
        the chip after whatever is owed already (vboard_costs)."""
        cam = self.camera
        if cam is not None:
            cam.park(self.board_us() + self.board_time.owed_us, us)

    def pin(self, gpio, level=1):
        if gpio not in self.pins:
            self.pins[gpio] = VirtualPin(level)
            self._pins = tuple(self.pins.values())
        return self.pins[gpio]


_HDR = {"n": 0 | uctypes.UINT32, "seq": 4 | uctypes.UINT32, "t": 8 | uctypes.INT32,
        "waited": 12 | uctypes.INT32}


class SensorCamera:
    """The OV2640 behind cnadler86's Camera API (src/modcamera.c v0.6.0):
    capture() gives back the buffer it holds, then returns a signed ('b')
    memoryview into one frame buffer (width*height/5 bytes, the driver's
    limit) that the next capture overwrites, or None when
    esp_camera_fb_get() gives up (logging "Failed to capture image" on
    UART0, as mp_camera_hal_capture does); free_buffer() gives it back
    early. Which frame, and when, is the simulator's driver model
    (host/bodycam/sim/camdriver.py): the sensor free-runs, a held buffer
    is not refilled. A capture that waited (for a frame, or the 4 s
    timeout) is a blocking C call: pin IRQs wait for its end."""

    sensor_name = "OV2640"  # cnadler86's Camera.sensor_name (the virtual sensor stands in for one)

    def __init__(self, link, framesize, quality, fb_count=2, grab_mode="LATEST"):
        self._probe(link)
        w, h = FRAMESIZES[framesize]
        self.link = link
        self.fb = signed_frame_buffer(w * h // 5)
        self.mv = memoryview(self.fb)
        self.hdr_mv = memoryview(bytearray(16))  # length, frame number, ms done, waited ("<IIii")
        self.hdr = uctypes.struct(uctypes.addressof(self.hdr_mv), _HDR, uctypes.LITTLE_ENDIAN)
        self.msg = bytearray(13)  # op, board us ("<Q"), and for P the us it lasts ("<I")
        self.msg9 = memoryview(self.msg)[:9]
        self.seq = -1  # sensor frame number of the last capture
        self.t_ms = 0  # when the sensor finished it (board ms)
        self.failed = 0  # captures that returned None
        self.sock = _unix_socket(link.dir + "/cam")
        self.sock.write(("S%s %d %d %s\n" % (framesize, quality, fb_count, grab_mode)).encode())
        reply = self.sock.readline()
        if not reply.startswith(b"OK"):
            raise OSError("camera init failed: " + reply.decode().strip())
        link.camera = self
        # cnadler86's constructor takes a first frame and gives it back
        # (src/modcamera_api.c mp_camera_make_new): no frame, no camera.
        if self.capture() is None:
            self.deinit()
            raise OSError("Failed to capture initial frame. Construct a new object with appropriate configuration.")
        self.free_buffer()

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
        got = self.sock.readinto(mv, n)  # (no slice unless the bytes come in pieces)
        while got < n:
            if not got:
                raise OSError("camera: the sensor link closed")
            r = self.sock.readinto(mv[got:n])
            if not r:
                raise OSError("camera: the sensor link closed")
            got += r

    def capture(self):
        # On the chip a capture whose frame is queued returns at once (the
        # driver's DMA task filled it meanwhile); one that waits for a
        # frame, or for the 4 s timeout, waits in C.
        self.link.c_call_begin()
        self.link.gc_trace.look()  # (the virtual board's own bookkeeping: GC trace, vboard_costs)
        waited = True
        try:
            self._send(b"C")
            self._read(self.hdr_mv, 16)
            h = self.hdr
            n, seq, t, waited = h.n, h.seq, h.t, h.waited
            if n == 0:
                self.failed += 1
                # ESP_LOGE(TAG, "Failed to capture image"): printed, the log level is ERROR
                _console("E (%d) MPY_CAMERA: Failed to capture image\r\n" % (self.link.board_us() // 10000 * 10))
                return None  # esp_camera_fb_get() returned NULL
            if n > len(self.fb):
                raise OSError("camera: frame of %d bytes exceeds the %d-byte buffer" % (n, len(self.fb)))
            self._read(self.mv, n)
            self.seq = seq
            self.t_ms = t
            return self.mv[:n]
        finally:
            self.link.c_call_end(bool(waited))

    def free_buffer(self):
        """esp_camera_fb_return(): the driver may fill the buffer again. Its
        first byte is cleared, so reading the view afterwards (a bug: the
        chip's driver overwrites it at its next frame) finds no JPEG."""
        self._send(b"F")
        self.fb[0] = 0

    def park(self, start_us, us):
        """The SPI flash is written or erased from board us start_us for us:
        the cache is off, the camera's task cannot run (camdriver.py)."""
        self._send(b"P", start_us, us)

    def _send(self, op, at=None, us=None):
        # each call with the board time it was made at (host/bodycam/sim/sensor.py)
        m = self.msg
        m[0] = op[0]
        struct.pack_into("<Q", m, 1, self.link.board_us() if at is None else at)
        if us is None:
            self.sock.write(self.msg9)
        else:
            struct.pack_into("<I", m, 9, us)
            self.sock.write(m)

    def deinit(self):
        if self.link.camera is self:
            self.link.camera = None
        self.sock.close()


def _console(text):
    # The driver's and ESP-IDF's own log lines go to UART0 too.
    repl_uart().write(text.encode())


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
            lambda: SensorCamera(link, settings["framesize"], settings["jpeg_quality"], settings["fb_count"]),
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
    bt, cpu = vboard_costs.attach(link, info, SensorCamera, (ReplUart, DriverUart, ReplStdin))
    vfs.umount("/")  # from here on the board sees only its own storage
    fc = info.get("flash_cost")
    part = FlashPartition(flash, info["vfs_offset"], info["vfs_size"], Costs(fc, bt, cpu) if fc or cpu else None)
    part.busy = link.flash_busy
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
    uart_attach(link)
    return link


# The UARTs (the REPL's UART0, UART1 with ESP-IDF's driver) as the ESP32
# port drives them: vboard_uart.py. The firmware finds them here, as it
# finds machine.UART on the chip.
from vboard_uart import DriverUart, ReplStdin, ReplUart, UART, _idf_log, repl_stdin, repl_uart, uart_baud  # noqa: E402,F401
from vboard_uart import attach as uart_attach  # noqa: E402
