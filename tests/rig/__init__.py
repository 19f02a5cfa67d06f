"""Test-only machinery, kept out of the installed bodycam package: used by
tests/ (on pytest's path) and bench/ (which puts tests/ on sys.path).

rig.offload.DockRig: the real firmware and dock on the MicroPython unix
port behind a simulated, fault-injecting serial line."""
