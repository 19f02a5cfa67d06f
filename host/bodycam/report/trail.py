"""One camera's evidence trail, verified as `bodycam verify` does and read
into plain records the report counts: power-on sessions, recordings,
clock sets, offloads and deletes.

Runs in a worker process per camera (bodycam.report.load): everything
returned is plain dicts and lists, and a camera's clips (their frame
times) are dropped once it has been read, so memory stays flat however
many days the fleet covers.

Times: an audit entry carries device ticks (ms since boot) and the device's
UTC (null while the clock is unset, e.g. after a power cut until the next
dock). Within one boot the ticks are continuous, so an entry logged before
the first sync gets its UTC from the first entry after it that has one
(`utc_from` "inferred"); a session with no clock at all has no UTC.
"""
import datetime
import os

from bodycam.evidence import verify
from bodycam.evidence.hashing import sha256_file

OFFICER_STOPS = ("hold",)
EQUIPMENT_STOPS = ("storage", "memory", "power_loss", "reset", "watchdog", "crash", "interrupt")
# stops the firmware did not make itself: the next boot rebuilds the clip
# (firmware/evidence.py STOPS, from the chip's reset cause)
CUT_STOPS = ("power_loss", "reset", "watchdog")


def parse_utc(s):
    """'2026-03-02T06:20:00.000Z' -> UTC ms, or None."""
    if not isinstance(s, str) or not s.endswith("Z"):
        return None
    try:
        d = datetime.datetime.fromisoformat(s[:-1]).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return int(d.timestamp() * 1000)


def _tdiff(a, b):
    # ticks a - b, as the firmware counts them (30-bit wrap)
    d = (a - b) & 0x3FFFFFFF
    return d - 0x40000000 if d >= 0x20000000 else d


def load(source, keyset):
    """Verify one camera folder and read its trail. Returns a dict."""
    rep = verify.verify_dir(source.folder, keyset)
    t = read_trail(rep)
    t["label"] = source.label
    t["store"] = source.store_objects
    t["integrity"] = integrity_of(rep, source.label)
    return t


def integrity_of(rep, label):
    fails = [f for f in rep.all_findings() if f.level == "fail"]
    unver = [f for f in rep.all_findings() if f.level == "unverified"]
    notes = [f.text for f in rep.all_findings() if f.level == "note"] + list(rep.notes)
    return {"source": label, "verdict": rep.verdict, "clips": len(rep.clips),
            "entries": len(rep.audit.entries) if rep.audit else 0,
            "problems": ["%s: %s" % (f.subject, f.text) for f in fails + unver], "notes": notes}


class _Session:
    def __init__(self, idx, boot):
        self.idx = idx
        self.entries = [boot]
        d = boot.get("d") if isinstance(boot.get("d"), dict) else {}
        self.settings = d.get("settings") if isinstance(d.get("settings"), dict) else {}
        self.device = d.get("device")

    def utc_of(self):
        """{tick: utc ms} for this session's entries: their own UTC, else
        inferred from the nearest later entry that has one."""
        anchor = None
        out = []
        for e in reversed(self.entries):
            u = parse_utc(e.get("utc"))
            t = e.get("t")
            if u is not None and isinstance(t, int):
                anchor = (t, u)
                out.append((u, "device"))
            elif anchor is not None and isinstance(t, int):
                out.append((anchor[1] - _tdiff(anchor[0], t), "inferred"))
            else:
                out.append((None, None))
        out.reverse()
        return out


def read_trail(rep):
    """Sessions, recordings, clock sets, offloads and deletes from a
    verified folder's audit log and sidecars."""
    clips = {c.stem: c for c in rep.clips}
    entries = rep.audit.entries if rep.audit else []
    sessions = []
    cur = None
    for e in entries:
        if e.get("k") == "boot" or cur is None:
            cur = _Session(len(sessions), e)
            sessions.append(cur)
        else:
            cur.entries.append(e)
    device = next((s.device for s in reversed(sessions) if s.device), None)
    if device is None:
        device = next((c.meta.get("device") for c in rep.clips if c.meta and c.meta.get("device")), None)
    recs = {}
    order = []
    clock_sets = []
    offloads = {}
    deletes = []
    drops = []
    out_sessions = []
    for s in sessions:
        times = s.utc_of()
        boot_t = s.entries[0].get("t") if isinstance(s.entries[0].get("t"), int) else 0
        start_utc, start_from = times[0]
        last_t = boot_t
        end_utc = start_utc
        for e, (utc, utc_from) in zip(s.entries, times):
            k = e.get("k")
            d = e.get("d") if isinstance(e.get("d"), dict) else {}
            t = e.get("t") if isinstance(e.get("t"), int) else last_t
            last_t = t
            if utc is not None:
                end_utc = utc
            if k == "record_start":
                name = d.get("clip")
                press_t = d.get("t") if isinstance(d.get("t"), int) else t
                r = {"clip": name, "session": s.idx, "press_t": press_t,
                     "press_utc": None if utc is None else utc - _tdiff(t, press_t),
                     "utc_from": utc_from, "clock_set": e.get("utc") is not None,
                     "since_boot_ms": _tdiff(press_t, boot_t),
                     "preroll_cfg_ms": _int(s.settings.get("preroll_s")) * 1000,
                     "fps": _int(s.settings.get("fps")), "markers": 0, "marker_utc": [], "stop": None, "stop_t": None,
                     "end_utc": None, "sealed": False, "recovered": False}
                recs[name] = r  # the newest recording of that name (a lost clip's name is used again)
                order.append(r)
            elif k == "marker" and d.get("t") is not None:
                r = _open_rec(recs, order, s.idx)
                if r is not None:
                    r["markers"] += 1
                    if utc is not None and isinstance(d.get("t"), int):
                        r["marker_utc"].append(utc - _tdiff(t, d["t"]))
            elif k == "record_stop":
                r = recs.get(d.get("clip"))
                if r is not None and r["stop"] is None:
                    r["stop"] = d.get("reason")
                    if d.get("found_at") != "boot":
                        r["stop_t"] = d.get("t") if isinstance(d.get("t"), int) else t
                        r["end_utc"] = None if utc is None else utc - _tdiff(t, r["stop_t"])
            elif k == "clip_recovered":
                r = recs.get(d.get("clip"))
                if r is not None:
                    r["recovered"] = True
            elif k == "seal":
                r = recs.get(d.get("clip"))
                if r is not None:
                    r["sealed"] = True
                    r["seq"] = d.get("seq")
                    r["avi_sha256"] = d.get("avi_sha256")
            elif k == "clock_set":
                clock_sets.append({"session": s.idx, "utc": parse_utc(d.get("new_utc")),
                                   "offset_ms": d.get("offset_ms") if isinstance(d.get("offset_ms"), int) else None,
                                   "source": d.get("source")})
            elif k == "offload":
                offloads.setdefault(d.get("clip"), utc)
            elif k == "delete":
                deletes.append({"clip": d.get("clip"), "file": d.get("file"), "sha256": d.get("sha256"),
                                "utc": utc})
            elif k == "dropped":
                drops.append(sum(v for v in d.values() if isinstance(v, int)))
        out_sessions.append({"idx": s.idx, "start_utc": start_utc, "end_utc": end_utc, "utc_from": start_from,
                             "on_ms": max(0, _tdiff(last_t, boot_t)),
                             "preroll_cfg_ms": _int(s.settings.get("preroll_s")) * 1000})
    recordings = []
    by_seq = {c.seq: c for c in rep.clips if c.seq is not None}
    sealed_names = {r["clip"] for r in order if r["sealed"]}
    for r in order:
        name = r["clip"]
        if r.get("seq") is not None:
            c = by_seq.get(r["seq"])
        else:  # its seal is not in this copy of the log
            c = clips.get((name or "")[:8]) if name not in sealed_names else None
        _add_sidecar(r, c)
        off = offloads.get(name) if r["sealed"] or r.get("seq") is not None else None
        r["offload_utc"] = off
        r["offloaded"] = off is not None or (name in offloads and r["sealed"])
        r["device"] = device
        recordings.append(r)
    present = {c.stem: c for c in rep.clips if c.meta is not None}
    return {"device": device, "sessions": out_sessions, "recordings": recordings, "clock_sets": clock_sets,
            "deletes": [_match_delete(x, present, rep.dir) for x in deletes], "dropped_log": sum(drops),
            "hashes": compact_hashes(rep.audit.hashes if rep.audit else {})}


def compact_hashes(hashes):
    """The audit entries' hashes as one bytes object, 8 bytes per entry
    (entry n at [8n, 8n+8)): enough to tell whether two verified copies of a
    device's log agree, at a few hundred bytes per recording instead of a
    dict of hex strings (the report's memory stays small as days grow)."""
    n = max(hashes) + 1 if hashes else 0
    out = bytearray(8 * n)
    for i, h in hashes.items():
        if isinstance(i, int) and 0 <= i < n:
            out[8 * i:8 * i + 8] = bytes.fromhex(h[:16])
    return bytes(out)


def _open_rec(recs, order, session):
    if order:
        r = order[-1]
        if r["stop"] is None and r["session"] == session:
            return r
    return None


def _add_sidecar(r, c):
    """Exact facts from the clip's verified sidecar, when the folder holds it."""
    r["in_source"] = c is not None and c.meta is not None
    r["copy_ok"] = r["in_source"] and c.status == "ok"
    r["length_from"] = "log"
    if not r["in_source"]:
        r["preroll_ms"] = None
        r["dropped"] = None
        r["length_ms"] = (_tdiff(r["stop_t"], r["press_t"]) if r["stop_t"] is not None else None)
        return
    m = c.meta
    fm = m.get("frame_ms") if isinstance(m.get("frame_ms"), list) else []
    r["length_from"] = "sidecar"
    r["preroll_ms"] = -fm[0] if fm and fm[0] < 0 else 0
    r["length_ms"] = (fm[-1] - fm[0]) if len(fm) > 1 else 0
    r["live_ms"] = fm[-1] if fm else 0
    dr = m.get("dropped") if isinstance(m.get("dropped"), dict) else {}
    r["dropped"] = sum(v for v in dr.values() if isinstance(v, int))
    r["markers"] = len(m.get("markers") or []) or r["markers"]
    st = m.get("stop") if isinstance(m.get("stop"), dict) else {}
    if r["stop"] is None and st.get("reason"):
        r["stop"] = st.get("reason")
    s = m.get("settings") if isinstance(m.get("settings"), dict) else {}
    if isinstance(s.get("preroll_s"), int):
        r["preroll_cfg_ms"] = s["preroll_s"] * 1000
    r["seq"] = c.seq
    r["avi_sha256"] = m.get("avi_sha256")
    if r["end_utc"] is None and r["press_utc"] is not None and fm:
        r["end_utc"] = r["press_utc"] + fm[-1]  # cut by a power loss: its last whole frame


def _match_delete(x, present, folder):
    """A camera-side delete is safe only if a verified copy of exactly
    those bytes is in the source."""
    stem = (x.get("clip") or "")[:8]
    c = present.get(stem)
    f = x.get("file") or stem + ".AVI"
    ok = False
    if c is not None and c.status == "ok":
        if f.upper().endswith(".AVI"):
            ok = c.meta.get("avi_sha256") == x.get("sha256")
        else:
            path = os.path.join(folder, stem + ".JSON")
            ok = os.path.exists(path) and sha256_file(path) == x.get("sha256")
    x["verified_copy"] = ok
    return x


def _int(v):
    return v if isinstance(v, int) and not isinstance(v, bool) else 0
