"""Reading a board's serial output in tests (pyserial ports, real or
virtual)."""
import time


def read_until(port, marker, timeout=10):
    """Read until `marker` has come, or fail the test saying what came."""
    data = b""
    end = time.monotonic() + timeout
    while marker not in data and time.monotonic() < end:
        data += port.read(max(1, port.in_waiting))
    assert marker in data, "no %r from the board; got %r" % (marker, data[-500:])
    return data


def repl(url, timeout=10):
    """A pyserial connection at the REPL: main.py interrupted with Ctrl-C
    (mpremote's "\\r\\x03"), what it printed meanwhile discarded."""
    import serial
    p = serial.serial_for_url(url, baudrate=115200, timeout=0.1)
    p.write(b"\r\x03")
    read_until(p, b">>> ", timeout)
    time.sleep(0.2)
    p.reset_input_buffer()
    return p
