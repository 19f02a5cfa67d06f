"""Serial offload speed on the virtual board's paced UART: the dock
(`bodycam pull`'s protocol) against mpremote's file copy, same link, same
clip, same run, at 115200, 921600 and 2000000 baud. Prints JSON.

    python bench/offload.py [--clip-mb 2] [--bauds 115200,921600,2000000] [--mpremote-seconds 30]
                            [--link sim|rig] [--port tty|rfc2217] [--cpu esp32|host]
    python bench/offload.py --noise 1e-3 [--bauds 115200,921600,2000000] [--no-mpremote]

--noise RATE damages that share of the bytes both ways (in equal parts
flipped, dropped and junk bursts of 1-7 bytes: tests/rig/offload.py
Faults.noise) during a dock pull on the offload rig (the virtual board's
line injects no faults), next to a clean pull of the same clip at each
baud: the sim's clean runs and the rig's clean and noisy ones are printed
together. Each noisy run reports line_ratio (file bytes/s over baud/10),
the line's efficiency (file bytes over bytes the line carried to the host,
resends included), and the frame size the host chose.

The virtual board's UART runs at any rate the ESP32's divider makes; the
dock steps up from 115200 as pull does, and above it sends through UART1's
TX ring (firmware/dockuart.py; uart "uart1" in the output). On the rig the
firmware runs on the bare unix port, whose termios stops at 1152000: a run
above that boots the rig's board at that speed instead.

--port tty (the default) reads the virtual board through its kernel tty,
as a desk's USB adapter is read; rfc2217 through its RFC 2217 port, which
costs the host a Python-level parse per byte (pyserial's client).

--cpu host runs the virtual board with the firmware's Python at this
machine's speed (the card, the UARTs, UART1's ring and the line are
modelled either way): the protocol's and the link's ceiling, for when the
esp32 CPU model's clock misbills (docs/virtual-board.md, "CPU clock"). A
pull that fails (the link lost) is reported with its error and the bench
goes on.

--link rig runs the same measurements on tests/rig/offload.py instead: the
same firmware behind a UART paced exactly at baud/10 (the virtual board's
UART currently carries a little less than that; the bench reports the
ceiling it measured either way).

1. A virtual board (bodycam.sim, board time sped up) records a clip until
   it is at least --clip-mb MB.
2. The board restarts at speed 1 (the capture loop and the dock's tick at
   their real rates; the UART is always real time) and the dock streams
   the clip at each baud: payload bytes/s, and that over the line rate
   (baud/10 bytes/s for 8N1). At the boot speed the dock's output goes
   through the virtual board's model of the ESP32 REPL UART (128-byte TX
   FIFO, a 10 ms tick wait when a write does not fit: vboard_uart.ReplUart;
   uart_tick_waits counts the dock's writes that waited); above it through
   UART1's driver and TX ring (vboard_uart.DriverUart; uart_ring_waits:
   writes that waited for ring room). The board's capture rate while
   streaming comes from its own frame counter. hour_of_vga_minutes: how
   long 180 MB (an hour of VGA at 5 fps) takes at the rate measured.
   esp32_dock_cpu_estimate: the dock's Python per 4 KB frame and per ack,
   measured apart on the unix port in CPU time, x the pystone scale, plus a
   typical card's read of the frame, over each baud's line time per frame
   (duty), above the boot speed (UART1's ring, whole frames): the virtual
   board's CPU model bills the firmware's Python too little
   (docs/virtual-board.md, "CPU clock"), so this says separately whether
   an ESP32 running it could keep the line busy; the loop's own work
   (capture, the idle loop's rounds) comes on top.
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

from bodycam.offload.client import DockClient, LinkLost, open_port  # noqa: E402
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


HOUR_OF_VGA = 180e6  # bytes: an hour of VGA at 5 fps (~10 KB a frame)


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
            "hour_of_vga_minutes": round(HOUR_OF_VGA / rate / 60, 1),
            "uart": info1.get("uart"), "resends": c.stats["resends"],
            "board_fps_while_streaming": round(fps, 2) if fps else None,
            "board_fps_setting": info0["tick_ms"] and round(1000.0 / info0["tick_ms"], 2),
            # writes that waited a FreeRTOS tick for TX FIFO room (the virtual
            # board's model of uart_stdout_tx_strn), or for UART1's ring
            # (uart_write_bytes); None where not modelled
            "uart_tick_waits": _delta(info0.get("tx_tick_waits"), info1.get("tx_tick_waits")),
            "uart_ring_waits": _delta(info0.get("tx_ring_waits"), info1.get("tx_ring_waits")),
            # file bytes over all bytes the line carried to the host (rig only)
            "line_efficiency": round(got[0] / line_bytes, 4) if line_bytes else None,
            "frame_size": {"final": c.stats["chunk"], "smallest": c.stats["chunk_min"],
                           "shrinks": c.stats["shrinks"], "grows": c.stats["grows"],
                           "loss_per_mbyte": c.stats["loss_per_mbyte"]}}


# The dock's own Python per frame and per ack, measured on the unix port in
# CPU time (the clock brought up to date first: /proc/self/stat, see
# docs/virtual-board.md "CPU clock"), as the firmware streams it through
# UART1's ring (whole frames) with the host's acks every half window.
DOCK_CPU = r"""
import sys, json
sys.path[:0] = [%r, %r]
import dockwire as W, dockkit
from docktx import FrameOut
from dockstream import FileStream
from dockrx import CommandReader
st = open("/proc/self/stat", "rb")
ss = open("/proc/self/schedstat", "rb")
b1 = bytearray(1024)
def cpu_ns():
    st.seek(0); st.readinto(b1)
    ss.seek(0); return int(ss.read().split()[0])
size = 2000000
with open("big.bin", "wb") as f:
    for i in range(size // 4096):
        f.write(bytes(4096))
link = dockkit.MemLink()
link.keep = False
link.whole = True
stats = {"frames": 0, "bytes": 0, "resends": 0, "resent_bytes": 0, "resizes": 0, "stray_ctrl_c": 0}
out = FrameOut(link)
fs = FileStream(out, stats, dockkit.FakeMs(0), lambda *a: None)
rx = CommandReader(lambda b, n: None, lambda c, k, a, b, ch, w: fs.ack(k, a, b, ch, w), lambda: None, stats)
fs.open(open("big.bin", "rb"), 5, "X", 0, size, 4096, 1 << 30)
acks = [W.command(5, "K", off, off, 4096, 65536) for off in range(0, size, 16384)]
t0 = cpu_ns()
while out.pump() and fs.next_frame():
    pass
frame_ns = (cpu_ns() - t0) / stats["frames"]
t0 = cpu_ns()
for a in acks:
    link.feed(a)
    rx.read(link)
ack_ns = (cpu_ns() - t0) / len(acks)
print(json.dumps({"frame_us": frame_ns / 1000, "ack_us": ack_ns / 1000, "frame_bytes": 4096}))
"""


def dock_cpu_estimate(bauds):
    """What the dock's Python costs an ESP32 per 4 KB frame and per ack (the
    unix port's CPU time x the pystone scale, bodycam.sim.cpu), with a
    typical card's read of the frame (bodycam.sim.costs), and the share of
    each baud's line time per frame that is: under 1, the firmware can keep
    the line busy (the ring covering the loop's other work)."""
    from bodycam.device import upy
    from bodycam.resources import firmware_dir
    from bodycam.sim.costs import card_profile
    from bodycam.sim.cpu import cpu_scale
    d = tempfile.mkdtemp(prefix="bodycam-bench-dockcpu-")
    try:
        path = os.path.join(d, "dockcpu.py")
        with open(path, "w") as f:
            f.write(DOCK_CPU % (firmware_dir(), os.path.join(HERE, "..", "tests", "mpy")))
        p = upy.run_script(path, heapsize=4 << 20, cwd=d)
        if p.returncode:
            return {"error": p.stderr[-500:]}
        m = json.loads(p.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(d, ignore_errors=True)
    scale = cpu_scale("esp32")
    card = card_profile("typical")
    card_us = 8 * (card["cmd_us"] + 512 * 1e6 / card["read_Bps"])
    out = {"host_frame_us": round(m["frame_us"], 1), "host_ack_us": round(m["ack_us"], 1),
           "cpu_scale": round(scale, 1), "esp32_frame_ms": round(m["frame_us"] * scale / 1000, 2),
           "esp32_ack_ms": round(m["ack_us"] * scale / 1000, 2), "card_read_ms": round(card_us / 1000, 2)}
    for baud in bauds:
        if baud <= 115200:
            continue  # the boot speed goes through the REPL's FIFO a piece at a time, not UART1's ring
        line_ms = (4096 + 16) * 10000.0 / baud
        window = baud / 10 * 0.3
        per_frame = out["esp32_frame_ms"] + out["card_read_ms"] + out["esp32_ack_ms"] * 4096 / (window / 2)
        out["duty_at_%d" % baud] = round(per_frame / line_ms, 3)
    return out


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


UNIX_SPEEDS = (9600, 57600, 115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000)  # the rig's termios


def on_sim(args, bauds, state):
    log("recording a %.1f MB clip on a virtual board (speed %g)..." % (args.clip_mb, args.record_speed))
    name = record_clip(state, args.clip_mb, args.record_speed)
    runs = []
    # The dock: the board boots at 115200 and `pull` steps the link up.
    with VirtualBoard(state_dir=state, speed=1, cpu=args.cpu) as vb:
        vb.wait_recording_ready(timeout=60)
        clip = vb.read_sd_file("clips/" + name)
        port = vb.tty_path if args.port == "tty" else vb.port_url
        for baud in bauds:
            log("dock: pulling %s (%d bytes) at %d baud over %s..." % (name, len(clip), baud, args.port))
            try:
                dock = dock_pull(port, name, baud)
            except LinkLost as e:
                # reported, not fatal: the other bauds and mpremote still run
                log("dock: the pull at %d baud failed: %s" % (baud, e))
                dock = {"error": "%s: %s" % (type(e).__name__, e), "line_ratio": 0.0, "uart_stats": vb.uart_stats()}
            runs.append({"baud": baud, "line_bytes_per_s": baud // 10, "dock": dock})
    # mpremote cannot change the speed: a board whose UART boots at that baud.
    for run in runs if not args.no_mpremote else ():
        with VirtualBoard(state_dir=state, speed=1, baud=run["baud"], cpu=args.cpu) as vb:
            vb.wait_recording_ready(timeout=60)
            log("mpremote: reading the same clip at %d baud..." % run["baud"])
            run["mpremote"], run["link_ceiling_ratio"] = mpremote_read(
                vb.tty_path if args.port == "tty" else vb.port_url, "/sd/clips/" + name, run["baud"],
                args.mpremote_seconds, clip)
    return ("virtual board UART (bodycam.sim: paced, %s CPU model, typical card, %s)" % (args.cpu, args.port),
            name, clip, runs)


def rig_clip(state, mb):
    from rig.offload import DockRig
    secs = max(1, int(mb * 1e6 / 400e3) - 1)  # ~400 kB/s of VGA with 2 s of pre-roll
    log("recording a ~%.1f MB clip on the offload rig..." % mb)
    with DockRig(state, clips=[secs], baud=115200, paced=True, eager=False) as rig:
        name = rig.made[0] + ".AVI"
        with open(os.path.join(state, "sd", "clips", name), "rb") as f:
            return name, f.read()


def rig_pulls(state, name, clip, bauds, noise):
    """Clean (and with noise, noisy) dock pulls on the offload rig."""
    from rig.offload import DockRig
    runs = []
    for baud in bauds:
        # a speed the dock can switch to on the unix port: boot at 115200
        # and step up, as pull does; else boot the board at that speed
        boot = 115200 if baud in UNIX_SPEEDS else baud
        with DockRig(state, baud=boot, paced=True, eager=False) as rig:
            run = {"baud": baud, "line_bytes_per_s": baud // 10, "stepped_up_from": boot if boot != baud else None}
            log("dock: pulling %s (%d bytes) at %d baud on the rig..." % (name, len(clip), baud))
            run["dock"] = dock_pull(None, name, baud, port=rig.open_port(), rig=rig)
            if noise:
                log("dock: pulling it again at %d baud, %g of the bytes damaged both ways..." % (baud, noise))
                run["dock_noisy"] = dock_pull(None, name, baud, port=rig.open_port(), rig=rig, noise=noise)
                run["noisy_vs_clean"] = round(run["dock_noisy"]["line_ratio"] / run["dock"]["line_ratio"], 4)
                d, u = rig.faults.down, rig.faults.up
                run["damage"] = {"down": {"flipped": d.corrupted, "dropped": d.dropped, "junk_bursts": d.inserted,
                                          "junk_bytes": d.junk},
                                 "up": {"flipped": u.corrupted, "dropped": u.dropped, "junk_bursts": u.inserted,
                                        "junk_bytes": u.junk}}
            runs.append(run)
    return runs


def on_rig(args, bauds, state):
    name, clip = rig_clip(state, args.clip_mb)
    runs = rig_pulls(state, name, clip, bauds, args.noise)
    for run in runs if not args.no_mpremote else ():
        from rig.offload import DockRig
        with DockRig(state, baud=run["baud"], paced=True, eager=False, repl=True) as rig:
            time.sleep(1.0)
            log("mpremote: reading the same clip at %d baud..." % run["baud"])
            run["mpremote"], run["link_ceiling_ratio"] = mpremote_read(
                rig.serve_tcp(), "sd/clips/" + name, run["baud"], args.mpremote_seconds, clip)
    return "offload rig UART (tests/rig/offload.py: paced exactly at baud/10)", name, clip, runs


def on_rig_noisy(args, bauds, state):
    os.makedirs(state, exist_ok=True)
    name, clip = rig_clip(state, args.rig_clip_mb)
    return rig_pulls(state, name, clip, bauds, args.noise)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clip-mb", type=float, default=2.0, help="clip size to pull (default: %(default)s MB)")
    ap.add_argument("--bauds", default="115200,921600,2000000", help="comma-separated (default: %(default)s)")
    ap.add_argument("--mpremote-seconds", type=float, default=30,
                    help="time mpremote's copy over this long (0: the whole clip; default: %(default)s)")
    ap.add_argument("--record-speed", type=float, default=20, help="board speed while recording the clip")
    ap.add_argument("--link", choices=("sim", "rig"), default="sim",
                    help="the virtual board (default) or the offload rig's exactly paced UART")
    ap.add_argument("--cpu", choices=("esp32", "host"), default="esp32",
                    help="the virtual board's CPU model while pulling (host: the firmware's Python at this "
                         "machine's speed; the card, UARTs and ring are modelled either way)")
    ap.add_argument("--port", choices=("tty", "rfc2217"), default="tty",
                    help="the virtual board's kernel tty (default) or its RFC 2217 port")
    ap.add_argument("--noise", type=float, default=0.0,
                    help="also pull on the offload rig with this share of the bytes damaged both ways")
    ap.add_argument("--rig-clip-mb", type=float, default=1.5, help="clip size for the noisy rig runs")
    ap.add_argument("--no-mpremote", action="store_true", help="skip the mpremote comparison")
    args = ap.parse_args(argv)
    bauds = [int(b) for b in args.bauds.split(",")]
    state = tempfile.mkdtemp(prefix="bodycam-bench-offload-")
    targets = {115200: 0.90, 921600: 0.95, 2000000: 0.90}
    noisy_targets = {115200: 0.5, 921600: 0.7, 2000000: 0.6}
    try:
        load0 = os.getloadavg()
        link, name, clip, runs = (on_rig if args.link == "rig" else on_sim)(args, bauds, state)
        for run in runs:
            if "mpremote" in run and "error" not in run["dock"]:
                run["dock_vs_mpremote"] = round(run["dock"]["bytes_per_s"] / run["mpremote"]["bytes_per_s"], 2)
                run["dock_vs_link_ceiling"] = round(run["dock"]["line_ratio"] / run["link_ceiling_ratio"], 4)
            run["target_line_ratio"] = targets.get(run["baud"], 0.90)
        out = {"bench": "offload", "link": link, "clip": name, "clip_bytes": len(clip), "runs": runs,
               "meets_target": all(r["dock"]["line_ratio"] >= r["target_line_ratio"] for r in runs)}
        noisy = [r for r in runs if "dock_noisy" in r]
        if args.noise and args.link == "sim":
            noisy = on_rig_noisy(args, bauds, os.path.join(state, "rig"))
        if args.noise:
            for run in noisy:
                run["target_noisy_line_ratio"] = noisy_targets.get(run["baud"], 0.5)
            out["noisy"] = {"link": "offload rig (tests/rig/offload.py: paced at baud/10, "
                                    "%g of the bytes damaged both ways: flips, drops, junk bursts of 1-7 bytes)"
                                    % args.noise, "noise": args.noise, "runs": noisy,
                            "meets_target": all(r["dock_noisy"]["line_ratio"] >= r["target_noisy_line_ratio"]
                                                for r in noisy)}
        if args.link == "sim":
            out["esp32_dock_cpu_estimate"] = dock_cpu_estimate(bauds)
        out["loadavg_before_after"] = [round(load0[0], 2), round(os.getloadavg()[0], 2)]
        print(json.dumps(out, indent=2))
        return 0 if out["meets_target"] and out.get("noisy", {}).get("meets_target", True) else 1
    finally:
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
