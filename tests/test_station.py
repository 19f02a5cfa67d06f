"""`bodycam station` end to end: virtual boards (bodycam.sim.VirtualBoard,
provisioned with device keys as `bodycam deploy` does) drained at once
into a folder and a real S3 API server (moto's server mode) with Object
Lock; the store going down, a camera unplugged mid-pull, two cameras
claiming one device id, a camera with no device key."""
import contextlib
import datetime
import os
import json
import threading
import time

import pytest

from bodycam.cli import main
from bodycam.station import Station
from bodycam.station.report import JsonLines, table_lines
from bodycam.evidence.store import EvidenceStore
from bodycam.evidence.storelog import StoreLog
from s3server import aws_env, free_port, new_bucket, retention_guard, s3, s3_endpoint, start_server  # noqa: F401
from stationkit import clip_bytes, on_card, provisioned_board, record

pytestmark = pytest.mark.slow


@pytest.fixture
def keyring(tmp_path, monkeypatch):
    path = str(tmp_path / "keys.json")
    monkeypatch.setenv("BODYCAM_KEYRING", path)
    return path


def boards(tmp_path, keyring, ids, **kw):
    """Several provisioned boards at once (ExitStack of context managers)."""
    stack = contextlib.ExitStack()
    vbs = [stack.enter_context(provisioned_board(str(tmp_path / ("board%d" % i)), dev, keyring, **kw))
           for i, dev in enumerate(ids)]
    return stack, vbs


class Events(JsonLines):
    """The station's JSON lines, kept for the test as well."""

    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()

    def event(self, slot, kind, **fields):
        with self.lock:
            self.seen.append(dict(fields, event=kind, port=slot.port if slot else None,
                                  device=slot.device if slot else None))

    def of(self, kind, port=None):
        with self.lock:
            return [e for e in self.seen if e["event"] == kind and (port is None or e["port"] == port)]


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


def test_once_drains_two_cameras_into_the_locked_store_then_deletes(tmp_path, keyring, s3, capsys):
    bucket = new_bucket(s3)
    stack, (a, b) = boards(tmp_path, keyring, ["bc-a", "bc-b"])
    with stack:
        clips = {"bc-a": (a, record(a, 2000)), "bc-b": (b, record(b, 2000))}
        want = {dev: clip_bytes(vb, name) for dev, (vb, name) in clips.items()}
        out = tmp_path / "out"
        rc = main(["station", "--out", str(out), "--store", "s3://%s/desk1" % bucket, "--retain-days", "30",
                   "--port", a.port_url, "--port", b.port_url, "--delete", "--baud", "921600", "--once"])
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        summary = lines[-1]
        assert rc == 0 and summary["event"] == "summary" and summary["ok"], summary
        assert {s["device"] for s in summary["slots"]} == {"bc-a", "bc-b"}
        for dev, (vb, name) in clips.items():
            for ext in (".AVI", ".JSON"):
                # bit-exact in DIR/<device-id>/ and in the store, under COMPLIANCE lock
                assert (out / dev / (name + ext)).read_bytes() == want[dev][ext]
                key = "desk1/%s/%s%s" % (dev, name, ext)
                h = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
                assert h["ObjectLockMode"] == "COMPLIANCE" and h["ChecksumSHA256"]
                assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == want[dev][ext]
            # deleted on the camera only after that; the audit log stays there and goes up too
            assert on_card(vb) == {"AUDIT.LOG"}
            assert s3.head_object(Bucket=bucket, Key="desk1/%s/AUDIT.LOG" % dev)["ObjectLockMode"] == "COMPLIANCE"
        # JSON lines told what happened, slot by slot
        stored = {(e["device"], e["file"]) for e in lines if e["event"] == "stored"}
        assert ("bc-a", clips["bc-a"][1] + ".AVI") in stored and ("bc-b", "AUDIT.LOG") in stored
    # and the store verifies on its own, per device and as a whole
    assert main(["verify", "s3://%s/desk1/bc-a" % bucket]) == 0
    assert "verdict: VERIFIED" in capsys.readouterr().out
    assert main(["verify", "s3://%s/desk1" % bucket]) == 0
    text = capsys.readouterr().out
    assert "== s3://%s/desk1/bc-b" % bucket in text and text.count("verdict: VERIFIED") == 2


def days_left(s3, bucket, key):
    h = s3.head_object(Bucket=bucket, Key=key)
    assert h["ObjectLockMode"] == "COMPLIANCE"
    return (h["ObjectLockRetainUntilDate"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400


def test_a_clip_stored_for_1_day_leaves_the_camera_only_once_the_store_keeps_it_31_then_it_is_held(
        tmp_path, keyring, s3, capsys, retention_guard):
    bucket = new_bucket(s3)
    with provisioned_board(str(tmp_path / "board"), "bc-ext", keyring) as vb:
        name = record(vb, 1000)
        keys = {ext: "desk1/bc-ext/%s%s" % (name, ext) for ext in (".AVI", ".JSON")}
        run = ["station", "--out", str(tmp_path / "out"), "--store", "s3://%s/desk1" % bucket, "--port", vb.port_url,
               "--once"]
        # An earlier run at this desk kept everything for 1 day and deleted nothing.
        assert main(run + ["--retain-days", "1"]) == 0
        capsys.readouterr()
        assert {name + ".AVI", name + ".JSON"} <= on_card(vb)
        assert all(days_left(s3, bucket, k) < 1.01 for k in keys.values())
        # Now the desk keeps evidence 31 days, and deletes.
        assert main(run + ["--retain-days", "31", "--delete"]) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        assert on_card(vb) == {"AUDIT.LOG"}
        assert all(30.9 < days_left(s3, bucket, k) <= 31 for k in keys.values())
        # Each file left the camera only after the store confirmed it with the 31 days.
        at = {(e["event"], e.get("file") or e.get("message", "").split(":")[0]): i for i, e in enumerate(lines)
              if e["event"] == "stored" or "deleted from the device" in e.get("message", "")}
        now = datetime.datetime.now(datetime.timezone.utc)
        for ext in keys:
            stored = lines[at[("stored", name + ext)]]
            assert datetime.datetime.fromisoformat(stored["retain_until"]) - now > datetime.timedelta(days=30.9)
            assert at[("stored", name + ext)] < at[("say", name + ext)]
        # lengthened, each once, never shortened (the guard refuses a shorter date at the request)
        extended = [r for r in retention_guard.requests if r["Key"] in keys.values()]
        assert sorted(r["Key"] for r in extended) == sorted(keys.values()) and retention_guard.refused == []
        assert all(r["until"] > r["until_was"] for r in extended)
        # and the store's audit log says so, first
        log = StoreLog(EvidenceStore("s3://%s/desk1" % bucket), "bc-ext").entries()
        assert {e["key"]: e["retain_days"] for e in log if e["event"] == "extend-retention"
                and e["key"] in keys.values()} == {k: 31 for k in keys.values()}
    # The clip is wanted in a complaint: held, and listed by verify, which still says VERIFIED.
    assert main(["hold", "s3://%s/desk1/bc-ext/%s" % (bucket, name), "--reason", "complaint 2026-114"]) == 0
    assert main(["verify", "s3://%s/desk1/bc-ext" % bucket]) == 0
    text = capsys.readouterr().out
    assert "held: %s (%s.AVI and %s.JSON on legal hold): #%d by" % (name, name, name, len(log)) in text
    assert "complaint 2026-114" in text and text.rstrip().splitlines()[-1].startswith("verdict: VERIFIED")


def test_store_down_keeps_clips_on_camera_and_in_dir_other_slot_goes_on_then_retries(tmp_path, keyring,
                                                                                     monkeypatch):
    port = free_port()
    srv = start_server(port)
    aws_env(monkeypatch, "http://127.0.0.1:%d" % port)
    import boto3
    s3c = boto3.client("s3")
    bucket = new_bucket(s3c)
    srv.stop()  # the store goes down (its buckets stay, as a real store's would)
    stack, (a, b) = boards(tmp_path, keyring, ["bc-c", "bc-d"])
    with stack:
        first = {"bc-c": (a, record(a, 1500)), "bc-d": (b, record(b, 1500))}
        out = tmp_path / "out"
        ev = Events()
        st = Station(str(out), ports=[a.port_url, b.port_url], store=EvidenceStore("s3://%s/p" % bucket,
                                                                                   retain_days=1),
                     delete=True, reporter=ev, poll=0.5, backoff_first=0.3, backoff_most=1.5)
        t = threading.Thread(target=st.run, daemon=True)
        t.start()
        try:
            # Both cameras are pulled although nothing can be stored: one slot
            # waiting on the store does not hold up the other.
            wait_for(lambda: all((out / dev / (name + ".AVI")).exists() for dev, (vb, name) in first.items()),
                     90, "both clips in DIR")
            wait_for(lambda: len({e["port"] for e in ev.of("state") if e.get("state") == "store-wait"}) == 2,
                     30, "both slots in store-wait")
            # retried with backoff, nothing deleted on the cameras meanwhile
            wait_for(lambda: len(ev.of("store_error")) >= 4, 30, "retries")
            for dev, (vb, name) in first.items():
                assert {name + ".AVI", name + ".JSON"} <= on_card(vb)
            # A new clip on one camera still comes into DIR while the store is down.
            later = record(a, 1000)
            wait_for(lambda: (out / "bc-c" / (later + ".AVI")).exists(), 60, "the later clip in DIR")
            assert later + ".AVI" in on_card(a)
            srv = start_server(port)  # the store is back
            wait_for(lambda: all(name + ".AVI" not in on_card(vb) for dev, (vb, name) in first.items())
                     and later + ".AVI" not in on_card(a), 90, "deletes after the store confirmed")
        finally:
            st.stop()
            t.join(60)
    try:
        for dev, (vb, name) in list(first.items()) + [("bc-c", (a, later))]:
            h = s3c.head_object(Bucket=bucket, Key="p/%s/%s.AVI" % (dev, name), ChecksumMode="ENABLED")
            assert h["ObjectLockMode"] == "COMPLIANCE"
            assert h["ContentLength"] == (out / dev / (name + ".AVI")).stat().st_size
    finally:
        srv.stop()


def test_camera_unplugged_mid_pull_resumes_when_plugged_back(tmp_path, keyring):
    with provisioned_board(str(tmp_path / "board"), "bc-e", keyring) as vb:
        name = record(vb, 8000)
        want = clip_bytes(vb, name)
        out = tmp_path / "out"
        ev = Events()
        # 115200 baud: slow enough to pull the cable mid-file
        st = Station(str(out), ports=[vb.port_url], once=True, reporter=ev, backoff_first=0.5, backoff_most=2)
        result = {}
        t = threading.Thread(target=lambda: result.update(st.run()), daemon=True)
        t.start()
        part = lambda: [p for p in (out / "bc-e").glob(name + ".AVI.*.part")] if (out / "bc-e").exists() else []
        wait_for(lambda: part() and part()[0].stat().st_size > 30000, 60, "the pull to get going")
        at = part()[0].stat().st_size
        vb.unplug()
        time.sleep(2)
        vb.plug_in()
        t.join(180)
        assert not t.is_alive()
        assert (out / "bc-e" / (name + ".AVI")).read_bytes() == want[".AVI"]
        assert (out / "bc-e" / (name + ".JSON")).read_bytes() == want[".JSON"]
        states = [e["state"] for e in ev.of("state")]
        assert "lost" in states and states[-1] == "done"
        slot = result["slots"][0]
        assert slot["outcome"] == "drained" and result["ok"]
        # resumed, not started over: the bytes before the cut were not fetched again
        total = sum(len(v) for v in want.values()) + (out / "bc-e" / "AUDIT.LOG").stat().st_size
        assert slot["bytes"] < total + at // 2, (slot["bytes"], total, at)


def test_two_cameras_claiming_one_device_id_the_second_is_refused(tmp_path, keyring, capsys):
    from bodycam.evidence import keys
    _, key = keys.provision("bc-twin", keyring=keyring)
    stack, (a, b) = boards(tmp_path, keyring, ["bc-twin", "bc-twin"], key=key)
    with stack:
        names = {a.port_url: record(a, 1000), b.port_url: record(b, 1000)}
        out = tmp_path / "out"
        rc = main(["station", "--out", str(out), "--port", a.port_url, "--port", b.port_url, "--delete", "--once"])
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
        summary = lines[-1]
        assert rc == 1 and not summary["ok"]
        assert len(summary["refused"]) == 1
        loser = summary["refused"][0]
        winner = a.port_url if loser == b.port_url else b.port_url
        conflict = [e for e in lines if e["event"] == "conflict"]
        assert len(conflict) == 1 and conflict[0]["port"] == loser and conflict[0]["other_port"] == winner
        assert "REFUSED" in conflict[0]["error"] and "bc-twin" in conflict[0]["error"]
        # the refused camera is not touched; the other one was drained
        lost_vb, won_vb = (a, b) if loser == a.port_url else (b, a)
        assert names[loser] + ".AVI" in on_card(lost_vb)
        assert names[winner] + ".AVI" not in on_card(won_vb)
        assert (out / "bc-twin" / (names[winner] + ".AVI")).exists()


def test_camera_without_device_key_is_refused_and_keeps_its_clips(tmp_path):
    from bodycam.sim import VirtualBoard
    from stationkit import SETTINGS
    with VirtualBoard(state_dir=str(tmp_path / "board"), speed=2, settings=SETTINGS) as vb:
        vb.wait_recording_ready(timeout=90)
        name = record(vb, 1000)
        ev = Events()
        s = Station(str(tmp_path / "out"), ports=[vb.port_url], delete=True, once=True, reporter=ev).run()
        assert not s["ok"] and s["slots"][0]["outcome"] == "refused"
        assert "bodycam deploy" in s["slots"][0]["errors"][-1]["error"]
        assert name + ".AVI" in on_card(vb)


def test_no_port_and_no_adapter_says_what_to_check(tmp_path):
    from bodycam.device.portfind import NoPortError
    with pytest.raises(NoPortError, match="cable.*driver.*bodycam sim"):
        Station(str(tmp_path / "out"), once=True, comports=lambda: []).run()


def test_table_has_one_row_per_slot():
    rows = [{"port": "/dev/ttyUSB0", "device": "bc-a", "clip": "BC000001.AVI", "bytes": 1500000, "rate": 90000.0,
             "state": "pulling", "errors": 0},
            {"port": "/dev/ttyUSB1", "device": None, "clip": None, "bytes": 0, "rate": 0, "state": "lost",
             "errors": 2}]
    lines = table_lines(rows)
    assert lines[0].split() == ["PORT", "DEVICE", "CLIP", "BYTES", "RATE", "STATE", "ERRORS"]
    assert lines[1].split() == ["/dev/ttyUSB0", "bc-a", "BC000001.AVI", "1.5", "MB", "90.0", "kB/s", "pulling", "-"]
    assert lines[2].split() == ["/dev/ttyUSB1", "-", "-", "0", "B", "-", "lost", "2"]


class PtyBridge:
    """A serial device path (/dev/pts/N, as /dev/ttyUSB0 is one) wired to a
    virtual board's RFC 2217 port at its boot baud: what the station finds
    when it watches the USB adapters. close() is pulling the cable."""

    def __init__(self, url):
        import pty
        import serial
        self.master, slave = pty.openpty()
        import tty
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        os.close(slave)
        self.ser = serial.serial_for_url(url, baudrate=115200, timeout=0.02, do_not_open=True)
        self.ser.dtr = self.ser.rts = False
        self.ser.open()
        self.alive = True
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self._down, self._up)]
        for t in self.threads:
            t.start()

    def _down(self):
        while self.alive:
            try:
                data = self.ser.read(4096)
                if data:
                    os.write(self.master, data)
            except OSError:
                return

    def _up(self):
        import select
        while self.alive:
            try:
                r, _, _ = select.select([self.master], [], [], 0.05)
                if r:
                    self.ser.write(os.read(self.master, 4096))
            except OSError:
                time.sleep(0.02)  # nobody has the other end open just now

    def close(self):
        self.alive = False
        for t in self.threads:
            t.join(2)
        self.ser.close()
        os.close(self.master)


def test_watching_adapters_adds_a_plugged_camera_and_drops_it_when_unplugged(tmp_path, keyring):
    from serial.tools.list_ports_common import ListPortInfo
    with provisioned_board(str(tmp_path / "board"), "bc-usb", keyring) as vb:
        name = record(vb, 1000)
        want = clip_bytes(vb, name)
        bridge = PtyBridge(vb.port_url)
        info = ListPortInfo(bridge.path, skip_link_detection=True)
        info.vid, info.pid, info.product = 0x1A86, 0x7523, "USB Serial"
        info.apply_usb_info()
        plugged = []
        ev = Events()
        out = tmp_path / "out"
        st = Station(str(out), comports=lambda: list(plugged), reporter=ev, poll=0.5, scan_every=0.2,
                     backoff_first=0.2, backoff_most=0.5)
        t = threading.Thread(target=st.run, daemon=True)
        t.start()
        try:
            time.sleep(1)
            assert st.slots == {}  # nothing plugged in, nothing to do
            plugged.append(info)  # the camera's dock adapter appears
            wait_for(lambda: (out / "bc-usb" / (name + ".AVI")).exists(), 90, "the clip from the watched port")
            assert (out / "bc-usb" / (name + ".AVI")).read_bytes() == want[".AVI"]
            assert [e["port"] for e in ev.of("slot")] == [bridge.path]
            plugged.clear()  # unplugged: the port goes away
            bridge.close()
            wait_for(lambda: ev.of("slot_gone"), 60, "the slot to be dropped")
            assert st.slots == {}
        finally:
            st.stop()
            t.join(30)
