# The dock's side of the serial link: the REPL's own stdin/stdout, read
# without blocking the capture loop, plus the platform pieces the dock needs
# (line speed, RTC). The dock talks to any object with this interface, so
# tests swap in a memory link.
import select
import sys

BOOT_BAUD = 115200
# Speeds the unix port's termios knows (the virtual board follows them).
_UNIX_SPEEDS = (9600, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000)


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
        self.baud = current_baud()

    def any(self):
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
        if self.eof and not out:
            return
        for _ in (self.pio if out else self.p).ipoll(ms):
            return

    def readinto(self, b1):
        n = self.inp.readinto(b1, 1)
        if not n:
            self.eof = True  # pipe closed (tests); a UART never ends
        return n

    def write(self, buf, n):
        self.out.write(buf, 0, n)

    def drain(self):
        # Wait until written bytes have left (before changing the speed).
        try:
            self.out.flush()
        except (AttributeError, OSError):
            pass

    def set_baud(self, baud):
        set_baud(baud)
        self.baud = baud


def current_baud():
    if sys.platform == "esp32":
        return BOOT_BAUD
    try:
        import termios
        speed = termios.tcgetattr(0)[5]
    except (ImportError, OSError, AttributeError):
        return BOOT_BAUD
    for b in _UNIX_SPEEDS:
        if getattr(termios, "B%d" % b, None) == speed:
            return b
    return BOOT_BAUD


def set_baud(baud):
    """Change the line speed of the REPL link. Raises ValueError if this
    link cannot run at that speed."""
    if sys.platform == "esp32":
        import machine
        # UART0 carries the REPL; re-initialising it keeps the pins and the
        # REPL, and only changes the divider (not tried on hardware yet).
        machine.UART(0).init(baudrate=baud)
        return
    # Unix port on a pty (the virtual board): set the pty's speed; the board
    # reads it from the master side and paces (or garbles) the line by it.
    try:
        import termios
    except ImportError:
        raise ValueError("this MicroPython has no termios: cannot change the line speed")
    code = getattr(termios, "B%d" % baud, None)
    if code is None:
        raise ValueError("the virtual board's line cannot run at %d baud" % baud)
    try:
        a = termios.tcgetattr(0)
        a[4] = code
        a[5] = code
        termios.tcsetattr(0, termios.TCSANOW, a)
    except OSError as e:
        raise ValueError("stdin is not a serial line (%s)" % e)


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
