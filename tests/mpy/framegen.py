# Synthetic JPEG-shaped frames for ring tests: SOI/EOI markers, the
# sequence number inside, and content taken from a fixed pool at an offset
# derived from the number, so any frame can be rebuilt to compare.
POOL = bytearray((i * 131 + (i >> 7) * 17) & 0xFF for i in range(16384))


def size_for(k, lo=200, hi=3000):
    # Deterministic, varying sizes (busy and quiet "scenes").
    x = (k * 2654435761) & 0xFFFFFFFF
    return lo + x % (hi - lo)


def build(k, n, out):
    """Write frame k of n bytes into out (a bytearray >= n); return a
    memoryview of it, like a camera driver's buffer."""
    o = (k * 37) % 8192
    out[0:n] = POOL[o:o + n]
    out[0] = 0xFF
    out[1] = 0xD8
    out[2] = k & 0xFF
    out[3] = (k >> 8) & 0xFF
    out[4] = (k >> 16) & 0xFF
    out[n - 2] = 0xFF
    out[n - 1] = 0xD9
    return memoryview(out)[:n]
