"""The board's control socket: the simulator's side. At boot the firmware
says hello and gets the board time, mode and wiring; then pin edges go to
it and LED, RTC, reset and pin-done messages come back (JSON lines)."""
import json
import threading


class Control:
    def __init__(self, on_hello, on_message):
        self.on_hello = on_hello  # () -> dict: the hello reply
        self.on_message = on_message  # (dict) -> None
        self._conn = None
        self._lock = threading.Lock()

    def serve(self, conn):
        f = conn.makefile("rb")
        line = f.readline()
        if not line:
            return
        hello = json.loads(line)
        if hello.get("op") != "hello":
            return
        with self._lock:
            self._conn = conn
            conn.sendall(json.dumps(self.on_hello()).encode() + b"\n")
        try:
            for line in f:
                self.on_message(json.loads(line))
        finally:
            with self._lock:
                if self._conn is conn:
                    self._conn = None

    def send(self, msg):
        """Send to the running firmware; False when none is listening."""
        with self._lock:
            if self._conn is None:
                return False
            try:
                self._conn.sendall(json.dumps(msg).encode() + b"\n")
                return True
            except OSError:
                return False

    @property
    def connected(self):
        return self._conn is not None

    def drop(self):
        with self._lock:
            self._conn = None
