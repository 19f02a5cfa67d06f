"""Flags: each one a prompt for a supervisor to look at something, never a
verdict about an officer. `critical` is about the evidence itself (an
integrity failure, a delete with no verified copy); `review` asks a
question (why was the recording stopped and restarted?); `note` is
context (an equipment stop, which never counts against an officer)."""
from bodycam.report.metrics import UNASSIGNED, in_window, lock_status

SEVERITIES = ("critical", "review", "note")
BIG_CLOCK_STEP_MS = 60000  # a correction this large makes the clips before it worth a look


def _flag(sev, kind, t, text, r=None, utc=None):
    return {"severity": sev, "kind": kind, "camera": t["key"], "device": t["device"],
            "clip": (r or {}).get("clip"), "officer": (r or {}).get("officer"),
            "utc": utc if utc is not None else (r or {}).get("press_utc"), "text": text}


def _s(ms):
    return "%.0f s" % (ms / 1000.0) if abs(ms) < 120000 else "%.1f min" % (ms / 60000.0)


def collect(trails, roster=None, window=None, restart_min=5, now_ms=None, policy_days=None):
    out = []
    for t in trails:
        i = t["integrity"]
        if i["verdict"] != "VERIFIED":
            out.append(_flag("critical" if i["verdict"] == "FAILED" else "review", "integrity", t,
                             "%s: %s. %s" % (i["source"], i["verdict"], "; ".join(i["problems"][:5])), utc=0))
        for d in t["deletes"]:
            if not d["verified_copy"] and in_window(d["utc"], window):
                out.append(_flag("critical", "delete_without_copy", t,
                                 "the camera deleted %s but no verified copy of those bytes is in the sources"
                                 % (d.get("file") or d.get("clip")), {"clip": d.get("clip")}, d["utc"]))
        for r in t["recordings"]:
            if in_window(r["press_utc"], window):
                out.extend(_recording_flags(t, r, roster, restart_min, now_ms, policy_days))
        for c in t["clock_sets"]:
            if c["offset_ms"] and in_window(c["utc"], window):
                big = abs(c["offset_ms"]) >= BIG_CLOCK_STEP_MS
                out.append(_flag("review" if big else "note", "clock_correction", t,
                                 "clock put %s by %s (it was %s): times logged since the previous sync may be off "
                                 "by that much" % ("forward" if c["offset_ms"] > 0 else "back", _s(abs(c["offset_ms"])),
                                                   "behind" if c["offset_ms"] > 0 else "ahead"), utc=c["utc"]))
        if t.get("duplicate_of"):
            out.append(_flag("review", "two_trails_one_device", t,
                             "%s and %s both hold device %s with different audit logs: two cameras with one "
                             "device key, or a camera set up again; counted apart"
                             % (t["duplicate_of"], t["label"], t["device"]), utc=0))
    if roster is not None:
        for a, b in roster.overlaps():
            out.append({"severity": "review", "kind": "roster_overlap", "camera": a["device"], "device": a["device"],
                        "clip": None, "officer": None, "utc": b["from_ms"],
                        "text": "the roster gives %s to %s (line %d) and %s (line %d) at once"
                                % (a["device"], a["officer"], a["line"], b["officer"], b["line"])})
    out.sort(key=lambda f: (SEVERITIES.index(f["severity"]), f["kind"] != "integrity", f["kind"], f["camera"] or "",
                            f["utc"] or 0))
    return out


def _recording_flags(t, r, roster, restart_min, now_ms, policy_days):
    out = []
    name = r["clip"]
    if r["restart_after_ms"] is not None:
        out.append(_flag("review", "stop_restart", t, "%s started %s after the officer stopped the recording "
                         "before it (within %d min): was the stop during an incident?"
                         % (name, _s(r["restart_after_ms"]), restart_min), r))
    if r["switched_on_late"]:
        out.append(_flag("review", "short_preroll", t, "%s kept %s of pre-roll (%s set): the camera had been on "
                         "only %s before the press" % (name, _s(r["preroll_ms"] or 0) if r["preroll_ms"] is not None
                                                        else "less", _s(r["preroll_cfg_ms"]), _s(r["since_boot_ms"])), r))
    elif r["short_preroll"]:
        out.append(_flag("note", "short_preroll", t, "%s kept %s of pre-roll (%s set)"
                         % (name, _s(r["preroll_ms"] or 0), _s(r["preroll_cfg_ms"])), r))
    if r["unrecovered"]:
        out.append(_flag("review", "unrecovered", t, "%s was cut off by a power loss and no clip was rebuilt "
                         "from it" % name, r))
    elif r["stop_by"] == "equipment":
        out.append(_flag("note", "equipment_stop", t, "%s stopped by the equipment (%s), not by the officer"
                         % (name, r["stop"]), r))
    if r["stop"] is None and r["sealed"]:
        out.append(_flag("review", "no_stop", t, "%s has no recorded stop" % name, r))
    if not r["offloaded"] and r["sealed"]:
        out.append(_flag("review", "never_offloaded", t, "%s was never offloaded: it is only on the camera" % name, r))
    if not r["clock_set"]:
        out.append(_flag("note", "before_first_sync", t, "%s was recorded before the clock was set after a boot "
                         "(%s)" % (name, "time inferred from the next sync" if r["utc_from"] == "inferred"
                                   else "time unknown"), r))
    if r["dropped"]:
        out.append(_flag("note", "dropped_frames", t, "%s dropped %d frame(s)" % (name, r["dropped"]), r))
    if roster is not None and r["officer"] == UNASSIGNED:
        out.append(_flag("review", "unassigned", t, "%s was recorded when the roster gives the camera to nobody"
                         % name, r))
    lk = r.get("lock")
    if lk is not None:
        st = lock_status(lk, now_ms, policy_days)
        if st:
            out.append(_flag("review", st, t, "%s in the store: %s" % (name, {
                "no_lock": "no Object Lock retention",
                "past_retention": "past its retention date (kept longer than the lock asks: review disposal)",
                "lock_short": "locked for less than the %s-day policy" % policy_days,
                "lock_long": "locked for longer than the %s-day policy" % policy_days}[st]), r))
    return out
