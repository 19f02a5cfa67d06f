# Audit log and sealer cost, run ON THE MICROPYTHON UNIX PORT from the
# repository root:
#   micropython -X heapsize=4M bench/audit.py
# Prints JSON: microseconds per audit entry (canonical JSON, HMAC-SHA256,
# hash, append + flush) with and without a device key, per sealed manifest,
# and how long opening a log of 2000 entries takes (boot: find the last
# whole entry from the end). A press writes two entries (press,
# record_start) inside one capture tick, so this bounds the press latency
# the evidence trail adds (on the ESP32 add the SD card's sync time).
import json
import os
import sys
import time

sys.path.insert(0, "firmware")
import audit  # noqa: E402
import seal  # noqa: E402

N = 2000
DIR = "bench_audit_tmp"


def rm(p):
    try:
        os.remove(p)
    except OSError:
        pass


def per_entry(key):
    rm(DIR + "/A.LOG")
    log = audit.AuditLog(DIR + "/A.LOG", key, time.ticks_ms)
    t0 = time.ticks_us()
    for i in range(N):
        log.record("marker", {"t": 123456 + i, "held_ms": 200})
    dt = time.ticks_diff(time.ticks_us(), t0)
    log.close()
    return dt / N


def reopen():
    t0 = time.ticks_us()
    log = audit.AuditLog(DIR + "/A.LOG", b"k" * 32, time.ticks_ms)
    dt = time.ticks_diff(time.ticks_us(), t0)
    log.close()
    return dt


def per_seal():
    rm(DIR + "/S.JSN")
    s = seal.Sealer(DIR + "/S.JSN", b"k" * 32, "bc-bench")
    meta = {"format": "bodycam-clip/1", "clip": "BC000001.AVI", "board": "ai-thinker-esp32-cam",
            "settings": {"framesize": "VGA", "fps": 5, "preroll_s": 30}, "frames": 1234,
            "clock": {"set": True, "press_utc": "2025-01-01T00:00:00.000Z", "press_ticks_ms": 5},
            "avi_sha256": "ab" * 32, "frame_ms_sha256": "cd" * 32, "markers": [{"ms": 5, "held_ms": 200}]}
    n = 200
    t0 = time.ticks_us()
    for _ in range(n):
        s(dict(meta))
    return time.ticks_diff(time.ticks_us(), t0) / n


try:
    os.mkdir(DIR)
except OSError:
    pass
out = {"entry_us_keyed": round(per_entry(b"k" * 32)), "entry_us_unkeyed": round(per_entry(None)),
       "open_2000_entries_us": reopen(), "seal_us": round(per_seal())}
for p in ("A.LOG", "S.JSN"):
    rm(DIR + "/" + p)
os.rmdir(DIR)
print(json.dumps(out))
