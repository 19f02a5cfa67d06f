"""bodycam report: many cameras' evidence, verified and counted, as one page for a review."""
import os
import sys

from bodycam.cliargs import add_key_arguments, load_keys

NAME = "report"
HELP = "verify many cameras' clips and audit logs and write a review report (report.html + CSVs)"
DESCRIPTION = (
    "Read station folders (DIR/<device-id>/), folders made by `bodycam pull`, or the evidence store "
    "(s3://BUCKET/PREFIX), read-only. Every source is verified as `bodycam verify` does; then recordings, "
    "recorded time, pre-roll kept, stops by reason (the officer's apart from the equipment's), stop then "
    "restart, dropped frames, clock corrections, offloads, deletes and retention are counted per camera, "
    "officer, team and week, and flags are raised for a supervisor to review (prompts, not verdicts). "
    "Writes OUT/report.html (self-contained: works offline from a USB stick) and CSVs. Exit status 0 when "
    "every source verified and no flag is critical, 1 otherwise (the report is still written and says so), 2 for "
    "usage errors. "
    "See docs/report.md.")


def add_arguments(p):
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="a station folder, a pull folder, or s3://BUCKET/PREFIX (several may be given)")
    p.add_argument("--roster", metavar="CSV", help="device_id,officer,team,valid_from,valid_to: who carried "
                                                   "which camera when (without it: per camera only)")
    p.add_argument("--from", dest="date_from", metavar="DATE", help="first day counted (YYYY-MM-DD, UTC)")
    p.add_argument("--to", dest="date_to", metavar="DATE", help="last day counted (YYYY-MM-DD, UTC, included)")
    p.add_argument("--out", default="bodycam-report", metavar="DIR",
                   help="folder for report.html and the CSVs (default: ./%(default)s)")
    p.add_argument("--public", action="store_true",
                   help="the community panel's version: team-week totals only, small cells suppressed, no "
                        "officer, device or clip ids")
    p.add_argument("--sample", type=int, metavar="N", help="choose N recordings per officer per week at random "
                                                           "for supervisor review")
    p.add_argument("--seed", type=int, metavar="S", help="seed for --sample (printed; default: a new one)")
    p.add_argument("--restart-minutes", type=float, default=5, metavar="N",
                   help="flag an officer's stop followed by a new recording within N minutes (default 5)")
    p.add_argument("--retain-days", type=int, metavar="N",
                   help="the retention policy: flag store locks shorter or longer than N days")
    p.add_argument("--jobs", type=int, metavar="N", help="cameras verified at once (default: one per core)")
    add_key_arguments(p)


def _window(args):
    from bodycam.report.timefmt import day_start_ms
    try:
        lo = day_start_ms(args.date_from) if args.date_from else None
        hi = day_start_ms(args.date_to, end=True) if args.date_to else None
    except ValueError:
        raise ValueError("--from/--to take a date like 2026-03-02")
    if lo is not None and hi is not None and hi <= lo:
        raise ValueError("--to is before --from")
    return None if lo is None and hi is None else (lo, hi)


def _check_out(out, sources):
    o = os.path.realpath(out)
    for s in sources:
        if s.startswith("s3://"):
            continue
        r = os.path.realpath(s)
        if o == r or o.startswith(r + os.sep):
            raise ValueError("--out %s is inside the source %s: the report never writes into its sources; "
                             "choose another folder" % (out, s))


def run(args):
    from bodycam.report import build, sample
    if args.sample is not None and args.sample < 1:
        raise ValueError("--sample takes a number of recordings, 1 or more")
    if args.public and args.sample:
        raise ValueError("--sample picks recordings for supervisors; it cannot go into the --public version")
    if args.seed is not None and not args.sample:
        raise ValueError("--seed goes with --sample N")
    _check_out(args.out, args.sources)
    seed = args.seed if args.seed is not None else (sample.new_seed() if args.sample else None)
    opts = build.Options(args.sources, roster=args.roster, window=_window(args), out=args.out, public=args.public,
                         sample_n=args.sample, seed=seed, restart_min=args.restart_minutes,
                         retain_days=args.retain_days, jobs=args.jobs)
    tty = sys.stderr.isatty()

    def progress(done, total):
        if tty:
            sys.stderr.write("\rverified %d of %d camera trail(s)" % (done, total) + ("\n" if done == total else ""))
            sys.stderr.flush()

    rep = build.build(opts, load_keys(args), progress)
    paths = build.write(rep)
    t = rep.totals
    print("%d camera trail(s), %d recording(s), %d flag(s): %d critical, %d to review"
          % (len(rep.integrity), t["recordings"], len(rep.flags),
             sum(1 for f in rep.flags if f["severity"] == "critical"),
             sum(1 for f in rep.flags if f["severity"] == "review")))
    if seed is not None:
        print("sample: %d per officer per week, seed %d (repeat with --sample %d --seed %d)"
              % (args.sample, seed, args.sample, seed))
    for i in rep.failed:
        print("INTEGRITY %s: %s: %s" % (i["verdict"], i["source"], "; ".join(i["problems"][:3])))
    print("wrote %s" % ", ".join(paths))
    # an integrity failure or a critical flag (evidence deleted with no verified copy) is never a success
    return 1 if rep.failed or any(f["severity"] == "critical" for f in rep.flags) else 0
