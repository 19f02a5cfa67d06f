"""The CSVs for a spreadsheet: recordings, flags, by_officer, by_camera,
integrity (and sample.csv with --sample)."""
import csv
import os

from bodycam.report.timefmt import iso

RECORDING_COLUMNS = ("camera", "device", "clip", "seq", "officer", "team", "week", "press_utc", "utc_from",
                     "length_s", "preroll_s", "preroll_set_s", "short_preroll", "switched_on_late", "markers",
                     "stop", "stop_by", "restart_after_s", "dropped_frames", "recovered", "unrecovered",
                     "clock_set", "offloaded", "offload_utc", "in_source", "copy_verified", "avi_sha256")


def recording_row(t, r):
    return {"camera": t["key"], "device": r["device"], "clip": r["clip"], "seq": r.get("seq"),
            "officer": r["officer"], "team": r["team"], "week": r["week"], "press_utc": iso(r["press_utc"]),
            "utc_from": r["utc_from"] or "", "length_s": _s(r["length_ms"]), "preroll_s": _s(r["preroll_ms"]),
            "preroll_set_s": _s(r["preroll_cfg_ms"]), "short_preroll": r["short_preroll"],
            "switched_on_late": r["switched_on_late"], "markers": r["markers"], "stop": r["stop"] or "",
            "stop_by": r["stop_by"] or "", "restart_after_s": _s(r["restart_after_ms"]),
            "dropped_frames": r["dropped"] if r["dropped"] is not None else "", "recovered": r["recovered"],
            "unrecovered": r["unrecovered"], "clock_set": r["clock_set"], "offloaded": r["offloaded"],
            "offload_utc": iso(r["offload_utc"]), "in_source": r["in_source"], "copy_verified": r["copy_ok"],
            "avi_sha256": r.get("avi_sha256") or ""}


def _s(ms):
    return "" if ms is None else "%.1f" % (ms / 1000.0)


def write(path, columns, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return path


def write_table(path, first, table):
    """A metrics table ({group: row}) with the group in the first column(s)."""
    firsts = first if isinstance(first, tuple) else (first,)
    rows = []
    cols = list(firsts)
    for k, v in table.items():
        ks = k if isinstance(k, tuple) else (k,)
        d = dict(zip(firsts, ks))
        d.update(v)
        rows.append(d)
        for c in v:
            if c not in cols:
                cols.append(c)
    return write(path, cols, rows)


def write_all(out, rep):
    paths = []
    recs = (recording_row(t, r) for t in rep.trails for r in t["recordings"] if rep.in_window(r))  # streamed
    paths.append(write(os.path.join(out, "recordings.csv"), RECORDING_COLUMNS, recs))
    flag_rows = [dict(f, utc=iso(f["utc"]) if f["utc"] else "") for f in rep.flags]
    paths.append(write(os.path.join(out, "flags.csv"),
                       ("severity", "kind", "camera", "device", "clip", "officer", "utc", "text"), flag_rows))
    paths.append(write_table(os.path.join(out, "by_officer.csv"), "officer", rep.by_officer))
    paths.append(write_table(os.path.join(out, "by_camera.csv"), "camera", rep.by_camera))
    paths.append(write(os.path.join(out, "integrity.csv"),
                       ("source", "device", "verdict", "clips", "entries", "problems", "notes"),
                       [dict(i, device=d, problems=" | ".join(i["problems"]), notes=" | ".join(i["notes"]))
                        for d, i in rep.integrity]))
    if rep.sample is not None:
        paths.append(write(os.path.join(out, "sample.csv"), RECORDING_COLUMNS,
                           [recording_row(rep.trail_of(r), r) for r in rep.sample]))
    return paths
