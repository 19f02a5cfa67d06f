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
    "preroll_full_s": None,  # None: no thinning (docs/preroll.md)
}

# name: (min, max) for whole-number settings
RANGES = {
    "fps": (1, 30),
    "preroll_s": (0, 120),
    "hold_ms": (1000, 10000),
    "jpeg_quality": (10, 100),
    # cnadler86's Camera clamps more than 2 to 2 with only a warning
    # (src/modcamera.c v0.6.0, set_check_fb_count): 3 would be planned for
    # memory the driver never takes.
    "fb_count": (1, 2),
}


class SettingsError(ValueError):
    pass


def validate(d, driver=True):
    """Return DEFAULTS overlaid with d, or raise SettingsError naming the
    first bad field. Unknown fields are refused: a typo must not silently
    fall back to a default. driver=False leaves out what the camera driver
    can honour (driver_problem), for `bodycam plan` to report it itself."""
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
            why = " (the camera driver keeps at most 2 frame buffers)" if k == "fb_count" else ""
            raise SettingsError("setting '%s' must be a whole number from %d to %d%s, not %r" % (k, lo, hi, why, v))
    full = out["preroll_full_s"]
    if full is not None:
        pre = out["preroll_s"]
        if not isinstance(full, int) or isinstance(full, bool) or full < 0 or full > pre:
            near = 0 if isinstance(full, int) and full < 0 else pre
            raise SettingsError("setting 'preroll_full_s' must be a whole number from 0 to the pre-roll (%d s), "
                                "not %r: the nearest allowed is %d" % (pre, full, near))
    why = driver_problem(out) if driver else None
    if why:
        raise SettingsError(why)
    return out


# --- what the camera and its driver can do --------------------------------
#
# The OV2640 free-runs: it makes frames at its own rate, whatever the loop
# asks for. esp32-camera programs it (sensors/ov2640.c set_framesize /
# set_window) in one of three modes by frame size, with JPEG's clock
# divider 0, so the rate follows XCLK (20 MHz in hal_esp32): up to CIF in
# the CIF mode, up to SVGA in the SVGA mode, larger ones in the UXGA mode.
# The datasheet gives 60, 30 and 15 fps for those modes at a 24 MHz clock
# (OmniVision OV2640 datasheet v1.6, key specifications and Table 1); at
# 20 MHz that is 50, 25 and 12.5 fps (esp32-camera issue #81: "at 20Mhz
# it's only possible to get to 50" at CIF; #201: UXGA ~12 fps measured).
SENSOR_PERIOD_US = {"CIF": 20000, "SVGA": 40000, "UXGA": 80000}
SENSOR_MODE = {"QQVGA": "CIF", "QCIF": "CIF", "HQVGA": "CIF", "QVGA": "CIF", "CIF": "CIF",
               "HVGA": "SVGA", "VGA": "SVGA", "SVGA": "SVGA",
               "XGA": "UXGA", "HD": "UXGA", "SXGA": "UXGA", "UXGA": "UXGA"}

# JPEG bytes a frame may reach in a busy scene, against the typical size:
# the reference notes give SVGA ~20 KB, up to ~40 KB in busy scenes.
PEAK_MARGIN = 2.0
# Size against the sensor's quantization scale (QS, 0-63, lower is finer),
# relative to QS 10, where the typical sizes above are: measured on the
# virtual sensor (host/bodycam/sim/scene.py maps QS onto a JPEG scale
# factor, linear as the register's name, "quantization scale", says), the
# mean over QQVGA-SVGA (`python bench/quality.py` measures it again; a test
# keeps this table within 10 % of the sensor). Real OV2640 figures agree
# where there are any: QQVGA overflows its 3840-byte buffer "always" at
# QS 10 and "frequently" at QS 16 in busy scenes (esp32-camera issues
# #468, #663); UXGA at QS 4-5 reaches ~350 KB (#150), ~3.5 x typical.
QS_SIZE = ((0, 7.5), (1, 2.82), (2, 2.07), (3, 1.73), (4, 1.52), (5, 1.38), (6, 1.26), (8, 1.11),
           (10, 1.0), (13, 0.89), (16, 0.83), (20, 0.76), (25, 0.71), (30, 0.67), (40, 0.61),
           (50, 0.58), (63, 0.56))
# What the driver copies per DMA interrupt in JPEG mode on the ESP32: a
# 4096-byte half buffer at 4 DMA bytes per camera byte (esp32-camera
# target/esp32/ll_cam.c ll_cam_dma_sizes, SM_0A00_0B00).
DMA_CHUNK = 1024


def sensor_period_us(framesize):
    """Time between two frames of the free-running OV2640 (us)."""
    return SENSOR_PERIOD_US[SENSOR_MODE[framesize]]


def sensor_fps(framesize):
    return 1000000 // sensor_period_us(framesize)


def driver_qs(quality):
    """The OV2640 quantization scale cnadler86's driver sets for our quality
    (0-100, higher is better): map(q, 0, 100, 63, 0) in C integer
    arithmetic (src/modcamera.c v0.6.0, get_mapped_jpeg_quality)."""
    return 63 - 63 * quality // 100


def qs_size_factor(qs):
    """JPEG size at quantization scale qs against QS 10 (QS_SIZE, interpolated)."""
    a = QS_SIZE[0]
    for b in QS_SIZE[1:]:
        if qs <= b[0]:
            return a[1] + (b[1] - a[1]) * (qs - a[0]) / (b[0] - a[0])
        a = b
    return a[1]


def fb_bytes(framesize):
    """The driver's JPEG frame buffer: width*height/5 (esp32-camera
    driver/cam_hal.c cam_config, CONFIG_CAMERA_JPEG_MODE_FRAME_SIZE_AUTO)."""
    w, h, _ = FRAMESIZES[framesize]
    return w * h // 5


def frame_fits(framesize, nbytes):
    """Whether a JPEG of nbytes fits the driver's buffer for framesize."""
    return chunk_fits(nbytes, fb_bytes(framesize))


def chunk_fits(nbytes, fb):
    """Whether a JPEG of nbytes fits a driver buffer of fb bytes. cam_task
    copies DMA_CHUNK bytes per interrupt and stops with "FB-OVF" when the
    next copy would pass the buffer's end (cam_hal.c: fb_size < len +
    pixels_per_dma), the last, partial one included."""
    return (nbytes // DMA_CHUNK + 1) * DMA_CHUNK <= fb


def peak_frame_bytes(framesize, quality):
    return int(FRAMESIZES[framesize][2] * qs_size_factor(driver_qs(quality)) * PEAK_MARGIN)


def quality_fits(framesize, quality):
    return frame_fits(framesize, peak_frame_bytes(framesize, quality))


def driver_problem(s):
    """Why the camera driver cannot honour these settings (with the
    nearest that it can), or None."""
    fs, fps, q = s["framesize"], s["fps"], s["jpeg_quality"]
    top = sensor_fps(fs)
    if fps > top:
        return ("setting 'fps' %d is faster than the OV2640 makes %s frames (%d fps at XCLK 20 MHz): "
                "the nearest that works is fps %d" % (fps, fs, top, top))
    if quality_fits(fs, q):
        return None
    best = q
    while best > RANGES["jpeg_quality"][0] and not quality_fits(fs, best):
        best -= 1
    alts = []
    if quality_fits(fs, best):
        alts.append("jpeg_quality %d" % best)
    near = nearest_framesize(fs, q)
    if near:
        alts.append("framesize %s" % near)
    return ("setting 'jpeg_quality' %d at %s overflows the camera driver's %d-byte frame buffer "
            "(width*height/5; busy scenes reach ~%d bytes at this quality): such frames are dropped "
            "(FB-OVF) and the camera may not start; the nearest that fits: %s"
            % (q, fs, fb_bytes(fs), peak_frame_bytes(fs, q), " or ".join(alts) or "none"))


def nearest_framesize(fs, quality):
    """The frame size nearest fs in pixels whose buffer holds busy frames at
    this quality, or None."""
    px = FRAMESIZES[fs][0] * FRAMESIZES[fs][1]
    best = None
    for name in FRAMESIZES:
        if name == fs or not quality_fits(name, quality):
            continue
        d = abs(FRAMESIZES[name][0] * FRAMESIZES[name][1] - px)
        if best is None or d < best[0]:
            best = (d, name)
    return best[1] if best else None


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


def frame_bytes(framesize):
    # What the plan allows for one frame: typical size with the scene margin.
    return FRAMESIZES[framesize][2] * SCENE_MARGIN


def max_thinning(fps):
    """Largest k such that keeping every 2**k-th frame stays >= 1 fps."""
    k = 0
    while fps >> (k + 1) >= 1:
        k += 1
    return k


def staircase(framesize, fps, preroll_s, full_s, budget):
    """The pre-roll's stretches, oldest first, as (from_s, to_s, every):
    seconds before the press and keep-every-Nth. Without thinning (full_s
    None, or the whole pre-roll fits at the camera's rate) one stretch at
    every 1. With it: the last full_s at every 1, older seconds thinned as
    little as the budget allows, oldest first (the oldest at every 2**k, the
    rest at every 2**(k-1)). Returns (stretches, need_bytes, fits)."""
    need = need_bytes(framesize, fps, preroll_s)
    whole = [(preroll_s, 0, 1)] if preroll_s else []
    if full_s is None or need <= budget or full_s >= preroll_s:
        return whole, need, need <= budget
    fb = frame_bytes(framesize)
    old = preroll_s - full_s
    base = (full_s + WRITER_SLACK_S) * fps
    kmax = max_thinning(fps)
    for k in range(1, kmax + 1):
        need_k = int((base + old * fps / (1 << k)) * fb)
        if need_k > budget and k < kmax:
            continue
        if need_k > budget:
            return whole, need_k, False
        # Spare bytes keep the youngest of the old seconds at 2**(k-1).
        x = int((budget - need_k) / (fps / (1 << k) * fb))
        x = min(x, old)
        out = [(preroll_s, full_s + x, 1 << k), (full_s + x, full_s, 1 << (k - 1)), (full_s, 0, 1)]
        merged = []
        for a, b, e in out:
            if a == b:
                continue
            if merged and merged[-1][2] == e:
                merged[-1] = (merged[-1][0], b, e)
            else:
                merged.append((a, b, e))
        need_k += int(x * fps / (1 << k) * fb)
        return merged, need_k, True
    return whole, need, False  # fps 1: nothing to thin


def level_bytes(framesize, fps, preroll_s, stretches, ring):
    """Bytes of each FrameRing level for these stretches, scaled to fill the
    ring. Level L holds the frames whose seq has L trailing zero bits (the
    top level: at least that many); it must keep them as long as some
    stretch keeps every 2**j-th frame with j <= L. None: one level."""
    top = 0
    for _, _, e in stretches:
        while (1 << top) < e:
            top += 1
    if top == 0:
        return None
    fb = frame_bytes(framesize)
    want = []
    for lev in range(top + 1):
        keep_s = 0
        for a, _, e in stretches:
            if e <= (1 << lev) and a > keep_s:
                keep_s = a
        share = 1.0 / (1 << (lev + 1)) if lev < top else 1.0 / (1 << top)
        b = keep_s * fps * share * fb
        if lev == top:
            b += WRITER_SLACK_S * fps * fb  # live frames while the pre-roll is written
        want.append(b)
    total = sum(want)
    out = [int(ring * b / total) for b in want]
    out[-1] += ring - sum(out)
    return out


def plan(psram_bytes, s):
    """s: validated settings. Returns a dict: fits, ring_bytes, slots and
    the numbers behind them, the pre-roll's stretches and rates, plus what
    would fit when it does not."""
    fs, fps, pre, fb = s["framesize"], s["fps"], s["preroll_s"], s["fb_count"]
    full = s.get("preroll_full_s")
    budget = ring_budget(psram_bytes, fs, fb)
    stretches, need, fits = staircase(fs, fps, pre, full, budget)
    # The ring takes the whole budget, not just the typical need: busy scenes
    # make bigger JPEGs, and every spare byte is pre-roll kept for them.
    ring = s.get("ring_bytes") or max(budget, 0)
    levels = level_bytes(fs, fps, pre, stretches, ring) if fits and ring > 0 else None
    slots = ring // MIN_FRAME_BYTES + 16
    if levels:
        slots += (pre + WRITER_SLACK_S) * fps  # thinned frames keep their slot
    p = {
        "framesize": fs, "fps": fps, "preroll_s": pre, "preroll_full_s": full,
        "typical_frame_bytes": FRAMESIZES[fs][2],
        "need_bytes": need, "budget_bytes": budget,
        "ring_bytes": ring, "slots": slots,
        "stretches": [{"from_s": -a, "to_s": -b, "every": e, "fps": fps / e} for a, b, e in stretches],
        "level_bytes": levels, "full_ms": full * 1000 if levels else 0,
        "fits": fits and ring <= budget and ring > 0,
    }
    if not p["fits"]:
        p["suggest"] = suggestions(psram_bytes, s)
    return p


def _fits(psram_bytes, fs, fps, pre, full, fb, quality=None):
    if quality is not None and (not quality_fits(fs, quality) or fps > sensor_fps(fs)):
        return False  # the driver cannot take it, whatever the memory
    if full is not None and full > pre:
        full = pre
    return staircase(fs, fps, pre, full, ring_budget(psram_bytes, fs, fb))[2]


def suggestions(psram_bytes, s):
    """The nearest settings that fit, changing one at a time."""
    fs, fps, pre, fb = s["framesize"], s["fps"], s["preroll_s"], s["fb_count"]
    full = s.get("preroll_full_s")
    out = {}
    f = fps
    while f > 1 and not _fits(psram_bytes, fs, f, pre, full, fb):
        f -= 1
    if _fits(psram_bytes, fs, f, pre, full, fb):
        out["fps"] = f
    p = pre
    while p > 0 and not _fits(psram_bytes, fs, fps, p, full, fb):
        p -= 1
    if _fits(psram_bytes, fs, fps, p, full, fb):
        out["preroll_s"] = p
    if full is not None or pre:
        k = pre if full is None else full  # thinning, when it was off, keeps the most full-rate seconds
        while k > 0 and not _fits(psram_bytes, fs, fps, pre, k, fb):
            k -= 1
        if _fits(psram_bytes, fs, fps, pre, k, fb):
            out["preroll_full_s"] = k
    best = None
    for name in FRAMESIZES:
        if _fits(psram_bytes, name, fps, pre, full, fb, s.get("jpeg_quality", DEFAULTS["jpeg_quality"])):
            if best is None or FRAMESIZES[name][0] * FRAMESIZES[name][1] > FRAMESIZES[best][0] * FRAMESIZES[best][1]:
                best = name
    if best:
        out["framesize"] = best
    return out
