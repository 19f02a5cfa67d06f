"""bodycam check: did a clip keep its pre-roll and frame rate?"""
import json

from bodycam import timing

NAME = "check"
HELP = "check a clip's timing: pre-roll kept, frame rate, gaps, drops, latency"
DESCRIPTION = (
    "Read a clip's AVI and sidecar and report the pre-roll kept before the press, the frame rate "
    "(mean, and the slowest 1 s window), frame-interval jitter, the largest gap, dropped frames, the delay "
    "from the press to the first live frame, and whether the AVI (header, index, frames) agrees with the "
    "sidecar. Exit status 0 when the clip meets its targets, 1 when it misses one or the files are damaged "
    "(each reason printed), 2 for usage errors. A damaged or truncated AVI is diagnosed, with the frames "
    "that can still be read.")


def add_arguments(p):
    p.add_argument("clip", metavar="CLIP", help="the clip: NAME.AVI, NAME.JSON or NAME")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw the frame intervals and frame sizes over time into a PNG "
                        "(needs matplotlib: pip install 'bodycam[plot]')")
    p.add_argument("--preroll", type=float, metavar="S",
                   help="pre-roll required before the press, in seconds (default: the clip's setting)")
    p.add_argument("--fps", type=int, metavar="N",
                   help="frame rate the clip must keep (default: the clip's setting). Fails when the mean is "
                        "under 95%% of N or any 1 s window holds fewer than N-2 frames (one frame of slack for capture "
                        "jitter, one for a lost frame)")
    p.add_argument("--max-gap", type=int, metavar="MS",
                   help="longest allowed time between frames (default: 3 frame intervals at the target rate)")
    p.add_argument("--max-delay", type=int, metavar="MS",
                   help="longest allowed delay from the press to the first live frame (default: not checked)")


def storage_note(rep):
    """For a clip from a board that keeps clips in its internal flash: the
    frame rate that flash sustains at the clip's settings, and whether the
    rate set was beyond it (bodycam.sim.costs.FLASH_FPS, measured):
    (note, fps), or (None, None) for other boards."""
    side = None
    if (rep.get("files") or {}).get("sidecar"):
        side, _ = timing.load_sidecar(rep["files"]["sidecar"])
    if not side or not side.get("board"):
        return None, None
    from bodycam.boards import load_board
    from bodycam.sim.costs import FLASH_FPS, FLASH_FPS_QUALITY, flash_sustained_fps
    try:
        board = load_board(side["board"])
    except ValueError:
        return None, None
    st = side.get("settings") or {}
    fs = st.get("framesize")
    if board["storage"]["kind"] != "flash" or fs not in FLASH_FPS:
        return None, None
    fps = flash_sustained_fps(fs, st.get("jpeg_quality", FLASH_FPS_QUALITY))
    s = ("%s keeps clips in its internal flash, which sustains ~%d fps at %s (each 4 KB written stops the "
         "chip ~56 ms; bodycam plan --board %s)" % (board["name"], fps, fs, board["id"]))
    if st.get("fps") and st["fps"] > fps:
        s += ": the %d fps set is beyond it, so frames were dropped" % st["fps"]
    return s, fps


def run(args):
    for name in ("preroll", "fps", "max_gap", "max_delay"):
        v = getattr(args, name)
        if v is not None and v < 0:
            raise ValueError("--%s must not be negative" % name.replace("_", "-"))
    if args.fps == 0:
        raise ValueError("--fps must be at least 1")
    if args.plot:
        from bodycam import timing_plot
        timing_plot.require()  # say what to install before doing any work
    rep = timing.check_clip(args.clip, preroll_s=args.preroll, fps=args.fps, max_gap_ms=args.max_gap,
                            max_delay_ms=args.max_delay)
    note, fps = storage_note(rep)
    if note:
        rep.setdefault("notes", []).append(note)
        rep["storage_sustained_fps"] = fps
    if args.plot:
        fm = []
        if rep["files"]["sidecar"]:
            side, _ = timing.load_sidecar(rep["files"]["sidecar"])
            fm = side["frame_ms"] if side else []
        sizes, sizes_from = timing_plot.frame_sizes(rep["files"]["avi"])
        timing_plot.plot(rep, fm, args.plot, sizes, sizes_from)
        rep["plot"] = args.plot
    if args.json:
        print(json.dumps(rep, indent=2, sort_keys=True))
    else:
        print(timing.describe(rep))
        if args.plot:
            print("plot: " + args.plot)
    return 0 if rep["ok"] else 1
