# The dock's speed step (B BAUD): answer at the old speed, wait until that
# answer has left, switch, and keep the new speed only if a valid command
# arrives at it within FALLBACK_MS (the host pings at once); otherwise go
# back. With nothing heard for IDLE_REVERT_MS (host gone), go back to the
# boot speed, so the next tool (mpremote runs at 115200) finds the board.
from ring import _ticks_diff

FALLBACK_MS = 2500  # new baud must see a valid command within this, else revert
IDLE_REVERT_MS = 10000  # back to the boot baud after this long without commands
BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600,
         1000000, 1152000, 1500000, 2000000, 3000000)
REPLY_BYTES = 136  # a reply frame to B, with margin: sent before switching


class SpeedStep:
    def __init__(self, dock):
        self.dock = dock  # its link (swapped by the step), out, ms, last_cmd
        self.boot_baud = dock.link.baud
        self.switch = None  # (new, old, at_ms)
        self.probation = None  # (old, until_ms)

    def ask(self, b):
        """B BAUD: the reply, switching after it has gone."""
        if b not in BAUDS:
            raise ValueError("baud must be one of %s" % ", ".join(str(x) for x in BAUDS))
        old = self.dock.link.baud
        if b != old:
            t = self.dock.ms() + REPLY_BYTES * 10000 // old + 30
            self.switch = (b, old, t)
        return {"ok": True, "baud": b, "old_baud": old, "fallback_ms": FALLBACK_MS}

    def heard(self):
        """A valid command: a new speed is kept."""
        self.probation = None

    def timers(self, t, busy):
        """busy: a read or job runs (the host is there)."""
        d = self.dock
        s = self.switch
        if s is not None and _ticks_diff(t, s[2]) >= 0 and d.out.idle():
            self.switch = None
            if self._set(s[0]):
                self.probation = (s[1], t + FALLBACK_MS)
            return
        p = self.probation
        if p is not None and _ticks_diff(t, p[1]) >= 0:
            self.probation = None
            self._set(p[0])  # nothing heard at the new speed: fall back
        elif d.link.baud != self.boot_baud and not busy and _ticks_diff(t, d.last_cmd) >= IDLE_REVERT_MS:
            d.last_cmd = t
            self._set(self.boot_baud)

    def _set(self, b):
        link = self.dock.link
        link.drain()
        try:
            link.set_baud(b)
        except (ValueError, OSError) as e:
            self.dock.last_error = "baud %d failed: %s" % (b, msg(e))
            return False
        return True


def msg(e):
    if isinstance(e, OSError) and e.args and isinstance(e.args[0], int) and len(e.args) == 1:
        return "storage error %d" % e.args[0]
    return str(e)
