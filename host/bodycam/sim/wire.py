"""One direction of the serial line between the host's USB-UART chip and the
board: bytes cross no faster than baud/10 per second (8N1: start + 8 data +
stop bits), and arrive as junk when the two ends' baud rates disagree."""
import time

BITS_PER_BYTE = 10  # 8N1
TOLERANCE = 0.03  # a UART still samples correctly within ~3% rate error


class Wire:
    def __init__(self):
        self._free = 0.0  # monotonic time at which the line is idle again
        self.bytes = 0

    def cross(self, n, baud):
        """Wait until n more bytes have crossed the line at `baud` (after any
        still in flight). Returns the time they arrived."""
        now = time.monotonic()
        # A UART's TX FIFO and driver buffer keep the line busy across the
        # moment it takes to hand over the next chunk; a sender that kept up
        # (within SLACK_S) continues where the line became free, so handover
        # gaps do not add up. Over any stretch it is still never faster than
        # the line: at most SLACK_S of line time can be made up.
        start = self._free if self._free > now - SLACK_S else now
        end = start + n * BITS_PER_BYTE / float(baud)
        self._free = end
        self.bytes += n
        delay = end - now
        while delay > 0:
            time.sleep(delay)
            delay = end - time.monotonic()
        return end

    def idle(self):
        """Forget bytes in flight (the sender was reset)."""
        self._free = 0.0


SLACK_S = 0.010


def chunk_size_for(baud):
    """Bytes moved per step: about 5 ms of line time, small enough that
    bytes arrive with realistic latency."""
    return max(1, int(baud) // BITS_PER_BYTE // 200)


def rates_match(a, b):
    return abs(a - b) <= TOLERANCE * max(a, b)


def garble(data, sent_baud, read_baud):
    """What the receiver gets: the bytes when the rates match, else junk
    (deterministic: a receiver at the wrong rate reads framing errors)."""
    if rates_match(sent_baud, read_baud):
        return data
    return bytes(((b * 37) ^ 0xA5) & 0xFF for b in data)
