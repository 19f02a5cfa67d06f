"""Progress of a long job (flash, deploy, pull, station), one convention
for all of them, on stderr:

- on a terminal: one compact line redrawn in place (at most every 0.2 s):
  `[ 42%] BC000001.AVI  1.2 MB / 2.9 MB  91.3 kB/s  ETA 0:19`;
- anywhere else (a pipe, a log file, CI): that line once each time another
  10 % is done, so a job prints about ten lines whatever its size.

Callers print their own messages through print_line() (or clear() first)
so a message never lands in the middle of a redrawn line."""
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


def is_terminal(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """total: the job's size (bytes unless unit is given, e.g. "files").
    force=True draws in place even when the stream is not a terminal."""

    def __init__(self, total, stream=None, every=0.2, force=False, step=10, name="", unit="B"):
        self.stream = stream or sys.stderr
        self.live = force or is_terminal(self.stream)
        self.total = total
        self.done = 0
        self.every = every
        self.step = step
        self.next_pct = step  # off a terminal: the next percentage that prints a line
        self.name = name
        self.unit = unit
        self.t0 = time.monotonic()
        self.samples = [(self.t0, 0)]
        self.drawn = 0.0
        self.width = 0
        self.finished = False

    def start_file(self, name):
        self.name = name
        self._draw(force=True)

    def add(self, n):
        self.done += n
        self._draw()

    def update(self, done):
        """Set how much is done (for callers that report a running count)."""
        self.done = done
        self._draw()

    def rate(self):
        t = time.monotonic()
        self.samples.append((t, self.done))
        while len(self.samples) > 2 and t - self.samples[0][0] > 5.0:
            self.samples.pop(0)
        t0, d0 = self.samples[0]
        return (self.done - d0) / (t - t0) if t > t0 else 0.0

    def _amount(self, n):
        return human_bytes(n) if self.unit == "B" else "%d %s" % (n, self.unit)

    def line(self):
        r = self.rate()
        left = self.total - self.done
        eta = human_time(left / r) if r > 0 and left > 0 else "--:--"
        pct = 100.0 * self.done / self.total if self.total else 100.0
        rate = human_bytes(r) + "/s" if self.unit == "B" else "%.1f %s/s" % (r, self.unit)
        return "[%3.0f%%] %-13s %s / %s  %s  ETA %s" % (
            pct, self.name, self._amount(self.done), self._amount(self.total), rate, eta)

    def _draw(self, force=False):
        if not self.live:
            self._log_step()
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

    def _log_step(self):
        if not self.total:
            return
        pct = 100.0 * self.done / self.total
        if pct < self.next_pct:
            return
        while self.next_pct <= pct:
            self.next_pct += self.step
        self.stream.write(self.line() + "\n")
        self.stream.flush()

    def clear(self):
        """Erase the line (before printing something else)."""
        if self.live and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0

    def print_line(self, msg, stream=None):
        """Print a message (to `stream`, default this one) without tearing
        the progress line; it is redrawn at the next update."""
        self.clear()
        out = stream or self.stream
        out.write(msg + "\n")
        out.flush()

    def finish(self):
        """The job is over: leave its last state as a line of its own."""
        if self.finished:
            return
        self.finished = True
        if self.live:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self.width = 0
        elif self.total and self.done >= self.total and self.next_pct <= 100:
            self._log_step()
