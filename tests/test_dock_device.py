"""The dock service on the real MicroPython, inside the capture loop, in
synthetic time (tests/mpy/dockkit.py: a memory link and a minimal host).
Reads are bit-exact and resumable, lost frames are resent, streaming does
not allocate, bad input gets error replies and leaves recording exactly as
it would have been, deletes need the right hash."""
import os

import pytest

from bodycam.resources import boards_dir

HEAP = 4 * 1024 * 1024
BOARD = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")
SMALL = {"fps": 10, "preroll_s": 2, "ring_bytes": 600000}


@pytest.fixture
def dock(run_mpy, jpeg_dir, tmp_path):
    """dock(body) runs body with k (simkit.Kit), d (the Dock on k's loop),
    h (dockkit.Host) and audit, in a fresh folder per call; returns the
    JSON of `out`."""
    runs = []

    def run(body, overrides=None):
        runs.append(1)
        cwd = tmp_path / ("run%d" % len(runs))
        cwd.mkdir()
        code = ("import json, simkit, dockkit\n"
                "audit = dockkit.Audit()\n"
                "k = simkit.Kit(%r, %r, %r, audit=audit)\n"
                "d = dockkit.attach(k)\n"
                "h = dockkit.Host(k, d)\n" % (BOARD, str(jpeg_dir), overrides or SMALL))
        code += body + "\nprint(json.dumps(out))\n"
        return run_mpy(code, heapsize=HEAP, cwd=cwd)

    return run


RECORD_TWO = """
k.run_for(3000)
k.press(200); k.run_for(1500); k.press(3500); k.finish()
k.run_for(500)
k.press(200); k.run_for(4000); k.press(3500); k.finish()
"""

EMPTY_CLIP = """
from clip import ClipWriter
cw = ClipWriter(k.rec.dir, "BC000003", 640, 480, k.rec.stage)
for _ in cw.close_steps(100000):
    pass
cw.write_sidecar({"clip": "BC000003.AVI", "frames": 0, "avi_bytes": cw.size, "avi_sha256": cw.sha256})
"""


def test_list_and_reads_are_bit_exact_from_any_offset(dock):
    out = dock(RECORD_TWO + EMPTY_CLIP + """
ls = h.call("L")
res = []
for e in ls["files"]:
    path = "sd/clips/" + e["name"]
    for chunk, window, off in ((1024, 8192, 0), (64, 64, 0), (4096, 131072, 0), (1000, 5000, e["size"] // 3)):
        n, sha = h.read(e["name"], e["size"], off, chunk, window)
        res.append([e["name"], chunk, off, n, sha == dockkit.sha_file(path, off)])
side = {}
for n in ("BC000001", "BC000002", "BC000003"):
    side[n] = dockkit.sha_file("sd/clips/%s.AVI" % n), json.load(open("sd/clips/%s.JSON" % n))["avi_sha256"]
files = {e["name"]: [e["size"], e["sha256"], dockkit.sha_file("sd/clips/" + e["name"])] for e in ls["files"]}
out = {"ls": ls, "res": res, "side": side, "files": files, "stats": d.stats, "err": d.last_error,
       "audit": [a for a in audit.entries if a[0] == "offload"]}
""")
    names = [e["name"] for e in out["ls"]["files"]]
    assert names == ["AUDIT.LOG"] * ("AUDIT.LOG" in names) + [
        "BC000001.AVI", "BC000001.JSON", "BC000002.AVI", "BC000002.JSON", "BC000003.AVI", "BC000003.JSON"] \
        or names == ["BC000001.AVI", "BC000001.JSON", "BC000002.AVI", "BC000002.JSON", "BC000003.AVI",
                     "BC000003.JSON"]
    for name, (size, listed, actual) in out["files"].items():
        assert listed == actual, name
    # the AVI hashes listed are the ones the sidecars recorded
    for n, (actual, recorded) in out["side"].items():
        assert actual == recorded
    assert out["files"]["BC000002.AVI"][0] > out["files"]["BC000001.AVI"][0] > 100000
    assert out["files"]["BC000003.AVI"][0] < 1000  # the clip of no frames
    for name, chunk, off, n, ok in out["res"]:
        assert ok, (name, chunk, off)
        assert n == out["files"][name][0] - off
    assert out["stats"]["errors"] == 0 and out["err"] is None and out["stats"]["resends"] == 0
    # every whole AVI read is in the audit log, with its hash
    got = {(a[1]["clip"], a[1]["sha256"]) for a in out["audit"]}
    assert ("BC000002", out["side"]["BC000002"][0]) in got


def test_lost_frames_are_sent_again(dock):
    out = dock(RECORD_TWO + """
e = h.call("L")["files"][2]
n, sha = h.read(e["name"], e["size"], 0, 512, 4096, lose=lambda off: off % 5120 == 1024)
out = {"ok": sha == e["sha256"], "n": n, "size": e["size"], "stats": d.stats}
""")
    assert out["ok"] and out["n"] == out["size"]
    assert out["stats"]["resends"] >= out["size"] // 5120


# The host's acks, one per poll, fed from one preallocated buffer while
# the heap is locked: the dock's streaming must not allocate.
ACKS_UNDER_HEAP_LOCK = """
def acks_under_heap_lock(d, link, acks, now):
    fixed = bytearray(len(acks[0]))
    link.inp = fixed
    micropython.heap_lock()
    try:
        for i in range(len(acks)):
            fixed[:] = acks[i]
            link.pos = 0
            d.poll(now)
    finally:
        micropython.heap_unlock()


import micropython, dockwire as W
e = h.call("L")["files"][2]   # the longest clip
link = d.link
link.keep = False   # count the bytes only
"""


def test_streaming_with_acks_allocates_nothing(dock):
    out = dock(RECORD_TWO + ACKS_UNDER_HEAP_LOCK + """
chunk, window = 1024, 4096
cid = 77
steps = e["size"] // window - 2
acks = [W.command(cid, "K", window * (i + 1), window * (i + 1), chunk, window) for i in range(steps)]
link.feed(W.command(cid, "F", e["name"], 0, chunk, window, e["size"]))
now = k.now()
d.poll(now)  # opens the file, sends the first window
sent0 = link.nout
acks_under_heap_lock(d, link, acks, now)
out = {"steps": steps, "bytes": link.nout - sent0, "sent": d.stream.sent, "acked": d.stream.acked,
       "errors": d.stats["errors"], "err": d.last_error}
""")
    assert out["errors"] == 0 and out["err"] is None
    assert out["steps"] > 20
    # each step: an ack in, a window of frames out
    assert out["bytes"] == out["steps"] * (4096 + 4 * 16)
    assert out["acked"] == out["steps"] * 4096 and out["sent"] == out["acked"] + 4096


def test_frame_size_changes_from_acks_allocate_nothing(dock):
    # The host shrinks and grows the frame size in its acks (adaptive
    # frames): the dock switches between its fixed views without allocating.
    out = dock(RECORD_TWO + ACKS_UNDER_HEAP_LOCK + """
window = 4096
cid = 78
steps = e["size"] // window - 2
sizes = (64, 4096, 128, 1024, 256, 2048, 512, 100, 3000)  # 100 and 3000: the dock rounds down
acks = [W.command(cid, "K", window * (i + 1), window * (i + 1), sizes[i % len(sizes)], window)
        for i in range(steps)]
link.feed(W.command(cid, "F", e["name"], 0, 1024, window, e["size"]))
now = k.now()
d.poll(now)
sent0, frames0, resizes0 = d.stream.sent, d.stats["frames"], d.stats["resizes"]
n0 = link.nout
acks_under_heap_lock(d, link, acks, now)
out = {"steps": steps, "bytes": link.nout - n0, "payload": d.stream.sent - sent0,
       "frames": d.stats["frames"] - frames0, "resizes": d.stats["resizes"] - resizes0, "chunk": d.stream.chunk,
       "sent": d.stream.sent, "acked": d.stream.acked,
       "errors": d.stats["errors"], "err": d.last_error}
""")
    assert out["errors"] == 0 and out["err"] is None and out["steps"] > 20
    assert out["acked"] == out["steps"] * 4096 and out["sent"] == out["acked"] + 4096
    assert out["resizes"] == out["steps"]  # every ack asked for another size
    # frames of each requested size: a 4096-byte window is 64 frames of 64 bytes, 1 of 4096, ...
    per_window = {64: 64, 4096: 1, 128: 32, 1024: 4, 256: 16, 2048: 2, 512: 8, 100: 64, 3000: 2}
    sizes = (64, 4096, 128, 1024, 256, 2048, 512, 100, 3000)
    want = sum(per_window[sizes[i % len(sizes)]] for i in range(out["steps"]))
    assert out["frames"] == want and out["bytes"] == out["payload"] + 16 * want


def test_selective_resends_send_the_gap_alone_and_allocate_nothing(dock):
    # Each window loses its second frame: the host asks for that frame alone
    # (N OFFSET LENGTH), the dock sends it and nothing else it sent before,
    # then the host acks the whole window and the next one comes. Under
    # heap_lock: queueing and sending a gap allocates nothing.
    out = dock(RECORD_TWO + ACKS_UNDER_HEAP_LOCK + """
chunk, window = 512, 4096
cid = 79
steps = e["size"] // window - 2
acks = []
for i in range(steps):
    acks.append(W.command(cid, "N", window * i + chunk, chunk, chunk, window))
    acks.append(W.command(cid, "K", window * (i + 1), window * (i + 1), chunk, window))
link.feed(W.command(cid, "F", e["name"], 0, chunk, window, e["size"]))
now = k.now()
d.poll(now)
n0, st0 = link.nout, dict(d.stats)
acks_under_heap_lock(d, link, acks, now)
out = {"steps": steps, "bytes": link.nout - n0, "resends": d.stats["resends"] - st0["resends"],
       "resent": d.stats["resent_bytes"] - st0["resent_bytes"], "sent": d.stream.sent, "acked": d.stream.acked,
       "errors": d.stats["errors"], "err": d.last_error}
""")
    assert out["errors"] == 0 and out["err"] is None and out["steps"] > 20
    assert out["resends"] == out["steps"] and out["resent"] == out["steps"] * 512
    # per step: the lost frame again, then the next window (8 frames)
    assert out["bytes"] == out["steps"] * ((512 + 16) + 4096 + 8 * 16)
    assert out["acked"] == out["steps"] * 4096 and out["sent"] == out["acked"] + 4096


FUZZ_SCENARIO = """
k.run_for(3000)
k.press(200)
k.run_for(400)
replies = []
if d is not None:
    import random, dockwire as W
    random.seed(7)
    with open("sd/clips/OLD.AVI", "wb") as f:
        f.write(b"0123456789")
    busy = k.rec.clip.name + ".AVI"
    sha0 = "ab" * 32
    bad = [W.command(11, "Z"), W.command(12, "F"), W.command(13, "F", "BC000001.AVI", "x", 1, 1, 1),
           W.command(14, "F", "../../etc/pass", 0, 1024, 8192, 10), W.command(15, "X", "NOPE.AVI", sha0),
           W.command(16, "X", busy, sha0), W.command(17, "F", busy, 0, 1024, 8192, 1000),
           W.command(18, "T", 5), W.command(19, "B", 12345), W.command(20, "F", "NOPE.AVI", 0, 1024, 8192, 1),
           W.command(21, "F", busy.replace("AVI", "JSON"), 0, 1024, 8192, 1), W.command(22, "X", "AUDIT.LOG", sha0),
           b"#" + b"7" * 300 + b"\\n", W.command(23, "L"), W.command(24, "I"), W.command(25, "K", 5, 5, 1024, 4096),
           W.command(26, "N", 5, 5, 1024, 4096), W.command(27, "F", "OLD.AVI", 0, 1, 1, 10),
           W.command(28, "R", "OLD.AVI", 0, 1024, 8192, 10), W.command(29, "S", "OLD.AVI", 0, 1024, 8192, 10),
           W.command(30, "K", 5)]
    for i in range(60):
        if i < len(bad):
            k.run_for(100)
            h.send(bad[i])
        junk = bytes(random.getrandbits(8) for _ in range(1 + random.getrandbits(7)))
        h.send(junk + (b"#" if i % 3 == 0 else b"") + (b"\\n" if i % 2 else b""))
        k.run_for(100)
        for f in dockkit.frames(d.link.take()):
            replies.append([f[1], json.loads(f[3])])
else:
    k.run_for(60 * 100 + 21 * 100)  # one run_for(100) per bad command above
k.run_for(1000)
k.press(3500)
k.finish()
sc = json.load(open("sd/clips/BC000001.JSON"))
out = {"replies": replies, "sha": sc["avi_sha256"], "frames": sc["frames"], "frame_ms": sc["frame_ms"],
       "dropped": sc["dropped"], "first": sc["first_seq"], "last": sc["last_seq"],
       "errors": d.stats["errors"] if d else 0, "err": d.last_error if d else None,
       "capture_errors": k.app.capture_errors}
"""


def test_bad_input_gets_error_replies_and_recording_is_untouched(dock):
    control = dock("k.app.services.remove(d)\nd = None\n" + FUZZ_SCENARIO)
    out = dock(FUZZ_SCENARIO)
    # the recording is byte for byte what it is with no dock traffic at all
    for key in ("sha", "frames", "frame_ms", "dropped", "first", "last"):
        assert out[key] == control[key], key
    assert out["frames"] > 60 and out["dropped"] == {"ring_full": 0, "bad_frame": 0, "too_large": 0, "late_capture": 0}
    assert out["errors"] == 0 and out["err"] is None and out["capture_errors"] == 0
    by_id = {}
    for cid, r in out["replies"]:
        by_id.setdefault(cid, []).append(r)
    expect = {11: "unknown command", 12: "usage: F", 13: "not a whole number", 14: "bad file name",
              15: "no such file", 16: "being recorded", 17: "being recorded", 18: "2020-2100",
              19: "baud must be one of", 20: "no such file", 21: "no such file", 22: "never deleted",
              26: "no read in progress", 27: "chunk must be",
              28: "update bodycam on the host", 29: "update bodycam on the host", 30: "usage: K"}
    for cid, words in expect.items():
        assert by_id.get(cid), "no reply to command %d" % cid
        r = by_id[cid][0]
        assert r["ok"] is False and words in r["error"], (cid, r)
    # the clip being recorded is listed, without a hash, marked busy
    files = by_id[23][0]["files"]
    busy = [e for e in files if e.get("busy")]
    assert [e["name"] for e in busy] == ["BC000001.AVI"] and busy[0]["sha256"] is None
    assert by_id[24][0]["state"] == "recording" and by_id[24][0]["recording"] == "BC000001.AVI"
    # a stale ack gets no reply; garbage and the overlong line got id-0 errors
    assert 25 not in by_id
    zero = [r["error"] for r in by_id.get(0, [])]
    assert any("too long" in e for e in zero) and any("checksum" in e for e in zero)


def test_delete_needs_the_files_hash(dock):
    out = dock(RECORD_TWO + """
import os, dockwire as W
ls = {e["name"]: e for e in h.call("L")["files"]}
e = ls["BC000001.AVI"]
res = {}


def call(*a):
    cid = h.next_id()
    line = W.command(cid, *a)
    h.send(line)
    got = []
    for _ in range(50):
        h.tick()
        got += [json.loads(f[3]) for f in dockkit.frames(d.link.take()) if f[1] == cid]
        if got:
            return line, got[0]
line, res["wrong"] = call("X", e["name"], "0" * 64)
res["still_there"] = "BC000001.AVI" in os.listdir("sd/clips")
line, res["right"] = call("X", e["name"], e["sha256"].upper())
res["gone"] = "BC000001.AVI" not in os.listdir("sd/clips")
# the same command again (its reply lost): the same answer, nothing run twice
h.send(line)
h.tick(2)
res["repeat"] = [json.loads(f[3]) for f in dockkit.frames(d.link.take())]
line, res["again_new_id"] = call("X", e["name"], e["sha256"])
j = ls["BC000001.JSON"]
line, res["json"] = call("X", j["name"], j["sha256"])
res["audit"] = [a for a in audit.entries if a[0] == "delete"]
res["left"] = sorted(os.listdir("sd/clips"))
out = res
""")
    assert out["wrong"]["ok"] is False and out["wrong"]["code"] == "hash" and out["still_there"]
    assert out["right"] == {"ok": True, "deleted": "BC000001.AVI"} and out["gone"]
    assert out["repeat"] == [out["right"]]
    assert out["again_new_id"]["ok"] is False and "no such file" in out["again_new_id"]["error"]
    assert out["json"]["ok"] is True
    assert [a[1]["file"] for a in out["audit"]] == ["BC000001.AVI", "BC000001.JSON"]
    assert "BC000002.AVI" in out["left"] and "BC000001.AVI" not in out["left"]


def test_baud_switch_falls_back_unless_confirmed_and_reverts_when_idle(dock):
    out = dock("""
import dockwire as W
link, ms = d.link, d.ms
res = {}
res["reply"] = h.call("B", 921600)
ms.t += 1000
h.tick(2)
res["switched"] = list(link.bauds)
ms.t += 2600  # nothing heard at the new speed
h.tick(2)
res["fell_back"] = list(link.bauds)
h.call("B", 921600)
ms.t += 1000
h.tick(2)
h.call("P")  # heard at the new speed: keep it
ms.t += 5000
h.tick(2)
res["kept"] = list(link.bauds)
ms.t += 10000  # host gone
h.tick(2)
res["idle"] = list(link.bauds)
try:
    h.call("B", 12345)
except Exception as e:
    res["bad"] = str(e)
out = res
""")
    assert out["reply"]["ok"] and out["reply"]["baud"] == 921600 and out["reply"]["old_baud"] == 115200
    assert out["switched"] == [921600]
    assert out["fell_back"] == [921600, 115200]
    assert out["kept"] == [921600, 115200, 921600]
    assert out["idle"] == [921600, 115200, 921600, 115200]


def test_clock_set_goes_through_the_evidence_log(dock):
    out = dock("""
res = {"before": h.call("I")["clock"]}
res["set"] = h.call("T", 1767225600123)
res["after"] = h.call("I")["clock"]
try:
    h.call("T", 12)
except Exception:
    pass
res["audit"] = [a for a in audit.entries if a[0] == "clock_set"]
out = res
""")
    assert out["before"]["set"] is False and out["before"]["utc"] is None
    assert out["set"]["ok"] and out["set"]["utc"].startswith("2026-01-01T00:00:00")
    assert out["after"]["set"] is True and out["after"]["utc"].startswith("2026-01-01T00:00:")
    assert len(out["audit"]) == 1 and out["audit"][0][1]["source"] == "host"


def test_a_read_nobody_acks_is_dropped_and_a_new_command_ends_a_read(dock):
    out = dock(RECORD_TWO + """
import dockwire as W
e = h.call("L")["files"][2]
h.send(W.command(90, "F", e["name"], 0, 1024, 8192, e["size"]))
h.tick(3)
res = {"open": d.stream.f is not None, "sent": d.stream.sent}
d.ms.t += 16000
h.tick(2)
res["stalled_closed"] = d.stream.f is None
h.send(W.command(91, "F", e["name"], 0, 1024, 8192, e["size"]))
h.tick(2)
res["reopened"] = d.stream.f is not None
res["ping"] = h.call("P")["ok"]
res["ended_by_ping"] = d.stream.f is None
out = res
""")
    assert out["open"] and out["sent"] == 8192
    assert out["stalled_closed"] and out["reopened"] and out["ping"] and out["ended_by_ping"]


def test_idle_streams_through_the_loops_wait_and_returns_when_the_frame_is_due(dock):
    out = dock(RECORD_TWO + """
import dockwire as W
e = h.call("L")["files"][2]
cid = 42

class AckingLink(dockkit.MemLink):
    # the host acks whatever arrived each time the dock waits; after 30
    # waits the loop's next frame is due
    waits = 0
    def wait(self, ms, out=False):
        self.waits += 1
        self.feed(W.command(cid, "K", d.stream.sent, d.stream.sent, 1024, 4096))
        if self.waits == 30:
            k.hal.ticks.t += 1000

link = AckingLink()
d.use_link(link)
link.keep = False
res = {"idle_without_work": (d.idle(k.now() + 100), link.waits)[1]}
link.feed(W.command(cid, "F", e["name"], 0, 1024, 4096, e["size"]))
d.poll(k.now())
sent0 = d.stream.sent
d.idle(k.now() + 100)
res.update({"sent0": sent0, "sent": d.stream.sent, "acked": d.stream.acked, "waits": link.waits, "size": e["size"],
            "errors": d.stats["errors"]})
out = res
""")
    assert out["idle_without_work"] == 0
    assert out["errors"] == 0 and out["sent0"] == 4096
    assert out["waits"] == 30  # returned once the next frame was due
    # a window per ack: 29 more went out during the loop's wait, no tick needed
    assert out["sent"] == min(out["size"], 30 * 4096) and out["acked"] >= out["sent"] - 4096
