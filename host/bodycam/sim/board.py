"""VirtualBoard: an AI-Thinker ESP32-CAM (or another profile) on an
ESP32-CAM-MB programmer, run on the host.

The chip is the MicroPython unix port, started with the board's memory as
its heap, running sim/board_side/vboard_boot.py (the startup an ESP32 does: mount
the flash filesystem, boot.py, main.py). The rest is simulated here:

  power and reset   EN from RTS, IO0 from DTR through the MB board's
                    transistor pair; an RC delay on EN, so esptool's
                    DTR/RTS sequence enters download mode as on hardware
  UART              uart.py: a pty paced at the line rate, to the host as
                    RFC 2217 (portserver.py) and as a kernel tty (ttyport.py)
  camera            sensor.py: real JPEGs at the configured fps in board time
  button, LEDs, RTC control.py: pin edges in, LED and RTC state out
  storage           storage.py: flash.bin and sd.img in the state dir
  time              clock.py: board time runs `speed` times wall time

Chip reset and power cut kill the process (SIGKILL: no flush, no unmount);
storage keeps what had been written, RAM (the pre-roll) is gone."""
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from bodycam.device import upy
from bodycam.boards import DEFAULT_BOARD, load_board
from bodycam.resources import board_side_dir, shared
from bodycam.sim.cardjournal import CardJournal
from bodycam.sim.clock import BoardClock
from bodycam.sim.control import Control
from bodycam.sim.costs import DEFAULT_CARD, FLASH, card_profile
from bodycam.sim.cpu import DEFAULT_CPU, bookkeeping, check_cpu, cpu_scale
from bodycam.sim.errors import SimError
from bodycam.sim.portserver import PortServer
from bodycam.sim.rom import compiled_rom
from bodycam.sim.sensor import Sensor
from bodycam.sim.sockets import UnixServer
from bodycam.sim.storage import VFS_OFFSET, StateDir
from bodycam.sim.ttyport import TtyPort
from bodycam.sim.uart import BoardUart, uart_rate

# EN's RC delay: EN must stay high this long before the chip runs, and IO0
# is sampled then. Longer than on the real board (~10 ms) because pyserial's
# RFC 2217 client waits >= 50 ms for each DTR/RTS change to be acknowledged,
# so esptool's reset sequence passes through DTR+RTS (EN high, IO0 high) for
# ~50 ms where a USB adapter takes microseconds; then IO0 stays low ~150 ms.
EN_RC_S = 0.1
MAX_SPEED = 1000
MIN_HEAP = 256 * 1024  # below this the firmware itself does not load
CAMERA_STATES = ("ok", "missing", "fails-init")

ROM_BANNERS = {
    "esp32": (b"ets Jul 29 2019 12:21:46\r\n\r\nrst:%s,boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
              {"power": b"0x1 (POWERON_RESET)", "sw": b"0xc (SW_CPU_RESET)", "panic": b"0xc (SW_CPU_RESET)"}),
    "esp32s3": (b"ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\nrst:%s,boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n",
                {"power": b"0x1 (POWERON)", "sw": b"0x3 (RTC_SW_SYS_RST)", "panic": b"0xc (RTC_SW_CPU_RST)"}),
}
DOWNLOAD_BANNER = (b"ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x3 "
                   b"(DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\nwaiting for download\r\n")


class VirtualBoard:
    def __init__(self, board=DEFAULT_BOARD, state_dir=None, baud=115200, speed=1, settings=None,
                 host="127.0.0.1", port=0, sd_bytes=None, rx_buffer=260, log=None,
                 sd="fat32", heap_bytes=None, card=DEFAULT_CARD, cpu=DEFAULT_CPU, card_journal=False,
                 camera="ok"):
        try:
            self.profile = load_board(board)
        except ValueError as e:
            raise SimError(str(e))
        # What the ESP32-CAM's storage and CPU cost, charged in board time
        # (costs.py, cpu.py; the board side is firmware/vboard_costs.py).
        self.card = card
        self.card_cost = card_profile(card)
        self.cpu = check_cpu(cpu)
        self.cpu_scale = cpu_scale(cpu)
        # measured here, not in the hello: that reply carries the board's
        # clock, and a 3 s measurement inside it set the board 3 s x speed behind
        self.cpu_calibration = bookkeeping() if self.cpu_scale else None
        self.costs = None  # the board's last cost report: board us spent on storage and CPU
        if not isinstance(speed, (int, float)) or not 0 < speed <= MAX_SPEED:
            raise SimError("speed must be more than 0 and at most %d, not %r" % (MAX_SPEED, speed))
        try:
            uart_rate(baud)
        except ValueError as e:
            raise SimError(str(e))
        if heap_bytes is not None and (not isinstance(heap_bytes, int) or heap_bytes < MIN_HEAP):
            raise SimError("heap_bytes must be a whole number of bytes >= %d, not %r" % (MIN_HEAP, heap_bytes))
        self.heap_override = heap_bytes
        if camera not in CAMERA_STATES:
            raise SimError("camera must be one of %s, not %r" % (", ".join(CAMERA_STATES), camera))
        self.camera = camera  # what is on the camera connector (set_camera() changes it)
        self.sd_spi_mode = False  # the card saw DAT3 low at CMD0: SPI mode until its power is cut
        self._reset_cause = 1
        if settings is not None:
            try:
                shared("settings").validate(settings)
            except ValueError as e:
                raise SimError("settings: %s" % e)
        self.baud = baud
        self.speed = speed
        self._log = log
        self.events = []  # (wall time, message): what happened, for tests and the console
        self._tmp_state = None
        if state_dir is None:
            state_dir = self._tmp_state = tempfile.mkdtemp(prefix="bodycam-vboard-")
        try:
            self.store = StateDir(state_dir, self.profile, sd_bytes=sd_bytes, sd_kind=sd)
        except BaseException:
            if self._tmp_state:
                shutil.rmtree(self._tmp_state, ignore_errors=True)
            raise
        self._closed = False
        self._lock = threading.RLock()
        self.proc = None
        self.state = "off"
        self.dtr = self.rts = False
        self._en_gen = 0
        b = self.profile["button"]
        self._pressed_level = 0 if b["active_low"] else 1
        self.button_down = False
        self.leds = {name: False for name in self.profile["leds"]}
        self._rtc = None  # (unix ms, board us) when the firmware set the RTC
        self._pin_ids = itertools.count(1)
        self._pin_waits = {}
        self._mode = "run"  # how the next process starts: "run" (main.py) or "raw" (raw REPL)
        self.boots = 0
        self.loader = None
        self.last_validation = None
        self.card_journal = None
        self.gc_trace = []  # [board ms seen, ms window, bytes freed, bytes free]: this boot's collections
        try:
            self.store.ensure(settings)
            if card_journal:
                # Every SD write from now on, with its board time
                # (cardjournal.py): the card as a cut at any moment leaves it.
                self.card_journal = CardJournal.start(self.store.card_path(), state_dir)
            self.clock = BoardClock(speed)
            # A short path: AF_UNIX socket paths are limited to ~100 bytes.
            self._sock_dir = tempfile.mkdtemp(prefix="bcvb-", dir="/tmp" if os.path.isdir("/tmp") else None)
            self._run_dir = os.path.join(self._sock_dir, "cwd")
            os.mkdir(self._run_dir)
            # The firmware as the chip's ROM: relative paths keep the host's
            # folders out of the board's tracebacks ("rom/main.py").
            self._rom = compiled_rom()  # the firmware as a deployed board holds it: .mpy
            os.symlink(self._rom, os.path.join(self._run_dir, "rom"))
            # The chip's own modules (the virtual board's HAL), as a port's
            # built-in modules are: on the path, never on its flash.
            os.symlink(board_side_dir(), os.path.join(self._run_dir, "chip"))
            self.uart = BoardUart(baud, rx_buffer, log=self.log)
            self.uart.on_rom_leave = self._rom_leave
            self.control = Control(self._hello, self._message)
            self.sensor = Sensor(self.clock, log=self.log, console=self.uart.say)
            self._servers = [UnixServer(os.path.join(self._sock_dir, "ctl"), self.control.serve, "ctl"),
                             UnixServer(os.path.join(self._sock_dir, "cam"), self.sensor.serve, "cam")]
            self.server = PortServer(self, host, port, log=self.log)
            self.tty = TtyPort(self.uart, log=self.log)
        except BaseException:
            self.close()
            raise
        self.port_url = self.server.url
        self.tty_path = self.tty.path  # the same UART as a kernel tty (no DTR/RTS)
        self.power_on()

    # --- context manager -------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def log(self, msg):
        self.events.append((time.time(), msg))
        if self._log:
            self._log(msg)

    # --- power and reset ----------------------------------------------------------
    def power_on(self):
        with self._lock:
            if self.state != "off":
                return
            self.state = "reset"
            self.log("power on")
            if not self._en_low():
                self._boot("power")

    def power_cut(self):
        """The board's power goes (battery out, switch off): no flush, no
        unmount. The USB-UART adapter stays on: the host's port stays open and
        hears nothing. Stays off until power_on(). See also unplug()."""
        with self._lock:
            self._halt()
            self.state = "off"
            self._rtc = None
            self.sd_spi_mode = False  # the card loses power too: SD mode again at the next CMD0
            self.log("power cut")

    def set_camera(self, state):
        """What is on the camera connector now: "ok", "missing" (no sensor
        answers: a loose or unplugged ribbon) or "fails-init" (a sensor
        that answers but sends no frame). The firmware's next try to start
        the camera meets it: a reseated cable works without a reset."""
        if state not in CAMERA_STATES:
            raise SimError("camera must be one of %s, not %r" % (", ".join(CAMERA_STATES), state))
        self.camera = state
        self.log("camera %s" % state)
        self.control.send({"op": "camera", "state": state})

    def unplug(self):
        """The USB cable is pulled. The ESP32-CAM-MB powers the board from it,
        so the board dies as in power_cut(), and the host's serial port goes
        away: the client's connection drops at once, new ones are refused."""
        self.server.unplug()
        self.log("USB unplugged")
        self.power_cut()

    def plug_in(self):
        """The USB cable goes back in: the port is there again, the board boots."""
        self.server.plug_in()
        self.log("USB plugged in")
        self.power_on()

    def reset(self):
        """A pulse on EN (the reset button): the chip restarts from the ROM."""
        with self._lock:
            if self.state == "off":
                raise SimError("the board is off: power_on() first")
            self._halt()
            self.state = "reset"
            self._rtc = None  # EN is a power-on reset on the ESP32: the RTC starts over
            self.log("reset (EN)")
            if not self._en_low():
                self._boot("power")

    def lines(self, dtr, rts):
        """DTR/RTS from the RFC 2217 client, wired as on the ESP32-CAM-MB:
        RTS alone pulls EN low (reset), DTR alone pulls IO0 low."""
        with self._lock:
            was_low = self._en_low()
            self.dtr, self.rts = dtr, rts
            if self.state == "off":
                return
            if self._en_low():
                if self.state != "reset":
                    self._halt()
                    self._rtc = None
                    self.state = "reset"
                    self.log("EN low (RTS): held in reset")
                self._en_gen += 1  # cancels a release in progress
            elif was_low and self.state == "reset":
                # EN rises: the chip runs once it has stayed high EN_RC_S.
                gen = self._en_gen = self._en_gen + 1
                t = threading.Timer(EN_RC_S, self._en_released, args=(gen,))
                t.daemon = True
                t.start()

    def _en_low(self):
        return self.rts and not self.dtr

    def _io0_low(self):
        return self.dtr and not self.rts

    def _en_released(self, gen):
        with self._lock:
            if gen != self._en_gen or self.state != "reset" or self._en_low() or self._closed:
                return
            self._boot("power")

    def _halt(self):
        """Stop the chip at once (reset or power loss)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                proc.send_signal(signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
        self.uart.reset()
        self.control.drop()
        self._note_flashing()

    def _boot(self, cause):
        """Out of reset: the ROM samples IO0, then boots the flash."""
        self.clock.reset()
        self.uart.set_line(self.baud)
        self.boots += 1
        if self._io0_low():
            self._enter_download()
            return
        self._start(cause)

    def _enter_download(self):
        self.state = "download"
        try:
            from bodycam.sim.romloader import RomLoader
        except ImportError as e:
            self.loader = None
            self.uart.enter_rom(None)
            self.uart.say(DOWNLOAD_BANNER + b"virtual board: download mode: ROM loader not available (%s)\r\n"
                          % str(e).encode())
            self.log("download mode (IO0 low at reset): ROM loader not available")
            return
        self.loader = RomLoader(self.store.flash_path, chip=self.profile["chip"],
                                flash_size=self.store.flash_bytes, baud=self.baud)
        self.uart.enter_rom(self.loader)
        self.uart.say(self.loader.boot_message())
        self.log("download mode (IO0 low at reset)")

    def _rom_leave(self, how):
        # After FLASH_END with "run" (esptool --after no-reset): the ROM runs the app.
        with self._lock:
            if self.state != "download":
                return
            self.uart.reset()
            self._note_flashing()
            self.clock.reset()
            self.uart.set_line(self.baud)
            self._start("sw" if how == "reboot" else None)

    def _note_flashing(self):
        loader, self.loader = self.loader, None
        if loader is not None and getattr(loader, "blocks_written", 0):
            self.store.state["app"] = "flashed"
            self.store.save_state()
            self.log("download mode wrote %d flash blocks" % loader.blocks_written)

    def _start(self, cause, mode="run"):
        """Run the firmware: ROM banner, the flashed app's check, then
        MicroPython. mode "raw": soft reset from the raw REPL (no main.py)."""
        chip = self.profile["chip"]
        # machine.reset_cause() for this boot (ports/esp32/modmachine.c):
        # power on and EN are PWRON_RESET, machine.reset() and a panic
        # HARD_RESET, a soft reboot SOFT_RESET
        self._reset_cause = {"power": 1, "sw": 2, "panic": 2}.get(cause, 5)
        if cause:
            banner, causes = ROM_BANNERS.get(chip, ROM_BANNERS["esp32"])
            self.uart.say(banner % causes[cause])
        if self.store.state.get("app") == "flashed":
            ok, msg = self._validate()
            self.last_validation = (ok, msg)
            if not ok:
                self.state = "halted"
                self.uart.say(b"virtual board: cannot boot the flashed firmware: %s\r\n" % msg.encode())
                self.log("halted: flashed firmware does not boot: %s" % msg)
                return
            self.uart.say(b"virtual board: flashed firmware checks out (%s); MicroPython's unix port "
                          b"runs in its place\r\n" % msg.encode())
        heap = self._heap_bytes()
        self.sensor.reset_stats()
        self.gc_trace = []
        env = dict(os.environ, MICROPYPATH="chip:rom:.frozen", BODYCAM_VBOARD=self._sock_dir)
        cmd = [upy.micropython_exe(), "-X", upy.heap_arg(heap), "-i", "chip/vboard_boot.py"]
        self._mode = mode
        proc = subprocess.Popen(cmd, stdin=self.uart.slave, stdout=self.uart.slave, stderr=self.uart.slave,
                                cwd=self._run_dir, env=env, start_new_session=True, close_fds=True)
        self.proc = proc
        self.uart.attach(proc.pid, raw=(mode == "raw"))
        self.state = "running"
        self.log("boot %d (%s, heap %d bytes)" % (self.boots, "raw REPL" if mode == "raw" else "main.py", heap))
        threading.Thread(target=self._supervise, args=(proc,), name="vboard-cpu", daemon=True).start()

    def _validate(self):
        try:
            from bodycam.sim.romloader import validate_app_image
        except ImportError as e:
            return True, "not checked: %s" % e
        return validate_app_image(self.store.flash_path, self.profile["flash_offset_int"], self.profile["chip"])

    def _heap_bytes(self):
        """The board's memory as MicroPython's heap: PSRAM less the camera's
        frame buffers (settings.heap_bytes), plus the one frame buffer the
        virtual camera keeps on the heap."""
        s = shared("settings")
        override = getattr(self, "heap_override", None)
        cfg = self.store.read_config() or {}
        try:
            st = s.validate({k: v for k, v in cfg.items() if k != "board"})
        except ValueError:
            st = dict(s.DEFAULTS)
        w, h, _ = s.FRAMESIZES[st["framesize"]]
        if override is not None:
            # heap_bytes=N: the board has N bytes for MicroPython beside the
            # camera driver's buffers (less or more than its profile implies).
            return override + w * h // 5
        return s.heap_bytes(self.profile["psram_bytes"], st["framesize"], st["fb_count"]) + w * h // 5

    def _supervise(self, proc):
        rc = proc.wait()
        with self._lock:
            if proc is not self.proc or self._closed:
                return  # the simulator stopped it (reset, power cut)
            # It ended by itself: the unix port exits where an ESP32 soft-resets
            # (Ctrl-D, sys.exit()), or it crashed.
            deadline = time.monotonic() + 2
            while self.uart.pending_output() and time.monotonic() < deadline:
                time.sleep(0.01)  # let what it printed go out first
            w = self.uart.watch
            raw = w.raw if w.input_raw is None else w.input_raw
            self.uart.detach()
            self.proc = None
            self.control.drop()
            if self.uart.tx_uart == 1:
                # machine_uart_deinit_all deletes UART1's driver, which
                # releases GPIO1 without giving it back to UART0: the board
                # is silent until a hard reset (firmware/dockuart.py)
                self.uart.set_board_baud(self.uart.board_baud(), 0, None)
                self.log("soft reset with UART1 on the REPL's TX pin: nothing drives TX now")
            if rc == 0 or rc == 1:
                self.uart.say(b"MPY: soft reboot\r\n")
                self.log("soft reboot" + (" (raw REPL)" if raw else ""))
                self._start(None, "raw" if raw else "run")
            else:
                self.uart.say(b"\r\nvirtual board: MicroPython died (exit status %d); rebooting\r\n" % rc)
                self.log("crash (exit status %d): rebooting" % rc)
                self._keep_rtc_across_reset()
                self._boot("panic")

    def _keep_rtc_across_reset(self):
        if self._rtc is not None:
            self._rtc = (self._rtc_now(), 0)

    # --- the firmware's side ---------------------------------------------------------
    def _hello(self):
        b = self.profile
        gpio = b["button"]["pin"]
        released = 1 - self._pressed_level
        return {
            "op": "hello", "board_us": self.clock.us(), "speed_milli": self.clock.speed_milli,
            "mode": self._mode, "baud": self.uart.board_baud(),
            "pins": {str(gpio): self._pressed_level if self.button_down else released},
            "rtc_ms": self._rtc_now(),
            "flash": self.store.flash_path, "vfs_offset": VFS_OFFSET,
            "vfs_size": self.store.flash_bytes - VFS_OFFSET,
            "sd": self.store.card_path(), "sd_kind": self.store.sd_kind,
            "sd_journal": self.card_journal.path if self.card_journal else None,
            "dat3_pin": shared("sdmount").dat3_pin(b), "sd_spi_mode": self.sd_spi_mode,
            "camera": self.camera, "reset_cause": self._reset_cause,
            "rom": self._rom, "chip": board_side_dir(), "board": b["id"],
            # costs (None: free): the SD card, the SPI flash chip (free with
            # the "host" card too), board us per host CPU us
            "card": self.card_cost, "flash_cost": FLASH if self.card_cost else None,
            "cpu_scale": self.cpu_scale,
            "cpu_calibration": self.cpu_calibration,
        }

    def _rtc_now(self):
        if self._rtc is None:
            return None
        unix_ms, at_us = self._rtc
        return unix_ms + (self.clock.us() - at_us) // 1000

    def _message(self, m):
        op = m.get("op")
        if op == "led":
            self.leds[m["name"]] = bool(m["on"])
            self.log("LED %s %s" % (m["name"], "on" if m["on"] else "off"))
        elif op == "pin_done":
            ev = self._pin_waits.pop(m.get("id"), None)
            if ev is not None:
                ev.set()
        elif op == "rtc":
            self._rtc = (m["unix_ms"], m["board_us"])
            self.log("RTC set")
        elif op == "uart":  # the firmware set its UARTs' dividers or pins (vboard_uart.py)
            try:
                self.uart.set_board_baud(m["baud"], m.get("tx_baud"), m.get("tx", 0))
                tx = m.get("tx", 0)
                self.log("the firmware set the UART to %d baud%s" % (
                    m["baud"], "" if tx == 0 else " (UART1 drives TX at %d)" % m["tx_baud"] if tx == 1
                    else " (nothing drives TX)"))
            except (ValueError, KeyError) as e:
                self.log("the firmware's UART change failed: %s" % e)
        elif op == "costs":
            self.gc_trace.extend(m.pop("gc", ()))  # collections since the last report (vboard_costs.GcTrace)
            self.costs = m  # what the board has been charged so far (vboard_costs.Report)
        elif op == "reset":
            threading.Thread(target=self._soft_cpu_reset, daemon=True).start()
        elif op == "sd_spi_mode":
            self.sd_spi_mode = True
            self.log("SD card saw DAT3 low at CMD0: in SPI mode until its power is cut")
        elif op == "tap":  # `bodycam doctor`'s button check: pressed for you
            self.log("button tapped for the firmware (doctor)")
            threading.Thread(target=self.tap, daemon=True).start()

    def _soft_cpu_reset(self):
        with self._lock:
            if self.state != "running":
                return
            self._keep_rtc_across_reset()
            self._halt()
            self.log("machine.reset()")
            self.clock.reset()
            self.uart.set_line(self.baud)
            self.boots += 1
            self._start("sw")

    # --- the button --------------------------------------------------------------------
    def _pins(self, edges, wait_ms=None):
        """Send button edges ([board ms from now, level], ...); with wait_ms,
        return once the firmware has delivered the last one."""
        mid = next(self._pin_ids)
        ev = threading.Event()
        self._pin_waits[mid] = ev
        # "at": board time now, so the edges happen when they should even if
        # the firmware reads this late (it is inside a blocking call).
        sent = self.control.send({"op": "pin", "pin": self.profile["button"]["pin"], "edges": edges, "id": mid,
                                  "at": self.clock.ms()})
        if wait_ms is not None:
            wall = self.clock.wall_seconds(wait_ms)
            if sent:
                ev.wait(wall + 2.0)  # a busy or stopped firmware may never answer
            else:
                time.sleep(wall)  # no firmware listening: just let the time pass
        self._pin_waits.pop(mid, None)

    def press(self, ms=None):
        """Button down. With ms: released exactly ms (board time) later; returns then."""
        if ms is not None:
            return self.hold(ms)
        self.button_down = True
        self._pins([[0, self._pressed_level]])

    def release(self):
        self.button_down = False
        self._pins([[0, 1 - self._pressed_level]])

    def hold(self, ms):
        """Keep the button down for exactly ms of board time, then release it."""
        if ms < 0:
            raise ValueError("hold time must be >= 0 ms")
        edges = [[ms, 1 - self._pressed_level]]
        if not self.button_down:
            edges.insert(0, [0, self._pressed_level])
        self.button_down = True
        try:
            self._pins(edges, wait_ms=ms)
        finally:
            self.button_down = False

    def tap(self):
        self.hold(150)

    # --- the camera -----------------------------------------------------------------------
    def camera_faults(self, every=0, stall_ms=None, oversize_every=None):
        """Make every Nth capture fail as on the ESP32 (0: none): the driver
        waits stall_ms (default its 4000 ms timeout) and capture() returns
        None. Counted in sensor.failures; kept across reboots.
        oversize_every=N: every Nth sensor frame is too large for the
        driver's buffer (a busy scene): dropped with "cam_hal: FB-OVF" on
        UART0 (sensor.overflows, sensor.said); None leaves it as it is."""
        from bodycam.sim.sensor import FB_GET_TIMEOUT_MS
        try:
            self.sensor.fail(every, FB_GET_TIMEOUT_MS if stall_ms is None else stall_ms)
            if oversize_every is not None:
                self.sensor.oversize(oversize_every)
        except ValueError as e:
            raise SimError("camera faults: %s" % e)
        self.log("camera: %s" % ("1 capture in %d fails" % every if every else "captures no longer fail"))

    # --- time ------------------------------------------------------------------------------
    def board_ms(self):
        return self.clock.ms()

    def sleep_board(self, ms):
        self.clock.sleep(ms)

    def wait_recording_ready(self, timeout=30):
        """Until the firmware's capture loop runs (it has captured frames:
        the camera's constructor and the ring's size probe take one each
        before the loop, and recovery, begin)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state == "running" and self.sensor.frames >= 4:
                return
            time.sleep(0.02)
        raise SimError("the virtual board's firmware did not start capturing within %d s (state %s); "
                       "the end of its console output:\n%s" % (timeout, self.state, self.console_tail()))

    def console_tail(self, n=1500):
        """The last n characters the board sent on its UART (heard or not)."""
        return bytes(self.uart.recent[-n:]).decode("utf-8", "replace")

    # --- storage ---------------------------------------------------------------------------
    def _clips(self):
        if self.profile["storage"]["kind"] == "sd":
            return self.store.sd, "clips"
        return self.store.flash, "clips"

    def list_clips(self):
        """Complete clips (AVI and its sidecar) on the board's storage, oldest first."""
        img, d = self._clips()
        try:
            names = {n for n, _, is_dir in img.listdir(d) if not is_dir}
        except (FileNotFoundError, SimError):
            return []
        return sorted(n[:-4] for n in names if n.endswith(".AVI") and n[:-4] + ".JSON" in names)

    def wait_for_clip(self, known=(), timeout=60):
        """The name of a complete clip not in `known`, once one appears."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = [c for c in self.list_clips() if c not in known]
            if new:
                return new[0]
            time.sleep(0.2)
        raise SimError("no new clip appeared on the virtual board within %d s" % timeout)

    def copy_clip(self, name, dest_dir):
        """Copy NAME.AVI and NAME.JSON from the card to dest_dir; returns their paths."""
        img, d = self._clips()
        os.makedirs(dest_dir, exist_ok=True)
        out = [os.path.join(dest_dir, name + ext) for ext in (".AVI", ".JSON")]
        img.run([["get", "%s/%s.AVI" % (d, name), os.path.abspath(out[0])],
                 ["get", "%s/%s.JSON" % (d, name), os.path.abspath(out[1])]], readonly=True)
        return tuple(out)

    def read_sd_file(self, path):
        return self.store.sd.read(path.lstrip("/"))

    def sd_listdir(self, path="clips"):
        return self.store.sd.listdir(path.lstrip("/"))

    def read_flash_file(self, path):
        return self.store.flash.read(path.lstrip("/"))

    def uart_stats(self):
        st = dict(self.uart.stats)
        st["board_baud"] = self.uart.board_baud()
        st["host_baud"] = self.uart.host_baud
        st["tty"] = dict(self.tty.stats, path=self.tty.path, open=self.tty.open)
        return st

    # --- shutdown --------------------------------------------------------------------------------
    def close(self):
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self.proc is not None:
                self._halt()
        for name in ("server", "tty"):
            if hasattr(self, name):
                getattr(self, name).close()
        for s in getattr(self, "_servers", ()):
            s.close()
        if hasattr(self, "uart"):
            self.uart.close()
        if hasattr(self, "sensor"):
            self.sensor.close()
        self.store.close()
        if getattr(self, "_sock_dir", None):
            shutil.rmtree(self._sock_dir, ignore_errors=True)
        if self._tmp_state:
            shutil.rmtree(self._tmp_state, ignore_errors=True)
