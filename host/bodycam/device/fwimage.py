"""Which MicroPython firmware image a board gets, and getting it: from
--image, or the camera-enabled build named in images.json, downloaded
once into the user's cache and checked (pinned SHA-256 when there is one,
always esptool's image parser for the board's chip) before anything is
written to a board."""
import io
import json
import os
import urllib.error
import urllib.request
import zipfile

from bodycam.device.appimage import validate_image_bytes
from bodycam.cli import UserError
from bodycam.evidence.hashing import sha256_file  # noqa: F401 (used here and by tests)

CATALOGUE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "images.json")
DOWNLOAD_TIMEOUT_S = 30


class ImageError(UserError):
    pass


def catalogue():
    with open(CATALOGUE) as f:
        return json.load(f)


def entry(board_id):
    c = catalogue()
    if board_id not in c:
        raise ImageError("no firmware image is known for board '%s': pass one with --image FILE" % board_id)
    return c[board_id]


def cache_dir():
    """$BODYCAM_CACHE, else $XDG_CACHE_HOME/bodycam, else ~/.cache/bodycam."""
    d = os.environ.get("BODYCAM_CACHE")
    if not d:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        d = os.path.join(base, "bodycam")
    return os.path.join(d, "images")


def read_image(path, member="firmware.bin"):
    """The firmware bytes in `path`: a release zip (its `member`, or its
    only .bin) or a raw .bin."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ImageError("cannot read image %s: %s" % (path, e.strerror or e))
    if data[:4] != b"PK\x03\x04":
        return data
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
            if member not in names:
                bins = [n for n in names if n.endswith(".bin")]
                if len(bins) != 1:
                    raise ImageError("%s holds no %s (it has: %s)" % (path, member, ", ".join(names) or "nothing"))
                member = bins[0]
            return z.read(member)
    except zipfile.BadZipFile as e:
        raise ImageError("%s is a damaged zip file (%s): delete it and download it again" % (path, e))


def download(url, dest):
    """Fetch url into dest through a .part file, so an interrupted download
    never looks like a finished one."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    part = dest + ".part"
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as r, open(part, "wb") as f:
            while True:
                chunk = r.read(1 << 16)
                if not chunk:
                    break
                f.write(chunk)
        os.replace(part, dest)
    finally:
        if os.path.exists(part):
            os.remove(part)


def cached_asset(board_id, allow_download=True, log=print):
    """Path of the board's release asset in the cache, downloading it the
    first time. Raises ImageError saying what to fetch and where to put it
    when it cannot be downloaded."""
    e = entry(board_id)
    path = os.path.join(cache_dir(), e["asset"])
    if not os.path.exists(path):
        how = ("Download %s\n  and save it as %s\n  (or pass any firmware file with --image FILE)" % (e["url"], path))
        if not allow_download:
            raise ImageError("the firmware image for %s is not in the cache.\n  %s" % (board_id, how))
        log("downloading %s ..." % e["url"])
        try:
            download(e["url"], path)
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", None) or err
            raise ImageError("could not download the firmware image for %s (%s).\n  %s" % (board_id, reason, how))
    return path, e


def resolve(board, image=None, allow_download=True, log=print):
    """(firmware bytes, where they came from) for `board` (a loaded profile),
    checked: the pinned SHA-256 when the catalogue has one, and always a
    valid image for the board's chip (bootloader, partition table, app) as
    it will sit at the profile's flash offset."""
    if image:
        data = read_image(image)
        source = image
    else:
        path, e = cached_asset(board["id"], allow_download, log)
        pinned = e.get("sha256")
        if pinned:
            got = sha256_file(path)
            if got != pinned:
                raise ImageError("%s has SHA-256 %s, not the pinned %s: it is not the expected release asset. "
                                 "Delete it and download it again (or check the URL in images.json)" % (path, got, pinned))
        else:
            log("note: no SHA-256 is pinned for %s yet; checking it is a valid %s image instead"
                % (e["asset"], board["chip"]))
        data = read_image(path, e.get("member", "firmware.bin"))
        source = path
    ok, why = validate_image_bytes(data, board["flash_offset_int"], board["chip"])
    if not ok:
        raise ImageError("%s is not a bootable %s firmware for board %s: %s" % (source, board["chip"], board["id"], why))
    return data, source, why
