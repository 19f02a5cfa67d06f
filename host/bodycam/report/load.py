"""Read every camera source into trails: each verified in a worker process
(one camera at a time per core; a camera's frame times are dropped once it
is read), then copies of one device merged, store locks attached to the
recordings, and the SHA-256 of every input file kept for the page."""
import hashlib
import os
from concurrent.futures import ProcessPoolExecutor

from bodycam.evidence.hashing import sha256_file
from bodycam.evidence.verify import AUDIT_NAME, CLIP_RE
from bodycam.report import trail


def _load_one(args):
    source, keyset = args
    t = trail.load(source, keyset)
    t["inputs"] = input_hashes(source.folder, t)
    return t


def input_hashes(folder, t):
    """[(name, sha256)] of the evidence files read (an AVI's hash is the
    manifest's when verify found them equal: it was just computed)."""
    known = {r["clip"][:8] + ".AVI": r.get("avi_sha256") for r in t["recordings"]
             if r.get("copy_ok") and r.get("clip")}
    out = []
    for name in sorted(os.listdir(folder)):
        if not (name.upper() == AUDIT_NAME or CLIP_RE.match(name)):
            continue
        out.append((name, known.get(name) or sha256_file(os.path.join(folder, name))))
    return out


def load_trails(sources, keyset, jobs=None, progress=None):
    """[trail] in the sources' order, verified in parallel."""
    jobs = jobs or min(len(sources), os.cpu_count() or 1)
    work = [(s, keyset) for s in sources]
    out = []
    if jobs <= 1 or len(sources) <= 1:
        for w in work:
            out.append(_load_one(w))
            if progress:
                progress(len(out), len(work))
        return out
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        for t in ex.map(_load_one, work, chunksize=1):
            out.append(t)
            if progress:
                progress(len(out), len(work))
    return out


def merge(trails):
    """Give each trail its key (the device id), and fold copies of one
    device into one: a copy whose audit log is a prefix of a longer one is
    the same camera seen earlier (the longer one is counted; both were
    verified). Copies that disagree are two trails: both are counted, under
    keys 'DEVICE' and 'DEVICE (2)', and flagged."""
    by_dev = {}
    kept = []
    for t in trails:
        dev = t["device"] or "(no device id: %s)" % t["label"]
        t["device"] = dev
        same = None
        for other in by_dev.get(dev, ()):
            if _prefix(t["hashes"], other["hashes"]) or _prefix(other["hashes"], t["hashes"]):
                same = other
                break
        if same is None:
            n = len(by_dev.get(dev, ()))
            t["key"] = dev if n == 0 else "%s (%d)" % (dev, n + 1)
            if n:
                t["duplicate_of"] = by_dev[dev][0]["label"]
            by_dev.setdefault(dev, []).append(t)
            kept.append(t)
        elif len(t["hashes"]) > len(same["hashes"]):
            t["key"] = same["key"]
            t.setdefault("also", []).append(same["label"])
            kept[kept.index(same)] = t
            by_dev[dev][by_dev[dev].index(same)] = t
        else:
            same.setdefault("also", []).append(t["label"])
    return kept


def _prefix(a, b):
    """Is audit log a a prefix of b? (compact entry hashes, trail.compact_hashes)"""
    return len(a) <= len(b) and b[:len(a)] == a


def attach_locks(trails, all_trails):
    """Each recording gets the lock of its AVI in the store, from any store
    source of the same device."""
    locks = {}
    for t in all_trails:
        for name, lk in (t.get("store") or {}).items():
            locks[(t["device"], name)] = lk
    for t in trails:
        for r in t["recordings"]:
            r["lock"] = locks.get((t["device"], (r["clip"] or "")[:8] + ".AVI"))


def inputs_sha256(all_trails, roster_path=None):
    """One SHA-256 over every input file's hash (device/name sha256 lines,
    sorted), and the roster's bytes: what a reader can recompute."""
    lines = sorted("%s/%s %s" % (t["device"], name, sha) for t in all_trails for name, sha in t["inputs"])
    if roster_path:
        lines.append("roster %s" % sha256_file(roster_path))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest(), len(lines)
