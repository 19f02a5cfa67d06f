"""A noisy serial line (tests/rig/offload.py damages bytes both ways:
flipped, dropped, junk bursts of 1-7 bytes inserted): pulls stay
bit-exact, the host asks for the frames it lacks and nothing else
(selective resend), the frame size follows the damage it measures
(decided by the host, honoured by the dock) and grows back when the line
is clean, and the line carries mostly file bytes. Efficiency is measured
in line bytes (what the rig's wire carried), not wall-clock time."""
import json
import os
import threading

import pytest

from bodycam.offload import pull_all
from bodycam.offload.client import DockClient, DockError
from bodycam.offload.wire import W
from rig.offload import rig_maker


@pytest.fixture
def rig(tmp_path):
    # eager=False: the board's output waits for the line, as a UART FIFO does
    yield from rig_maker(tmp_path, clips=[1], baud=921600, paced=True, eager=False, frame_busy=5)


def clip(r):
    name = r.made[0] + ".AVI"
    with open(os.path.join(r.dir, "sd", "clips", name), "rb") as f:
        return name, f.read()


def watchdog(r, seconds):
    """Pull the cable if the transfer has not finished by then: a crawling
    pull fails the test instead of hanging it."""
    t = threading.Timer(seconds, lambda: r.port is not None and r.port._kill())
    t.daemon = True
    t.start()
    return t


def test_frame_size_shrinks_on_a_noisy_line_and_grows_back_when_it_is_clean(rig):
    r = rig(clips=[4])
    name, data = clip(r)
    assert len(data) > 500000
    c = DockClient(r.open_port())
    c.connect()
    base_chunk, _ = c.stream_params()
    r.faults.noise(1e-3)
    got = bytearray()

    def sink(b):
        got.extend(b)
        if len(got) >= len(data) // 4:
            r.faults.noise(0)  # the line clears a quarter of the way

    w = watchdog(r, 120)
    c.read_file(name, len(data), 0, sink)
    w.cancel()
    assert bytes(got) == data
    assert r.faults.down.damaged() >= 20 and r.faults.up.damaged() >= 1, "the line was not noisy"
    st = c.stats
    assert st["shrinks"] >= 2 and st["chunk_min"] <= 256  # shrank while noisy
    assert st["grows"] >= 2 and st["chunk"] == base_chunk  # and grew back once clean
    h = st["chunk_history"]
    assert min(h) == st["chunk_min"] and h[-1] == base_chunk
    assert st["resends"] >= 10 and st["stalls"] == 0


def test_a_noisy_line_carries_mostly_file_bytes_and_the_pull_is_exact(rig, tmp_path):
    # 1 byte in 1000 damaged both ways, at 230400 (the frame size of a
    # clean line is 115200's, 1 KB; twice the speed keeps the test short).
    # With frames sized for a clean line few frames arrive whole,
    # and go-back-N resent every window: the line carried ~15 bytes per
    # file byte (issue 14), 1.6 with adaptive frames (protocol 2). Small
    # frames (160x120) keep the clip short.
    r = rig(baud=230400, frame_size=(160, 120))
    name, data = clip(r)
    r.faults.noise(1e-3)
    out = str(tmp_path / "out")
    w = watchdog(r, 150)
    s = pull_all(r.open_port(), out, progress=False, say=lambda m: None)
    w.cancel()
    assert s["errors"] == []
    assert s["link"]["shrinks"] >= 1 and s["link"]["chunk_min"] <= 256
    with open(os.path.join(out, name), "rb") as f:
        assert f.read() == data
    assert len(data) > 40000 and r.faults.down.damaged() >= 40 and r.faults.down.junk > r.faults.down.inserted
    efficiency = s["bytes"] / r.down.count  # file bytes over bytes the line carried to the host
    # 128-byte frames (144 on the wire) survive 87% of the time at this
    # damage rate: at best 0.77 file bytes per line byte
    assert efficiency >= 0.6, "the line carried %d bytes for %d file bytes" % (r.down.count, s["bytes"])


class _OldDock:
    """A port whose dock answers every command as a protocol-2 dock's ping
    did."""
    baudrate = 115200
    in_waiting = 0
    portstr = "old"

    def __init__(self):
        self.out = b""

    def write(self, line):
        cid = int(line[1:4])
        self.out += W.frame(W.REPLY, cid, 0, json.dumps({"ok": True, "protocol": 2, "baud": 115200}).encode())

    def read(self, n):
        b, self.out = self.out[:n], self.out[n:]
        return b

    def reset_input_buffer(self):
        pass


def test_a_dock_of_another_protocol_is_refused_clearly():
    with pytest.raises(DockError, match="protocol 2, this bodycam speaks 3: install the firmware"):
        DockClient(_OldDock()).connect()


def test_wire_sizes_are_what_the_dock_keeps_views_for():
    assert W.CHUNKS[0] == W.MIN_CHUNK and W.CHUNKS[-1] == W.MAX_PAYLOAD
    assert all(b == 2 * a for a, b in zip(W.CHUNKS, W.CHUNKS[1:]))
    line = W.command(9, W.ACK, 123, 456, 64, 192)
    assert len(line) - 1 == W.ACK_LEN
    assert W.parse_command(line[:-1])[2] == ["0000000123", "0000000456", "0064", "000192"]
