"""Button gestures on MicroPython with scripted, synthetic-time edges."""


def events(run_mpy, script, end, **kw):
    args = ", ".join("%s=%r" % kv for kv in kw.items())
    return [tuple(e) for e in run_mpy("""
        import json, buttonkit
        ev, b = buttonkit.run(%r, %d%s)
        print(json.dumps(ev))
    """ % (script, end, (", " + args) if args else ""))]


def test_press_then_release(run_mpy):
    ev = events(run_mpy, [(1000, 0), (1500, 1)], 3000)
    assert ev == [("press", 1000, 0), ("release", 1500, 500)]


def test_tap_shorter_than_the_loop_period_is_seen_with_its_times(run_mpy):
    # 5 fps loop polls every 200 ms; a 90 ms tap falls between two polls
    ev = events(run_mpy, [(1010, 0), (1100, 1)], 2000)
    assert ev == [("press", 1010, 0), ("release", 1100, 90)]


def test_deliberate_hold_fires_once_after_hold_ms(run_mpy):
    ev = events(run_mpy, [(1000, 0), (6000, 1)], 7000)
    assert ev == [("press", 1000, 0), ("hold", 4000, 0), ("release", 6000, 5000)]


def test_bounce_storm_never_reads_as_a_hold(run_mpy):
    # contacts chattering every 7 ms for 5 s: never stable 30 ms, so no press
    # and, above all, no hold
    script = [(1000 + i * 7, i % 2) for i in range(1, 715)]
    ev = events(run_mpy, script + [(7000, 1)], 9000)
    assert not [e for e in ev if e[0] == "hold"]


def test_chatter_during_a_hold_restarts_the_hold_timer(run_mpy):
    # pressed at 1000; brief 10 ms glitches at 2500 and 3900 (each shorter than
    # the debounce) -> still one press, but the hold counts from the last
    # edge: 3910 + 3000
    script = [(1000, 0), (2500, 1), (2510, 0), (3900, 1), (3910, 0), (8000, 1)]
    ev = events(run_mpy, script, 9000, period=50)
    assert ev[0] == ("press", 1000, 0)
    assert ("hold", 6910, 0) in ev
    assert [e[0] for e in ev] == ["press", "hold", "release"]


def test_button_held_at_boot_is_ignored_until_released(run_mpy):
    # down from power-on for 10 s: no press, no hold; the next press counts
    ev = events(run_mpy, [(10000, 1), (12000, 0), (12300, 1)], 14000, start_level=0)
    assert ev == [("press", 12000, 0), ("release", 12300, 300)]


def test_a_tap_while_the_camera_boots_counts(run_mpy):
    # attached at 0; the loop's first poll comes at 5 s (recovering a cut
    # clip, mounting the card): the tap at 3 s is a press with its own times
    ev = events(run_mpy, [(3000, 0), (3150, 1)], 7000, first_poll=5000)
    assert ev == [("press", 3000, 0), ("release", 3150, 150)]


def test_a_button_down_at_attach_released_during_boot_is_ignored_then_counts(run_mpy):
    ev = events(run_mpy, [(1000, 1), (3000, 0), (3150, 1)], 7000, start_level=0, first_poll=5000)
    assert ev == [("press", 3000, 0), ("release", 3150, 150)]


def test_lost_irqs_are_recovered_from_the_pin_level(run_mpy):
    # the soft-IRQ queue dropped everything: the level alone still gives the
    # press (timed at the poll that saw it)
    ev = events(run_mpy, [(1000, 0), (2000, 1)], 3000, deliver_irq=False)
    assert [e[0] for e in ev] == ["press", "release"]
    assert 1000 <= ev[0][1] <= 1200


def test_irq_queue_overflow_is_counted_and_harmless(run_mpy):
    r = run_mpy("""
        import json, button
        now = [0]
        b = button.Button(lambda: now[0])
        class P:
            level = 1
            def value(self): return self.level
        p = P()
        b.poll(0, 1)
        for i in range(100):        # 100 edges before a single poll
            now[0] = 10 + i
            p.level = i % 2
            b.irq(p)
        p.level = 0
        evs = []
        for t in (500, 700, 4000):
            while True:
                e = b.poll(t, p.level)
                if not e: break
                evs.append(e)
        print(json.dumps({"lost": b.lost, "events": evs}))
    """)
    assert r["lost"] == 100 - 16
    assert r["events"][0] == 1  # PRESS: the pin is down

