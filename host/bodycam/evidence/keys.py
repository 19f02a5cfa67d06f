"""Device keys: made at deploy time, kept on the device (key.json on its
internal flash) and in the host's keyring file, which `bodycam verify`
reads to check the HMACs of clip manifests and audit entries.

Keyring file (JSON, mode 0600):
    {"format": "bodycam-keyring/1",
     "devices": {"bc-1a2b3c4d": {"board": "ai-thinker-esp32-cam",
                                 "label": "...",  (optional: what the device is)
                                 "keys": [{"key": "<64 hex>", "key_id": "<16 hex>",
                                           "created": "2025-06-01T12:00:00Z"}]}}}
A re-provisioned device keeps its old keys (newest last), so clips signed
before still verify.
"""
import json
import os
import secrets
import tempfile
import time

from bodycam.resources import shared

DEVICE_KEY_FILE = "key.json"  # on the device's flash root (firmware/evidence.py KEY_FILE)
KEYRING_FORMAT = "bodycam-keyring/1"
KEY_BYTES = 32


def keyring_path():
    """$BODYCAM_KEYRING, else $XDG_CONFIG_HOME/bodycam/keys.json, else
    ~/.config/bodycam/keys.json."""
    env = os.environ.get("BODYCAM_KEYRING")
    if env:
        return env
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "bodycam", "keys.json")


def key_id(key):
    return shared("seal").key_id(key)


def new_device_id():
    return "bc-" + secrets.token_hex(4)


def provision(device_id=None, board=None, keyring=None, label=None):
    """Make a new random 32-byte key for a device, store it in the keyring
    and return (device_id, key). device_id defaults to a new random id.
    Upload device_key_json(device_id, key) to the device as key.json."""
    device_id = device_id or new_device_id()
    _check_device_id(device_id)
    key = secrets.token_bytes(KEY_BYTES)
    path = keyring or keyring_path()
    ring = load_keyring(path) if os.path.exists(path) else _empty()
    dev = ring["devices"].setdefault(device_id, {"keys": []})
    if board:
        dev["board"] = board
    if label:
        dev["label"] = label
    dev["keys"].append({"key": key.hex(), "key_id": key_id(key),
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    save_keyring(ring, path)
    return device_id, key


def device_key_json(device_id, key):
    """Contents of the device's key.json."""
    _check_device_id(device_id)
    if len(key) != KEY_BYTES:
        raise ValueError("a device key is %d bytes, not %d" % (KEY_BYTES, len(key)))
    return json.dumps({"device": device_id, "key": key.hex()}).encode()


def device_key(device_id, keyring=None):
    """The newest key of a device in the keyring, or None."""
    dev = load_keyring(keyring or keyring_path())["devices"].get(device_id)
    return bytes.fromhex(dev["keys"][-1]["key"]) if dev and dev.get("keys") else None


# --- the demo's virtual board (bodycam demo) ----------------------------------

DEMO_LABEL = "bodycam demo: virtual board, not a camera"


def demo_device_id(board_id):
    """One device id per board profile for every `bodycam demo` run: the
    demo reuses its key instead of adding one to the keyring per run."""
    return "bc-demo-" + board_id


def demo_key(board_id, keyring=None):
    """(device_id, key, new) for the demo's virtual board: its newest key
    from the keyring, else a new one stored there labelled DEMO_LABEL."""
    device_id = demo_device_id(board_id)
    key = device_key(device_id, keyring)
    if key is not None:
        return device_id, key, False
    device_id, key = provision(device_id, board=board_id, keyring=keyring, label=DEMO_LABEL)
    return device_id, key, True


def _empty():
    return {"format": KEYRING_FORMAT, "devices": {}}


def _check_device_id(device_id):
    if not isinstance(device_id, str) or not device_id or len(device_id) > 64 or \
            not all(c.isalnum() or c in "-_." for c in device_id):
        raise ValueError("device id must be 1-64 letters, digits, '-', '_' or '.', not %r" % (device_id,))


def load_keyring(path):
    try:
        with open(path) as f:
            ring = json.load(f)
    except FileNotFoundError:
        return _empty()
    except json.JSONDecodeError as e:
        raise ValueError("keyring %s is not valid JSON: %s" % (path, e))
    if not isinstance(ring, dict) or ring.get("format") != KEYRING_FORMAT or \
            not isinstance(ring.get("devices"), dict):
        raise ValueError("%s is not a bodycam keyring (format %r expected)" % (path, KEYRING_FORMAT))
    return ring


def save_keyring(ring, path):
    """Atomic write, readable by the owner only: a torn or world-readable
    keyring would be worse than none."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".keys-", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(ring, f, indent=1, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def keys_by_id(ring):
    """{key_id: key bytes} for every key in a keyring dict."""
    out = {}
    for dev in ring["devices"].values():
        for k in dev.get("keys", []):
            key = bytes.fromhex(k["key"])
            out[key_id(key)] = key
    return out


def load_key_file(path):
    """--key FILE for verify: a keyring, a device key.json, or a file of 64
    hex digits. Returns {key_id: key}."""
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        raise ValueError("key file %s does not exist" % path)
    s = text.strip()
    if len(s) == 64 and all(c in "0123456789abcdefABCDEF" for c in s):
        key = bytes.fromhex(s)
        return {key_id(key): key}
    try:
        d = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("key file %s is neither a keyring, a device key.json, nor 64 hex digits" % path)
    if isinstance(d, dict) and d.get("format") == KEYRING_FORMAT:
        return keys_by_id(load_keyring(path))
    k = d.get("key") if isinstance(d, dict) else None
    if isinstance(k, str) and len(k) == 64:
        try:
            key = bytes.fromhex(k)
        except ValueError:
            raise ValueError("key file %s: 'key' is not 64 hex digits" % path)
        return {key_id(key): key}
    raise ValueError("key file %s is neither a keyring, a device key.json, nor 64 hex digits" % path)


def default_keys():
    """{key_id: key} from the host keyring (empty if there is none)."""
    return keys_by_id(load_keyring(keyring_path()))
