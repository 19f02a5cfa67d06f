# Boot: read config.json and the board profile, pick the HAL for this
# platform, run the capture loop.
import sys

import app


def main():
    board, s = app.load_config()
    if sys.platform == "esp32":
        from hal_esp32 import Esp32Hal as Hal
    else:
        from hal_virtual import VirtualHal as Hal
    hal = Hal(board, s)
    app.App(hal, board, s).run()


main()
