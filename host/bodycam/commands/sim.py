"""bodycam sim: run a virtual ESP32-CAM board behind an RFC 2217 serial port."""
import os
import signal
import sys
import threading

from bodycam.boards import DEFAULT_BOARD

NAME = "sim"
HELP = "run a virtual ESP32-CAM (the firmware on MicroPython) behind an rfc2217:// serial port"
DESCRIPTION = (
    "Start a virtual board: the bodycam firmware on MicroPython's unix port with the board's memory, a camera "
    "making real JPEGs, an SD card and flash kept in the state dir, and its UART on an RFC 2217 port that "
    "esptool, mpremote and bodycam open like a serial port. The first line printed is the port URL. "
    "Type commands on stdin (help lists them: press, hold MS, reset, cut, ...); Ctrl-C stops it.")


def default_state_dir(board):
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "bodycam", "vboard-" + board)


def add_arguments(p):
    p.add_argument("--board", default=DEFAULT_BOARD, help="board profile id (default: %(default)s)")
    p.add_argument("--baud", type=int, default=115200, help="the board's UART rate at boot (default: %(default)s)")
    p.add_argument("--state", metavar="DIR",
                   help="folder for the board's flash and SD card images, kept between runs "
                        "(default: %s)" % default_state_dir("BOARD"))
    p.add_argument("--speed", type=float, default=1,
                   help="run the board's clock and camera N times faster than real time; the UART stays "
                        "real time (default: %(default)s)")
    p.add_argument("--port", type=int, default=0, help="TCP port to listen on (default: any free port)")
    p.add_argument("--quiet", action="store_true", help="do not print the board's events")
    add_card_heap_arguments(p)
    add_cost_arguments(p)


def add_card_heap_arguments(p):
    from bodycam.sim.storage import SD_KINDS
    p.add_argument("--sd", choices=SD_KINDS, default="fat32",
                   help="what is in the SD slot: fat32 (the card in the state dir, a FAT card formatted by the "
                        "board's own FatFs: FAT16 at the default 256 MiB), exfat (a card as 64 GB+ cards ship, which MicroPython cannot mount), unreadable "
                        "(reads fail), none (empty slot). The board boots and buffers either way and says why it "
                        "cannot record (default: %(default)s)")
    p.add_argument("--camera", choices=("ok", "missing", "fails-init"), default="ok",
                   help="what is on the camera connector at power-on: ok, missing (no sensor answers: a loose "
                        "ribbon; Camera() raises OSError(95, 'ESP_ERR_NOT_SUPPORTED') as cnadler86's does) or "
                        "fails-init (a sensor that sends no frame: the constructor's 4 s wait, then its "
                        "'Failed to capture initial frame' OSError). The board boots without it, says so and "
                        "tries again; the console's `camera ok` reseats the cable (default: %(default)s)")
    p.add_argument("--heap", type=_heap_arg, metavar="BYTES",
                   help="bytes of memory for MicroPython beside the camera buffers, instead of what the board "
                        "profile implies (e.g. 1500000 or 1.5M): act out a board with less free memory")


def _heap_arg(text):
    import argparse
    t = text.strip().upper()
    mult = {"K": 1024, "M": 1024 * 1024}.get(t[-1:], 1)
    try:
        n = int(float(t[:-1] if mult != 1 else t) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError("--heap takes bytes, like 1500000, 1500K or 1.5M, not %r" % text)
    return n


def add_cost_arguments(p):
    # Checked by VirtualBoard (an unknown one is refused with the known ones).
    from bodycam.sim.costs import DEFAULT_CARD
    from bodycam.sim.cpu import DEFAULT_CPU
    p.add_argument("--card", default=DEFAULT_CARD,
                   help="SD card the board pays for, in board time: fast, typical, slow, or host (free writes) "
                        "(default: %(default)s)")
    p.add_argument("--cpu", default=DEFAULT_CPU,
                   help="CPU speed the firmware pays for: esp32 (an ESP32 at 240 MHz, calibrated with pystone) "
                        "or host (this machine's speed) (default: %(default)s)")


def run(args):
    from bodycam.sim import VirtualBoard
    from bodycam.sim.console import run_command

    def out(msg):
        print(msg, flush=True)

    def event(msg):
        if not args.quiet:
            print("[sim] " + msg, file=sys.stderr, flush=True)

    state = args.state or default_state_dir(args.board)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    with VirtualBoard(board=args.board, state_dir=state, baud=args.baud, speed=args.speed,
                      port=args.port, log=event, sd=args.sd, heap_bytes=args.heap, card=args.card, cpu=args.cpu,
                      camera=args.camera) as vb:
        out(vb.port_url)
        out("virtual %s running: state in %s, board time %gx real time, %s card, %s CPU. "
            "Type help for commands, Ctrl-C to stop." % (vb.profile["name"], state, args.speed, args.card, args.cpu))
        if args.sd != "fat32":
            out("SD slot: %s (the board boots and buffers, and says why it cannot record)" % args.sd)
        if args.heap:
            out("heap: %d bytes for MicroPython beside the camera buffers" % args.heap)
        threading.Thread(target=_console, args=(vb, out, stop, run_command), daemon=True).start()
        try:
            while not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
    out("stopped")
    return 0


def _console(vb, out, stop, run_command):
    for line in sys.stdin:
        if not run_command(vb, line, out):
            stop.set()
            return
    # stdin closed (started in the background): keep running until stopped
