"""Power cuts at random instants on the virtual board (typical card, esp32
CPU), spread over four moments: right after a press (the pre-roll on its
way to the card), while recording, while finalizing (index, hash,
sidecar) and in the middle of an offload (`bodycam pull`). After each cut
the board is powered on again (it rebuilds what the cut interrupted) and
the clip is checked against what had reached the card at the cut: the
card image is read through FAT while the board is off, before recovery.
At the end the audit chain and every clip go through `bodycam verify`.
Prints one JSON object:

    {"trials", "recovered", "max_ms_lost", "verify_ok", ...}

max_ms_lost: recording time that had reached the card (synced: FAT knows
its size, and for the pre-roll a sync's note vouches for its range) and was
not in the clip after recovery; 0 means nothing on the card was lost.
max_ms_unsynced: for cuts while recording live, time from the last frame
on the card to the cut (what a cut can cost by design: up to one sync
period plus the writer's backlog). Each cut clip's window_ms: how far back
from the press and forward from it the clip kept without a gap.

    python bench/powercut.py [N] [--speed 5] [--seed 1] [--preroll 30] [--sd-mb MB]

Nothing is deleted between cuts, so the card must hold every clip: it is
sized for N (4 MB a trial, at least 256 MB) unless --sd-mb says otherwise.
A run that stops early (a trial the board did not come back from) says
why and still prints the report.
"""
import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

from bodycam import timing
from bodycam.evidence import verify
from bodycam.evidence.avi_reader import read_avi
from bodycam.sim import SimError, VirtualBoard

PHASES = ("after_press", "recording", "finalizing", "offload")
HEADER_BYTES = 224  # firmware/avi.py: the first frame chunk (or the pre-roll's place) starts here


def on_card(vb, name, d):
    """Frame times (ms from the press) of clip `name` that reached the card,
    as the card holds it now (the board off): the clip's own records
    (NAME.INF: the pre-roll's layout and the ranges each sync made safe;
    NAME.TIM) and whole '00dc' chunks, read here independently of
    firmware/recover.py. None if the clip's files are not there."""
    img = vb.store.sd
    got = {}
    for ext in (".AVI", ".TIM", ".INF"):
        p = os.path.join(d, name + ext)
        try:
            img.get("clips/%s%s" % (name, ext), p)
        except Exception:
            if ext != ".INF":
                return None
            p = None
        got[ext] = p
    with open(got[".AVI"], "rb") as f:
        data = f.read()
    with open(got[".TIM"], "rb") as f:
        tim = f.read()
    times = list(struct.unpack_from("<%di" % (len(tim) // 4), tim))
    start, pre = {}, None
    if got[".INF"]:
        with open(got[".INF"]) as f:
            for i, line in enumerate(f):
                try:
                    e = json.loads(line)
                except ValueError:
                    break
                if i == 0:
                    start = e
                elif "pre" in e:
                    pre = e["pre"]
    kept = []
    k = 0
    pos = HEADER_BYTES

    def chunk(at):
        if at + 8 > len(data) or data[at:at + 4] != b"00dc":
            return -1
        return struct.unpack_from("<I", data, at + 4)[0]

    layout = start.get("preroll_layout")
    if layout:
        a, b = pre or (0, 0)
        for n in layout["sizes"]:
            if k >= len(times):
                break
            total = 8 + n + (n & 1)
            if pre and (a >= b or pos + total <= a or pos >= b) and pos + total <= len(data) and chunk(pos) == n:
                kept.append(times[k])
            k += 1
            pos += total
        pos = HEADER_BYTES + layout["bytes"]
    while k < len(times):
        n = chunk(pos)
        if n < 0 or pos + 8 + n > len(data):
            break
        kept.append(times[k])
        k += 1
        pos += 8 + n + (n & 1)
    return kept


def clip_meta(vb, name, d):
    _, side = vb.copy_clip(name, d)
    with open(side) as f:
        return json.load(f)


def wait_led(vb, timeout=30):
    end = time.monotonic() + timeout
    while not vb.leds.get("status"):
        if time.monotonic() > end:
            raise SystemExit("the recording never started")
        time.sleep(0.001)


def trial(vb, phase, rnd, preroll_ms, work):
    known = set(vb.list_clips())
    rec = {"phase": phase}
    if phase == "offload":
        if not known:
            phase = rec["phase"] = "recording"  # nothing to offload yet
        else:
            sums = {n: clip_meta(vb, n, os.path.join(work, "before"))["avi_sha256"] for n in known}
            out = os.path.join(work, "pulled-%d" % rnd.randrange(1 << 30))
            p = subprocess.Popen([sys.executable, "-m", "bodycam", "pull", "--port", vb.port_url, "--out", out],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rnd.uniform(1.0, 4.0))
            vb.power_cut()
            p.kill()
            p.wait()
            vb.power_on()
            vb.wait_recording_ready(timeout=120)
            after = {n: clip_meta(vb, n, os.path.join(work, "after"))["avi_sha256"] for n in known}
            rec.update(recovered=after == sums, ms_lost=0 if after == sums else None)
            return rec
    vb.sleep_board(preroll_ms + 1500)
    vb.press()
    t_press = vb.board_ms()
    wait_led(vb)
    vb.release()
    if phase == "after_press":
        vb.sleep_board(rnd.randint(0, 12000))
    elif phase == "recording":
        vb.sleep_board(rnd.randint(12000, 40000))
    else:  # finalizing: stop, then cut while the index, hash and sidecar are written
        vb.sleep_board(12000)
        vb.hold(3200)
        vb.sleep_board(rnd.randint(0, 4000))
    vb.power_cut()
    rec["cut_ms_after_press"] = vb.board_ms() - t_press
    new = [n for n in vb.list_clips() if n not in known]
    names = sorted(set(n[:8] for n, _, _ in vb.sd_listdir("clips") if n.startswith("BC")) - known)
    name = names[-1] if names else None
    rec["clip"] = name
    if name is None:
        rec.update(recovered=False, ms_lost=None)
        vb.power_on()
        vb.wait_recording_ready(timeout=120)
        return rec
    finished = name in new
    card = None if finished else on_card(vb, name, work)
    vb.power_on()
    vb.wait_recording_ready(timeout=120)
    t_on = vb.board_ms()
    if not finished:  # rebuilt in the background while the camera buffers
        vb.wait_for_clip(set(vb.list_clips()) - {name}, timeout=600)
        rec["recovered_after_power_on_ms"] = vb.board_ms() - t_on
    m = clip_meta(vb, name, os.path.join(work, "clips"))
    fm = m["frame_ms"]
    rec["frames"] = len(fm)
    rec["preroll_frames"] = m.get("preroll_frames")
    rec["was_finished"] = finished
    ok = m.get("format") == "bodycam-clip/1" and m.get("width") and m.get("avi_sha256")
    if finished:
        rec.update(recovered=bool(ok), ms_lost=0)
        return rec
    card = card or []
    rec["frames_on_card"] = len(card)
    lost = sorted(set(card) - set(fm))
    rec["recovered"] = bool(ok) and m.get("recovered") is True and not lost
    iv = 1000 // m["settings"]["fps"]
    rec["ms_lost"] = 0 if not lost else lost[-1] - lost[0] + iv
    # the moments nearest the press the clip kept, around the cut
    rec["window_ms"] = timing.press_window(fm, iv)
    if m.get("preroll_lost"):
        rec["preroll_lost"] = m["preroll_lost"]
    if fm and phase == "recording" and fm[-1] >= 0:
        rec["ms_unsynced"] = rec["cut_ms_after_press"] - fm[-1]
    return rec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=20, help="number of power cuts (default 20)")
    ap.add_argument("--speed", type=float, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--preroll", type=int, default=30, help="pre-roll seconds (default 30)")
    ap.add_argument("--card", default="typical")
    ap.add_argument("--sd-mb", type=int, default=None,
                    help="the SD card's size in MB (default: 4 MB a trial, at least 256)")
    a = ap.parse_args(argv)
    sd_mb = a.sd_mb or max(256, 4 * a.n)
    rnd = random.Random(a.seed)
    trials = []
    t0 = time.time()
    with tempfile.TemporaryDirectory() as work:
        stopped = None
        with VirtualBoard(state_dir=os.path.join(work, "state"), speed=a.speed, card=a.card, cpu="esp32",
                          settings={"preroll_s": a.preroll}, sd_bytes=sd_mb << 20) as vb:
            vb.wait_recording_ready(timeout=120)
            for i in range(a.n):
                phase = PHASES[i % len(PHASES)]
                try:
                    r = trial(vb, phase, rnd, a.preroll * 1000, work)
                except (SimError, SystemExit) as e:
                    stopped = "trial %d (%s): %s" % (i + 1, phase, str(e)[:2000])
                    trials.append({"phase": phase, "recovered": False, "ms_lost": None, "error": stopped})
                    print(stopped, file=sys.stderr, flush=True)
                    break
                trials.append(r)
                print(json.dumps(r), file=sys.stderr, flush=True)
            final = os.path.join(work, "final")
            os.makedirs(final)
            for n in vb.list_clips():
                vb.copy_clip(n, final)
            with open(os.path.join(final, "AUDIT.LOG"), "wb") as f:
                f.write(vb.read_sd_file("clips/AUDIT.LOG"))
        rep = verify.verify_dir(final, verify.KeySet(checking=False))
        fails = [f.as_dict() for f in rep.all_findings() if f.level == "fail"]
    lost = [t["ms_lost"] for t in trials if t.get("ms_lost") is not None]
    uns = [t["ms_unsynced"] for t in trials if t.get("ms_unsynced") is not None]
    print(json.dumps({
        "trials": len(trials), "recovered": sum(1 for t in trials if t.get("recovered")),
        "max_ms_lost": max(lost) if lost else None,
        "max_ms_unsynced": max(uns) if uns else None,
        "verify_ok": not fails, "verify_failures": fails[:10],
        "by_phase": {p: sum(1 for t in trials if t["phase"] == p) for p in PHASES},
        # cuts in the seconds after a press: what the clip kept either side of it
        "press_windows": [[t["cut_ms_after_press"], t["window_ms"]] for t in trials
                          if t["phase"] == "after_press" and "window_ms" in t],
        "card": a.card, "sd_mb": sd_mb, "cpu": "esp32", "speed": a.speed, "seed": a.seed,
        "wall_s": round(time.time() - t0, 1), "stopped_early": stopped,
        "failed_trials": [t for t in trials if not t.get("recovered")],
    }, indent=2))


if __name__ == "__main__":
    main()
