# Drive button.Button with a scripted pin: edges at exact synthetic times,
# polled every `period` ms like the capture loop does.
import button

NAMES = {button.PRESS: "press", button.RELEASE: "release", button.HOLD: "hold"}


class Pin:
    def __init__(self, level=1):
        self.level = level
        self.handler = None

    def irq(self, handler=None, trigger=3):
        self.handler = handler

    def value(self):
        return self.level


def run(script, end, period=200, start_level=1, hold_ms=3000, deliver_irq=True, first_poll=0):
    """script: list of (t_ms, level) edges. Returns [(name, t, held_ms)].
    The button is attached at 0 and the loop polls from first_poll on (the
    boot's work in between)."""
    now = [0]
    b = button.Button(lambda: now[0], hold_ms=hold_ms)
    pin = Pin(start_level)
    b.attach(pin)
    events = []
    edges = sorted(script)
    i = 0
    t = 0
    while t <= end:
        # edges up to the next poll happen "in the background" with their own
        # times, as soft IRQs between bytecodes of the loop would
        while i < len(edges) and edges[i][0] <= t:
            et, lv = edges[i]
            if lv != pin.level:
                pin.level = lv
                now[0] = et
                if deliver_irq:
                    pin.handler(pin)
            i += 1
        now[0] = t
        if t < first_poll:
            t += period
            continue
        while True:
            ev = b.poll(t, pin.level)
            if not ev:
                break
            events.append((NAMES[ev], b.t, b.held_ms))
        t += period
    return events, b
