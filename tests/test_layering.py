"""host/bodycam's layers: commands/ parse arguments and call library code;
no module imports a command module (cli.py only finds them by name), and
commands do not import each other (shared argument pieces sit in
bodycam.cliargs). Test-only machinery is not in the installed package."""
import ast
import importlib.util
import os

import bodycam

PKG = os.path.dirname(os.path.abspath(bodycam.__file__))


def modules():
    """(dotted name, path) of every module in the bodycam package."""
    for d, _, files in os.walk(PKG):
        for f in sorted(files):
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(d, f), PKG)[:-3].replace(os.sep, ".")
                name = "bodycam" if rel == "__init__" else "bodycam." + rel.replace(".__init__", "")
                yield name, os.path.join(d, f)


def imported(name, path):
    """Every module name a file imports (relative imports resolved;
    `from X import Y` counts as importing X and X.Y)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            out.add(base)
            out.update(base + "." + a.name for a in node.names)
    return out


def command_modules():
    d = os.path.join(PKG, "commands")
    return {"bodycam.commands." + f[:-3] for f in os.listdir(d) if f.endswith(".py") and f != "__init__.py"}


def test_the_scan_sees_the_commands_and_what_they_import():
    cmds = command_modules()
    assert {"bodycam.commands.flash", "bodycam.commands.deploy", "bodycam.commands.pull"} <= cmds
    got = dict(modules())
    assert "bodycam.cliargs" in imported("bodycam.commands.flash", got["bodycam.commands.flash"])


def test_nothing_imports_a_command_module():
    cmds = command_modules()
    bad = []
    for name, path in modules():
        for imp in imported(name, path) & cmds:
            if imp != name:
                bad.append("%s imports %s" % (name, imp))
    assert not bad, "commands are the top layer; move shared code below them:\n" + "\n".join(bad)


def test_only_cli_reaches_the_commands_package():
    users = [name for name, path in modules()
             if name not in ("bodycam.cli", "bodycam.commands") and not name.startswith("bodycam.commands.")
             and "bodycam.commands" in imported(name, path)]
    assert not users


def test_the_offload_rig_is_not_in_the_installed_package():
    assert importlib.util.find_spec("bodycam.offload.rig") is None
    assert not [p for _, p in modules() if "rig" in os.path.basename(p)]
    # ...but tests and bench still have it.
    from rig.offload import DEVICE_SCRIPT, DockRig  # noqa: F401
    assert os.path.exists(DEVICE_SCRIPT)


def test_device_modules_have_no_import_cycle():
    # firmware/ and the virtual board's device side are flat MicroPython
    # modules; a cycle (as hal_virtual <-> vboard once was) makes import
    # order matter on the board.
    from bodycam.resources import board_side_dir, firmware_dir
    dirs = [firmware_dir(), board_side_dir()]
    mods = {}
    for d in dirs:
        for f in os.listdir(d):
            if f.endswith(".py"):
                mods[f[:-3]] = os.path.join(d, f)
    graph = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(open(path).read())):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                deps.add(node.module)
        graph[name] = sorted(d for d in deps if d in mods and d != name)

    def cycle_from(start):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    return path + [start]
                if nxt not in path:
                    stack.append((nxt, path + [nxt]))
        return None

    cycles = [c for c in (cycle_from(m) for m in sorted(graph)) if c]
    assert not cycles, "import cycles: %s" % ["->".join(c) for c in cycles]
