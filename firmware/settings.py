# Recording settings (config.json on the device): defaults, checks and the
# memory plan they imply (does the pre-roll fit the board?). Shared by the
# firmware and the host (`bodycam plan`, `deploy`), so both refuse the same
# bad values and size the ring the same way. No imports: the host loads
# this file by path.

# OV2640 frame sizes: (width, height, typical JPEG bytes at the default
# quality). Typical sizes are from the reference notes (QVGA ~4 KB, VGA
# ~10 KB, SVGA ~20 KB, UXGA ~100 KB); busy scenes run larger.
FRAMESIZES = {
    "QQVGA": (160, 120, 2000),
    "QCIF": (176, 144, 2500),
    "HQVGA": (240, 176, 3200),
    "QVGA": (320, 240, 4000),
    "CIF": (400, 296, 6000),
    "HVGA": (480, 320, 8000),
    "VGA": (640, 480, 10000),
    "SVGA": (800, 600, 20000),
    "XGA": (1024, 768, 30000),
    "HD": (1280, 720, 40000),
    "SXGA": (1280, 1024, 60000),
    "UXGA": (1600, 1200, 100000),
}

DEFAULTS = {
    "framesize": "VGA",
    "fps": 5,
    "preroll_s": 30,
    "hold_ms": 3000,
    "jpeg_quality": 85,
    "fb_count": 2,
}

# name: (min, max) for whole-number settings
RANGES = {
    "fps": (1, 30),
    "preroll_s": (0, 120),
    "hold_ms": (1000, 10000),
    "jpeg_quality": (10, 100),
    "fb_count": (1, 3),
}


class SettingsError(ValueError):
    pass


def validate(d):
    """Return DEFAULTS overlaid with d, or raise SettingsError naming the
    first bad field. Unknown fields are refused: a typo must not silently
    fall back to a default."""
    out = dict(DEFAULTS)
    for k in d:
        if k not in DEFAULTS and k not in ("board", "ring_bytes"):
            raise SettingsError("unknown setting '%s' (known: %s)" % (k, ", ".join(sorted(DEFAULTS))))
        out[k] = d[k]
    fs = out["framesize"]
    if fs not in FRAMESIZES:
        raise SettingsError("setting 'framesize' must be one of %s, not %r" % (", ".join(FRAMESIZES), fs))
    for k in RANGES:
        v = out[k]
        lo, hi = RANGES[k]
        if not isinstance(v, int) or isinstance(v, bool) or v < lo or v > hi:
            raise SettingsError("setting '%s' must be a whole number from %d to %d, not %r" % (k, lo, hi, v))
    return out


# --- memory plan ---------------------------------------------------------

HEAP_RESERVE = 512 * 1024  # Python objects, staging buffers, dock service, fragmentation
SCENE_MARGIN = 1.25  # busy scenes make larger JPEGs than typical
WRITER_SLACK_S = 2  # live seconds buffered while the pre-roll is written
MIN_FRAME_BYTES = 1024  # smallest frame expected: sets the slot count


def camera_bytes(framesize, fb_count):
    # The camera driver's JPEG buffers: width*height/5 each, outside the heap.
    w, h, _ = FRAMESIZES[framesize]
    return fb_count * (w * h // 5)


def heap_bytes(psram_bytes, framesize, fb_count):
    """Memory the MicroPython heap gets beside the camera buffers: what the
    virtual board passes as -X heapsize."""
    return psram_bytes - camera_bytes(framesize, fb_count)


def need_bytes(framesize, fps, preroll_s):
    typical = FRAMESIZES[framesize][2]
    return int((preroll_s + WRITER_SLACK_S) * fps * typical * SCENE_MARGIN)


def ring_budget(psram_bytes, framesize, fb_count):
    return heap_bytes(psram_bytes, framesize, fb_count) - HEAP_RESERVE


def plan(psram_bytes, s):
    """s: validated settings. Returns a dict: fits, ring_bytes, slots and
    the numbers behind them, plus what would fit when it does not."""
    fs, fps, pre, fb = s["framesize"], s["fps"], s["preroll_s"], s["fb_count"]
    budget = ring_budget(psram_bytes, fs, fb)
    need = need_bytes(fs, fps, pre)
    # The ring takes the whole budget, not just the typical need: busy scenes
    # make bigger JPEGs, and every spare byte is pre-roll kept for them.
    ring = s.get("ring_bytes") or max(budget, 0)
    p = {
        "framesize": fs, "fps": fps, "preroll_s": pre,
        "typical_frame_bytes": FRAMESIZES[fs][2],
        "need_bytes": need, "budget_bytes": budget,
        "ring_bytes": ring, "slots": ring // MIN_FRAME_BYTES + 16,
        "fits": need <= budget and ring <= budget and ring > 0,
    }
    if not p["fits"]:
        p["suggest"] = suggestions(psram_bytes, s)
    return p


def suggestions(psram_bytes, s):
    fs, fps, pre, fb = s["framesize"], s["fps"], s["preroll_s"], s["fb_count"]
    out = {}
    f = fps
    while f > 1 and need_bytes(fs, f, pre) > ring_budget(psram_bytes, fs, fb):
        f -= 1
    if need_bytes(fs, f, pre) <= ring_budget(psram_bytes, fs, fb):
        out["fps"] = f
    p = pre
    while p > 0 and need_bytes(fs, fps, p) > ring_budget(psram_bytes, fs, fb):
        p -= 1
    if need_bytes(fs, fps, p) <= ring_budget(psram_bytes, fs, fb):
        out["preroll_s"] = p
    best = None
    for name in FRAMESIZES:
        if need_bytes(name, fps, pre) <= ring_budget(psram_bytes, name, fb):
            if best is None or FRAMESIZES[name][0] * FRAMESIZES[name][1] > FRAMESIZES[best][0] * FRAMESIZES[best][1]:
                best = name
    if best:
        out["framesize"] = best
    return out
