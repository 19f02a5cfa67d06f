"""The board's UART0 (the REPL) and the line to the host's USB-UART chip.

The MicroPython process's stdin/stdout/stderr are a pty; this module is the
other end. Bytes cross in both directions no faster than the line rate of
the sender (wire.py), and arrive as junk if the two ends' rates disagree.
The board's rate is what its UART's divider makes of the baud rate asked
for (80 MHz << 4 / baud, as on the ESP32: any rate it can make, not only
the ones termios knows): the simulator sets it at boot and for the ROM
loader's CHANGE_BAUDRATE, the firmware through the control socket
(vboard.UART). The pty's own termios speed plays no part. The host's rate
is what its RFC 2217 client set; the ESP32-CAM-MB's USB-UART chip (a
CH340) carries up to 2 Mbaud.

Host to board, as the ESP32's UART driver does it: a 0x03 byte while
Python code runs raises KeyboardInterrupt (SIGINT to the process) instead of
being read, unless the firmware turned that off (micropython.kbd_intr(-1));
bytes beyond the board's ~260-byte stdin buffer are dropped.

Board to host: the simulator's own output (ROM banner, "MPY: soft reboot")
is sent in order with the process's. The stream is watched for the raw
REPL's banner, so a soft reset can come back in the same REPL mode."""
import collections
import errno
import fcntl
import os
import select
import signal
import struct
import termios
import threading
import tty

from bodycam.device.portfind import ESP32_UART_CLOCK, FASTEST, esp32_uart_rate
from bodycam.sim.wire import Wire, chunk_size_for, garble, rates_match

RX_BUFFER = 260  # MicroPython ESP32's stdin ring buffer
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY_BANNER = b'Type "help()" for more information.'
HOST_QUEUE = 4096  # host->board bytes buffered before the client is held back
RECENT = 4096

ADAPTER = "CH340"  # the ESP32-CAM-MB's USB-UART chip
ADAPTER_MAX_BAUD = FASTEST[ADAPTER]
MAX_BAUD = 5000000  # the ESP32 UART's top rate (/work/shared/reference/esp32cam.md)
CLKDIV_MAX = 0xFFFFF  # the divider's integer part: 20 bits (ESP-IDF hal/esp32 uart_ll_set_baudrate)


def uart_rate(baud):
    """The rate the ESP32's UART runs at when asked for `baud`; ValueError
    when its divider cannot make it."""
    if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
        raise ValueError("baud rate must be a whole number above 0, not %r" % (baud,))
    if baud > MAX_BAUD:
        raise ValueError("the virtual board's UART cannot run at %d baud: the ESP32's UART goes up to %d"
                         % (baud, MAX_BAUD))
    if (ESP32_UART_CLOCK << 4) // baud >> 4 > CLKDIV_MAX:
        raise ValueError("the virtual board's UART cannot run at %d baud: too slow for the ESP32's divider" % baud)
    return esp32_uart_rate(baud)


class ReplWatch:
    """Follows the REPL mode in the board's output, and can swallow the unix
    port's banner when the simulator re-enters the raw REPL after a soft
    reset (the ESP32 prints none there)."""

    def __init__(self):
        self.raw = False
        # The mode as set by the last Ctrl-A (raw) / Ctrl-B (friendly) the
        # board was sent: the REPL reads its input in order, so this is the
        # mode a following Ctrl-D soft reset happens in, even when the banner
        # that shows the change has not come out yet. None: nothing sent.
        self.input_raw = None
        self._tail = b""
        self.swallow = False
        self._pend = b""

    def feed(self, data):
        scan = self._tail + data
        r, f = scan.rfind(RAW_BANNER), scan.rfind(FRIENDLY_BANNER)
        if r >= 0 or f >= 0:
            self.raw = r > f
        self._tail = scan[-len(RAW_BANNER):]
        if not self.swallow:
            return data
        p = self._pend + data
        start = p.find(b"MicroPython ")
        if start < 0:
            keep = len(b"MicroPython ") - 1
            out, self._pend = p[:max(0, len(p) - keep)], p[max(0, len(p) - keep):]
            return out
        end = p.find(b">>> ", start)
        if end < 0:
            self._pend = p[start:]
            return p[:start]
        self.swallow = False
        self._pend = b""
        return p[:start] + p[end + 4:]


class BoardUart:
    def __init__(self, baud, rx_buffer=RX_BUFFER, log=None):
        self.master, self.slave = os.openpty()
        self.default_baud = baud
        self.set_line(baud)
        self.host_baud = baud
        self.adapter_max_baud = ADAPTER_MAX_BAUD
        self.rx_buffer = rx_buffer
        self.log = log or (lambda msg: None)
        self.to_host = None  # send(bytes) of the connected RFC 2217 client, or None
        self.tty_out = None  # send(bytes) -> heard, of the kernel tty (ttyport.py), or None
        self.mode = "off"  # "repl": a process runs; "rom": download mode; "off"
        self.pid = None
        self.rom = None
        self.on_rom_leave = None
        self.watch = ReplWatch()
        self._epoch = 0  # bumped by every reset: output in flight is dropped
        self._items = collections.deque()  # the simulator's output: bytes or callables
        self._rx = bytearray()
        self._cond = threading.Condition()
        self._tx_wire = Wire()
        self._rx_wire = Wire()
        self.recent = bytearray()  # the last RECENT bytes the board sent (for error messages)
        self.listeners = []  # fn(bytes): told of everything the board sends, in order (tests)
        self.stats = {"to_host": 0, "to_board": 0, "rx_dropped": 0, "unheard": 0, "ignored": 0,
                      "interrupts": 0}
        self._stop = False
        self._threads = [threading.Thread(target=self._tx_pump, name="vboard-uart-tx", daemon=True),
                         threading.Thread(target=self._rx_pump, name="vboard-uart-rx", daemon=True)]
        for t in self._threads:
            t.start()

    # --- line settings ---------------------------------------------------------
    def set_line(self, baud):
        """The pty as a UART at `baud`: raw 8N1, no signals from the kernel
        (this module decides what a 0x03 does), ISIG marking "Python code
        runs" (the unix port clears it while its REPL reads a line)."""
        tty.setraw(self.slave)
        a = termios.tcgetattr(self.slave)
        a[3] |= termios.ISIG | termios.NOFLSH
        for c in (termios.VINTR, termios.VQUIT, termios.VSUSP):
            a[6][c] = 0  # _POSIX_VDISABLE
        termios.tcsetattr(self.slave, termios.TCSANOW, a)
        self.set_board_baud(baud)

    def board_baud(self):
        """The baud rate the board's UART was set to."""
        return self._board_baud

    def set_board_baud(self, baud, tx_baud=None, tx_uart=0):
        """The board's UART divider: the rate it makes of `baud` paces and
        garbles the line from now on (ValueError if it cannot). tx_baud:
        the rate of the UART that drives the TX pin when it is another one
        (UART1 on the REPL's pins, vboard_uart.py); 0 when none does."""
        rate = uart_rate(baud)
        tx_rate = rate if tx_baud is None else (uart_rate(tx_baud) if tx_baud else 0)
        self._board_baud = baud if tx_baud is None or not tx_baud else tx_baud
        self.rx_rate = rate
        self.board_rate = tx_rate
        self.tx_uart = tx_uart  # which UART drives the TX pin: 0, 1, or None

    def _carries(self, sent, read):
        """The bytes arrive as sent: both ends at the same rate (within a
        UART's tolerance), and the adapter can run at it."""
        return self.host_baud <= self.adapter_max_baud and rates_match(sent, read)

    # --- what drives the board side ----------------------------------------------
    def attach(self, pid, raw=False):
        """A new MicroPython process owns the board side. raw: enter the raw
        REPL once it reaches the REPL, without showing the unix banner."""
        with self._cond:
            self.pid = pid
            self.rom = None
            self.watch = ReplWatch()
            if raw:
                self.watch.swallow = True
                self.watch.input_raw = True
                os.write(self.master, b"\x01")
            self.mode = "repl"
            self._cond.notify_all()

    def enter_rom(self, loader):
        with self._cond:
            self.pid = None
            self.rom = loader
            self.mode = "rom"

    def reset(self):
        """The chip stops: whatever it had not sent yet is lost."""
        with self._cond:
            self.mode = "off"
            self.pid = None
            self.rom = None
            self._epoch += 1
            self._items.clear()
            for fd in (self.master, self.slave):
                try:
                    termios.tcflush(fd, termios.TCIOFLUSH)
                except termios.error:
                    pass
            self._tx_wire.idle()
            self._cond.notify_all()

    def detach(self):
        """The process ended by itself: keep what it printed (still in the
        pty), stop feeding it."""
        with self._cond:
            self.pid = None
            self.mode = "off"

    def pending_output(self):
        return _fionread(self.master)

    def say(self, data):
        """Queue the board's own output (ROM, bootloader, reboot messages)."""
        with self._cond:
            self._items.append(bytes(data))
            self._cond.notify_all()

    def then(self, fn):
        """Run fn() once everything queued before it has been sent."""
        with self._cond:
            self._items.append(fn)
            self._cond.notify_all()

    # --- host side ---------------------------------------------------------------
    def from_host(self, data):
        """Bytes the client wrote; blocks while the adapter's buffer is full,
        which holds the client back through TCP."""
        with self._cond:
            while len(self._rx) >= HOST_QUEUE and not self._stop:
                self._cond.wait(0.5)
            self._rx += data
            self._cond.notify_all()

    def purge_from_host(self):
        with self._cond:
            self._rx.clear()
            self._cond.notify_all()

    # --- pumps -----------------------------------------------------------------
    def _tx_pump(self):
        while not self._stop:
            item = None
            with self._cond:
                epoch = self._epoch
                if self._items:
                    item = self._items.popleft()
                elif self.mode != "repl" and not _fionread(self.master):
                    self._cond.wait(0.05)
                    continue
            if callable(item):
                item()
                continue
            baud = self.board_rate
            if not baud:  # no UART drives the TX pin: the line stays idle
                if item is None:
                    self._read_pty(4096)
                continue
            if item is None:
                data = self._read_pty(chunk_size_for(baud))
                if not data:
                    continue
                data = self.watch.feed(data)
            else:
                data = item
            self.recent += data
            del self.recent[:-RECENT]
            for fn in self.listeners:
                fn(data)
            for i in range(0, len(data), chunk_size_for(baud)):
                piece = data[i:i + chunk_size_for(baud)]
                self._tx_wire.cross(len(piece), baud)
                if epoch != self._epoch:
                    break  # reset while this was on the wire
                out = piece if self._carries(baud, self.host_baud) else garble(piece, baud, 0)
                heard = False
                send = self.to_host
                if send is not None:
                    try:
                        send(out)
                        heard = True
                    except OSError:
                        pass
                tty_out = self.tty_out
                if tty_out is not None and tty_out(out):
                    heard = True
                self.stats["to_host" if heard else "unheard"] += len(piece)

    def _read_pty(self, n):
        r, _, _ = select.select([self.master], [], [], 0.05)
        if not r:
            return b""
        try:
            return os.read(self.master, n)
        except OSError as e:
            if e.errno in (errno.EIO, errno.EAGAIN):
                return b""
            raise

    def _rx_pump(self):
        while not self._stop:
            with self._cond:
                if not self._rx:
                    self._cond.wait(0.05)
                    continue
                baud = self.host_baud
                n = chunk_size_for(baud)
                chunk = bytes(self._rx[:n])
                del self._rx[:n]
                self._cond.notify_all()
            self._rx_wire.cross(len(chunk), baud)
            data = chunk if self._carries(baud, self.rx_rate) else garble(chunk, baud, 0)
            self._to_board(data)

    def _to_board(self, data):
        mode = self.mode
        if mode == "repl":
            self._to_process(data, self.pid)
        elif mode == "rom" and self.rom is not None:
            self._to_rom(data)
        else:
            self.stats["ignored"] += len(data)

    def _to_rom(self, data):
        rom = self.rom
        reply = rom.feed(data)
        self.stats["to_board"] += len(data)
        if reply:
            self.say(reply)
        if rom.new_baud:
            new = rom.new_baud
            rom.new_baud = None
            # The answer goes out at the old rate, then the ROM switches.
            self.then(lambda: self._rom_baud(new))
        leave = getattr(rom, "leave", None)
        if leave and self.on_rom_leave is not None:
            rom.leave = None
            cb = self.on_rom_leave
            self.then(lambda: cb(leave))

    def _rom_baud(self, baud):
        try:
            self.set_board_baud(baud)
            self.log("ROM loader switched the UART to %d baud" % baud)
        except ValueError as e:
            self.log(str(e))

    def _to_process(self, data, pid):
        parts = data.split(b"\x03")
        for i, part in enumerate(parts):
            if i:  # a 0x03 came before this part
                if pid and self._interrupt_armed(pid):
                    self.stats["interrupts"] += 1
                    try:
                        os.kill(pid, signal.SIGINT)
                    except ProcessLookupError:
                        pass
                else:
                    self._write_stdin(b"\x03")
            if part:
                self._write_stdin(part)

    def _write_stdin(self, data):
        room = len(data)
        if self.rx_buffer is not None:
            room = max(0, min(room, self.rx_buffer - _fionread(self.slave)))
        if room:
            os.write(self.master, data[:room])
            self.stats["to_board"] += room
            a, b = data.rfind(b"\x01", 0, room), data.rfind(b"\x02", 0, room)
            if a >= 0 or b >= 0:
                self.watch.input_raw = a > b
        self.stats["rx_dropped"] += len(data) - room

    def _interrupt_armed(self, pid):
        # Python code runs (the unix REPL clears ISIG while it reads a line)
        # and the SIGINT handler is installed (kbd_intr not -1).
        try:
            if not termios.tcgetattr(self.slave)[3] & termios.ISIG:
                return False
        except termios.error:
            return False
        return _catches_sigint(pid)

    def close(self):
        self._stop = True
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            t.join(2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


def _fionread(fd):
    try:
        return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


def _catches_sigint(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    except (OSError, ValueError):
        pass
    return True  # no /proc: assume MicroPython's default (Ctrl-C interrupts)
