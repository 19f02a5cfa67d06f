"""bodycam info: what the camera says about itself, over the serial dock."""
import json
import time

from bodycam.cliargs import add_port_argument, need_port
from bodycam.offload.client import docked
from bodycam.progress import human_bytes

NAME = "info"
HELP = "show the camera's board, firmware, state, storage and clock over USB serial"


def add_arguments(p):
    add_port_argument(p)
    p.add_argument("--set-clock", action="store_true", help="set the device clock to this computer's UTC first")
    p.add_argument("--json", action="store_true", help="print the device's answer as JSON")


def run(args):
    with docked(need_port(args)) as c:
        if args.set_clock:
            c.set_clock()
        t0 = time.time()
        info = c.info()
        t1 = time.time()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    clock = info.get("clock") or {}
    if clock.get("unix_ms") is not None:
        # The reply was made somewhere between asking and hearing back.
        offset = clock["unix_ms"] - (t0 + t1) * 500.0
        ctext = "%s (%+.1f s from this computer)" % (clock["utc"], offset / 1000.0)
    else:
        ctext = "not set (clips get no UTC time: run `bodycam info --set-clock`)"
    rec = info.get("recording")
    rows = [
        ("board", info.get("board")),
        ("firmware", info.get("firmware")),
        ("state", info.get("state") + (" (%s)" % rec if rec else "")),
        ("storage", "%s free of %s" % (human_bytes(info["free_bytes"]), human_bytes(info["total_bytes"]))
         if info.get("free_bytes") is not None else "unknown"),
        ("clock", ctext),
        ("link", "%d baud (boots at %d)" % (info.get("baud"), info.get("boot_baud"))),
    ]
    rows += health_rows(info.get("health"))
    if info.get("last_error"):
        rows.append(("dock error", info["last_error"]))
    for k, v in rows:
        print("%-10s %s" % (k, v))
    return 0


def health_rows(h):
    """What the board could not get at boot: its card, the whole pre-roll."""
    if not h:
        return []
    rows = []
    st = h.get("storage") or {}
    if st.get("ok") is False:
        rows.append(("PROBLEM", "no clip storage: %s (%s). %s" % (st.get("reason"), st.get("error"), st.get("advice"))))
    cam = h.get("camera") or {}
    if cam.get("ok") is False:
        rows.append(("PROBLEM", "no camera: %s (%s, %d tries so far). %s" % (
            cam.get("reason"), cam.get("error"), cam.get("tries", 0), cam.get("advice"))))
    elif cam.get("ok") and cam.get("tries", 1) > 1:
        rows.append(("camera", "%s, started at try %d" % (cam.get("sensor") or "started", cam["tries"])))
    for p in h.get("problems") or []:
        if p.get("part") != "camera":  # (the camera's own row above says how it is now)
            rows.append(("PROBLEM", "%s: %s. %s" % (p.get("part"), p.get("error"), p.get("advice"))))
    if h.get("recovering"):
        rows.append(("recovery", "rebuilding %s in the background (cut by a power loss, reset or crash); "
                     "pull them once it is done" % ", ".join(h["recovering"])))
    un = h.get("unrecorded")
    if un and un.get("presses"):
        rows.append(("PROBLEM", "%d button press(es) not recorded (no storage)" % un["presses"]))
    if h.get("unrecovered"):
        rows.append(("PROBLEM", "clip(s) cut by a power loss kept but not rebuilt yet, the card too full "
                     "for it: %s. Make room (bodycam pull --delete), then reset the camera: its next boot "
                     "rebuilds them" % ", ".join(h["unrecovered"])))
    m = h.get("memory") or {}
    if m:
        rows.append(("pre-roll", "%s s of %s s wanted (ring %s at %s-byte frames)%s" % (
            m.get("preroll_s_achievable"), m.get("preroll_s_wanted"), human_bytes(m.get("ring_bytes") or 0),
            m.get("frame_bytes"), " SHORTFALL: lower fps, framesize or preroll_s" if m.get("shortfall") else "")))
    return rows
