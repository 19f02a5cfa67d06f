# The dock's side of the serial link: the REPL's own stdin/stdout, read
# without blocking the capture loop, plus the platform pieces the dock needs
# (line speed, RTC). The dock talks to any object with this interface, so
# tests swap in a memory link.
#
# Above the boot speed, output goes through UART1 with ESP-IDF's driver and
# a TX ring buffer on the REPL's pins (dockuart.FastTx), so the line stays
# busy while the loop reads the card; input is always the REPL's stdin.
#
# Output on the ESP32 (MicroPython v1.27.0, ports/esp32/uart.c
# uart_stdout_tx_strn): a write puts what fits into the REPL UART's 128-byte
# TX FIFO and waits one FreeRTOS tick (10 ms at the default
# CONFIG_FREERTOS_HZ=100) each time it is full, so a 4 KB write blocks the
# loop ~320 ms and the line carries at most 128 bytes a tick. The port gives
# Python no way to see the FIFO: UART(0) cannot be constructed on the REPL
# UART (see set_baud), txdone() would need the IDF driver
# (uart_wait_tx_done), and stdout's poll always says writable
# (mphalport.c mp_hal_stdio_poll). So the link estimates the FIFO from the
# time and the baud rate (TxPacer), and the dock writes only what fits: a
# write that fits never waits for a tick.
import select
import sys
import time

import dockuart
from dockuart import repl_baud  # noqa: F401 (the speed step's call, tested by name)

BOOT_BAUD = 115200
TX_FIFO = 128  # SOC_UART_FIFO_LEN (ESP32, ESP32-S3)
TX_SLACK = 16  # bytes of the FIFO the estimate leaves unused (clock and divider error)
ESP_ERR_INVALID_STATE = 0x103


class TxPacer:
    """A UART's TX buffer level, estimated: bytes written go out at baud/10
    per second (8N1). The REPL UART's 128-byte FIFO by default, or UART1's
    ring (dockuart.FastTx). Integer maths on the ticks_us clock, sized so
    nothing overflows a small int (no allocation)."""

    def __init__(self, ticks_us, sleep_us, baud, capacity=TX_FIFO, slack=TX_SLACK, ring=False):
        self.us = ticks_us
        self.sleep_us = sleep_us
        self.capacity = capacity
        self.ring = ring  # a ring takes a whole write (waiting for room if need be), a FIFO a piece a tick
        self.slack = slack
        self.level = 0
        self.rem = 0
        self.at = ticks_us()
        self.set_baud(baud)

    def set_baud(self, baud):
        if self.level:
            self.update()  # what left at the old rate
        self.per = baud // 100  # bytes per 100000 us
        self.full_us = self.capacity * 100000 // self.per + 1  # a full buffer drains in this

    def update(self):
        # Drained since the last look, carrying the fraction of a byte
        # (rem, in bytes x 100000) so repeated looks add up exactly.
        now = self.us()
        d = time.ticks_diff(now, self.at)
        self.at = now
        if d >= self.full_us or d < 0:
            self.level = 0
            self.rem = 0
            return
        x = d * self.per + self.rem
        gone = x // 100000
        if gone >= self.level:
            self.level = 0
            self.rem = 0
        else:
            self.level -= gone
            self.rem = x - gone * 100000

    def room(self):
        self.update()
        r = self.capacity - self.slack - self.level
        return r if r > 0 else 0

    def wrote(self, n, room):
        """After writing n bytes when room() said `room`. The bytes are
        taken to enter the FIFO as the write returns (it may have started
        later than room() was asked): never earlier than they did."""
        if n <= room or self.ring:
            self.update()  # what was in the buffer drained meanwhile
            self.level += n
        else:  # the write waited for the FIFO: it is full as the call returns
            self.level = self.capacity
            self.rem = 0
            self.at = self.us()

    def wait_us(self, want):
        """How long until `want` bytes fit (0: now)."""
        self.update()
        over = self.level + want - (self.capacity - self.slack)
        if over <= 0:
            return 0
        return over * 100000 // self.per + 1


def _virtual_board():
    try:
        import vboard
    except ImportError:
        return None
    return vboard if vboard.attached() else None


class StdioLink:
    """stdin/stdout of the REPL UART (ESP32) or of the process (unix port:
    a pty in the virtual board). Reads one byte at a time: MicroPython's
    stdin readinto blocks until it has as many bytes as asked for, and
    poll only says that at least one is there."""

    def __init__(self):
        self.inp = sys.stdin.buffer
        self.out = sys.stdout.buffer
        self.p = select.poll()
        self.p.register(sys.stdin, select.POLLIN)
        # stdout: on a pty (unix port) POLLOUT means there is room for a few
        # KB, so a frame will not block for long; an ESP32's UART always
        # says writable and its write blocks until the bytes are in the FIFO.
        self.po = select.poll()
        self.po.register(sys.stdout, select.POLLOUT)
        self.pio = select.poll()
        self.pio.register(sys.stdin, select.POLLIN)
        self.pio.register(sys.stdout, select.POLLOUT)
        self.eof = False
        # the virtual board's stdin, whose pty syscalls stand for the ESP32's
        # C ring buffer (vboard_uart.ReplStdin); None: read sys.stdin here
        vb = _virtual_board()
        self.stdin = vb.repl_stdin() if vb is not None else None
        self.baud = self.boot_baud = current_baud()
        self.fast = None  # dockuart.FastTx while UART1 carries our output
        self._use()

    def _use(self):
        """The output path for the UART that drives the TX pin now."""
        self.kind = "repl"
        self.whole = False  # write whole frames only (UART1: UART.write takes no offset)
        self.out = sys.stdout.buffer
        self.pacer = None
        fast = self.fast
        if fast is not None:
            self.kind = fast.kind
            self.whole = True
            self.out = fast
            self.pacer = TxPacer(fast.ticks_us, fast.sleep_us, self.baud, fast.capacity, 0, True)
        elif sys.platform == "esp32":
            self.pacer = TxPacer(time.ticks_us, time.sleep_us, self.baud)
        else:
            vb = _virtual_board()
            if vb is not None:  # the virtual board's stdout models the ESP32's
                u = vb.repl_uart()
                self.out = u
                self.pacer = TxPacer(u.ticks_us, u.sleep_us, self.baud)

    def any(self):
        if self.stdin is not None:
            return self.stdin.any()
        if self.eof:
            return False
        for _, ev in self.p.ipoll(0):
            if ev & select.POLLIN:
                return True
        return False

    def writable(self):
        for _, ev in self.po.ipoll(0):
            if ev & select.POLLOUT:
                return True
        return False

    def wait(self, ms, out=False):
        """Until a byte arrives (or, with out, stdout has room) or ms pass."""
        if self.stdin is not None and not out:
            self.stdin.wait(ms)
            return
        if self.eof and not out:
            return
        for _ in (self.pio if out else self.p).ipoll(ms):
            return

    def readinto(self, b1):
        if self.stdin is not None:
            return self.stdin.readinto(b1)
        n = self.inp.readinto(b1, 1)
        if not n:
            self.eof = True  # pipe closed (tests); a UART never ends
        return n

    def room(self):
        """Bytes a write takes now without waiting: the TX FIFO's free room
        (ESP32), or a frame's worth when the pty has room (unix port)."""
        p = self.pacer
        if p is not None:
            r = p.room()
            if self.whole and r and not p.level:
                return 65536  # an empty ring takes any frame (one larger than its estimate waits a little)
            return r
        return 65536 if self.writable() else 0

    def wait_room(self, want, max_ms):
        """Until `want` bytes fit, a byte arrives, or max_ms pass."""
        p = self.pacer
        if p is None:
            self.wait(max_ms, True)
            return
        us = p.wait_us(want)
        if us > max_ms * 1000:
            us = max_ms * 1000
        if us > 0 and not self.any():
            p.sleep_us(us)  # ESP32: a busy wait (mp_hal_delay_us); a tick-long poll would starve the FIFO

    def write(self, buf, n, off=0):
        p = self.pacer
        if p is None:
            self.out.write(buf, off, n)
            return
        room = p.room()
        if self.whole:
            self.out.write(buf if off == 0 and n == len(buf) else memoryview(buf)[off:off + n])
        else:
            self.out.write(buf, off, n)
        p.wrote(n, room)

    def drain(self):
        # Wait until written bytes have left (before changing the speed):
        # v1.27.0's machine_uart.c waits for TX only when an IDF driver is
        # installed, which the REPL UART never has, so this is up to us.
        if self.fast is not None:
            self.fast.flush()
            return
        p = self.pacer
        if p is not None:
            p.sleep_us(p.wait_us(p.capacity - p.slack) + 2000)
            return
        try:
            self.out.flush()
        except (AttributeError, OSError):
            pass

    def set_baud(self, baud):
        """Both UARTs at `baud`: UART0's divider (stdin hears the host at
        it), and above the boot speed UART1 on the TX pin; at the boot speed
        UART0 drives the pin again. ValueError: nothing changed."""
        fast = self.fast
        if baud > self.boot_baud:
            set_baud(baud)
            if fast is not None:
                fast.set_baud(baud)
            else:
                self.fast = dockuart.take_tx(baud)
        elif fast is not None:
            self.fast = None
            fast.release(baud)
        else:
            set_baud(baud)
        self.baud = baud
        self._use()

    def close(self):
        """UART0 back on the REPL's pins (before the REPL runs)."""
        fast = self.fast
        if fast is not None:
            self.fast = None
            fast.release(self.baud)
            self._use()


def current_baud():
    if sys.platform == "esp32":
        return BOOT_BAUD
    vb = _virtual_board()
    if vb is not None:
        return vb.uart_baud()
    import ptyline  # the unix port's line is a pty (sim/board_side)
    return ptyline.current_baud(BOOT_BAUD)


def set_baud(baud):
    """Change the line speed of the REPL link. Raises ValueError if this
    link cannot run at that speed."""
    if sys.platform == "esp32":
        import machine
        repl_baud(machine.UART, baud)
        return
    vb = _virtual_board()
    if vb is not None:
        repl_baud(vb.UART, baud)  # the virtual board answers as the port does
        return
    import ptyline
    ptyline.set_pty_baud(baud)


def set_rtc(unix_ms):
    """Keep the wall clock across soft resets: the ESP32's RTC runs until
    power is lost. Other ports have no settable RTC (no-op)."""
    if sys.platform != "esp32":
        return
    import machine

    import clock
    s = unix_ms // 1000
    days = s // 86400
    y, m, d = clock._civil(days)
    wd = (days + 3) % 7  # 1970-01-01 was a Thursday; MicroPython: Monday = 0
    s %= 86400
    machine.RTC().datetime((y, m, d, wd, s // 3600, s // 60 % 60, s % 60, (unix_ms % 1000) * 1000))
