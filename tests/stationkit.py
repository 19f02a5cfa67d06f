"""Virtual boards provisioned as `bodycam deploy` would (a device key in
key.json on the flash, the same key in the host keyring), recording
clips, for the station tests and bench/station.py."""
import contextlib

from bodycam.evidence import keys
from bodycam.boards import load_board
from bodycam.sim import VirtualBoard
from bodycam.sim.storage import StateDir

SETTINGS = {"preroll_s": 2, "framesize": "QVGA"}


def provision_state(state_dir, device_id, keyring, key=None, settings=None, board="ai-thinker-esp32-cam"):
    """Make a virtual board's storage with key.json for device_id (key
    added to keyring unless given). Returns the key."""
    if key is None:
        _, key = keys.provision(device_id, board=board, keyring=keyring)
    st = StateDir(state_dir, load_board(board))
    try:
        st.ensure(dict(SETTINGS, **(settings or {})))
        st.flash.write(keys.DEVICE_KEY_FILE, keys.device_key_json(device_id, key))
    finally:
        st.close()
    return key


@contextlib.contextmanager
def provisioned_board(state_dir, device_id, keyring, key=None, speed=2, baud=115200, settings=None):
    key = provision_state(state_dir, device_id, keyring, key, settings)
    with VirtualBoard(state_dir=state_dir, speed=speed, baud=baud) as vb:
        vb.wait_recording_ready(timeout=90)
        vb.key = key
        yield vb


def record(vb, ms):
    """Press, record ms of board time, hold to stop; the new clip's name."""
    known = vb.list_clips()
    vb.tap()
    vb.sleep_board(ms)
    vb.hold(3500)
    return vb.wait_for_clip(known, timeout=120)


def clip_bytes(vb, name):
    return {ext: vb.read_sd_file("clips/" + name + ext) for ext in (".AVI", ".JSON")}


def on_card(vb):
    return {n for n, size, d in vb.sd_listdir("clips")}
