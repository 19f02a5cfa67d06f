"""Where `bodycam report` reads from, read-only: a station folder
(DIR/<device-id>/), a folder one `bodycam pull` made (clips and AUDIT.LOG
in it), or the evidence store s3://BUCKET/PREFIX (its newest objects are
copied to a temporary folder, as `bodycam verify s3://...` does, and each
object's retention and lock are read with HeadObject).

Each camera found becomes a CameraSource: a label for people, the folder
to verify, and (from the store) the lock of each object."""
import datetime
import os

from bodycam.evidence.verify import AUDIT_NAME, CLIP_RE


class CameraSource:
    def __init__(self, label, folder, store_objects=None):
        self.label = label  # what the page calls it: a folder or s3:// key prefix
        self.folder = folder  # a folder verify_dir can read
        self.store_objects = store_objects  # {name: {"lock", "retain_until_ms", "stored_ms"}} or None


def is_camera_folder(path):
    """Does this folder hold a camera's evidence (clips or its audit log)?"""
    try:
        names = os.listdir(path)
    except OSError:
        return False
    return any(n.upper() == AUDIT_NAME or CLIP_RE.match(n) for n in names)


def folder_sources(path):
    """The camera folders in `path`: itself if it holds evidence, and each
    subfolder that does (a station's DIR/<device-id>/, or the folders a
    second `bodycam demo` made beside the first)."""
    if not os.path.isdir(path):
        raise FileNotFoundError("%s is not a folder (give a station folder, a pull folder or s3://BUCKET/PREFIX)"
                                % path)
    out = []
    if is_camera_folder(path):
        out.append(CameraSource(path, path))
    for name in sorted(os.listdir(path)):
        sub = os.path.join(path, name)
        if os.path.isdir(sub) and is_camera_folder(sub):
            out.append(CameraSource(sub, sub))
    if not out:
        raise FileNotFoundError("no clips and no AUDIT.LOG in %s or its subfolders: not a station or pull folder"
                                % path)
    return out


def store_sources(url, tmp):
    """Copy what the store holds under url into tmp (one folder per device)
    and read every object's lock. Returns [CameraSource]."""
    from bodycam.evidence.store import EvidenceStore, parse_url
    from bodycam.evidence.storeverify import fetch_for_verify
    st = EvidenceStore(url)
    out = []
    for label, folder in fetch_for_verify(url, tmp):
        _, base = parse_url(label)  # label: url itself (one device) or url/<device>
        objects = {}
        for name in sorted(os.listdir(folder)):
            h = st.head("/".join(p for p in (base, name) if p))
            if h is not None:
                objects[name] = lock_of(h)
        out.append(CameraSource(label, folder, objects))
    return out


def lock_of(head):
    """The retention facts of a HeadObject answer, in UTC ms."""
    until = head.get("ObjectLockRetainUntilDate")
    stored = head.get("LastModified")
    return {"lock": head.get("ObjectLockMode"), "retain_until_ms": _ms(until), "stored_ms": _ms(stored)}


def _ms(d):
    if not isinstance(d, datetime.datetime):
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return int(d.timestamp() * 1000)
