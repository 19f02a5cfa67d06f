"""bodycam ls: the files on the camera, over the serial dock."""
import json

from bodycam.cliargs import add_port_argument, need_port
from bodycam.offload.client import docked
from bodycam.progress import human_bytes

NAME = "ls"
HELP = "list the clips on the camera (name, size, SHA-256) over USB serial"


def add_arguments(p):
    add_port_argument(p)
    p.add_argument("--json", action="store_true", help="print the list as JSON")


def run(args):
    with docked(need_port(args)) as c:
        files = c.list()
    if args.json:
        print(json.dumps(files, indent=2))
        return 0
    total = 0
    for e in files:
        total += e["size"]
        sha = e["sha256"] or "-"
        note = "  (being recorded)" if e.get("busy") else ""
        print("%-14s %12d  %s%s" % (e["name"], e["size"], sha, note))
    print("%d file%s, %s" % (len(files), "" if len(files) == 1 else "s", human_bytes(total)))
    return 0
