# Bring-up checks `bodycam doctor` asks the dock for ("D" command): what the
# chip and MicroPython are, the SD card's write speed (a temporary file,
# removed afterwards, refused while recording), the LEDs toggled, and on the
# virtual board a button press done for you. Runs inside the capture loop as
# a dock job, a chunk per step, so the camera keeps buffering meanwhile.
import gc
import os
import sys

from recstate import BUFFERING
from ring import _ticks_diff

TEST_FILE = "DOCTOR.TMP"
CHUNK = 4096
MAX_KB = 2048


def system(app):
    """Chip, MicroPython, memory, camera, key and button facts (cheap: part
    of the dock's info reply)."""
    impl = sys.implementation
    out = {"micropython": "%d.%d.%d" % impl.version[:3], "platform": sys.platform,
           "machine": getattr(impl, "_machine", None), "gc_free": gc.mem_free()}
    try:
        import esp32
        regions = esp32.idf_heap_info(esp32.HEAP_DATA)
        out["idf_free"] = sum(r[1] for r in regions)
        out["idf_largest"] = max(r[2] for r in regions) if regions else 0
    except ImportError:
        pass
    cam = app.hal.camera
    out["sensor"] = getattr(cam, "sensor_name", None)
    seal = getattr(app.hal, "seal", None)
    out["key"] = getattr(seal, "key_id", None) is not None
    b = app.button
    out["button_edges"] = b.w
    vb = _vboard()
    out["virtual"] = bool(vb and vb.attached())
    return out


def _vboard():
    # The virtual board's module, if this firmware runs on one: it is loaded
    # before the firmware there. Looked up, never imported: on a chip there
    # is none, and on the unix port importing it costs heap for nothing.
    return sys.modules.get("vboard")


def command(app, args):
    verb = args[0] if args else ""
    if verb == "sd":
        kb = int(args[1]) if len(args) > 1 else 512
        if not 16 <= kb <= MAX_KB:
            raise ValueError("SD test size must be 16 to %d KB, not %d" % (MAX_KB, kb))
        return _sd_job(app, kb)
    if verb == "leds":
        names = list(getattr(app.hal, "board", {}).get("leds", {}))
        return _led_job(app, names)
    if verb == "press":
        vboard = _vboard()
        if vboard is None or not vboard.attached():
            raise ValueError("only a virtual board can press its own button: press it by hand")
        vboard.LINK.send({"op": "tap"})  # the simulator presses, as a finger would
        return {"ok": True, "pressed": True}
    raise ValueError("unknown doctor check %r (sd KB, leds, press)" % verb)


def _sd_job(app, kb):
    st = getattr(app.hal, "storage", None)
    if st is not None and not st["ok"]:
        yield {"ok": False, "code": "no_storage", "error": "no clip storage: %s" % st["advice"]}
        return
    if app.recorder.state != BUFFERING:
        yield {"ok": False, "code": "recording",
               "error": "the camera is recording: the SD test would steal its write time; stop the "
                        "recording (hold the button 3 s) and ask again"}
        return
    path = app.hal.clips_dir + "/" + TEST_FILE
    buf = bytearray(CHUNK)
    for i in range(CHUNK):
        buf[i] = (i * 7) & 0xFF
    ticks = app.hal.ticks_ms
    n = kb * 1024 // CHUNK
    busy = 0  # ms spent writing (the job yields between chunks)
    worst = 0
    f = open(path, "wb")
    try:
        for _ in range(n):
            t0 = ticks()
            f.write(buf)
            d = _ticks_diff(ticks(), t0)
            busy += d
            if d > worst:
                worst = d
            yield None
        t0 = ticks()
        f.flush()
        try:
            os.sync()
        except (AttributeError, OSError):
            pass
        busy += _ticks_diff(ticks(), t0)
    finally:
        f.close()
        try:
            os.remove(path)
        except OSError:
            pass
    yield {"ok": True, "bytes": n * CHUNK, "ms": busy, "worst_chunk_ms": worst, "chunk": CHUNK,
           "bytes_per_s": n * CHUNK * 1000 // busy if busy else None}


def _led_job(app, names, phase_ms=250):
    # Each LED on and off twice, phase_ms each, seen by whoever watches.
    hal = app.hal
    for name in names:
        for on in (True, False, True, False):
            hal.led(name, on)
            t0 = hal.ticks_ms()
            while _ticks_diff(hal.ticks_ms(), t0) < phase_ms:
                yield None
    yield {"ok": True, "leds": names}
