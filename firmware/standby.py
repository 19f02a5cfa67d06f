# What runs when the capture loop cannot (its modules failed to load, or it
# kept crashing): the serial dock alone, so `bodycam info` says what is
# wrong and `bodycam pull` gets the clips already on the card off, with the
# status LED blinking the firmware-problem pattern. It offers the dock what
# it asks of the App: the HAL, a recorder that is only ever buffering, a
# ring with no frames, the tick and the health report.
import health

BUFFERING = 0
INTERVAL_MS = 200


class _Recorder:
    state = BUFFERING
    clip = None

    def __init__(self, board):
        self.info = {"board": board.get("id")}


class _Ring:
    next_seq = 0


class _Button:
    w = 0


class Standby:
    standby = True

    def __init__(self, hal, board, s):
        self.hal = hal
        self.settings = s
        self.recorder = _Recorder(board)
        self.ring = _Ring()
        self.button = _Button()
        self.interval_ms = INTERVAL_MS
        self.capture_errors = 0
        self.services = []
        self.interrupt = False
        self.problems = []
        self.plan = {}
        self.memory = {}

    def health(self):
        return health.report(self)

    def run(self, kbd=True):
        import micropython
        if kbd:
            micropython.kbd_intr(-1)  # the dock tells a deliberate Ctrl-C (as App.run)
        try:
            hal = self.hal
            while True:
                now = hal.ticks_ms()
                for svc in self.services:
                    svc.poll(now)
                if self.interrupt:
                    raise KeyboardInterrupt
                hal.led("status", health.status_led(self, False, now))
                due = now + self.interval_ms
                for svc in self.services:
                    if hasattr(svc, "idle"):
                        svc.idle(due)
                hal.sleep_ms(max(1, due - hal.ticks_ms()))
        finally:
            if kbd:
                micropython.kbd_intr(3)
