"""The press moment under an ESP32-CAM's costs: for each SD card profile
(fast, typical, slow), on the virtual board with the esp32 CPU and default
settings (VGA, 5 fps, 30 s pre-roll), press after the pre-roll is full,
record for --minutes of board time, stop, and read the clip: when the last
5 s, 10 s and all 30 s before the press were on the card (the pre-roll is
written newest first, firmware/backfill.py). The card's writes are
journalled (bodycam.sim.cardjournal), so the card as a power cut every
--step ms through the first 10 s after the press would have left it is
rebuilt and recovered with the firmware's own code: each cut's window
(what the clip kept either side of the press) and whether the promise of
docs/evidence.md held. Then a second board really cuts the power just after
the device's own record says the whole pre-roll was on the card, to
cross-check that record. Prints one JSON object:

    {"runs": [{"card", "live_dropped_at_press", "press_to_first_live_ms",
               "preroll_bytes", "preroll_durable_ms", "preroll_target_ms",
               "preroll_last_s_durable_ms": {"5", "10", "30"},
               "cuts": {"promise_held", "failed_at_ms", "steps": [...]},
               "writer_backlog_peak_bytes", "sustained_fps", ...}], ...}

    python bench/press.py [--minutes 5] [--speed 4] [--cards fast,typical,slow] [--step 250]
"""
import argparse
import json
import os
import sys
import tempfile
import time

from bodycam import timing
from bodycam.sim import VirtualBoard
from bodycam.sim.cardjournal import cuts_after
from bodycam.sim.costs import card_profile, effective_write_Bps

PRESS_WINDOW_MS = 30000  # "at the press": the first 30 s, while the pre-roll goes to the card


def lost_in(fm, lo, hi, interval):
    """Camera frames missing between captures in [lo, hi): a gap of two
    intervals or more between two capture times (less 1/8 interval of
    jitter) lost frames; shorter gaps are late captures, nothing lost."""
    n = 0
    live = [t for t in fm if lo <= t < hi]
    if live and live[0] >= interval + interval // 8:
        n += (live[0] + interval // 8) // interval  # before the first live frame
    for a, b in zip(live, live[1:]):
        g = b - a
        if g >= 2 * interval - interval // 8:
            n += (g + interval // 8) // interval - 1
    return n


def skipped_at_press(served, press_ticks, fm):
    """Camera frames (by the sensor's own frame number) the loop never took
    in the PRESS_WINDOW_MS after the press: a frame skipped while every
    capture is a little late leaves no gap in the capture times, so
    lost_in() cannot see it; the sensor's numbers can. Returns the count
    and the board ms after the press of the frame that came after each gap."""
    if press_ticks is None:
        return None
    ks = [(k, t - press_ticks) for k, t, _ in served if 0 <= t - press_ticks < PRESS_WINDOW_MS]
    # The OV2640 free-runs faster than the capture rate (25 fps in VGA mode
    # against 5: bodycam.sim.camdriver), so consecutive captures normally
    # differ by several sensor frames: a skip is a step of 1.5 usual ones
    # or more (the usual step: the median).
    steps = sorted(b[0] - a[0] for a, b in zip(ks, ks[1:]))
    if not steps:
        return {"frames": 0, "at_ms": []}
    step = steps[len(steps) // 2] or 1
    gaps = [(b[0] - a[0], b[1]) for a, b in zip(ks, ks[1:]) if 2 * (b[0] - a[0]) >= 3 * step]
    return {"frames": sum((d + step // 2) // step - 1 for d, _ in gaps), "at_ms": [t for _, t in gaps],
            "sensor_frames_per_capture": step}


def durable_after(m, seconds=(5, 10, 30)):
    """{s: ms after the press when every frame of the last s seconds before
    it was on the card}, from the device's own account (the sidecar's
    writer.preroll_covered: [ms after the press, ms before it covered])."""
    fm = m["frame_ms"]
    covered = (m.get("writer") or {}).get("preroll_covered") or []
    out = {}
    for s in seconds:
        inside = [t for t in fm if -s * 1000 <= t < 0]
        if not inside:
            continue
        need = -inside[0]
        out[str(s)] = next((at for at, c in covered if c >= need), None)
    return out


def sweep(journal, name, m, step_ms, d, upto_ms=10000):
    """A cut every step_ms through the first upto_ms after the press."""
    steps = list(range(step_ms, upto_ms + 1, step_ms))
    rows = []
    iv = 1000 // m["settings"]["fps"]
    for s, kept in cuts_after(journal, name, m["clock"]["press_ticks_ms"], steps, d):
        missing = timing.press_promise(m["frame_ms"], kept, s)
        rows.append({"cut_ms": s, "window_ms": timing.press_window(kept, iv), "missing": len(missing)})
    failed = [r["cut_ms"] for r in rows if r["missing"] and r["cut_ms"] >= 1000]
    return {"promise_held": not failed, "failed_at_ms": failed, "steps": rows}


def record(card, minutes, speed, d, step_ms=250):
    t0 = time.time()
    with VirtualBoard(state_dir=os.path.join(d, card), speed=speed, card=card, cpu="esp32",
                      card_journal=bool(step_ms)) as vb:
        vb.wait_recording_ready(timeout=60)
        vb.sleep_board(32000)
        vb.tap()
        vb.sleep_board(int(minutes * 60000))
        vb.hold(3500)
        try:
            name = vb.wait_for_clip(timeout=300)
        except Exception:
            print("no clip on the %s card; the board said:\n%s" % (card, vb.console_tail(3000)), file=sys.stderr)
            raise
        _, side = vb.copy_clip(name, os.path.join(d, card + "-clip"))
        costs = vb.costs
        served = list(vb.sensor.served)
        journal = vb.card_journal
    with open(side) as f:
        m = json.load(f)
    cuts = sweep(journal, name, m, step_ms, d) if step_ms else None
    fm = m["frame_ms"]
    iv = 1000 // m["settings"]["fps"]
    live = [t for t in fm if t >= 0]
    span = live[-1] - live[0] if len(live) > 1 else 0
    w = m.get("writer") or {}
    rate = effective_write_Bps(card_profile(card))
    skipped = skipped_at_press(served, m["clock"]["press_ticks_ms"], fm)
    return {
        "card": card,
        "live_dropped_at_press": lost_in(fm, 0, PRESS_WINDOW_MS, iv),
        "press_to_first_live_ms": live[0] if live else None,
        "preroll_frames": m["preroll_frames"],
        "preroll_bytes": w.get("preroll_bytes"),
        "preroll_durable_ms": w.get("preroll_durable_ms"),
        "preroll_target_ms": int(w["preroll_bytes"] * 1000 / rate + 500) if w.get("preroll_bytes") else None,
        "preroll_last_s_durable_ms": durable_after(m),
        "cuts": cuts,
        "writer_backlog_peak_bytes": w.get("backlog_peak_bytes"),
        "sustained_fps": round(1000.0 * (len(live) - 1) / span, 3) if span else None,
        "sustained_over_s": round(span / 1000.0, 1),
        "live_dropped_total": lost_in(fm, 0, fm[-1] + 1, iv),
        "camera_frames_skipped_at_press": skipped,
        "dropped_by_device": m.get("dropped"),
        "board_costs": costs,
        "wall_s": round(time.time() - t0, 1),
    }


def cut_check(card, durable_ms, speed, d):
    """Cut the power durable_ms + 300 ms after a press; the recovered clip
    must hold the whole pre-roll (150 frames at 5 fps, 30 s)."""
    with VirtualBoard(state_dir=os.path.join(d, card + "-cut"), speed=speed, card=card, cpu="esp32") as vb:
        vb.wait_recording_ready(timeout=60)
        vb.sleep_board(32000)
        vb.press()
        t = vb.board_ms()
        while not vb.leds.get("status"):
            time.sleep(0.001)
        vb.sleep_board(max(0, durable_ms + 300 - (vb.board_ms() - t)))
        vb.power_cut()
        vb.release()
        vb.power_on()
        vb.wait_recording_ready(timeout=60)
        name = vb.wait_for_clip(timeout=300)
        _, side = vb.copy_clip(name, os.path.join(d, card + "-cut-clip"))
    with open(side) as f:
        m = json.load(f)
    return {"cut_ms_after_press": durable_ms + 300, "recovered": bool(m.get("recovered")),
            "preroll_frames_kept": m["preroll_frames"], "preroll_ms_kept": -m["frame_ms"][0] if m["frame_ms"] else 0}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=5, help="board minutes recorded after the press (default 5)")
    ap.add_argument("--speed", type=float, default=4, help="board time per wall time (default 4)")
    ap.add_argument("--cards", default="fast,typical,slow")
    ap.add_argument("--no-cut", action="store_true", help="skip the power-cut cross-check")
    ap.add_argument("--step", type=int, default=250,
                    help="ms between the journalled cuts through the first 10 s after the press (0: none)")
    a = ap.parse_args(argv)
    runs = []
    with tempfile.TemporaryDirectory() as d:
        for card in a.cards.split(","):
            r = record(card, a.minutes, a.speed, d, a.step)
            if not a.no_cut and r["preroll_durable_ms"] is not None:
                r["cut_check"] = cut_check(card, r["preroll_durable_ms"], a.speed, d)
            runs.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    print(json.dumps({"settings": {"framesize": "VGA", "fps": 5, "preroll_s": 30}, "cpu": "esp32",
                      "speed": a.speed, "minutes": a.minutes, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
