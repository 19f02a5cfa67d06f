# What the board could not get at boot (a usable card, memory for the whole
# pre-roll), and how it tells: the boot line, `bodycam info` (the dock's
# "health" field), the audit log when there is one, and the status LED's
# error pattern. Nothing here may stop the capture loop.

# Status LED: steady on = recording, off = buffering normally; a problem
# blinks short flashes every 2 s: 2 = no clip storage, 3 = no camera,
# 4 = another boot problem (firmware, config, board profile: `bodycam info`
# says which).
BLINK_PERIOD_MS = 2000
BLINK_ON_MS = 250
BLINK_GAP_MS = 250
STORAGE_BLINKS = 2
CAMERA_BLINKS = 3
OTHER_BLINKS = 4
KEEP_ENTRIES = 4  # newest RAM-log entries kept for `bodycam info`


class RamLog:
    """Stands in for the audit log when the card holding it is missing:
    the recorder's entries (presses, the clip it could not create) are
    counted and the newest few kept in RAM, for `bodycam info` and doctor.
    record() has the audit log's signature; RAM only, so nothing is proved,
    but nothing is silently lost either."""

    def __init__(self):
        self.presses = 0
        self.errors = 0
        self.entries = []

    def record(self, kind, data=None):
        if kind == "press":
            self.presses += 1
        elif kind == "error":
            self.errors += 1
        self.entries.append([kind, data])
        if len(self.entries) > KEEP_ENTRIES:
            self.entries.pop(0)
        return False  # not on storage


def attach(app, hal):
    """Give the recorder a RamLog when there is no audit log (no card), and
    log a memory shortfall to the audit log when there is one."""
    app.ram_log = None
    if app.recorder.audit is None:
        app.ram_log = app.recorder.audit = RamLog()
    audit = getattr(hal, "audit", None)
    m = app.memory
    if audit is not None and m["shortfall"]:
        audit.record("memory_shortfall", m)


def storage_ok(hal):
    st = getattr(hal, "storage", None)
    return st is None or st["ok"]


def blinks(app):
    """How many flashes the status LED gives every 2 s (0: no problem)."""
    hal = app.hal
    if not storage_ok(hal):
        return STORAGE_BLINKS
    if not getattr(hal.camera, "ok", True):
        return CAMERA_BLINKS
    for p in getattr(app, "problems", ()):  # (every tick: no list made)
        if p["part"] != "camera":
            return OTHER_BLINKS
    return 0


def status_led(app, recording, now):
    """The status LED's state this tick."""
    n = blinks(app)
    if not n:
        return recording
    t = now % BLINK_PERIOD_MS
    k = t // (BLINK_ON_MS + BLINK_GAP_MS)
    return k < n and t % (BLINK_ON_MS + BLINK_GAP_MS) < BLINK_ON_MS


def report(app):
    """Storage and memory as the boot line and `bodycam info` show them."""
    hal = app.hal
    st = getattr(hal, "storage", None) or {"ok": True, "kind": "unknown", "path": hal.clips_dir}
    import bringup
    out = {"storage": st, "memory": app.memory, "system": bringup.system(app),
           "camera": getattr(hal.camera, "status", None), "problems": getattr(app, "problems", [])}
    rec = getattr(app, "recovery", None)
    if rec is not None:
        stuck = [n for n, frames in rec.done if frames is None]
        if stuck:
            out["unrecovered"] = stuck  # cut clips a full card left as they were
        if rec.owed:
            out["recovering"] = list(rec.owed)  # being rebuilt in the background now
    log = getattr(app, "ram_log", None)
    if log is not None:
        out["unrecorded"] = {"presses": log.presses, "errors": log.errors, "recent": log.entries}
    return out
