"""The timeline: one inline SVG, one lane per camera, time left to right.
Marks: powered-on spans (grey), recordings (the pre-roll a lighter prefix,
the rest coloured by how the recording stopped), markers (ticks), offloads
(triangles under the lane), clock corrections (red lines). Every mark has
a <title> (the browser's tooltip) and data-* attributes with its UTC ms,
so the page needs no script and a test can check each mark's place."""
from html import escape

from bodycam.report.timefmt import iso, short

STOP_COLOURS = {"hold": "#2563eb", "storage": "#d97706", "memory": "#9333ea", "power_loss": "#dc2626",
                "reset": "#b91c1c", "watchdog": "#b91c1c", "crash": "#b91c1c", "interrupt": "#0d9488",
                None: "#6b7280"}
LABEL_W = 170
LANE_H = 22
AXIS_H = 28
DAY = 86400000
HOUR = 3600000


def span(trails, window):
    """(lo, hi) UTC ms the timeline covers: the window, else the data."""
    lo, hi = window or (None, None)
    if lo is not None and hi is not None:
        return lo, hi
    ts = []
    for t in trails:
        for s in t["sessions"]:
            ts += [x for x in (s["start_utc"], s["end_utc"]) if x is not None]
        for r in t["recordings"]:
            ts += [x for x in (r["press_utc"], r["end_utc"], r["offload_utc"]) if x is not None]
    if not ts:
        return None
    a, b = min(ts), max(ts)
    step = DAY if b - a > 2 * DAY else HOUR
    a = lo if lo is not None else a // step * step
    b = hi if hi is not None else -(-b // step) * step
    return a, max(b, a + HOUR)


def svg(trails, window, stop_names):
    sp = span(trails, window)
    if sp is None:
        return "<p>Nothing with a known time to draw.</p>"
    lo, hi = sp
    days = (hi - lo) / DAY
    width = int(min(8000, max(1000, days * 28)))
    scale = width / float(hi - lo)  # px per ms

    def x(ms):
        return LABEL_W + (min(max(ms, lo), hi) - lo) * scale

    out = []
    h = AXIS_H + LANE_H * len(trails) + 6
    out.append('<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="%d" height="%d" '
               'data-lo-ms="%d" data-hi-ms="%d" data-label-w="%d" data-plot-w="%d" role="img" '
               'aria-label="timeline, one lane per camera">' % (LABEL_W + width + 10, h, lo, hi, LABEL_W, width))
    out.append(_axis(lo, hi, x, h))
    for i, t in enumerate(trails):
        y = AXIS_H + i * LANE_H
        out.append('<g class="lane" data-camera="%s" data-y="%d">' % (escape(t["key"]), y))
        out.append('<text x="4" y="%d" class="lab">%s</text>' % (y + 15, escape(t["key"])))
        out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" class="sep"/>' % (LABEL_W, LABEL_W + width, y + LANE_H,
                                                                            y + LANE_H))
        for s in t["sessions"]:
            if s["start_utc"] is None or s["end_utc"] is None or s["end_utc"] < lo or s["start_utc"] > hi:
                continue
            a, b = x(s["start_utc"]), x(s["end_utc"])
            out.append('<rect class="on" x="%.2f" y="%d" width="%.2f" height="12" data-t0="%d" data-t1="%d">'
                       '<title>%s: powered on %s to %s (%s)</title></rect>'
                       % (a, y + 5, max(1.0, b - a), s["start_utc"], s["end_utc"], escape(t["key"]),
                          short(s["start_utc"]), short(s["end_utc"]), _dur(s["on_ms"])))
        docks = {}
        for r in t["recordings"]:
            if r["offload_utc"] is not None and lo <= r["offload_utc"] <= hi:
                docks.setdefault(r["offload_utc"] // 60000, []).append(r)
            if r["press_utc"] is None or r["press_utc"] > hi:
                continue
            end = r["end_utc"] if r["end_utc"] is not None else r["press_utc"] + (r["live_ms"] if r.get("live_ms")
                                                                                  else 0)
            if end < lo:
                continue
            out.append(_recording(t, r, x, y, end, stop_names))
        for minute, rs in sorted(docks.items()):
            ox = x(rs[0]["offload_utc"])
            out.append('<path class="offload" d="M%.2f %d l-4 5 h8 z" data-t="%d" data-clips="%s"><title>%s: '
                       'offloaded %d clip(s) at %s: %s</title></path>'
                       % (ox, y + LANE_H - 6, rs[0]["offload_utc"], " ".join(r["clip"] for r in rs),
                          escape(t["key"]), len(rs), iso(rs[0]["offload_utc"]),
                          escape(", ".join(r["clip"] for r in rs[:12]) + (" ..." if len(rs) > 12 else ""))))
        for c in t["clock_sets"]:
            if c["offset_ms"] and c["utc"] is not None and lo <= c["utc"] <= hi:
                cx = x(c["utc"])
                out.append('<line class="clock" x1="%.2f" x2="%.2f" y1="%d" y2="%d" data-t="%d" data-offset-ms="%d">'
                           '<title>%s: clock put %s by %.1f s at %s</title></line>'
                           % (cx, cx, y + 1, y + LANE_H - 1, c["utc"], c["offset_ms"], escape(t["key"]),
                              "forward" if c["offset_ms"] > 0 else "back", abs(c["offset_ms"]) / 1000.0,
                              iso(c["utc"])))
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _recording(t, r, x, y, end, stop_names):
    press = r["press_utc"]
    pre = r["preroll_ms"] or 0
    colour = STOP_COLOURS.get(r["stop"], STOP_COLOURS[None])
    x0, xp, x1 = x(press - pre), x(press), x(end)
    tip = "%s %s%s: pressed %s, %s long, pre-roll %s of %s, %d marker(s), stopped: %s%s%s" % (
        escape(t["key"]), escape(r["clip"] or "?"), " (officer %s)" % escape(r["officer"]) if r.get("officer") else "",
        iso(press), _dur(r["length_ms"]), _dur(r["preroll_ms"]), _dur(r["preroll_cfg_ms"]), r["markers"],
        stop_names.get(r["stop"], r["stop"] or "not recorded"),
        "; time inferred (clock not set yet)" if r["utc_from"] == "inferred" else "",
        "; restarted %s after the stop before it" % _dur(r["restart_after_ms"]) if r["restart_after_ms"] is not None
        else "")
    parts = ['<g class="rec" data-clip="%s" data-press-ms="%d" data-end-ms="%d" data-preroll-ms="%d" '
             'data-stop="%s">' % (escape(r["clip"] or ""), press, end, pre, r["stop"] or "")]
    parts.append('<title>%s</title>' % tip)
    if xp - x0 >= 0.5:
        parts.append('<rect class="pre" x="%.2f" y="%d" width="%.2f" height="14" fill="%s" fill-opacity="0.35">'
                     '<title>%s</title></rect>' % (x0, y + 4, xp - x0, colour, tip))
    parts.append('<rect class="body" x="%.2f" y="%d" width="%.2f" height="14" fill="%s"><title>%s</title></rect>'
                 % (xp, y + 4, max(1.5, x1 - xp), colour, tip))
    for m in r.get("marker_utc") or ():
        mx = x(m)
        parts.append('<line class="marker" x1="%.2f" x2="%.2f" y1="%d" y2="%d" data-t="%d"><title>%s %s: marker at '
                     '%s</title></line>' % (mx, mx, y + 1, y + 4, m, escape(t["key"]), escape(r["clip"] or ""), iso(m)))
    parts.append("</g>")
    return "".join(parts)


def _axis(lo, hi, x, h):
    span_ms = hi - lo
    step = DAY if span_ms > 2 * DAY else HOUR if span_ms > 3 * HOUR else 10 * 60000
    label_every = max(1, int(span_ms / step / 16))
    out = ['<g class="axis">']
    t = -(-lo // step) * step
    i = 0
    while t <= hi:
        tx = x(t)
        out.append('<line x1="%.2f" x2="%.2f" y1="%d" y2="%d" class="grid"/>' % (tx, tx, AXIS_H - 6, h))
        if i % label_every == 0 and tx + 70 <= x(hi):  # a label needs room before the right edge
            out.append('<text x="%.2f" y="%d" class="tick">%s</text>' % (tx + 2, AXIS_H - 10,
                                                                         iso(t)[:10] if step == DAY else iso(t)[5:16]))
        t += step
        i += 1
    out.append("</g>")
    return "".join(out)


def _dur(ms):
    if ms is None:
        return "?"
    s = ms / 1000.0
    if s < 120:
        return "%.0f s" % s
    if s < 7200:
        return "%.1f min" % (s / 60)
    return "%.1f h" % (s / 3600)
