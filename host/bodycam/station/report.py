"""What the station shows: on a terminal a live table, one row per slot
(device, clip, bytes, rate, state, errors), redrawn in place; otherwise
JSON lines, one per event, for logs and scripts."""
import datetime
import json
import sys
import threading

from bodycam.progress import human_bytes

QUIET_EVENTS = ("say", "link", "uploading")  # in the JSON lines, not in the table's log
COLUMNS = (("PORT", 26), ("DEVICE", 14), ("CLIP", 13), ("BYTES", 9), ("RATE", 10), ("STATE", 10), ("ERRORS", 6))


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLines:
    def __init__(self, stream=None):
        self.out = stream or sys.stdout
        self.lock = threading.Lock()

    def event(self, slot, kind, **fields):
        rec = {"t": now_iso(), "event": kind}
        if slot is not None:
            rec["port"] = slot.port
            rec["device"] = slot.device
        rec.update(fields)
        with self.lock:
            self.out.write(json.dumps(rec, default=str) + "\n")
            self.out.flush()

    def tick(self, slots):
        pass

    def close(self, slots):
        pass


def _cell(v, w):
    s = "-" if v is None or v == "" else str(v)
    return s[:w].ljust(w) if len(s) <= w else s[:w - 1] + "…"


def table_lines(rows):
    out = [" ".join(_cell(h, w) for h, w in COLUMNS)]
    for r in rows:
        vals = (r["port"], r["device"], r["clip"], human_bytes(r["bytes"]),
                human_bytes(r["rate"]) + "/s" if r["rate"] else "", r["state"], r["errors"] or "")
        out.append(" ".join(_cell(v, w) for v, (_, w) in zip(vals, COLUMNS)))
    return out


class LiveTable:
    """Redraws the table at the bottom of the terminal; events that matter
    (a file stored, an error, a refused camera) scroll above it."""

    def __init__(self, stream=None):
        self.out = stream or sys.stderr
        self.lock = threading.Lock()
        self.drawn = 0

    def _clear(self):
        if self.drawn:
            self.out.write("\x1b[%dF\x1b[J" % self.drawn)
            self.drawn = 0

    def event(self, slot, kind, **fields):
        if kind in QUIET_EVENTS or kind == "state" and fields.get("state") not in ("refused", "store-wait"):
            return
        who = slot.device or slot.port if slot is not None else "station"
        detail = fields.get("error") or fields.get("message") or ", ".join(
            "%s %s" % (k, v) for k, v in fields.items() if v is not None)
        with self.lock:
            self._clear()
            self.out.write("%s %s: %s %s\n" % (now_iso()[11:19], who, kind, detail))
            self.out.flush()

    def tick(self, slots):
        lines = table_lines([s.row() for s in slots])
        with self.lock:
            self._clear()
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()
            self.drawn = len(lines)

    def close(self, slots):
        self.tick(slots)
        self.drawn = 0
