"""`bodycam check --plot`: frame intervals over time as a PNG (Pillow), with
the pre-roll shaded, the press, markers and stop drawn, the nominal
interval and the gap limit as lines, and gaps over the limit in red. An
hour of frames is binned per pixel column (min and max), so the picture
stays readable and drawing stays fast."""
from PIL import Image, ImageDraw, ImageFont

W, H = 1200, 520
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 46, 56
BG = (255, 255, 255)
AXIS = (60, 60, 60)
GRID = (225, 225, 225)
PRE = (222, 235, 250)
LINE = (30, 90, 180)
NOMINAL = (40, 150, 60)
LIMIT = (200, 40, 40)
PRESS = (0, 0, 0)
MARK = (230, 130, 0)


def _nice_step(span, target):
    raw = span / max(1, target)
    for m in (1, 2, 5, 10):
        for e in range(-3, 7):
            s = m * 10 ** e
            if s >= raw:
                return s
    return raw


def plot(rep, frame_ms, path):
    """Draw the report's clip (frame_ms: the sidecar's frame times)."""
    img = Image.new("RGB", (W, H), BG)
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    x0, x1, y0, y1 = LEFT, W - RIGHT, TOP, H - BOTTOM
    t = rep.get("targets") or {}
    title = "%s: frame intervals" % rep.get("clip", "clip")
    if rep.get("fps_mean") is not None:
        title += "  |  %.2f fps mean" % rep["fps_mean"]
    if "preroll_ms" in rep:
        title += "  |  pre-roll %.2f s" % (rep["preroll_ms"] / 1000.0)
    title += "  |  " + ("meets its targets" if not rep["problems"] else "FAILS: " + rep["problems"][0])
    d.text((x0, 12), title[:170], fill=AXIS, font=font)
    if len(frame_ms) < 2:
        d.text((x0, (y0 + y1) // 2), "fewer than 2 frames: nothing to plot", fill=LIMIT, font=font)
        img.save(path, "PNG")
        return path
    tmin, tmax = frame_ms[0], frame_ms[-1]
    stop = (rep.get("stop") or {}).get("ms")
    if stop is not None:
        tmax = max(tmax, stop)
    tmin = min(tmin, 0)
    if tmax <= tmin:
        tmax = tmin + 1
    iv = [frame_ms[i + 1] - frame_ms[i] for i in range(len(frame_ms) - 1)]
    nominal = 1000.0 / t["fps"] if t.get("fps") else None
    limit = t.get("max_gap_ms")
    ymax = max([max(iv)] + [v for v in (nominal, limit) if v]) * 1.15
    ymin = min(0, min(iv))

    def X(ms):
        return x0 + (ms - tmin) * (x1 - x0) / float(tmax - tmin)

    def Y(v):
        return y1 - (v - ymin) * (y1 - y0) / float(ymax - ymin)

    # pre-roll shading, grid, axes
    if tmin < 0:
        d.rectangle((X(tmin), y0, X(0), y1), fill=PRE)
        d.text((X(tmin) + 4, y0 + 4), "pre-roll", fill=LINE, font=font)
    ystep = _nice_step(ymax - ymin, 6)
    v = 0
    while v <= ymax:
        d.line((x0, Y(v), x1, Y(v)), fill=GRID)
        d.text((8, Y(v) - 6), "%g ms" % v, fill=AXIS, font=font)
        v += ystep
    xstep = _nice_step((tmax - tmin) / 1000.0, 10) * 1000
    s = (int(tmin // xstep)) * xstep
    while s <= tmax:
        if s >= tmin:
            d.line((X(s), y1, X(s), y1 + 4), fill=AXIS)
            d.text((X(s) - 12, y1 + 8), "%gs" % (s / 1000.0), fill=AXIS, font=font)
        s += xstep
    d.rectangle((x0, y0, x1, y1), outline=AXIS)
    d.text((x0, H - 20), "time from the press (s); each point: the interval ending at that frame", fill=AXIS,
           font=font)
    if nominal:
        d.line((x0, Y(nominal), x1, Y(nominal)), fill=NOMINAL, width=1)
        d.text((x1 - 150, Y(nominal) - 14), "nominal %.0f ms" % nominal, fill=NOMINAL, font=font)
    if limit:
        d.line((x0, Y(limit), x1, Y(limit)), fill=LIMIT, width=1)
        d.text((x1 - 150, Y(limit) - 14), "gap limit %.0f ms" % limit, fill=LIMIT, font=font)

    # intervals: min..max per pixel column
    cols = {}
    for i, v in enumerate(iv):
        c = int(X(frame_ms[i + 1]))
        lo_hi = cols.get(c)
        if lo_hi is None:
            cols[c] = [v, v]
        else:
            if v < lo_hi[0]:
                lo_hi[0] = v
            if v > lo_hi[1]:
                lo_hi[1] = v
    prev = None
    for c in sorted(cols):
        lo, hi = cols[c]
        if prev is not None:
            d.line((prev[0], Y(prev[1]), c, Y(lo)), fill=LINE)
        d.line((c, Y(lo), c, Y(hi)), fill=LIMIT if limit and hi > limit else LINE, width=2 if limit and hi > limit else 1)
        prev = (c, hi)
    if limit:
        for i, v in enumerate(iv):
            if v > limit:
                cx, cy = X(frame_ms[i + 1]), Y(v)
                d.ellipse((cx - 3, cy - 3, cx + 3, cy + 3), outline=LIMIT, width=2)

    # press, markers, stop
    d.line((X(0), y0, X(0), y1), fill=PRESS, width=2)
    d.text((X(0) + 3, y0 + 4), "press", fill=PRESS, font=font)
    for k, m in enumerate(rep.get("markers") or []):
        d.line((X(m["ms"]), y0, X(m["ms"]), y1), fill=MARK, width=1)
        d.text((X(m["ms"]) + 3, y0 + 18), "M%d" % (k + 1), fill=MARK, font=font)
    if stop is not None:
        d.line((X(stop), y0, X(stop), y1), fill=AXIS, width=1)
        d.text((X(stop) - 30, y0 + 4), "stop", fill=AXIS, font=font)
    img.save(path, "PNG")
    return path
