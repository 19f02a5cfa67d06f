# The recorder's states, in a module of their own: the dock and the
# bring-up checks name them without importing the recorder, so a recorder
# that cannot load (a bad deploy) still leaves the dock up (startup.py).
BUFFERING = 0
RECORDING = 1
FINALIZING = 2
STATE_NAMES = ("buffering", "recording", "finalizing")
