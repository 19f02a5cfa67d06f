"""Board time: the virtual chip's clock, in microseconds since its last
reset, running `speed` times faster than wall time. The simulator owns it;
the firmware anchors to it at boot (sim/board_side/vboard.py), so the button's
timing and the camera's frame times are in the same time on both sides."""
import time


class BoardClock:
    def __init__(self, speed=1):
        if not speed or speed <= 0:
            raise ValueError("speed must be a positive number, not %r" % (speed,))
        self.speed = speed
        self.speed_milli = int(round(speed * 1000))  # board us per 1000 wall us
        self.reset()

    def reset(self):
        """Chip reset: ticks start again from 0."""
        self._t0 = time.monotonic_ns()

    def us(self):
        return (time.monotonic_ns() - self._t0) * self.speed_milli // 1000000

    def ms(self):
        return self.us() // 1000

    def wall_seconds(self, board_ms):
        """How long board_ms of board time takes in wall time."""
        return board_ms * 1000.0 / self.speed_milli / 1000.0

    def sleep(self, board_ms):
        if board_ms > 0:
            time.sleep(self.wall_seconds(board_ms))
