"""The dock's wire format (firmware/dockwire.py) and the host's frame reader:
commands never carry Ctrl-C, frames survive garbage and damage, and the
device (MicroPython) and the host (CPython) build the very same bytes."""
import json
import random
import struct

import pytest

from bodycam.offload.wire import W, FrameReader


def reader_over(data, piece=None):
    """A FrameReader fed from data, `piece` bytes per read (None: all)."""
    chunks = [data] if piece is None else [data[i:i + piece] for i in range(0, len(data), piece)]

    def read(n):
        return chunks.pop(0) if chunks else b""

    return FrameReader(read)


def all_frames(r):
    out = []
    while True:
        f = r.next(0)
        if f is None:
            return out
        out.append(f)


def test_commands_round_trip_and_never_contain_ctrl_c():
    rng = random.Random(3)
    for i in range(2000):
        cid = rng.randrange(1, 256)
        off = rng.randrange(0, 1 << 32)
        for line in (W.command(cid, "K", off, off, 4096, 131072), W.command(cid, "N", off, 4096, 64, 64),
                     W.command(cid, W.READ, "BC%06d.AVI" % rng.randrange(10 ** 6), off, 4096, 65536, off + 7),
                     W.command(cid, "X", "BC000001.JSON", "%064x" % rng.getrandbits(256))):
            assert 0x03 not in line and all(32 <= b < 127 for b in line[:-1]) and line.endswith(b"\n")
            assert len(line) - 1 <= W.MAX_LINE
            got = W.parse_command(line[:-1])
            assert got[0] == cid and got[1] == line.split()[1].decode()
    # acks have the fixed width the dock checks without allocating
    for verb in (W.ACK, W.RESEND):
        line = W.command(255, verb, 4294967295, 4294967295, 4096, 131072)
        assert len(line) - 1 == W.ACK_LEN
        assert [line[i] for i in W.ACK_FIELD_ENDS] == [32] * len(W.ACK_FIELD_ENDS)


@pytest.mark.parametrize("bad, why", [
    (b"#001 P 00000000", "bad command checksum"),
    (b"#001 P", "no checksum"),
    (b"#001 P zzzzzzzz", "not lower-case hex"),
    (b"#001 P 0000000A", "not lower-case hex"),
    (b"001 P 12345678", "start with '#'"),
    (b"#" + b"x" * 250, "too long"),
])
def test_bad_commands_are_refused_with_a_reason(bad, why):
    with pytest.raises(ValueError, match=why):
        W.parse_command(bad)


def test_a_damaged_command_fails_its_checksum():
    line = bytearray(W.command(9, "X", "BC000001.AVI", "ab" * 32)[:-1])
    for i in range(1, len(line)):
        for bit in (1, 0x20):
            bad = bytearray(line)
            bad[i] ^= bit
            with pytest.raises(ValueError):
                W.parse_command(bytes(bad))


def test_names_are_never_paths():
    assert W.valid_name("BC000001.AVI") and W.valid_name("BC000001.JSON") and W.valid_name("AUDIT.LOG")
    for n in ("../BC000001.AVI", "/sd/clips/BC000001.AVI", "bc000001.avi", "BC000001", "A.B.C",
              "TOOLONGNAME.AVI", "BC000001.JSONX", ".AVI", "BC 1.AVI", ""):
        assert not W.valid_name(n), n


def test_reader_finds_frames_in_garbage_split_any_way():
    rng = random.Random(5)
    frames = [W.frame(W.DATA, 7, i * 1000, bytes(rng.randrange(256) for _ in range(rng.randrange(0, 1500))))
              for i in range(20)]
    stream = b"ets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET)\r\n>>> " + W.MAGIC + b"\x00" * 3
    for f in frames:
        stream += f + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))) + W.MAGIC[:1]
    for piece in (None, 1, 7, 4096):
        got = all_frames(reader_over(stream, piece))
        assert [(f.type, f.id, f.offset, f.payload) for f in got] == \
               [(W.DATA, 7, i * 1000, fr[W.HEADER:-W.TRAILER]) for i, fr in enumerate(frames)]


def test_reader_drops_damaged_frames_and_keeps_the_rest():
    rng = random.Random(9)
    frames = [W.frame(W.DATA, 1, i, bytes([i]) * 600) for i in range(50)]
    damaged = set(rng.sample(range(50), 15))
    stream = bytearray()
    for i, f in enumerate(frames):
        f = bytearray(f)
        if i in damaged:
            # anywhere: header, length, payload or CRC; or a byte dropped
            j = rng.randrange(len(f))
            if i % 2:
                f[j] ^= 1 << rng.randrange(8)
            else:
                del f[j]
        stream += f
    r = reader_over(bytes(stream), 333)
    got = all_frames(r)
    assert [f.offset for f in got] == [i for i in range(50) if i not in damaged]
    assert all(f.payload == bytes([f.offset]) * 600 for f in got)
    assert r.skipped > 0


def test_bytes_passed_over_are_counted_as_they_go_and_a_last_magic_byte_waits_for_its_partner():
    # what the client's "no reply" message reports: how much other traffic, and its last bytes
    frame = W.frame(W.REPLY, 4, 0, b'{"ok": true}')
    junk = b"rst:0x1 (POWERON_RESET),boot:0x13\r\n" * 20
    chunks = [junk, b"", W.MAGIC[:1], b"", frame[1:], frame[:1], b""]  # b"": the port's timeout
    r = FrameReader(lambda n: chunks.pop(0) if chunks else b"")
    assert r.next(0) is None and (r.skipped, bytes(r.buf)) == (len(junk), b"")  # all of it passed over at once
    assert r.next(0) is None and (r.skipped, bytes(r.buf)) == (len(junk), W.MAGIC[:1])  # kept: a frame may follow
    f = r.next(0)
    assert (f.type, f.id, f.payload) == (W.REPLY, 4, b'{"ok": true}') and r.skipped == len(junk)
    assert r.next(0) is None and (r.skipped, bytes(r.buf)) == (len(junk), W.MAGIC[:1])
    assert bytes(r.last_garbage) == junk[-256:]


def test_noise_before_a_frame_still_arriving_is_counted_at_once():
    # a few bytes of noise, then a header not yet whole: the noise is passed
    # over (and counted) now, not when the rest of the frame comes
    frame = W.frame(W.REPLY, 9, 0, b'{"ok": true}')
    chunks = [b"\x00\xff\r" + frame[:5], b"", frame[5:], b""]
    r = FrameReader(lambda n: chunks.pop(0) if chunks else b"")
    assert r.next(0) is None and (r.skipped, bytes(r.buf)) == (3, frame[:5])
    f = r.next(0)
    assert (f.id, f.payload, r.skipped) == (9, b'{"ok": true}', 3)

def test_random_noise_yields_no_frames():
    rng = random.Random(1)
    noise = bytes(rng.randrange(256) for _ in range(200000))
    assert all_frames(reader_over(noise, 999)) == []


def test_device_and_host_build_identical_bytes(run_mpy):
    cases = [("K", 7, [123456, 123460, 64, 4096]), ("N", 255, [0, 64, 128, 8192]), ("F", 12, ["BC000001.AVI", 0, 1024, 8192, 5000]),
             ("X", 3, ["BC000002.JSON", "ab" * 32]), ("P", 1, [])]
    got = run_mpy("""
import json, binascii, dockwire as W
cases = %r
out = {"cmd": [W.command(c, v, *a).decode() for v, c, a in cases],
       "frame": binascii.hexlify(W.frame(W.REPLY, 9, 77, b'{"ok": true}')).decode(),
       "parse": [list(W.parse_command(W.command(c, v, *a)[:-1])) for v, c, a in cases]}
print(json.dumps(out))
""" % (cases,))
    assert got["cmd"] == [W.command(c, v, *a).decode() for v, c, a in cases]
    assert bytes.fromhex(got["frame"]) == W.frame(W.REPLY, 9, 77, b'{"ok": true}')
    assert got["parse"] == [list(W.parse_command(W.command(c, v, *a)[:-1])) for v, c, a in cases]
    f = all_frames(reader_over(bytes.fromhex(got["frame"])))[0]
    assert json.loads(f.payload) == {"ok": True} and f.offset == 77
    assert struct.unpack_from("<H", bytes.fromhex(got["frame"]), 2 + 2)[0] == len(b'{"ok": true}')


# The device's console shares the line (issue 22): esp32-camera prints
# "cam_hal: FB-OVF" from its own task into UART0, wherever the dock's
# frame happens to be; ESP-IDF log lines come between frames.
OVF = b"cam_hal: FB-OVF\r\n"
FAILED = b"E (123450) MPY_CAMERA: Failed to capture image\r\n"


@pytest.mark.parametrize("piece", [None, 7, 300])
def test_a_console_line_inside_a_frame_is_taken_out_not_resent(piece):
    rng = random.Random(5)
    payloads = [bytes(rng.getrandbits(8) for _ in range(n)) for n in (4096, 1024, 64)]
    frames = [W.frame(W.DATA, 1, i * 5000, p) for i, p in enumerate(payloads)]
    # one line in the first frame's payload, two in the second (one in its
    # CRC trailer), an IDF log line between the second and the third
    a, b = frames[0], frames[1]
    line = (a[:2000] + OVF + a[2000:] + b[:20] + OVF + b[20:-2] + OVF + b[-2:] + FAILED + frames[2])
    r = reader_over(line, piece)
    got = all_frames(r)
    assert [f.payload for f in got] == payloads
    assert r.console_lines == 3 and r.skipped == len(FAILED)


def test_a_frame_that_really_carries_console_text_is_kept_as_it_is():
    payload = b"x" * 100 + OVF + b"y" * 100
    r = reader_over(W.frame(W.DATA, 1, 0, payload))
    assert [f.payload for f in all_frames(r)] == [payload] and r.console_lines == 0


def test_a_damaged_frame_is_still_dropped_when_a_console_line_is_in_it_too():
    p = bytes(range(256)) * 4
    f = bytearray(W.frame(W.DATA, 1, 0, p))
    f[500] ^= 0x40  # a flipped bit as well as the line
    good = W.frame(W.DATA, 1, 1024, p)
    r = reader_over(bytes(f[:300]) + OVF + bytes(f[300:]) + good)
    got = all_frames(r)
    assert [g.offset for g in got] == [1024] and r.console_lines == 0
