"""The virtual board's serial port as a kernel tty: a pty whose other end
(/dev/pts/N) host tools open as a plain serial device, as they open a USB
adapter's /dev/ttyUSB0. The simulator paces it at the line rate exactly as
the RFC 2217 port (uart.py); what differs is the host's cost: reading a
tty is one system call per burst, where pyserial's RFC 2217 client parses
every byte in Python. So a station draining several virtual boards this
way measures what a desk with USB adapters would see.

The host's baud rate is the tty's own setting (termios, custom rates
included: TCGETS2 on the pty master reads the settings of its slave end).
A pty has no modem lines: DTR and RTS reach no EN or IO0 (reset the board
with the simulator). The port is advertised, by its path, as the
ESP32-CAM-MB's CH340 (portfind.virtual_adapter), so `--baud auto` picks
what it would for one; it is never listed as a plugged adapter."""
import errno
import fcntl
import json
import os
import select
import struct
import termios
import threading
import time
import tty

from bodycam.device import portfind
from bodycam.sim.uart import ADAPTER

TCGETS2 = 0x802C542A  # Linux asm-generic/ioctls.h: struct termios2 (44 bytes), speeds at 36 and 40
BAUD_CHECK_S = 0.005


def host_speed(master):
    """The baud rate the host set on the pty's slave end, or None."""
    try:
        buf = fcntl.ioctl(master, TCGETS2, b"\0" * 44)
        return struct.unpack_from("I", buf, 40)[0] or None
    except OSError:
        try:
            speed = termios.tcgetattr(master)[5]
        except termios.error:
            return None
        for n in dir(termios):
            if n.startswith("B") and n[1:].isdigit() and getattr(termios, n) == speed:
                return int(n[1:])
        return None


class TtyPort:
    def __init__(self, uart, log=None):
        """uart: the board's BoardUart."""
        self.uart = uart
        self.log = log or (lambda msg: None)
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)  # the host opens it by path; with nobody there, reads say EIO
        fl = fcntl.fcntl(self.master, fcntl.F_GETFL)
        fcntl.fcntl(self.master, fcntl.F_SETFL, fl | os.O_NONBLOCK)
        self.open = False  # a host has the tty open
        self.stats = {"to_host": 0, "dropped": 0}
        self._closed = False
        self._advert = portfind.advertise_virtual(self.path, ADAPTER)
        uart.tty_out = self._send
        self._thread = threading.Thread(target=self._run, name="vboard-tty", daemon=True)
        self._thread.start()

    def _send(self, data):
        """Board to host (already paced by the UART): dropped while no host
        has the tty open or its buffer is full, as an adapter's would be."""
        if not self.open:
            return False
        try:
            n = os.write(self.master, data)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EIO):
                self.stats["dropped"] += len(data)
                return False
            raise
        self.stats["to_host"] += n
        self.stats["dropped"] += len(data) - n
        return True

    def _run(self):
        last = 0.0
        while not self._closed:
            try:
                r, _, _ = select.select([self.master], [], [], 0.02)
            except (OSError, ValueError):
                return
            t = time.monotonic()
            if not r and not self.open:
                # with no host the master reads EIO at once: quiet means open
                self.open = True
                self.log("tty %s opened" % self.path)
            if t - last >= BAUD_CHECK_S:
                last = t
                self._follow_baud()
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError as e:
                if e.errno == errno.EIO:  # nobody has the tty open
                    if self.open:
                        self.open = False
                        self.log("tty %s closed" % self.path)
                    time.sleep(0.02)
                    continue
                if e.errno == errno.EAGAIN:
                    continue
                return
            if not self.open:
                self.open = True
                self.log("tty %s opened" % self.path)
            if data:
                self.uart.from_host(data)

    def _follow_baud(self):
        b = host_speed(self.master)
        if b and self.open and b != self.uart.host_baud:
            self.uart.host_baud = b

    def close(self):
        self._closed = True
        if self.uart.tty_out == self._send:
            self.uart.tty_out = None
        self._thread.join(2)
        portfind.withdraw_virtual(self._advert)
        try:
            os.close(self.master)
        except OSError:
            pass
