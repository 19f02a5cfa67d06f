# One camera of a synthetic fleet, on the MicroPython unix port: the real
# firmware (evidence.attach, App, Recorder, Button, Sealer, AuditLog,
# recover) lives through a plan of shifts with synthetic time, and the
# station's dock copies finished clips and the audit log into a folder.
#
#   micropython fleetcam.py PLAN.json
#
# PLAN: {"board", "frames", "settings", "out", "actions": [...]}, run in the
# camera's own folder (key.json and evidence.json on its "flash", clips in
# sd/clips). Actions, in time order (T: true UTC ms):
#   ["boot", T]                       power on: a fresh boot of the firmware
#   ["clock", T, unix_ms]             the dock sets the clock (evidence.set_clock)
#   ["rec", T, buffer_ms, live_ms, [marker ms], stop]
#       buffer for buffer_ms (less if the camera has not been on that long),
#       press at T, press again at each marker (ms after the press), then
#       stop: "hold" (the officer's 3 s hold), "storage" (a write error),
#       "memory" (a MemoryError mid-write), "interrupt" (Ctrl-C at the REPL),
#       "cut" (power lost: nothing more until the next boot) or "lost" (power
#       lost and the card's unfinished clip files with it: unrecoverable)
#   ["dock", T, keep]                 offload every finished clip but the newest
#                                     `keep`, delete it on the camera, copy AUDIT.LOG
#   ["off", T]                        power off while buffering
# Prints one JSON line: what the camera did.
import gc
import hashlib
import json
import os
import sys

import evidence
from evkit import EvKit

BOOT_TICKS = 1000  # ticks at power on


class Cam(EvKit):
    def run_for(self, ms):
        # Kit.run_for without its list of every tick (a long shift would fill the heap)
        end = self.hal.ticks.t + ms
        app = self.app
        ticks = self.hal.ticks
        iv = app.interval_ms
        while ticks.t < end:
            app.step()
            ticks.t += iv


class Camera:
    def __init__(self, plan):
        self.plan = plan
        self.k = None
        self.t_boot = 0
        self.out = plan["out"]
        self.stats = {"boots": 0, "clips": 0, "offloaded": 0}

    # --- time -------------------------------------------------------------
    def ticks_at(self, T):
        return BOOT_TICKS + (T - self.t_boot)

    def jump(self, T):
        t = self.ticks_at(T)
        if t > self.k.hal.ticks.t:
            self.k.hal.ticks.t = t

    # --- actions ----------------------------------------------------------
    def boot(self, T):
        self.k = None
        gc.collect()  # the old ring must go before the new one is sized
        self.t_boot = T
        p = self.plan
        self.k = Cam(p["board"], p["frames"], p["settings"], t0=BOOT_TICKS)
        self.stats["boots"] += 1

    def clock(self, T, unix_ms):
        self.jump(T)
        self.k.run_for(self.k.app.interval_ms)
        evidence.set_clock(self.k.hal, unix_ms, "host")

    def rec(self, T, buffer_ms, live_ms, markers, stop):
        k = self.k
        self.jump(T - buffer_ms)
        k.run_for(self.ticks_at(T) - k.hal.ticks.t)
        t0 = k.hal.ticks.t
        k.press(200)
        for m in markers:
            k.run_for(t0 + m - k.hal.ticks.t)
            k.press(200)
        k.run_for(t0 + live_ms - k.hal.ticks.t)
        rec = k.rec
        if stop == "hold":
            k.press(k.settings["hold_ms"] + 300)
        elif stop == "storage":
            rec._storage_failed(k.hal.ticks.t, OSError(28, "No space left on device"))
        elif stop == "memory":
            rec.rescue(k.hal.ticks.t, "memory")  # what App.step does on a MemoryError
        elif stop == "interrupt":
            k.app.close_for_repl()
        elif stop in ("cut", "lost"):
            name = rec.clip.name if rec.clip else None
            self.k = None  # the power is gone: whatever reached the card stays
            gc.collect()
            if stop == "lost" and name:
                d = "sd/clips/"
                for f in os.listdir(d):
                    if f.startswith(name):
                        os.remove(d + f)
            return
        k.finish(120000)
        self.stats["clips"] += 1

    def dock(self, T, keep=0):
        k = self.k
        self.jump(T)
        k.run_for(k.app.interval_ms)
        d = k.hal.clips_dir
        names = sorted(n[:-5] for n in os.listdir(d) if n.startswith("BC") and n.endswith(".JSON"))
        if keep:
            names = names[:-keep]  # the station could not take these (store down): they stay on the camera
        sent = []
        for stem in names:
            sha = {}
            for ext in (".AVI", ".JSON"):
                sha[ext] = _copy(d + "/" + stem + ext, self.out + "/" + stem + ext)
            size = os.stat(d + "/" + stem + ".AVI")[6]
            evidence.log(k.hal, "offload", {"clip": stem, "bytes": size, "sha256": sha[".AVI"]})
            sent.append((stem, sha))
        _copy(d + "/AUDIT.LOG", self.out + "/AUDIT.LOG")
        # the station deletes only what it holds verified, then reads the log again
        for stem, sha in sent:
            for ext in (".AVI", ".JSON"):
                os.remove(d + "/" + stem + ext)
                evidence.log(k.hal, "delete", {"clip": stem, "file": stem + ext, "sha256": sha[ext]})
        _copy(d + "/AUDIT.LOG", self.out + "/AUDIT.LOG")
        self.stats["offloaded"] += len(sent)

    def off(self, T):
        self.jump(T)
        self.k = None
        gc.collect()


def _copy(src, dst):
    h = hashlib.sha256()
    with open(src, "rb") as a, open(dst, "wb") as b:
        while True:
            buf = a.read(4096)
            if not buf:
                break
            h.update(buf)
            b.write(buf)
    return "".join("%02x" % x for x in h.digest())


def main(path):
    with open(path) as f:
        plan = json.load(f)
    cam = Camera(plan)
    for a in plan["actions"]:
        getattr(cam, a[0])(*a[1:])
    print(json.dumps(cam.stats))


main(sys.argv[1])
