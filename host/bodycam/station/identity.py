"""Which camera is on a port: its device id.

The dock's info reply (firmware/dock.py cmd_info) names the board and the
firmware but carries no MAC and no device id. The id the station files
clips under is the one `bodycam deploy` provisions with the device key
(host/bodycam/evidence/keys.py: key.json {"device": "bc-1a2b3c4d", "key": ...}),
which the firmware writes into every boot entry of its audit log
(firmware/evidence.py attach: "device", "key_id") and every sealed
manifest. So it is read from the newest boot entry at the end of
AUDIT.LOG over the dock, a few KB at the boot baud. If a future dock
reports "device" in its info, that is used instead.

A camera with no device key has no id and is refused: its clips could
not be told from another unprovisioned camera's, and they stay on it."""
import json
import re

from bodycam.offload.client import DockError

AUDIT_NAME = "AUDIT.LOG"
FIRST_TAIL = 4096
MAX_TAIL = 1 << 20
_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class NoDeviceId(DockError):
    """The camera has no usable device id; the message says what to do."""


def _boot_ids(text):
    """(device, key_id) of the last whole boot entry in `text`, or None."""
    found = None
    for line in text.split(b"\n"):
        if b'"k":"boot"' not in line:
            continue
        try:
            e = json.loads(line)
        except (ValueError, UnicodeError):
            continue  # the torn first line of the tail, or a torn entry
        if isinstance(e, dict) and e.get("k") == "boot":
            d = e.get("d") or {}
            found = (d.get("device"), d.get("key_id"))
    return found


def read_tail(client, entry, n):
    """The last n bytes of a device file (the dock reads to the listed end)."""
    out = bytearray()
    start = max(0, entry["size"] - n)
    client.read_file(entry["name"], entry["size"], start, out.extend)
    return bytes(out), start


def device_id(client, info=None, files=None):
    """The camera's device id: info["device"] if the dock reports one, else
    the device id of the newest boot entry of its audit log ("key-<key id>"
    when the key file names no device). Raises NoDeviceId when there is none."""
    info = info if info is not None else (client.info_cache or client.info())
    if isinstance(info.get("device"), str) and _ID_RE.match(info["device"]):
        return info["device"]
    files = files if files is not None else client.list()
    log = next((e for e in files if e["name"] == AUDIT_NAME), None)
    if log is None or not log["size"]:
        raise NoDeviceId("the camera on %s has no audit log (%s), so it names no device id: is its SD card "
                         "in, and was it set up with `bodycam deploy`? Its clips stay on it" % (client.name, AUDIT_NAME))
    n = FIRST_TAIL
    while True:
        for attempt in range(3):
            try:
                tail, start = read_tail(client, log, n)
                break
            except DockError as err:
                if "list again" not in str(err) or attempt == 2:
                    raise
                # It grew (the camera logged something) between list and read.
                log = next(e for e in client.list() if e["name"] == AUDIT_NAME)
        ids = _boot_ids(tail)
        if ids is not None or start == 0 or n >= MAX_TAIL:
            break
        n *= 4
    if ids is None:
        raise NoDeviceId("no boot entry in the last %d bytes of the audit log of the camera on %s: cannot tell "
                         "which device it is; its clips stay on it" % (len(tail), client.name))
    device, kid = ids
    if isinstance(device, str) and _ID_RE.match(device):
        return device
    if isinstance(kid, str) and _ID_RE.match(kid):
        return "key-" + kid
    raise NoDeviceId("the camera on %s has no device key, so it has no device id and its clips are unsigned: "
                     "provision one with `bodycam deploy --port %s`. Its clips stay on it" % (client.name, client.name))
