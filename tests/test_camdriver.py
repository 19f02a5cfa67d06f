"""The virtual board's model of the esp32-camera driver's frame buffers
(bodycam.sim.camdriver, read from driver/cam_hal.c), in synthetic board
time: a free-running sensor, fb_count buffers, LATEST and WHEN_EMPTY, a
held buffer never refilled, frames no buffer takes lost, FB-OVF, flash
stalls."""
from bodycam.sim.camdriver import FB_GET_TIMEOUT_US, LATEST, OVF_LINE, WHEN_EMPTY, Driver

P = 40000  # VGA on the OV2640 at XCLK 20 MHz: 25 fps
FB = 61440
TICK = 200000  # the capture loop at 5 fps


def drv(fb_count=2, grab=LATEST, **kw):
    return Driver(0, P, fb_count, FB, grab, typical_bytes=10000, **kw)


def loop(d, ticks, free=True, start=1000000, tick=TICK):
    """The capture loop: capture every tick, give the buffer back at once
    (free) or not until the next capture. Returns (call time, Frame)."""
    out = []
    for n in range(ticks):
        t = start + n * tick
        f = d.capture(t)
        out.append((t, f))
        if free:
            d.free(t + 3000)  # the copy into the ring took 3 ms
    return out


def test_held_buffer_makes_every_capture_stale_by_most_of_a_loop_interval():
    # The firmware before this issue: LATEST, 2 buffers, never free_buffer().
    # The driver fills the free buffer with the first frame after a capture,
    # then has nowhere to put more: the next capture gets that one.
    got = loop(drv(), 20, free=False)
    for (t_prev, _), (t, f) in zip(got, got[1:]):
        assert t_prev < f.done_us <= t_prev + 2 * P
        assert t - f.done_us >= TICK - 2 * P  # 120 ms old at 5 fps


def test_free_buffer_at_once_gives_a_frame_finished_within_one_sensor_period():
    d = drv()
    got = loop(d, 20, free=True)
    for t, f in got[1:]:
        assert t - P < f.done_us <= t and f.served_us == t
    assert d.stats()["displaced"] > 50  # LATEST: newer frames pushed older ones out


def test_when_empty_keeps_the_oldest_frames_and_loses_the_rest():
    d = drv(grab=WHEN_EMPTY)
    got = loop(d, 10, free=True)
    ks = [f.k for _, f in got]
    # both buffers fill right after the free and stay queued: the frames
    # handed over are the two after each free, the rest is lost
    for (t_prev, _), (t, f) in zip(got, got[1:]):
        assert f.done_us <= t_prev + 3000 + 3 * P
    assert d.stats()["displaced"] == 0 and d.stats()["no_buffer"] > 30
    assert ks == sorted(ks)


def test_one_buffer_waits_for_a_fresh_frame_once_it_is_held():
    d = drv(fb_count=1)
    got = loop(d, 10, free=False)
    t, f = got[0]
    assert f.k == 0  # the free buffer took the first frame and kept it: a second old
    for t, f in got[1:]:
        assert f.served_us == f.done_us and 0 < f.done_us - t <= 2 * P


def test_a_held_buffer_is_never_refilled():
    d = drv(fb_count=1)
    f = d.capture(1000000)
    done = d.done
    assert not d.available(5000000)  # 4 s later: nothing new, the only buffer is held
    assert d.done == done and d.no_buffer >= 100
    g = d.capture(5000000)  # returns the buffer, waits for the next frame
    assert g.k > f.k + 100 and g.done_us > 5000000


def test_frames_no_buffer_can_take_are_lost_and_numbers_show_it():
    d = drv()
    got = loop(d, 10, free=True)
    ks = [f.k for _, f in got]
    assert all(b - a == TICK // P for a, b in zip(ks[1:], ks[2:]))  # one in 5 handed over
    assert d.stats()["done"] + d.stats()["no_buffer"] + d.stats()["parked"] >= ks[-1] - ks[0]


def test_an_oversized_frame_prints_fb_ovf_and_the_capture_waits_for_the_next():
    said = []
    big = {30, 31}
    d = drv(size_of=lambda k: 70000 if k in big else (61500 if k == 40 else 9000),
            on_message=lambda t, text: said.append((t, text)))
    t = d.vsync_us(32) + 1000  # frames 30 and 31 are done (and queued, truncated)
    d.free(t - 500000)
    f = d.capture(t)
    assert f.k == 32 and f.served_us == d.vsync_us(33)  # 30, 31 dropped (no EOI): waits for 32
    # 70000 B: the DMA copy at 61440 overflows first, then the VSYNC: two lines each;
    # 61500 B (frame 40): only the last, partial copy passes the buffer's end
    d.free(f.served_us)
    d.capture(d.vsync_us(42))
    lines = [s for s in said if s[1] == OVF_LINE]
    assert len(lines) == 5
    assert [t for t, _ in lines][1::2][:2] == [d.vsync_us(31), d.vsync_us(32)]
    assert d.stats()["overflows"] == 3


def test_nothing_but_oversized_frames_fails_the_capture_after_4_s():
    d = drv(size_of=lambda k: 80000)
    assert d.capture(1000000) is None
    assert d.next_j * P > 1000000 + FB_GET_TIMEOUT_US - P


def test_a_flash_erase_parks_the_sensor_and_a_page_program_does_not():
    d = drv()
    loop(d, 3, free=True)
    t = 2000000
    a = d.vsync_us(t // P)  # a VSYNC
    d.park(a + 1000, a + 1700)  # a page program between two VSYNCs: nothing lost
    d.park(a + P + 5000, a + P + 50000)  # a 45 ms erase: frames overlapping it go
    f = d.capture(a + 4 * P)
    assert d.parked == 2  # the frame it overlaps by 35 ms, and the one whose start it hid
    assert f.k == t // P + 3
    d.free(a + 4 * P + 3000)
    g = d.capture(a + 10 * P)
    assert g.k == t // P + 9 and d.parked == 2


def test_a_vsync_inside_a_short_flash_write_loses_the_frame_that_starts_there():
    d = drv()
    d.free(0)
    a = d.vsync_us(50)
    d.park(a - 300, a + 400)
    f = d.capture(d.vsync_us(51) + 100)
    assert d.parked == 1
    assert f.k == 49  # done at VSYNC 50, whose delay it rides out; 50 never started; 51 not done yet
