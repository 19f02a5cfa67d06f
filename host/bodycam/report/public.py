"""--public: the version for a community panel. Totals by team and week
only; no officer, device or clip ids and no hashes of clips; a cell with
fewer than MIN_OFFICERS officers or MIN_RECORDINGS recordings is
suppressed. Only team-week cells are shown, no row or column totals: a
total next to one suppressed cell would give it away by subtraction.
Printed: the thresholds, the tool version, a SHA-256 of the inputs and a
plain-language note on method."""
import csv
from html import escape

from bodycam.report.html import CSS
from bodycam.report.timefmt import iso

MIN_OFFICERS = 5
MIN_RECORDINGS = 10
SUPPRESSED = "suppressed"
COLUMNS = (
    ("officers", "officers"), ("recordings", "recordings"), ("recorded_hours", "hours recorded"),
    ("median_length_s", "median length (s)"), ("markers_per_recording", "markers per recording"),
    ("preroll_short_pct", "short pre-roll (%)"), ("officer_stops", "stopped by the officer"),
    ("equipment_stops", "stopped by the equipment"), ("stop_restart_pct", "stop then restart (%)"),
    ("before_first_sync", "recorded before the clock was set"), ("unrecovered", "unrecovered after power loss"),
    ("never_offloaded", "never offloaded"), ("median_offload_hours", "median hours to offload"))


def cells(rep):
    """[{team, week, ...}] one per team-week, suppressed cells marked."""
    out = []
    for (team, week), row in rep.by_team_week.items():
        if team == "(unassigned)" or week == "(time unknown)" or not row["recordings"]:
            continue
        n_off = len(rep.officers_by_team_week.get((team, week), ()))
        c = {"team": team, "week": week}
        if n_off < MIN_OFFICERS or row["recordings"] < MIN_RECORDINGS:
            c.update({k: SUPPRESSED for k, _ in COLUMNS})
            c["suppressed"] = True
        else:
            n = row["recordings"]
            c.update({k: row.get(k) for k, _ in COLUMNS})
            c["officers"] = n_off
            c["preroll_short_pct"] = round(100.0 * row["preroll_short"] / n, 1)
            c["stop_restart_pct"] = round(100.0 * row["stop_restart"] / n, 1)
            c["suppressed"] = False
        out.append(c)
    return out


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["team", "week"] + [k for k, _ in COLUMNS])
        for c in rows:
            w.writerow([c["team"], c["week"]] + [c[k] if c[k] is not None else "" for k, _ in COLUMNS])
    return path


METHOD = (
    "This summary counts what the body cameras themselves logged. Every camera keeps a tamper-evident log "
    "(each entry is chained to the one before and signed with the camera's own key) of when recording started "
    "and stopped and why, and seals every video with its fingerprint. Before anything was counted, every log "
    "and every video's fingerprint was checked; the line at the top says whether they all held. Nothing here "
    "comes from looking at the videos. Counts are per team and ISO week. To protect the people involved, a "
    "team-week with fewer than %d officers or fewer than %d recordings is not shown, and no totals are given "
    "beside the cells (they could reveal a hidden cell). A short pre-roll means the camera kept less than its "
    "set time from before the button press. A stop then restart means an officer stopped a recording and "
    "started another within %d minutes, which reviewers may want to ask about; it is not a finding of "
    "wrongdoing. Stops caused by the equipment (a full card, a power cut) are counted apart and never against "
    "an officer.")


def page(rep, rows):
    o = rep.opts
    bad = rep.failed
    n = len(rep.integrity)
    if bad:
        banner = ('<div class="banner bad" id="integrity">Integrity: %d of %d camera logs could NOT be verified. '
                  'The supervisors\' report names them; the counts below include what they hold.</div>'
                  % (len(bad), n))
    else:
        banner = '<div class="banner ok" id="integrity">Integrity: all %d camera logs verified.</div>' % n
    head = "".join('<th>%s</th>' % escape(name) for _, name in COLUMNS)
    body = []
    for c in rows:
        if c["suppressed"]:
            body.append('<tr class="suppressed"><td class="l">%s</td><td class="l">%s</td><td colspan="%d" class="l">'
                        'suppressed: fewer than %d officers or %d recordings</td></tr>'
                        % (escape(c["team"]), escape(c["week"]), len(COLUMNS), MIN_OFFICERS, MIN_RECORDINGS))
        else:
            body.append('<tr><td class="l">%s</td><td class="l">%s</td>%s</tr>'
                        % (escape(c["team"]), escape(c["week"]),
                           "".join("<td>%s</td>" % ("" if c[k] is None else escape(str(c[k]))) for k, _ in COLUMNS)))
    w = o.window or (None, None)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>body camera pilot: public "
            "summary</title><style>%s</style></head><body><main><h1>Body camera pilot: public summary</h1>"
            '<p class="meta">Made by bodycam %s on %s. Period: %s to %s. Suppression: fewer than %d officers or '
            '%d recordings in a team-week. SHA-256 of the inputs (%d files): <code>%s</code>.</p>%s'
            '<div class="scroll"><table><thead><tr><th class="l">team</th><th class="l">week</th>%s</tr></thead>'
            '<tbody>%s</tbody></table></div><h2>How this was made</h2><p class="note">%s</p></main></body></html>'
            % (CSS, escape(rep.version), iso(rep.generated_ms), iso(w[0]) or "the start", iso(w[1]) or "the end",
               MIN_OFFICERS, MIN_RECORDINGS, rep.inputs_count, rep.inputs_sha256, banner, head, "".join(body),
               escape(METHOD % (MIN_OFFICERS, MIN_RECORDINGS, o.restart_min))))
