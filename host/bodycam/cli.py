"""The `bodycam` command: finds its subcommands in bodycam.commands."""
import argparse
import importlib
import pkgutil
import sys

import bodycam
from bodycam import commands


class UserError(Exception):
    """A problem the user can fix: printed as one plain message, exit 2."""


def _command_modules():
    mods = []
    for info in pkgutil.iter_modules(commands.__path__):
        mods.append(importlib.import_module("bodycam.commands." + info.name))
    order = getattr(commands, "ORDER", ())
    return sorted(mods, key=lambda m: (order.index(m.NAME) if m.NAME in order else 99, m.NAME))


def build_parser():
    p = argparse.ArgumentParser(
        prog="bodycam",
        description="Body-worn camera for ESP32-CAM boards: simulate, flash, deploy, "
                    "offload clips and check them. Run `bodycam COMMAND --help` for details.")
    p.add_argument("--version", action="version", version="bodycam " + bodycam.__version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for m in _command_modules():
        sp = sub.add_parser(m.NAME, help=m.HELP, description=getattr(m, "DESCRIPTION", m.HELP))
        m.add_arguments(sp)
        sp.set_defaults(_run=m.run)
    return p


def main(argv=None):
    p = build_parser()
    args = p.parse_args(argv)
    if not getattr(args, "_run", None):
        p.print_help()
        return 2
    try:
        return args._run(args) or 0
    except (UserError, ValueError, OSError) as e:
        print("bodycam %s: error: %s" % (args.command, e), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bodycam %s: interrupted" % args.command, file=sys.stderr)
        return 130
