"""Offloading clips over the serial link: the host side of the firmware's
dock service (firmware/dock.py). `pull_all(port, out_dir)` is the one call
most callers need."""
from bodycam.offload.client import DockClient, DockError, LinkLost, PortGone, open_port
from bodycam.offload.pull import pull_all

__all__ = ["DockClient", "DockError", "LinkLost", "PortGone", "open_port", "pull_all"]
