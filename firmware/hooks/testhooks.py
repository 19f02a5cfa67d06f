# Test hooks: button presses a hardware-in-loop test asks for over the dock
# ("H" command), on a board deployed with `bodycam deploy --test-hooks`. This
# file lives outside firmware/'s top level, so a normal deploy (and the
# virtual board's ROM) never has it: without it the dock answers "no test
# hooks". Each trigger goes into the audit log as a test trigger, and a clip
# that a trigger touched carries "test_trigger" in its sealed sidecar.
#
# A press drives the button the way the pin would: the level the loop reads
# (a proxy in front of hal.button_pin) and the IRQ handler's edge tick.
MAX_HOLD_MS = 30000


class TestPin:
    """hal.button_pin with a level the hooks can force while a test press
    lasts; everything else goes to the real pin."""

    def __init__(self, pin, pressed_level):
        self.pin = pin
        self.pressed_level = pressed_level
        self.forced = None

    def value(self, v=None):
        if v is None:
            return self.forced if self.forced is not None else self.pin.value()
        return self.pin.value(v)

    def irq(self, *a, **kw):
        return self.pin.irq(*a, **kw)


class Hooks:
    """Loop service: releases a test press when its time is up."""

    def __init__(self, app):
        self.app = app
        b = app.hal.board["button"] if hasattr(app.hal, "board") else {"active_low": True}
        self.pin = TestPin(app.hal.button_pin, 0 if b["active_low"] else 1)
        app.hal.button_pin = self.pin
        self.release_at = None
        self.triggers = 0  # since the last sealed clip
        self.total = 0
        rec = app.recorder
        self.seal = rec.seal
        rec.seal = self._seal

    def _seal(self, meta):
        if self.triggers:
            meta["test_trigger"] = {"triggers": self.triggers}
            self.triggers = 0
        return self.seal(meta) if self.seal is not None else meta

    def _edge(self, level):
        self.pin.forced = level
        self.app.button.irq(self.pin)  # as the pin's IRQ would, with this tick

    def press(self, ms, now):
        if ms < 0 or ms > MAX_HOLD_MS:
            raise ValueError("test press must last 0 to %d ms, not %d" % (MAX_HOLD_MS, ms))
        if self.release_at is not None:
            raise ValueError("a test press is already in progress")
        self._edge(self.pin.pressed_level)
        self.release_at = now + ms
        self.triggers += 1
        self.total += 1
        _log(self.app, {"action": "press", "ms": ms, "state": self.app.recorder.state})

    def poll(self, now):
        if self.release_at is not None and ((now - self.release_at) & 0x3FFFFFFF) < 0x20000000:
            self.release_at = None
            self._edge(1 - self.pin.pressed_level)
            self.pin.forced = None


def _log(app, data):
    audit = getattr(app.hal, "audit", None) or getattr(app.recorder, "audit", None)
    if audit is not None:
        try:
            audit.record("test_trigger", data)
        except Exception:
            pass


def command(app, args):
    """The dock's "H" command: H press MS | H status."""
    hooks = getattr(app, "test_hooks", None)
    if hooks is None:
        hooks = app.test_hooks = Hooks(app)
        app.services.append(hooks)
    now = app.hal.ticks_ms()
    verb = args[0] if args else "status"
    if verb == "press":
        ms = int(args[1]) if len(args) > 1 else 150
        hooks.press(ms, now)
        return {"ok": True, "pressed_ms": ms, "release_at": hooks.release_at, "triggers": hooks.total}
    if verb == "status":
        return {"ok": True, "test_hooks": True, "pressing": hooks.release_at is not None, "triggers": hooks.total}
    raise ValueError("unknown test hook %r (press MS, status)" % verb)
