"""Serial offload speed on the virtual board's paced UART: the dock
(`bodycam pull`'s protocol) against mpremote's file copy, same link, same
clip, same run, at 115200 and 921600 baud. Prints JSON.

    python bench/offload.py [--clip-mb 2] [--bauds 115200,921600] [--mpremote-seconds 30] [--link sim|rig]
    python bench/offload.py --link rig --noise 1e-3 [--bauds 115200,921600,2000000] [--no-mpremote]

--noise RATE damages that share of the bytes both ways (in equal parts
flipped, dropped and junk inserted: tests/rig/offload.py Faults.noise)
during each dock pull, and adds a clean pull of the same clip at each baud
to compare. It needs --link rig: the virtual board's line injects no faults.
Each noisy run reports line_ratio (file bytes/s over baud/10), the line's
efficiency (file bytes over bytes the line carried to the host, resends
included), and how the frame size adapted (shrinks, grows, smallest size).

Bauds the MicroPython unix port's termios does not know (above 1152000,
e.g. 2000000) cannot be switched to by the dock on the rig or the virtual
board; on the rig such a run boots the board at that speed instead (the
rig's pty is set from the host side). The virtual board cannot run them
(its UART speed is the unix port's termios speed): --link sim skips them
with a note.

--link rig runs the same measurements on tests/rig/offload.py instead: the
same firmware behind a UART paced exactly at baud/10 (the virtual board's
UART currently carries a little less than that; the bench reports the
ceiling it measured either way).

1. A virtual board (bodycam.sim, board time sped up) records a clip until
   it is at least --clip-mb MB.
2. The board restarts at speed 1 (the capture loop and the dock's tick at
   their real rates; the UART is always real time) and the dock streams
   the clip at each baud: payload bytes/s, and that over the line rate
   (baud/10 bytes/s for 8N1). The dock's output goes through the virtual
   board's model of the ESP32 REPL UART (128-byte TX FIFO, a 10 ms tick
   wait when a write does not fit: vboard.ReplUart); uart_tick_waits counts
   the dock's writes that waited. The board's capture rate while streaming
   comes from its own frame counter.
3. The link's own ceiling: the board writes a block of bytes to its UART
   in one call and we time them (a simulated UART may carry less than the
   nominal baud/10). This REPL write, like mpremote's below, goes straight
   to the pty: it is not FIFO-modelled.
4. mpremote reads the same file the way `mpremote cp` does
   (SerialTransport.fs_readfile: raw REPL, 256-byte chunks as Python
   reprs), after interrupting the firmware, at the same bauds (mpremote
   cannot change the speed, so the board's UART boots at that baud).
   Its rate is constant per chunk, so by default it is timed over its first
   --mpremote-seconds (the whole clip would take ~10 min at 115200);
   --mpremote-seconds 0 copies the whole clip.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "host"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))  # rig.offload: test-only, not installed

from bodycam.offload.client import DockClient, open_port  # noqa: E402
from bodycam.sim import VirtualBoard  # noqa: E402


def log(msg):
    print("bench/offload: " + msg, file=sys.stderr, flush=True)


def record_clip(state, mb, speed):
    """Record on a fast virtual board until the clip has >= mb MB."""
    with VirtualBoard(state_dir=state, speed=speed) as vb:
        vb.wait_recording_ready(timeout=60)
        vb.tap()
        t0 = time.monotonic()
        while True:
            vb.sleep_board(2000)
            sizes = {n: s for n, s, d in vb.sd_listdir("clips") if n.endswith(".AVI")}
            if sizes and max(sizes.values()) >= mb * 1e6:
                break
            if time.monotonic() - t0 > 600:
                raise SystemExit("the virtual board did not record %g MB in 10 min" % mb)
        vb.hold(3500)
        name = vb.wait_for_clip((), timeout=300)
        return name + ".AVI"


def dock_pull(url, name, baud, port=None, rig=None, noise=0.0):
    port = port or open_port(url)
    try:
        c = DockClient(port, log=log)
        c.connect()
        stepped = baud != c.baud
        if stepped and not c.set_baud(baud):
            raise SystemExit("the dock did not switch to %d baud" % baud)
        info0 = c.info()
        entry = next(e for e in c.list() if e["name"] == name)
        h = hashlib.sha256()
        got = [0]

        def sink(b):
            h.update(b)
            got[0] += len(b)

        line0 = rig.down.count if rig is not None else None
        if noise:
            rig.faults.noise(noise)
        t0 = time.monotonic()
        try:
            c.read_file(name, entry["size"], 0, sink)
        finally:
            if noise:
                rig.faults.noise(0)
        dt = time.monotonic() - t0
        line_bytes = rig.down.count - line0 if rig is not None else None
        info1 = c.info()
        if stepped:
            c.set_baud(info0["boot_baud"])
    finally:
        port.close()
    if h.hexdigest() != entry["sha256"] or got[0] != entry["size"]:
        raise SystemExit("dock pull at %d baud was not bit-exact" % baud)
    board_s = (info1["clock"]["ticks_ms"] - info0["clock"]["ticks_ms"]) / 1000.0
    fps = (info1["frames_captured"] - info0["frames_captured"]) / board_s if board_s > 0 else None
    rate = got[0] / dt
    return {"bytes": got[0], "seconds": round(dt, 3), "bytes_per_s": round(rate),
            "line_ratio": round(rate / (baud / 10.0), 4), "sha256_ok": True,
            "resends": c.stats["resends"], "board_fps_while_streaming": round(fps, 2) if fps else None,
            "board_fps_setting": info0["tick_ms"] and round(1000.0 / info0["tick_ms"], 2),
            # writes that waited a FreeRTOS tick for TX FIFO room (the virtual
            # board's model of uart_stdout_tx_strn; None where not modelled)
            "uart_tick_waits": _delta(info0.get("tx_tick_waits"), info1.get("tx_tick_waits")),
            # file bytes over all bytes the line carried to the host (rig only)
            "line_efficiency": round(got[0] / line_bytes, 4) if line_bytes else None,
            "frame_size": {"final": c.stats["chunk"], "smallest": c.stats["chunk_min"],
                           "shrinks": c.stats["shrinks"], "grows": c.stats["grows"]}}


def _delta(a, b):
    return None if a is None or b is None else b - a


class _Enough(Exception):
    pass


def mpremote_read(url, path, baud, max_seconds, want_prefix):
    """Read the file like `mpremote cp :path .` does. Returns its rate."""
    from mpremote.transport_serial import SerialTransport

    t = SerialTransport(url, baudrate=baud)
    try:
        t.enter_raw_repl(soft_reset=False)  # Ctrl-C stops the firmware, as mpremote does
        size = t.fs_stat(path).st_size
        state = {"n": 0, "t1": None}
        t0 = time.monotonic()

        def progress(n, total):
            state["n"] = n
            state["t1"] = time.monotonic()
            if max_seconds and state["t1"] - t0 >= max_seconds:
                raise _Enough()

        data = None
        try:
            data = t.fs_readfile(path, progress_callback=progress)
        except _Enough:
            pass
        n = state["n"]
        dt = (state["t1"] or time.monotonic()) - t0
        if data is not None and bytes(data) != want_prefix[:len(data)]:
            raise SystemExit("mpremote's copy differs from the clip")
        rate = n / dt
        out = {"bytes": n, "seconds": round(dt, 3), "bytes_per_s": round(rate),
               "line_ratio": round(rate / (baud / 10.0), 4), "whole_file": n == size}
        return out, raw_line(t, baud)
    finally:
        try:
            t.close()
        except Exception:
            pass


def raw_line(t, baud, seconds=4):
    """What the link itself carries: the board writes a block of bytes to
    its UART in one call (from the REPL) and we time their arrival. The
    ceiling for any protocol on this link."""
    n = int(baud / 10 * seconds)
    t.exec_raw_no_follow("import sys\nsys.stdout.buffer.write(bytes(%d).replace(bytes(1), b'Z'))" % n)
    got, first, t0 = 0, 0, None
    end = time.monotonic() + seconds * 3 + 10
    while got < n and time.monotonic() < end:
        chunk = t.serial.read(max(1, t.serial.in_waiting))
        k = chunk.count(b"Z")
        if k and t0 is None:
            t0, first = time.monotonic(), k  # time what arrives after the first read
        got += k
    dt = time.monotonic() - t0
    return round((got - first) / dt / (baud / 10.0), 4)


UNIX_SPEEDS = (9600, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000)  # firmware/dockio.py


def on_sim(args, bauds, state):
    skipped = [b for b in bauds if b not in UNIX_SPEEDS]
    for b in skipped:
        log("skipping %d baud: the virtual board's UART runs at the unix port's termios speeds "
            "(up to 1152000); use --link rig" % b)
    bauds = [b for b in bauds if b in UNIX_SPEEDS]
    log("recording a %.1f MB clip on a virtual board (speed %g)..." % (args.clip_mb, args.record_speed))
    name = record_clip(state, args.clip_mb, args.record_speed)
    runs = []
    # The dock: the board boots at 115200 and `pull` steps the link up.
    with VirtualBoard(state_dir=state, speed=1) as vb:
        vb.wait_recording_ready(timeout=60)
        clip = vb.read_sd_file("clips/" + name)
        for baud in bauds:
            log("dock: pulling %s (%d bytes) at %d baud..." % (name, len(clip), baud))
            runs.append({"baud": baud, "line_bytes_per_s": baud // 10, "dock": dock_pull(vb.port_url, name, baud)})
    # mpremote cannot change the speed: a board whose UART boots at that baud.
    for run in runs if not args.no_mpremote else ():
        with VirtualBoard(state_dir=state, speed=1, baud=run["baud"]) as vb:
            vb.wait_recording_ready(timeout=60)
            log("mpremote: reading the same clip at %d baud..." % run["baud"])
            run["mpremote"], run["link_ceiling_ratio"] = mpremote_read(
                vb.port_url, "/sd/clips/" + name, run["baud"], args.mpremote_seconds, clip)
    return "virtual board UART (bodycam.sim: paced, RFC 2217)", name, clip, runs


def on_rig(args, bauds, state):
    from rig.offload import DockRig
    secs = max(1, int(args.clip_mb * 1e6 / 400e3) - 1)  # ~400 kB/s of VGA with 2 s of pre-roll
    log("recording a ~%.1f MB clip on the offload rig..." % args.clip_mb)
    runs = []
    with DockRig(state, clips=[secs], baud=115200, paced=True, eager=False) as rig:
        name = rig.made[0] + ".AVI"
        with open(os.path.join(state, "sd", "clips", name), "rb") as f:
            clip = f.read()
    for baud in bauds:
        # a speed the dock can switch to on the unix port: boot at 115200
        # and step up, as pull does; else boot the board at that speed
        boot = 115200 if baud in UNIX_SPEEDS else baud
        with DockRig(state, baud=boot, paced=True, eager=False) as rig:
            run = {"baud": baud, "line_bytes_per_s": baud // 10, "stepped_up_from": boot if boot != baud else None}
            log("dock: pulling %s (%d bytes) at %d baud..." % (name, len(clip), baud))
            run["dock"] = dock_pull(None, name, baud, port=rig.open_port(), rig=rig)
            if args.noise:
                log("dock: pulling it again at %d baud, %g of the bytes damaged both ways..." % (baud, args.noise))
                run["noise"] = args.noise
                run["dock_noisy"] = dock_pull(None, name, baud, port=rig.open_port(), rig=rig, noise=args.noise)
                run["noisy_vs_clean"] = round(run["dock_noisy"]["line_ratio"] / run["dock"]["line_ratio"], 4)
                d = rig.faults.down
                run["damaged_bytes"] = {"down": d.damaged(), "up": rig.faults.up.damaged()}
            runs.append(run)
    for run in runs if not args.no_mpremote else ():
        with DockRig(state, baud=run["baud"], paced=True, eager=False, repl=True) as rig:
            time.sleep(1.0)
            log("mpremote: reading the same clip at %d baud..." % run["baud"])
            run["mpremote"], run["link_ceiling_ratio"] = mpremote_read(
                rig.serve_tcp(), "sd/clips/" + name, run["baud"], args.mpremote_seconds, clip)
    return "offload rig UART (tests/rig/offload.py: paced exactly at baud/10)", name, clip, runs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip-mb", type=float, default=2.0, help="clip size to pull (default: %(default)s MB)")
    ap.add_argument("--bauds", default="115200,921600", help="comma-separated (default: %(default)s)")
    ap.add_argument("--mpremote-seconds", type=float, default=30,
                    help="time mpremote's copy over this long (0: the whole clip; default: %(default)s)")
    ap.add_argument("--record-speed", type=float, default=20, help="board speed while recording the clip")
    ap.add_argument("--link", choices=("sim", "rig"), default="sim",
                    help="the virtual board (default) or the offload rig's exactly paced UART")
    ap.add_argument("--noise", type=float, default=0.0,
                    help="also pull with this share of the bytes damaged both ways (--link rig)")
    ap.add_argument("--no-mpremote", action="store_true", help="skip the mpremote comparison")
    args = ap.parse_args(argv)
    if args.noise and args.link != "rig":
        ap.error("--noise needs --link rig (the virtual board's line injects no faults)")
    bauds = [int(b) for b in args.bauds.split(",")]
    state = tempfile.mkdtemp(prefix="bodycam-bench-offload-")
    try:
        link, name, clip, runs = (on_rig if args.link == "rig" else on_sim)(args, bauds, state)
        for run in runs:
            if "mpremote" in run:
                run["dock_vs_mpremote"] = round(run["dock"]["bytes_per_s"] / run["mpremote"]["bytes_per_s"], 2)
                run["dock_vs_link_ceiling"] = round(run["dock"]["line_ratio"] / run["link_ceiling_ratio"], 4)
        out = {"bench": "offload", "link": link, "clip": name, "clip_bytes": len(clip), "runs": runs,
               "target_line_ratio": 0.90,
               "meets_target": all(r["dock"]["line_ratio"] >= 0.90 for r in runs)}
        if args.noise:
            out["noise"] = args.noise
            out["target_noisy_line_ratio"] = 0.5
            out["meets_noisy_target"] = all(r["dock_noisy"]["line_ratio"] >= 0.5 for r in runs)
        print(json.dumps(out, indent=2))
        return 0 if out["meets_target"] else 1
    finally:
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
