"""UTC ms <-> text, for the page and the CSVs."""
import datetime


def iso(ms):
    if ms is None:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def short(ms):
    if ms is None:
        return "time unknown"
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def day_start_ms(date_text, end=False):
    """'YYYY-MM-DD' -> UTC ms at the start of that day (end: of the next)."""
    d = datetime.datetime.fromisoformat(date_text).replace(tzinfo=datetime.timezone.utc)
    if end:
        d += datetime.timedelta(days=1)
    return int(d.timestamp() * 1000)
