# The dock's input: command lines (dockwire.py) out of whatever the link
# delivers, read without blocking the capture loop. A '#' starts a line even
# in the middle of noise; a line ends at '\n' or '\r'. Acks and resend
# requests have a fixed width and are checked in place (digits, CRC) without
# allocating; any other line is handed over as bytes.
#
# Ctrl-C: the capture loop runs with micropython.kbd_intr(-1), so a 0x03
# reaches us as data. A lone 0x03 (line noise, garbage during a speed step,
# a terminal) is counted and ignored; "\r\x03" (mpremote's enter_raw_repl,
# pyboard.py) or "\x03\x03" is a deliberate interrupt: reading stops at once
# (the REPL gets what follows) and on_interrupt() tells the loop.
from binascii import crc32

import dockwire as W

RX_PER_POLL = 512  # command bytes handled per call at most

_FAST = (W.ACK_BYTE, W.RESEND_BYTE)


class CommandReader:
    def __init__(self, on_line, on_ack, on_interrupt, stats):
        """on_line(buf, n): a whole line (buf[:n], '#' first), or
        on_line(None, 0) for one longer than dockwire.MAX_LINE;
        on_ack(cid, verb byte, a, b, chunk, window): a fixed-width ack or
        resend request whose checksum holds; on_interrupt(): a deliberate
        Ctrl-C."""
        self.on_line = on_line
        self.on_ack = on_ack
        self.on_interrupt = on_interrupt
        self.stats = stats
        self.b1 = bytearray(1)
        self.lbuf = bytearray(W.MAX_LINE)
        self.ln = 0
        self.over = False
        self.prev = 0  # the byte before, to tell "\r\x03" from a stray 0x03
        self.ack_body = memoryview(self.lbuf)[1:W.ACK_LEN - 9]  # the CRC'd part of a K/N line

    def read(self, link):
        """Handle the command bytes that have arrived (up to RX_PER_POLL)."""
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
                    self.on_interrupt()  # deliberate: leave the rest for the REPL
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
            self.on_line(None, 0)
            return
        buf = self.lbuf
        if self.ln == W.ACK_LEN and buf[5] in _FAST and self._fast_ack():
            return
        self.on_line(buf, self.ln)

    def _fast_ack(self):
        # "#iii K aaaaaaaaaa bbbbbbbbbb cccc wwwwww cccccccc", checked in
        # place: no allocation. False: let the slow path say what is wrong.
        buf = self.lbuf
        ends = W.ACK_FIELD_ENDS
        for e in ends:
            if buf[e] != 32:
                return False
        cid = _digits(buf, 1, 4)
        a = _digits(buf, 7, ends[2])
        b = _digits(buf, ends[2] + 1, ends[3])
        chunk = _digits(buf, ends[3] + 1, ends[4])
        window = _digits(buf, ends[4] + 1, ends[5])
        at = ends[5] + 1
        hi = _hex16(buf, at)
        lo = _hex16(buf, at + 4)
        if cid < 0 or a < 0 or b < 0 or chunk < 0 or window < 0 or hi < 0 or lo < 0:
            return False
        c = crc32(self.ack_body)
        if (c >> 16) & 0xFFFF != hi or c & 0xFFFF != lo:
            return False
        self.on_ack(cid, buf[5], a, b, chunk, window)
        return True


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
