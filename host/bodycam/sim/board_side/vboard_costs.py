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
# Probes to measure a bracket's own CPU time, and short sleeps for a hold's:
# at boot when the simulator brought no calibration (~80 ms; a few % off),
# and at length once per simulator run (calibrate(), ~2 s).
CALIBRATE = 5000
HOLD_PROBES = 100
CARRY_FLOOR_NS = 5000000  # overhead owed is kept up to a few scheduler ticks' worth
CREDIT_US = 1500  # a hold that overslept by up to this (wall) is credited to the next
GC_TRACE_KEPT = 256


class BoardTime:
    def __init__(self, speed_milli):
        self.sm = speed_milli  # board us per 1000 wall us
        self.due = None  # wall ticks_us until which the chip is busy
        self.spent_us = 0  # board us charged so far (storage and CPU)
        self.held_us = 0  # wall us this process was held for them
        self.owed_us = 0  # board us spent but not yet placed (block ops: see Cpu.io_hold)
        self.holds = 0  # sleeps that held it...
        self.slept_us = 0  # ...and the wall us they really took

    def spend(self, board_us, hold=True):
        """The chip is busy for board_us more (after what is already owed).
        hold=False: owed, and placed after whatever runs until the next
        settle() (the firmware cannot tell: it sees board time only
        through the HAL)."""
        if board_us <= 0:
            return
        self.spent_us += board_us
        if hold:
            self._place(board_us)
            self.settle()
        else:
            self.owed_us += board_us

    def _place(self, board_us):
        now = _ticks_us()
        due = self.due
        if due is None or _diff(due, now) < -CREDIT_US:
            due = now
        self.due = _add(due, board_us * 1000 // self.sm)

    def settle(self):
        """Hold until everything owed has passed (a short remainder is kept)."""
        if self.owed_us:
            us, self.owed_us = self.owed_us, 0
            self._place(us)
        if self.due is None:
            return
        now = _ticks_us()
        left = _diff(self.due, now)
        if left >= MIN_SLEEP_US:
            time.sleep_us(left)
            self.held_us += left
            self.holds += 1
            self.slept_us += _diff(_ticks_us(), now)


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
    """Charges the firmware's CPU time, scaled to the ESP32's speed, at its
    HAL calls (the clock, sleeping, the camera, the UART stand-in):
    enter() at each entry, leave() at its exit; nested calls count once.
    What the process used in between, less the virtual board's own work,
    is the firmware's.

    The CPU clock (/proc/self/schedstat) costs ~3 us a read and moves only
    at scheduler ticks and context switches: one interval reads 0 or a
    whole tick (~1-4 ms); only sums over many are right. So:
      - a HAL call's own bracket (its clock reads, the wrapper) is measured
        at length once per simulator run (calibrate()) and taken off
        through a signed carry: a tick that arrives pays the overhead owed;
      - block-device ops (thousands of 128-byte reads per littlefs file
        write) do not read the CPU clock: io_end() times each from its
        first statement with the cheap wall clock (its file access does
        not block), plus its framing (calibrated), and that is taken off
        the next charge. While the firmware runs, an op's hold is owed and
        held inside the next HAL call (io_hold()), so no sleep's own CPU
        falls between two clock reads.
    Before, the clock was read at every op with no usable calibration:
    each op billed ~6-10 us of this bookkeeping, 0.5-1 ms of board time at
    the pystone scale, and one 200-byte state file saved on the littlefs
    flash cost 2-6 s of board time.

    Only the firmware (main.py, from its start until it returns to the
    REPL) is charged: vboard_boot calls firmware(True/False) around it.
    At the REPL the unix port's work is mostly reading the pty a byte per
    read() (its mp_hal_stdin_rx_chr), which is the UART driver's job on the
    chip: charged at the pystone scale, each 2 KB chunk of a deploy cost
    1-2 s of board time and mpremote timed out ("timeout waiting for first
    EOF reception"). The ESP32's raw REPL keeps up with 115200 baud, so its
    time there is left unmodelled; storage the REPL's code uses is still
    charged. (An earlier rule, "away from the HAL for 250 ms means at the
    REPL", failed as soon as the REPL's code wrote a file.)
    """

    def __init__(self, board_time, cpu_scale, calibration=None):
        self.bt = board_time
        self.scale_milli = int(cpu_scale * 1000)  # board us per 1000 host CPU us
        self.f = _open_cpu_clock()
        self.buf = bytearray(64)
        self.depth = 0
        self.charged_us = 0  # board us charged for CPU
        self.repl_us = 0  # host CPU us used at the REPL (not the firmware), not charged
        self.running = False  # the firmware (main.py) runs; False at the REPL
        self.carry_ns = 0  # host CPU ns not charged yet (negative: overhead owed)
        self.io_ns = 0  # host CPU ns of block-device ops since the last charge
        self.overhead_ns = 0  # a HAL call's own bracket
        self.io_frame_ns = 0  # a block-device op's Python around its timed part
        self.hold_ns = 0  # a hold's sleep (the syscall, the switch back)
        self._calibrating = None
        if calibration:  # measured once per simulator run, at length (host/bodycam/sim/cpu.py)
            self.overhead_ns = calibration["overhead_ns"]
            self.io_frame_ns = calibration["io_frame_ns"]
            self.hold_ns = calibration["hold_ns"]
            self.mark = self.now_ns()
        else:
            self._calibrate(CALIBRATE, HOLD_PROBES)

    def calibration(self):
        return {"overhead_ns": self.overhead_ns, "io_frame_ns": self.io_frame_ns, "hold_ns": self.hold_ns}

    def _calibrate(self, probes, holds):
        bt = self.bt
        # holds: short sleeps, whose CPU the clock sees exactly (a switch)
        c0 = self._exact_ns()
        for _ in range(holds):
            time.sleep_us(MIN_SLEEP_US)
        self.hold_ns = (self._exact_ns() - c0) // holds
        # HAL brackets: what one costs outside its own clock reads (summed
        # in enter(): an exact total, bracket by bracket)
        self._calibrating = 0
        probe = _bracket(self, _noop)
        self._exact_ns()
        self.mark = self.now_ns()
        for _ in range(probes):
            probe(None, None)
        self._exact_ns()
        probe(None, None)
        self.overhead_ns = self._calibrating // (probes + 1)
        # block-device ops: the op's whole CPU less what io_end() timed
        self._calibrating = None
        op = _IoProbe(self)
        c0 = self._exact_ns()
        for _ in range(probes):
            op.readblocks(0, self.buf)
        self.io_frame_ns = max(0, (self._exact_ns() - c0 - self.io_ns) // probes)
        self.io_ns = 0
        bt.holds = bt.slept_us = 0
        self.mark = self.now_ns()

    def _recalibrated(self, probes, holds):
        self._calibrate(probes, holds)
        return self.calibration()

    def _exact_ns(self):
        # The clock is brought up to date when the process is switched out.
        time.sleep_us(1)
        return self.now_ns()

    def now_ns(self):
        f = self.f
        if f is None:
            return int(time.clock() * 1000000000)
        # (Known bias, docs/virtual-board.md "CPU clock": read alone, the
        # clock moves only at ticks and switches, so Python shorter than a
        # tick between two HAL calls that sleep is mostly not billed.)
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

    def io_hold(self):
        """Whether a block op holds the chip at once (False: its cost is
        owed and held inside the next HAL call). The firmware sees board
        time only through the HAL, so it cannot tell; but a sleep's own CPU
        (~25-60 us of host time, varying with the host's load) inside the
        op would be billed x100 as the firmware's: ~5 ms of board time per
        SD sector, a 4 KB writer step 40 ms slower. At the REPL and inside
        a HAL call the op holds at once."""
        return not self.running or self.depth > 0

    def io_end(self, t0, holds0, slept0):
        """A block-device op that began at wall ticks_us t0 is done (holds0
        and slept0: the board time's counts before its hold)."""
        if self.depth:
            return  # inside a HAL call: not charged anyway
        bt = self.bt
        us = _diff(_ticks_us(), t0) - (bt.slept_us - slept0)
        self.io_ns += us * 1000 + self.io_frame_ns + (bt.holds - holds0) * self.hold_ns

    def enter(self):
        self.depth += 1
        if self.depth > 1:
            return
        used_ns = self.now_ns() - self.mark
        if self._calibrating is not None:
            self._calibrating += used_ns
            return
        used_ns = self.carry_ns + used_ns - self.overhead_ns - self.io_ns
        self.io_ns = 0
        self.carry_ns = min(0, max(used_ns, -CARRY_FLOOR_NS))
        if used_ns > 0 and not self.running:
            self.repl_us += used_ns // 1000
        elif used_ns > 0:
            board_us = used_ns * self.scale_milli // 1000000
            # the work already took some wall time: charge only the rest
            real_us = used_ns * self.bt.sm // 1000000
            if board_us > real_us:
                self.charged_us += board_us - real_us
                self.bt.spend(board_us - real_us, hold=False)
        self.bt.settle()  # this charge and the block ops' holds owed (see io_hold)

    def leave(self):
        self.depth -= 1
        if self.depth == 0:
            self.mark = self.now_ns()

    def firmware(self, running):
        """The firmware starts (True) or has returned to the REPL (False);
        CPU time is charged only in between."""
        self.running = running
        self.mark = self.now_ns()
        self.carry_ns = 0
        self.io_ns = 0


class GcTrace:
    """When the firmware's garbage collections ran, and what they cost in
    board time. A collection shows as the heap's allocated bytes going
    down; gc.mem_alloc() reads the allocation table (~0.5 ms here, inside
    the camera's HAL call: not charged as the firmware's CPU), so it is
    read at every capture, 5 times a board second at 5 fps: a collection
    ran in the tick before the capture that sees it. (Looking after every
    long stretch of CPU instead cost the writer ~10 % of its time: the CPU
    clock's ticks make most stretches look long.) Its cost is the
    firmware's CPU under the CPU model (a 4 MB heap, the ring included,
    is ~1 ms here: py/gc.c reads every word of every live block). Each
    entry: [board ms it was seen, board ms since the look before (it ran
    in between), bytes freed, bytes free after]. Sent with the next cost
    report; the simulator keeps them (VirtualBoard.gc_trace)."""

    def __init__(self, link):
        import gc
        self.gc = gc
        self.link = link
        self.alloc = gc.mem_alloc()
        self.at = link.board_us()
        self.pending = []  # not sent yet

    def look(self):
        a = self.gc.mem_alloc()
        now = self.link.board_us()
        if a < self.alloc:
            e = self.pending
            e.append([now // 1000, (now - self.at) // 1000, self.alloc - a, self.gc.mem_free()])
            if len(e) > GC_TRACE_KEPT:
                del e[0]
        self.alloc = a
        self.at = now


class _IoProbe:
    # The shape of a vboard_bdev op (an object's method, timed from its
    # first statement, its Costs.leave), for the framing io_end() misses.
    def __init__(self, cpu):
        self.cpu = cpu
        self.costs = self

    def readblocks(self, n, buf):
        t0 = _ticks_us()
        c = self.costs
        if c:
            c.leave(0, t0)

    def leave(self, us, t0):
        bt = self.cpu.bt
        h0, s0 = bt.holds, bt.slept_us
        bt.spend(us)
        self.cpu.io_end(t0, h0, s0)


def calibrate(probes=200000, holds=2000):
    """The bookkeeping's costs on this host, measured at length: the
    simulator runs this once and hands the result to every boot."""
    zero = {"overhead_ns": 0, "io_frame_ns": 0, "hold_ns": 0}
    return Cpu(BoardTime(1000), 1.0, zero)._recalibrated(probes, holds)


def _noop(obj, a):
    pass


_NO = object()


def _bracket(cpu, fn):
    # Fixed positional arguments, not *args: a tuple allocated per HAL call
    # (every ticks_ms()) was garbage the chip never makes, and the
    # collections it brought were billed as the firmware's CPU.
    def wrapped(a=_NO, b=_NO, c=_NO, d=_NO):
        cpu.enter()
        try:
            if a is _NO:
                return fn()
            if b is _NO:
                return fn(a)
            if c is _NO:
                return fn(a, b)
            if d is _NO:
                return fn(a, b, c)
            return fn(a, b, c, d)
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
        trace = self.link.gc_trace
        if trace.pending:
            d["gc"], trace.pending = trace.pending, []
        self.link.send(d)


def attach(link, info, camera_cls, uart_cls=()):
    """Set up this boot's costs from the simulator's hello: returns
    (BoardTime, Cpu or None). With a CPU cost, the HAL's entry points (the
    clock, sleeping, the camera, the UARTs' stand-ins for
    uart_stdout_tx_strn and uart_write_bytes, and their waits; uart_cls:
    their classes) are bracketed so the firmware's own
    CPU time in between is what gets charged: the stand-ins' pty writes and
    polls are the UART driver's and FreeRTOS's work on the chip, and billed
    as the firmware's Python they made the dock stream at a fifth of the
    line rate (bench/offload.py: 0.20-0.26 at 115200)."""
    bt = BoardTime(link._sm)
    cpu = None
    cls = type(link)
    link.gc_trace = GcTrace(link)
    if info.get("cpu_scale"):
        cpu = Cpu(bt, info["cpu_scale"], info.get("cpu_calibration"))
        cls.ticks_ms = _bracket(cpu, cls.ticks_ms)
        cls.sleep_ms = _bracket(cpu, cls.sleep_ms)
        cls.sleep_until_us = _bracket(cpu, cls.sleep_until_us)
        camera_cls.capture = _bracket(cpu, camera_cls.capture)
        camera_cls.free_buffer = _bracket(cpu, camera_cls.free_buffer)
        for c in uart_cls if isinstance(uart_cls, tuple) else (uart_cls,) if uart_cls else ():
            for name in ("write", "sleep_us", "flush", "deinit", "any", "readinto", "wait"):
                if hasattr(c, name):
                    setattr(c, name, _bracket(cpu, getattr(c, name)))
    report = Report(link, bt, cpu)
    sleep = cls.sleep_ms

    def sleep_and_report(self, ms, wake=None):
        report.poll()
        return sleep(self, ms, wake)
    cls.sleep_ms = sleep_and_report
    link.board_time = bt
    link.cpu = cpu
    link.cost_report = report
    return bt, cpu
