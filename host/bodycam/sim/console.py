"""`bodycam sim`'s console: one command per line on stdin, acting on the
virtual board's button, reset and power, and showing its state."""
import shlex

HELP = """commands:
  press [MS]     button down (with MS: released exactly MS ms of board time later)
  release        button up
  hold MS        hold the button down MS ms (board time), then release
  tap            a short press (150 ms): starts a recording, or marks one
  reset          pulse EN: the chip restarts (RAM lost, storage kept)
  cut            power cut: the board dies at once (no flush, no unmount); the port stays
  on             power on again
  unplug         pull the USB cable: the board dies and the serial port goes away
  plug           plug it back in: the port returns, the board boots
  camera STATE   the camera connector now: ok (reseated), missing (ribbon out) or fails-init
  status         state, board time, LEDs, serial line
  clips          complete clips on the SD card image
  help           this text
  quit           stop the virtual board"""


def run_command(vb, line, out):
    """Do one console line; returns False when the console should stop."""
    try:
        words = shlex.split(line)
    except ValueError as e:
        out("?? %s" % e)
        return True
    if not words:
        return True
    cmd, args = words[0].lower(), words[1:]
    try:
        if cmd in ("quit", "exit", "q"):
            return False
        if cmd in ("help", "?", "h") and not args:
            out(HELP)
        elif cmd in ("press", "p"):
            vb.press(_ms(args[0]) if args else None)
            out("button %s" % ("pressed and released" if args else "down"))
        elif cmd in ("release", "r"):
            vb.release()
            out("button up")
        elif cmd in ("hold", "h"):
            if not args:
                raise ValueError("hold needs a time in ms, e.g. hold 3500")
            vb.hold(_ms(args[0]))
            out("button held %s ms, released" % args[0])
        elif cmd in ("tap", "t"):
            vb.tap()
            out("tap")
        elif cmd == "reset":
            vb.reset()
            out("reset")
        elif cmd in ("cut", "off"):
            vb.power_cut()
            out("power cut")
        elif cmd == "on":
            vb.power_on()
            out("power on")
        elif cmd == "unplug":
            vb.unplug()
            out("USB unplugged")
        elif cmd in ("plug", "plug-in"):
            vb.plug_in()
            out("USB plugged in")
        elif cmd == "camera":
            if len(args) != 1:
                raise ValueError("camera needs one of ok, missing, fails-init")
            vb.set_camera(args[0])
            out("camera %s" % args[0])
        elif cmd == "status":
            out(status(vb))
        elif cmd == "clips":
            clips = vb.list_clips()
            out("\n".join(clips) if clips else "no clips yet")
        else:
            out("unknown command %r; type help" % cmd)
    except (ValueError, OSError) as e:  # (SimError is a ValueError)
        out("error: %s" % e)
    return True


def _ms(s):
    try:
        v = int(s)
    except ValueError:
        raise ValueError("%r is not a whole number of milliseconds" % s)
    if v < 0 or v > 600000:
        raise ValueError("%d ms is out of range (0 to 600000)" % v)
    return v


def status(vb):
    st = vb.uart_stats()
    leds = ", ".join("%s %s" % (k, "on" if v else "off") for k, v in sorted(vb.leds.items()))
    client = vb.server.client
    return "\n".join([
        "state %s, board time %.3f s (speed %gx), button %s" % (
            vb.state, vb.board_ms() / 1000.0, vb.speed, "down" if vb.button_down else "up"),
        "LEDs: %s" % (leds or "none"),
        "camera: %s, %d frames captured since boot" % (vb.camera, vb.sensor.frames),
        "serial %s: %s; board %d baud, host %d baud; %d bytes to host, %d to board, %d dropped (RX buffer full)"
        % (vb.port_url, "client %s:%d" % client if client else "no client", st["board_baud"], st["host_baud"],
           st["to_host"], st["to_board"], st["rx_dropped"]),
    ])
