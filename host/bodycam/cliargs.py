"""Argument pieces several `bodycam` commands share (the port, deploy's
recording settings). Commands import this; it imports no command."""
import os

from bodycam.resources import shared


def add_port_argument(p):
    """--port, defaulting to $BODYCAM_PORT, else found by need_port() (the
    one USB serial adapter plugged in), after the command's other checks."""
    p.add_argument("--port", default=os.environ.get("BODYCAM_PORT"),
                   help="serial port or pyserial URL: /dev/ttyUSB0, COM3, rfc2217://host:port (the virtual "
                        "board), socket://host:port (default: $BODYCAM_PORT, else the only USB serial "
                        "adapter plugged in)")


def need_port(args):
    """The port to use: --port/$BODYCAM_PORT, else the one adapter plugged in
    (named), a choice among several on a terminal, or an error saying what
    to check (cable, driver, `bodycam sim`)."""
    from bodycam.device import portfind
    from bodycam.cli import UserError
    try:
        args.port = portfind.choose_port(args.port, ask=portfind.terminal_ask())
    except portfind.NoPortError as e:
        raise UserError(str(e))
    return args.port


def _int_or_word(word, value, example):
    # argparse type: a whole number, or the one word that means "choose".
    if value == word:
        return value
    try:
        return int(value)
    except ValueError:
        import argparse
        raise argparse.ArgumentTypeError("expected a whole number (e.g. %s) or '%s', not %r" % (example, word, value))


def baud_argument(value):
    """--baud N or auto (argparse type): auto is the fastest rate the port's
    adapter is known to carry (portfind.auto_baud), chosen once the port is."""
    return _int_or_word("auto", value, "921600")


def resolve_baud(baud, port, say=print):
    """--baud auto -> a number for this port's adapter, or None (stay at the
    boot speed) when the adapter is not known."""
    if baud != "auto":
        return baud
    from bodycam.device import portfind
    rate = portfind.auto_baud(port)
    say("--baud auto: %s" % ("%d baud for this adapter" % rate if rate else
                             "adapter not known, staying at the boot speed"))
    return rate


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
    g.add_argument("--fb-count", dest="fb_count", type=int, help="camera frame buffers 1-2 (cnadler86's driver keeps at most 2; default %d)" % s.DEFAULTS["fb_count"])


def _seconds_or_off(v):
    return _int_or_word("off", v, "10")


def add_deploy_arguments(p):
    p.add_argument("--source", action="store_true",
                   help="upload the .py sources instead of compiling them to .mpy")
    p.add_argument("--reboot-timeout", type=float, default=60,
                   help="seconds to wait for the firmware's boot line (default: %(default)s)")
    add_settings_arguments(p)


def settings_from_args(args):
    s = shared("settings")
    return {k: getattr(args, k, None) for k in s.DEFAULTS}


def add_key_arguments(p):
    """--key FILE | --no-key: which keys check the signatures (verify, report)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--key", metavar="FILE",
                   help="key file: a keyring, a device key.json, or 64 hex digits (default: the keyring)")
    g.add_argument("--no-key", action="store_true",
                   help="check hashes and chains only; signatures are not checked (and the verdict says so)")


def load_keys(args):
    """The verify.KeySet that --key / --no-key ask for (default: the keyring)."""
    import json
    from bodycam.evidence import keys, verify
    if args.no_key:
        return verify.KeySet(checking=False)
    if args.key:
        by_id = keys.load_key_file(args.key)
        devices = ()
        try:
            with open(args.key) as f:
                d = json.load(f)
            if isinstance(d, dict) and isinstance(d.get("devices"), dict):
                devices = d["devices"].keys()
            elif isinstance(d, dict) and d.get("device"):
                devices = [d["device"]]
        except ValueError:
            pass  # a bare hex key names no device
        return verify.KeySet(by_id, devices)
    return verify.KeySet.from_keyring(keys.load_keyring(keys.keyring_path()))
