"""`bodycam verify s3://BUCKET/PREFIX[/DEVICE]`: what the store holds,
checked as a folder is (bodycam.evidence.verify), one report per device."""
import json
import os
import tempfile

from bodycam.evidence import verify
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


def verify_url(url, keyset, as_json=False, out=print):
    """The same report per device as for a folder; exit status 0 only when
    every device's verdict is VERIFIED."""
    reports = []
    with tempfile.TemporaryDirectory(prefix="bodycam-verify-") as tmp:
        for label, st, device in device_folders(url):
            folder = st.download_dir(device, os.path.join(tmp, device or "_"), skip=(STORE_LOG_NAME,))
            rep = verify.verify_dir(folder, keyset)
            rep.dir = label
            reports.append((label, rep))
    if as_json:
        d = {label: rep.as_dict() for label, rep in reports}
        out(json.dumps(d[reports[0][0]] if len(reports) == 1 else d, indent=2, sort_keys=True, default=str))
    else:
        for label, rep in reports:
            if len(reports) > 1:
                out("== %s" % label)
            out(verify.describe(rep))
    return 0 if all(rep.verdict == "VERIFIED" for _, rep in reports) else 1
