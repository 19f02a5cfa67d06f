"""bodycam flash: write camera-enabled MicroPython to a board, then deploy."""
import contextlib
import json
import sys

from bodycam.boards import DEFAULT_BOARD, board_ids, load_board
from bodycam.cliargs import add_deploy_arguments, add_port_argument, need_port, settings_from_args

NAME = "flash"
HELP = "write camera-enabled MicroPython to a board with esptool, then deploy bodycam"
DESCRIPTION = (
    "Check the firmware image (--image FILE, or the build named for the board in images.json, "
    "downloaded once into the cache), connect with esptool, check the chip matches the board "
    "profile, erase the flash, write the image at the profile's offset (0x1000 on ESP32, 0x0 on "
    "ESP32-S3), verify it and reset into it; then run `bodycam deploy` unless --no-deploy.")


def add_arguments(p):
    add_port_argument(p)
    p.add_argument("--board", default=DEFAULT_BOARD, choices=board_ids(),
                   help="board profile (default: %(default)s)")
    p.add_argument("--image", help="firmware file (.bin, or a release .zip holding firmware.bin)")
    p.add_argument("--baud", type=int, default=460800, help="flashing baud rate (default: %(default)s)")
    p.add_argument("--offline", action="store_true", help="never download: use --image or the cache")
    p.add_argument("--no-erase", dest="erase", action="store_false",
                   help="keep the rest of the flash (MicroPython's filesystem); only the image's region is rewritten")
    stub = p.add_mutually_exclusive_group()
    stub.add_argument("--no-stub", dest="stub", action="store_const", const=False,
                      help="use the chip's ROM loader only (selected automatically for the virtual board)")
    stub.add_argument("--stub", dest="stub", action="store_const", const=True,
                      help="always upload esptool's flasher stub")
    p.add_argument("--before", default="default-reset",
                   choices=["default-reset", "usb-reset", "no-reset", "no-reset-no-sync"],
                   help="how esptool enters download mode (default: %(default)s)")
    p.add_argument("--connect-attempts", type=int, default=7, help="esptool connection attempts (default: %(default)s)")
    p.add_argument("--no-deploy", dest="deploy", action="store_false", help="only flash MicroPython")
    add_deploy_arguments(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args):
    from bodycam.device import fwimage
    from bodycam.device.flashing import flash

    port = need_port(args)
    board = load_board(args.board)
    say = (lambda *a: None) if args.json else print
    if args.deploy and args.erase:
        # A fresh board: refuse settings that do not fit before erasing anything.
        from bodycam.device.deploying import choose_settings
        choose_settings(board["id"], settings_from_args(args), None)
    data, source, why = fwimage.resolve(board, args.image, allow_download=not args.offline, log=say)
    say("image %s: %s" % (source, why))
    # esptool reports progress on stdout; with --json, stdout is the report only.
    with contextlib.redirect_stdout(sys.stderr if args.json else sys.stdout):
        rep = flash(port, board, data, baud=args.baud, stub=args.stub, erase=args.erase, before=args.before,
                    connect_attempts=args.connect_attempts, log=say)
    rep["image"] = source
    say("flashed %d bytes at 0x%x on %s (%s), MD5 verified" % (rep["bytes"], rep["offset"], port, rep["description"]))
    out = {"flash": rep}
    if args.deploy:
        from bodycam.device.deploying import deploy, describe
        r = deploy(port, board["id"], settings_from_args(args), source=args.source,
                   reboot_timeout=args.reboot_timeout, log=say, progress=not args.json)
        out["deploy"] = r
        say(describe(r))
    if args.json:
        print(json.dumps(out, indent=2, default=str))
    return 0
