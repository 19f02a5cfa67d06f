# Buffered file writer: bytes are copied into one preallocated staging buffer
# and reach the file in whole, sector-multiple blocks. On the ESP32 copying a
# PSRAM frame into a staging buffer before the SD write is several times
# faster than writing straight from PSRAM (esp32-camera issue 182).

SECTOR = 512


class StagedFile:
    def __init__(self, f, buf):
        if len(buf) % SECTOR:
            raise ValueError("staging buffer must be a multiple of %d bytes" % SECTOR)
        self.f = f
        self.buf = buf
        self.mv = memoryview(buf)
        self.fill = 0
        self.written = 0  # bytes accepted so far (file position after flush)

    def write(self, data):
        n = len(data)
        src = memoryview(data)
        i = 0
        cap = len(self.buf)
        while i < n:
            k = cap - self.fill
            if k > n - i:
                k = n - i
            self.mv[self.fill:self.fill + k] = src[i:i + k]
            self.fill += k
            i += k
            if self.fill == cap:
                self._flush()
        self.written += n

    def _flush(self):
        if self.fill:
            _write_all(self.f, self.mv[:self.fill])
            self.fill = 0

    def flush(self):
        self._flush()
        self.f.flush()


def _write_all(f, mv):
    # A write to a full card may be short; anything short is an error here.
    n = f.write(mv)
    if n is not None and n != len(mv):
        raise OSError(28, "short write (%d of %d bytes): storage full?" % (n, len(mv)))
