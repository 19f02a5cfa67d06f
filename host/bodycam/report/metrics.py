"""What the report counts, per camera, officer, team and week (each
metric is defined in docs/report.md). annotate() adds to every recording
what depends on more than the recording itself (its holder, its week,
whether its pre-roll was short, whether a stop was followed by a
restart); table() sums recordings and sessions into rows."""
import datetime
import statistics

from bodycam.report.trail import CUT_STOPS, EQUIPMENT_STOPS, OFFICER_STOPS

UNASSIGNED = "(unassigned)"
UNKNOWN = "(time unknown)"
STOP_REASONS = ("hold", "storage", "memory", "power_loss", "reset", "watchdog", "interrupt")


def week_of(utc_ms):
    if utc_ms is None:
        return UNKNOWN
    y, w, _ = datetime.datetime.fromtimestamp(utc_ms / 1000, datetime.timezone.utc).isocalendar()
    return "%04d-W%02d" % (y, w)


def day_of(utc_ms):
    return datetime.datetime.fromtimestamp(utc_ms / 1000, datetime.timezone.utc).date().isoformat()


def annotate(trails, roster=None, restart_min=5):
    """Per recording: officer, team, week, short pre-roll (and whether the
    camera had been on less than the pre-roll), stop by whom, a restart
    within restart_min minutes of an officer's stop."""
    for t in trails:
        recs = t["recordings"]
        for r in recs:
            h = roster.holder(t["device"], r["press_utc"]) if roster else None
            r["officer"] = h["officer"] if h else UNASSIGNED
            r["team"] = h["team"] if h else UNASSIGNED
            r["week"] = week_of(r["press_utc"])
            cfg = r["preroll_cfg_ms"]
            tol = 1000 // r["fps"] if r["fps"] else 0  # one frame interval
            if r["preroll_ms"] is not None:
                r["short_preroll"] = cfg > 0 and r["preroll_ms"] < cfg - tol
            else:
                r["short_preroll"] = cfg > 0 and r["since_boot_ms"] < cfg
            r["switched_on_late"] = r["short_preroll"] and r["since_boot_ms"] < cfg
            r["stop_by"] = ("officer" if r["stop"] in OFFICER_STOPS else
                            "equipment" if r["stop"] in EQUIPMENT_STOPS else None)
            r["unrecovered"] = r["stop"] in CUT_STOPS and not r["recovered"] and not r["sealed"]
            r["restart_after_ms"] = None
        for a, b in zip(recs, recs[1:]):
            if a["stop"] not in OFFICER_STOPS:
                continue
            gap = None
            if a["session"] == b["session"] and a["stop_t"] is not None:
                gap = b["press_t"] - a["stop_t"]
            elif a["end_utc"] is not None and b["press_utc"] is not None:
                gap = b["press_utc"] - a["end_utc"]
            if gap is not None and 0 <= gap <= restart_min * 60000:
                b["restart_after_ms"] = gap
        for s in t["sessions"]:
            h = roster.holder(t["device"], s["start_utc"]) if roster else None
            s["officer"] = h["officer"] if h else UNASSIGNED
            s["team"] = h["team"] if h else UNASSIGNED
            s["week"] = week_of(s["start_utc"])
        for c in t["clock_sets"]:
            c["week"] = week_of(c["utc"])


def in_window(utc_ms, window):
    lo, hi = window or (None, None)
    if lo is None and hi is None:
        return True
    if utc_ms is None:
        return False
    return (lo is None or utc_ms >= lo) and (hi is None or utc_ms < hi)


def _median(xs):
    return statistics.median(xs) if xs else None


def row(recs, sessions=(), clock_sets=(), deletes=(), now_ms=None, policy_days=None):
    """One table row from recordings (and the sessions, clock sets and
    deletes that belong to the same camera/officer/team/week)."""
    lengths = [r["length_ms"] for r in recs if r["length_ms"] is not None]
    off = [r["offload_utc"] - r["end_utc"] for r in recs if r["offload_utc"] is not None and r["end_utc"] is not None]
    corr = [c["offset_ms"] for c in clock_sets if c["offset_ms"]]
    out = {
        "on_hours": round(sum(s["on_ms"] for s in sessions) / 3600000.0, 1),
        "recordings": len(recs),
        "recorded_hours": round(sum(lengths) / 3600000.0, 2),
        "median_length_s": None if not lengths else round(_median(lengths) / 1000.0, 1),
        "markers_per_recording": None if not recs else round(sum(r["markers"] for r in recs) / len(recs), 2),
        "preroll_short": sum(1 for r in recs if r["short_preroll"]),
        "preroll_short_switched_on_late": sum(1 for r in recs if r["switched_on_late"]),
        "median_preroll_s": _round_s(_median([r["preroll_ms"] for r in recs if r["preroll_ms"] is not None])),
        "officer_stops": sum(1 for r in recs if r["stop_by"] == "officer"),
        "equipment_stops": sum(1 for r in recs if r["stop_by"] == "equipment"),
    }
    for reason in STOP_REASONS:
        out["stops_" + reason] = sum(1 for r in recs if r["stop"] == reason)
    out["stops_unknown"] = sum(1 for r in recs if r["stop"] not in STOP_REASONS)
    out.update({
        "stop_restart": sum(1 for r in recs if r["restart_after_ms"] is not None),
        "dropped_frames": sum(r["dropped"] or 0 for r in recs),
        "clock_corrections": len(corr),
        "clock_largest_correction_s": _round_s(max(corr, key=abs)) if corr else None,
        "before_first_sync": sum(1 for r in recs if not r["clock_set"]),
        "unrecovered": sum(1 for r in recs if r["unrecovered"]),
        "offloaded": sum(1 for r in recs if r["offloaded"]),
        "never_offloaded": sum(1 for r in recs if not r["offloaded"] and r["sealed"]),
        "median_offload_hours": None if not off else round(_median(off) / 3600000.0, 1),
        "deletes_without_verified_copy": sum(1 for d in deletes if not d["verified_copy"]),
    })
    out.update(retention(recs, now_ms, policy_days))
    return out


def _round_s(ms):
    return None if ms is None else round(ms / 1000.0, 1)


def retention(recs, now_ms, policy_days):
    """Locks of the recordings' AVIs in the store (store sources only)."""
    held = [r["lock"] for r in recs if r.get("lock") is not None]
    out = {"in_store": len(held), "no_lock": 0, "past_retention": 0, "lock_short": 0, "lock_long": 0}
    for lk in held:
        status = lock_status(lk, now_ms, policy_days)
        if status:
            out[status] += 1
    return out


def lock_status(lk, now_ms, policy_days, slack_ms=86400000):
    """'no_lock', 'past_retention', 'lock_short', 'lock_long' or None."""
    if lk.get("lock") is None or lk.get("retain_until_ms") is None:
        return "no_lock"
    if now_ms is not None and lk["retain_until_ms"] < now_ms:
        return "past_retention"
    if policy_days and lk.get("stored_ms") is not None:
        held = lk["retain_until_ms"] - lk["stored_ms"]
        want = policy_days * 86400000
        if held < want - slack_ms:
            return "lock_short"
        if held > want + slack_ms:
            return "lock_long"
    return None


def table(trails, key, window=None, now_ms=None, policy_days=None):
    """{group: row} grouping every recording (and session, clock set,
    delete) by key(kind, item, trail)."""
    groups = {}

    def g(k):
        return groups.setdefault(k, {"recs": [], "sessions": [], "clock": [], "deletes": []})

    for t in trails:
        for r in t["recordings"]:
            if in_window(r["press_utc"], window):
                g(key("rec", r, t))["recs"].append(r)
        for s in t["sessions"]:
            if in_window(s["start_utc"], window):
                g(key("session", s, t))["sessions"].append(s)
        for c in t["clock_sets"]:
            if in_window(c["utc"], window):
                g(key("clock", c, t))["clock"].append(c)
        for d in t["deletes"]:
            if in_window(d["utc"], window):
                g(key("delete", d, t))["deletes"].append(d)
    return {k: row(v["recs"], v["sessions"], v["clock"], v["deletes"], now_ms, policy_days)
            for k, v in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in _tuple(kv[0])))}


def _tuple(k):
    return k if isinstance(k, tuple) else (k,)


def by_camera(kind, item, trail):
    return trail["key"]


def _by_roster(field):
    """Group by the roster's field (officer or team) of whoever held the camera."""
    def key(kind, item, trail):
        return item.get(field, UNASSIGNED) if kind in ("rec", "session") else _holder_of(item, trail, field)
    return key


by_officer = _by_roster("officer")
by_team = _by_roster("team")


def by_team_week(kind, item, trail):
    return (by_team(kind, item, trail), item.get("week") or week_of(item.get("utc")))


def by_week(kind, item, trail):
    return item.get("week") or week_of(item.get("utc"))


def _holder_of(item, trail, field="officer"):
    # clock sets and deletes: whoever held the camera then (from the recordings' roster lookups)
    roster = trail.get("_roster")
    h = roster.holder(trail["device"], item.get("utc")) if roster else None
    return h[field] if h else UNASSIGNED
