"""The station's rules, fast: cameras held in memory (tests/memdock.py,
through Station(open_dock=...)) and moto's real S3 server. What a slot
does when a camera has no id, goes away, is unplugged or comes back; when
the store is down, refuses the bucket, or changes its answer between the
upload and the delete; how a device id is read from the audit log; what
the table and the JSON lines say. tests/test_station.py does it end to end
with virtual boards running the firmware."""
import datetime
import hashlib
import io
import json
import os
import time

import pytest
from botocore.exceptions import ClientError
from serial.tools.list_ports_common import ListPortInfo

from bodycam.device.portfind import NoPortError
from bodycam.evidence.store import EvidenceStore, StoreError
from bodycam.offload.client import DockError, LinkLost, PortGone
from bodycam.station import Station
from bodycam.station import identity
from bodycam.station.puller import StationPuller
from bodycam.station.report import COLUMNS, JsonLines, LiveTable, table_lines
from bodycam.station.slot import Backoff, Slot
from memdock import Device
from s3server import new_bucket, retention_guard, s3, s3_endpoint  # noqa: F401  (fixtures)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def entry(kind, d, n=0):
    # as firmware/audit.py writes them (canonical JSON)
    return json.dumps({"n": n, "k": kind, "t": 0, "d": d}, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def boot(device="bc-1", key_id="0123456789abcdef", n=0):
    return entry("boot", {"device": device, "key_id": key_id}, n)


class Camera(Device):
    """A docked camera: clips (an AVI and the sidecar that names its hash),
    an audit log whose boot entry names its device id, the dock's info
    reply; connect() raises what is queued in `fail`, one per call."""

    def __init__(self, device="bc-1", clips=1, log=None, info=None):
        files = {}
        for i in range(1, clips + 1):
            avi = os.urandom(3000 + i)
            files["BC%06d.AVI" % i] = avi
            files["BC%06d.JSON" % i] = json.dumps({"avi_sha256": sha(avi)}).encode()
        files["AUDIT.LOG"] = boot(device) if log is None else log
        if not files["AUDIT.LOG"]:
            del files["AUDIT.LOG"]
        super().__init__(files)
        self.info_cache = None
        self.reply = dict({"board": "ai-thinker-esp32-cam", "firmware": "1.2", "boot_baud": 115200}, **(info or {}))
        self.fail = []
        self.connects = 0
        self.tails = []  # (offset, size) of each read

    def connect(self):
        self.connects += 1
        if self.fail:
            raise self.fail.pop(0)
        self.info_cache = dict(self.reply)
        return self.info_cache

    def read_file(self, name, size, offset, sink, progress=None):
        self.tails.append((name, offset, size))
        super().read_file(name, size, offset, sink, progress)


class Events(JsonLines):
    def __init__(self):
        self.seen = []
        self.ticks = []
        self.closed = None

    def event(self, slot, kind, **fields):
        self.seen.append(dict(fields, event=kind, port=slot.port if slot else None))

    def tick(self, slots):
        self.ticks.append([s.port for s in slots])

    def close(self, slots):
        self.closed = [s.port for s in slots]

    def of(self, kind):
        return [e for e in self.seen if e["event"] == kind]

    def states(self, port=None):
        return [e["state"] for e in self.of("state") if port is None or e["port"] == port]


def station(tmp_path, cams, **kw):
    """A Station over in-memory cameras {port: Camera}; fast retries."""
    closed = []
    kw.setdefault("once", True)
    kw.setdefault("reporter", Events())
    for k, v in dict(backoff_first=0.01, backoff_most=0.04, once_grace=0.3, poll=0.05, tick_every=0.0).items():
        kw.setdefault(k, v)

    def open_dock(port, log):
        cam = cams[port]
        if isinstance(cam, Exception):
            raise cam
        return cam, lambda: closed.append(port)

    st = Station(str(tmp_path / "out"), ports=kw.pop("ports", sorted(cams)), open_dock=open_dock, **kw)
    st.closed = closed
    return st


# --- a camera drained --------------------------------------------------------------------

def test_once_a_camera_is_drained_into_the_folder_and_the_store_then_deleted(tmp_path, s3):
    bucket = new_bucket(s3)
    cam = Camera("bc-1", clips=2)
    want = dict(cam.files)
    st = station(tmp_path, {"p0": cam}, store=EvidenceStore("s3://%s/desk" % bucket, retain_days=2), delete=True)
    s = st.run()
    assert s["ok"] and s["slots"][0]["outcome"] == "drained" and s["refused"] == []
    slot = s["slots"][0]
    assert slot["device"] == "bc-1" and slot["state"] == "done" and slot["baud"] == 115200
    clips = ["BC000001.AVI", "BC000001.JSON", "BC000002.AVI", "BC000002.JSON"]
    assert slot["pulled"] == clips + ["AUDIT.LOG"] and slot["stored"] == clips + ["AUDIT.LOG"]
    assert slot["deleted"] == clips and sorted(cam.files) == ["AUDIT.LOG"]
    assert slot["bytes"] == sum(len(v) for v in want.values())
    assert slot["upload_bytes"] == sum(len(want[c]) for c in clips)  # the log goes up whole, unmetered
    assert slot["upload_seconds"] > 0 and slot["pull_seconds"] >= 0 and slot["errors"] == []
    assert (s["pulled"], s["stored"], s["deleted"], s["bytes"]) == (5, 5, 4, slot["bytes"])
    for name, data in want.items():
        assert (tmp_path / "out" / "bc-1" / name).read_bytes() == data
        assert s3.get_object(Bucket=bucket, Key="desk/bc-1/" + name)["Body"].read() == data
    ev = st.reporter
    assert ev.states("p0") == ["pulling", "uploading", "idle", "done"]  # a slot starts "connecting"
    (camera,) = ev.of("camera")
    assert (camera["device"], camera["board"], camera["firmware"]) == ("bc-1", "ai-thinker-esp32-cam", "1.2")
    stored = {e["file"]: e for e in ev.of("stored")}
    assert stored["BC000001.AVI"]["key"] == "desk/bc-1/BC000001.AVI" and stored["AUDIT.LOG"]["version"]
    assert stored["BC000001.AVI"]["retain_until"].startswith(str(datetime.date.today() + datetime.timedelta(days=2)))
    assert [e["file"] for e in ev.of("uploading")] == clips + ["AUDIT.LOG"]
    assert st.closed == ["p0"] and ev.closed == ["p0"] and ev.ticks  # the port closed; the table drawn
    row = st.slots["p0"].row()  # the round is over: its bytes counted once, no file in progress
    assert row["bytes"] == slot["bytes"] and row["clip"] is None


def test_without_a_store_the_folder_alone_decides(tmp_path):
    cam = Camera("bc-1")
    s = station(tmp_path, {"p0": cam}, delete=True).run()
    assert s["ok"] and s["slots"][0]["deleted"] == ["BC000001.AVI", "BC000001.JSON"]
    assert s["slots"][0]["stored"] == [] and s["stored"] == 0


def test_a_pair_that_disagrees_is_neither_stored_nor_deleted(tmp_path, s3):
    bucket = new_bucket(s3)
    cam = Camera("bc-1", clips=2)
    cam.files["BC000002.JSON"] = json.dumps({"avi_sha256": "0" * 64}).encode()
    st = station(tmp_path, {"p0": cam}, store=EvidenceStore("s3://%s/d" % bucket, retain_days=1), delete=True)
    s = st.run()
    slot = s["slots"][0]
    assert slot["outcome"] == "errors" and not s["ok"]
    assert slot["stored"] == ["BC000001.AVI", "BC000001.JSON", "AUDIT.LOG"]
    assert {"BC000002.AVI", "BC000002.JSON"} <= set(cam.files) and "BC000001.AVI" not in cam.files
    assert "differs from the" in slot["errors"][0]["error"] and slot["errors"][0]["file"] == "BC000002.AVI"
    assert [e["file"] for e in st.reporter.of("error")] == ["BC000002.AVI"]


# --- the store between the folder and the delete -------------------------------------------

def test_store_down_keeps_every_clip_on_the_camera_and_says_store_wait(tmp_path, monkeypatch):
    from s3server import aws_env, free_port
    aws_env(monkeypatch, "http://127.0.0.1:%d" % free_port())
    cam = Camera("bc-1")
    st = station(tmp_path, {"p0": cam}, store=EvidenceStore("s3://b/d", retain_days=1), delete=True)
    s = st.run()
    slot = s["slots"][0]
    assert slot["outcome"] == "store-pending" and not s["ok"] and cam.deleted == []
    assert (tmp_path / "out" / "bc-1" / "BC000001.AVI").exists()  # in the folder meanwhile
    waits = [e for e in st.reporter.of("state") if e["state"] == "store-wait"]
    assert waits and waits[0]["pending"] == ["AUDIT.LOG", "BC000001.AVI", "BC000001.JSON"]
    assert len(waits) >= 2 and st.reporter.states()[-1] == "done"  # retried within --once's grace
    errors = st.reporter.of("store_error")
    assert "clips stay on the cameras" in errors[0]["error"]  # the check at the start
    assert [e["file"] for e in errors[1:4]] == ["BC000001.AVI", "BC000001.JSON", "AUDIT.LOG"]  # then each upload
    assert all("cannot be reached" in e["error"] for e in errors[1:4])


def test_a_store_that_changed_its_answer_after_the_upload_keeps_the_clip(tmp_path, s3):
    bucket = new_bucket(s3)
    cam = Camera("bc-1")
    out = tmp_path / "out"
    store = EvidenceStore("s3://%s/d" % bucket, retain_days=5)
    notes = []

    def note(event, **f):
        notes.append((event, f))
        if event == "stored" and f["file"] == "BC000001.AVI":
            # between the upload and the delete, the date is cut (moto allows it; AWS would not)
            s3.put_object_retention(Bucket=bucket, Key=f["key"], VersionId=f["version"], Retention={
                "Mode": "COMPLIANCE", "RetainUntilDate": datetime.datetime.now(datetime.timezone.utc)})

    p = StationPuller(cam, str(out), "bc-1", store=store, note=note, delete=True, progress=False, say=lambda m: None)
    s = p.run()
    assert "BC000001.AVI" in cam.files and "BC000001.JSON" in cam.files  # a pair goes together or not at all
    ((name, why),) = s["store_errors"]
    assert name == "BC000001.AVI" and why.startswith("not deleted: ") and "retained only until" in why
    assert ("store_error", {"file": "BC000001.AVI", "error": why[len("not deleted: "):]}) in notes
    assert p.current == "AUDIT.LOG"


def test_a_copy_changed_here_after_the_store_confirmed_it_is_not_proof(tmp_path, s3):
    bucket = new_bucket(s3)
    cam = Camera("bc-1")
    out = tmp_path / "out"

    def note(event, **f):
        if event == "stored" and f["file"] == "BC000001.AVI":
            (out / "BC000001.AVI").write_bytes(b"changed here")  # after the upload, before the delete

    s = StationPuller(cam, str(out), "bc-1", store=EvidenceStore("s3://%s/d" % bucket, retain_days=1), note=note,
                      delete=True, progress=False, say=lambda m: None).run()
    assert cam.deleted == [] and s["stored"] == ["BC000001.AVI", "BC000001.JSON", "AUDIT.LOG"]
    assert s["errors"][0][0] == "BC000001.AVI" and "no longer matches" in s["errors"][0][1]


def test_a_retention_the_store_will_not_extend_keeps_the_clip_on_the_camera(tmp_path, s3, retention_guard):
    bucket = new_bucket(s3)
    cam = Camera("bc-1")
    day = StationPuller(cam, str(tmp_path / "a"), "bc-1", store=EvidenceStore("s3://%s/d" % bucket, retain_days=1),
                        progress=False, say=lambda m: None).run()
    assert day["stored"] == ["BC000001.AVI", "BC000001.JSON", "AUDIT.LOG"]
    month = EvidenceStore("s3://%s/d" % bucket, retain_days=31)

    def refuse(**kw):  # as AWS answers a key without s3:PutObjectRetention
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                           "ResponseMetadata": {"HTTPStatusCode": 403}}, "PutObjectRetention")

    month.s3.meta.events.register("before-call.s3.PutObjectRetention", refuse)
    s = StationPuller(cam, str(tmp_path / "b"), "bc-1", store=month, delete=True, progress=False,
                      say=lambda m: None).run()
    assert cam.deleted == [] and s["deleted"] == []
    assert [n for n, _ in s["store_errors"]] == ["BC000001.AVI", "BC000001.JSON", "AUDIT.LOG"]
    assert all("AccessDenied" in e for _, e in s["store_errors"])
    assert len(retention_guard.requests) == 3 and retention_guard.refused == []  # asked, longer, refused


def test_a_bucket_that_cannot_hold_evidence_refuses_the_slot(tmp_path, s3):
    bucket = new_bucket(s3, lock=False)
    cam = Camera("bc-1")
    st = station(tmp_path, {"p0": cam}, store=EvidenceStore("s3://%s/d" % bucket, retain_days=3), delete=True)
    slot = Slot(st, "p0")  # its round, without the station's check before it
    slot.run()
    assert (slot.outcome, slot.state) == ("refused", "refused") and cam.deleted == []
    assert "has no Object Lock" in slot.errors[-1][1]
    connects = cam.connects
    with pytest.raises(ValueError, match="has no Object Lock"):  # the station itself refuses it before any camera
        station(tmp_path, {"p0": cam}, store=EvidenceStore("s3://%s/d" % bucket, retain_days=3)).run()
    assert cam.connects == connects


# --- a camera that goes away, or has no id ---------------------------------------------------

def test_a_camera_that_comes_back_is_drained_and_one_that_does_not_is_given_up(tmp_path):
    cam = Camera("bc-1")
    cam.fail = [LinkLost("quiet"), LinkLost("quiet")]
    st = station(tmp_path, {"p0": cam}, delete=True, once_grace=5)
    s = st.run()
    assert s["ok"] and cam.deleted == ["BC000001.AVI", "BC000001.JSON"]
    assert st.reporter.states() == ["lost", "connecting", "lost", "connecting", "pulling", "idle", "done"]
    assert [e["error"] for e in st.reporter.of("error")] == ["quiet", "quiet"]
    gone = Camera("bc-2")
    gone.fail = [LinkLost("cannot open p1: no such port")] * 1000
    t0 = time.monotonic()
    s = station(tmp_path, {"p1": gone}, once_grace=0.3).run()
    slot = s["slots"][0]
    assert slot["outcome"] == "gave-up" and slot["state"] == "done" and not s["ok"]
    assert "gave up after 0 s" in slot["errors"][-1]["error"] and "resumes next time" in slot["errors"][-1]["error"]
    assert 0.3 <= time.monotonic() - t0 < 3 and gone.connects >= 3


def test_an_unplugged_adapter_loses_its_slot_but_a_given_port_is_kept(tmp_path):
    cam = Camera("bc-1")
    cam.fail = [PortGone("serial link lost")]
    present = []
    st = station(tmp_path, {"/dev/ttyUSB0": cam}, once=False, comports=lambda: list(present))
    slot = Slot(st, "/dev/ttyUSB0", fixed=False)
    slot.run()
    assert slot.outcome == "unplugged" and slot.state == "lost"
    assert slot.errors == [("", "unplugged: serial link lost")]
    # a port that cannot be opened any more is unplugged too; a quiet camera on an adapter still there is not
    cam.fail = [LinkLost("cannot open /dev/ttyUSB0: [Errno 2] No such file or directory")]
    slot = Slot(st, "/dev/ttyUSB0", fixed=False)
    slot.run()
    assert slot.outcome == "unplugged"
    present.append(adapter("/dev/ttyUSB0"))
    cam.fail = [LinkLost("no reply from the bodycam dock")]
    slot = Slot(st, "/dev/ttyUSB0", fixed=False)
    st.slots = {"/dev/ttyUSB0": slot}
    slot.start()
    end = time.monotonic() + 10
    while slot.state != "idle" and time.monotonic() < end:
        time.sleep(0.02)
    slot.stop()
    slot.join(5)
    assert slot.errors == [("", "no reply from the bodycam dock")] and slot.outcome == "drained"
    cam = Camera("bc-2")
    cam.fail = [PortGone("serial link lost")] * 2
    # a --port is kept: lost, retried, drained once it answers
    st = station(tmp_path, {"/dev/ttyUSB0": cam}, delete=True)
    s = st.run()
    assert s["ok"] and st.reporter.states().count("lost") == 2
    assert cam.connects == 4  # 2 lost, then the slot's and the pull's own


def test_a_camera_without_a_device_id_is_refused_and_keeps_its_clips(tmp_path):
    cam = Camera(log=b"")  # no audit log at all
    s = station(tmp_path, {"p0": cam}, delete=True).run()
    slot = s["slots"][0]
    assert (slot["outcome"], slot["state"]) == ("refused", "refused") and s["refused"] == ["p0"]
    assert "no audit log" in slot["errors"][0]["error"] and "bodycam deploy" in slot["errors"][0]["error"]
    assert cam.deleted == [] and not (tmp_path / "out" / "bc-1").exists()


def test_two_cameras_with_one_id_the_second_is_refused_until_the_first_is_unplugged(tmp_path):
    a, b = Camera("bc-twin"), Camera("bc-twin")
    st = station(tmp_path, {"p0": a, "p1": b}, once=False, delete=True)
    first, second = Slot(st, "p0", fixed=False), Slot(st, "p1", fixed=False)
    st.slots = {"p0": first, "p1": second}
    assert st.claim(first, "bc-twin") is None and st.claim(first, "bc-twin") is None  # its own claim again
    why = st.claim(second, "bc-twin")
    assert why.startswith("REFUSED: the camera on p1 claims device id bc-twin, which the camera on p0 already has")
    (c,) = st.reporter.of("conflict")
    assert (c["port"], c["other_port"], c["device"], c["error"]) == ("p1", "p0", "bc-twin", why)
    second.run()  # its own session: refused, nothing read, nothing deleted
    assert (second.outcome, second.state, second.device) == ("refused", "refused", "bc-twin") and b.deleted == []
    assert b.tails == [("AUDIT.LOG", 0, len(b.files["AUDIT.LOG"]))]  # the id, and nothing else
    # the first camera unplugged (its slot gone): the id is free for the other one
    del st.slots["p0"]
    assert st.claim(second, "bc-twin") is None and st.claims["bc-twin"] is second
    st.release(first)  # not its claim any more: nothing changes
    assert st.claims["bc-twin"] is second
    st.release(second)
    assert "bc-twin" not in st.claims


def adapter(dev):
    info = ListPortInfo(dev, skip_link_detection=True)
    info.vid, info.pid = 0x1A86, 0x7523  # a CH340
    return info


def test_watching_the_adapters_adds_and_drops_slots(tmp_path):
    plugged = [adapter("/dev/ttyUSB0"), adapter("/dev/ttyUSB1")]
    cams = {"/dev/ttyUSB0": Camera("bc-1"), "/dev/ttyUSB1": Camera("bc-2")}
    st = station(tmp_path, cams, ports=(), once=False, comports=lambda: list(plugged))
    st._watch()
    assert sorted(st.slots) == ["/dev/ttyUSB0", "/dev/ttyUSB1"] and not any(s.fixed for s in st.slots.values())
    assert st.port_present("/dev/ttyUSB1")
    for s in st.slots.values():
        s.stop()
        s.join(5)
    plugged.pop()
    st.slots["/dev/ttyUSB1"].device = "bc-2"
    st.claims["bc-2"] = st.slots["/dev/ttyUSB1"]
    st._watch()
    assert sorted(st.slots) == ["/dev/ttyUSB0"] and "bc-2" not in st.claims
    assert [e["port"] for e in st.reporter.of("slot_gone")] == ["/dev/ttyUSB1"]
    assert not st.port_present("/dev/ttyUSB1")
    with pytest.raises(NoPortError):
        station(tmp_path, {}, ports=(), comports=lambda: []).run()


def test_a_camera_plugged_in_while_the_station_watches_is_drained_and_dropped_when_unplugged(tmp_path):
    import threading
    plugged = []
    scans = []

    def comports():
        scans.append(time.monotonic())
        return list(plugged)

    cams = {"/dev/ttyUSB0": Camera("bc-1"), "/dev/ttyUSB7": Camera("bc-7")}
    st = station(tmp_path, cams, ports=(), once=False, delete=True, comports=comports, scan_every=0.3)
    t = threading.Thread(target=st.run, daemon=True)
    t.start()
    try:
        time.sleep(0.5)
        assert st.slots == {}
        plugged.append(adapter("/dev/ttyUSB0"))
        end = time.monotonic() + 10
        while cams["/dev/ttyUSB0"].deleted != ["BC000001.AVI", "BC000001.JSON"] and time.monotonic() < end:
            time.sleep(0.05)
        assert cams["/dev/ttyUSB0"].deleted == ["BC000001.AVI", "BC000001.JSON"]
        cams["/dev/ttyUSB0"].fail = [PortGone("unplugged")] * 100
        plugged.clear()
        while not st.reporter.of("slot_gone") and time.monotonic() < end:
            time.sleep(0.05)
        assert [e["port"] for e in st.reporter.of("slot_gone")] == ["/dev/ttyUSB0"] and st.slots == {}
    finally:
        st.stop()
        t.join(10)
    took = scans[-1] - scans[0]
    assert len(scans) <= took / 0.3 + 4  # scanned every --scan-every, not at every turn of the loop
    assert 2 <= len(st.reporter.ticks) <= took / 0.1 + 4  # the loop waits between turns


def test_once_drains_the_adapters_plugged_in_now_and_a_given_port_ignores_the_others(tmp_path):
    cams = {"/dev/ttyUSB0": Camera("bc-1"), "/dev/ttyUSB1": Camera("bc-2")}
    t0 = time.monotonic()
    s = station(tmp_path, cams, ports=(), delete=True, comports=lambda: [adapter("/dev/ttyUSB0")]).run()
    assert [x["port"] for x in s["slots"]] == ["/dev/ttyUSB0"] and s["ok"]
    assert 0 < s["seconds"] <= time.monotonic() - t0 + 0.001  # to the ms
    st = station(tmp_path, cams, ports=["/dev/ttyUSB1"], once=False, comports=lambda: [adapter("/dev/ttyUSB0")],
                 scan_every=0.0)
    import threading
    t = threading.Thread(target=st.run, daemon=True)
    t.start()
    time.sleep(0.5)
    st.stop()
    t.join(10)
    assert list(st.slots) == ["/dev/ttyUSB1"]  # with --port, adapters are not watched


def test_a_station_without_once_keeps_going_until_stopped(tmp_path):
    import threading
    cam = Camera("bc-1", clips=1)
    st = station(tmp_path, {"p0": cam}, once=False, delete=True, poll=0.3)
    t = threading.Thread(target=st.run, daemon=True)
    t0 = time.monotonic()
    t.start()
    time.sleep(1.0)
    st.stop()
    t.join(10)
    rounds = cam.connects / 2  # the slot's connect and the pull's own
    assert not t.is_alive() and 2 <= rounds <= (time.monotonic() - t0) / 0.3 + 1  # looked at again every --poll
    assert cam.deleted == ["BC000001.AVI", "BC000001.JSON"]


def test_a_bug_in_a_slot_ends_it_as_crashed_not_silently(tmp_path):
    cam = Camera("bc-1")
    cam.fail = [RuntimeError("bug")]
    st = station(tmp_path, {"p0": cam})
    slot = Slot(st, "p0")
    with pytest.raises(RuntimeError):
        slot.run()
    assert (slot.outcome, slot.state) == ("crashed", "done") and slot.errors == [("", "internal error: RuntimeError('bug')")]


# --- totals, rows, backoff --------------------------------------------------------------------

def test_totals_add_up_over_rounds_and_the_row_shows_the_rate_while_moving(tmp_path):
    st = station(tmp_path, {})
    slot = Slot(st, "p0")
    slot._add({"pulled": ["A"], "stored": ["A"], "bytes": 100, "seconds": 2.0, "upload_bytes": 10,
               "upload_seconds": 0.5, "baud": 921600})
    slot._add({"pulled": ["A", "B"], "deleted": ["A"], "bytes": 50, "seconds": 1.0})
    t = slot.totals
    assert (t["pulled"], t["stored"], t["deleted"]) == (["A", "B"], ["A"], ["A"])
    assert (t["bytes"], t["pull_seconds"], t["upload_bytes"], t["upload_seconds"], t["baud"]) == (150, 3.0, 10, 0.5,
                                                                                                   921600)
    slot.state = "pulling"
    slot._rate_t -= 2.0
    row = slot.row()
    assert row["bytes"] == 150 and 74.9 < row["rate"] <= 75 and row["errors"] == 0 and row["last_error"] is None
    assert row["clip"] is None
    # a round in progress: its bytes count, its file shows; the rate is taken over >= 1 s windows
    slot.puller = type("P", (), {"summary": {"bytes": 30}, "current": "BC000002.AVI"})()
    row = slot.row()
    assert (row["bytes"], row["clip"]) == (180, "BC000002.AVI") and 70 < row["rate"] <= 75  # not yet 1 s
    slot._rate_t -= 2.0
    assert 14 < slot.row()["rate"] <= 15  # (180 - 150) / 2 s
    slot.puller = None
    slot.error("bad", "BC000001.AVI")
    slot.state = "idle"
    row = slot.row()
    assert row["rate"] == 0 and row["errors"] == 1 and row["last_error"] == "bad"
    b = Backoff(1, 5)
    assert [b.take() for _ in range(5)] == [1, 2, 4, 5, 5]
    b.reset()
    assert b.take() == 1


def test_the_summary_and_the_baud_per_port(tmp_path):
    st = station(tmp_path, {}, baud=lambda port: 921600 if port == "fast" else None)
    assert (st.baud_for("fast"), st.baud_for("slow")) == (921600, None)
    assert station(tmp_path, {}, baud=115200).baud_for("any") == 115200
    assert st.summary(1.23456) == {"slots": [], "seconds": 1.235, "bytes": 0, "pulled": 0, "stored": 0,
                                   "deleted": 0, "refused": [], "ok": False}
    slot = Slot(st, "p0")
    slot.device, slot.state, slot.outcome = "bc-1", "done", "drained"
    slot._add({"pulled": ["A"], "bytes": 10, "seconds": 1.23456, "upload_seconds": 0.12345, "upload_bytes": 7})
    st.slots = {"p0": slot}
    (row,) = st.summary(1)["slots"]
    assert row == {"port": "p0", "device": "bc-1", "state": "done", "outcome": "drained", "pulled": ["A"],
                   "stored": [], "deleted": [], "busy": [], "bytes": 10, "baud": None, "pull_seconds": 1.235,
                   "upload_bytes": 7, "upload_seconds": 0.123, "errors": []}


# --- the device id ---------------------------------------------------------------------------

def test_the_device_id_comes_from_the_newest_boot_entry_or_the_docks_info():
    log = boot("bc-old") + entry("press", {}, 1) + boot("bc-new", n=2) + b'{"k":"boot","d":{"dev'
    cam = Camera(log=log)
    assert identity.device_id(cam, {}) == "bc-new"  # the torn last line is passed over
    assert identity.device_id(cam, {"device": "bc-from-dock"}) == "bc-from-dock"
    assert identity.device_id(cam, {"device": "../etc"}) == "bc-new"  # not a usable id: the log decides
    assert identity.device_id(Camera(log=boot(None, "00ff00ff00ff00ff")), {}) == "key-00ff00ff00ff00ff"
    cam = Camera(log=boot("bc-9"))
    cam.info_cache = {"board": "x"}
    assert identity.device_id(cam) == "bc-9"  # the info already asked for


def test_a_boot_entry_far_back_is_found_by_reading_more_of_the_log():
    log = boot("bc-far") + b"".join(entry("press", {"pad": "x" * 200}, i) for i in range(1, 200))
    cam = Camera(log=log)
    assert identity.device_id(cam, {}) == "bc-far"
    size = len(log)
    assert [t[1] for t in cam.tails] == [size - 4096, size - 16384, 0]  # 4 KB, then 4x more, to the start


def test_no_device_id_says_what_to_do():
    torn = b'{"k":"boot","d":{"dev\n'  # the only boot entry, torn by a power cut
    for log, says in ((entry("press", {}), "no boot entry in the last"),
                      (torn + entry("press", {}, 1), "no boot entry in the last"),
                      (boot(None, None), "has no device key"),
                      (boot("bad id!", "not hex!"), "has no device key")):
        cam = Camera(log=log)
        with pytest.raises(identity.NoDeviceId, match=says):
            identity.device_id(cam, {})
        assert cam.tails == [("AUDIT.LOG", 0, len(log))]  # a small log is read once, whole
    with pytest.raises(identity.NoDeviceId, match="has no audit log"):
        identity.device_id(Camera(log=b""), {})
    empty = Camera(log=b"")
    empty.files["AUDIT.LOG"] = b""
    with pytest.raises(identity.NoDeviceId, match="has no audit log"):
        identity.device_id(empty, {})


def test_a_huge_log_with_no_boot_entry_is_read_only_up_to_a_mebibyte():
    cam = Camera(log=entry("press", {"pad": "x" * (2 << 20)}))
    with pytest.raises(identity.NoDeviceId):
        identity.device_id(cam, {})
    assert max(t[2] - t[1] for t in cam.tails) == identity.MAX_TAIL


class GrowingCamera(Camera):
    """The camera logs while its log's tail is read: the dock says "list again"."""

    def __init__(self, grows, error="AUDIT.LOG has 10 bytes, not 9: list again"):
        super().__init__("bc-grow")
        self.grows = grows
        self.error = error
        self.lists = 0

    def list(self):
        self.lists += 1
        return super().list()

    def read_file(self, name, size, offset, sink, progress=None):
        if self.grows:
            self.grows -= 1
            raise DockError(self.error)
        super().read_file(name, size, offset, sink, progress)


def test_a_log_that_grows_while_its_tail_is_read_is_listed_again_three_times_at_most():
    cam = GrowingCamera(2)
    assert identity.device_id(cam, {}) == "bc-grow" and cam.lists == 3
    with pytest.raises(DockError, match="list again"):
        identity.device_id(GrowingCamera(3), {})
    other = GrowingCamera(1, "card unreadable")
    with pytest.raises(DockError, match="card unreadable"):
        identity.device_id(other, {})
    assert other.lists == 1


# --- what it shows -------------------------------------------------------------------------------

class FakeSlot:
    def __init__(self, port, device=None, **row):
        self.port, self.device = port, device
        self._row = dict({"port": port, "device": device, "clip": None, "bytes": 0, "rate": 0, "state": "idle",
                          "errors": 0}, **row)

    def row(self):
        return self._row


def test_json_lines_one_event_a_line():
    buf = io.StringIO()
    j = JsonLines(buf)
    j.event(FakeSlot("/dev/ttyUSB0", "bc-1"), "stored", file="BC000001.AVI", when=datetime.date(2026, 1, 2))
    j.event(None, "store_error", error="down")
    j.tick([])
    j.close([])
    a, b = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert a["event"] == "stored" and a["port"] == "/dev/ttyUSB0" and a["device"] == "bc-1"
    assert a["file"] == "BC000001.AVI" and a["when"] == "2026-01-02"
    assert a["t"].endswith("Z") and len(a["t"]) == 24 and "port" not in b and b["error"] == "down"


def test_the_live_table_redraws_in_place_and_logs_only_what_matters():
    buf = io.StringIO()
    t = LiveTable(buf)
    slots = [FakeSlot("/dev/ttyUSB0", "bc-1", state="pulling", bytes=1500000, rate=90000.0)]
    t.tick(slots)
    first = buf.getvalue()
    assert first.startswith("PORT ")  # nothing above the table is erased by the first draw
    assert first.splitlines()[1].split()[:2] == ["/dev/ttyUSB0", "bc-1"] and t.drawn == 2
    t.event(slots[0], "say", message="quiet")
    t.event(slots[0], "state", state="pulling")
    assert buf.getvalue() == first  # neither is news
    t.event(slots[0], "state", state="store-wait", pending=["BC000001.AVI"])
    t.event(None, "store_error", error="the store at s3://b does not answer")
    t.event(FakeSlot("/dev/ttyUSB1"), "refused", message="no device key")
    lines = buf.getvalue()[len(first):]
    assert lines.startswith("\x1b[2F\x1b[J") and t.drawn == 0  # the table cleared before the log line
    log = [x[9:] for x in lines.replace("\x1b[2F\x1b[J", "").splitlines()]
    assert log == ["bc-1: state state store-wait, pending ['BC000001.AVI']",
                   "station: store_error the store at s3://b does not answer",
                   "/dev/ttyUSB1: refused no device key"]
    t.tick(slots)
    t.tick(slots)
    assert buf.getvalue().count("\x1b[2F\x1b[J") == 2 and t.drawn == 2
    t.close(slots)
    assert t.drawn == 0 and buf.getvalue().endswith(table_lines([slots[0].row()])[-1] + "\n")


def test_the_table_is_the_one_docs_station_md_shows():
    doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "station.md")).read()
    shown = doc[doc.index("```\nPORT ") + 4:].split("```")[0].rstrip("\n").splitlines()
    rows = [{"port": "/dev/ttyUSB0", "device": "bc-1a2b3c4d", "clip": "BC000014.AVI", "bytes": 3.1e6,
             "rate": 90100.0, "state": "pulling", "errors": 0},
            {"port": "/dev/ttyUSB1", "device": "bc-77aa01ff", "clip": None, "bytes": 12.4e6, "rate": 0,
             "state": "idle", "errors": 0},
            {"port": "/dev/ttyUSB2", "device": "bc-1a2b3c4d", "clip": None, "bytes": 0, "rate": 0,
             "state": "refused", "errors": 1}]
    assert [x.rstrip() for x in table_lines(rows)] == shown


def test_each_json_line_reaches_a_pipe_at_once():
    import select
    r, w = os.pipe()
    with os.fdopen(w, "w") as stream, os.fdopen(r, "rb") as reader:  # buffered, as stdout into a pipe is
        JsonLines(stream).event(None, "store_error", error="down")
        assert select.select([reader], [], [], 0)[0], "the event is still in the buffer"
        assert json.loads(os.read(r, 4096))["error"] == "down"


def test_table_cells_are_cut_to_their_column():
    (head, row) = table_lines([{"port": "rfc2217://127.0.0.1:40000/very/long", "device": "bc-0123456789abcdef",
                                "clip": "", "bytes": 0, "rate": 0, "state": "connecting", "errors": 0}])
    w = COLUMNS[0][1]
    assert row[:w] == "rfc2217://127.0.0.1:40000/very/long"[:w - 1] + "…" and row[w] == " "
    assert len(head) == len(row) == sum(w for _, w in COLUMNS) + len(COLUMNS) - 1
    assert row.split()[1:] == ["bc-0123456789…", "-", "0", "B", "-", "connecting", "-"]


def test_the_store_is_asked_again_right_before_each_delete(tmp_path, s3):
    bucket = new_bucket(s3)
    store = EvidenceStore("s3://%s/d" % bucket, retain_days=1)
    asked = []
    real = store.confirm
    store.confirm = lambda *a: asked.append(a[1]) or real(*a)
    cam = Camera("bc-1")
    StationPuller(cam, str(tmp_path), "bc-1", store=store, delete=True, progress=False, say=lambda m: None).run()
    # once by each upload, once more right before each delete
    assert asked == ["BC000001.AVI", "BC000001.JSON", "BC000001.AVI", "BC000001.JSON", "AUDIT.LOG"]
    assert cam.deleted == ["BC000001.AVI", "BC000001.JSON"]
    with pytest.raises(StoreError):
        real("bc-1", "BC000001.AVI", str(tmp_path / "BC000001.AVI"), "0" * 64, None)
