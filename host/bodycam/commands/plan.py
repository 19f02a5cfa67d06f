"""bodycam plan: does a pre-roll fit the board's memory?"""
import json

from bodycam.boards import DEFAULT_BOARD, load_board
from bodycam.planning import describe
from bodycam.resources import shared

NAME = "plan"
HELP = "check that a pre-roll fits a board's memory, and what would if not"
DESCRIPTION = ("Estimate the pre-roll ring's memory from typical OV2640 JPEG sizes and the board's PSRAM. "
               "Exit status 0 when it fits, 1 when it does not (with settings that would).")


def add_arguments(p):
    s = shared("settings")
    p.add_argument("--board", default=DEFAULT_BOARD, help="board profile id (default: %(default)s)")
    p.add_argument("--framesize", default=s.DEFAULTS["framesize"], choices=list(s.FRAMESIZES),
                   help="camera frame size (default: %(default)s)")
    p.add_argument("--fps", type=int, default=s.DEFAULTS["fps"], help="frames per second (default: %(default)s)")
    p.add_argument("--preroll", type=int, default=s.DEFAULTS["preroll_s"],
                   help="pre-roll seconds, 0-120 (default: %(default)s)")
    p.add_argument("--preroll-full", dest="preroll_full", type=int, default=None, metavar="S",
                   help="keep every frame of the last S pre-roll seconds and thin older ones (every 2nd, "
                        "4th..., never below 1 fps) when the whole pre-roll does not fit (docs/preroll.md)")
    p.add_argument("--jpeg-quality", dest="jpeg_quality", type=int, default=s.DEFAULTS["jpeg_quality"],
                   help="JPEG quality 10-100, higher is better: the camera driver's frame buffer "
                        "(width*height/5) must hold a busy scene's frames (default: %(default)s)")
    p.add_argument("--fb-count", dest="fb_count", type=int, default=s.DEFAULTS["fb_count"],
                   help="camera frame buffers, 1 or 2 (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    add_card_argument(p)


def add_card_argument(p):
    from bodycam.sim.costs import CARDS, DEFAULT_CARD
    p.add_argument("--card", default=DEFAULT_CARD, choices=sorted(CARDS),
                   help="SD card profile (write speed, stalls; docs/virtual-board.md): does it sustain the "
                        "settings, and how soon is the pre-roll on it after a press (default: %(default)s)")


def storage_check(board, p, card, quality=None):
    """The storage part of the plan (a card or the flash keeping up)."""
    from bodycam.sim.costs import FLASH_FPS_QUALITY, storage_plan
    return storage_plan(board, p, card, FLASH_FPS_QUALITY if quality is None else quality)


def describe_storage(st):
    if st["write_Bps"] is None:
        return "storage: %s: writes cost nothing (the host's disk)" % st["medium"]
    s = ("storage: %s writes ~%.0f KB/s through MicroPython; recording needs ~%.0f KB/s -> %s" % (
        st["medium"], st["write_Bps"] / 1000.0, st["need_Bps"] / 1000.0,
        "sustained (%d%% of its write rate)" % round(100 * st["load"]) if st["sustains"] else
        "NOT sustained: frames will be dropped (counted in the sidecar)"))
    if st.get("sustained_fps") is not None:
        s += ("\n%s: every 4 KB written is a 45 ms erase and 16 page programs with the caches off "
              "(the camera stops meanwhile) and littlefs copies a file's last block after each sync: "
              "measured, %d fps at this frame size and quality is what it keeps%s" % (
                  st["medium"], st["sustained_fps"],
                  "" if st["sustains"] else " -> frames WILL be dropped at the %s fps set" % st["fps_set"]))
    s += ("\npre-roll: %.2f MB reaches the storage ~%.1f s after the press (target %.1f s)" % (
        st["preroll_bytes"] / 1e6, st["preroll_to_card_s"], st["preroll_target_s"]))
    if st.get("catch_up_s") is not None:
        s += "; the writer catches up with live frames after ~%.0f s" % st["catch_up_s"]
    return s


def make_plan(board_id, framesize, fps, preroll, preroll_full=None, jpeg_quality=None, fb_count=None):
    s = shared("settings")
    board = load_board(board_id)
    given = {"framesize": framesize, "fps": fps, "preroll_s": preroll, "preroll_full_s": preroll_full,
             "jpeg_quality": jpeg_quality, "fb_count": fb_count}
    settings = s.validate({k: v for k, v in given.items() if v is not None or k == "preroll_full_s"},
                          driver=False)
    p = s.plan(board["psram_bytes"], settings)
    # What the camera driver cannot take (a frame buffer too small for the
    # quality, a rate faster than the sensor) is a plan that does not work,
    # said with the nearest setting that does.
    p["driver_problem"] = s.driver_problem(settings)
    return board, settings, p


def describe_stretches(p):
    """The pre-roll's effective rate per stretch, when it is thinned."""
    st = p.get("stretches") or []
    if not p["fits"] or not any(x["every"] > 1 for x in st):
        return ""
    return "\npre-roll, oldest first: " + "; ".join(
        "%+d s to %s at %g fps%s" % (x["from_s"], "%+d s" % x["to_s"] if x["to_s"] else "the press", x["fps"],
                                        " (every %d%s frame)" % (x["every"], "nd" if x["every"] == 2 else "th")
                                        if x["every"] > 1 else " (every frame)") for x in st)


def run(args):
    board, _, p = make_plan(args.board, args.framesize, args.fps, args.preroll, args.preroll_full,
                            args.jpeg_quality, args.fb_count)
    st = storage_check(board, p, args.card, args.jpeg_quality)
    st["fps_set"] = p["fps"]
    if args.json:
        print(json.dumps(dict(p, storage=st), indent=2))
    else:
        print(describe(board, p) + describe_stretches(p))
        if p["driver_problem"]:
            print("camera: does NOT work: " + p["driver_problem"])
        print(describe_storage(st))
    return 0 if p["fits"] and st["sustains"] and not p["driver_problem"] else 1
