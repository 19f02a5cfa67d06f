"""bodycam pull: offload clips over the serial link, verified."""
import json
import sys

from bodycam.cliargs import add_port_argument, baud_argument, need_port, resolve_baud
from bodycam.offload.pull import describe, pull_all

NAME = "pull"
HELP = "copy every new clip from the camera over USB serial, verified (optionally delete them there)"
DESCRIPTION = (
    "Pull every clip (AVI + sidecar) and the audit log that DIR does not have yet from the bodycam "
    "firmware's serial dock. Each file is checked against the SHA-256 the device lists and only then "
    "appears under its name; an interrupted pull resumes where it stopped. With --delete the device "
    "deletes a clip only after its copy in DIR was verified. The camera keeps buffering while docked. "
    "Exit status 0 when everything was pulled, 1 when some file failed (see the messages).")


def add_arguments(p):
    add_port_argument(p)
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the clips (created if missing)")
    p.add_argument("--delete", action="store_true",
                   help="delete each clip from the device once its copy in DIR is verified")
    p.add_argument("--baud", type=baud_argument, metavar="N|auto",
                   help="switch the link to N baud for the transfer (e.g. 921600), or auto: the fastest "
                        "rate the USB adapter is known to carry (CH340 2000000, CP2102 921600, CP2102N "
                        "3000000); falls back to 115200 if the line cannot carry it")
    p.add_argument("--set-clock", action="store_true", help="also set the device clock to this computer's UTC")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def run(args):
    say = (lambda msg: None) if args.json else print
    port = need_port(args)
    s = pull_all(port, args.out, delete=args.delete, baud=resolve_baud(args.baud, port, say),
                 progress=not args.quiet and not args.json, say=say, set_clock=args.set_clock)
    if args.json:
        s = dict(s, errors=[{"file": f, "error": e} for f, e in s["errors"]])
        print(json.dumps(s, indent=2))
    else:
        print(describe(s))
        for f, e in s["errors"]:
            print("  %s: %s" % (f, e), file=sys.stderr)
    return 1 if s["errors"] else 0
