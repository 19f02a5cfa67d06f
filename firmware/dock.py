# Serial dock: lets the host list, pull and delete clips over the REPL link
# while the capture loop keeps buffering. It is one of app.services: poll()
# runs once per tick, idle(due) in the time the loop would sleep before its
# next frame; both read whatever command bytes have arrived and stream file
# data until their time or the transfer window is used up.
#
# Layers, each in its own module (as mpremote's transport.py layers a
# serial link under the raw REPL under its commands):
#   dockio     the link: the REPL UART's bytes, its pacing and speed
#   dockwire   the wire format (shared with the host)
#   dockrx     command lines in (and Ctrl-C)   docktx   frames out
#   dockstream one file read, selective resend
#   dockfiles  listing, hashes, deletes        dockbaud the speed step
#   dock       this service: commands, replies, the loop's time
import json
import time

import dockwire as W
from dockbaud import SpeedStep, msg
from dockfiles import ClipFiles
from dockio import StdioLink
from docktx import FrameOut
from dockrx import CommandReader
from dockstream import MAX_WINDOW, FileStream
from recstate import STATE_NAMES
from ring import _ticks_diff
from version import VERSION

JOB_STEPS = 16  # file blocks hashed per tick at most
IDLE_ROUNDS = 2000  # bound on the idle loop's rounds (a round moves at most a FIFO's worth)
ROOM_BATCH = 64  # idle() waits until this much fits before writing again
IDLE_MARGIN_MS = 2  # idle() hands back this long before the next frame is due
CACHE_MS = 5000  # a repeated command id+checksum within this gets the cached reply


class Dock:
    def __init__(self, app, link=None, clock_ms=None):
        self.app = app
        self.hal = app.hal
        self.audit = getattr(app.hal, "audit", None)
        self.link = link if link is not None else StdioLink()
        self.ms = clock_ms or time.ticks_ms  # link time (real), for timeouts
        self.stats = {"frames": 0, "bytes": 0, "resends": 0, "resent_bytes": 0, "bad_commands": 0,
                      "errors": 0, "poll_ms_max": 0, "idle_over_ms_max": 0, "stray_ctrl_c": 0, "resizes": 0}
        self.last_error = None
        self.out = FrameOut(self.link)
        self.rx = CommandReader(self._line, self._ack, self._interrupt, self.stats)
        self.files = ClipFiles(app.hal.clips_dir, app.recorder, self.out.payload, self._log)
        self.stream = FileStream(self.out, self.stats, self.ms, self.files.read_done)
        self.speed = SpeedStep(self)
        self.job = None  # the command worked on over several ticks (list, delete)
        self.job_key = None
        self.cached = None  # (id, crc, reply frame, ms): a repeated command gets the same reply
        self.last_cmd = self.ms()

    def close(self):
        """The loop is ending (App.run): the REPL's UART back on its pins."""
        self.stream.close()
        close = getattr(self.link, "close", None)
        if close is not None:
            try:
                close()
            except Exception as e:
                self.last_error = "closing the link: %s" % e

    def use_link(self, link):
        """Talk over another link from now on (the speed step's UART, a
        test's memory link)."""
        self.link = link
        self.out.use(link)

    # --- the service ------------------------------------------------------
    def poll(self, now):
        try:
            t0 = self.hal.ticks_ms()
            self._work(now + self.app.interval_ms // 2, now + self.app.interval_ms - self.app.interval_ms // 8)
            d = _ticks_diff(self.hal.ticks_ms(), t0)
            if d > self.stats["poll_ms_max"]:
                self.stats["poll_ms_max"] = d
        except Exception as e:  # the dock must never stop the capture loop
            self._crash(e)

    def _work(self, job_limit, stream_limit):
        self.rx.read(self.link)
        t = self.ms()
        self.speed.timers(t, self.stream.f is not None or self.job is not None)
        if self.job is not None:
            self._run_job(job_limit)
        if self.stream.f is not None:
            self._stream(stream_limit, t)
        else:
            self.out.pump()

    def idle(self, due):
        """The loop's wait for its next frame (App.run calls this instead of
        sleeping through it): keep streaming and answer acks as they come,
        so the UART is busy while the loop would sleep. Returns by `due`."""
        if self.stream.f is None and self.job is None and self.out.idle():
            return
        hal = self.hal
        try:
            for _ in range(IDLE_ROUNDS):  # bounded, whatever the clock does
                limit = due - IDLE_MARGIN_MS
                left = _ticks_diff(limit, hal.ticks_ms())
                if left <= 0:
                    if -left > self.stats["idle_over_ms_max"]:
                        self.stats["idle_over_ms_max"] = -left
                    return
                self._work(limit, limit)
                if getattr(self.app, "interrupt", False):
                    return  # the loop hands over to the REPL
                wait = left if left < 20 else 20
                link = self.link
                if not self.out.idle():
                    # the UART is full: wait until a batch (UART1's ring: the
                    # frame) fits, or a byte comes
                    want = self.out.left()
                    if not getattr(link, "whole", False) and not 0 < want < ROOM_BATCH:
                        want = ROOM_BATCH
                    link.wait_room(want, wait)
                elif self.stream.f is not None or self.job is not None:
                    link.wait(wait, False)  # the window is full: wait for an ack
                else:
                    return
        except Exception as e:
            self._crash(e)

    def _stream(self, limit, t):
        """Send frames while the window allows, until ticks `limit` or the
        UART is full (a frame goes out in pieces as room comes)."""
        s = self.stream
        if s.stalled(t):
            s.close()  # host gone
            return
        hal = self.hal
        n = 0
        while self.out.pump() and s.f is not None:
            if n and _ticks_diff(limit, hal.ticks_ms()) <= 0:
                return
            if not s.next_frame():
                return  # the window is full: wait for acks
            n += 1

    def _crash(self, e):
        self.stats["errors"] += 1
        self.last_error = "%s: %s" % (type(e).__name__, e)
        self.stream.close()
        self.job = None
        try:
            self._reply(0, {"ok": False, "error": "dock failed: " + self.last_error})
        except Exception:
            pass

    # --- from dockrx ----------------------------------------------------------
    def _interrupt(self):
        self.app.interrupt = True

    def _heard(self):
        self.last_cmd = self.ms()
        self.speed.heard()

    def _ack(self, cid, kind, a, b, chunk, window):
        self._heard()
        s = self.stream
        if s.f is None or cid != s.sid:
            if kind == W.RESEND_BYTE:  # e.g. the device was reset mid-read: the host restarts it
                self._reply(cid, {"ok": False, "error": "no read in progress", "code": "noread"})
            return
        if a > s.size:
            return
        s.ack(kind, a, b, chunk, window)

    def _line(self, buf, n):
        if buf is None:
            self.stats["bad_commands"] += 1
            self._reply(0, {"ok": False, "error": "command too long (max %d bytes)" % W.MAX_LINE})
            return
        try:
            cid, verb, args = W.parse_command(bytes(buf[:n]))
        except ValueError as e:
            self.stats["bad_commands"] += 1
            self._reply(0, {"ok": False, "error": str(e)})
            return
        if verb == W.ACK or verb == W.RESEND:
            if len(args) == 4 and all(a.isdigit() for a in args):
                v = [int(a) for a in args]
                self._ack(cid, ord(verb), v[0], v[1], v[2], v[3])
            else:
                self._reply(cid, {"ok": False, "error": "usage: %s OFFSET LENGTH|HIGH CHUNK WINDOW" % verb})
            return
        self._heard()
        self._command(cid, verb, args, bytes(buf[n - 8:n]))

    # --- commands -------------------------------------------------------------
    def _command(self, cid, verb, args, crc):
        c = self.cached
        if c is not None and c[0] == cid and c[1] == crc and _ticks_diff(self.ms(), c[3]) < CACHE_MS:
            self.out.send(c[2])  # our reply was lost: same answer again
            return
        if self.job is not None and self.job_key == (cid, crc):
            return  # still working on it
        # Any other command ends what was running (the host moved on).
        self.stream.close()
        self.job = None
        h = _HANDLERS.get(verb)
        if h is None:
            self._reply(cid, {"ok": False, "error": "unknown command %r" % verb})
            return
        try:
            r = h(self, cid, args)
        except (ValueError, OSError) as e:
            self._reply(cid, {"ok": False, "error": msg(e)}, crc)
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
                r = {"ok": False, "error": msg(e)}
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
        self.out.send(fr)
        if crc is not None:
            self.cached = (cid, crc, fr, self.ms())

    # I: device info
    def cmd_info(self, cid, args):
        import os
        c = self.hal.clock
        try:
            st = os.statvfs(self.files.dir)
            free, total = st[1] * st[4], st[1] * st[2]
        except OSError:
            free = total = None
        rec = self.app.recorder
        clip = rec.clip
        link = self.link
        return {"ok": True, "protocol": W.PROTOCOL, "board": rec.info.get("board"),
                "firmware": VERSION, "state": STATE_NAMES[rec.state],
                "recording": clip.name + ".AVI" if clip is not None else None,
                "free_bytes": free, "total_bytes": total,
                "clock": {"set": c.unix_ms() is not None, "utc": c.utc(), "unix_ms": c.unix_ms(),
                          "ticks_ms": self.hal.ticks_ms()},
                "baud": link.baud, "boot_baud": self.speed.boot_baud, "tick_ms": self.app.interval_ms,
                "uart": getattr(link, "kind", "repl"),
                "max_chunk": W.MAX_PAYLOAD, "chunks": list(W.CHUNKS), "max_window": MAX_WINDOW,
                "clips_dir": self.files.dir,
                "frames_captured": self.app.ring.next_seq, "capture_errors": self.app.capture_errors,
                "dock": self.stats, "last_error": self.last_error,
                "tx_tick_waits": getattr(getattr(link, "out", None), "tick_waits", None),
                "tx_ring_waits": getattr(getattr(getattr(link, "out", None), "u", None), "ring_waits", None),
                "health": self.app.health() if hasattr(self.app, "health") else None}

    # P: ping (also confirms a new baud)
    def cmd_ping(self, cid, args):
        return {"ok": True, "protocol": W.PROTOCOL, "baud": self.link.baud}

    # L [AFTER]: list clip files (a page at a time), with sizes and SHA-256
    def cmd_list(self, cid, args):
        return self.files.list_job(args[0] if args and args[0] != "-" else "")

    # R, S: the reads of protocols 1 and 2, whose acks this dock cannot take
    def cmd_old_read(self, cid, args):
        return {"ok": False, "code": "protocol", "protocol": W.PROTOCOL,
                "error": "this camera's dock speaks protocol %d (selective resend) and no longer takes "
                         "the reads of older hosts: update bodycam on the host (pip install -U bodycam)"
                         % W.PROTOCOL}

    # F NAME OFFSET CHUNK WINDOW SIZE: stream a file from OFFSET
    def cmd_read(self, cid, args):
        if len(args) != 5:
            raise ValueError("usage: F NAME OFFSET CHUNK WINDOW SIZE")
        name = args[0]
        off, chunk, window, size = _ints(args[1:])
        if not W.MIN_CHUNK <= chunk <= W.MAX_PAYLOAD or not chunk <= window <= MAX_WINDOW:
            raise ValueError("chunk must be %d-%d and window chunk-%d bytes" % (W.MIN_CHUNK, W.MAX_PAYLOAD, MAX_WINDOW))
        f = self.files.open_for_read(name, size, off)
        self.stream.open(f, cid, name, off, size, chunk, window)
        return None

    # X NAME SHA256: delete a file, only with proof of a verified copy
    def cmd_delete(self, cid, args):
        if len(args) != 2:
            raise ValueError("usage: X NAME SHA256")
        return self.files.delete_job(args[0], args[1])

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

    # B BAUD: change the line speed (dockbaud.py)
    def cmd_baud(self, cid, args):
        b, = _ints(args)
        return self.speed.ask(b)

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
    W.READ: Dock.cmd_read,
    "X": Dock.cmd_delete,
    "T": Dock.cmd_clock,
    "B": Dock.cmd_baud,
    "H": Dock.cmd_test,
    "D": Dock.cmd_doctor,
}
for _v in W.OLD_READS:
    _HANDLERS[_v] = Dock.cmd_old_read


def _ints(args):
    out = []
    for a in args:
        if not a.isdigit():
            raise ValueError("%r is not a whole number" % a)
        out.append(int(a))
    return out
