"""bodycam demo: the whole product on a virtual board, in seconds."""
import json
import os
import shutil
import sys
import tempfile
import time

from bodycam.boards import DEFAULT_BOARD
from bodycam.evidence.hashing import sha256_file

NAME = "demo"
HELP = "record a clip with pre-roll on a virtual ESP32-CAM, copy it here and check it (no hardware needed)"
DESCRIPTION = (
    "Start a virtual board running the bodycam firmware, let it buffer past the pre-roll, press record, "
    "record a few seconds, hold the button to stop, copy the clip from the board's SD card image to a "
    "local folder and check it: frame count in the AVI index against the sidecar, SHA-256, and that the "
    "clip starts at least the pre-roll before the press. Board time runs --speed times faster than real time. "
    "The virtual board gets a device key, kept in your keyring (labelled as the demo's), so its clips and "
    "audit log are signed and `bodycam verify` checks them.")

HOLD_MARGIN_MS = 500  # hold this much longer than the firmware's hold-to-stop time


def add_arguments(p):
    p.add_argument("--board", default=DEFAULT_BOARD, help="board profile id (default: %(default)s)")
    p.add_argument("--speed", type=float, default=10,
                   help="board time runs N times faster than real time (default: %(default)s)")
    p.add_argument("--record", type=float, default=5, metavar="SECONDS",
                   help="seconds (board time) to record after the press (default: %(default)s)")
    p.add_argument("--out", default="bodycam-clips", metavar="DIR",
                   help="folder to copy the clip to (default: ./%(default)s)")
    p.add_argument("--baud", type=int, default=921600,
                   help="serial speed for the offload (default: %(default)s; the board boots at 115200)")
    p.add_argument("--from-sd", action="store_true",
                   help="copy the clip straight from the SD card image instead of pulling it over serial")
    p.add_argument("--state", metavar="DIR", help="keep the virtual board's storage here (default: a fresh "
                                                  "temporary board, removed afterwards)")


def run(args):
    from bodycam.resources import shared
    from bodycam.sim import SimError

    if not 1 <= args.record <= 600:
        raise SimError("--record must be 1 to 600 seconds, not %g" % args.record)
    t_start = time.monotonic()
    s = shared("settings")

    def say(msg):
        print(msg, flush=True)

    # The board's storage is made here, not by VirtualBoard, so its device
    # key is on its flash before the firmware boots and reads it.
    tmp_state = None if args.state else tempfile.mkdtemp(prefix="bodycam-demo-")
    try:
        key_note = give_key(args.state or tmp_state, args.board)
        return _record(args, args.state or tmp_state, key_note, s, say, t_start)
    finally:
        if tmp_state:
            shutil.rmtree(tmp_state, ignore_errors=True)


def _record(args, state_dir, key_note, s, say, t_start):
    from bodycam.sim import VirtualBoard

    with VirtualBoard(board=args.board, state_dir=state_dir, speed=args.speed) as vb:
        st = s.validate({k: v for k, v in (vb.store.read_config() or {}).items() if k != "board"})
        preroll_s, hold_ms = st["preroll_s"], st["hold_ms"]
        say("Virtual %s: bodycam firmware on MicroPython (unix port, %d MiB of PSRAM as its heap), "
            "board time %gx real time." % (vb.profile["name"], vb.profile["psram_bytes"] >> 20, args.speed))
        say("  serial port %s (esptool and mpremote can open it while this runs)" % vb.port_url)
        say("  " + key_note)
        vb.wait_recording_ready(timeout=60)
        fs, fps = vb.sensor.config["framesize"], st["fps"]
        wait_ms = (preroll_s + 3) * 1000 - (vb.board_ms() - vb.sensor.first_ms)
        say("1. Buffering: camera at %s, %d fps; letting the %d s pre-roll fill (%.0f s of board time)..."
            % (fs, fps, preroll_s, max(0, wait_ms) / 1000.0))
        vb.sleep_board(wait_ms)
        known = vb.list_clips()
        say("2. Press: recording. The clip keeps the %d s before this moment." % preroll_s)
        vb.tap()
        vb.sleep_board(int(args.record * 1000))
        say("3. Hold %.1f s: stop. Finishing the clip..." % ((hold_ms + HOLD_MARGIN_MS) / 1000.0))
        vb.hold(hold_ms + HOLD_MARGIN_MS)
        name = vb.wait_for_clip(known, timeout=120)
        out_dir = _free_dir(args.out, name)
        if args.from_sd:
            avi, side = vb.copy_clip(name, out_dir)
            say("4. Copied %s from the SD card image to %s" % (name, out_dir))
        else:
            avi, side = _pull(vb, name, out_dir, args.baud, say)

    ok, lines = check(avi, side, preroll_s)
    for line in lines:
        say(line)
    say("Done in %.1f s." % (time.monotonic() - t_start))
    if not args.from_sd:  # only a pull brings the audit log that verify checks too
        say("Verify it (hashes, signatures, chain, audit log): bodycam verify %s" % out_dir)
    say("Inspect its timing: bodycam check %s" % avi)
    if not args.from_sd:
        say("Review it as a supervisor would (one page, every camera in the folder): bodycam report %s"
            % args.out)
    return 0 if ok else 1


def give_key(state_dir, board_id):
    """Make sure the virtual board in state_dir has a device key on its
    flash (key.json, where firmware/evidence.py reads it) that the keyring
    holds: the demo's own key (bodycam.evidence.keys.demo_key). A board that already
    has a key keeps it, as `bodycam deploy` does. Returns a line to show."""
    from bodycam.evidence import keys
    from bodycam.boards import load_board
    from bodycam.sim import SimError
    from bodycam.sim.storage import StateDir

    store = StateDir(state_dir, load_board(board_id))
    try:
        store.ensure()
        try:
            have = json.loads(store.flash.read(keys.DEVICE_KEY_FILE))
        except (OSError, SimError, ValueError):
            have = None
        device_id = have.get("device") if isinstance(have, dict) else None
        if device_id:
            if keys.device_key(device_id) is None:
                return ("warning: this board's device key (%s) is not in your keyring %s; `bodycam verify` "
                        "will need --key" % (device_id, keys.keyring_path()))
            return "device key %s (in your keyring %s): clips and audit log are signed" % (
                device_id, keys.keyring_path())
        device_id, key, new = keys.demo_key(board_id)
        store.flash.write(keys.DEVICE_KEY_FILE, keys.device_key_json(device_id, key))
    finally:
        store.close()
    return "device key %s %s your keyring %s, labelled as the demo's: clips and audit log are signed" % (
        device_id, "added to" if new else "from", keys.keyring_path())


def _pull(vb, name, out_dir, baud, say):
    # Off the board the way footage leaves a real one: `bodycam pull` over
    # the serial port, verified by SHA-256 (with the audit log).
    from bodycam.offload import pull_all
    from bodycam.sim import SimError

    say("4. Pulling %s over the serial port at %d baud (bodycam pull)..." % (name, baud))
    t0 = time.monotonic()
    summary = pull_all(vb.port_url, out_dir, baud=baud, progress=sys.stderr.isatty(), say=lambda m: None)
    if summary.get("errors"):
        raise SimError("the pull failed: %s" % "; ".join(str(e) for e in summary["errors"]))
    avi, side = os.path.join(out_dir, name + ".AVI"), os.path.join(out_dir, name + ".JSON")
    n = os.path.getsize(avi) + os.path.getsize(side)
    dt = time.monotonic() - t0
    say("   %d bytes in %.1f s (%.0f%% of the line rate), SHA-256 verified, into %s"
        % (n, dt, 100.0 * n / dt / (baud / 10.0), out_dir))
    return avi, side


def _free_dir(out, name):
    # Never overwrite an earlier demo's clip (a fresh board numbers from BC000001 again).
    if not os.path.exists(os.path.join(out, name + ".AVI")):
        return out
    return os.path.join(out, time.strftime("demo-%Y%m%d-%H%M%S"))


def check(avi, side, preroll_s):
    """(ok, report lines) for a clip copied off the board."""
    from bodycam.timing import check_clip

    with open(side) as f:
        meta = json.load(f)
    rep = check_clip(avi, preroll_s=preroll_s)
    ag = rep.get("avi_agreement") or {}
    n = meta["frames"]
    checks = []
    idx = ag.get("frames_index")
    checks.append((idx == n, "AVI index holds %s frames, the sidecar %d" % (idx, n)))
    digest = sha256_file(avi)
    checks.append((digest == meta["avi_sha256"], "SHA-256 of the AVI %s the sidecar's"
                   % ("matches" if digest == meta["avi_sha256"] else "does NOT match")))
    pre_ms = -meta["frame_ms"][0] if meta["frame_ms"] and meta["frame_ms"][0] < 0 else 0
    checks.append((pre_ms >= preroll_s * 1000, "first frame %.2f s before the press (%d s wanted)"
                   % (pre_ms / 1000.0, preroll_s)))
    decoded = _decode(avi)
    if decoded is not None:
        checks.append((decoded == n, "an independent decoder (FFmpeg via PyAV) reads %d frames" % decoded))
    ok = all(c for c, _ in checks)
    span = rep.get("span_ms") or 0
    lines = [
        "",
        "Clip %s (+ %s)" % (avi, os.path.basename(side)),
        "  pre-roll kept:  %.1f s before the press (%d frames)" % (pre_ms / 1000.0, meta["preroll_frames"]),
        "  frames:         %d at %dx%d, %.2f fps mean, %.1f s long" % (
            n, meta["width"], meta["height"], rep.get("fps_mean") or 0, span / 1000.0),
        "  checks:         %s" % ("all passed" if ok else "FAILED"),
    ]
    lines += ["    %s %s" % ("ok  " if c else "FAIL", what) for c, what in checks]
    other = [p for p in rep.get("problems", []) if not p.startswith("pre-roll")]
    if other:
        lines.append("  timing notes (bodycam check; a busy host slows the virtual board, try a lower --speed):")
        lines += ["    " + p for p in other]
    return ok, lines


def _decode(path):
    try:
        import av
    except ImportError:
        return None
    with av.open(path) as c:
        return sum(1 for _ in c.decode(video=0))
