"""bodycam station: drain every docked camera at once into a folder and an
S3-compatible evidence store with retention."""
import json
import sys

from bodycam.device import portfind
from bodycam.cliargs import baud_argument
from bodycam.station import Station
from bodycam.station.report import JsonLines, LiveTable

NAME = "station"
HELP = "drain many docked cameras at once into DIR and an S3 evidence store (Object Lock retention)"
DESCRIPTION = (
    "One worker per docked camera pulls every clip into DIR/<device-id>/, verified by SHA-256 as `bodycam pull` "
    "does. With --store each verified file is uploaded to s3://BUCKET/PREFIX/<device-id>/ with a SHA-256 "
    "checksum the store checks (endpoint and credentials from the usual AWS environment: AWS_ENDPOINT_URL, "
    "AWS_ACCESS_KEY_ID, AWS_PROFILE...). With --delete a camera deletes a clip only after the copy in DIR "
    "re-reads to the camera's SHA-256 AND the store confirms the object (checksum, and retention with "
    "--retain-days). Without --port it watches the USB serial adapters (CH340, CP210x, FTDI, ESP32-S3) and "
    "adds or drops cameras as they are plugged in and out. On a terminal a live table shows each slot; "
    "otherwise it writes JSON lines. Exit status with --once: 0 when every camera was drained (and stored), "
    "1 otherwise, 2 for usage errors. See docs/station.md.")


def add_arguments(p):
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the clips: DIR/<device-id>/")
    p.add_argument("--store", metavar="s3://BUCKET/PREFIX", help="S3-compatible evidence store to upload to")
    p.add_argument("--retain-days", type=int, metavar="N",
                   help="Object Lock COMPLIANCE retention for N days on every object (the bucket must have "
                        "Object Lock)")
    p.add_argument("--port", action="append", metavar="P",
                   help="a camera's port (repeatable): /dev/ttyUSB0, COM3, rfc2217://host:port. Default: "
                        "every USB serial adapter plugged in, watched")
    p.add_argument("--delete", action="store_true",
                   help="delete each clip on the camera once DIR holds it verified and the store confirms it")
    p.add_argument("--baud", metavar="N|auto", type=baud_argument,
                   help="link speed for the transfer; auto: the fastest the adapter is known to carry")
    p.add_argument("--once", action="store_true", help="drain what is docked now, print a summary, exit")
    p.add_argument("--json", action="store_true", help="JSON lines even on a terminal")
    p.add_argument("--poll", type=float, default=10.0, metavar="S",
                   help="look for new clips on each camera every S seconds (default 10)")


def _baud(value):
    # Station resolves auto per slot, once each camera's port is known.
    return portfind.auto_baud if value == "auto" else value


def run(args):
    store = None
    if args.retain_days is not None and not args.store:
        raise ValueError("--retain-days needs --store s3://BUCKET/PREFIX")
    if args.store:
        from bodycam.evidence.store import EvidenceStore
        store = EvidenceStore(args.store, retain_days=args.retain_days)
    live = not args.json and sys.stderr.isatty() and sys.stdout.isatty()
    reporter = LiveTable() if live else JsonLines()
    st = Station(args.out, ports=args.port or (), store=store, delete=args.delete, baud=_baud(args.baud),
                 once=args.once, reporter=reporter, poll=args.poll)
    try:
        s = st.run()
    except KeyboardInterrupt:
        st.stop()
        raise
    if live:
        for slot in s["slots"]:
            print("%-26s %-14s %-10s pulled %d, stored %d, deleted %d%s" % (
                slot["port"], slot["device"] or "-", slot["outcome"] or slot["state"], len(slot["pulled"]),
                len(slot["stored"]), len(slot["deleted"]),
                "; %d error(s), last: %s" % (len(slot["errors"]), slot["errors"][-1]["error"]) if slot["errors"] else ""))
    else:
        print(json.dumps(dict(s, event="summary")))
    return 0 if s["ok"] else 1
