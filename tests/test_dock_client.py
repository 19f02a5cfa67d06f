"""The dock client's own rules (bodycam.offload.client), on pyserial's
loop:// port, where no dock answers: the frame size it starts at, how it
shrinks on errors, a port that goes away, a reply it cannot read, and a
dock that cannot be found again. The protocol against the real firmware
is tests/test_pull*.py's."""
import pytest
import serial

from bodycam.offload.client import DockClient, LinkLost, PortGone
from bodycam.offload.stream import Sizes
from bodycam.offload.wire import W


def loop_port(baud=115200):
    return serial.serial_for_url("loop://", baudrate=baud, timeout=0.05)


@pytest.mark.parametrize("baud, chunk", [(115200, 1024), (230400, 1024), (460800, 4096), (921600, 4096)])
def test_the_clean_line_frame_size_is_1_kib_below_460800_baud_and_4_kib_from_it(baud, chunk):
    c = DockClient(loop_port(baud))
    got, window = c.stream_params()
    assert got == chunk
    assert window % chunk == 0 and window >= 2 * chunk


def test_damaged_frames_shrink_the_frame_size_and_count_each_shrink_and_clean_ones_grow_it_back():
    # protocol 3 (offload/stream.py): the size is the one that carries most
    # at the damage rate measured, not halved per error; tests/
    # test_offload_stream.py checks the sizes chosen for given rates
    c = DockClient(loop_port())
    sz = Sizes(1024, 16384, 11520.0, None, c.stats)
    assert c.stats["shrinks"] == 0 and c.stats["grows"] == 0 and c.stats["chunk_history"] == []
    assert (sz.chunk, c.stats["chunk"], c.stats["chunk_min"]) == (1024, 1024, 1024)
    sz.damaged(1024)
    assert (sz.chunk, c.stats["shrinks"], c.stats["grows"], c.stats["chunk_history"]) == (512, 1, 0, [512])
    for _ in range(500):
        sz.damaged(sz.chunk)
    assert W.MIN_CHUNK <= sz.chunk <= 128 and c.stats["chunk_min"] == sz.chunk  # never below the smallest frame
    assert c.stats["shrinks"] == len(c.stats["chunk_history"]) and c.stats["loss_per_mbyte"] > 0
    for _ in range(400):
        sz.seen(sz.chunk)
    assert sz.chunk == 1024 and c.stats["grows"] >= 1 and c.stats["chunk_history"][-1] == 1024


def test_a_port_that_went_away_is_port_gone_not_silence():
    port = loop_port()
    c = DockClient(port)
    port.close()
    with pytest.raises(PortGone, match="lost"):
        c._read(16)
    with pytest.raises(PortGone, match="lost"):
        c._write(b"#1 P\n")


def test_a_reply_that_is_not_json_is_read_as_a_refusal():
    port = loop_port()
    c = DockClient(port)
    port.write(W.frame(W.REPLY, 7, 0, b"\xff{not json"))
    f = c.reader.next(1.0)
    assert f is not None and f.type == W.REPLY
    assert c._decode(f) == {"ok": False, "error": "unreadable reply"}


def test_a_dock_that_does_not_come_back_is_link_lost_naming_the_speeds_tried():
    # loop:// only echoes our own commands: no reply ever comes (2.5 s)
    c = DockClient(loop_port(115200))
    with pytest.raises(LinkLost, match="tried 115200 baud"):
        c.reconnect()
