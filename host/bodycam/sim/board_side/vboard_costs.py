# Virtual board only: what the ESP32 takes longer to do than this host,
# charged in board time. Board time is wall time x speed (vboard.Link), so
# "the chip is busy for T board-us" means holding this process for
# T / speed wall-us. Two sources:
#   - storage: a block device op (vboard_bdev) is a blocking C call on the
#     ESP32; its cost comes from the card/flash profile (host/bodycam/sim/
#     costs.py);
#   - CPU: the firmware's own Python (GC included) runs ~140x faster here
#     than on an ESP32 at 240 MHz. The process's CPU time between HAL calls
#     is scaled by `cpu_scale` (board us per host CPU us, calibrated with
#     pystone: host/bodycam/sim/cpu.py) and the process is held until that
#     much board time has passed. Time spent in the HAL (the simulator's
#     sockets, the camera's frame copy in the kernel) is not the ESP32's
#     work and is not charged.
import time

_ticks_us = time.ticks_us
_diff = time.ticks_diff
_add = time.ticks_add
MIN_SLEEP_US = 200  # shorter holds are carried to the next charge (sleep_us overshoots)
# The firmware away from the HAL this long (host wall time, holds for costs
# left out) was not running its loop: it was at the REPL (mpremote's raw
# REPL reading a deploy's code). The loop calls the clock at every step, and
# nothing it does between two calls takes a fraction of this on the host.
AWAY_US = 250000
CREDIT_US = 1500  # a hold that overslept by up to this (wall) is credited to the next


class BoardTime:
    def __init__(self, speed_milli):
        self.sm = speed_milli  # board us per 1000 wall us
        self.due = None  # wall ticks_us until which the chip is busy
        self.spent_us = 0  # board us charged so far (storage and CPU)
        self.held_us = 0  # wall us this process was held for them

    def spend(self, board_us):
        """The chip is busy for board_us more (after what is already owed)."""
        if board_us <= 0:
            return
        self.spent_us += board_us
        now = _ticks_us()
        due = self.due
        if due is None or _diff(due, now) < -CREDIT_US:
            due = now
        due = _add(due, board_us * 1000 // self.sm)
        self.due = due
        self.settle(now)

    def settle(self, now=None):
        """Hold until everything owed has passed (a short remainder is kept)."""
        if self.due is None:
            return
        if now is None:
            now = _ticks_us()
        left = _diff(self.due, now)
        if left >= MIN_SLEEP_US:
            time.sleep_us(left)
            self.held_us += left


def _open_cpu_clock():
    # Linux: the scheduler's run time of this process in ns (exact, cheap).
    # Elsewhere: clock(), in whole ms on the unix port (unbiased on average).
    try:
        f = open("/proc/self/schedstat", "rb")
        f.read()
        return f
    except OSError:
        return None


class Cpu:
    """Charges the firmware's CPU time between HAL calls, scaled to the
    ESP32's speed. enter() at each HAL entry, leave() at its exit; nested
    calls count once.

    Not charged: CPU time used while the firmware was away from the HAL for
    AWAY_US or more, i.e. at the REPL. There the unix port's work is mostly
    reading the pty a byte per read() (its mp_hal_stdin_rx_chr), which is
    the UART driver's job on the chip, not MicroPython's: charged at the
    pystone scale, a 100 KB deploy became about 25 s of board time, billed
    at once at the next clock call, and mpremote timed out. The ESP32's raw
    REPL keeps up with 115200 baud, so its time there is left unmodelled
    (counted in repl_us)."""

    def __init__(self, board_time, cpu_scale):
        self.bt = board_time
        self.scale_milli = int(cpu_scale * 1000)  # board us per 1000 host CPU us
        self.f = _open_cpu_clock()
        self.buf = bytearray(64)
        self.depth = 0
        self.charged_us = 0  # board us charged for CPU
        self.repl_us = 0  # host CPU us used away from the HAL (at the REPL), not charged
        self.left_wall = _ticks_us()  # when the firmware last left the HAL...
        self.left_held = 0  # ...and board_time.held_us then
        # The bracket's own Python (the wrapper, the call into the block
        # device) is the virtual board's overhead, not the ESP32's work: it
        # is measured here and left out of every charge.
        self.overhead_ns = 0
        self._calibrating = 0
        probe = _bracket(self, _noop)
        self.mark = self.now_ns()
        for _ in range(64):
            probe()
        self.overhead_ns = self._calibrating // 64
        self._calibrating = None
        self.mark = self.now_ns()

    def now_ns(self):
        f = self.f
        if f is None:
            return int(time.clock() * 1000000000)
        f.seek(0)
        n = f.readinto(self.buf)
        v = 0
        b = self.buf
        for i in range(n):
            c = b[i]
            if c < 48:
                break
            v = v * 10 + c - 48
        return v

    def enter(self):
        self.depth += 1
        if self.depth > 1:
            return
        used_ns = self.now_ns() - self.mark
        if self._calibrating is not None:
            self._calibrating += used_ns
            return
        used_ns -= self.overhead_ns
        away_us = _diff(_ticks_us(), self.left_wall) - (self.bt.held_us - self.left_held)
        if away_us >= AWAY_US:
            if used_ns > 0:
                self.repl_us += used_ns // 1000
            return
        if used_ns > 0:
            board_us = used_ns * self.scale_milli // 1000000
            # the work already took some wall time: charge only the rest
            real_us = used_ns * self.bt.sm // 1000000
            if board_us > real_us:
                self.charged_us += board_us - real_us
                self.bt.spend(board_us - real_us)

    def leave(self):
        self.depth -= 1
        if self.depth == 0:
            self.mark = self.now_ns()
            self.left_wall = _ticks_us()
            self.left_held = self.bt.held_us


def _noop():
    pass


def _bracket(cpu, fn):
    def wrapped(*args):
        cpu.enter()
        try:
            return fn(*args)
        finally:
            cpu.leave()
    return wrapped


class Report:
    """Sends the costs charged so far to the simulator about once a second
    of board time ({"op": "costs"} on the control socket), for
    VirtualBoard.costs and the benchmarks."""

    def __init__(self, link, bt, cpu):
        self.link = link
        self.bt = bt
        self.cpu = cpu
        self.devices = {}  # name -> vboard_bdev.Costs
        self.next_us = 0

    def poll(self):
        now = self.link.board_us()
        if now < self.next_us:
            return
        self.next_us = now + 1000000
        d = {"op": "costs", "board_us": now, "spent_us": self.bt.spent_us,
             "cpu_us": self.cpu.charged_us if self.cpu else 0,
             "cpu_repl_us": self.cpu.repl_us if self.cpu else 0,
             "cpu_scale": self.cpu.scale_milli / 1000 if self.cpu else None}
        for name, c in self.devices.items():
            d[name] = {"ops": c.ops, "busy_us": c.busy_us, "stalls": c.stalls, "write_bytes": c.wbytes,
                       "read_bytes": c.rbytes}
        self.link.send(d)


def attach(link, info, camera_cls, uart_cls=None):
    """Set up this boot's costs from the simulator's hello: returns
    (BoardTime, Cpu or None). With a CPU cost, the HAL's entry points (the
    clock, sleeping, the camera, the REPL UART's stand-in for
    uart_stdout_tx_strn and its waits) are bracketed so the firmware's own
    CPU time in between is what gets charged: the stand-ins' pty writes and
    polls are the UART driver's and FreeRTOS's work on the chip, and billed
    as the firmware's Python they made the dock stream at a fifth of the
    line rate (bench/offload.py: 0.20-0.26 at 115200)."""
    bt = BoardTime(link._sm)
    cpu = None
    cls = type(link)
    if info.get("cpu_scale"):
        cpu = Cpu(bt, info["cpu_scale"])
        cls.ticks_ms = _bracket(cpu, cls.ticks_ms)
        cls.sleep_ms = _bracket(cpu, cls.sleep_ms)
        cls.sleep_until_us = _bracket(cpu, cls.sleep_until_us)
        camera_cls.capture = _bracket(cpu, camera_cls.capture)
        if uart_cls is not None:
            uart_cls.write = _bracket(cpu, uart_cls.write)
            uart_cls.sleep_us = _bracket(cpu, uart_cls.sleep_us)
    report = Report(link, bt, cpu)
    sleep = cls.sleep_ms

    def sleep_and_report(self, ms):
        report.poll()
        return sleep(self, ms)
    cls.sleep_ms = sleep_and_report
    link.board_time = bt
    link.cpu = cpu
    link.cost_report = report
    return bt, cpu
