"""A test rig for the serial dock: the real firmware (capture loop + dock)
on the MicroPython unix port, behind a serial line this module simulates.

The line is paced at the sender's baud rate (8N1: baud/10 bytes/s), each
direction on its own, like a UART. When the host's speed and the device's
differ, bytes arrive garbled, as on a real wire. Faults can be injected per
direction: dropped bytes, corrupted bytes (a bit flipped), bursts of 1-7
junk bytes inserted (noise between bytes), a cable pulled after N bytes,
the board reset after N bytes. The device's speed is its pty's termios
speed (the dock sets it when asked to change baud).

    with DockRig(tmp_dir, clips=[3, 0, 8], baud=115200) as rig:
        port = rig.open_port()           # pyserial-like, for DockClient
        rig.faults.down.drop = 1e-4      # device -> host
        rig.faults.noise(1e-3)           # 1 byte in 1000 damaged, both ways (flips, drops, junk bursts)
        rig.serve_tcp()                  # "socket://127.0.0.1:N" for the CLI

Used by tests and bench/offload.py; the virtual board (bodycam.sim) is the
full simulation (RFC 2217, SD image, buttons, ROM loader)."""
import collections
import io
import json
import math
import os
import pty
import random
import select
import socket
import subprocess
import termios
import threading
import time
import tty

from bodycam.device import upy
from bodycam.resources import boards_dir

HERE = os.path.dirname(os.path.abspath(__file__))
DEVICE_SCRIPT = os.path.join(HERE, "_rig_device.py")
BOOT_BAUD = 115200
SPEEDS = {getattr(termios, "B%d" % b): b for b in (
    9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000,
    1500000, 2000000, 3000000)
    if hasattr(termios, "B%d" % b)}


class SerialGone(OSError):
    """Raised by RigPort after the simulated cable was pulled (pyserial
    raises SerialException, also an OSError, when a USB adapter goes)."""


class Faults:
    """Faults of one direction. Probabilities are per byte; *_at are
    one-shot byte counts (of bytes delivered in this direction). An insert
    puts a burst of 1 to `burst` junk bytes (uniform) before a byte, as a
    bad cable or a noisy ground does."""

    def __init__(self):
        self.drop = 0.0
        self.corrupt = 0.0
        self.insert = 0.0  # a junk burst before this byte
        self.burst = 1  # the longest junk burst
        self.cut_at = None  # host port dies after this many bytes
        self.reset_at = None  # device resets after this many bytes
        self.dropped = 0
        self.corrupted = 0
        self.inserted = 0  # bursts
        self.junk = 0  # junk bytes in them
        self._gap = None  # bytes until the next damage

    def noise(self, rate, burst=7):
        """`rate` of the bytes damaged, in equal parts dropped, flipped and
        preceded by a junk burst of 1-`burst` bytes."""
        self.drop = self.corrupt = self.insert = rate / 3.0
        self.burst = burst
        self._gap = None

    def damaged(self):
        return self.dropped + self.corrupted + self.inserted

    def apply(self, data, rng):
        """data as it arrives: the damage events are a Poisson process over
        the bytes (the gap to the next one drawn at once, not per byte)."""
        p = self.drop + self.corrupt + self.insert
        if p <= 0:
            return data
        out = bytearray()
        i = 0
        n = len(data)
        while True:
            if self._gap is None:
                self._gap = int(math.log(1.0 - rng.random()) / math.log(1.0 - p))
            g = self._gap
            if i + g >= n:
                self._gap = g - (n - i)
                out += data[i:]
                return bytes(out)
            out += data[i:i + g]
            i += g
            self._gap = None
            b = data[i]
            i += 1
            r = rng.random() * p
            if r < self.insert:
                k = rng.randint(1, self.burst)
                out += bytes(rng.randrange(256) for _ in range(k))
                out.append(b)
                self.inserted += 1
                self.junk += k
            elif r < self.insert + self.drop:
                self.dropped += 1
            else:
                out.append(b ^ (1 << rng.randrange(8)))
                self.corrupted += 1


class _Faults:
    def __init__(self):
        self.down = Faults()  # device -> host
        self.up = Faults()  # host -> device

    def noise(self, rate):
        self.down.noise(rate)
        self.up.noise(rate)


class Pipe(threading.Thread):
    """One direction of the line: bytes in, paced at rate_fn() bytes/s
    (None: unpaced), faults applied, out to deliver(bytes)."""

    def __init__(self, name, deliver, rate_fn, garble_fn, faults, rng, on_count=None):
        super().__init__(name=name, daemon=True)
        self.q = collections.deque()
        self.cv = threading.Condition()
        self.deliver = deliver
        self.rate_fn = rate_fn
        self.garble_fn = garble_fn
        self.faults = faults
        self.rng = rng
        self.on_count = on_count
        self.count = 0
        self.stopped = False

    def put(self, data):
        with self.cv:
            self.q.append(bytes(data))
            self.cv.notify()

    def queued(self):
        with self.cv:
            return sum(len(b) for b in self.q)

    def flush(self):
        with self.cv:
            self.q.clear()

    def stop(self):
        with self.cv:
            self.stopped = True
            self.cv.notify()

    def run(self):
        tokens = 0.0
        last = time.monotonic()
        while True:
            with self.cv:
                while not self.q and not self.stopped:
                    self.cv.wait()
                    tokens = 0.0  # an idle line saves nothing up
                    last = time.monotonic()
                if self.stopped:
                    return
                rate = self.rate_fn()
                now = time.monotonic()
                if rate is None:
                    n = len(self.q[0])
                else:
                    tokens = min(tokens + (now - last) * rate, max(16.0, rate * 0.004))
                    last = now
                    n = int(tokens)
                    if n < 1:
                        wait = (1 - tokens) / rate
                    else:
                        tokens -= min(n, len(self.q[0]))
                if rate is None or n >= 1:
                    head = self.q[0]
                    out, rest = head[:n], head[n:]
                    if rest:
                        self.q[0] = rest
                    else:
                        self.q.popleft()
                else:
                    out = None
            if out is None:
                time.sleep(max(wait, 0.0005))
                continue
            out = self._damage(out)
            if out:
                self.deliver(out)
            self.count += len(out)
            if self.on_count is not None:
                self.on_count(self.count)

    def _damage(self, data):
        if self.garble_fn():
            # Sender and receiver at different speeds: the receiver sees junk.
            return bytes(self.rng.randrange(256) for _ in data)
        return self.faults.apply(data, self.rng)


class RigPort:
    """The host's end of the line, with the parts of pyserial's Serial API
    the offload client uses."""

    def __init__(self, rig, baud):
        self.rig = rig
        self._baud = baud
        self.timeout = 0.02
        self.buf = bytearray()
        self.cv = threading.Condition()
        self.dead = False
        self.is_open = True
        self.portstr = self.name = "rig"

    # pyserial API
    @property
    def baudrate(self):
        return self._baud

    @baudrate.setter
    def baudrate(self, b):
        self._baud = int(b)

    @property
    def in_waiting(self):
        self._check()
        return len(self.buf)

    def read(self, n=1):
        end = time.monotonic() + (self.timeout or 0)
        with self.cv:
            while not self.buf and not self.dead:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cv.wait(left)
            self._check()
            out = bytes(self.buf[:n])
            del self.buf[:n]
            return out

    def write(self, data):
        self._check()
        self.rig.up.put(data)
        return len(data)

    def flush(self):
        pass

    def reset_input_buffer(self):
        with self.cv:
            self.buf.clear()

    def close(self):
        self.is_open = False
        if self.rig.port is self:
            self.rig.port = None

    # rig side
    def _deliver(self, data):
        with self.cv:
            self.buf += data
            self.cv.notify_all()

    def _kill(self):
        with self.cv:
            self.dead = True
            self.cv.notify_all()

    def _check(self):
        if self.dead:
            raise SerialGone("device disconnected (cable pulled)")


class DockRig:
    def __init__(self, state_dir, clips=(), baud=BOOT_BAUD, paced=True, board="ai-thinker-esp32-cam",
                 settings=None, seed=1, heapsize=4 * 1024 * 1024, repl=False, frame_busy=150,
                 line_max_baud=None, frame_size=(640, 480), eager=True):
        self.dir = os.path.abspath(state_dir)
        self.boot_baud = baud
        self.paced = paced
        self.line_max_baud = line_max_baud  # faster than this, the cable/adapter garbles everything
        # eager: take the board's output from its pty as it comes (a deep
        # FIFO); else only as the line drains it (writes then block, as on
        # an ESP32 whose UART FIFO holds 128 bytes).
        self.eager = eager
        self.repl = repl
        self.heapsize = heapsize
        self.faults = _Faults()
        self.port = None
        self.proc = None
        self.resets = 0
        self.tcp = None
        os.makedirs(os.path.join(self.dir, "sd", "clips"), exist_ok=True)
        s = {"fps": 10, "preroll_s": 2, "ring_bytes": 700000}
        s.update(settings or {})
        with open(os.path.join(self.dir, "rig.json"), "w") as f:
            json.dump({"board_path": os.path.join(boards_dir(), board + ".json"), "settings": s}, f)
        _write_frames(os.path.join(self.dir, "frames"), frame_busy, frame_size)
        self.made = self.make_clips(clips) if clips else []
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)
        # No ISIG, even with repl: the capture loop runs with kbd_intr(-1)
        # (0x03 is data, as on the ESP32), and the dock hands a deliberate
        # "\r\x03" over to the REPL (-i) by raising KeyboardInterrupt.
        self._set_device_speed(baud)
        self._dev_baud = baud
        self._dev_baud_t = 0.0
        self.down = Pipe("rig-down", self._to_host, lambda: self._rate(self.device_baud()),
                         self._mismatch, self.faults.down, random.Random(seed), self._down_count)
        self.up = Pipe("rig-up", self._to_device, lambda: self._rate(self.host_baud()),
                       self._mismatch, self.faults.up, random.Random(seed + 1))
        self._stop = False
        self.reader = threading.Thread(target=self._read_device, name="rig-read", daemon=True)
        self.down.start()
        self.up.start()
        self.reader.start()
        self.start_device()

    # --- lifecycle -----------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._stop = True
        self.stop_device()
        self.down.stop()
        self.up.stop()
        if self.tcp is not None:
            self.tcp.close()
        # The reader must be gone before its fd is closed: one still in
        # select() or about to os.read() would read whatever reuses the fd
        # number next (it once took the first 57 bytes of the next test's
        # subprocess stdout: tests/test_plan.py after test_noisy_link.py).
        self.reader.join(timeout=5)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def make_clips(self, specs):
        """Record clips of these lengths (s; 0 = no frames) with the real
        recorder, before the device runs. Returns their names."""
        p = upy.run_script(DEVICE_SCRIPT, heapsize=self.heapsize, cwd=self.dir,
                           args=["make"] + [str(int(s)) for s in specs])
        lines = p.stdout.strip().splitlines()
        if p.returncode or not lines:
            raise RuntimeError("making clips failed (exit status %d):\nstdout: %s\nstderr: %s"
                               % (p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
        return json.loads(lines[-1])

    def start_device(self):
        cmd = [upy.micropython_exe(), "-X", upy.heap_arg(self.heapsize)]
        if self.repl:
            cmd.append("-i")
        cmd += [DEVICE_SCRIPT, "run"]
        self.stderr = open(os.path.join(self.dir, "device-%d.err" % self.resets), "w")
        slave = self.slave

        def controlling_tty():
            os.setsid()
            import fcntl
            fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(cmd, cwd=self.dir, stdin=slave, stdout=slave, stderr=self.stderr,
                                     env=upy.micropython_env(), preexec_fn=controlling_tty if self.repl else None,
                                     start_new_session=not self.repl)

    def stop_device(self):
        p = self.proc
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        self.proc = None

    def reset_device(self):
        """EN pulse: the board restarts, what was on the wire is lost, and
        the UART comes back at the boot speed."""
        self.stop_device()
        self.down.flush()
        self.up.flush()
        termios.tcflush(self.master, termios.TCIOFLUSH)
        self._set_device_speed(self.boot_baud)
        self.resets += 1
        self.start_device()

    def device_errors(self):
        out = []
        for n in sorted(os.listdir(self.dir)):
            if n.startswith("device-") and n.endswith(".err"):
                with open(os.path.join(self.dir, n)) as f:
                    t = f.read().strip()
                if t:
                    out.append(t)
        return out

    # --- the host's end ---------------------------------------------------------
    def open_port(self, baud=None):
        """A fresh host port (like plugging the cable in again)."""
        if self.port is not None:
            self.port._kill()
        self.port = RigPort(self, baud or self.boot_baud)
        return self.port

    def serve_tcp(self):
        """Expose the line as socket://127.0.0.1:PORT (one client at a
        time), for tools that open a URL. socket:// carries no baud rate:
        the host end stays at the rig's boot speed."""
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        self.tcp = srv
        threading.Thread(target=self._serve, args=(srv,), daemon=True, name="rig-tcp").start()
        return "socket://127.0.0.1:%d" % srv.getsockname()[1]

    def _serve(self, srv):
        while not self._stop:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            port = self.open_port()
            port.timeout = 0.05
            alive = [True]

            def pump_out():
                try:
                    while alive[0]:
                        data = port.read(65536)
                        if data:
                            conn.sendall(data)
                except OSError:
                    pass
                alive[0] = False

            t = threading.Thread(target=pump_out, daemon=True)
            t.start()
            try:
                while alive[0]:
                    data = conn.recv(65536)
                    if not data:
                        break
                    port.write(data)
            except OSError:
                pass
            alive[0] = False
            conn.close()
            t.join()
            port.close()

    # --- the line ------------------------------------------------------------------
    def host_baud(self):
        p = self.port
        return p.baudrate if p is not None else self.boot_baud

    def device_baud(self):
        t = time.monotonic()
        if t - self._dev_baud_t > 0.005:
            try:
                self._dev_baud = SPEEDS.get(termios.tcgetattr(self.master)[5], self._dev_baud)
            except termios.error:
                pass
            self._dev_baud_t = t
        return self._dev_baud

    def _rate(self, baud):
        return baud / 10.0 if self.paced else None

    def _mismatch(self):
        h, d = self.host_baud(), self.device_baud()
        return h != d or (self.line_max_baud is not None and h > self.line_max_baud)

    def inject(self, data):
        """Bytes from the board that are not the dock's (boot messages, a
        REPL prompt, noise), queued between what the device sends."""
        self.down.put(data)

    def _set_device_speed(self, baud):
        a = termios.tcgetattr(self.slave)
        code = getattr(termios, "B%d" % baud)
        a[4] = a[5] = code
        termios.tcsetattr(self.slave, termios.TCSANOW, a)

    def _read_device(self):
        while not self._stop:
            try:
                n = 65536
                if not self.eager:
                    n = max(1, int(self.device_baud() / 10 * 0.005))  # 5 ms of line
                    if self.down.queued() >= n:
                        time.sleep(0.001)
                        continue
                r, _, _ = select.select([self.master], [], [], 0.1)
                if r:
                    data = os.read(self.master, n)
                    if data:
                        self.down.put(data)
            except OSError:
                if self._stop:
                    return
                time.sleep(0.01)

    def _to_host(self, data):
        p = self.port
        if p is not None and not p.dead:
            p._deliver(data)

    def _to_device(self, data):
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def _down_count(self, n):
        f = self.faults.down
        if f.cut_at is not None and n >= f.cut_at:
            f.cut_at = None
            if self.port is not None:
                self.port._kill()
        if f.reset_at is not None and n >= f.reset_at:
            f.reset_at = None
            threading.Thread(target=self.reset_device, daemon=True).start()


def _write_frames(d, busy, size):
    if os.path.isdir(d):
        return
    from PIL import Image, ImageDraw
    os.makedirs(d)
    w, h = size
    for i in range(12):
        rng = random.Random(i)
        im = Image.new("RGB", size, (40 + i * 9, 90, 160))
        dr = ImageDraw.Draw(im)
        for _ in range(busy * (1 + i % 3)):
            x, y = rng.randrange(w), rng.randrange(h)
            dr.rectangle((x, y, x + 8, y + 8), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        dr.text((8, 8), "frame %d" % i, fill=(255, 255, 255))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=85)
        with open(os.path.join(d, "%03d.jpg" % i), "wb") as f:
            f.write(out.getvalue())


def rig_maker(tmp_path, **defaults):
    """For a test fixture: yields make(**kw) -> a new DockRig in tmp_path
    (kw over `defaults`); on the way out closes them all and fails if a
    device printed errors. Use as `yield from rig_maker(tmp_path, ...)`."""
    rigs = []

    def make(**kw):
        for k, v in defaults.items():
            kw.setdefault(k, v)
        r = DockRig(str(tmp_path / ("rig%d" % len(rigs))), **kw)
        rigs.append(r)
        return r

    yield make
    errors = []
    for r in rigs:
        errors += r.device_errors()
        r.close()
    assert not errors, "the device printed errors:\n" + "\n".join(errors)
