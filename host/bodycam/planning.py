"""What `bodycam plan` says about a memory plan (firmware/settings.py
plan()), in words: also the reason deploy gives when it refuses settings."""


def describe(board, p):
    mib = 1048576.0
    lines = ["%s: %s at %d fps with %d s pre-roll needs ~%.2f MiB (typical frame %.1f KB); "
             "the ring can have %.2f MiB -> %s" % (
                 board["id"], p["framesize"], p["fps"], p["preroll_s"], p["need_bytes"] / mib,
                 p["typical_frame_bytes"] / 1000.0, p["budget_bytes"] / mib,
                 "fits" if p["fits"] else "does NOT fit")]
    sug = p.get("suggest") or {}
    alts = []
    if "fps" in sug:
        alts.append("--fps %d" % sug["fps"])
    if "framesize" in sug:
        alts.append("--framesize %s" % sug["framesize"])
    if "preroll_s" in sug:
        alts.append("--preroll %d" % sug["preroll_s"])
    if "preroll_full_s" in sug:
        alts.append("--preroll-full %d" % sug["preroll_full_s"])
    if alts:
        lines.append("would fit (change one): " + ", or ".join(alts))
    elif not p["fits"]:
        lines.append("nothing fits at this pre-roll on this board; try a shorter --preroll")
    return "\n".join(lines)
