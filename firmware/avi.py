# MJPEG AVI layout (RIFF AVI with one 'vids'/'MJPG' stream, '00dc' chunks
# and an 'idx1' index), written streaming: the header goes out first with
# zero counts and is patched in place at close.
import struct

HEADER_BYTES = 224  # RIFF..'movi' fourcc, fixed for one video stream
MOVI_FOURCC_AT = HEADER_BYTES - 4  # idx1 offsets count from this byte
AVIF_HASINDEX = 0x10
AVIIF_KEYFRAME = 0x10


def header(width, height, frames, us_per_frame, movi_bytes, max_chunk, idx_bytes=0):
    """The 224 bytes before the first frame chunk. movi_bytes is the size of
    the frame chunks (headers and padding included) after 'movi'."""
    rate = 1000000
    scale = us_per_frame if us_per_frame > 0 else 1
    riff_size = HEADER_BYTES - 8 + movi_bytes + idx_bytes
    h = bytearray(HEADER_BYTES)
    struct.pack_into("<4sI4s", h, 0, b"RIFF", riff_size, b"AVI ")
    struct.pack_into("<4sI4s", h, 12, b"LIST", 192, b"hdrl")
    # avih: MainAVIHeader (56 bytes)
    struct.pack_into("<4sI14I", h, 24, b"avih", 56,
                     scale, max_chunk * rate // scale, 0, AVIF_HASINDEX,
                     frames, 0, 1, max_chunk, width, height, 0, 0, 0, 0)
    struct.pack_into("<4sI4s", h, 88, b"LIST", 116, b"strl")
    # strh: AVIStreamHeader (56 bytes)
    struct.pack_into("<4sI4s4sIHHIIIIIIIIhhhh", h, 100, b"strh", 56,
                     b"vids", b"MJPG", 0, 0, 0, 0, scale, rate, 0,
                     frames, max_chunk, 0xFFFFFFFF, 0, 0, 0, width, height)
    # strf: BITMAPINFOHEADER (40 bytes)
    struct.pack_into("<4sIIiiHH4sIiiII", h, 164, b"strf", 40,
                     40, width, height, 1, 24, b"MJPG", width * height * 3,
                     0, 0, 0, 0)
    struct.pack_into("<4sI4s", h, 212, b"LIST", 4 + movi_bytes, b"movi")
    return h


def chunk_header(out, n):
    """Fill out (8 bytes) with a '00dc' chunk header for n data bytes."""
    struct.pack_into("<4sI", out, 0, b"00dc", n)


def chunk_header_at(out, at, n):
    """The same header at out[at:at + 8]."""
    struct.pack_into("<4sI", out, at, b"00dc", n)


def index_entry(out, movi_offset, n):
    """Fill out (16 bytes) with an idx1 entry; movi_offset counts from the
    'movi' fourcc, as players expect."""
    struct.pack_into("<4sIII", out, 0, b"00dc", AVIIF_KEYFRAME, movi_offset, n)


def padded(n):
    return n + (n & 1)
