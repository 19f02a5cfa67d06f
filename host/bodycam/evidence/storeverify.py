"""`bodycam verify s3://BUCKET/PREFIX[/DEVICE]`: what the store holds,
checked as a folder is (bodycam.evidence.verify), one report per device,
with the clips on legal hold and the state of the store's audit log."""
import json
import os
import tempfile

from bodycam.evidence import verify
from bodycam.evidence.holds import Holds
from bodycam.evidence.store import AUDIT_NAME, EVIDENCE_SUFFIXES, STORE_LOG_NAME, EvidenceStore


def _is_device_folder(names):
    return any(n == AUDIT_NAME or n.upper().endswith(EVIDENCE_SUFFIXES) for n in names)


def device_folders(url):
    """[(label, store, device)] under url: url may name one device's folder,
    or a prefix holding several. `store` is the prefix above the device."""
    st = EvidenceStore(url)
    if _is_device_folder(st.list_names()):
        parent, _, device = st.prefix.rpartition("/")
        if not device:  # clips at the bucket's top, outside the station's layout
            return [(url.rstrip("/"), st, None)]
        return [(url.rstrip("/"), EvidenceStore("s3://%s/%s" % (st.bucket, parent), client=st.s3), device)]
    devices = st.list_devices()
    if not devices:
        raise FileNotFoundError("nothing under %s: no clips, no audit log, no device folders" % url)
    return [("%s/%s" % (url.rstrip("/"), d), st, d) for d in devices]


def _download(st, device, tmp):
    # STORE.LOG is the store's record, not the camera's: verify_dir would take it for a stray file
    return st.download_dir(device, os.path.join(tmp, device or "_"), skip=(STORE_LOG_NAME,))


def fetch_for_verify(url, dest):
    """Copy what the store holds under url into dest, as `bodycam verify`
    reads it: [(label, folder)], one per device (bodycam report uses it)."""
    return [(label, _download(st, device, dest)) for label, st, device in device_folders(url)]


def held_lines(status, problems):
    out = []
    for stem in sorted(status):
        s = status[stem]
        holds = s["holds"]
        if not s["held"]:
            out.append("store: %s: STORE.LOG has hold %s on it, but the store reports no legal hold on it: "
                       "released outside bodycam, or this key may not read holds (s3:GetObjectLegalHold)?"
                       % (stem, ", ".join("#%d" % h["n"] for h in holds)))
            continue
        why = "; ".join("#%d by %s at %s: %s" % (h["n"], h.get("by"), h.get("t"), h.get("reason")) for h in holds)
        out.append("held: %s (%s on legal hold)%s" % (stem, " and ".join(s["held"]),
                                                       ": " + why if why else ": not in STORE.LOG (set outside bodycam)"))
    for p in problems:
        out.append("store: %s: %s" % (STORE_LOG_NAME, p))
    return out


def verify_url(url, keyset, as_json=False, out=print):
    """The same report per device as for a folder, then its held clips;
    exit status 0 only when every device's verdict is VERIFIED (a hold
    does not change a verdict)."""
    reports = []
    with tempfile.TemporaryDirectory(prefix="bodycam-verify-") as tmp:
        for label, st, device in device_folders(url):
            folder = _download(st, device, tmp)
            rep = verify.verify_dir(folder, keyset)
            rep.dir = label
            held, problems = ({}, []) if device is None else Holds(st, device).status(c.stem for c in rep.clips)
            reports.append((label, rep, held, problems))
    if as_json:
        d = {label: dict(rep.as_dict(), held=held, store_log_problems=problems)
             for label, rep, held, problems in reports}
        out(json.dumps(d[reports[0][0]] if len(reports) == 1 else d, indent=2, sort_keys=True, default=str))
    else:
        for label, rep, held, problems in reports:
            if len(reports) > 1:
                out("== %s" % label)
            text = verify.describe(rep).split("\n")  # held clips go above the verdict line
            out("\n".join(text[:-1] + held_lines(held, problems) + text[-1:]))
    return 0 if all(rep.verdict == "VERIFIED" for _, rep, _, _ in reports) else 1
