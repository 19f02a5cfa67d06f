"""bodycam deploy: put the bodycam firmware, its config and the board
profile on a board that runs MicroPython."""
import json
import os

from bodycam.boards import board_ids
from bodycam.resources import shared

NAME = "deploy"
HELP = "compile and upload the firmware, config and clock to a board running MicroPython"
DESCRIPTION = (
    "Compile firmware/ with mpy-cross for the board's bytecode version, upload only the files that "
    "changed (compared by SHA-256), write config.json, give the board a device key the first time, "
    "soft-reboot it, check the firmware came up with the deployed version, board and settings, and "
    "set its clock to the host's UTC through the firmware's dock. Settings not given are kept from "
    "the board's current config.json, else the defaults; settings whose pre-roll does not fit the "
    "board's memory are refused (see `bodycam plan`).")


def add_port_argument(p):
    p.add_argument("--port", default=os.environ.get("BODYCAM_PORT"),
                   help="serial port or pyserial URL (rfc2217://host:port for the virtual board); "
                        "default: $BODYCAM_PORT")


def add_settings_arguments(p):
    s = shared("settings")
    g = p.add_argument_group("recording settings (config.json)")
    g.add_argument("--preroll", dest="preroll_s", type=int, help="pre-roll seconds, 0-120 (default %d)" % s.DEFAULTS["preroll_s"])
    g.add_argument("--fps", type=int, help="frames per second (default %d)" % s.DEFAULTS["fps"])
    g.add_argument("--framesize", choices=list(s.FRAMESIZES), help="camera frame size (default %s)" % s.DEFAULTS["framesize"])
    g.add_argument("--hold-ms", dest="hold_ms", type=int, help="button hold that stops a recording, ms (default %d)" % s.DEFAULTS["hold_ms"])
    g.add_argument("--jpeg-quality", dest="jpeg_quality", type=int, help="JPEG quality 10-100, higher is better (default %d)" % s.DEFAULTS["jpeg_quality"])
    g.add_argument("--fb-count", dest="fb_count", type=int, help="camera frame buffers 1-3 (default %d)" % s.DEFAULTS["fb_count"])


def add_deploy_arguments(p):
    p.add_argument("--source", action="store_true",
                   help="upload the .py sources instead of compiling them to .mpy")
    p.add_argument("--reboot-timeout", type=float, default=60,
                   help="seconds to wait for the firmware's boot line (default: %(default)s)")
    add_settings_arguments(p)


def add_arguments(p):
    add_port_argument(p)
    p.add_argument("--board", choices=board_ids(),
                   help="board profile (default: the board's current config, else ai-thinker-esp32-cam)")
    add_deploy_arguments(p)
    p.add_argument("--test-hooks", action="store_true",
                   help="also deploy the test hooks: the dock command hardware-in-loop tests press the button "
                        "with (each press is audit-logged as a test trigger); a deploy without this flag "
                        "removes them")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def settings_from_args(args):
    s = shared("settings")
    return {k: getattr(args, k, None) for k in s.DEFAULTS}


def need_port(args):
    from bodycam.cli import UserError
    if not args.port:
        raise UserError("no port: pass --port PORT (or set BODYCAM_PORT)")
    return args.port


def run_deploy(args, board_id, quiet=False):
    from bodycam.deploying import deploy
    log = (lambda *a: None) if quiet else print
    r = deploy(need_port(args), board_id, settings_from_args(args), source=args.source,
               reboot_timeout=args.reboot_timeout, log=log, test_hooks=getattr(args, "test_hooks", False))
    return r


def describe(r):
    s = r["settings"]
    lines = [
        "deployed to %s: %d file(s) sent (%d bytes on the wire), %d unchanged%s" % (
            r["board"], len(r["sent"]), r["bytes_sent"], len(r["unchanged"]),
            ", removed " + ", ".join(r["removed"]) if r["removed"] else ""),
        "firmware %s up: %s at %d fps, %d s pre-roll (ring %.2f MiB), %s" % (
            r["boot"].get("firmware"), s["framesize"], s["fps"], s["preroll_s"],
            r["boot"].get("ring_bytes", 0) / 1048576.0, "compiled .mpy" if r["compiled"] else "sources"),
        "clock: set to the host's UTC (%s; %+.3f s off when read back)%s" % (
            r["clock"]["utc"], r["clock"]["offset_s"], "" if r["clock"]["was_set"] else ", was unset"),
    ]
    return "\n".join(lines)


def run(args):
    r = run_deploy(args, args.board, quiet=args.json)
    print(json.dumps(r, indent=2, default=str) if args.json else describe(r))
    return 0
