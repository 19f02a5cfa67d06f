"""A synthetic fleet of cameras for `bodycam report`: each camera's audit
log and sealed clips are made by the firmware's own code (tests/mpy/fleetcam.py:
evidence.attach, App, Recorder, Button, Sealer, AuditLog, recover) on the
MicroPython unix port with synthetic time, one process per camera, through
shifts over many days: boots at the dock, clock sets (and a wrong one put
right), recordings with markers, stops by hold and by the equipment, stop
then restart, power cuts and brownouts (the same to the firmware: the ESP32
reports both as a power-on reset), a cut that loses the clip, and the
station's dock copying every finished clip and the log into
station/<device-id>/ and deleting it on the camera.

The plan is made here with a seeded random generator and kept as the
truth the tests compare the report with (Fleet.truth). Frames are tiny
JPEG-shaped blobs: the report never looks at pictures."""
import datetime
import json
import os
import random
import shutil
import subprocess
import time

from bodycam.device import upy
from bodycam.evidence import keys
from bodycam.resources import boards_dir, shared

HERE = os.path.dirname(os.path.abspath(__file__))
CAM_SCRIPT = os.path.join(HERE, "mpy", "fleetcam.py")
BOARD = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")
DAY = 86400000
MIN = 60000
# Teams work 10 h shifts starting at these UTC hours.
SHIFT_STARTS = (6, 14, 21)
SHIFT_MS = 10 * 3600000
EQUIPMENT_STOPS = ("storage", "memory", "interrupt", "cut", "brownout", "lost")


def _tiny_frames(d):
    os.makedirs(d, exist_ok=True)
    for i in range(4):
        with open(os.path.join(d, "%03d.jpg" % i), "wb") as f:
            f.write(b"\xff\xd8" + bytes([i + 1]) * (16 + 3 * i) + b"\xff\xd9")
    return d


class Fleet:
    def __init__(self, root, station, keyring, roster, truth, seconds):
        self.root = root
        self.station = station  # station/<device-id>/
        self.keyring = keyring
        self.roster = roster  # roster.csv
        self.truth = truth  # {device: {"recordings": [...], ...}}
        self.seconds = seconds

    def recordings(self):
        return sum(len(t["recordings"]) for t in self.truth.values())


class _DayList(list):
    """Actions, each remembered with the day it belongs to."""

    def __init__(self):
        super().__init__()
        self.day = 0
        self.days = []

    def append(self, a):
        list.append(self, a)
        self.days.append(self.day)


def plan_camera(rng, cam, days, start_ms, team, per_day, median_s, preroll_ms, special):
    """The actions of one camera (fleetcam.py's plan) and the truth about
    its recordings."""
    acts = _DayList()
    recs = []
    shift_h = SHIFT_STARTS[team % len(SHIFT_STARTS)]
    for day in range(days):
        acts.day = day
        start = start_ms + day * DAY + shift_h * 3600000 + rng.randrange(-10, 10) * MIN
        if rng.random() < 0.1 and day not in special.get("busy_days", ()):
            continue  # a day off
        acts.append(["boot", start])
        wrong = special.get("wrong_clock", {}).get(day)
        acts.append(["clock", start + 20000, start + 20000 + (wrong or 0)])
        on = start
        t = start + 30 * MIN
        n = per_day + (1 if rng.random() < 0.5 else 0) - (1 if rng.random() < 0.3 else 0)
        end = start + SHIFT_MS - 20 * MIN
        forced = list(special.get("stops", {}).get(day, ()))
        after_stop = False  # the recording before was stopped by hold minutes ago: this one restarts
        for i in range(max(0, n) + len(forced)):
            if t >= end:
                break
            live = int(min(1800, max(20, rng.lognormvariate(0, 0.6) * median_s)) * 1000)
            nmark = rng.choice((0, 0, 0, 1, 1, 2))
            marks = sorted(rng.randrange(2000, max(3000, live - 4000)) for _ in range(nmark))
            marks = [m for i, m in enumerate(marks) if i == 0 or m - marks[i - 1] >= 5000]  # two presses, not one
            stop = forced.pop(0) if forced else (
                rng.choice(EQUIPMENT_STOPS) if rng.random() < 0.05 else "hold")
            buffer_ms = min(preroll_ms + 5000, t - on)
            restart = stop == "hold" and rng.random() < 0.08
            acts.append(["rec", t, buffer_ms, live, marks, "cut" if stop == "brownout" else stop])
            recs.append({"day": day, "press_utc_ms": t, "live_ms": live, "markers": len(marks), "stop": stop,
                         "short_preroll": buffer_ms < preroll_ms, "restart": after_stop})
            after_stop = restart
            if stop in ("cut", "brownout", "lost"):
                t += live + 40000
                on = t
                acts.append(["boot", t])  # back on by itself a few s later: no dock, clock unset
                recs[-1]["reboot_utc_ms"] = t
                t += rng.randrange(5, 25) * 1000  # pressed again soon: a short pre-roll
            elif restart:
                t += live + 6000 + rng.randrange(30, 240) * 1000
            else:
                t += live + 6000 + rng.randrange(20, 150) * MIN
        if day in special.get("no_dock", ()):
            acts.append(["off", end + 10 * MIN])
            continue
        dock = start + SHIFT_MS
        acts.append(["clock", dock, dock])
        acts.append(["dock", dock + 30000, special.get("dock_keep", {}).get(day, 0)])
        acts.append(["off", dock + 20 * MIN])
    return acts, recs


def make_fleet(root, cameras=8, days=14, seed=1, per_day=2, median_s=60, fps=1, start="2026-03-02",
               teams=2, jobs=2, extra_officers=0, segments=None, after_segment=None, leave_on_camera=False):
    """Record a fleet into root/station/<device-id>/. Returns a Fleet.
    segments=[d1, d2, ...]: run the cameras up to day d1, call
    after_segment(d1), go on to d2... (the station folder as it grew).
    leave_on_camera: camera 2's last dock leaves its newest clip on the
    camera after copying the log that seals it (never offloaded: the
    station folder then fails verification, as it should)."""
    rng = random.Random(seed)
    root = str(root)
    os.makedirs(root, exist_ok=True)
    frames = _tiny_frames(os.path.join(root, "frames"))
    station = os.path.join(root, "station")
    keyring = os.path.join(root, "keys.json")
    settings = {"framesize": "QVGA", "fps": fps, "preroll_s": 30}
    start_ms = int(datetime.datetime.fromisoformat(start).replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
    truth = {}
    procs = []
    t0 = time.monotonic()
    for c in range(cameras):
        dev, key = keys.provision(device_id="bc-%08x" % (0x1000 + c), board="ai-thinker-esp32-cam", keyring=keyring)
        special = _specials(c, days, leave_on_camera)
        acts, recs = plan_camera(rng, c, days, start_ms, c % teams, per_day, median_s, 30000, special)
        card = os.path.join(root, "cards", dev)
        out = os.path.join(station, dev)
        os.makedirs(os.path.join(card, "sd", "clips"), exist_ok=True)
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(card, keys.DEVICE_KEY_FILE), "wb") as f:
            f.write(keys.device_key_json(dev, key))
        truth[dev] = {"camera": c, "team": c % teams, "recordings": recs, "special": special}
        procs.append((dev, card, {"board": BOARD, "frames": frames, "settings": settings, "out": out},
                      list(zip(acts.days, acts))))
    lo = 0
    for hi in list(segments or ()) + [days]:
        if hi <= lo:
            continue
        for dev, card, plan, acts in procs:
            plan["actions"] = [a for d, a in acts if lo <= d < hi]
            with open(os.path.join(card, "plan.json"), "w") as f:
                json.dump(plan, f)
        _run_all([(dev, card) for dev, card, _, _ in procs], jobs)
        if after_segment is not None and hi < days:
            after_segment(hi)
        lo = hi
    roster = write_roster(os.path.join(root, "roster.csv"), truth, start_ms, days, extra_officers)
    return Fleet(root, station, keyring, roster, truth, time.monotonic() - t0)


def _specials(c, days, leave_on_camera=False):
    """Fixed events that every fleet of 4+ cameras and 6+ days has, so the
    tests know where to look."""
    s = {"busy_days": (1, 2, 3)}
    if c == 0:
        s["stops"] = {1: ["hold"], 2: ["cut"]}  # a power cut, recovered at the next boot
    if c == 1:
        s["stops"] = {1: ["lost", "hold"], 2: ["storage", "memory", "interrupt"]}
        s["wrong_clock"] = {3: 90000}  # set 90 s fast at the morning dock, put right at night
    if c == 2 and leave_on_camera:
        s["busy_days"] = (1, 2, 3, days - 1)
        s["dock_keep"] = {days - 1: 1}  # its last dock leaves the newest clip on the camera: never offloaded
    return s


def _run_all(procs, jobs):
    heap = shared("settings").heap_bytes(4194304, "QVGA", 2)
    env = upy.micropython_env([os.path.join(HERE, "mpy")])
    pending = list(procs)
    running = []
    failed = []
    while pending or running:
        while pending and len(running) < jobs:
            dev, card = pending.pop(0)
            p = subprocess.Popen([upy.micropython_exe(), "-X", upy.heap_arg(heap), CAM_SCRIPT, "plan.json"],
                                 cwd=card, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            running.append((dev, p))
        dev, p = running.pop(0)
        out, err = p.communicate(timeout=1800)
        if p.returncode:
            failed.append("%s: exit %d\n%s\n%s" % (dev, p.returncode, out[-2000:], err[-2000:]))
    if failed:
        raise RuntimeError("fleet cameras failed:\n" + "\n".join(failed))


def write_roster(path, truth, start_ms, days, extra_officers=0):
    """device_id,officer,team,valid_from,valid_to: one officer per camera;
    camera 3 changes hands mid-way; camera 4 is unassigned on days 2-3;
    camera 5's two holders overlap by a day."""
    d0 = datetime.datetime.fromtimestamp(start_ms / 1000, datetime.timezone.utc).date()

    def day(n):
        return (d0 + datetime.timedelta(days=n)).isoformat()

    rows = []
    for dev, t in sorted(truth.items()):
        c = t["camera"]
        team = "Team %s" % "ABCDEFGH"[t["team"]]
        name = "Officer %02d" % (c + 1)
        if c == 3 and days >= 6:
            rows.append((dev, name, team, day(0), day(days // 2 - 1)))
            rows.append((dev, "Officer %02d" % (c + 51), team, day(days // 2), ""))
        elif c == 4 and days >= 6:
            rows.append((dev, name, team, day(0), day(1)))
            rows.append((dev, name, team, day(4), ""))
        elif c == 5 and days >= 6:
            rows.append((dev, name, team, day(0), day(3)))
            rows.append((dev, "Officer %02d" % (c + 51), team, day(3), ""))
        else:
            rows.append((dev, name, team, day(0), ""))
    with open(path, "w") as f:
        f.write("device_id,officer,team,valid_from,valid_to\n")
        for r in rows:
            f.write(",".join(r) + "\n")
    return path


def snapshot(src, dst):
    """A copy of a station folder as it was at this moment (clips are
    written once: hard links; the audit log grows: copied)."""
    for dev in sorted(os.listdir(src)):
        os.makedirs(os.path.join(dst, dev), exist_ok=True)
        for name in os.listdir(os.path.join(src, dev)):
            a, b = os.path.join(src, dev, name), os.path.join(dst, dev, name)
            if name == "AUDIT.LOG":
                shutil.copyfile(a, b)
            elif not os.path.exists(b):
                os.link(a, b)
