# Test kit for the serial dock on the unix port: a memory link in place of
# the UART, a link clock the test moves by hand, and a minimal host (send a
# command, tick the loop, collect frames) so dock tests run in synthetic
# time inside one MicroPython process.
import binascii
import hashlib
import json

import dock
import dockwire as W


class MemLink:
    def __init__(self, baud=115200):
        self.inp = bytearray()
        self.pos = 0
        self.out = bytearray()
        self.keep = True  # False: count bytes only (no allocation, for heap_lock tests)
        self.nout = 0
        self.baud = baud
        self.bauds = []

    def feed(self, data):
        if self.pos == len(self.inp):
            self.inp = bytearray()
            self.pos = 0
        self.inp += data

    def any(self):
        return self.pos < len(self.inp)

    def readinto(self, b1):
        b1[0] = self.inp[self.pos]
        self.pos += 1
        return 1

    def write(self, buf, n, off=0):
        self.nout += n
        if self.keep:
            self.out += memoryview(buf)[off:off + n]

    def drain(self):
        pass

    def wait(self, ms, out=False):
        pass

    def wait_room(self, want, ms):
        pass

    def writable(self):
        return True

    def set_baud(self, b):
        self.bauds.append(b)
        self.baud = b

    def take(self):
        o = bytes(self.out)
        self.out = bytearray()
        return o


class FakeMs:
    def __init__(self, t=0):
        self.t = t

    def __call__(self):
        return self.t


class Audit:
    def __init__(self):
        self.entries = []

    def record(self, kind, data=None):
        self.entries.append([kind, data])
        return True


def attach(kit, baud=115200):
    """Put a dock on kit's App with a memory link; returns the dock."""
    link = MemLink(baud)
    ms = FakeMs(0)
    d = dock.Dock(kit.app, link, ms)
    kit.app.services.append(d)
    return d


def frames(data):
    """Good frames in data, as (type, id, offset, payload); skips garbage."""
    out = []
    i = 0
    while True:
        i = data.find(W.MAGIC, i)
        if i < 0 or len(data) - i < W.HEADER:
            return out
        h = W.parse_header(data[i:i + W.HEADER])
        if h is None:
            i += 1
            continue
        typ, cid, n, off = h
        end = i + W.HEADER + n + W.TRAILER
        if end > len(data):
            return out
        payload = data[i + W.HEADER:i + W.HEADER + n]
        crc = int.from_bytes(data[end - 4:end], "little")
        if binascii.crc32(payload) & 0xFFFFFFFF != crc:
            i += 1
            continue
        out.append((typ, cid, off, payload))
        i = end


class Host:
    """Drives a dock the way bodycam pull does, over the memory link."""

    def __init__(self, kit, d):
        self.kit = kit
        self.d = d
        self.link = d.link
        self.cid = 0

    def next_id(self):
        self.cid = self.cid % 255 + 1
        return self.cid

    def send(self, line):
        self.link.feed(line)

    def tick(self, n=1):
        for _ in range(n):
            self.kit.run_for(self.kit.app.interval_ms)

    def call(self, verb, *args, ticks=200):
        """Send a command, tick until its reply arrives; returns the reply."""
        cid = self.next_id()
        self.send(W.command(cid, verb, *args))
        got = []
        for _ in range(ticks):
            self.tick()
            for f in frames(self.link.take()):
                if f[0] == W.REPLY:
                    got.append((f[1], json.loads(f[3])))
            for c, r in got:
                if c == cid:
                    return r
        raise AssertionError("no reply to %s" % verb)

    def read(self, name, size, offset=0, chunk=1024, window=8192, lose=None):
        """Read a whole file with acks; returns (bytes read, SHA-256 hex) or
        the error reply. lose(offset) -> True drops that frame (once): the
        host asks for it alone (selective resend) and keeps what follows."""
        cid = self.next_id()
        self.send(W.command(cid, W.READ, name, offset, chunk, window, size))
        h = hashlib.sha256()
        n = 0
        expect = high = offset
        held = {}
        lost = set()
        for _ in range(100000):
            self.tick()
            for typ, c, off, payload in frames(self.link.take()):
                if c != cid:
                    continue
                if typ == W.REPLY:
                    return json.loads(payload)
                if typ == W.DATA:
                    if lose is not None and off not in lost and lose(off):
                        lost.add(off)
                        continue
                    if off > high:
                        self.send(W.command(cid, W.RESEND, high, off - high, chunk, window))
                    high = max(high, off + len(payload))
                    if off >= expect:
                        held[off] = payload
                elif typ == W.END and high < size:
                    self.send(W.command(cid, W.RESEND, high, size - high, chunk, window))
                    high = size
            while expect in held:
                p = held.pop(expect)
                h.update(p)
                n += len(p)
                expect += len(p)
            if expect == size:
                self.send(W.command(cid, W.ACK, expect, high, chunk, window))
                self.tick()
                return n, binascii.hexlify(h.digest()).decode()
            self.send(W.command(cid, W.ACK, expect, high, chunk, window))
        raise AssertionError("read did not finish")


def sha_file(path, offset=0):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        while True:
            b = f.read(4096)
            if not b:
                break
            h.update(b)
    return binascii.hexlify(h.digest()).decode()
