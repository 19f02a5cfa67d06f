"""Argument pieces several `bodycam` commands share (the port, deploy's
recording settings). Commands import this; it imports no command."""
import os

from bodycam.resources import shared


def add_port_argument(p, required=True):
    """--port, defaulting to $BODYCAM_PORT. required=False leaves the check
    to need_port(), after the command's other checks (deploy, flash)."""
    p.add_argument("--port", default=os.environ.get("BODYCAM_PORT"),
                   required=required and "BODYCAM_PORT" not in os.environ,
                   help="serial port or pyserial URL: /dev/ttyUSB0, COM3, rfc2217://host:port (the virtual "
                        "board), socket://host:port (default: $BODYCAM_PORT)")


def need_port(args):
    from bodycam.cli import UserError
    if not args.port:
        raise UserError("no port: pass --port PORT (or set BODYCAM_PORT)")
    return args.port


def add_settings_arguments(p):
    s = shared("settings")
    g = p.add_argument_group("recording settings (config.json)")
    g.add_argument("--preroll", dest="preroll_s", type=int, help="pre-roll seconds, 0-120 (default %d)" % s.DEFAULTS["preroll_s"])
    g.add_argument("--fps", type=int, help="frames per second (default %d)" % s.DEFAULTS["fps"])
    g.add_argument("--preroll-full", dest="preroll_full_s", type=_seconds_or_off, metavar="S",
                   help="keep every frame of the last S pre-roll seconds, thin older ones when the whole "
                        "pre-roll does not fit (docs/preroll.md); 'off' for no thinning (default off)")
    g.add_argument("--framesize", choices=list(s.FRAMESIZES), help="camera frame size (default %s)" % s.DEFAULTS["framesize"])
    g.add_argument("--hold-ms", dest="hold_ms", type=int, help="button hold that stops a recording, ms (default %d)" % s.DEFAULTS["hold_ms"])
    g.add_argument("--jpeg-quality", dest="jpeg_quality", type=int, help="JPEG quality 10-100, higher is better (default %d)" % s.DEFAULTS["jpeg_quality"])
    g.add_argument("--fb-count", dest="fb_count", type=int, help="camera frame buffers 1-3 (default %d)" % s.DEFAULTS["fb_count"])


def _seconds_or_off(v):
    if v == "off":
        return v
    try:
        return int(v)
    except ValueError:
        import argparse
        raise argparse.ArgumentTypeError("expected whole seconds or 'off', not %r" % v)


def add_deploy_arguments(p):
    p.add_argument("--source", action="store_true",
                   help="upload the .py sources instead of compiling them to .mpy")
    p.add_argument("--reboot-timeout", type=float, default=60,
                   help="seconds to wait for the firmware's boot line (default: %(default)s)")
    add_settings_arguments(p)


def settings_from_args(args):
    s = shared("settings")
    return {k: getattr(args, k, None) for k in s.DEFAULTS}
