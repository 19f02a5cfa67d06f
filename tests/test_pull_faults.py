"""Faults between host and device (rig.offload injects them): lost
and damaged bytes both ways, garbage from the board, the cable pulled, the
board reset mid-transfer. Every pulled file is bit-exact or the pull fails
with a clear message; nothing is deleted unless its copy was verified; a
rerun completes the job."""
import os
import time

import pytest

from bodycam.offload import pull_all
from bodycam.offload.client import DockClient, DockError, LinkLost, docked
from rig.offload import rig_maker


def device_files(rig):
    d = os.path.join(rig.dir, "sd", "clips")
    return {n: open(os.path.join(d, n), "rb").read() for n in sorted(os.listdir(d))
            if n.endswith((".AVI", ".JSON"))}


def local_files(out):
    return {n: open(os.path.join(out, n), "rb").read() for n in sorted(os.listdir(out))
            if not n.endswith(".part")}


@pytest.fixture
def rig(tmp_path):
    yield from rig_maker(tmp_path, clips=[2, 0], baud=1000000, paced=False, frame_busy=40)


def test_lost_and_damaged_bytes_both_ways_still_give_exact_copies(rig, tmp_path):
    r = rig(seed=11)
    before = device_files(r)
    total = sum(len(b) for b in before.values())
    r.faults.down.drop = 1.0 / 100000  # ~ eight of each over the clip
    r.faults.down.corrupt = 1.0 / 100000
    r.faults.up.drop = 1.0 / 400  # commands and acks: a few percent damaged
    r.faults.up.corrupt = 1.0 / 400
    port = r.open_port()
    out = str(tmp_path / "out")
    s = pull_all(port, out, delete=True, progress=False, say=lambda m: None)
    assert s["errors"] == []
    assert r.faults.down.dropped + r.faults.down.corrupted >= 5, "the faults did not happen"
    assert r.faults.up.dropped + r.faults.up.corrupted >= 3
    assert local_files(out) == before
    assert sorted(s["deleted"]) == sorted(before) and device_files(r) == {}
    assert s["bytes"] == total


def test_garbage_from_the_board_mid_transfer_is_skipped(rig, tmp_path):
    r = rig(clips=[2])
    before = device_files(r)
    total = sum(len(b) for b in before.values())
    marks = []  # bytes already sent to the host when each burst went in
    counted = r.down.on_count

    def noise(sent):
        # Boot messages, a REPL prompt and line noise, one burst per 1 % of
        # the transfer, queued by the line itself as the bytes go by: every
        # burst lands inside the transfer (between and inside frames).
        counted(sent)
        if len(marks) < 40 and sent >= (len(marks) + 1) * (total // 100):
            marks.append(sent)
            r.inject(b"ets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET),boot:0x13\r\n>>> \xbc\xdc\xbc"
                     + bytes([len(marks)]) * 7)

    r.down.on_count = noise
    out = str(tmp_path / "out")
    s = pull_all(r.open_port(), out, progress=False, say=lambda m: None)
    assert len(marks) == 40, "only %d bursts went in during the transfer" % len(marks)
    # the last one too was followed by clip data
    assert r.down.count - marks[-1] > total // 4
    assert s["errors"] == []
    assert local_files(out) == before


def test_cable_pulled_mid_transfer_fails_clearly_deletes_nothing_and_a_rerun_finishes(rig, tmp_path):
    r = rig(clips=[2, 1])
    before = device_files(r)
    out = str(tmp_path / "out")
    r.faults.down.cut_at = len(before["BC000001.AVI"]) + 30000  # into the second clip
    with pytest.raises(LinkLost) as e:
        pull_all(r.open_port(), out, delete=True, progress=False, say=lambda m: None)
    msg = str(e.value)
    assert "disconnected" in msg and "run the same command again to resume" in msg
    assert device_files(r) == before  # nothing deleted
    for n, data in local_files(out).items():
        assert before[n] == data  # what is there under its name is complete and exact
    s = pull_all(r.open_port(), out, delete=True, progress=False, say=lambda m: None)
    assert s["errors"] == [] and local_files(out) == before and device_files(r) == {}


@pytest.mark.parametrize("baud", [1000000, 921600])
def test_board_reset_mid_transfer_is_survived(rig, tmp_path, baud):
    # 1000000, unpaced: the board comes back at the same speed and says it
    # lost the read. 921600, paced, stepped up from 115200: the board comes
    # back at its boot speed and the host has to find it there again.
    if baud == 921600:
        r = rig(clips=[1], baud=115200, paced=True, frame_busy=5)
        kw = {"baud": 921600}
    else:
        r = rig(clips=[2])
        kw = {}
    before = device_files(r)
    r.faults.down.reset_at = len(before["BC000001.AVI"]) // 2
    out = str(tmp_path / "out")
    notes = []
    s = pull_all(r.open_port(), out, delete=True, progress=False, say=notes.append, **kw)
    assert r.resets == 1
    assert s["errors"] == [] and local_files(out) == before
    assert device_files(r) == {}
    if baud == 921600:
        assert any("link lost" in n for n in notes) and s["baud"] == 921600
    else:  # the client asks again from where it was, no reconnect
        assert s["link"]["restarts"] == 1 and not any("link lost" in n for n in notes), (s["link"], notes)


def test_a_board_at_the_repl_gets_a_clear_message(rig, tmp_path):
    # Ctrl-C stops the firmware (as mpremote does) and leaves MicroPython's
    # REPL, which echoes our command lines and answers with prompts.
    r = rig(clips=[], repl=True)
    port = r.open_port()
    time.sleep(0.5)
    port.write(b"\r\x03")  # mpremote's interrupt (a lone 0x03 is noise to the firmware)
    time.sleep(0.5)
    c = DockClient(port)
    with pytest.raises(LinkLost, match="MicroPython prompt: the firmware is not running"):
        c.connect(total=2.0)


def test_docked_closes_the_port_also_when_the_work_fails(rig):
    r = rig(clips=[])
    url = r.serve_tcp()
    with pytest.raises(RuntimeError):
        with docked(url) as c:
            port = c.port
            assert c.info_cache and port.is_open
            raise RuntimeError("the caller's work failed")
    assert not port.is_open
    with docked(url) as c:  # the rig takes one client at a time: the next one gets in
        assert c.info_cache



def test_a_read_of_another_size_than_the_files_is_refused_by_the_dock(rig):
    # The size asked is the listing's: a file that grew or shrank since is
    # refused before a byte is sent (the stand-ins in test_pull_rules and
    # test_station_rules copy this answer), so the client's own
    # "longer than listed" check is only a second line.
    r = rig(clips=[1])
    c = DockClient(r.open_port())
    c.connect()
    f = [e for e in c.list() if e["name"].endswith(".AVI")][0]
    got = []
    with pytest.raises(DockError, match="has %d bytes, not %d: list again" % (f["size"], f["size"] - 10)):
        c.read_file(f["name"], f["size"] - 10, 0, got.append)
    assert got == []
