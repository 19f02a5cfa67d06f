# Buffered file writer: bytes are copied into one preallocated staging buffer
# and reach the file in whole, sector-multiple blocks. On the ESP32 copying a
# PSRAM frame into a staging buffer before the SD write is several times
# faster than writing straight from PSRAM (esp32-camera issue 182).
#
# Every block starts on a sector boundary of the file, also after a flush
# (a sync) that had to write a part-filled sector: that sector's bytes stay
# in the buffer and the file position goes back to its start, so the next
# block rewrites it whole. Otherwise every later block would straddle two
# sectors: FatFs (FF_FS_TINY, lib/oofatfs/ff.c v1.27.0) then passes the head
# and tail through its one-sector window, reading them back first, and each
# block costs a sector more on a card written one sector per command.

SECTOR = 512


class StagedFile:
    def __init__(self, f, buf, block=None):
        """block: bytes per card write (a sector multiple, at most the
        buffer); smaller blocks hand the CPU back sooner."""
        block = block or len(buf)
        if len(buf) % SECTOR or block % SECTOR or block > len(buf):
            raise ValueError("staging buffer and block must be multiples of %d bytes" % SECTOR)
        self.f = f
        self.buf = buf
        self.mv = memoryview(buf)
        self.cap = block
        self.fill = 0
        self.written = 0  # file position once everything accepted so far is flushed
        self.flushed = 0  # `written` at the last flush(): nothing new, nothing to sync

    def start_at(self, pos, fill=0):
        """Go on at file offset pos (a sector boundary), with the first fill
        bytes of that sector already put in the buffer by the caller (the
        end of a region written around this file: backfill.py)."""
        self.f.seek(pos)
        self.fill = fill
        self.written = pos + fill
        self.flushed = pos

    def pos(self):
        """Where the next block goes in the file: the caller seeks back
        here after writing elsewhere in it."""
        return self.written - self.fill

    def write(self, data):
        n = len(data)
        src = memoryview(data)
        i = 0
        cap = self.cap
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
            write_all(self.f, self.mv[:self.fill])
            self.fill = 0

    def flush(self):
        """Everything accepted so far to the card, and synced. False (and
        no card write) when nothing came since the last flush."""
        if self.written == self.flushed:
            return False
        self.flushed = self.written
        fill = self.fill
        part = fill % SECTOR
        if part:
            # the part-filled sector goes to the card now (durable on sync),
            # and stays here to be rewritten whole from its start
            write_all(self.f, self.mv[:fill])
            whole = fill - part
            if whole:
                self.mv[:part] = self.mv[whole:fill]
            self.fill = part
            self.f.seek(self.written - part)
        else:
            self._flush()
        self.f.flush()
        return True


def write_all(f, mv):
    # A write to a full card may be short; anything short is an error here.
    n = f.write(mv)
    if n is not None and n != len(mv):
        raise OSError(28, "short write (%d of %d bytes): storage full?" % (n, len(mv)))
