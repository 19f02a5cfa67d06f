# Wire format of the serial dock, shared by the firmware's dock service and
# the host's `bodycam pull` (the host loads this file by path, like
# settings.py), so both ends build and check frames with the same code.
#
# Host -> device: short printable command lines
#     #<id> <verb>[ <arg>...] <crc>\n
# id is 3 decimal digits (001-255; 000 is never sent), crc is the CRC-32 of
# the text between '#' and the last space as 8 lower-case hex digits. Only
# printable ASCII: never 0x03, so Ctrl-C still interrupts MicroPython
# (mpremote depends on it), and a line that reaches a REPL is a comment
# (the prompt just comes back). Acks (K) and resend requests (N) have a
# fixed width, so the device checks them without allocating:
#     K EXPECT HIGH CHUNK WINDOW   the host holds every byte before EXPECT,
#                                  and has seen frames up to HIGH
#     N OFFSET LENGTH CHUNK WINDOW send these bytes again (a gap), then go on
# The window counts from HIGH, so frames after a lost one keep coming while
# the host asks for the gap alone (selective resend). Both carry the data
# frame size and window the host wants from now on: the host sees the
# damage on the line, so it decides the size; the dock honours it within
# its limits (CHUNKS, MAX_WINDOW).
#
# Protocol 3 (selective resend) reads with F. The reads of older hosts (R:
# protocol 1, S: protocol 2, whose go-back-N acks had other widths) are
# refused with a message saying to update the host tool, so an old host and
# a new dock never half-understand each other.
#
# Device -> host: binary frames with no escaping, so the device copies file
# bytes from storage to the UART untouched:
#     magic BC DC | type | id | length (LE16) | offset (LE32) | hcrc (LE16)
#     payload (length bytes) | CRC-32 of the payload (LE32)
# hcrc is the low 16 bits of the CRC-32 of the first 10 header bytes. A
# reader finds frames among boot messages, REPL prompts and line noise by
# the magic and hcrc, and drops any frame whose payload CRC fails.
import struct
from binascii import crc32

PROTOCOL = 3
MAGIC = b"\xbc\xdc"
HEADER = 12
TRAILER = 4
OVERHEAD = HEADER + TRAILER
MAX_PAYLOAD = 4096
# Data frame sizes the dock sends: powers of two, so it keeps one fixed view
# per size (no allocation when the host changes the size mid-read).
CHUNKS = (64, 128, 256, 512, 1024, 2048, 4096)
MIN_CHUNK = CHUNKS[0]
MAX_LINE = 200  # longest command line, '#' to '\n' exclusive (ESP32 stdin buffer ~260 B)

DATA = 0x44  # 'D': payload = file bytes at offset
END = 0x45  # 'E': the file ends at offset (no payload)
REPLY = 0x4A  # 'J': payload = JSON reply to command id
TYPES = (DATA, END, REPLY)

READ = "F"  # F NAME OFFSET CHUNK WINDOW SIZE: stream a file (protocol 3)
OLD_READS = {"R": 1, "S": 2}  # older protocols' reads: refused with a clear message
ACK = "K"  # K <expect> <high> <chunk> <window>
RESEND = "N"  # N <offset> <length> <chunk> <window>
ACK_BYTE = 0x4B
RESEND_BYTE = 0x4E
ACK_WIDTHS = (10, 10, 4, 6)  # digits of each argument
ACK_LEN = 49  # "#iii K aaaaaaaaaa bbbbbbbbbb cccc wwwwww cccccccc" without the newline
ACK_FIELD_ENDS = (4, 6, 17, 28, 33, 40)  # where the spaces are in it

NAME_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"


def put_header(buf, typ, cid, n, off):
    """Write a frame header into buf[0:12]."""
    buf[0] = 0xBC
    buf[1] = 0xDC
    struct.pack_into("<BBHI", buf, 2, typ, cid, n, off)
    struct.pack_into("<H", buf, 10, crc32(memoryview(buf)[0:10]) & 0xFFFF)


def frame(typ, cid, off, payload=b""):
    """One whole frame as bytes (replies and tests; the dock streams data
    frames from a preallocated buffer instead)."""
    n = len(payload)
    if n > MAX_PAYLOAD:
        raise ValueError("payload of %d bytes exceeds %d" % (n, MAX_PAYLOAD))
    out = bytearray(HEADER + n + TRAILER)
    put_header(out, typ, cid, n, off)
    out[HEADER:HEADER + n] = payload
    struct.pack_into("<I", out, HEADER + n, crc32(payload) & 0xFFFFFFFF)
    return bytes(out)


def parse_header(h):
    """(type, id, length, offset) of a 12-byte header, or None when it is
    not a valid header (wrong magic or hcrc, unknown type, too long)."""
    if h[0] != 0xBC or h[1] != 0xDC:
        return None
    typ, cid, n, off, hc = struct.unpack_from("<BBHIH", h, 2)
    if hc != crc32(bytes(h[0:10])) & 0xFFFF or typ not in TYPES or n > MAX_PAYLOAD:
        return None
    return typ, cid, n, off


def command(cid, verb, *args):
    """A command line as bytes, e.g. command(7, "R", "BC000001.AVI", 0)."""
    if not 1 <= cid <= 255:
        raise ValueError("command id must be 1-255")
    body = "%03d %s" % (cid, verb)
    for i, a in enumerate(args):
        if verb in (ACK, RESEND):
            body += " %0*d" % (ACK_WIDTHS[i], a)
        else:
            body += " " + str(a)
    line = "#%s %08x\n" % (body, crc32(body.encode()) & 0xFFFFFFFF)
    if len(line) - 1 > MAX_LINE:
        raise ValueError("command too long")
    return line.encode()


def parse_command(line):
    """line: bytes from '#' to before the newline. Returns (id, verb, args)
    with args as strings, or raises ValueError with the reason."""
    if len(line) > MAX_LINE:
        raise ValueError("command too long")
    if not line or line[0] != 0x23:
        raise ValueError("command must start with '#'")
    sp = len(line) - 1
    while sp > 0 and line[sp] != 0x20:
        sp -= 1
    if sp < 1 or len(line) - sp - 1 != 8:
        raise ValueError("command has no checksum")
    for c in line[sp + 1:]:
        if not (48 <= c <= 57 or 97 <= c <= 102):  # lower-case hex only
            raise ValueError("command checksum is not lower-case hex")
    want = int(bytes(line[sp + 1:]).decode(), 16)
    body = bytes(line[1:sp])
    if crc32(body) & 0xFFFFFFFF != want:
        raise ValueError("bad command checksum")
    try:
        parts = body.decode().split()
    except UnicodeError:
        raise ValueError("command is not text")
    if len(parts) < 2 or len(parts[0]) != 3 or not parts[0].isdigit():
        raise ValueError("command needs an id and a verb")
    cid = int(parts[0])
    if not 1 <= cid <= 255:
        raise ValueError("command id must be 1-255")
    return cid, parts[1], parts[2:]


def valid_name(name):
    """Clip file names are short and upper case (BC000001.AVI, BC000001.JSON,
    AUDIT.LOG): no paths, ever."""
    if not isinstance(name, str) or name.count(".") != 1:
        return False
    stem, ext = name.split(".")
    if not 1 <= len(stem) <= 8 or not 1 <= len(ext) <= 4:
        return False
    for c in stem + ext:
        if c not in NAME_CHARS:
            return False
    return True
