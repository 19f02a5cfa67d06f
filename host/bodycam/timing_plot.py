"""`bodycam check --plot`: a clip's timing as a PNG that reads on its own.

Top panel: the interval before each frame (ms) against seconds from the
press, with the pre-roll shaded, the press, markers and stop drawn, the
nominal interval and the gap limit as lines, and gaps over the limit
circled. Bottom panel: each frame's size in bytes (from the AVI's idx1
index; from the scanned chunks when a clip has no index), which is what
explains most gaps (a big frame takes longer to capture and write). The
title carries the verdict. Drawn with matplotlib, an optional extra
(`pip install 'bodycam[plot]'`)."""
from bodycam.cli import UserError

INTERVAL = "#1f5fb4"
NOMINAL = "#2e9a3c"
LIMIT = "#c82828"
PRE = "#dbe8f8"
MARK = "#e08000"
STOP = "#555555"
SIZE = "#6a4c93"


class PlotUnavailable(UserError):
    pass


def require():
    """Raise PlotUnavailable (with what to install) when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotUnavailable("--plot needs matplotlib, an optional extra: pip install 'bodycam[plot]' "
                              "(or pip install matplotlib); without --plot the check runs as is")


def frame_sizes(avi_path):
    """([bytes per frame], where from) for the AVI: its idx1 index, else the
    chunks a scan found (a clip cut short has no index); ([], None) without
    a readable AVI."""
    if not avi_path:
        return [], None
    from bodycam.evidence.avi_reader import read_avi
    try:
        avi = read_avi(avi_path)
    except OSError:
        return [], None
    if avi.index:
        return [n for _, n in avi.index], "AVI index"
    if avi.frames:
        return [n for _, n in avi.frames], "AVI chunks (no index)"
    return [], None


def verdict(rep):
    p = rep.get("problems") or []
    if not p:
        return "meets its targets"
    more = " (+%d more)" % (len(p) - 1) if len(p) > 1 else ""
    return "FAILS: %s%s" % (p[0], more)


def plot(rep, frame_ms, path, sizes=None, sizes_from=None):
    """Draw the report's clip (frame_ms: the sidecar's frame times in ms
    from the press; sizes: bytes per frame) into a PNG at path."""
    figure(rep, frame_ms, sizes, sizes_from).savefig(path, format="png")
    return path


def figure(rep, frame_ms, sizes=None, sizes_from=None):
    """The matplotlib Figure plot() saves (no pyplot: no global state)."""
    require()
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    sizes = list(sizes or [])
    t = rep.get("targets") or {}
    fig = Figure(figsize=(12, 7.5), dpi=100, layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ok = not rep.get("problems")
    name = rep.get("clip") or _clip_name(rep)
    fig.suptitle("%s: %s" % (name, verdict(rep)), fontsize=13, fontweight="bold",
                 color="black" if ok else LIMIT)
    facts = []
    if rep.get("fps_mean") is not None:
        facts.append("%.2f fps mean" % rep["fps_mean"])
    if t.get("fps"):
        facts.append("target %d fps" % t["fps"])
    if frame_ms and frame_ms[0] < 0:
        facts.append("pre-roll kept %.2f s" % (-frame_ms[0] / 1000.0))
    if t.get("preroll_ms"):
        facts.append("wanted %.0f s" % (t["preroll_ms"] / 1000.0))
    facts.append("%d frames" % len(frame_ms))
    if rep.get("largest_gap"):
        facts.append("largest gap %g ms" % rep["largest_gap"]["ms"])
    top.set_title("  |  ".join(facts), fontsize=10)

    secs = [v / 1000.0 for v in frame_ms]
    top.set_ylabel("time since the previous frame (ms)")
    top.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "%g ms" % v))
    top.yaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 2.5, 5, 10]))
    top.grid(True, color="#e4e4e4")
    bottom.set_xlabel("seconds from the press (negative: pre-roll, recorded before the press)")
    bottom.set_ylabel("frame size (bytes)")
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda v, _: "{:,.0f}".format(v)))
    bottom.grid(True, color="#e4e4e4")
    if len(frame_ms) < 2:
        top.text(0.5, 0.5, "fewer than 2 frames: no intervals to plot", transform=top.transAxes,
                 ha="center", color=LIMIT)
    else:
        iv = [frame_ms[i + 1] - frame_ms[i] for i in range(len(frame_ms) - 1)]
        top.plot(secs[1:], iv, color=INTERVAL, linewidth=1, zorder=3, label="interval before each frame")
        nominal = 1000.0 / t["fps"] if t.get("fps") else None
        limit = t.get("max_gap_ms")
        if nominal:
            top.axhline(nominal, color=NOMINAL, linewidth=1.2,
                        label="nominal %g ms (%d fps)" % (round(nominal, 1), t["fps"]))
        if limit:
            top.axhline(limit, color=LIMIT, linestyle="--", linewidth=1.2, label="gap limit %g ms" % round(limit, 1))
            over = [(secs[i + 1], v) for i, v in enumerate(iv) if v > limit]
            if over:
                top.scatter([x for x, _ in over], [v for _, v in over], s=60, facecolors="none",
                            edgecolors=LIMIT, linewidths=1.8, zorder=5,
                            label="%d gap%s over the limit" % (len(over), "" if len(over) == 1 else "s"))
        top.set_ylim(0, max([max(iv)] + [v for v in (nominal, limit) if v]) * 1.15)

    n = min(len(sizes), len(secs))
    if n:
        bottom.plot(secs[:n], sizes[:n], color=SIZE, linewidth=1, marker="." if n <= 400 else None,
                    markersize=3, label="frame size (%s)" % (sizes_from or "AVI"))
        bottom.set_ylim(0, max(sizes[:n]) * 1.15)
    else:
        bottom.text(0.5, 0.5, "no frame sizes: the AVI is missing or unreadable", transform=bottom.transAxes,
                    ha="center", color=LIMIT)

    for k, ax in enumerate((top, bottom)):
        _events(ax, rep, frame_ms, t, labels=(k == 0))
    top.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=9, frameon=False)
    if n:
        bottom.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=9, frameon=False)
    return fig


def _events(ax, rep, frame_ms, t, labels):
    """Pre-roll, press, markers and stop on one panel (labelled once)."""
    def lab(s):
        return s if labels else None

    if frame_ms and frame_ms[0] < 0:
        ax.axvspan(frame_ms[0] / 1000.0, 0, color=PRE, zorder=0,
                   label=lab("pre-roll kept (%.1f s)" % (-frame_ms[0] / 1000.0)))
    want = t.get("preroll_ms")
    if want:
        ax.axvline(-want / 1000.0, color=INTERVAL, linestyle=":", linewidth=1.2,
                   label=lab("pre-roll wanted: from %g s" % (-want / 1000.0)))
    ax.axvline(0, color="black", linewidth=2, label=lab("press (start of the live part)"))
    for k, m in enumerate(rep.get("markers") or []):
        ax.axvline(m["ms"] / 1000.0, color=MARK, linestyle="-.", linewidth=1.4,
                   label=lab("marker (short press)") if k == 0 else None)
    stop = rep.get("stop") or {}
    if stop.get("ms") is not None:
        ax.axvline(stop["ms"] / 1000.0, color=STOP, linestyle="--", linewidth=1.6,
                   label=lab("stop (%s)" % (stop.get("reason") or "?")))


def _clip_name(rep):
    import os
    f = (rep.get("files") or {})
    p = f.get("avi") or f.get("sidecar")
    return os.path.basename(p) if p else "clip"
