"""The virtual board's serial port on the network: an RFC 2217 server
(pyserial's PortManager does the Telnet/RFC 2217 side), so esptool, mpremote
and pyserial open it as rfc2217://127.0.0.1:PORT. Baud rate and the DTR/RTS
lines from the client go to the board; data is bridged to its UART.

One client at a time, like a serial port opened exclusively: while one is
connected the port stops listening, so others get "connection refused"
(pyserial: "Could not open port ...: [Errno 111] Connection refused";
mpremote: "failed to access ... (it may be in use by another program)")."""
import socket
import threading
import time

import serial
from serial.rfc2217 import PortManager

from bodycam.sim.uart import ADAPTER, ADAPTER_MAX_BAUD


class AdapterLines:
    """What PortManager drives as its "serial port": the host's USB-UART
    chip (a CH340 on the ESP32-CAM-MB). Settings and control lines are
    forwarded to the board."""

    def __init__(self, board_side):
        self._b = board_side
        self.bytesize = serial.EIGHTBITS
        self.parity = serial.PARITY_NONE
        self.stopbits = serial.STOPBITS_ONE
        self.xonxoff = False
        self.rtscts = False
        self.break_condition = False
        self._dtr = False
        self._rts = False
        # The MB board does not wire CTS/DSR/RI/CD back.
        self.cts = self.dsr = self.ri = self.cd = False

    @property
    def baudrate(self):
        return self._b.uart.host_baud

    @baudrate.setter
    def baudrate(self, v):
        # the chip refuses what it cannot make: the client hears the old
        # rate back (pyserial: "Remote does not accept parameter change")
        if not 50 <= v <= ADAPTER_MAX_BAUD:
            raise ValueError("the %s carries 50 to %d baud, not %d" % (ADAPTER, ADAPTER_MAX_BAUD, v))
        self._b.uart.host_baud = v

    @property
    def dtr(self):
        return self._dtr

    @dtr.setter
    def dtr(self, v):
        self._dtr = bool(v)
        self._b.lines(self._dtr, self._rts)

    @property
    def rts(self):
        return self._rts

    @rts.setter
    def rts(self, v):
        self._rts = bool(v)
        self._b.lines(self._dtr, self._rts)

    def reset_input_buffer(self):
        pass  # bytes from the board are not buffered here beyond the wire

    def reset_output_buffer(self):
        self._b.uart.purge_from_host()


class _Conn:
    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()

    def write(self, data):
        with self.lock:
            self.sock.sendall(data)


class PortServer:
    def __init__(self, board_side, host="127.0.0.1", port=0, log=None):
        """board_side: has .uart (BoardUart) and .lines(dtr, rts)."""
        self.board_side = board_side
        self.host = host
        self.log = log or (lambda msg: None)
        self.client = None  # address of the connected client
        self._conn = None
        self._closed = False
        self._plugged = threading.Event()  # the USB cable: while out, there is no port
        self._plugged.set()
        self._lock = threading.Lock()
        self._listener = self._listen(port)
        self.port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name="vboard-rfc2217", daemon=True)
        self._thread.start()

    @property
    def url(self):
        return "rfc2217://%s:%d" % (self.host, self.port)

    def _listen(self, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((self.host, port))
        except OSError as e:
            s.close()
            raise OSError(e.errno, "cannot listen on %s:%d for the virtual board's serial port: %s"
                          % (self.host, port, e.strerror))
        s.listen(1)
        return s

    def _run(self):
        while not self._closed:
            self._plugged.wait()
            self._ensure_listener()
            lst = self._listener
            if lst is None:
                continue
            try:
                conn, addr = lst.accept()
            except OSError:
                continue  # closed: unplugged, or shutting down
            # Busy from now on: stop listening, so a second client is refused.
            self._drop_listener()
            if self._closed or not self._plugged.is_set():
                conn.close()
                continue
            self.client = addr
            self.log("client connected from %s:%d (others are refused until it disconnects)" % addr)
            try:
                self._serve(conn)
            finally:
                self.client = None
                self._conn = None
                conn.close()
                self.log("client disconnected")

    def _ensure_listener(self):
        with self._lock:
            while self._listener is None and self._plugged.is_set() and not self._closed:
                try:
                    self._listener = self._listen(self.port)
                except OSError as e:
                    self.log("%s; retrying" % e)
                    time.sleep(0.2)

    def _drop_listener(self):
        with self._lock:
            lst, self._listener = self._listener, None
        if lst is not None:
            try:
                lst.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            lst.close()

    def _drop_client(self):
        conn = self._conn
        if conn is not None:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def unplug(self):
        """The USB cable is pulled: the client's connection drops at once and
        the port is gone (connections refused) until plug_in()."""
        self._plugged.clear()
        self._drop_listener()
        self._drop_client()

    def plug_in(self):
        self._plugged.set()
        self._ensure_listener()

    @property
    def plugged(self):
        return self._plugged.is_set()

    def _serve(self, conn):
        self._conn = conn
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = _Conn(conn)
        lines = AdapterLines(self.board_side)
        pm = PortManager(lines, c)
        uart = self.board_side.uart

        def to_client(data):
            c.write(b"".join(pm.escape(data)))

        uart.to_host = to_client
        try:
            while not self._closed:
                try:
                    data = conn.recv(4096)
                except OSError:
                    break
                if not data:
                    break
                out = b"".join(pm.filter(data))
                if out:
                    uart.from_host(out)
        finally:
            uart.to_host = None
            # Closing the port drops DTR and RTS (HUPCL), as a real adapter does.
            self.board_side.lines(False, False)

    def close(self):
        self._closed = True
        self._plugged.set()  # let the thread see it is closed
        self._drop_listener()
        self._drop_client()
        self._thread.join(2)
