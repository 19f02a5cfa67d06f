# Virtual board only: the host's tool for the board's storage images, run by
# the simulator on MicroPython's unix port so the images are read and
# written by the very VfsFat/VfsLfs2 code the board uses (no second FAT or
# littlefs implementation on the host).
#
#   micropython vboard_fs.py JOB.json
# (a file: the unix port cannot take a 256-byte argument)
# job: {"image": path, "kind": "fat" | "lfs", "offset": n, "size": n,
#       "readonly": bool, "ops": [[op, args...], ...]}
# ops: ["mkfs"], ["ls", dir], ["get", path, host_path], ["put", host_path, path],
#      ["mkdir", path], ["rm", path], ["stat", path],
#      ["recover", clips_dir]: the firmware's own power-loss recovery
#      (firmware/recover.py) over the image, as the next boot would run it
# Prints one JSON line per op: {"ok": result} or {"error": message}; an op
# that fails does not stop the others.
import json
import os
import sys

import vfs

from vboard_bdev import CardImage, FlashPartition

MNT = "/img"


def _bdev(job, f):
    if job["kind"] == "fat":
        return CardImage(f)
    return FlashPartition(f, job.get("offset", 0), job["size"])


def _fs(kind, bdev):
    return vfs.VfsFat(bdev) if kind == "fat" else vfs.VfsLfs2(bdev)


def _copy(src, dst):
    buf = bytearray(4096)
    n = 0
    with open(src, "rb") as a, open(dst, "wb") as b:
        while True:
            k = a.readinto(buf)
            if not k:
                break
            b.write(memoryview(buf)[:k])
            n += k
    return n


def _ls(path):
    out = []
    for e in os.ilistdir(MNT + "/" + path):
        name, typ = e[0], e[1]
        size = e[3] if len(e) > 3 else 0
        out.append([name, size, typ == 0x4000])
    return sorted(out)


def _op(job, op):
    name = op[0]
    if name == "ls":
        return _ls(op[1])
    if name == "get":
        return _copy(MNT + "/" + op[1], op[2])
    if name == "put":
        return _copy(op[1], MNT + "/" + op[2])
    if name == "mkdir":
        os.mkdir(MNT + "/" + op[1])
        return True
    if name == "rm":
        os.remove(MNT + "/" + op[1])
        return True
    if name == "stat":
        st = os.stat(MNT + "/" + op[1])
        return [st[0] & 0x4000 != 0, st[6]]
    if name == "recover":
        import recover  # (firmware/ is on MICROPYPATH)
        return recover.recover_all(MNT + "/" + op[1], bytearray(8192))
    raise ValueError("unknown op " + name)


def run(job):
    ro = job.get("readonly", False)
    f = open(job["image"], "rb" if ro else "r+b")
    bdev = _bdev(job, f)
    ops = job["ops"]
    if ops and ops[0][0] == "mkfs":
        (vfs.VfsFat if job["kind"] == "fat" else vfs.VfsLfs2).mkfs(bdev)
        print(json.dumps({"ok": True}))
        ops = ops[1:]
    try:
        vfs.mount(_fs(job["kind"], bdev), MNT, readonly=ro)
    except OSError as e:
        print(json.dumps({"error": "cannot mount the %s image %s: %s (not formatted?)" % (job["kind"], job["image"], e)}))
        return 1
    for op in ops:
        try:
            print(json.dumps({"ok": _op(job, op)}))
        except Exception as e:
            where = op[2] if op[0] == "put" else (op[1] if len(op) > 1 else "")
            print(json.dumps({"error": "%s %s: %s" % (op[0], where, _errmsg(e))}))
    vfs.umount(MNT)
    f.close()
    return 0


def _errmsg(e):
    names = {2: "no such file or directory", 17: "exists", 20: "not a directory", 21: "is a directory",
             28: "no space left", 30: "read-only", 39: "directory not empty"}
    if isinstance(e, OSError) and e.args and e.args[0] in names:
        return names[e.args[0]]
    return str(e)


if __name__ == "__main__":
    with open(sys.argv[1]) as _f:
        _job = json.load(_f)
    sys.exit(run(_job))
