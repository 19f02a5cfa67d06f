# The boot (main.py runs start()): whatever fails, the camera gets as far
# as it can and says so. A camera that does not start, a missing or locked
# card, an unreadable key, config.json or board profile, too little memory,
# even a firmware module that raises: the board still reaches its serial
# dock (so `bodycam pull` and `info` can get the clips already on the card
# off it), prints the BODYCAM-BOOT line and one BODYCAM-PROBLEM line per
# problem saying what to do, logs them in the audit log where there is one,
# and blinks the status LED. A body camera that does not come back after a
# knock is worse than none: the officer believes it is buffering.
#
# Each stage's end is timed (ms from MicroPython's start, time.ticks_ms):
# the boot line's "boot_ms" says where a boot's time goes.
import sys
import time

BOOT_TRACE = []  # [stage, ms]: filled as the boot goes on
CRASH_LIMIT = 5  # crashes of the capture loop before it gives up for the dock alone
CRASH_PAUSE_MS = 1000  # between a crash and the next start


def start():
    problems = []
    stage("imports")
    board, s = load_config(problems)
    stage("config")
    hal = make_hal(board, s, problems)
    stage("hal")  # (the camera and the card: hal_camera_ms / hal_storage_ms below)
    if hal is None:
        boot_line(None, board, s, problems, None)
        return  # nothing to run on: the REPL, where deploy can mend it
    audit = attach_evidence(hal, board, s, problems)
    stage("evidence")
    a = make_app(hal, board, s, problems)
    stage("app")
    add_dock(a, problems)
    stage("dock")
    a.problems = problems
    boot_line(hal, board, s, problems, a)
    log_problems(audit, hal, problems)
    run(a, problems)


def stage(name):
    BOOT_TRACE.append([name, _ticks()])


_TICKS = []


def _ticks():
    # The board's clock: time.ticks_ms on an ESP32 (from the app's start);
    # on the virtual board its board time, which the simulator keeps
    # (vboard.LINK exists before the HAL does).
    if not _TICKS:
        f = time.ticks_ms
        if sys.platform != "esp32":
            try:
                import vboard
                if vboard.attached():
                    f = vboard.LINK.ticks_ms
            except ImportError:
                pass
        _TICKS.append(f)
    return _TICKS[0]()


def problem(problems, part, err, advice):
    p = {"part": part, "error": err if isinstance(err, str) else "%s: %s" % (type(err).__name__, err),
         "advice": advice}
    problems.append(p)
    return p


# --- config -------------------------------------------------------------------

DEFAULT_BOARD = "ai-thinker-esp32-cam"
# The default board's profile, for when even boards/ cannot be read (a
# worn or half-written flash): the AI-Thinker's pins, so its card and dock
# still come up. tests/test_boot_never_dies.py keeps it equal to
# boards/ai-thinker-esp32-cam.json.
FALLBACK_BOARD = {
    "id": "ai-thinker-esp32-cam", "name": "AI-Thinker ESP32-CAM", "chip": "esp32", "flash_offset": "0x1000",
    "psram_bytes": 4194304,
    "camera": {"pwdn": 32, "reset": -1, "xclk": 0, "siod": 26, "sioc": 27,
               "data": [5, 18, 19, 21, 36, 39, 34, 35], "vsync": 25, "href": 23, "pclk": 22},
    "button": {"pin": 13, "active_low": True, "pull": "up"},
    "leds": {"status": {"pin": 33, "active_low": True}, "flash": {"pin": 4, "active_low": False}},
    "storage": {"kind": "sd", "slot": 1, "width": 1, "pins": {"clk": 14, "cmd": 15, "d0": 2}},
    "strapping_pins": [0, 2, 5, 12, 15], "reserved_pins": [1, 3, 16],
}


def load_config(problems, path="config.json", boards_dir="boards"):
    """(board profile, settings) from config.json, falling back to the
    default board and settings for whatever cannot be read (each fallback
    is a problem)."""
    import json

    import boardcfg
    import settings as cfg
    c = {}
    try:
        with open(path) as f:
            c = json.load(f)
        if not isinstance(c, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        c = {}
        problem(problems, "config", "%s unreadable (%s)" % (path, e),
                "the default settings are in use; deploy again (bodycam deploy) to write config.json")
    bid = c.get("board", DEFAULT_BOARD)
    try:
        board = boardcfg.load(boards_dir + "/" + bid + ".json")
    except (OSError, ValueError) as e:
        problem(problems, "board", str(e), "the %s profile is in use instead; deploy again "
                "(bodycam deploy --board %s) to put the board's profile back" % (DEFAULT_BOARD, bid))
        try:
            board = boardcfg.load(boards_dir + "/" + DEFAULT_BOARD + ".json")
        except (OSError, ValueError):
            board = boardcfg.validate(dict(FALLBACK_BOARD), "the built-in %s profile" % DEFAULT_BOARD)
    try:
        s = cfg.validate(c)
    except ValueError as e:
        problem(problems, "config", str(e), "the default settings are in use; fix config.json with "
                "bodycam deploy (bodycam plan shows settings that fit)")
        s = cfg.validate({})
    return board, s


# --- the hardware -------------------------------------------------------------

def make_hal(board, s, problems):
    """The platform's HAL (its camera and card never stop it: camslot.py,
    sdmount.py); None only if the HAL module itself cannot be loaded."""
    try:
        if sys.platform == "esp32":
            from hal_esp32 import Esp32Hal as Hal
        else:
            from unix_hal import board_hal  # the platform's (sim/board_side), as machine is on an ESP32
            Hal = board_hal()  # the virtual board's HAL when `bodycam sim` booted us
        hal = Hal(board, s)
    except Exception as e:
        problem(problems, "firmware", e, "the hardware layer did not load: flash a supported image "
                "(docs/flashing.md) and deploy again (bodycam deploy)")
        return None
    cam = getattr(hal.camera, "status", None)
    if cam is not None and not cam["ok"]:
        problem(problems, "camera", cam["error"], cam["advice"])
    return hal


def attach_evidence(hal, board, s, problems):
    try:
        import evidence  # audit log + sealed manifests on the HAL; logs the boot
        audit, _ = evidence.attach(hal, board, s)
    except Exception as e:
        problem(problems, "firmware", e, "the audit log and clip sealing did not start: clips are not "
                "signed; deploy again (bodycam deploy)")
        hal.audit = None
        return None
    if getattr(hal, "key_problem", None):
        problem(problems, "key", hal.key_problem, "clips are not signed until the key is put back: deploy "
                "again (bodycam deploy keeps the device's key in your keyring and writes it back)")
    cam = getattr(hal, "camera", None)
    if audit is not None and getattr(cam, "status", None) is not None:
        if not cam.status["ok"]:
            audit.record("camera_failed", cam.status)
        cam.log = audit.record  # later tries: camera_started when it comes up
    return audit


def make_app(hal, board, s, problems):
    try:
        import app
        a = app.App(hal, board, s)
    except Exception as e:
        problem(problems, "firmware", e, "the capture loop did not start (no pre-roll, no recording): "
                "the dock still answers; deploy again (bodycam deploy) or reflash (bodycam flash)")
        import standby
        return standby.Standby(hal, board, s)
    try:
        import evidence
        evidence.watch(a)  # audit entries for dropped frames
    except Exception:
        pass
    return a


def add_dock(a, problems):
    try:
        import dock  # serial offload: `bodycam pull/ls/info` over the REPL link
        a.services.append(dock.Dock(a))
        a.docked = True
    except Exception as e:
        a.docked = False
        problem(problems, "firmware", e, "the serial dock did not start: clips cannot be pulled; "
                "Ctrl-C stops the camera; deploy again (bodycam deploy)")


# --- telling ------------------------------------------------------------------

def boot_line(hal, board, s, problems, a):
    # One line for the host: `bodycam deploy` waits for it to know the
    # firmware came up with the version, board and settings it deployed.
    import json
    from version import VERSION
    line = {"firmware": VERSION, "board": board["id"], "settings": s, "problems": problems,
            "boot_ms": boot_ms(getattr(hal, "power_on_ms", 0), getattr(hal, "boot_ms", None),
                               getattr(a, "boot_ms", None))}
    h = None
    if a is not None:
        try:
            h = a.health()
        except Exception as e:
            problem(problems, "firmware", e, "the health report failed; deploy again (bodycam deploy)")
    if h is not None:
        line.update(ring_bytes=(getattr(a, "plan", None) or {}).get("ring_bytes"), clock=hal.clock.utc(),
                    storage=h["storage"], memory=h["memory"], camera=h.get("camera"))
    print("BODYCAM-BOOT " + json.dumps(line))
    for why in problem_lines(h, problems):
        print("BODYCAM-PROBLEM " + why)


def boot_ms(power_on, *parts):
    """{stage: ms it took} (the first, "imports", from power_on: ticks 0 on
    an ESP32, where ticks_ms counts from the chip's reset), the parts the
    HAL and the App timed inside theirs (camera, storage, ring), and the
    total from power-on until the capture loop is about to start."""
    out = {}
    prev = power_on
    for name, t in BOOT_TRACE:
        out[name] = time.ticks_diff(t, prev)
        prev = t
    for p in parts:
        if p:
            out.update(p)
    if BOOT_TRACE:
        out["total"] = time.ticks_diff(prev, power_on)
    return out


def problem_lines(h, problems):
    """One plain line per problem, for a person watching the console."""
    out = []
    st = (h or {}).get("storage")
    if st is not None and not st["ok"]:
        out.append("no clip storage (%s, %s): %s; buffering only, presses are not recorded"
                   % (st["reason"], st["error"], st["advice"]))
    m = (h or {}).get("memory")
    if m and m.get("shortfall"):
        out.append("pre-roll %d s of %d s wanted: %d bytes of ring at %d-byte frames "
                   "(%d bytes free after the camera); lower fps/framesize/preroll_s"
                   % (m["preroll_s_achievable"], m["preroll_s_wanted"], m["ring_bytes"],
                      m["frame_bytes"], m["free_bytes"]))
    for p in problems:
        out.append("%s: %s: %s" % (p["part"], p["error"], p["advice"]))
    return out


def log_problems(audit, hal, problems):
    if audit is None:
        return
    for p in problems:
        if p["part"] not in ("camera", "key"):  # (camera_failed, and the key's own error entry)
            audit.record("boot_problem", p)


# --- running ------------------------------------------------------------------

def run(a, problems):
    """The capture loop, started again after a crash (the clip in progress
    is closed and rebuilt from its whole frames first); after CRASH_LIMIT
    crashes only the dock goes on, so the clips can still be pulled."""
    crashes = 0
    while True:
        try:
            a.run(getattr(a, "docked", False))
            return
        except KeyboardInterrupt:
            raise  # deliberate (the dock sealed the clip first): to the REPL
        except Exception as e:
            crashes += 1
            p = crashed(a, e, crashes)
            if crashes <= CRASH_LIMIT:  # (a loop that crashes at once must not fill the card)
                problems.append(p)
                audit = getattr(a.hal, "audit", None)
                if audit is not None:
                    audit.record("crash", p)
            a.hal.sleep_ms(CRASH_PAUSE_MS)
            if crashes >= CRASH_LIMIT and not getattr(a, "standby", False):
                import standby
                a = standby.Standby(a.hal, a.hal.board, a.settings)
                add_dock(a, problems)
                a.problems = problems


def crashed(a, e, n):
    try:
        import io
        buf = io.StringIO()
        sys.print_exception(e, buf)
        where = buf.getvalue().strip().split("\n")[-2:]
        text = "%s: %s (%s)" % (type(e).__name__, e, " | ".join(s.strip() for s in where))
    except Exception:
        text = "%s: %s" % (type(e).__name__, e)
    p = {"part": "crash", "error": text, "advice": "the capture loop is started again (%d so far); "
         "report it with the audit log (bodycam pull) and deploy again (bodycam deploy)" % n}
    print("BODYCAM-PROBLEM crash: %s: %s" % (p["error"], p["advice"]))
    rec = getattr(a, "recorder", None)
    try:
        if rec is not None and rec.clip is not None:
            rec.rescue(a.hal.ticks_ms(), "crash")  # the clip so far, rebuilt from its whole frames
    except Exception:
        pass
    return p
