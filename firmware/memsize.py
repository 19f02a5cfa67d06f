# Size the pre-roll ring at boot from the memory really free after the
# camera driver, the SD driver and the firmware have taken theirs, not from
# the board profile's PSRAM figure: a smaller or fragmented heap then costs
# pre-roll seconds (reported), never the boot.
#
# On the ESP32 (MicroPython 1.27) the GC heap starts small (ports/esp32/
# mpconfigport.h MICROPY_GC_INITIAL_HEAP_SIZE, 56 KiB on the ESP32) and grows
# by whole new areas taken from the ESP-IDF allocator when an allocation
# fails (MICROPY_GC_SPLIT_HEAP_AUTO; py/gc.c gc_try_add_heap). A new area must
# hold the failed allocation plus max(2048, n*13/512) bytes of GC metadata and
# come from one free block: gc_get_max_new_split() is
# heap_caps_get_largest_free_block(MALLOC_CAP_DEFAULT) (ports/esp32/
# gccollect.c). So the ring, one bytearray, is bounded by the largest free
# IDF block, which esp32.idf_heap_info(esp32.HEAP_DATA) reports as the third
# field of each region's (total, free, largest_free_block, min_free).
# gc.mem_free() alone counts only the areas the heap already has.
import gc

import settings as cfg
from ring import FrameRing

MIN_RING = 16 * 1024  # below this the back-off stops trying to be polite
BACKOFF_NUM, BACKOFF_DEN = 7, 8  # each failed allocation retries 1/8 smaller


def measure():
    """(free, largest): bytes free for MicroPython objects in all, and the
    largest single allocation the heap is expected to grant (None when the
    port cannot say: the back-off finds it)."""
    gc.collect()
    free = gc.mem_free()
    largest = None
    try:
        import esp32
    except ImportError:
        return free, largest
    regions = esp32.idf_heap_info(esp32.HEAP_DATA)
    idf_free = 0
    idf_largest = 0
    for r in regions:
        idf_free += r[1]
        if r[2] > idf_largest:
            idf_largest = r[2]
    # A new GC area holding n bytes needs n + max(2048, n*13/512) (gc.c).
    usable = idf_largest * 512 // 525 - 2048
    largest = max(usable, free)
    return free + idf_free, largest


def ring_slots(nbytes):
    return nbytes // cfg.MIN_FRAME_BYTES + 16


def scale_levels(levels, n):
    """The plan's thinning levels (settings.level_bytes) rescaled to a ring
    of n bytes, same proportions; None when the plan does not thin."""
    if not levels:
        return None
    total = sum(levels)
    out = [n * b // total for b in levels]
    out[-1] += n - sum(out)
    return out


def allocate(target, floor=MIN_RING, levels=None, full_ms=0, extra_slots=0):
    """FrameRing of target bytes, or the largest that backs off (1/8 at a
    time) into what the heap can give; below `floor` one last minimal
    ring. levels/full_ms: the plan's pre-roll thinning, kept in proportion.
    Returns (ring, tries)."""
    n = target
    tries = 0
    while n >= floor:
        tries += 1
        try:
            return FrameRing(n, ring_slots(n) + extra_slots, scale_levels(levels, n), full_ms), tries
        except MemoryError:
            gc.collect()
            n = n * BACKOFF_NUM // BACKOFF_DEN
    tries += 1
    return FrameRing(1024, 4), tries  # no pre-roll to speak of, but the camera runs


def probe_frame(hal, ring):
    """Size of one frame from the initialized camera, or None (the driver
    returns None or raises OSError when a capture fails). The frame goes
    into the ring as its first: the probe costs no frame."""
    try:
        f = hal.camera.capture()
    except OSError:
        return None
    if f is None:
        return None
    ring.push(f, hal.ticks_ms())
    n = len(f)
    free = getattr(hal.camera, "free_buffer", None)
    if free is not None:
        free()  # copied: the driver may fill the buffer again
    return n


def achievable_s(ring_bytes, frame_bytes, fps):
    """Whole seconds of pre-roll a ring holds at this frame size, less the
    live seconds buffered while the pre-roll is written (settings.py)."""
    if not frame_bytes:
        return 0
    s = ring_bytes // (frame_bytes * fps) - cfg.WRITER_SLACK_S
    return s if s > 0 else 0


def ring_for(hal, board, s):
    """(plan, ring, report) for App: settings.plan() for the profile's view,
    then the ring sized from what is really free, less the reserve."""
    p = cfg.plan(board["psram_bytes"], s)
    free, largest = measure()
    target = free - cfg.HEAP_RESERVE
    if largest is not None and largest < target:
        target = largest
    # Slot tables come out of the same memory (3 int32 arrays per slot).
    target = target * cfg.MIN_FRAME_BYTES // (cfg.MIN_FRAME_BYTES + 12)
    if s.get("ring_bytes"):
        target = min(target, s["ring_bytes"])  # the user asked for no more
    if target < MIN_RING:
        # Less free than the reserve: the rest of the firmware comes first;
        # the ring takes a quarter of what is left (a frame or two).
        target = max(free // 4, 1024)
    levels = p.get("level_bytes")
    # Thinned frames keep their slot (tombstones): one per pre-roll frame.
    extra = (s["preroll_s"] + cfg.WRITER_SLACK_S) * s["fps"] if levels else 0
    ring, tries = allocate(target, min(target, MIN_RING), levels, p.get("full_ms", 0), extra)
    probe = probe_frame(hal, ring)
    p = dict(p)
    p["profile_ring_bytes"] = p["ring_bytes"]
    p["ring_bytes"] = ring.size
    p["slots"] = ring.slots
    frame = probe or int(cfg.FRAMESIZES[s["framesize"]][2] * cfg.SCENE_MARGIN)
    can = achievable_s(ring.size, frame, s["fps"])
    report = {"ring_bytes": ring.size, "free_bytes": free, "largest_bytes": largest,
              "reserve_bytes": cfg.HEAP_RESERVE, "tries": tries,
              "frame_bytes": frame, "frame_measured": probe is not None,
              "preroll_s_wanted": s["preroll_s"], "preroll_s_achievable": can,
              "shortfall": can < s["preroll_s"]}
    return p, ring, report


def refresh(report, ring, fps):
    """The report with the frame size measured over the frames buffered
    so far (a better figure than the boot probe once the ring has run)."""
    if ring.count >= 4:
        frame = ring.bytes_used() // ring.count
        if frame:
            report["frame_bytes"] = frame
            report["frame_measured"] = True
            report["preroll_s_achievable"] = achievable_s(ring.size, frame, fps)
            report["shortfall"] = report["preroll_s_achievable"] < report["preroll_s_wanted"]
    return report
