"""The device's audit log (firmware/audit.py on MicroPython) and the host's
check of it (bodycam.evidence.verify.check_audit): the hash chain and MACs hold,
any edit, removal or reordering is named, and a power cut (or a failed
write) mid-entry loses only that entry."""
import hashlib
import hmac
import json

import pytest

from bodycam.evidence import verify
from bodycam.resources import shared

KEY = bytes(range(100, 132))
KID = shared("seal").key_id(KEY)

PRE = """
import json, audit
KEY = bytes(range(100, 132))
class T:
    t = 5000
def ticks():
    T.t += 7
    return T.t
def utc(t):
    return None
def open_log(key=KEY):
    return audit.AuditLog("AUDIT.LOG", key, ticks, utc)
"""


def keyset(key=KEY):
    return verify.KeySet({shared("seal").key_id(key): key}, ["bc-a"])


def write_log(run_mpy, tmp_path, n=12, key="KEY"):
    """A log: a boot entry with the key id, then n mixed entries."""
    run_mpy(PRE + """
log = open_log(%s)
log.record("boot", {"device": "bc-a", "key_id": %r, "chain": {"seq": 0}})
for i in range(%d):
    log.record(("press", "marker", "record_start", "record_stop", "seal", "clip_done")[i %% 6],
               {"i": i, "clip": "BC%%06d" %% (i // 6 + 1), "s": "x" * (i * 3)})
log.close()
print(1)
""" % (key, KID if key == "KEY" else None, n), cwd=tmp_path)
    return tmp_path / "AUDIT.LOG"


def findings(path, keys=None, level=None):
    res = verify.check_audit(str(path), keys or keyset())
    return res, [f.text for f in res.findings if level is None or f.level == level]


def lines_of(path):
    return path.read_bytes().split(b"\n")[:-1]


def test_entries_chain_by_hash_and_carry_hmacs_that_cpython_checks(run_mpy, tmp_path):
    path = write_log(run_mpy, tmp_path)
    lines = lines_of(path)
    assert len(lines) == 13
    prev = "0" * 64
    for i, line in enumerate(lines):
        e = json.loads(line)
        assert e["n"] == i and e["prev"] == prev
        mac = e.pop("mac")
        body = json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert mac == hmac.new(KEY, b"bodycam-audit/1\n" + body, hashlib.sha256).hexdigest()
        prev = hashlib.sha256(line).hexdigest()
    res, texts = findings(path)
    assert texts == [] and len(res.entries) == 13


def test_reopening_continues_the_chain(run_mpy, tmp_path):
    write_log(run_mpy, tmp_path, n=3)
    run_mpy(PRE + """
log = open_log()
print(json.dumps(log.head()[0]))
log.record("boot", {"device": "bc-a", "key_id": "%s"})
log.record("marker", {})
""" % KID, cwd=tmp_path)
    res, texts = findings(tmp_path / "AUDIT.LOG")
    assert texts == [] and [e["n"] for e in res.entries] == list(range(6))


@pytest.mark.parametrize("cut", ["first_byte", "middle", "before_newline_minus_one", "zeros"])
def test_power_cut_mid_entry_verifies_up_to_the_last_whole_entry_then_boot_repairs(run_mpy, tmp_path, cut):
    path = write_log(run_mpy, tmp_path, n=8)
    data = path.read_bytes()
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    last_len = len(data) - last_start - 1
    keep = {"first_byte": 1, "middle": last_len // 2, "before_newline_minus_one": last_len - 1,
            "zeros": last_len // 3}[cut]
    torn = data[:last_start + keep] + (b"\0" * 700 if cut == "zeros" else b"")
    path.write_bytes(torn)
    res, texts = findings(path)
    assert [f.level for f in res.findings] == ["note"]
    assert "verifies up to entry 7" in texts[0]
    assert res.torn_total == len(torn) - last_start
    assert [e["n"] for e in res.entries] == list(range(8))
    # Next boot: the torn bytes are accounted for, never glued to a new entry.
    out = run_mpy(PRE + """
log = open_log()
log.record("boot", {"device": "bc-a", "key_id": "%s"})
log.record("press", {})
print(json.dumps([log.head()[0]]))
""" % KID, cwd=tmp_path)
    assert out == [9]
    res, texts = findings(path)
    assert [f.level for f in res.findings] == ["note"], texts
    assert "torn by a power cut" in texts[0] and "before entry 8" in texts[0]
    boot = res.entries[8]
    assert boot["k"] == "boot" and boot["torn"] == len(torn) - last_start + 1
    assert res.torn_total == boot["torn"]
    assert [e["n"] for e in res.entries] == list(range(10))


def test_whole_last_entry_without_its_newline_is_kept(run_mpy, tmp_path):
    path = write_log(run_mpy, tmp_path, n=4)
    path.write_bytes(path.read_bytes()[:-1])
    res, texts = findings(path)
    assert texts == [] and len(res.entries) == 5
    run_mpy(PRE + "log = open_log()\nlog.record('boot', {'key_id': '%s'})\nprint(1)\n" % KID, cwd=tmp_path)
    res, texts = findings(path)
    assert texts == [] and len(res.entries) == 6


def test_a_failed_write_is_explained_by_the_next_entry(run_mpy, tmp_path):
    write_log(run_mpy, tmp_path, n=2)
    out = run_mpy(PRE + """
log = open_log()
log.record("boot", {"device": "bc-a", "key_id": "%s"})
class Half:
    # the card takes half the bytes, then fails (full, or pulled)
    def __init__(self, f):
        self.f = f
    def write(self, b):
        self.f.write(b[:len(b) // 2])
        self.f.flush()
        raise OSError(28)
    def flush(self):
        pass
    def close(self):
        self.f.close()
log.f = Half(log.f)
a = log.record("marker", {"lost": "this one"})
b = log.record("marker", {"after": 1})
print(json.dumps([a, b, log.head()[0], log.last_error]))
""" % KID, cwd=tmp_path)
    assert out[:3] == [False, True, 4]
    res, texts = findings(tmp_path / "AUDIT.LOG")
    assert [f.level for f in res.findings] == ["note"], texts
    last = res.entries[-1]
    assert last["d"] == {"after": 1} and last["lost"] == 1 and last["torn"] > 0
    assert res.torn_total == last["torn"]  # the report's count of torn bytes


def test_record_never_raises_and_refuses_floats_in_its_own_words(run_mpy, tmp_path):
    out = run_mpy(PRE + """
log = open_log()
a = log.record("boot", {"key_id": "%s"})
b = log.record("x", {"f": 1.5})
c = log.record("y", "not a dict")
print(json.dumps([a, b, c]))
""" % KID, cwd=tmp_path)
    assert out == [True, True, True]
    res, texts = findings(tmp_path / "AUDIT.LOG")
    assert texts == []
    assert "unloggable" in res.entries[1]["d"] and res.entries[2]["d"] == {"value": "not a dict"}


# --- tampering --------------------------------------------------------------

def _edit(path, fn):
    lines = lines_of(path)
    lines = fn(lines)
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def test_edited_entry_is_named_by_its_mac_and_the_chain(run_mpy, tmp_path):
    path = write_log(run_mpy, tmp_path)

    def edit(lines):
        lines[5] = lines[5].replace(b'"i":4', b'"i":9')
        return lines
    _edit(path, edit)
    _, texts = findings(path, level="fail")
    assert any("entry 5's MAC is wrong" in t for t in texts)
    assert any("entry 6 does not chain" in t for t in texts)
    # without the key, the chain alone still names where it broke
    _, texts = findings(path, verify.KeySet(checking=False), level="fail")
    assert texts == ["entry 6 does not chain to the entry before it (its 'prev' hash differs): an entry before "
                     "it was altered, removed or reordered"]


def test_removed_entry_is_named(run_mpy, tmp_path):
    path = write_log(run_mpy, tmp_path)
    _edit(path, lambda lines: lines[:4] + lines[5:])
    _, texts = findings(path, level="fail")
    assert any("entries 4 missing before entry 5" in t for t in texts)
    assert any("entry 5 does not chain" in t for t in texts)


def test_reordered_entries_are_named(run_mpy, tmp_path):
    path = write_log(run_mpy, tmp_path)
    _edit(path, lambda lines: lines[:3] + [lines[4], lines[3]] + lines[5:])
    _, texts = findings(path, level="fail")
    assert any("entries 3 missing before entry 4" in t for t in texts)
    assert any("entry 3 is out of order" in t for t in texts)


def test_garbage_between_entries_is_not_mistaken_for_a_power_cut(run_mpy, tmp_path):
    path = write_log(run_mpy, tmp_path)
    _edit(path, lambda lines: lines[:6] + [b'{"d":{"i":'] + lines[6:])
    _, texts = findings(path, level="fail")
    assert texts == ["11 unreadable bytes (bytes %d-%d) before entry 6 that the device did not record as torn: an "
                     "entry was damaged or altered" % (sum(len(x) + 1 for x in lines_of(path)[:6]),
                                                       sum(len(x) + 1 for x in lines_of(path)[:6]) + 10)]


def test_cut_tail_that_ends_in_a_newline_or_holds_a_whole_entry_is_altered(run_mpy, tmp_path):
    path = write_log(run_mpy, tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-1] + b"\x0b")  # a bit flipped in the last newline
    _, texts = findings(path, level="fail")
    assert len(texts) == 1 and "not a whole entry and not a torn write" in texts[0]
    path.write_bytes(data[:-3] + b"X}\n")  # last entry edited so it no longer parses
    _, texts = findings(path, level="fail")
    assert len(texts) == 1 and "not a whole entry and not a torn write" in texts[0]
    path.write_bytes(data + b'{"d":{\x1f')  # starts like an entry, but a control byte no entry holds
    _, texts = findings(path, level="fail")
    assert len(texts) == 1 and "not a whole entry and not a torn write" in texts[0]


def test_wrong_key_and_missing_key(run_mpy, tmp_path):
    path = write_log(run_mpy, tmp_path, n=2)
    _, texts = findings(path, verify.KeySet({KID: b"\1" * 32}), level="fail")
    assert len(texts) == 3 and all("MAC is wrong" in t for t in texts)
    res, _ = findings(path, verify.KeySet())
    assert [f.level for f in res.findings] == ["unverified"]


def test_unsigned_log_of_a_device_the_keyring_knows_is_refused(run_mpy, tmp_path):
    path = write_log(run_mpy, tmp_path, n=2, key="None")
    _, texts = findings(path, verify.KeySet({}, ["bc-a"]), level="fail")
    assert any("bc-a has a key in the keyring but this boot says it had none" in t for t in texts)
    res, _ = findings(path, verify.KeySet())
    assert [f.level for f in res.findings] == ["unverified"]  # unsigned: said, not hidden


# --- boot wiring ---------------------------------------------------------------

def test_boot_after_a_power_cut_while_recording_logs_the_stop(run_mpy, tmp_path):
    # Booted with the firmware's own boot wiring (evidence.attach): the log
    # itself must say the power went during BC000003, once, and a clean
    # finish must not be reported as a power loss.
    run_mpy(PRE + """
import evidence, evkit
evkit.write_key("key.json", key=KEY)
class Clock:
    def utc(self, t): return None
    def unix_ms(self): return None
class Hal:
    clips_dir = "."
    clock = Clock()
    def ticks_ms(self): return ticks()
def boot():
    return evidence.attach(Hal(), {"id": "t"}, {}, "key.json", "evidence.json")[0]
log = boot()
log.record("record_start", {"clip": "BC000003"})
log.record("marker", {})
log = boot()                        # power lost while recording BC000003
log.record("record_start", {"clip": "BC000004"})
log.record("record_stop", {"clip": "BC000004", "reason": "hold"})
log.record("seal", {"clip": "BC000004"})
log.record("clip_done", {"clip": "BC000004"})
log = boot()                        # finished cleanly
print(1)
""", cwd=tmp_path)
    res, texts = findings(tmp_path / "AUDIT.LOG")
    assert texts == []
    got = [(e["k"], e["d"]) for e in res.entries]
    boots = [i for i, (k, _) in enumerate(got) if k == "boot"]
    assert len(boots) == 3
    assert "interrupted" not in got[boots[0]][1]
    assert got[boots[1]][1]["interrupted"] == "BC000003"
    stops = [(i, d) for i, (k, d) in enumerate(got) if k == "record_stop"]
    # (this HAL has no reset cause: the entry says the chip did not say which)
    assert [d for _, d in stops] == [{"reason": "power_loss", "clip": "BC000003", "found_at": "boot",
                                      "cause": "power loss, brownout, reset or crash: the chip did not say which"},
                                     {"clip": "BC000004", "reason": "hold"}]
    assert stops[0][0] == boots[1] + 1  # logged by the boot that found it
    assert "interrupted" not in got[boots[2]][1] and stops[1][0] < boots[2]


QVGA_HEAP = shared("settings").heap_bytes(4194304, "QVGA", 2)


def test_evidence_attach_logs_boot_and_the_power_loss(run_mpy, tmp_path, qvga_dir):
    from bodycam.resources import boards_dir
    board = boards_dir() + "/ai-thinker-esp32-cam.json"
    jpeg_dir = qvga_dir
    out = run_mpy("""
import json, evkit, evidence
evkit.write_key("key.json", key=bytes(range(100, 132)))
k = evkit.EvKit(%r, %r, {"framesize": "QVGA", "fps": 5, "preroll_s": 2})
k.run_for(3000)
k.press(200)
k.run_for(1500)
print(json.dumps(k.rec.state))
""" % (board, str(jpeg_dir)), cwd=tmp_path, heapsize=QVGA_HEAP)
    assert out == 1  # still recording when "the power goes" (the script ends)
    out = run_mpy("""
import json, evkit
k = evkit.EvKit(%r, %r, {"framesize": "QVGA", "fps": 5, "preroll_s": 2})
print(json.dumps(k.app.recovered))
""" % (board, str(jpeg_dir)), cwd=tmp_path, heapsize=QVGA_HEAP)
    assert out and out[0][0] == "BC000001"
    res, texts = findings(tmp_path / "sd" / "clips" / "AUDIT.LOG", verify.KeySet({KID: KEY}, ["bc-test0001"]))
    assert texts == []
    kinds = [e["k"] for e in res.entries]
    second_boot = kinds.index("boot", 1)
    assert kinds[second_boot:second_boot + 4] == ["boot", "record_stop", "seal", "clip_recovered"]
    assert res.entries[second_boot]["d"]["interrupted"] == "BC000001"
    assert res.entries[second_boot + 1]["d"] == {"reason": "power_loss", "clip": "BC000001", "found_at": "boot",
                                                 "cause": "power loss, brownout, reset or crash: the chip did not "
                                                          "say which"}


def test_drop_watch_logs_drops_at_most_every_10_s_and_does_not_allocate(run_mpy, tmp_path):
    out = run_mpy(PRE + """
import micropython
from ring import FrameRing
from evidence import DropWatch
log = open_log()
ring = FrameRing(4096, 8)
w = DropWatch(ring, log)
micropython.heap_lock()
for t in range(0, 2000):
    w.poll(t)
micropython.heap_unlock()
n0 = log.n
ring.dropped_full += 3
w.poll(3000)
ring.dropped_bad += 1
w.poll(4000)         # too soon: coalesced
w.poll(12999)
w.poll(13000)        # 10 s after the last entry
print(json.dumps(n0))
""", cwd=tmp_path)
    assert out == 0
    res, _ = findings(tmp_path / "AUDIT.LOG", verify.KeySet(checking=False))
    assert [(e["k"], e["d"]) for e in res.entries] == [
        ("dropped", {"ring_full": 3, "bad_frame": 0, "too_large": 0}),
        ("dropped", {"ring_full": 0, "bad_frame": 1, "too_large": 0})]


def test_an_entry_that_claims_torn_bytes_that_are_not_there_is_named(run_mpy, tmp_path):
    # Even with a valid MAC (a device bug, or someone holding the key), an
    # entry that says a torn entry precedes it when none does is altered.
    path = write_log(run_mpy, tmp_path)
    s = shared("seal")

    def edit(lines):
        e = json.loads(lines[-1])
        del e["mac"]
        e["torn"] = 7
        e["mac"] = s.hexstr(s.hmac_sha256(KEY, s.AUDIT_DOMAIN + s.canonical(e)))
        lines[-1] = s.canonical(e)
        return lines
    _edit(path, edit)
    _, texts = findings(path, level="fail")
    assert texts == ["entry 12 says 7 torn bytes precede it, but none do: altered"]


@pytest.mark.parametrize("signed", [True, False])
def test_entries_before_the_first_boot_entry_cannot_be_checked_if_signed(run_mpy, tmp_path, signed):
    # A log that does not start with a boot entry (its start is missing):
    # a MAC there cannot be checked, as no boot entry names its key.
    run_mpy(PRE + """
log = open_log(%s)
log.record("press", {"t": 1})
log.record("boot", {"device": "bc-a", "key_id": %r, "chain": {"seq": 0}})
log.close()
print(1)
""" % ("KEY" if signed else "None", KID if signed else None), cwd=tmp_path)
    _, texts = findings(tmp_path / "AUDIT.LOG", level="unverified")
    before = [t for t in texts if "before any boot entry" in t]
    assert before == (["entry 0 comes before any boot entry: its MAC cannot be checked"] if signed else [])
