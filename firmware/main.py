# Boot: read config.json and the board profile, pick the HAL for this
# platform, run the capture loop.
import sys

import app


def main():
    board, s = app.load_config()
    if sys.platform == "esp32":
        from hal_esp32 import Esp32Hal as Hal
    else:
        from hal_virtual import board_hal
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
    print("BODYCAM-BOOT " + json.dumps({"firmware": VERSION, "board": board["id"], "settings": s,
                                        "ring_bytes": a.plan["ring_bytes"], "clock": hal.clock.utc()}))


main()
