# The unix port's serial line: a pty (the virtual board's UART, the offload
# test rig). Its termios speed is the "divider": the simulator reads it from
# the master side and paces (or garbles) the line by it. Board-side platform
# code, imported by name like an ESP32 port's machine module.

# Speeds the unix port's termios knows (the virtual board follows them).
SPEEDS = (9600, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000)


def current_baud(default):
    try:
        import termios
        speed = termios.tcgetattr(0)[5]
    except (ImportError, OSError, AttributeError):
        return default
    for b in SPEEDS:
        if getattr(termios, "B%d" % b, None) == speed:
            return b
    return default


def set_pty_baud(baud):
    """Set the pty's speed. Raises ValueError if the line cannot run at
    that speed."""
    try:
        import termios
    except ImportError:
        raise ValueError("this MicroPython has no termios: cannot change the line speed")
    code = getattr(termios, "B%d" % baud, None)
    if code is None:
        raise ValueError("the virtual board's line cannot run at %d baud" % baud)
    try:
        a = termios.tcgetattr(0)
        a[4] = code
        a[5] = code
        termios.tcsetattr(0, termios.TCSANOW, a)
    except OSError as e:
        raise ValueError("stdin is not a serial line (%s)" % e)
