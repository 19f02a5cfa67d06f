"""Putting a report together: sources -> verified trails -> metrics and
flags -> the files in --out. The command (bodycam.commands.report) only
parses arguments and prints; this module does the work."""
import os
import tempfile
import time

import bodycam
from bodycam.report import flags as flagmod
from bodycam.report import load, metrics, sample, sources
from bodycam.report.roster import Roster

STOP_NAMES = {"hold": "by the officer (3 s hold)", "storage": "storage failed", "memory": "out of memory",
              "power_loss": "power loss or brownout", "reset": "reset or crash",
              "watchdog": "watchdog reset (a hang, or a brownout)", "crash": "the firmware crashed",
              "interrupt": "interrupted at the serial console",
              None: "not recorded"}


class Options:
    def __init__(self, sources, roster=None, window=None, out="bodycam-report", public=False, sample_n=None,
                 seed=None, restart_min=5, retain_days=None, jobs=None, now_ms=None):
        self.sources = list(sources)
        self.roster = roster
        self.window = window  # (lo ms or None, hi ms or None) or None
        self.out = out
        self.public = public
        self.sample_n = sample_n
        self.seed = seed
        self.restart_min = restart_min
        self.retain_days = retain_days
        self.jobs = jobs
        self.now_ms = now_ms if now_ms is not None else int(time.time() * 1000)


class Report:
    """Everything the page and the CSVs show."""

    def __init__(self, opts):
        self.opts = opts
        self.version = bodycam.__version__
        self.generated_ms = opts.now_ms
        self.trails = []
        self.all_trails = []
        self.roster = None
        self.flags = []
        self.sample = None
        self.integrity = []

    def in_window(self, r):
        return metrics.in_window(r["press_utc"], self.opts.window)

    def trail_of(self, r):
        return self._by_key[r["_key"]]

    @property
    def failed(self):
        return [i for _, i in self.integrity if i["verdict"] != "VERIFIED"]


def read_sources(opts, tmp):
    out = []
    for s in opts.sources:
        if s.startswith("s3://"):
            out += sources.store_sources(s, os.path.join(tmp, "store%d" % len(out)))
        else:
            out += sources.folder_sources(s)
    return out


def build(opts, keyset, progress=None):
    """Read, verify and count. Sources are only read: a store's objects
    are copied to a temporary folder that is removed afterwards."""
    rep = Report(opts)
    rep.roster = Roster.read(opts.roster) if opts.roster else None
    with tempfile.TemporaryDirectory(prefix="bodycam-report-") as tmp:
        srcs = read_sources(opts, tmp)
        rep.all_trails = load.load_trails(srcs, keyset, opts.jobs, progress)
    rep.trails = load.merge(rep.all_trails)
    load.attach_locks(rep.trails, rep.all_trails)
    rep._by_key = {}
    for t in rep.trails:
        t["_roster"] = rep.roster
        rep._by_key[t["key"]] = t
        for r in t["recordings"]:
            r["_key"] = t["key"]
    rep.trails.sort(key=lambda t: t["key"])
    metrics.annotate(rep.trails, rep.roster, opts.restart_min)
    rep.integrity = [(t["device"], t["integrity"]) for t in rep.all_trails]
    w, now, pol = opts.window, opts.now_ms, opts.retain_days
    rep.by_camera = metrics.table(rep.trails, metrics.by_camera, w, now, pol)
    rep.by_officer = metrics.table(rep.trails, metrics.by_officer, w, now, pol) if rep.roster else {}
    rep.by_team = metrics.table(rep.trails, metrics.by_team, w, now, pol) if rep.roster else {}
    rep.by_week = metrics.table(rep.trails, metrics.by_week, w, now, pol)
    rep.by_team_week = metrics.table(rep.trails, metrics.by_team_week, w, now, pol)
    rep.totals = metrics.table(rep.trails, lambda *a: "all", w, now, pol).get("all") or metrics.row([])
    rep.flags = flagmod.collect(rep.trails, rep.roster, w, opts.restart_min, now, pol)
    rep.officers_by_team_week = _officers(rep)
    if opts.sample_n:
        rep.sample = sample.draw(rep.trails, opts.sample_n, opts.seed, rep.in_window)
    rep.inputs_sha256, rep.inputs_count = load.inputs_sha256(rep.all_trails, opts.roster)
    rep.unknown_time = sum(1 for t in rep.trails for r in t["recordings"] if r["press_utc"] is None)
    return rep


def _officers(rep):
    out = {}
    for t in rep.trails:
        for r in t["recordings"]:
            if rep.in_window(r) and r["officer"] != metrics.UNASSIGNED:
                out.setdefault((r["team"], r["week"]), set()).add(r["officer"])
    return out


def write(rep):
    """Write report.html and the CSVs (public: report.html and public.csv
    only). Returns the paths written."""
    from bodycam.report import csvout, html, public
    out = rep.opts.out
    os.makedirs(out, exist_ok=True)
    paths = []
    if rep.opts.public:
        rows = public.cells(rep)
        paths.append(public.write_csv(os.path.join(out, "public.csv"), rows))
        page = public.page(rep, rows)
    else:
        paths += csvout.write_all(out, rep)
        page = html.page(rep)
    p = os.path.join(out, "report.html")
    with open(p, "w", encoding="utf-8") as f:
        f.write(page)
    paths.insert(0, p)
    return paths
