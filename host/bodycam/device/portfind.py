"""Finding the camera's serial port without --port, as mpremote's
`connect auto` and esptool do: the USB serial adapters pyserial lists
(serial.tools.list_ports.comports()) filtered by the USB ids that ESP32
camera boards and their programmers use. Also `--baud auto`: the fastest
rate the adapter is known to carry, as the ESP32's UART really gets it.

    port = choose_port(args.port)     # given: used as is; else found, named, or a clear error
    baud = auto_baud(port)            # None when nothing faster is known
"""
import json
import os
import sys
import tempfile
from types import SimpleNamespace

# USB (vendor, product) -> what it is. product None: every product of that vendor.
ADAPTERS = {
    (0x1A86, 0x7523): "CH340",  # WCH CH340/CH341 (ESP32-CAM-MB, most clones)
    (0x10C4, 0xEA60): "CP210x",  # Silicon Labs CP2102/CP2102N/CP2104
    (0x0403, None): "FTDI",  # FT232R, FT2232H, FT231X ...
    (0x303A, 0x1001): "ESP32-S3 USB-Serial/JTAG",  # the chip's own USB port (XIAO ESP32S3, S3-EYE)
}

# Fastest rate each adapter is known to carry (the table; the
# adapters' data sheets: CH340 2 Mbaud, CP2102 921600 as its highest
# standard rate (1 Mbaud max), CP2102N 3 Mbaud, FT232R 3 Mbaud).
FASTEST = {"CH340": 2000000, "CP2102": 921600, "CP2102N": 3000000, "CP2104": 2000000, "FTDI": 3000000}

# The ESP32's UART clock: APB, 80 MHz. The divider is integer + 4-bit
# fraction: clk_div = (80 MHz << 4) // baud, div_int = clk_div >> 4,
# div_frag = clk_div & 0xf (ESP-IDF components/driver/uart.c
# uart_set_baudrate in v3.x, hal/esp32/include/hal/uart_ll.h
# uart_ll_set_baudrate since v4.x).
ESP32_UART_CLOCK = 80000000
MAX_RATE_ERROR = 0.02  # both ends' error together must stay well inside a bit's sampling margin


class NoPortError(ValueError):
    """No port could be chosen; the message says what to check."""


def esp32_uart_rate(baud, clock=ESP32_UART_CLOCK):
    """The rate the ESP32's UART really runs at when asked for `baud`."""
    div16 = (clock << 4) // baud
    if div16 < 16:
        raise ValueError("%d baud is beyond the ESP32 UART (at most %d)" % (baud, clock))
    return clock * 16.0 / div16


def adapter_kind(info):
    """'CH340', 'CP210x', 'FTDI', 'ESP32-S3 USB-Serial/JTAG', or None for a
    port that is not a known USB serial adapter."""
    vid, pid = getattr(info, "vid", None), getattr(info, "pid", None)
    if vid is None:
        return None
    return ADAPTERS.get((vid, pid)) or ADAPTERS.get((vid, None))


def adapters(comports=None):
    """The known USB serial adapters plugged in now: [ListPortInfo], by device name."""
    if comports is None:
        from serial.tools import list_ports
        comports = list_ports.comports()
    return sorted((p for p in comports if adapter_kind(p)), key=lambda p: p.device)


def describe(info):
    kind = adapter_kind(info) or "serial port"
    bits = [kind]
    if getattr(info, "vid", None) is not None:
        bits.append("%04x:%04x" % (info.vid, info.pid or 0))
    prod = getattr(info, "product", None) or getattr(info, "description", None)
    if prod and prod not in ("n/a", info.device):
        bits.append(prod)
    if getattr(info, "serial_number", None):
        bits.append("serial %s" % info.serial_number)
    return "%s (%s)" % (info.device, ", ".join(bits))


NONE_FOUND = (
    "no camera found: no USB serial adapter (CH340, CP210x, FTDI or ESP32-S3 USB) is plugged in. Check the "
    "USB cable (a charge-only cable carries no data) and the adapter's driver (Linux: `dmesg` should show "
    "ttyUSB0/ttyACM0 when you plug it in, and you need to be in the dialout group; Windows/macOS: install "
    "the CH340 or CP210x driver), or pass --port. No hardware? `bodycam sim` runs a virtual board and "
    "prints its rfc2217:// port.")


def choose_port(given=None, comports=None, say=None, ask=None):
    """The port to use: `given` if set; else the one adapter plugged in
    (named through say); with several, they are listed and, when `ask`
    is given (e.g. input on a terminal), the user picks one; otherwise
    NoPortError says what to do."""
    if given:
        return given
    say = say or (lambda msg: print(msg, file=sys.stderr))
    found = adapters(comports)
    if not found:
        raise NoPortError(NONE_FOUND)
    if len(found) == 1:
        say("using %s, the only USB serial adapter plugged in" % describe(found[0]))
        return found[0].device
    listing = "\n".join("  %d. %s" % (i, describe(p)) for i, p in enumerate(found, 1))
    if ask is None:
        raise NoPortError("%d USB serial adapters are plugged in; choose one with --port:\n%s"
                          % (len(found), listing))
    say("%d USB serial adapters are plugged in:\n%s" % (len(found), listing))
    while True:
        answer = (ask("which one? [1-%d, or a device name] " % len(found)) or "").strip()
        for p in found:
            if answer == p.device:
                return p.device
        if answer.isdigit() and 1 <= int(answer) <= len(found):
            return found[int(answer) - 1].device
        if not answer:
            raise NoPortError("no port chosen; pass --port")
        say("%r is not one of them" % answer)


def terminal_ask():
    """`ask` for choose_port: input() when stdin is a terminal, else None."""
    return input if sys.stdin is not None and sys.stdin.isatty() else None


def _cp210x_model(info):
    text = " ".join(str(x) for x in (getattr(info, "product", None), getattr(info, "description", None)) if x)
    for model in ("CP2102N", "CP2104", "CP2102"):
        if model in text:
            return model
    return "CP2102"  # the slowest of the family when the name doesn't say


def auto_baud(port, comports=None):
    """`--baud auto`: the fastest rate the adapter on `port` is known to
    carry and the ESP32's UART can make within MAX_RATE_ERROR, or None
    when nothing is known (rfc2217:// and other URLs, unknown adapters,
    the S3's own USB port where the rate is not on any wire). The pull
    still falls back by itself if the line cannot carry it."""
    if "://" in port:
        return None
    infos = comports if comports is not None else adapters()
    info = next((p for p in infos if p.device == port), None)
    if info is None and comports is None:
        info = virtual_adapter(port)
    kind = adapter_kind(info) if info is not None else None
    if kind is None or kind.startswith("ESP32-S3"):
        return None
    model = _cp210x_model(info) if kind == "CP210x" else kind
    baud = FASTEST[model]
    if abs(esp32_uart_rate(baud) - baud) / baud > MAX_RATE_ERROR:
        return None
    return baud


# --- virtual boards' ttys -------------------------------------------------
# `bodycam sim` offers its UART as a kernel tty (/dev/pts/N). A pty carries
# no USB ids, so the simulator leaves a note naming the adapter it stands
# for (the ESP32-CAM-MB's CH340), looked up by exact path only: a virtual
# board is never listed as a plugged adapter, but `--baud auto` on its tty
# picks what it would for the real one.

def _virtual_dir():
    base = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(tempfile.gettempdir(), "bodycam-%d" % os.getuid())
    return os.path.join(base, "bodycam", "virtual-ttys")


def _note_path(device):
    return os.path.join(_virtual_dir(), os.path.basename(device) + ".json")


def advertise_virtual(device, kind):
    """Note that `device` stands for an adapter of this kind (by this
    process). Returns the note's path (for withdraw_virtual)."""
    vid, pid = next((v, p) for (v, p), k in ADAPTERS.items() if k == kind)
    path = _note_path(device)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"device": device, "kind": kind, "vid": vid, "pid": pid, "owner": os.getpid()}, f)
    except OSError:
        return None
    return path


def withdraw_virtual(note):
    if note:
        try:
            os.remove(note)
        except OSError:
            pass


def virtual_adapter(device):
    """A ListPortInfo-like description of a virtual board's tty, or None
    (no note, or the simulator that wrote it is gone)."""
    try:
        with open(_note_path(device)) as f:
            d = json.load(f)
        os.kill(d["owner"], 0)
    except (OSError, ValueError, KeyError):
        return None
    if d.get("device") != device:
        return None
    return SimpleNamespace(device=device, vid=d["vid"], pid=d["pid"], serial_number=None,
                           product="virtual ESP32-CAM-MB (bodycam sim)", description=d["kind"])
