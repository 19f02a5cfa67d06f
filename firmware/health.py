# What the board could not get at boot (a usable card, memory for the whole
# pre-roll), and how it tells: the boot line, `bodycam info` (the dock's
# "health" field), the audit log when there is one, and the status LED's
# error pattern. Nothing here may stop the capture loop.

# Status LED when clips cannot be stored: two short blinks every 2 s
# (steady on = recording, off = buffering normally).
BLINK_PERIOD_MS = 2000
BLINKS = ((0, 250), (500, 750))  # on-intervals within the period
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


def status_led(hal, recording, now):
    """The status LED's state this tick."""
    if storage_ok(hal):
        return recording
    t = now % BLINK_PERIOD_MS
    for a, b in BLINKS:
        if a <= t < b:
            return True
    return False


def report(app):
    """Storage and memory as the boot line and `bodycam info` show them."""
    hal = app.hal
    st = getattr(hal, "storage", None) or {"ok": True, "kind": "unknown", "path": hal.clips_dir}
    import bringup
    out = {"storage": st, "memory": app.memory, "system": bringup.system(app)}
    stuck = [n for n, frames in getattr(app, "recovered", ()) if frames is None]
    if stuck:
        out["unrecovered"] = stuck  # cut clips a full card left as they were
    log = getattr(app, "ram_log", None)
    if log is not None:
        out["unrecorded"] = {"presses": log.presses, "errors": log.errors, "recent": log.entries}
    return out
