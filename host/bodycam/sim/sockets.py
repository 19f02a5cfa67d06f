"""Local sockets between the simulator and the board's MicroPython process
(AF_UNIX: no ports, nothing reachable from outside)."""
import os
import socket
import threading


class UnixServer:
    """Accepts connections on `path`; runs handler(conn) in a thread each."""

    def __init__(self, path, handler, name):
        self.path = path
        self.handler = handler
        self.name = name
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self._closed = False
        threading.Thread(target=self._accept, name="vboard-" + name, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="vboard-%s-conn" % self.name,
                             daemon=True).start()

    def _serve(self, conn):
        try:
            self.handler(conn)
        except OSError:
            pass  # the board's process went away (reset, power cut)
        finally:
            conn.close()

    def close(self):
        self._closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
