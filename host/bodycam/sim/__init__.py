"""The virtual ESP32-CAM board: the firmware on the real MicroPython behind
an RFC 2217 serial port (see docs/virtual-board.md)."""
from bodycam.sim.board import VirtualBoard
from bodycam.sim.errors import SimError

__all__ = ["VirtualBoard", "SimError"]
