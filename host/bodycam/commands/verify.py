"""bodycam verify: is a folder of clips exactly what the device recorded?"""
import json

from bodycam.cliargs import add_key_arguments, load_keys
from bodycam.evidence import keys, verify

NAME = "verify"
HELP = "verify a folder of clips: hashes, signatures, the chain across clips and the audit log"
DESCRIPTION = (
    "Check every clip in DIR: the AVI's SHA-256 matches its manifest, the manifest's HMAC holds under the "
    "device key, the chain across clips is unbroken (a missing clip is named), and the audit log "
    "(AUDIT.LOG) is intact and agrees with the clips. Prints one line per clip and a verdict. Exit status 0 "
    "only when everything holds; 1 when anything is altered, missing or can't be checked (e.g. no key); "
    "2 for usage errors. Keys come from the keyring (%s) unless --key is given." % keys.keyring_path())


def add_arguments(p):
    p.add_argument("dir", metavar="DIR", help="folder with the clips (BC*.AVI, BC*.JSON) and AUDIT.LOG, "
                                              "or s3://BUCKET/PREFIX[/DEVICE] in the evidence store")
    add_key_arguments(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args):
    ks = load_keys(args)
    if args.dir.startswith("s3://"):  # the evidence store (bodycam.evidence.store): same report, same exit codes
        from bodycam.evidence.storeverify import verify_url
        return verify_url(args.dir, ks, args.json)
    rep = verify.verify_dir(args.dir, ks)
    if args.json:
        print(json.dumps(rep.as_dict(), indent=2, sort_keys=True))
    else:
        print(verify.describe(rep))
    return 0 if rep.verdict == "VERIFIED" else 1
