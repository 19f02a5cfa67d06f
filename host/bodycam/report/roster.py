"""The roster: which officer carried which camera when.

CSV with a header row `device_id,officer,team,valid_from,valid_to`; dates
are YYYY-MM-DD (UTC days, both ends included) or a full ISO 8601 time;
an empty valid_to means "still". Only the officer field names people: the
report prints no other name."""
import csv
import datetime

COLUMNS = ("device_id", "officer", "team", "valid_from", "valid_to")


class RosterError(ValueError):
    pass


def _when(s, end, where):
    s = (s or "").strip()
    if not s:
        if end:
            return None
        raise RosterError("%s: valid_from is empty (a date like 2026-03-02 is needed)" % where)
    try:
        if len(s) == 10:
            d = datetime.datetime.fromisoformat(s).replace(tzinfo=datetime.timezone.utc)
            if end:
                d += datetime.timedelta(days=1)  # the whole last day
        else:
            d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
            if d.tzinfo is None:
                d = d.replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        raise RosterError("%s: %r is not a date (YYYY-MM-DD) or an ISO 8601 time" % (where, s))
    return int(d.timestamp() * 1000)


class Roster:
    def __init__(self, rows):
        self.rows = rows  # dicts: device, officer, team, from_ms, to_ms (None: open), line
        self.by_device = {}
        for r in rows:
            self.by_device.setdefault(r["device"], []).append(r)

    @classmethod
    def read(cls, path):
        with open(path, newline="", encoding="utf-8-sig") as f:
            rd = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (rd.fieldnames or ())]
            if missing:
                raise RosterError("%s: the header must be %s (missing: %s)" % (path, ",".join(COLUMNS),
                                                                           ", ".join(missing)))
            rows = []
            for i, row in enumerate(rd, 2):
                where = "%s line %d" % (path, i)
                dev = (row.get("device_id") or "").strip()
                officer = (row.get("officer") or "").strip()
                if not dev and not officer:
                    continue
                if not dev or not officer:
                    raise RosterError("%s: device_id and officer are both needed" % where)
                a = _when(row.get("valid_from"), False, where)
                b = _when(row.get("valid_to"), True, where)
                if b is not None and b <= a:
                    raise RosterError("%s: valid_to is before valid_from" % where)
                rows.append({"device": dev, "officer": officer, "team": (row.get("team") or "").strip() or "-",
                             "from_ms": a, "to_ms": b, "line": i})
        return cls(rows)

    def holder(self, device, utc_ms):
        """The roster row covering this device at this time, or None
        (several rows: the first, an overlap flagged separately)."""
        if utc_ms is None:
            return None
        for r in self.by_device.get(device, ()):
            if r["from_ms"] <= utc_ms and (r["to_ms"] is None or utc_ms < r["to_ms"]):
                return r
        return None

    def overlaps(self):
        """[(row, row)] assigning one camera to two officers at once."""
        out = []
        for rows in self.by_device.values():
            rows = sorted(rows, key=lambda r: r["from_ms"])
            for i, a in enumerate(rows):
                for b in rows[i + 1:]:
                    if (a["to_ms"] is None or b["from_ms"] < a["to_ms"]) and a["officer"] != b["officer"]:
                        out.append((a, b))
        return out
