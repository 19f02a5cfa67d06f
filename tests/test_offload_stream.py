"""The host's half of a read (host/bodycam/offload/stream.py), without a
line: which gaps a frame reveals, that what arrives out of order or twice
(a resent frame overlapping one held) is delivered once and in order, and
the frame size chosen for a measured damage rate."""
import random

import pytest

from bodycam.offload.stream import Held, LossRate
from bodycam.offload.wire import W


def test_a_lost_frame_is_one_gap_and_what_follows_it_is_kept():
    out = bytearray()
    h = Held(0, 1000)
    assert h.add(0, b"a" * 100) == []
    gaps = h.add(200, b"c" * 100)  # 100-200 lost
    assert gaps == [[100, 200, None, 0]] and h.deliver(out.extend) == 100
    assert h.add(300, b"d" * 100) == [] and h.expect == 100 and h.high == 400
    h.gaps[0][2] = 1.0  # asked
    # the gap comes back in two frames, the first of them lost: the dock
    # sends a gap in order, so the front is asked for at once
    assert h.add(150, b"b" * 50) == [[100, 150, None, 0]]
    assert h.add(100, b"b" * 50) == []
    assert h.deliver(out.extend) == 300 and bytes(out) == b"a" * 100 + b"b" * 100 + b"c" * 100 + b"d" * 100
    assert h.gaps == []


def test_overlapping_and_repeated_frames_are_delivered_once_in_order():
    data = bytes(random.Random(5).randrange(256) for _ in range(5000))
    h = Held(0, len(data))
    out = bytearray()
    frames = [(off, 128) for off in range(0, 5000, 128)]
    rng = random.Random(6)
    lost = {off for off, _ in frames if rng.random() < 0.3}
    for off, n in frames:
        if off not in lost:
            h.add(off, data[off:off + n])
            h.deliver(out.extend)
    # resends of every gap in larger frames (overlapping held ones), some twice
    for g in list(h.gaps):
        for off in range(g[0], g[1], 256):
            h.add(off, data[off:off + 256])
            h.add(off, data[off:off + 256])
            h.deliver(out.extend)
    assert h.end_of_file() is None and bytes(out) == data and h.gaps == []


def test_a_damaged_frame_names_the_bytes_to_ask_for_and_the_end_finds_a_lost_tail():
    h = Held(0, 1000)
    h.add(0, b"x" * 100)
    g = h.missing(300, 400)  # a header that held: 100-400 never came whole
    assert g == [100, 400, None, 0] and h.high == 400
    g[2] = 1.0
    assert h.missing(100, 200) is None  # already asked for
    assert h.end_of_file() == [400, 1000, None, 0]
    with pytest.raises(ValueError, match="longer than the 1000 bytes"):
        h.add(990, b"y" * 20)


@pytest.mark.parametrize("p, best", [(0, 4096), (1e-6, 4096), (1e-4, 512), (1e-3, 128), (1e-2, 64)])
def test_the_frame_size_is_the_one_that_carries_most_at_the_damage_rate(p, best):
    r = LossRate(92160, 4096)
    r.events, r.wire = p * 1e9, 1e9
    assert r.best_chunk() == best
    assert best in W.CHUNKS


def test_the_damage_estimate_forgets_a_line_that_cleared():
    r = LossRate(92160, 4096)
    for _ in range(200):
        r.seen(128)
        r.lost(128, 128)
    assert r.best_chunk() <= 128
    for _ in range(300):
        r.seen(4096)
    assert r.best_chunk() == 4096
