# Boot wiring for evidence: the audit log (on the clips' storage, offloaded
# with them) and the manifest sealer (device key and chain state on the
# internal flash) are put on the HAL, where App and the recorder find them.
# Also the two calls the rest of the firmware uses: log() and set_clock().
# None of this may stop the camera: a missing key means unsigned clips, a
# missing card means no audit log; both are reported, recording goes on.
import clock as clockmod
from audit import AuditLog
from seal import Sealer, load_key
from version import VERSION

KEY_FILE = "key.json"  # flash root: never on the SD card handed over
STATE_FILE = "evidence.json"  # flash root: chain state and last clock sync
LOG_NAME = "AUDIT.LOG"  # in the clips dir, beside the clips
DROP_REPORT_MS = 10000  # at most one "dropped" entry per this long


def attach(hal, board, settings, key_path=KEY_FILE, state_path=STATE_FILE):
    """Set hal.audit and hal.seal and log the boot. Returns (audit, sealer);
    audit is None when the log can't be opened."""
    problems = []
    hal.stop_cause = stop_for(reset_cause(hal))
    try:
        device, key = load_key(key_path)
    except (OSError, ValueError) as e:
        device, key = None, None
        problems.append("device key %s unusable, clips are not signed: %s" % (key_path, e))
    hal.key_problem = problems[0] if problems else None  # (a key never provisioned is not one)
    try:
        log = AuditLog(hal.clips_dir + "/" + LOG_NAME, key, hal.ticks_ms, hal.clock.utc)
    except OSError as e:
        log = None
        print("bodycam: no audit log in %s: %s" % (hal.clips_dir, e))
    sealer = Sealer(state_path, key, device, log)
    hal.audit = log
    hal.seal = sealer
    if log is None:
        return None, sealer
    boot = {"firmware": VERSION, "board": board.get("id"), "settings": settings,
            "device": device, "key_id": sealer.key_id,
            "clock_set": hal.clock.unix_ms() is not None, "chain": sealer.chain_state()}
    cause = reset_cause(hal)
    if cause is not None:
        boot["reset_cause"] = cause
    if log.interrupted:
        boot["interrupted"] = log.interrupted
    log.record("boot", boot)
    if log.interrupted:
        # The last session ended while recording: what the reset cause
        # says ended it (a brownout reads as a power-on reset).
        reason, why = hal.stop_cause
        log.record("record_stop", {"reason": reason, "cause": why, "clip": log.interrupted, "found_at": "boot"})
    if key is None and not problems:
        problems.append("no device key (%s): clips are not signed; provision one with bodycam deploy" % key_path)
    for p in problems:
        log.record("error", {"what": p})
    import gc
    gc.collect()  # the ring, allocated next, needs one contiguous block
    return log, sealer


def watch(app):
    """Add the dropped-frame watcher to the App's loop services."""
    log = getattr(app.hal, "audit", None)
    if log is not None:
        app.services.append(DropWatch(app.ring, log))


def log(hal, kind, data=None):
    """Append an audit entry if this HAL has an audit log. True if written."""
    a = getattr(hal, "audit", None)
    return a.record(kind, data) if a is not None else False


def set_clock(hal, unix_ms, source="host"):
    """Set UTC (ms since 1970), log old and new time and the offset
    (new - old: positive means the device clock was behind), and keep the
    sync for the next clips' manifests. Returns the old UTC ms or None."""
    old = hal.clock.set_utc_ms(unix_ms)
    offset = None if old is None else unix_ms - old
    new_utc = clockmod.iso_utc(unix_ms)
    s = getattr(hal, "seal", None)
    if s is not None:
        try:
            s.note_sync(new_utc, offset, source, hal.ticks_ms())
        except OSError as e:
            log(hal, "error", {"what": "cannot save the clock sync: %s" % e})
    log(hal, "clock_set", {"old_utc": None if old is None else clockmod.iso_utc(old),
                           "new_utc": new_utc, "offset_ms": offset, "source": source})
    return old


class DropWatch:
    """Loop service: an audit entry when the ring drops frames, at most one
    per DROP_REPORT_MS (the sidecar has each clip's totals). poll() does not
    allocate while nothing changes: it runs every frame."""

    def __init__(self, ring, audit, every_ms=DROP_REPORT_MS):
        self.ring = ring
        self.audit = audit
        self.every_ms = every_ms
        self.full = ring.dropped_full
        self.bad = ring.dropped_bad
        self.large = ring.dropped_large
        self.last = None

    def poll(self, now):
        r = self.ring
        if r.dropped_full == self.full and r.dropped_bad == self.bad and r.dropped_large == self.large:
            return
        if self.last is not None:
            d = (now - self.last) & 0x3FFFFFFF
            if d < self.every_ms:
                return
        self.audit.record("dropped", {"ring_full": r.dropped_full - self.full,
                                      "bad_frame": r.dropped_bad - self.bad,
                                      "too_large": r.dropped_large - self.large})
        self.full = r.dropped_full
        self.bad = r.dropped_bad
        self.large = r.dropped_large
        self.last = now


# machine.reset_cause() on the ESP32 (ports/esp32/modmachine.c v1.27.0,
# mp_machine_reset_cause): ESP_RST_POWERON and ESP_RST_BROWNOUT both give
# PWRON_RESET (1); ESP_RST_SW, ESP_RST_PANIC and ESP_RST_EXT give HARD_RESET
# (2); the three watchdogs WDT_RESET (3), which a brownout can also give
# (espressif/esp-idf #10834); DEEPSLEEP_RESET (4); a soft reset SOFT_RESET
# (5); anything else 0. The EN pin (the reset button, the programmer's RTS)
# is a chip power-on reset: PWRON_RESET too. So the honest words for what
# ended a recording are these, not "power loss" every time.
STOPS = {
    1: ("power_loss", "power loss or brownout"),
    2: ("reset", "reset or crash"),
    3: ("watchdog", "watchdog reset: the firmware hung, or a brownout"),
    4: ("power_loss", "deep sleep"),
    5: ("reset", "soft reset"),
}
UNKNOWN_STOP = ("power_loss", "power loss, brownout, reset or crash: the chip did not say which")


def stop_for(cause):
    """(stop reason, in words) for a recording a reset of this cause ended."""
    return STOPS.get(cause, UNKNOWN_STOP)


def reset_cause(hal):
    """machine.reset_cause() where the HAL or the port has one, else None."""
    f = getattr(hal, "reset_cause", None)
    if f is not None:
        return f()
    try:
        import machine
        return machine.reset_cause()
    except (ImportError, AttributeError):
        return None
