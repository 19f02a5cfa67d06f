"""Device clock: UTC formatting identical to CPython's, unset until set."""
def test_clock_utc_formatting_matches_cpython(run_mpy):
    import datetime

    stamps = [0, 951782400123, 1704067200000, 1767225599999, 4102444800500, 1709164800000]
    got = run_mpy("""
        import json, clock
        print(json.dumps([[clock.iso_utc(ms), clock.civil_from_unix(ms // 1000)] for ms in %r]))
    """ % stamps)
    for ms, (iso, civ) in zip(stamps, got):
        dt = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
        assert iso == dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)
        assert civ == [dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.weekday()]


def test_clock_is_unset_until_set_then_follows_ticks(run_mpy):
    got = run_mpy("""
        import json, clock
        t = [5000]
        c = clock.Clock(lambda: t[0])
        before = c.utc()
        old = c.set_utc_ms(1767225600000)
        t[0] += 1500
        print(json.dumps([before, old, c.utc(), c.utc(4000)]))
    """)
    assert got == [None, None, "2026-01-01T00:00:01.500Z", "2025-12-31T23:59:59.000Z"]
