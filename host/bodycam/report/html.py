"""report.html for supervisors: one self-contained file (inline CSS and
SVG, no script, no fonts, images or links to fetch), readable from a USB
stick. Tables list groups in name order, never ranked: the page holds no
league table and no composite score."""
from html import escape

from bodycam.report import timeline
from bodycam.report.build import STOP_NAMES
from bodycam.report.timefmt import iso, short

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;margin:0;background:#f9fafb}
main{padding:16px 24px;max-width:1600px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d1d5db}
.meta{color:#4b5563;font-size:12px}.meta code{font-size:11px}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}
.ok{background:#dcfce7;border:1px solid #16a34a}.bad{background:#fee2e2;border:1px solid #dc2626}
.warn{background:#fef9c3;border:1px solid #ca8a04}
.note{background:#eff6ff;border:1px solid #93c5fd;padding:8px 12px;border-radius:6px}
table{border-collapse:collapse;font-size:12px;margin:6px 0;background:#fff}
th,td{border:1px solid #e5e7eb;padding:3px 6px;text-align:right;white-space:nowrap}
th{background:#f3f4f6;position:sticky;top:0}td.l,th.l{text-align:left;white-space:normal}
.scroll{overflow:auto;max-height:520px;border:1px solid #e5e7eb}
.sev-critical{color:#b91c1c;font-weight:700}.sev-review{color:#92400e}.sev-note{color:#4b5563}
.tl{overflow-x:auto;border:1px solid #e5e7eb;background:#fff}
svg.timeline text{font:11px system-ui,sans-serif;fill:#374151}
svg.timeline .grid{stroke:#f3f4f6}svg.timeline .sep{stroke:#f3f4f6}
svg.timeline .on{fill:#e5e7eb}svg.timeline .marker{stroke:#111827;stroke-width:1.5}
svg.timeline .offload{fill:#059669}svg.timeline .clock{stroke:#dc2626;stroke-width:2}
.key span{display:inline-block;margin-right:14px}.sw{display:inline-block;width:12px;height:10px;margin-right:4px}
"""

COLUMNS = (
    ("on_hours", "powered on (h)"), ("recordings", "recordings"), ("recorded_hours", "recorded (h)"),
    ("median_length_s", "median length (s)"), ("markers_per_recording", "markers / rec."),
    ("median_preroll_s", "median pre-roll (s)"), ("preroll_short", "short pre-roll"),
    ("preroll_short_switched_on_late", "of which switched on late"), ("officer_stops", "officer stops (hold)"),
    ("equipment_stops", "equipment stops"), ("stops_storage", "storage"), ("stops_memory", "memory"),
    ("stops_power_loss", "power loss / brownout"), ("stops_reset", "reset / crash"),
    ("stops_watchdog", "watchdog"), ("stops_interrupt", "interrupt"),
    ("stop_restart", "stop then restart"), ("dropped_frames", "dropped frames"),
    ("clock_corrections", "clock corrections"), ("clock_largest_correction_s", "largest (s)"),
    ("before_first_sync", "before first sync"), ("unrecovered", "unrecovered"),
    ("never_offloaded", "never offloaded"), ("median_offload_hours", "median to offload (h)"),
    ("deletes_without_verified_copy", "deletes w/o verified copy"), ("in_store", "in store"),
    ("no_lock", "no lock"), ("past_retention", "past retention"), ("lock_short", "lock short"),
    ("lock_long", "lock long"))


def _cell(v):
    return "" if v is None else escape(str(v))


def metrics_table(title, table, first):
    if not table:
        return ""
    cols = [(k, n) for k, n in COLUMNS if any(row.get(k) for row in table.values()) or k == "recordings"]
    out = ['<div class="scroll"><table><thead><tr><th class="l">%s</th>' % escape(first)]
    out += ['<th>%s</th>' % escape(n) for _, n in cols]
    out.append("</tr></thead><tbody>")
    for k, row in table.items():
        label = " · ".join(str(x) for x in k) if isinstance(k, tuple) else str(k)
        out.append('<tr><td class="l">%s</td>%s</tr>' % (escape(label), "".join("<td>%s</td>" % _cell(row.get(c))
                                                                             for c, _ in cols)))
    out.append("</tbody></table></div>")
    return "<h2>%s</h2>" % escape(title) + "".join(out)


def integrity_banner(rep):
    n = len(rep.integrity)
    bad = rep.failed
    if not bad:
        return ('<div class="banner ok" id="integrity">Integrity: all %d camera trail(s) VERIFIED (hashes, signatures, '
                'the chain across clips and the audit logs hold)</div>' % n)
    items = "".join("<li>%s: <b>%s</b>: %s</li>" % (escape(i["source"]), i["verdict"],
                                                    escape("; ".join(i["problems"][:6])) or "see integrity.csv")
                    for i in bad)
    failed = sum(1 for i in bad if i["verdict"] == "FAILED")
    cls = "bad" if failed else "warn"
    return ('<div class="banner %s" id="integrity">Integrity: %d of %d camera trail(s) NOT verified (%d FAILED). '
            'What they hold is counted below but cannot be relied on until explained.<ul>%s</ul></div>'
            % (cls, len(bad), n, failed, items))


def flags_section(rep):
    by = {"critical": [], "review": [], "note": []}
    for f in rep.flags:
        by[f["severity"]].append(f)
    out = ['<h2 id="flags">Flags</h2><p class="note">Every flag is a prompt to review, not a verdict. A flag asks a '
           'question (what happened here?) that the recording, the officer and the circumstances answer. Stops by '
           'the equipment (storage, memory, power loss or brownout, interrupt) are never counted against an '
           'officer.</p>']
    out.append("<p>%d critical, %d to review, %d notes.</p>" % (len(by["critical"]), len(by["review"]),
                                                               len(by["note"])))
    for sev in ("critical", "review"):
        if by[sev]:
            out.append(_flag_table(by[sev]))
    if by["note"]:
        kinds = {}
        for f in by["note"]:
            kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
        out.append("<details><summary>notes: %s</summary>%s</details>" % (
            escape(", ".join("%s %d" % kv for kv in sorted(kinds.items()))), _flag_table(by["note"])))
    return "".join(out)


def _flag_table(fs):
    rows = "".join('<tr><td class="l sev-%s">%s</td><td class="l">%s</td><td class="l">%s</td><td class="l">%s</td>'
                   '<td class="l">%s</td><td class="l">%s</td></tr>'
                   % (f["severity"], f["severity"], escape(f["kind"]), escape(f["camera"] or ""),
                      escape(f["officer"] or ""), iso(f["utc"]) if f["utc"] else "", escape(f["text"])) for f in fs)
    return ('<div class="scroll"><table><thead><tr><th class="l">severity</th><th class="l">kind</th>'
            '<th class="l">camera</th><th class="l">officer</th><th class="l">when (UTC)</th><th class="l">what</th>'
            '</tr></thead><tbody>%s</tbody></table></div>' % rows)


def legend():
    items = "".join('<span><i class="sw" style="background:%s"></i>%s</span>' % (c, escape(STOP_NAMES[k]))
                    for k, c in timeline.STOP_COLOURS.items())
    return ('<p class="key">%s<span><i class="sw" style="background:#93c5fd"></i>pre-roll (lighter)</span>'
            '<span><i class="sw" style="background:#e5e7eb"></i>powered on</span>'
            '<span><i class="sw" style="background:#059669"></i>offload</span>'
            '<span><i class="sw" style="background:#dc2626;width:3px"></i>clock correction</span>'
            '<span>| marker tick above a recording</span></p>' % items)


def header(rep, title):
    o = rep.opts
    w = o.window or (None, None)
    return ('<h1>%s</h1><p class="meta">Generated %s by bodycam %s from %s. Window: %s to %s. '
            'Inputs: %d files, SHA-256 <code>%s</code>.</p>'
            % (escape(title), iso(rep.generated_ms), escape(rep.version), escape(", ".join(o.sources)),
               iso(w[0]) or "the start", iso(w[1]) or "the end", rep.inputs_count, rep.inputs_sha256))


def page(rep):
    o = rep.opts
    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<meta name=\"viewport\" content=\"width=device-width\"><title>bodycam report</title>",
             "<style>%s</style></head><body><main>" % CSS,
             header(rep, "Body camera review"), integrity_banner(rep)]
    t = rep.totals
    parts.append('<p>%d camera(s), %d recording(s), %.1f h recorded, %d flag(s) to review, %d critical.%s</p>'
                 % (len(rep.trails), t["recordings"], t["recorded_hours"],
                    sum(1 for f in rep.flags if f["severity"] == "review"),
                    sum(1 for f in rep.flags if f["severity"] == "critical"),
                    " %d recording(s) have no known time (recorded after a power cut, never synced) and are "
                    "outside any window." % rep.unknown_time if rep.unknown_time and o.window else ""))
    if rep.roster is None:
        parts.append('<p class="note">No roster given (--roster roster.csv): recordings are counted per camera '
                     'only, not per officer or team.</p>')
    parts.append(flags_section(rep))
    parts.append('<h2 id="timeline">Timeline</h2>' + legend() +
                 '<div class="tl">%s</div>' % timeline.svg(rep.trails, o.window, STOP_NAMES))
    parts.append(metrics_table("By team", rep.by_team, "team"))
    parts.append(metrics_table("By officer", rep.by_officer, "officer"))
    parts.append(metrics_table("By camera", rep.by_camera, "camera"))
    parts.append(metrics_table("By week", rep.by_week, "week (ISO)"))
    if rep.sample is not None:
        parts.append(sample_section(rep))
    parts.append(integrity_table(rep))
    parts.append('<h2>Method</h2><p class="note">Counted from each camera\'s hash-chained audit log and sealed '
                 'clip sidecars, each source verified as <code>bodycam verify</code> does. Definitions of every '
                 'column: docs/report.md in bodycam. Stop then restart: an officer\'s stop followed by a new '
                 'recording on the same camera within %d min. Short pre-roll: less than the configured pre-roll '
                 'kept (less one frame); "switched on late" when the camera had been on less than the pre-roll '
                 'before the press. No picture is read: only hashes of the clips.</p>' % o.restart_min)
    parts.append("</main></body></html>")
    return "".join(parts)


def sample_section(rep):
    rows = "".join('<tr><td class="l">%s</td><td class="l">%s</td><td class="l">%s</td><td class="l">%s</td>'
                   '<td class="l">%s</td></tr>' % (escape(r["officer"]), escape(r["week"]), escape(r["_key"]),
                                                    escape(r["clip"] or ""), short(r["press_utc"]))
                   for r in rep.sample)
    return ('<h2 id="sample">Sample for supervisor review</h2><p>%d recording(s) per officer per week chosen at '
            'random with seed <b>%s</b> (the same seed and sources choose the same recordings: '
            '<code>--sample %d --seed %s</code>).</p><div class="scroll"><table><thead><tr><th class="l">officer</th>'
            '<th class="l">week</th><th class="l">camera</th><th class="l">clip</th><th class="l">pressed</th>'
            '</tr></thead><tbody>%s</tbody></table></div>'
            % (rep.opts.sample_n, rep.opts.seed, rep.opts.sample_n, rep.opts.seed, rows))


def integrity_table(rep):
    rows = "".join('<tr><td class="l">%s</td><td class="l">%s</td><td class="l">%s</td><td>%d</td><td>%d</td>'
                   '<td class="l">%s</td></tr>' % (escape(i["source"]), escape(d or ""), i["verdict"], i["clips"],
                                                   i["entries"], escape("; ".join(i["problems"] + i["notes"][:3])))
                   for d, i in rep.integrity)
    return ('<h2>Integrity, per source</h2><div class="scroll"><table><thead><tr><th class="l">source</th>'
            '<th class="l">device</th><th class="l">verdict</th><th>clips</th><th>audit entries</th>'
            '<th class="l">problems and notes</th></tr></thead><tbody>%s</tbody></table></div>' % rows)
