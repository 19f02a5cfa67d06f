# Record button: the pin IRQ only stores the tick and the pin level into
# preallocated state (ESP32 pin IRQs are soft and the handler must not
# allocate); all debouncing and gesture logic runs in the main loop, from
# poll().
#
# Soft IRQs run between bytecodes (ports/esp32/machine_pin.c, py/scheduler.c
# v1.27.0): an edge during a blocking C call (a camera capture that waits
# for its 4 s timeout, a long SD or UART write) reaches the handler only when
# the call returns, so its tick is late. A press and release both inside
# one call arrive as two edges with the same tick: timed, that is a glitch
# shorter than the debounce. The level the handler reads tells them apart:
# a handler that already sees the level its edge's partner restored ran
# after both edges, so the pulse's length is unknown, not short. Such a
# pulse from a released button is reported as a press and release (a tap).
#
# Gestures: PRESS as soon as a press is stable, RELEASE with how long it was
# held, HOLD once a press has stayed down, with no bounce at all, for hold_ms.
# Any bounce restarts the hold timer, so a bounce storm never reads as a
# deliberate hold. A button already down at boot (when attach() runs) is
# ignored until released; a press any time after attach() counts.
import array

NONE = 0
PRESS = 1
RELEASE = 2
HOLD = 3

_QLEN = 16  # edges queued between polls; beyond that the pin level rules


def _diff(a, b):
    d = (a - b) & 0x3FFFFFFF
    return d - 0x40000000 if d >= 0x20000000 else d


class Button:
    def __init__(self, ticks_ms, active_low=True, debounce_ms=30, hold_ms=3000):
        self._ticks = ticks_ms
        self.active = 0 if active_low else 1
        self.debounce_ms = debounce_ms
        self.hold_ms = hold_ms
        self.edges = array.array("i", bytearray(4 * _QLEN))
        self.levels = bytearray(_QLEN)  # the pin level each handler saw (| 2: ran late, see late())
        self.w = 0  # edges written by the IRQ handler
        self.r = 0  # edges consumed by poll()
        self.lost = 0  # edges that overflowed the queue
        self.started = False
        self.armed = False  # False until the button has been seen released
        self.raw = False  # pressed, as of the last edge
        self.raw_t = 0  # time of the last edge
        self.in_burst = False
        self.burst_t = 0  # first edge since the level was last stable
        self.burst_late = False  # an edge of this burst was reported late
        self.down = False  # debounced state
        self.press_t = 0
        self.hold_fired = False
        self.events = []  # (event, time, held_ms) found but not yet returned
        self.t = 0  # time of the event poll() returned
        self.held_ms = 0  # with RELEASE: how long the press lasted

    def irq(self, pin):
        # Soft IRQ handler: stores into preallocated arrays, no allocation.
        i = self.w & (_QLEN - 1)
        self.edges[i] = self._ticks()
        self.levels[i] = pin.value()
        self.w += 1

    def late(self, since):
        """The loop was inside a blocking call from `since` until now: the
        handlers of edges meanwhile ran at its end, so their ticks say when
        the call returned, not when the button moved. Such an edge is marked:
        a press whose release comes just after the call is then a press of
        unknown length (a tap), not a glitch under the debounce (the
        officer's tap whose press fell inside a 4 s capture timeout)."""
        r = self.r
        while r != self.w:
            i = r & (_QLEN - 1)
            if _diff(self.edges[i], since) >= 0:
                self.levels[i] |= 2
            r += 1

    def attach(self, pin):
        """Take the pin's level now as the start (a button already down is
        ignored until released) and queue every edge from here on. Edges
        between this and the loop's first poll (boot can take seconds: the
        recovery of a cut clip, mounting the card) are presses like any
        other; dropping them lost a press made as the camera came up."""
        self.raw = pin.value() == self.active
        self.raw_t = self._ticks()
        self.armed = not self.raw
        self.started = True
        pin.irq(handler=self.irq, trigger=3)  # Pin.IRQ_FALLING | Pin.IRQ_RISING

    def poll(self, now, level):
        """Consume queued edges and the pin's current level; return one of
        NONE, PRESS, RELEASE, HOLD (call again until NONE). self.t is the
        event's time; self.held_ms the press length for RELEASE. Edges are
        replayed in order, so a press shorter than the loop period is still
        seen, with its own times."""
        if not self.events:
            self._scan(now, level == self.active)
        if not self.events:
            return NONE
        ev, self.t, self.held_ms = self.events.pop(0)
        return ev

    def _scan(self, now, pressed):
        if not self.started:  # boot: take the level as it is, ignore old edges
            self.started = True
            self.r = self.w
            self.raw = pressed
            self.raw_t = now
            return
        pending = self.w - self.r
        if pending > _QLEN:
            self.lost += pending - _QLEN
            self.r = self.w - _QLEN
        while self.r != self.w:
            i = self.r & (_QLEN - 1)
            t = self.edges[i]
            self.r += 1
            self._advance(t)
            self._toggle(t)
            lv = self.levels[i]
            if lv & 2 or ((lv & 1) == self.active) != self.raw:
                # the edge's time is unknown (its handler waited out a
                # blocking call), or the next edge came before it ran
                self.burst_late = True
        if pressed != self.raw:  # an edge the queue lost (or not yet run)
            self._advance(now)
            self._toggle(now)
            self.burst_late = True
        self._advance(now)

    def _toggle(self, t):
        if not self.in_burst:
            self.in_burst = True
            self.burst_t = t
            self.burst_late = False
        self.raw = not self.raw
        self.raw_t = t

    def _advance(self, t):
        # Time moves on to t with the raw level unchanged since raw_t.
        quiet = _diff(t, self.raw_t)
        if quiet < self.debounce_ms:
            return
        burst, self.in_burst = self.in_burst, False
        if not self.armed:
            if not self.raw:
                self.armed = True  # released at least once since boot
            return
        if burst and self.burst_late and not self.raw and not self.down:
            # Released to released, with edges reported late: a press hidden
            # in a blocking call. Its length is unknown (held_ms: the ticks
            # the edges got, a lower bound).
            self.press_t = self.burst_t
            self.events.append((PRESS, self.burst_t, 0))
            self.events.append((RELEASE, self.raw_t, _diff(self.raw_t, self.burst_t)))
        elif self.raw != self.down:
            self.down = self.raw
            if self.down:
                self.press_t = self.burst_t
                self.hold_fired = False
                self.events.append((PRESS, self.press_t, 0))
            else:
                self.events.append((RELEASE, self.burst_t, _diff(self.burst_t, self.press_t)))
        if self.down and self.raw and not self.hold_fired and quiet >= self.hold_ms:
            self.hold_fired = True
            self.events.append((HOLD, self.raw_t + self.hold_ms, 0))
