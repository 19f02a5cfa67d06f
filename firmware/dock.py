# Serial dock: lets the host list, pull and delete clips over the REPL link
# while the capture loop keeps buffering. It is one of app.services: poll()
# runs once per tick, reads whatever command bytes have arrived, and sends
# file data until the tick's time or the transfer window is used up.
#
# Reads stream like esptool's stub READ_FLASH: the device sends frames
# (see dockwire.py) ahead of the host's cumulative acks, up to a window, so
# the line never idles waiting for a round trip. A lost or corrupted frame
# costs one "resend from offset" (go-back-N): frames carry their file offset,
# so a resent frame is the same bytes. Steady-state streaming (frames out,
# acks in) allocates nothing: it reuses preallocated buffers and views.
#
# Frame size adapts to the line (as ZMODEM's does): every ack and resend
# request carries the frame size and window the host wants next; the host
# shrinks them when frames arrive damaged and grows them back when the line
# is clean. The dock takes the largest of its sizes (dockwire.CHUNKS) that
# is not above the request, from the next frame on, through a view fixed
# per size, so changing size allocates nothing either.
#
# Output is paced to the UART: on the ESP32 a write bigger than the REPL
# UART's free TX FIFO blocks in 10 ms FreeRTOS ticks (ports/esp32/uart.c
# uart_stdout_tx_strn, v1.27.0), which would stall the capture loop and cap
# the line at 12.8 KB/s. So a frame goes out in pieces of what the FIFO
# takes now (link.room()), a piece whenever there is room, from the loop's
# tick and its idle wait (see dockio.py).
#
# Ctrl-C: the capture loop runs with micropython.kbd_intr(-1), so a 0x03
# reaches us as data. A lone 0x03 (line noise, garbage during a speed step,
# a terminal) is counted and ignored; "\r\x03" (mpremote's enter_raw_repl,
# pyboard.py) or "\x03\x03" is a deliberate interrupt: the dock stops
# reading (the REPL gets what follows) and asks the loop to close the clip
# in progress and hand over to the REPL (App.run).
#
# Evidence rules: the clip being recorded can be listed but not read or
# deleted; a delete must name the file's SHA-256 (proof that the host holds
# a verified copy); deletions and clock changes go to the audit log.
import hashlib
import json
import os
import struct
import time
from binascii import crc32

import dockwire as W
from dockio import StdioLink
from recstate import STATE_NAMES
from ring import _ticks_diff
from version import VERSION

LISTED = ("AVI", "JSON", "LOG")  # clips and AUDIT.LOG; temporaries (.IDX .TIM .JS_) are not offered
KEEP = ("AUDIT.LOG",)  # offloaded, never deleted (docs/evidence.md)
PAGE = 20  # list entries per reply (a reply must fit one frame)
MAX_WINDOW = 131072
MIN_CHUNK = W.MIN_CHUNK
RX_PER_POLL = 512  # command bytes handled per tick at most
JOB_STEPS = 16  # file blocks hashed per tick at most
IDLE_ROUNDS = 2000  # bound on the idle loop's rounds (a round moves at most a FIFO's worth)
ROOM_BATCH = 64  # idle() waits until this much fits before writing again
IDLE_MARGIN_MS = 2  # idle() hands back this long before the next frame is due
STALL_MS = 15000  # a read with no ack for this long is abandoned
FALLBACK_MS = 2500  # new baud must see a valid command within this, else revert
CACHE_MS = 5000  # a repeated command id+checksum within this gets the cached reply
IDLE_REVERT_MS = 10000  # back to the boot baud after this long without commands
BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 576000, 921600,
         1000000, 1152000, 1500000, 2000000, 3000000)

_K = ord(W.ACK)
_N = ord(W.RESEND)


class Dock:
    def __init__(self, app, link=None, clock_ms=None):
        self.app = app
        self.hal = app.hal
        self.rec = app.recorder
        self.dir = app.hal.clips_dir
        self.audit = getattr(app.hal, "audit", None)
        self.link = link if link is not None else StdioLink()
        self.ms = clock_ms or time.ticks_ms  # link time (real), for timeouts
        self.boot_baud = self.link.baud
        # receive: one command line at a time
        self.b1 = bytearray(1)
        self.lbuf = bytearray(W.MAX_LINE)
        self.ln = 0
        self.over = False
        self.ack_body = memoryview(self.lbuf)[1:W.ACK_LEN - 9]  # CRC'd part of a K/N line
        # send: one frame buffer, with fixed views into it
        self.fbuf = bytearray(W.OVERHEAD + W.MAX_PAYLOAD)
        self.fbuf[0] = 0xBC
        self.fbuf[1] = 0xDC
        mv = memoryview(self.fbuf)
        self.hdr10 = mv[0:10]
        self.payload = mv[W.HEADER:W.HEADER + W.MAX_PAYLOAD]
        # one view per frame size: a full frame's CRC without slicing
        self.views = tuple(mv[W.HEADER:W.HEADER + c] for c in W.CHUNKS)
        self.chunk = W.CHUNKS[0]
        self.cview = self.views[0]
        self.window = self.chunk
        # output in flight: buffer, next offset, end (written as the UART takes it)
        self.ob = None
        self.oo = self.oe = 0
        self.replies = []  # reply frames waiting for the frame in flight
        self.room = getattr(self.link, "room", None)
        self.prev = 0  # the byte before, to tell "\r\x03" from a stray 0x03
        # the read in progress
        self.f = None
        self.sid = 0
        # the command being worked on over several ticks (list, delete)
        self.job = None
        self.job_key = None
        self.cached = None  # (id, crc, reply frame): a repeated command gets the same reply
        self.hashes = {}  # name -> ((size, mtime), sha256 hex)
        self.baud_switch = None  # (new, old, at_ms)
        self.probation = None  # (old, until_ms)
        t = self.ms()
        self.last_cmd = t
        self.stats = {"frames": 0, "bytes": 0, "resends": 0, "bad_commands": 0, "errors": 0,
                      "poll_ms_max": 0, "idle_over_ms_max": 0, "stray_ctrl_c": 0, "resizes": 0}
        self.last_error = None

    # --- the service ------------------------------------------------------
    def poll(self, now):
        try:
            t0 = self.hal.ticks_ms()
            self._poll(now)
            d = _ticks_diff(self.hal.ticks_ms(), t0)
            if d > self.stats["poll_ms_max"]:
                self.stats["poll_ms_max"] = d
        except Exception as e:  # the dock must never stop the capture loop
            self._crash(e)

    def _poll(self, now):
        self._rx()
        t = self.ms()
        self._baud_timers(t)
        if self.job is not None:
            self._run_job(now + self.app.interval_ms // 2)
        if self.f is not None:
            self._stream(now + self.app.interval_ms - self.app.interval_ms // 8, t)
        else:
            self._pump()

    def idle(self, due):
        """The loop's wait for its next frame (App.run calls this instead of
        sleeping through it): keep streaming and answer acks as they come,
        so the UART is busy while the loop would sleep. Returns by `due`."""
        if self.f is None and self.job is None and self.ob is None:
            return
        hal = self.hal
        link = self.link
        try:
            for _ in range(IDLE_ROUNDS):  # bounded, whatever the clock does
                limit = due - IDLE_MARGIN_MS
                left = _ticks_diff(limit, hal.ticks_ms())
                if left <= 0:
                    if -left > self.stats["idle_over_ms_max"]:
                        self.stats["idle_over_ms_max"] = -left
                    return
                self._rx()
                if getattr(self.app, "interrupt", False):
                    return  # the loop hands over to the REPL
                t = self.ms()
                if self.job is not None:
                    self._run_job(limit)
                if self.f is not None:
                    self._stream(limit, t)
                else:
                    self._pump()
                wait = left if left < 20 else 20
                if self.ob is not None:
                    # the UART is full: wait until a batch fits (or a byte comes)
                    want = self.oe - self.oo
                    link.wait_room(want if want < ROOM_BATCH else ROOM_BATCH, wait)
                elif self.f is not None or self.job is not None:
                    link.wait(wait, False)  # the window is full: wait for an ack
                else:
                    return
        except Exception as e:
            self._crash(e)

    def _crash(self, e):
        self.stats["errors"] += 1
        self.last_error = "%s: %s" % (type(e).__name__, e)
        self._end_stream()
        self.job = None
        try:
            self._reply(0, {"ok": False, "error": "dock failed: " + self.last_error})
        except Exception:
            pass

    # --- receive ------------------------------------------------------------
    def _rx(self):
        link = self.link
        b1 = self.b1
        buf = self.lbuf
        n = 0
        while n < RX_PER_POLL and link.any():
            if not link.readinto(b1):
                return
            n += 1
            c = b1[0]
            prev = self.prev
            self.prev = c
            if c == 3:  # Ctrl-C, as data (App.run turns kbd_intr off)
                if prev == 13 or prev == 3:
                    self.app.interrupt = True  # deliberate: leave the rest for the REPL
                    return
                self.stats["stray_ctrl_c"] += 1
            elif c == 0x23:  # '#' starts a command, even in the middle of noise
                buf[0] = c
                self.ln = 1
                self.over = False
            elif c == 10 or c == 13:
                if self.ln:
                    self._line()
                self.ln = 0
            elif self.ln:
                if self.ln < W.MAX_LINE:
                    buf[self.ln] = c
                    self.ln += 1
                else:
                    self.over = True

    def _line(self):
        if self.over:
            self.over = False
            self.stats["bad_commands"] += 1
            self._reply(0, {"ok": False, "error": "command too long (max %d bytes)" % W.MAX_LINE})
            return
        buf = self.lbuf
        if self.ln == W.ACK_LEN and (buf[5] == _K or buf[5] == _N) and self._fast_ack():
            return
        try:
            cid, verb, args = W.parse_command(bytes(buf[:self.ln]))
        except ValueError as e:
            self.stats["bad_commands"] += 1
            self._reply(0, {"ok": False, "error": str(e)})
            return
        self._valid_command()
        if verb == W.ACK or verb == W.RESEND:
            if len(args) in (1, 3) and all(a.isdigit() for a in args):
                v = [int(a) for a in args]
                self._ack(cid, buf[5], v[0], v[1] if len(v) == 3 else 0, v[2] if len(v) == 3 else 0)
            else:
                self._reply(cid, {"ok": False, "error": "usage: %s OFFSET CHUNK WINDOW" % verb})
            return
        self._command(cid, verb, args, bytes(buf[self.ln - 8:self.ln]))

    def _fast_ack(self):
        # "#iii K oooooooooo cccc wwwwww cccccccc" checked in place: no allocation.
        buf = self.lbuf
        if buf[4] != 32 or buf[6] != 32 or buf[17] != 32 or buf[22] != 32 or buf[29] != 32:
            return False
        cid = _digits(buf, 1, 4)
        off = _digits(buf, 7, 17)
        chunk = _digits(buf, 18, 22)
        window = _digits(buf, 23, 29)
        hi = _hex16(buf, 30)
        lo = _hex16(buf, 34)
        if cid < 0 or off < 0 or chunk < 0 or window < 0 or hi < 0 or lo < 0:
            return False
        c = crc32(self.ack_body)
        if (c >> 16) & 0xFFFF != hi or c & 0xFFFF != lo:
            return False  # the slow path reports the bad checksum
        self._valid_command()
        self._ack(cid, buf[5], off, chunk, window)
        return True

    def _valid_command(self):
        self.last_cmd = self.ms()
        self.probation = None  # a good command at the new speed: keep it

    def _ack(self, cid, kind, off, chunk, window):
        if self.f is None or cid != self.sid:
            if kind == _N:  # e.g. the device was reset mid-read: the host restarts it
                self._reply(cid, {"ok": False, "error": "no read in progress", "code": "noread"})
            return
        if off > self.size:
            return
        if chunk:
            self._sizes(chunk, window)
        if kind == _K:
            if off > self.acked and off <= self.sent:
                self.acked = off
            self.last_ack = self.ms()
            if self.acked == self.size and self.end_sent:
                self._finished()
        else:
            self.acked = off
            self.sent = off
            self.end_sent = False
            self.last_ack = self.ms()
            self.stats["resends"] += 1

    # --- commands -------------------------------------------------------------
    def _command(self, cid, verb, args, crc):
        c = self.cached
        if c is not None and c[0] == cid and c[1] == crc and _ticks_diff(self.ms(), c[3]) < CACHE_MS:
            self._send(c[2])  # our reply was lost: same answer again
            return
        if self.job is not None and self.job_key == (cid, crc):
            return  # still working on it
        # Any other command ends what was running (the host moved on).
        self._end_stream()
        self.job = None
        h = _HANDLERS.get(verb)
        if h is None:
            self._reply(cid, {"ok": False, "error": "unknown command %r" % verb})
            return
        try:
            r = h(self, cid, args)
        except (ValueError, OSError) as e:
            self._reply(cid, {"ok": False, "error": _msg(e)}, crc)
            return
        if isinstance(r, dict):
            self._reply(cid, r, crc)
        elif r is not None:  # a generator: worked on a little every tick
            self.job = r
            self.job_key = (cid, crc)

    def _run_job(self, limit):
        for i in range(JOB_STEPS):
            try:
                r = next(self.job)
            except (ValueError, OSError) as e:
                r = {"ok": False, "error": _msg(e)}
            except StopIteration:
                r = {"ok": False, "error": "command gave no reply"}
            if r is not None:
                cid, crc = self.job_key
                self.job = None
                self._reply(cid, r, crc)
                return
            if _ticks_diff(limit, self.hal.ticks_ms()) <= 0:
                return

    def _reply(self, cid, obj, crc=None):
        data = json.dumps(obj).encode()
        if len(data) > W.MAX_PAYLOAD:
            data = json.dumps({"ok": False, "error": "reply too large"}).encode()
        fr = W.frame(W.REPLY, cid, 0, data)
        self._send(fr)
        if crc is not None:
            self.cached = (cid, crc, fr, self.ms())

    def _busy(self, name):
        # The clip being recorded (or finished) is off limits.
        c = self.rec.clip
        return c is not None and name.split(".")[0] == c.name

    def _path(self, name):
        if not W.valid_name(name):
            raise ValueError("bad file name %r (expected upper case NAME.EXT, like BC000001.AVI)" % name)
        return self.dir + "/" + name

    def _stat(self, name):
        try:
            return os.stat(self._path(name))
        except OSError:
            raise ValueError("no such file: %s" % name)

    # I: device info
    def cmd_info(self, cid, args):
        c = self.hal.clock
        try:
            st = os.statvfs(self.dir)
            free, total = st[1] * st[4], st[1] * st[2]
        except OSError:
            free = total = None
        clip = self.rec.clip
        return {"ok": True, "protocol": W.PROTOCOL, "board": self.rec.info.get("board"),
                "firmware": VERSION, "state": STATE_NAMES[self.rec.state],
                "recording": clip.name + ".AVI" if clip is not None else None,
                "free_bytes": free, "total_bytes": total,
                "clock": {"set": c.unix_ms() is not None, "utc": c.utc(), "unix_ms": c.unix_ms(),
                          "ticks_ms": self.hal.ticks_ms()},
                "baud": self.link.baud, "boot_baud": self.boot_baud, "tick_ms": self.app.interval_ms,
                "max_chunk": W.MAX_PAYLOAD, "chunks": list(W.CHUNKS), "max_window": MAX_WINDOW, "clips_dir": self.dir,
                "frames_captured": self.app.ring.next_seq, "capture_errors": self.app.capture_errors,
                "dock": self.stats, "last_error": self.last_error,
                "tx_tick_waits": getattr(getattr(self.link, "out", None), "tick_waits", None),
                "health": self.app.health() if hasattr(self.app, "health") else None}

    # P: ping (also confirms a new baud)
    def cmd_ping(self, cid, args):
        return {"ok": True, "protocol": W.PROTOCOL, "baud": self.link.baud}

    # L [AFTER]: list clip files (a page at a time), with sizes and SHA-256
    def cmd_list(self, cid, args):
        after = args[0] if args and args[0] != "-" else ""
        names = []
        for n in os.listdir(self.dir):
            if W.valid_name(n) and n.split(".")[1] in LISTED and n > after:
                names.append(n)
        names.sort()
        return self._list_job(names)

    def _list_job(self, names):
        out = []
        for n in names[:PAGE]:
            try:
                st = os.stat(self.dir + "/" + n)
            except OSError:
                continue  # deleted meanwhile
            e = {"name": n, "size": st[6]}
            if self._busy(n):
                e["busy"] = True
                e["sha256"] = None
            else:
                e["sha256"] = yield from self._sha(n, st)
            out.append(e)
        yield {"ok": True, "files": out, "more": len(names) > PAGE}

    # R: protocol 1's read, whose acks had no frame size
    def cmd_old_read(self, cid, args):
        return {"ok": False, "code": "protocol", "protocol": W.PROTOCOL,
                "error": "this camera's dock speaks protocol %d (adaptive frame size) and no longer "
                         "takes R reads: update bodycam on the host (pip install -U bodycam)" % W.PROTOCOL}

    # S NAME OFFSET CHUNK WINDOW SIZE: stream a file from OFFSET
    def cmd_read(self, cid, args):
        if len(args) != 5:
            raise ValueError("usage: S NAME OFFSET CHUNK WINDOW SIZE")
        name = args[0]
        off, chunk, window, size = _ints(args[1:])
        st = self._stat(name)
        if self._busy(name):
            raise ValueError("%s is being recorded: it can be read when the clip is finished" % name)
        if st[6] != size:
            raise ValueError("%s has %d bytes, not %d: list again" % (name, st[6], size))
        if off > size:
            raise ValueError("offset %d is past the end of %s (%d bytes)" % (off, name, size))
        if not MIN_CHUNK <= chunk <= W.MAX_PAYLOAD or not chunk <= window <= MAX_WINDOW:
            raise ValueError("chunk must be %d-%d and window chunk-%d bytes" % (MIN_CHUNK, W.MAX_PAYLOAD, MAX_WINDOW))
        self.f = open(self._path(name), "rb")
        self.fpos = 0
        self.sid = cid
        self.sname = name
        self.start = off
        self.size = size
        self.sent = self.acked = off
        self.end_sent = False
        self._sizes(chunk, window)
        self.last_ack = self.ms()
        return None

    def _sizes(self, chunk, window):
        """Frame size and window from the host's request, within our
        limits: the largest of CHUNKS not above chunk (from the next frame
        on), a window of at least one frame. No allocation."""
        i = 0
        sizes = W.CHUNKS
        while i + 1 < len(sizes) and sizes[i + 1] <= chunk:
            i += 1
        c = sizes[i]
        if c != self.chunk:
            self.chunk = c
            self.cview = self.views[i]
            self.stats["resizes"] += 1
        if window < c:
            window = c
        self.window = window if window < MAX_WINDOW else MAX_WINDOW

    # X NAME SHA256: delete a file, only with proof of a verified copy
    def cmd_delete(self, cid, args):
        if len(args) != 2:
            raise ValueError("usage: X NAME SHA256")
        name, want = args
        if name in KEEP:
            raise ValueError("%s is never deleted" % name)
        st = self._stat(name)
        if self._busy(name):
            raise ValueError("%s is being recorded: it cannot be deleted" % name)
        if len(want) != 64:
            raise ValueError("a SHA-256 has 64 hex digits")
        return self._delete_job(name, want.lower(), st)

    def _delete_job(self, name, want, st):
        have = yield from self._sha(name, st)
        if have != want:
            yield {"ok": False, "error": "SHA-256 of %s is %s, not %s: not deleted" % (name, have, want),
                   "code": "hash"}
            return
        os.remove(self._path(name))
        self.hashes.pop(name, None)
        self._log("delete", {"clip": stem_of(name), "file": name, "sha256": have})
        yield {"ok": True, "deleted": name}

    # T UNIX_MS: set the clock (UTC)
    def cmd_clock(self, cid, args):
        ms, = _ints(args)
        if not 1577836800000 <= ms <= 4102444800000:  # 2020 .. 2100
            raise ValueError("clock must be a UTC time in ms since 1970, 2020-2100")
        try:
            import evidence  # logs the change and keeps it for the manifests
            old = evidence.set_clock(self.hal, ms, "host")
        except ImportError:
            old = self.hal.clock.set_utc_ms(ms)
        return {"ok": True, "utc": self.hal.clock.utc(), "old_unix_ms": old}

    # B BAUD: change the line speed, back to the old one if no command
    # arrives at the new speed within FALLBACK_MS
    def cmd_baud(self, cid, args):
        b, = _ints(args)
        if b not in BAUDS:
            raise ValueError("baud must be one of %s" % ", ".join(str(x) for x in BAUDS))
        old = self.link.baud
        if b != old:
            # Switch after this reply has left at the old speed.
            t = self.ms() + (W.OVERHEAD + 120) * 10000 // old + 30
            self.baud_switch = (b, old, t)
        return {"ok": True, "baud": b, "old_baud": old, "fallback_ms": FALLBACK_MS}

    def _baud_timers(self, t):
        s = self.baud_switch
        if s is not None and _ticks_diff(t, s[2]) >= 0 and self.ob is None and not self.replies:
            self.baud_switch = None
            self.link.drain()
            try:
                self.link.set_baud(s[0])
            except (ValueError, OSError) as e:
                self.last_error = "baud %d failed: %s" % (s[0], _msg(e))
                return
            self.probation = (s[1], t + FALLBACK_MS)
            return
        p = self.probation
        if p is not None and _ticks_diff(t, p[1]) >= 0:
            self.probation = None
            self._set_baud(p[0])  # nothing heard at the new speed: fall back
        elif (self.link.baud != self.boot_baud and self.f is None and self.job is None
              and _ticks_diff(t, self.last_cmd) >= IDLE_REVERT_MS):
            # Host gone: back to the boot speed so the next tool (mpremote
            # runs at 115200) finds the board.
            self.last_cmd = t
            self._set_baud(self.boot_baud)

    def _set_baud(self, b):
        self.link.drain()
        try:
            self.link.set_baud(b)
        except (ValueError, OSError) as e:
            self.last_error = "baud %d failed: %s" % (b, _msg(e))

    # --- output ----------------------------------------------------------------
    def _send(self, fr):
        """Queue a whole frame (a reply) behind the one in flight."""
        if self.ob is None:
            self.ob = fr
            self.oo = 0
            self.oe = len(fr)
        else:
            self.replies.append(fr)
        self._pump()

    def _pump(self):
        """Write what the UART takes now without waiting. True when nothing
        is left to send."""
        link = self.link
        while True:
            if self.ob is None:
                if not self.replies:
                    return True
                fr = self.replies.pop(0)
                self.ob = fr
                self.oo = 0
                self.oe = len(fr)
            k = self.oe - self.oo
            if self.room is not None:
                r = self.room()
                if r <= 0:
                    return False
                if k > r:
                    k = r
            link.write(self.ob, k, self.oo)
            self.oo += k
            if self.oo < self.oe:
                return False
            self.ob = None

    # --- streaming ----------------------------------------------------------
    def _stream(self, limit, t):
        """Send frames while the window allows, until ticks `limit` or the
        UART is full (a frame goes out in pieces as room comes). Returns how
        many frames were started."""
        if _ticks_diff(t, self.last_ack) >= STALL_MS:
            self._end_stream()  # host gone
            return 0
        hal = self.hal
        n = 0
        while self._pump() and self.f is not None:
            if n and _ticks_diff(limit, hal.ticks_ms()) <= 0:
                return n
            if self.sent < self.size and self.sent - self.acked < self.window:
                self._send_data()
            elif self.sent >= self.size and not self.end_sent:
                self._send_end()
            else:
                return n  # the window is full: wait for acks
            n += 1
        return n

    def _send_data(self):
        f = self.f
        if self.fpos != self.sent:
            f.seek(self.sent)
            self.fpos = self.sent
        want = self.size - self.sent
        if want >= self.chunk:
            n = f.readinto(self.cview)
            body = self.cview
        else:
            n = f.readinto(self.payload, want)
            body = self.payload[:n]  # the last frame only
        if n != self.chunk and n != want:
            raise OSError("file shrank while being read")
        buf = self.fbuf
        struct.pack_into("<BBHI", buf, 2, W.DATA, self.sid, n, self.sent)
        struct.pack_into("<H", buf, 10, crc32(self.hdr10) & 0xFFFF)
        struct.pack_into("<I", buf, W.HEADER + n, crc32(body))
        self.ob = buf
        self.oo = 0
        self.oe = W.OVERHEAD + n
        self.sent += n
        self.fpos += n
        st = self.stats
        st["frames"] += 1
        st["bytes"] += n

    def _send_end(self):
        buf = self.fbuf
        struct.pack_into("<BBHI", buf, 2, W.END, self.sid, 0, self.size)
        struct.pack_into("<H", buf, 10, crc32(self.hdr10) & 0xFFFF)
        struct.pack_into("<I", buf, W.HEADER, 0)  # CRC-32 of nothing
        self.ob = buf
        self.oo = 0
        self.oe = W.OVERHEAD
        self.end_sent = True

    def _finished(self):
        # The host holds the whole file: an AVI handed over is an audit event.
        name = self.sname
        if name.endswith(".AVI"):
            c = self.hashes.get(name)
            self._log("offload", {"clip": stem_of(name), "bytes": self.size - self.start,
                                  "sha256": c[1] if c is not None else None})
        self._end_stream()

    def _end_stream(self):
        f = self.f
        if f is not None:
            self.f = None
            self.sid = 0
            try:
                f.close()
            except OSError:
                pass

    # --- hashes ----------------------------------------------------------------
    def _sha(self, name, st):
        """Generator: SHA-256 (hex) of a clip file, one block per step. An
        AVI whose sidecar recorded its hash (and size) gets that recorded
        hash: the host's copy is then checked against what was recorded,
        which also catches storage corruption. Cached by (size, mtime)."""
        key = (st[6], st[8])
        c = self.hashes.get(name)
        if c is not None and c[0] == key:
            return c[1]
        sha = None
        stem, ext = name.split(".")
        if ext == "AVI":
            sha = yield from self._recorded_sha(stem, st[6])
        if sha is None:
            h = hashlib.sha256()
            mv = self.payload
            with open(self._path(name), "rb") as f:
                while True:
                    n = f.readinto(mv)
                    if not n:
                        break
                    h.update(mv[:n])
                    yield None
            sha = _hex(h.digest())
        self.hashes[name] = (key, sha)
        return sha

    def _recorded_sha(self, stem, size):
        # The sidecar's metadata comes before its long frame_ms list: scan
        # it for "avi_sha256" and "avi_bytes" without parsing the list.
        try:
            f = open(self.dir + "/" + stem + ".JSON", "rb")
        except OSError:
            return None
        sha = nbytes = None
        tail = b""
        with f:
            while sha is None or nbytes is None:
                n = f.readinto(self.payload)
                if not n:
                    break
                text = tail + bytes(self.payload[:n])
                if sha is None:
                    sha = _field(text, b'"avi_sha256"', 64)
                if nbytes is None:
                    v = _field(text, b'"avi_bytes"', 0)
                    if v is not None:
                        nbytes = int(v)
                stop = text.find(b'"frame_ms"') >= 0
                tail = text[-80:]
                yield None
                if stop:
                    break
        if sha is None or nbytes != size:
            return None  # no record, or the AVI is not the recorded one: hash it
        return sha

    # H ...: test hooks (button presses for hardware-in-loop tests), only on
    # a board deployed with `bodycam deploy --test-hooks` (hooks/testhooks.py)
    def cmd_test(self, cid, args):
        try:
            import testhooks
        except ImportError:
            return {"ok": False, "code": "no_test_hooks",
                    "error": "this board has no test hooks: deploy it with `bodycam deploy --test-hooks`"}
        return testhooks.command(self.app, args)

    # D sd KB | leds | press: bring-up checks for `bodycam doctor` (bringup.py)
    def cmd_doctor(self, cid, args):
        import bringup
        return bringup.command(self.app, args)

    def _log(self, kind, data):
        if self.audit is not None:
            try:
                self.audit.record(kind, data)
            except Exception:
                pass


_HANDLERS = {
    "I": Dock.cmd_info,
    "P": Dock.cmd_ping,
    "L": Dock.cmd_list,
    "S": Dock.cmd_read,
    "R": Dock.cmd_old_read,
    "X": Dock.cmd_delete,
    "T": Dock.cmd_clock,
    "B": Dock.cmd_baud,
    "H": Dock.cmd_test,
    "D": Dock.cmd_doctor,
}


def _digits(buf, a, b):
    v = 0
    for i in range(a, b):
        d = buf[i] - 48
        if d < 0 or d > 9:
            return -1
        v = v * 10 + d
    return v


def _hex16(buf, a):
    v = 0
    for i in range(a, a + 4):
        c = buf[i]
        if 48 <= c <= 57:
            d = c - 48
        elif 97 <= c <= 102:
            d = c - 87
        else:
            return -1
        v = v * 16 + d
    return v


def _ints(args):
    out = []
    for a in args:
        if not a.isdigit():
            raise ValueError("%r is not a whole number" % a)
        out.append(int(a))
    return out


def stem_of(name):
    return name.split(".")[0]


def _field(text, key, width):
    # Value of "key" in JSON text: a string of `width` characters, or the
    # digits of a number when width is 0. None if not (yet) all there.
    i = text.find(key)
    if i < 0:
        return None
    i += len(key)
    while i < len(text) and text[i] in b' :\t':
        i += 1
    if width:
        if i >= len(text) or text[i] != 34:
            return None
        v = text[i + 1:i + 1 + width]
        return v.decode() if len(v) == width else None
    j = i
    while j < len(text) and 48 <= text[j] <= 57:
        j += 1
    if j == i or j == len(text):
        return None  # no digits yet, or they may go on in the next block
    return text[i:j].decode()


def _hex(b):
    return "".join("%02x" % x for x in b)


def _msg(e):
    if isinstance(e, OSError) and e.args and isinstance(e.args[0], int) and len(e.args) == 1:
        return "storage error %d" % e.args[0]
    return str(e)
