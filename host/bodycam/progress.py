"""A one-line progress display on stderr: bytes, rate, time left."""
import sys
import time


def human_bytes(n):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return "%.1f %s" % (n / size, unit)
    return "%d B" % n


def human_time(s):
    s = int(s + 0.5)
    if s >= 3600:
        return "%d:%02d:%02d" % (s // 3600, s // 60 % 60, s % 60)
    return "%d:%02d" % (s // 60, s % 60)


class Progress:
    """Redraws at most every `every` s when the stream is a terminal;
    elsewhere (logs, CI) it stays quiet and the caller prints per-file
    lines. Rate is measured over the last few seconds."""

    def __init__(self, total, stream=None, every=0.2, force=False):
        self.stream = stream or sys.stderr
        self.live = force or (hasattr(self.stream, "isatty") and self.stream.isatty())
        self.total = total
        self.done = 0
        self.every = every
        self.name = ""
        self.t0 = time.monotonic()
        self.samples = [(self.t0, 0)]
        self.drawn = 0.0
        self.width = 0

    def start_file(self, name):
        self.name = name
        self._draw(force=True)

    def add(self, n):
        self.done += n
        self._draw()

    def rate(self):
        t = time.monotonic()
        self.samples.append((t, self.done))
        while len(self.samples) > 2 and t - self.samples[0][0] > 5.0:
            self.samples.pop(0)
        t0, d0 = self.samples[0]
        return (self.done - d0) / (t - t0) if t > t0 else 0.0

    def line(self):
        r = self.rate()
        left = self.total - self.done
        eta = human_time(left / r) if r > 0 and left > 0 else "--:--"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        return "[%3.0f%%] %-13s %s / %s  %s/s  ETA %s" % (
            pct, self.name, human_bytes(self.done), human_bytes(self.total), human_bytes(r), eta)

    def _draw(self, force=False):
        if not self.live:
            return
        t = time.monotonic()
        if not force and t - self.drawn < self.every:
            return
        self.drawn = t
        s = self.line()
        pad = max(0, self.width - len(s))
        self.width = len(s)
        self.stream.write("\r" + s + " " * pad)
        self.stream.flush()

    def clear(self):
        """Erase the line (before printing something else)."""
        if self.live and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0
