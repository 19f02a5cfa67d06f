# Device clock: monotonic ticks for timing, plus UTC once the host has set
# it. Ticks come from a function (the HAL's), so tests use synthetic time.
#
# time.ticks_ms() wraps every 2**30 ms (12.4 days) on MicroPython ports
# (extmod/modtime.c v1.27.0: MICROPY_PY_TIME_TICKS_PERIOD, 30-bit small
# ints), and a tick difference is only right within +-2**29 ms (6.2 days).
# So UTC is kept as an anchor (UTC ms at one tick) that keep() moves forward
# every REANCHOR_MS; the capture loop calls keep() every frame.

UNIX_2024 = 1704067200  # an RTC before this was never set
REANCHOR_MS = 1 << 26  # 18.6 h: far inside the 6.2 days a tick difference covers


class Clock:
    def __init__(self, ticks_ms, rtc_seconds=None, rtc_set=None):
        self.ticks_ms = ticks_ms
        self.rtc_seconds = rtc_seconds  # seconds since 1970, or None
        self.rtc_set = rtc_set  # rtc_set(unix_ms): keep the hardware RTC in step
        self.base_unix_ms = None  # UTC ms at tick base_ticks
        self.base_ticks = 0
        self.last_sync = None
        if rtc_seconds is not None:
            s = rtc_seconds()
            if s >= UNIX_2024:
                self._anchor(s * 1000)

    def _anchor(self, unix_ms):
        self.base_unix_ms = unix_ms
        self.base_ticks = self.ticks_ms()

    def set_utc_ms(self, unix_ms):
        """Set UTC (ms since 1970); returns the old UTC ms or None."""
        old = self.unix_ms()
        self._anchor(unix_ms)
        self.last_sync = unix_ms
        if self.rtc_set is not None:
            self.rtc_set(unix_ms)
        return old

    def keep(self, now=None):
        """Move the anchor up to now once it is REANCHOR_MS old, so ticks
        stay within range of it however long the board runs. Cheap (no
        allocation) until it moves; call at least every few days."""
        if self.base_unix_ms is None:
            return
        if now is None:
            now = self.ticks_ms()
        d = (now - self.base_ticks) & 0x3FFFFFFF
        if d >= 0x20000000:
            d -= 0x40000000
        if d >= REANCHOR_MS:
            self.base_unix_ms += d
            self.base_ticks = now

    def unix_ms(self, ticks=None):
        if self.base_unix_ms is None:
            return None
        if ticks is None:
            ticks = self.ticks_ms()
            self.keep(ticks)
        d = (ticks - self.base_ticks) & 0x3FFFFFFF
        if d >= 0x20000000:
            d -= 0x40000000
        return self.base_unix_ms + d

    def utc(self, ticks=None):
        """ISO 8601 UTC with milliseconds and 'Z', or None if never set."""
        ms = self.unix_ms(ticks)
        return None if ms is None else iso_utc(ms)


def iso_utc(unix_ms):
    s, ms = divmod(unix_ms, 1000)
    days, s = divmod(s, 86400)
    y, m, d = _civil(days)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (y, m, d, s // 3600, s // 60 % 60, s % 60, ms)


def civil_from_unix(unix_s):
    """(year, month, day, hour, minute, second, weekday 0=Monday) in UTC."""
    days, s = divmod(unix_s, 86400)
    y, m, d = _civil(days)
    return y, m, d, s // 3600, s // 60 % 60, s % 60, (days + 3) % 7


def _civil(days):
    # Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm:
    # no dependence on the port's time module or its epoch.
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d
