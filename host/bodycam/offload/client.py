"""Talking to the firmware's dock service over a serial port.

DockClient sends command lines and waits for the matching reply frame,
resending when a command or its reply is lost (the dock answers a repeated
command with its cached reply, so retries never do a delete twice). A read
streams: the dock sends frames ahead of our acks, up to a window; a gap or
a bad frame costs a resend of that gap alone, and the frame size follows
the damage seen (stream.py). The port is anything pyserial-like:
serial_for_url() for /dev/tty*, rfc2217:// and socket://."""
import contextlib
import json
import random
import time

from bodycam.offload.stream import Held, Sizes
from bodycam.offload.wire import W, FrameReader

BOOT_BAUD = 115200


class DockError(OSError):
    """The device refused or failed a command (message from the device)."""

    def __init__(self, msg, code=None):
        super().__init__(msg)
        self.code = code


class LinkLost(DockError):
    """The link went quiet or away: worth a reconnect and a resume."""


class PortGone(LinkLost):
    """The port itself failed (USB adapter unplugged, socket closed): no
    point trying again on it."""


def open_port(url, baud=BOOT_BAUD):
    """Open a serial port by name or URL with DTR and RTS released: on the
    ESP32-CAM-MB programmer they drive EN and IO0, and asserting them holds
    the board in reset or download mode."""
    import serial
    try:
        s = serial.serial_for_url(url, baudrate=baud, timeout=0.02, do_not_open=True)
        s.dtr = False
        s.rts = False
        s.open()
    except (serial.SerialException, ValueError) as e:
        raise LinkLost("cannot open %s: %s" % (url, e))
    return s


@contextlib.contextmanager
def docked(url):
    """A DockClient connected to the dock on `url`; the port is closed after."""
    port = open_port(url)
    try:
        c = DockClient(port)
        c.connect()
        yield c
    finally:
        port.close()


class DockClient:
    def __init__(self, port, log=None):
        self.port = port
        self.name = getattr(port, "portstr", None) or getattr(port, "name", None) or "the port"
        self.log = log or (lambda msg: None)
        self.reader = FrameReader(self._read, self._bad_frame)
        self.damaged = []  # (type, id, offset, length) of frames whose payload arrived damaged
        self.cid = random.randrange(1, 256)
        self.info_cache = None
        self.stats = {"retries": 0, "resends": 0, "timeouts": 0, "restarts": 0, "stalls": 0,
                      "shrinks": 0, "grows": 0, "chunk": None, "chunk_min": None, "chunk_history": [],
                      "loss_per_mbyte": 0.0}
        self.chunk = None  # the frame size in use (kept from file to file: noise is the line's)

    # --- bytes -------------------------------------------------------------
    def _read(self, n):
        # What is there, or else whatever comes within the port's (short)
        # timeout. socket:// reports in_waiting as just 0 or 1.
        try:
            waiting = self.port.in_waiting
            return self.port.read(min(n, waiting) if waiting > 1 else n)
        except OSError as e:
            raise PortGone("serial link to %s lost: %s" % (self.name, e))

    def _bad_frame(self, typ, cid, off, n):
        if len(self.damaged) < 1024:
            self.damaged.append((typ, cid, off, n))

    def _write(self, data):
        try:
            self.port.write(data)
        except OSError as e:
            raise PortGone("serial link to %s lost: %s" % (self.name, e))

    def _next_id(self):
        self.cid = self.cid % 255 + 1
        return self.cid

    @property
    def baud(self):
        return self.port.baudrate

    # --- commands ------------------------------------------------------------
    def call(self, verb, *args, resend=1.0, total=6.0):
        """Send a command and return its reply (a dict). Resends every
        `resend` s until `total` s have passed. Raises DockError with the
        device's message if it refused, LinkLost if nothing came back."""
        cid = self._next_id()
        line = W.command(cid, verb, *args)
        end = time.monotonic() + total
        while True:
            self._write(line)
            wait_until = min(end, time.monotonic() + resend)
            while True:
                left = wait_until - time.monotonic()
                if left <= 0:
                    break
                f = self.reader.next(left)
                if f is None:
                    break
                if f.type != W.REPLY:
                    continue  # stale data from an earlier read
                r = self._decode(f)
                if f.id == cid:
                    if not r.get("ok"):
                        raise DockError(r.get("error") or "device refused %s" % verb, r.get("code"))
                    return r
                if f.id == 0:
                    self.log("device: %s" % r.get("error"))
                    break  # our line arrived damaged: send it again now
            if time.monotonic() >= end:
                self.stats["timeouts"] += 1
                raise LinkLost(self._silence_message(verb, total))
            self.stats["retries"] += 1

    def _decode(self, f):
        try:
            return json.loads(f.payload.decode())
        except (ValueError, UnicodeError):
            return {"ok": False, "error": "unreadable reply"}

    def _silence_message(self, verb, total):
        seen = bytes(self.reader.last_garbage).decode("ascii", "replace")
        hint = ""
        if ">>>" in seen or "raw REPL" in seen or "\n... " in seen:
            hint = " (the board is at the MicroPython prompt: the firmware is not running; reset it)"
        elif self.reader.skipped:
            hint = " (%d bytes of other traffic seen: wrong baud rate, or not bodycam firmware?)" % self.reader.skipped
        return "no reply from the bodycam dock on %s at %d baud after %.0f s%s" % (
            self.name, self.port.baudrate, total, hint)

    def connect(self, total=5.0):
        """Make sure the dock answers (after draining what an interrupted
        earlier session left on the line). Returns the device info."""
        try:
            self.port.reset_input_buffer()
        except (AttributeError, OSError):
            pass
        self.reader.discard()
        r = self.call("P", resend=0.5, total=total)
        if r.get("protocol") != W.PROTOCOL:
            raise DockError("the camera's dock speaks protocol %s, this bodycam speaks %d: install the "
                            "firmware that came with this bodycam (bodycam deploy)" % (r.get("protocol"), W.PROTOCOL),
                            "protocol")
        return self.info()

    def info(self, total=6.0):
        self.info_cache = self.call("I", total=total)
        return self.info_cache

    def list(self):
        """Every file the dock offers: dicts with name, size, sha256 (None
        for the clip being recorded, which also has busy=True)."""
        files = []
        after = "-"
        while True:
            # Hashing a file the dock has not seen yet can take a while on
            # a board: keep asking (the dock ignores the repeats).
            r = self.call("L", after, resend=2.0, total=180.0)
            files += r["files"]
            if not r.get("more") or not r["files"]:
                return files
            after = r["files"][-1]["name"]

    def delete(self, name, sha256):
        return self.call("X", name, sha256, resend=2.0, total=180.0)

    def set_clock(self, unix_ms=None, total=6.0):
        if unix_ms is None:
            unix_ms = int(time.time() * 1000)
        return self.call("T", unix_ms, total=total)

    # --- line speed -----------------------------------------------------------
    def set_baud(self, baud):
        """Ask the dock to switch to `baud`, follow it, and confirm with a
        ping at the new speed. If that fails, both sides go back to the old
        speed (the dock by itself after its fallback time). Returns True if
        the new speed is in use."""
        old = self.port.baudrate
        if baud == old:
            return True
        r = self.call("B", baud)
        fallback = r.get("fallback_ms", 2500) / 1000.0
        try:
            self.port.baudrate = baud
        except (ValueError, OSError) as e:
            self.log("this port cannot run at %d baud (%s): staying at %d" % (baud, e, old))
            self._recover_baud(old, fallback)
            return False
        self.reader.discard()
        try:
            self.call("P", resend=0.25, total=max(0.5, fallback - 0.5))
            return True
        except LinkLost:
            self.log("no answer at %d baud: back to %d" % (baud, old))
            self._recover_baud(old, fallback)
            return False

    def _recover_baud(self, old, fallback):
        self.port.baudrate = old
        self.reader.discard()
        self.call("P", resend=0.5, total=fallback + 4.0)

    def reconnect(self, want_baud=None):
        """After the link went quiet: find the dock at the boot speed (a
        reset board comes back there) or at the current one, then step up
        again if asked."""
        tried = []
        # The boot speed first: a board that went quiet for seconds was most
        # likely reset, and it boots at 115200.
        for b in (BOOT_BAUD, self.port.baudrate):
            if b in tried:
                continue
            tried.append(b)
            try:
                self.port.baudrate = b
                self.reader.discard()
                self.call("P", resend=0.5, total=2.5)
                break
            except PortGone:
                raise
            except LinkLost:
                pass  # not at this speed: the next one
        else:
            raise LinkLost("lost the bodycam dock on %s (tried %s baud)" % (
                self.name, " and ".join(str(b) for b in tried)))
        if want_baud and self.port.baudrate != want_baud:
            self.set_baud(want_baud)

    # --- reading files --------------------------------------------------------
    def stream_params(self):
        """(chunk, window) for this speed. Frames short enough that a board
        whose UART write blocks is not held up long. The window covers what
        the board's UART holds (UART1's TX ring: 8 KB of a 16 KB ring,
        firmware/dockuart.py) and the round trip of an ack (the dock reads
        acks while the loop waits for its next frame, but a capture or a
        card read can hold it tens of ms): 0.3 s of line. With selective
        resend a large window costs no resends, only what we hold while a
        gap is filled."""
        baud = self.port.baudrate
        info = self.info_cache or {}
        chunk = 4096 if baud >= 460800 else 1024
        chunk = min(chunk, info.get("max_chunk", W.MAX_PAYLOAD))
        window = int(baud / 10 * 0.3)
        window = max(8 * 1024, min(window, info.get("max_window", 131072)))
        window -= window % chunk
        return chunk, max(window, 2 * chunk)

    def read_file(self, name, size, offset, sink, progress=None, chunk=None, window=None):
        """Stream bytes [offset, size) of a device file into sink(bytes), in
        order, each byte once. Restarts the read if the dock lost it (e.g.
        a reset); raises LinkLost if the link stays quiet. chunk and window
        are the clean line's sizes (default: stream_params()); the frame
        size adapts below that to the damage seen (stream.py)."""
        c, w = self.stream_params()
        sz = Sizes(chunk or c, window or w, self.port.baudrate / 10.0, self.chunk, self.stats)
        restarts = 0
        while True:
            cid = self._next_id()
            self._write(W.command(cid, W.READ, name, offset, sz.chunk, sz.window, size))
            try:
                got = self._receive(cid, name, Held(offset, size), sink, progress, sz)
            finally:
                self.chunk = sz.chunk
            if got == size:
                return
            offset = got  # the dock lost our read: ask again from here
            restarts += 1
            self.stats["restarts"] += 1
            if restarts > 5:
                raise LinkLost("the dock keeps losing the read of %s" % name)

    def _receive(self, cid, name, held, sink, progress, sz):
        """One read until the whole file is here (returns its size) or the
        dock says it has no read (returns where to start again)."""
        rate = self.port.baudrate / 10.0
        tick = (self.info_cache or {}).get("tick_ms", 200) / 1000.0
        # No progress for this long: something was lost, ask again.
        stall = sz.base_window / rate + 2 * tick + 0.5
        give_up = max(2.0, 3 * stall)
        t = time.monotonic()
        quiet_since = t  # the last frame of ours
        last_stall = t
        acked_high = held.high
        ack_t = 0.0
        tries = 0  # stalls since the last progress
        size = held.size

        def ack():
            self._write(W.command(cid, W.ACK, held.expect, held.high, sz.chunk, sz.window))
            return held.high, time.monotonic()

        def ask(g, now):
            self._write(W.command(cid, W.RESEND, g[0], g[1] - g[0], sz.chunk, sz.window))
            self.stats["resends"] += 1
            g[2] = now
            g[3] = held.high

        self.damaged.clear()
        timers_t = 0.0
        while True:
            if held.expect >= size:
                ack()  # all here: the dock logs the offload and ends the read
                return size
            f = self.reader.next(0.02)
            t = time.monotonic()
            while self.damaged:
                # Its header held, so we know which bytes it carried: ask
                # for them at once (the frames after it may all be damaged
                # too, and then no gap would ever show).
                typ, fid, off, n = self.damaged.pop(0)
                if fid == cid and typ == W.DATA:
                    sz.damaged(n)
                    g = held.missing(off, off + n)
                    if g is not None:
                        ask(g, t)
            if t - timers_t >= 0.005:
                timers_t = t
                for g in held.gaps:
                    # The dock sends a gap before new data, so once more
                    # new data than was in flight has come (or much time
                    # has passed), the request or what it asked for was lost.
                    # When nothing comes at all (the file's end: only gaps
                    # are left), that is a round trip.
                    if g[2] is not None and (held.high - g[3] > sz.reask_bytes or t - g[2] > sz.reask or
                                             (t - quiet_since > sz.reask_quiet and t - g[2] > sz.reask_quiet)):
                        ask(g, t)
                if t - quiet_since > stall and t - last_stall > stall:
                    # Nothing at all for a while: the tail or the frames in
                    # flight never came, and our acks may have been lost
                    # too (the dock waits on its window).
                    tries += 1
                    if t - quiet_since > give_up or tries > 30:
                        raise LinkLost("no data for %s from the dock for %.0f s" % (name, t - quiet_since))
                    sz.quiet()
                    for g in held.gaps + [[held.high, size, None, 0]]:
                        if g[1] > g[0]:
                            ask(g, t)
                    acked_high, ack_t = ack()
                    self.stats["stalls"] += 1
                    last_stall = t
                elif t - quiet_since > sz.reack and t - ack_t > sz.reack:
                    acked_high, ack_t = ack()  # our last ack may have been damaged
            if f is None or f.id != cid:
                if f is not None and f.type == W.REPLY and f.id == 0:
                    # a line of ours arrived damaged: an ack goes again now;
                    # a request, when new data shows it was lost (above)
                    acked_high, ack_t = ack()
                continue
            if f.type == W.REPLY:
                r = self._decode(f)
                if r.get("code") == "noread":
                    return held.expect
                raise DockError("%s: %s" % (name, r.get("error")), r.get("code"))
            quiet_since = t
            if f.type == W.END:
                if f.offset != size:
                    raise DockError("%s ended at %d bytes, expected %d" % (name, f.offset, size))
                g = held.end_of_file()
                if g is not None:
                    ask(g, t)
            else:
                sz.seen(len(f.payload))
                try:
                    gaps = held.add(f.offset, f.payload)
                except ValueError as e:
                    raise DockError("%s is %s" % (name, e))
                for g in gaps:
                    sz.gap(g[1] - g[0])
                    ask(g, t)
            n = held.deliver(sink)
            if n:
                tries = 0
                if progress is not None:
                    progress(n)
            if held.high - acked_high >= sz.ack_every or (t - ack_t >= sz.ack_s and held.high > acked_high):
                acked_high, ack_t = ack()
