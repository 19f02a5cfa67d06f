# Boot: read config.json and the board profile, pick the HAL for this
# platform, run the capture loop.
import sys

import app


def main():
    board, s = app.load_config()
    if sys.platform == "esp32":
        from hal_esp32 import Esp32Hal as Hal
    else:
        from unix_hal import board_hal  # the platform's (sim/board_side), as machine is on an ESP32
        Hal = board_hal()  # the virtual board's HAL when `bodycam sim` booted us
    hal = Hal(board, s)
    import evidence  # audit log + sealed manifests on the HAL; logs the boot
    evidence.attach(hal, board, s)
    a = app.App(hal, board, s)
    evidence.watch(a)  # audit entries for dropped frames
    import dock  # serial offload: `bodycam pull/ls/info` over the REPL link
    a.services.append(dock.Dock(a))
    boot_line(hal, board, s, a)
    a.run()


def boot_line(hal, board, s, a):
    # One line for the host: `bodycam deploy` waits for it to know the
    # firmware came up with the version, board and settings it deployed.
    import json
    from version import VERSION
    h = a.health()
    print("BODYCAM-BOOT " + json.dumps({"firmware": VERSION, "board": board["id"], "settings": s,
                                        "ring_bytes": a.plan["ring_bytes"], "clock": hal.clock.utc(),
                                        "storage": h["storage"], "memory": h["memory"]}))
    for why in boot_problems(h):
        print("BODYCAM-PROBLEM " + why)


def boot_problems(h):
    # One plain line per problem, for a person watching the console.
    out = []
    st = h["storage"]
    if not st["ok"]:
        out.append("no clip storage (%s, %s): %s; buffering only, presses are not recorded"
                   % (st["reason"], st["error"], st["advice"]))
    m = h["memory"]
    if m["shortfall"]:
        out.append("pre-roll %d s of %d s wanted: %d bytes of ring at %d-byte frames "
                   "(%d bytes free after the camera); lower fps/framesize/preroll_s"
                   % (m["preroll_s_achievable"], m["preroll_s_wanted"], m["ring_bytes"],
                      m["frame_bytes"], m["free_bytes"]))
    return out


main()
