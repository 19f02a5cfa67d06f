"""bodycam report at fleet scale: makes a fleet of cameras with the
firmware's own code on the MicroPython unix port (tests/fleet.py: 50
cameras over 60 days, about 10,000 recordings by default), snapshotting
the station folder as it grows, then times `bodycam report` on each
snapshot in its own process and reads its peak memory.

    nice python bench/report.py [--cameras 50] [--days 60] [--fleet DIR] [--keep]

Prints JSON: cameras, days, recordings, seconds and peak_rss_mb for the
whole fleet, and the same per snapshot (days 20, 40, 60: memory should
stay flat as the days grow), plus how long making the fleet took. With
--fleet DIR an existing fleet there is reused (made there if missing).
"""
import argparse
import csv
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "host"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import fleet  # noqa: E402

RUN = """
import resource, sys, time
from bodycam import cli
t = time.monotonic()
code = cli.main(sys.argv[1:])
dt = time.monotonic() - t
mine = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("BENCH %d %.3f %d %d" % (code, dt, mine, kids))
"""


def run_report(station, keyring, roster, out):
    p = subprocess.run([sys.executable, "-c", RUN, "report", station, "--roster", roster, "--key", keyring,
                        "--out", out], capture_output=True, text=True)
    line = [x for x in p.stdout.splitlines() if x.startswith("BENCH ")]
    if not line:
        raise SystemExit("report failed:\n%s\n%s" % (p.stdout[-2000:], p.stderr[-2000:]))
    code, dt, mine, kids = line[-1].split()[1:]
    with open(os.path.join(out, "recordings.csv")) as f:
        n = sum(1 for _ in csv.reader(f)) - 1
    return {"seconds": round(float(dt), 2), "peak_rss_mb": round(max(int(mine), int(kids)) / 1024.0, 1),
            "parent_rss_mb": round(int(mine) / 1024.0, 1), "worker_rss_mb": round(int(kids) / 1024.0, 1),
            "recordings": n, "exit": int(code)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cameras", type=int, default=50)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--per-day", type=int, default=3)
    ap.add_argument("--median-s", type=int, default=90)
    ap.add_argument("--fleet", metavar="DIR", help="reuse (or make) the fleet here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary fleet")
    a = ap.parse_args()
    root = a.fleet or tempfile.mkdtemp(prefix="bodycam-fleet-")
    steps = sorted({max(1, a.days // 3), max(1, 2 * a.days // 3)} - {a.days})
    made = None
    if not os.path.exists(os.path.join(root, "done.json")):
        t0 = time.monotonic()

        def snap(day):
            fleet.snapshot(os.path.join(root, "station"), os.path.join(root, "snap%d" % day))

        fleet.make_fleet(root, cameras=a.cameras, days=a.days, per_day=a.per_day, median_s=a.median_s,
                         teams=5, segments=steps, after_segment=snap)
        made = round(time.monotonic() - t0, 1)
        with open(os.path.join(root, "done.json"), "w") as f:
            json.dump({"made_s": made}, f)
    keyring, roster = os.path.join(root, "keys.json"), os.path.join(root, "roster.csv")
    out = {"cameras": a.cameras, "days": a.days, "fleet_made_s": made, "cpus": os.cpu_count(),
           "load_avg": os.getloadavg()[0]}
    per = []
    for d in steps:
        r = run_report(os.path.join(root, "snap%d" % d), keyring, roster, os.path.join(root, "out%d" % d))
        per.append(dict(r, days=d))
    r = run_report(os.path.join(root, "station"), keyring, roster, os.path.join(root, "out"))
    per.append(dict(r, days=a.days))
    out.update({"recordings": r["recordings"], "seconds": r["seconds"], "peak_rss_mb": r["peak_rss_mb"],
                "exit": r["exit"], "by_days": per})
    print(json.dumps(out))
    if not a.fleet and not a.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
