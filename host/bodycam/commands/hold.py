"""bodycam hold: put a legal hold on a clip in the evidence store, or release one."""
import json

from bodycam.evidence import holds
from bodycam.evidence.store import StoreError, StoreRefused

NAME = "hold"
HELP = "put a legal hold on a clip in the S3 evidence store (or --release it), recorded with who, when and why"
DESCRIPTION = (
    "Sets an S3 Object Lock legal hold on every stored version of a clip's AVI and sidecar, so the store keeps "
    "them past their retention date until the hold is released, and records who, when and why in the store's "
    "audit log (PREFIX/DEVICE/STORE.LOG, a new locked version each time). Several holds on one clip (one per "
    "case) are kept apart: the store's flag goes off only when the last one is released. Releasing never "
    "changes a retention date. `bodycam verify s3://...` lists held clips.\n\nEndpoint and credentials come from "
    "the usual AWS environment (AWS_ENDPOINT_URL, AWS_PROFILE...); the key needs s3:PutObjectLegalHold, "
    "s3:GetObjectLegalHold, s3:ListBucketVersions and write access to STORE.LOG.\n\nExit status: 0 done; 1 the "
    "clip is not in the store, only half of it is, or the store failed a request; 2 usage errors (a bad URL, "
    "no --reason, a bucket without Object Lock, an unclear release). See docs/station.md.")
EPILOG = """examples:
  bodycam hold s3://bodycam-evidence/desk1/bc-1a2b3c4d/BC000014 --reason "complaint 2026-114"
  bodycam hold --release s3://bodycam-evidence/desk1/bc-1a2b3c4d/BC000014 --reason "case closed"
  bodycam hold --release --hold 3 s3://... --reason "..."   (when the clip has several holds)"""


def add_arguments(p):
    import argparse
    import textwrap
    # the examples keep their lines; the description is wrapped here
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.description = "\n\n".join(textwrap.fill(par, 78) for par in DESCRIPTION.split("\n\n"))
    p.epilog = EPILOG
    p.add_argument("clip", metavar="s3://BUCKET/PREFIX/DEVICE/CLIP",
                   help="the clip: its device's folder in the store and its name (BC000014, or BC000014.AVI)")
    p.add_argument("--reason", required=True, metavar="TEXT",
                   help="why (a case or complaint number): recorded in the store's audit log with who and when")
    p.add_argument("--release", action="store_true", help="end a hold instead of setting one")
    p.add_argument("--hold", type=int, metavar="N",
                   help="with --release: which hold it ends, when the clip has several (their numbers are "
                        "listed by bodycam verify and by a release that needs one)")
    p.add_argument("--by", metavar="NAME", help="who does it (default: login name @ host name)")
    p.add_argument("--json", action="store_true", help="print the record as JSON")


def run(args):
    if args.hold is not None and not args.release:
        raise ValueError("--hold N goes with --release: a new hold gets its own number")
    h, stem = holds.store_for(args.clip)
    if args.by:
        h.log.by = args.by
    try:
        entry = h.release(stem, args.reason, args.hold) if args.release else h.hold(stem, args.reason)
    except (holds.ClipNotFound, StoreError) as e:
        print("bodycam hold: %s" % e)
        return 1
    except StoreRefused:
        raise  # a bucket that cannot hold: a usage error (exit 2), as for bodycam station
    if args.json:
        print(json.dumps(entry, indent=2, sort_keys=True))
    else:
        print(_describe(entry, h))
    return 1 if entry["missing"] else 0


def _describe(e, h):
    where = "%s/%s/%s" % (h.store.url.rstrip("/"), h.device, e["clip"])
    files = ", ".join("%s (version %s, %s until %s)" % (o["key"].rsplit("/", 1)[-1], o["version"], o["lock"] or "no lock",
                                                      o["retain_until"] or "-") for o in e["objects"])
    if e["event"] == "legal-hold":
        lines = ["%s: legal hold #%d set by %s at %s: %s" % (where, e["n"], e["by"], e["t"], e["reason"]),
                 "held: " + files]
    else:
        which = "hold #%d" % e["hold"] if e["hold"] is not None else "a legal hold set outside bodycam"
        lines = ["%s: %s released by %s at %s: %s" % (where, which, e["by"], e["t"], e["reason"])]
        if e["still_held_by"]:
            lines.append("still held by hold %s: the legal hold stays on" % ", ".join("#%d" % n for n in e["still_held_by"]))
        else:
            lines.append("legal hold off; retention unchanged: " + files)
            if e["deletable"]:
                lines.append("note: retention is over for %s: it can now be deleted" % ", ".join(e["deletable"]))
    lines.append("recorded in %s (version %s)" % (h.log.key, e["version"]))
    if e["missing"]:
        lines.append("NOT IN THE STORE: %s (only what is there was held)" % ", ".join(e["missing"]))
    return "\n".join(lines)
