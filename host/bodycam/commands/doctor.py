"""bodycam doctor: the bring-up check for a freshly flashed board (real or virtual)."""
import json
import sys
import time

from bodycam.cliargs import add_port_argument, need_port

NAME = "doctor"
HELP = "check a freshly flashed board: firmware, memory, camera, SD card, clock, key, button, LEDs"
DESCRIPTION = (
    "Run the bring-up checks over the board's serial port and say what is wrong and what to do. Exit 0 when "
    "all is well, 1 with reasons. The button check asks you to press the button (a virtual board is pressed "
    "for you); the SD check writes a temporary file and removes it, and is refused while recording.")

FPS_WINDOW_S = 3.0
CALL_S = 8.0  # bound on one dock command (the SD test gets its own)


def add_arguments(p):
    add_port_argument(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--button-wait", type=float, default=20, metavar="S",
                   help="seconds to wait for a button press (default: %(default)s; 0 skips the check)")
    p.add_argument("--sd-kb", type=int, default=512, help="size of the SD write test (default: %(default)s KB)")


def run(args, press=None, say=None):
    """press: a callable that presses the button (tests); say: progress output."""
    from bodycam.cli import UserError
    from bodycam.offload.client import DockError, docked
    if not args.port:
        raise UserError("no port: pass --port PORT (or set BODYCAM_PORT)")
    say = say or (lambda m: print(m, file=sys.stderr, flush=True))
    try:
        with docked(need_port(args)) as c:
            report = check(c, args, press, say)
    except DockError as e:
        report = {"checks": [fail("board", "%s does not answer as a bodycam board: %s" % (args.port, e),
                                  "flash and deploy it: bodycam flash --port %s" % args.port)]}
    problems = [x for x in report["checks"] if not x["ok"]]
    report["ok"] = not problems
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for x in report["checks"]:
            print("%-4s %-9s %s" % ("ok" if x["ok"] else "FAIL", x["name"], x["text"]))
            if not x["ok"] and x.get("do"):
                print("               -> " + x["do"])
        print("all is well" if not problems else "%d problem(s)" % len(problems))
    return 0 if not problems else 1


def ok(name, text, **data):
    return dict(name=name, ok=True, text=text, **data)


def fail(name, text, do=None, **data):
    return dict(name=name, ok=False, text=text, do=do, **data)


def check(c, args, press, say):
    from bodycam import __version__
    from bodycam.offload.client import DockError
    info = c.info()
    h = info.get("health") or {}
    sysinfo = h.get("system") or {}
    out = []
    fw = info.get("firmware")
    out.append(ok("firmware", "bodycam %s on MicroPython %s (%s, %s)" % (
        fw, sysinfo.get("micropython"), sysinfo.get("platform"), sysinfo.get("machine")), firmware=fw)
        if fw == __version__ else
        fail("firmware", "bodycam %s on the board, %s here" % (fw, __version__),
             "bodycam deploy --port %s" % args.port, firmware=fw))
    m = h.get("memory") or {}
    mem = "ring %d bytes: %s s of pre-roll at %s-byte frames (%s s wanted); %s bytes free for MicroPython%s" % (
        m.get("ring_bytes", 0), m.get("preroll_s_achievable"), m.get("frame_bytes"), m.get("preroll_s_wanted"),
        sysinfo.get("gc_free"), ", PSRAM/IDF free %s (largest %s)" % (sysinfo["idf_free"], sysinfo["idf_largest"])
        if "idf_free" in sysinfo else "")
    out.append(fail("memory", mem, "lower fps, framesize or preroll_s (bodycam plan shows what fits)", **m)
               if m.get("shortfall") else ok("memory", mem, **m))
    # camera: frames counted by the board over a few seconds of its own clock
    f0, t0 = info.get("frames_captured", 0), info["clock"]["ticks_ms"]
    time.sleep(FPS_WINDOW_S)
    info2 = c.info()
    dt = (info2["clock"]["ticks_ms"] - t0) & 0x3FFFFFFF
    fps = (info2.get("frames_captured", 0) - f0) * 1000.0 / dt if dt else 0.0
    want = (info.get("tick_ms") and 1000.0 / info["tick_ms"]) or None
    cam = "%s: %.1f fps measured over %.1f s of board time (%s wanted), %d capture errors" % (
        sysinfo.get("sensor") or "camera", fps, dt / 1000.0, "%.0f" % want if want else "?",
        info2.get("capture_errors", 0))
    status = h.get("camera") or {}
    if status.get("ok") is False:
        cam = "the camera did not start: %s (%s, %d tries so far)" % (status.get("reason"), status.get("error"),
                                                                     status.get("tries", 0))
        out.append(fail("camera", cam, status.get("advice"), fps=round(fps, 2), camera=status))
    else:
        out.append(ok("camera", cam, fps=round(fps, 2)) if want and fps >= 0.8 * want else
                   fail("camera", cam, "check the camera ribbon cable and the board profile's camera pins",
                        fps=round(fps, 2)))
    for p in h.get("problems") or []:
        if p.get("part") not in ("camera", "storage"):  # (their own checks say it)
            out.append(fail("boot", "%s: %s" % (p.get("part"), p.get("error")), p.get("advice"), problem=p))
    out.append(sd_check(c, info2, h, args, say))
    clock = info2.get("clock") or {}
    out.append(ok("clock", "set: %s" % clock.get("utc")) if clock.get("set") else
               fail("clock", "not set: clips get no UTC time", "bodycam info --port %s --set-clock" % args.port))
    out.append(ok("key", "device key present: clips are signed") if sysinfo.get("key") else
               fail("key", "no device key: clips are not signed", "bodycam deploy --port %s" % args.port))
    out.append(button_check(c, sysinfo, args, press, say))
    try:
        r = c.call("D", "leds", total=CALL_S * 2)
        out.append(ok("leds", "toggled %s: did you see them blink?" % (", ".join(r["leds"]) or "none (no LEDs in "
                                                                      "the profile)"), leds=r["leds"]))
    except DockError as e:
        out.append(fail("leds", "could not toggle the LEDs: %s" % e))
    return {"port": args.port, "board": info.get("board"), "info": info2, "checks": out}


def sd_check(c, info, h, args, say):
    from bodycam.offload.client import DockError
    st = h.get("storage") or {}
    if st.get("ok") is False:
        return fail("storage", "no clip storage: %s (%s)" % (st.get("reason"), st.get("error")), st.get("advice"),
                    storage=st)
    size = "%s: %s free of %s" % (st.get("kind", "storage"), _mb(info.get("free_bytes")), _mb(info.get("total_bytes")))
    say("measuring the %s write speed (%d KB, a temporary file)..." % (
        "SD card's" if st.get("kind") == "sd" else "flash's", args.sd_kb))
    try:
        r = c.call("D", "sd", args.sd_kb, total=120)
    except DockError as e:
        if getattr(e, "code", None) == "recording":
            return fail("storage", "%s; write speed not measured: %s" % (size, e),
                        "stop the recording (hold the button 3 s), then run doctor again", storage=st)
        return fail("storage", "%s; the write test failed: %s" % (size, e), "reseat or replace the card",
                    storage=st)
    rate = r.get("bytes_per_s") or 0
    text = "%s; writes %.0f KB/s (%d KB in %d ms of board time, slowest 4 KB %d ms)" % (
        size, rate / 1024.0, r["bytes"] // 1024, r["ms"], r["worst_chunk_ms"])
    return ok("storage", text, storage=st, write=r)


def button_check(c, sysinfo, args, press, say):
    if args.button_wait <= 0:
        return ok("button", "not checked (--button-wait 0)")
    e0 = sysinfo.get("button_edges", 0)
    if press is not None:
        press()
    elif sysinfo.get("virtual"):
        c.call("D", "press", total=CALL_S)
        say("virtual board: pressing its button for you")
    else:
        say("press the button now (waiting up to %.0f s)" % args.button_wait)
    end = time.monotonic() + args.button_wait
    edges = 0
    while time.monotonic() < end:
        time.sleep(0.5)
        edges = ((c.info().get("health") or {}).get("system") or {}).get("button_edges", 0) - e0
        if edges >= 2:
            return ok("button", "press seen (%d edges)" % edges)
    if edges == 1:
        return fail("button", "one edge, no release seen", "the button may be stuck down, or the pin floats: "
                    "check the pull-up (pull in the board profile) and the wiring")
    return fail("button", "no press seen in %.0f s" % args.button_wait,
                "check the button is wired between the profile's button pin and GND (or 3V3 if active high), "
                "and the profile's pin number")


def _mb(n):
    return "?" if n is None else "%.1f MB" % (n / 1e6)
