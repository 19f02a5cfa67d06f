"""`bodycam check`'s analysis: from a clip's sidecar (the true capture time
of every frame) and its AVI (what a player sees), how much pre-roll was
kept, the frame rate, jitter, gaps, drops and press latency, and whether
the AVI agrees with the sidecar. Pure functions over lists of ints: an
hour of frames takes milliseconds.
"""
import hashlib
import json
import math
import os
import struct
from array import array

from bodycam.evidence.avi_reader import read_avi

GAP_FACTOR = 1.5  # an interval this many nominal intervals long is a gap
DEFAULT_MAX_GAP_INTERVALS = 3  # default limit: 3 nominal intervals
MEAN_FPS_TOLERANCE = 0.95  # the mean rate may be 5% under the target
# Any 1 s window may hold this many frames fewer than the target rate: one
# for capture jitter (the N-th frame lands just past the window's end) and
# one lost frame. Longer outages are the gap limit's job.
WINDOW_SLACK_FRAMES = 2


class ClipFiles:
    """The AVI and sidecar paths for a CLIP argument (either file, or the
    name without extension)."""

    def __init__(self, arg):
        base, ext = os.path.splitext(arg)
        if ext.upper() not in (".AVI", ".JSON"):
            base = arg
        self.avi = _existing(base, ".AVI")
        self.sidecar = _existing(base, ".JSON")
        self.name = os.path.basename(base)
        if not self.avi and not self.sidecar:
            raise FileNotFoundError("no clip %s: neither %s.AVI nor %s.JSON exists" % (arg, base, base))


def _existing(base, ext):
    for e in (ext, ext.lower()):
        if os.path.isfile(base + e):
            return base + e
    return None


def load_sidecar(path):
    """(dict, None) or (None, plain-words problem)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return None, "cannot read the sidecar %s: %s" % (path, e)
    try:
        d = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        return None, "the sidecar %s is not valid JSON (%s): damaged or cut short" % (os.path.basename(path), e)
    if not isinstance(d, dict):
        return None, "the sidecar %s is not a JSON object" % os.path.basename(path)
    fm = d.get("frame_ms")
    if not isinstance(fm, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in fm):
        return None, "the sidecar %s has no list of frame times (frame_ms)" % os.path.basename(path)
    return d, None


def frame_ms_sha256(frame_ms):
    """SHA-256 of the frame times as int32 little-endian (as the firmware
    hashes them while recording)."""
    a = array("i", frame_ms)
    if a.itemsize != 4:  # pragma: no cover - every supported platform has 4-byte int
        return hashlib.sha256(struct.pack("<%di" % len(frame_ms), *frame_ms)).hexdigest()
    if struct.pack("=i", 1) != struct.pack("<i", 1):  # pragma: no cover - big-endian host
        a.byteswap()
    return hashlib.sha256(a.tobytes()).hexdigest()


def check_clip(arg, preroll_s=None, fps=None, max_gap_ms=None, max_delay_ms=None):
    """Read a clip and analyse it; returns the report dict."""
    files = ClipFiles(arg)
    avi = read_avi(files.avi) if files.avi else None
    sidecar, side_problem = load_sidecar(files.sidecar) if files.sidecar else (None, None)
    rep = analyse(sidecar, avi, preroll_s=preroll_s, fps=fps, max_gap_ms=max_gap_ms, max_delay_ms=max_delay_ms)
    rep["clip"] = files.name
    rep["files"] = {"avi": files.avi, "sidecar": files.sidecar}
    if not files.avi:
        rep["problems"].insert(0, "the AVI file %s.AVI is missing" % files.name)
    if not files.sidecar:
        rep["problems"].insert(0, "the sidecar %s.JSON is missing, so the true frame times are unknown "
                                  "(the recording was probably never finished)" % files.name)
    elif side_problem:
        rep["problems"].insert(0, side_problem)
    rep["ok"] = not rep["problems"]
    return rep


def analyse(sidecar, avi, preroll_s=None, fps=None, max_gap_ms=None, max_delay_ms=None):
    rep = {"problems": [], "notes": []}
    problems = rep["problems"]
    if avi is not None:
        rep["avi"] = avi.summary()
    if sidecar is None:
        if avi is not None:
            problems.extend(avi.problems)
            if avi.us_per_frame and avi.header_frames:
                rep["notes"].append("timing below is the AVI's constant rate only")
        rep["ok"] = not problems
        return rep

    settings = sidecar.get("settings") or {}
    fm = sidecar["frame_ms"]
    n = len(fm)
    target_fps = fps if fps is not None else settings.get("fps")
    if preroll_s is not None:
        need_pre_ms = int(round(preroll_s * 1000))
    else:
        need_pre_ms = sidecar.get("preroll_ms")
    nominal = 1000.0 / target_fps if target_fps else None
    if max_gap_ms is None and nominal:
        max_gap_ms = DEFAULT_MAX_GAP_INTERVALS * nominal
    rep.update({
        "width": sidecar.get("width"), "height": sidecar.get("height"),
        "frames": n, "targets": {"preroll_ms": need_pre_ms, "fps": target_fps, "max_gap_ms": max_gap_ms,
                                 "max_delay_ms": max_delay_ms},
        "clock": sidecar.get("clock"), "markers": sidecar.get("markers") or [], "stop": sidecar.get("stop"),
        "dropped": sidecar.get("dropped"),
    })
    if sidecar.get("recovered"):
        rep["notes"].append("this clip was rebuilt from its whole frames after a power loss cut the recording")
    if n == 0:
        problems.append(_no_frames_reason(sidecar))
        _avi_agreement(rep, sidecar, avi, fm)
        return rep

    # Pre-roll: how long before the press the oldest frame was captured.
    pre = [t for t in fm if t < 0]
    live = [t for t in fm if t >= 0]
    rep["preroll_ms"] = -fm[0] if fm[0] < 0 else 0
    rep["preroll_frames"] = len(pre)
    rep["press_to_first_live_ms"] = live[0] if live else None
    rep["span_ms"] = fm[-1] - fm[0]
    if sidecar.get("preroll_frames") is not None and sidecar["preroll_frames"] != len(pre):
        problems.append("the sidecar says %d pre-roll frames but %d frame times are before the press"
                        % (sidecar["preroll_frames"], len(pre)))
    if pre and live and fm.index(live[0]) != len(pre):
        problems.append("pre-roll and live frames are interleaved")
    if need_pre_ms and rep["preroll_ms"] < need_pre_ms:
        problems.append("pre-roll: only %.2f s kept before the press, %.2f s required%s"
                        % (rep["preroll_ms"] / 1000.0, need_pre_ms / 1000.0, _preroll_cut_note(sidecar, pre)))

    # Thinned pre-roll is judged stretch by stretch against its own rate;
    # the rate, gap and window checks below cover the full-rate frames.
    i0 = full_rate_start(fm, sidecar)
    problems.extend(judge_stretches(rep, sidecar, fm, target_fps))
    fr = fm[i0:]
    # Intervals: rate, jitter, gaps.
    iv = [fr[i + 1] - fr[i] for i in range(len(fr) - 1)]
    if iv:
        mean = sum(iv) / len(iv)
        var = sum((x - mean) ** 2 for x in iv) / len(iv)
        big = max(iv)
        at = iv.index(big)
        rep["interval_ms"] = {"mean": round(mean, 3), "min": min(iv), "max": big,
                              "jitter_std": round(math.sqrt(var), 3)}
        rep["largest_gap"] = {"ms": big, "after_frame": at + i0, "from_ms": fr[at], "to_ms": fr[at + 1]}
        span = fr[-1] - fr[0]
        rep["fps_mean"] = round(1000.0 * len(iv) / span, 3) if span > 0 else None
        back = [i for i, x in enumerate(iv) if x <= 0]
        if back:
            problems.append("frame times go backwards or repeat %d time(s) (first after frame %d at %+d ms)"
                            % (len(back), back[0] + 1 + i0, fr[back[0]]))
        if nominal:
            gaps = [(i, x) for i, x in enumerate(iv) if x > GAP_FACTOR * nominal]
            rep["gaps"] = len(gaps)
            rep["missing_frames_est"] = sum(max(0, int(round(x / nominal)) - 1) for _, x in gaps)
            rep["jitter_vs_nominal_ms"] = round(max(abs(x - nominal) for x in iv), 3)
        if max_gap_ms is not None and big > max_gap_ms:
            problems.append("gap: no frame for %d ms from %+.2f s to %+.2f s (limit %d ms)%s"
                            % (big, fr[at] / 1000.0, fr[at + 1] / 1000.0, max_gap_ms,
                               _lost_gap_note(sidecar, fr[at], fr[at + 1])))
    win = min_frames_in_window(fr, 1000)
    rep["fps_min_1s"] = win[0] if win else None
    rep["fps_min_1s_at_ms"] = win[1] if win else None
    if target_fps:
        if win and win[0] < target_fps - WINDOW_SLACK_FRAMES:
            problems.append("frame rate: only %d frames in the second from %+.2f s, %d fps set"
                            % (win[0], win[1] / 1000.0, target_fps))
        if rep.get("fps_mean") is not None and rep["fps_mean"] < MEAN_FPS_TOLERANCE * target_fps:
            problems.append("frame rate: %.2f fps on average, below the %d fps set" % (rep["fps_mean"], target_fps))
    if max_delay_ms is not None and rep["press_to_first_live_ms"] is not None and \
            rep["press_to_first_live_ms"] > max_delay_ms:
        problems.append("latency: first live frame %d ms after the press (limit %d ms)"
                        % (rep["press_to_first_live_ms"], max_delay_ms))
    d = sidecar.get("dropped") or {}
    rep["dropped_total"] = sum(v for v in d.values() if isinstance(v, int))
    _avi_agreement(rep, sidecar, avi, fm)
    return rep


def full_rate_start(fm, sidecar):
    """Index of the first frame after the sidecar's last thinned pre-roll
    stretch (every > 1): from there on every frame is kept. 0 if none."""
    last = None
    for st in sidecar.get("preroll_stretches") or []:
        if st.get("every", 1) > 1:
            last = st["to_ms"]
    if last is None:
        return 0
    i = 0
    while i < len(fm) and fm[i] < last:
        i += 1
    return i


def judge_stretches(rep, sidecar, fm, fps):
    """Each pre-roll stretch of the sidecar (from its thinning record) with
    its measured rate, into rep["preroll_stretches"]; returns the problems:
    a stretch slower than it was thinned to, or with a gap; thinning below
    1 fps, inside the last preroll_full_s, or with preroll_full_s not set."""
    out = []
    problems = []
    stretches = sidecar.get("preroll_stretches")
    if not stretches or not fps:
        return problems
    full_s = (sidecar.get("settings") or {}).get("preroll_full_s")
    nominal = 1000.0 / fps
    for st in stretches:
        a, b, every = st["from_ms"], st["to_ms"], st.get("every", 1)
        ts = [t for t in fm if a <= t <= b]
        set_fps = float(fps) / every
        row = {"from_ms": a, "to_ms": b, "every": every, "fps_set": round(set_fps, 3), "frames": len(ts)}
        where = "pre-roll %+.2f s to %+.2f s" % (a / 1000.0, b / 1000.0)
        if len(ts) > 1 and b > a:
            row["fps"] = round(1000.0 * (len(ts) - 1) / (b - a), 3)
            row["largest_gap_ms"] = max(ts[i + 1] - ts[i] for i in range(len(ts) - 1))
            if row["fps"] < MEAN_FPS_TOLERANCE * set_fps:
                problems.append("frame rate: %s has %.2f fps, below the %.2f fps it was thinned to"
                                % (where, row["fps"], set_fps))
            if row["largest_gap_ms"] > DEFAULT_MAX_GAP_INTERVALS * every * nominal:
                problems.append("gap: %s has no frame for %d ms (%s: limit %d ms)"
                                % (where, row["largest_gap_ms"],
                                   "thinned to every %d" % every if every > 1 else "every frame kept",
                                   DEFAULT_MAX_GAP_INTERVALS * every * nominal))
        if every > 1:
            if full_s is None:
                problems.append("thinning: %s kept every %d frame(s) but preroll_full_s is not set" % (where, every))
            elif b > -full_s * 1000 + GAP_FACTOR * nominal:
                problems.append("thinning: %s kept every %d frame(s), inside the last %d s before the press "
                                "that preroll_full_s keeps whole" % (where, every, full_s))
            if set_fps < 1:
                problems.append("thinning: %s was thinned to %.2f fps, below the 1 fps floor" % (where, set_fps))
        out.append(row)
    rep["preroll_stretches"] = out
    return problems


# --- losses the device reported (power cuts, drops) ------------------------

POWER_CUT_PREROLL = "pre-roll lost to a power cut before it reached the card"
# What ended a recording the firmware did not stop itself (firmware/
# evidence.py STOPS, from the chip's reset cause: a brownout reads as a
# power-on reset, a crash as a hard reset).
CUT_REASONS = {"power_loss": "a power cut", "reset": "a reset or crash", "watchdog": "a watchdog reset"}


def _cut_by(sidecar):
    """In words, what cut a recovered clip off ("a power cut", ...), or None."""
    if not sidecar.get("recovered"):
        return None
    return CUT_REASONS.get((sidecar.get("stop") or {}).get("reason"))


def _preroll_lost_text(sidecar):
    by = _cut_by(sidecar)
    return POWER_CUT_PREROLL if by == "a power cut" else "pre-roll lost to %s before it reached the card" % by


def _no_frames_reason(sidecar):
    # A clip rebuilt after a power cut with no frames: the press (and what
    # the clip was) reached the card, the pre-roll did not.
    if _cut_by(sidecar):
        return "%s: the press was recorded, then %s came before any frame was on the card" % (
            _preroll_lost_text(sidecar), _cut_by(sidecar))
    return "the clip has no frames"


def _preroll_cut_note(sidecar, pre):
    # A recovered clip whose pre-roll is short: the part missing is the part
    # the power cut caught in RAM (the pre-roll is written newest first, so
    # what is missing is its oldest part, or a stretch in its middle).
    if _cut_by(sidecar):
        return " (the rest: %s)" % _preroll_lost_text(sidecar)
    return ""


def _lost_gap_note(sidecar, a, b):
    # A gap between two kept frames that the recovery's record of pre-roll
    # frames lost to the cut (preroll_lost, recover.py) fills exactly.
    lost = sidecar.get("preroll_lost") if sidecar.get("recovered") else None
    if lost and a < lost["from_ms"] and lost["to_ms"] < b:
        return ": %d frames from %+.2f s to %+.2f s, %s" % (
            lost["frames"], lost["from_ms"] / 1000.0, lost["to_ms"] / 1000.0, _preroll_lost_text(sidecar))
    return ""


def press_window(fm, interval_ms):
    """[-ms, +ms]: how far back from the press and forward from it a clip's
    frame times (ms from the press) reach without a gap (no two frames more
    than 1.5 intervals apart, counting the press itself): the moments
    nearest the press that a power cut left in a clip."""
    gap = interval_ms * 3 // 2
    pre = [t for t in fm if t < 0]
    live = [t for t in fm if t >= 0]
    back = 0
    if pre and -pre[-1] <= gap:
        back = -pre[-1]
        for x, y in zip(reversed(pre[:-1]), reversed(pre[1:])):
            if y - x > gap:
                break
            back = -x
    ahead = 0
    if live and live[0] <= gap:
        ahead = live[0]
        for x, y in zip(live, live[1:]):
            if y - x > gap:
                break
            ahead = y
    return [-back, ahead]


def press_promise(truth_fm, kept_fm, cut_ms):
    """What bodycam promises of a power cut cut_ms after a press (docs/
    evidence.md): every live frame up to cut_ms - 1000 and every frame of
    the last min(30 s, 2 x cut_ms) before the press is kept. truth_fm: the
    frame times of the clip as it would have been without the cut; kept_fm:
    what the recovered clip holds. Returns the frame times missing (empty:
    the promise held)."""
    kept = set(kept_fm)
    back = min(30000, 2 * cut_ms)
    return [t for t in truth_fm if (-back <= t < 0 or 0 <= t <= cut_ms - 1000) and t not in kept]


def min_frames_in_window(fm, window_ms):
    """(fewest frames captured in any window_ms-long window [s, s+window_ms)
    that lies within the clip, its start s), or None if the clip is shorter.
    Times are whole ms. Sliding a window's start forward only loses frames
    when it passes a frame, so the emptiest windows start at the first
    frame or 1 ms after some frame: only those starts are tried."""
    n = len(fm)
    if n < 2 or fm[-1] - fm[0] < window_ms:
        return None
    last_start = fm[-1] - window_ms
    best = None
    i = 0  # first frame at or after s
    j = 0  # first frame at or after s + window_ms
    for k in range(-1, n):
        s = fm[0] if k < 0 else fm[k] + 1
        if s > last_start:
            break
        while i < n and fm[i] < s:
            i += 1
        end = s + window_ms
        if j < i:
            j = i
        while j < n and fm[j] < end:
            j += 1
        c = j - i
        if best is None or c < best[0]:
            best = (c, s)
    return best


def _avi_agreement(rep, sidecar, avi, fm):
    problems = rep["problems"]
    ag = {}
    rep["avi_agreement"] = ag
    if avi is None:
        return
    problems.extend(avi.problems)
    n = len(fm)
    ag["frames_sidecar"] = n
    ag["frames_avi"] = len(avi.frames)
    ag["frames_header"] = avi.header_frames
    ag["frames_index"] = None if avi.index is None else len(avi.index)
    if len(avi.frames) != n:
        problems.append("the AVI holds %d frames but the sidecar lists %d" % (len(avi.frames), n))
    if sidecar.get("frames") is not None and sidecar["frames"] != n:
        problems.append("the sidecar says %d frames but lists %d frame times" % (sidecar["frames"], n))
    if sidecar.get("avi_bytes") is not None and sidecar["avi_bytes"] != avi.size:
        problems.append("the AVI is %d bytes but the sidecar says %d" % (avi.size, sidecar["avi_bytes"]))
    if (sidecar.get("width"), sidecar.get("height")) != (avi.width, avi.height) and avi.width is not None:
        problems.append("the AVI is %sx%s but the sidecar says %sx%s"
                        % (avi.width, avi.height, sidecar.get("width"), sidecar.get("height")))
    want = sidecar.get("frame_ms_sha256")
    if want is not None:
        ag["frame_ms_hash_ok"] = frame_ms_sha256(fm) == want
        if not ag["frame_ms_hash_ok"]:
            problems.append("the frame times do not match their hash in the sidecar (frame_ms edited?)")
    # The AVI plays at one constant rate (the clip's mean interval); its
    # timeline should span the same time as the true capture times.
    us = avi.us_per_frame
    if us and n > 1 and avi.header_frames:
        span = fm[-1] - fm[0]
        avi_span = (n - 1) * us / 1000.0
        ag["us_per_frame"] = us
        ag["avi_span_ms"] = round(avi_span, 3)
        ag["sidecar_span_ms"] = span
        ag["max_offset_ms"] = round(max(abs(i * us / 1000.0 - (fm[i] - fm[0])) for i in range(n)), 3)
        if abs(avi_span - span) > 1 + (n - 1) / 1000.0:
            problems.append("the AVI's timeline lasts %.3f s but the frames were captured over %.3f s"
                            % (avi_span / 1000.0, span / 1000.0))


# --- text report ---------------------------------------------------------

def describe(rep):
    lines = []
    name = rep.get("clip", "clip")
    a = rep.get("avi") or {}
    if "frames" in rep:
        size = "%sx%s" % (rep.get("width"), rep.get("height"))
        span = rep.get("span_ms")
        lines.append("%s: %d frames over %s (%s)" % (name, rep["frames"],
                                                    "%.2f s" % (span / 1000.0) if span is not None else "0 s", size))
    elif a:
        lines.append("%s: %d readable frames in the AVI (no sidecar)" % (name, a.get("frames_readable", 0)))
    else:
        lines.append("%s:" % name)
    c = rep.get("clock")
    if c is not None:
        if c.get("press_utc"):
            s = "press at %s" % c["press_utc"]
            if c.get("last_sync_utc"):
                s += "; clock last synced %s" % c["last_sync_utc"]
                if c.get("sync_offset_ms") is not None:
                    s += " (corrected by %+d ms)" % c["sync_offset_ms"]
            lines.append("  clock:            " + s)
        elif c.get("ever_set") or c.get("last_sync_utc"):
            lines.append("  clock:            not set at the press (last synced %s, lost since, e.g. by a power "
                         "cycle): UTC times unknown" % (c.get("last_sync_utc") or "at an unknown time"))
        else:
            lines.append("  clock:            never set on this device before the press: UTC times unknown")
    t = rep.get("targets") or {}
    if "preroll_ms" in rep:
        need = t.get("preroll_ms")
        lines.append("  pre-roll kept:    %.2f s before the press (%d frames)%s" % (
            rep["preroll_ms"] / 1000.0, rep["preroll_frames"],
            "; %.2f s required" % (need / 1000.0) if need else ""))
    if rep.get("fps_mean") is not None:
        s = "%.2f fps mean" % rep["fps_mean"]
        if rep.get("fps_min_1s") is not None:
            s += ", %d in the slowest 1 s window (from %+.2f s)" % (rep["fps_min_1s"], rep["fps_min_1s_at_ms"] / 1000.0)
        if t.get("fps"):
            s += "; %d fps set" % t["fps"]
        lines.append("  frame rate:       " + s)
    for st in rep.get("preroll_stretches") or []:
        lines.append("  pre-roll stretch: %+.2f s to %+.2f s: %s fps (every %s), %d frames%s" % (
            st["from_ms"] / 1000.0, st["to_ms"] / 1000.0, "%.2f" % st["fps"] if "fps" in st else "-",
            "frame" if st["every"] == 1 else "%d%s" % (st["every"], "nd" if st["every"] == 2 else "th"),
            st["frames"], "; %.2f fps set" % st["fps_set"] if st["every"] > 1 else ""))
    iv = rep.get("interval_ms")
    if iv:
        g = rep["largest_gap"]
        s = "%.1f ms mean, jitter %.1f ms (std dev), largest gap %d ms (%+.2f s to %+.2f s)" % (
            iv["mean"], iv["jitter_std"], g["ms"], g["from_ms"] / 1000.0, g["to_ms"] / 1000.0)
        if t.get("max_gap_ms") is not None:
            s += "; limit %d ms" % t["max_gap_ms"]
        lines.append("  intervals:        " + s)
    if "dropped" in rep and rep["dropped"] is None:
        lines.append("  dropped frames:   unknown (the device's counters were lost with the power)")
    if "dropped" in rep and rep["dropped"] is not None:
        d = rep["dropped"]
        s = "%d by the device (%s)" % (rep.get("dropped_total", 0),
                                       ", ".join("%s %d" % (k.replace("_", " "), v) for k, v in sorted(d.items())))
        if rep.get("gaps") is not None:
            s += "; %d gap(s) in the frame times, ~%d frames missing" % (rep["gaps"], rep["missing_frames_est"])
        lines.append("  dropped frames:   " + s)
    if rep.get("press_to_first_live_ms") is not None:
        lines.append("  press -> first live frame: %d ms" % rep["press_to_first_live_ms"])
    if rep.get("markers"):
        lines.append("  markers:          " + ", ".join("%+.2f s" % (m["ms"] / 1000.0) for m in rep["markers"]))
    st = rep.get("stop")
    if st:
        lines.append("  stopped by:       %s%s at %+.2f s" % (
            st.get("reason"), " (%s)" % st["cause"] if st.get("cause") else "", st.get("ms", 0) / 1000.0))
    ag = rep.get("avi_agreement") or {}
    if ag:
        s = "AVI %d frames, sidecar %d, header %s, index %s" % (
            ag["frames_avi"], ag["frames_sidecar"], ag["frames_header"], ag["frames_index"])
        if "avi_span_ms" in ag:
            s += "; AVI timeline %.3f s vs captured %.3f s (frames off their true time by up to %.0f ms)" % (
                ag["avi_span_ms"] / 1000.0, ag["sidecar_span_ms"] / 1000.0, ag["max_offset_ms"])
        lines.append("  AVI vs sidecar:   " + s)
    for note in rep.get("notes", []):
        lines.append("  note: " + note)
    if rep["problems"]:
        lines.append("verdict: FAILS (%d problem%s):" % (len(rep["problems"]), "" if len(rep["problems"]) == 1 else "s"))
        lines.extend("  - " + p for p in rep["problems"])
    else:
        lines.append("verdict: meets its targets")
    return "\n".join(lines)
