"""Is this a bootable ESP32-family firmware? Checks an image the way
`esptool image-info` judges it (esptool's own parser), and follows a merged
MicroPython build's partition table to the app it would boot. Used before
flashing (nothing is written unless the image passes) and by the virtual
board before it "boots" what was flashed."""
import struct

from esptool.bin_image import LoadFirmwareImage
from esptool.targets import CHIP_DEFS

MIB = 1024 * 1024
PARTITION_TABLE_OFFSET = 0x8000
PARTITION_MAGIC = b"\xaa\x50"
APP_TYPE = 0x00
FACTORY, OTA_0 = 0x00, 0x10


def image_chip(data):
    """The chip an ESP32-family image is built for (its extended header's
    chip id), or None when the bytes are not such an image."""
    if len(data) < 24 or data[0] != 0xE9:
        return None
    chip_id = struct.unpack("<H", data[12:14])[0]
    for name, cls in CHIP_DEFS.items():
        if name != "esp8266" and getattr(cls, "IMAGE_CHIP_ID", None) == chip_id:
            return name
    return None


def check_image(data, chip=None):
    """(ok, message, chip found) for one app or bootloader image: magic,
    chip, segments, checksum and the appended SHA-256 when present."""
    found = image_chip(data)
    if found is None:
        if not data or data[:1] == b"\xff":
            return False, "erased flash (0xFF), no image", None
        return False, "not an ESP32-family image (first byte 0x%02x, not 0xe9)" % data[0], None
    if chip is not None and found != chip:
        return False, "image is built for %s, not %s" % (found, chip), found
    try:
        img = LoadFirmwareImage(found, data)
    except Exception as e:  # esptool raises FatalError, struct.error, IndexError...
        return False, "%s image does not parse: %s" % (found, e), found
    calc = img.calculate_checksum()
    if img.checksum != calc:
        return False, "%s image checksum invalid (stored 0x%02x, calculated 0x%02x)" % (found, img.checksum, calc), found
    if getattr(img, "append_digest", False) and img.stored_digest != img.calc_digest:
        return False, "%s image SHA-256 digest invalid" % found, found
    return True, "valid %s image, %d segments, entry 0x%08x, %d bytes" % (
        found, len(img.segments), img.entrypoint, img.data_length or 0), found


def partitions(table):
    """Entries of an ESP-IDF partition table: dicts with type, subtype,
    offset, size, label. Stops at the first row that is not an entry (the
    MD5 row, erased flash)."""
    out = []
    for i in range(0, len(table) - 31, 32):
        row = table[i:i + 32]
        if row[:2] != PARTITION_MAGIC:
            break
        ptype, sub, off, size = struct.unpack("<BBII", row[2:12])
        out.append({"type": ptype, "subtype": sub, "offset": off, "size": size,
                    "label": row[12:28].rstrip(b"\x00").decode("ascii", "replace")})
    return out


def validate_boot(read, offset, chip=None):
    """Would the chip boot from this flash? read(addr, n) returns flash
    bytes. The image at `offset` (on a merged MicroPython build: the
    second-stage bootloader) must be valid; when a partition table sits at
    0x8000, the app it boots (factory, else ota_0) must be valid too.
    Returns (ok, message)."""
    head_len = PARTITION_TABLE_OFFSET - offset if offset < PARTITION_TABLE_OFFSET else 4 * MIB
    ok, msg, found = check_image(read(offset, head_len), chip)
    lines = ["at 0x%x: %s" % (offset, msg)]
    if not ok or offset >= PARTITION_TABLE_OFFSET:
        return ok, "; ".join(lines)
    table = partitions(read(PARTITION_TABLE_OFFSET, 0xC00))
    if not table:
        lines.append("no partition table at 0x%x (checked the image at the offset only)" % PARTITION_TABLE_OFFSET)
        return True, "; ".join(lines)
    apps = [p for p in table if p["type"] == APP_TYPE]
    boot = next((p for p in apps if p["subtype"] == FACTORY), None) or \
        next((p for p in apps if p["subtype"] == OTA_0), None)
    if boot is None:
        return False, "; ".join(lines + ["the partition table at 0x8000 lists no factory or ota_0 app"])
    ok, msg, _ = check_image(read(boot["offset"], boot["size"]), found)
    lines.append("app '%s' at 0x%x: %s" % (boot["label"], boot["offset"], msg))
    return ok, "; ".join(lines)


def validate_app_image(flash_path, offset, chip=None):
    """validate_boot over a flash image file (the virtual board's flash)."""
    with open(flash_path, "rb") as f:
        def read(addr, n):
            f.seek(addr)
            return f.read(n)
        return validate_boot(read, offset, chip)


def validate_image_bytes(data, offset, chip=None):
    """validate_boot over an image file's bytes as they would sit in flash
    from `offset` on (erased flash elsewhere)."""
    def read(addr, n):
        lo = addr - offset
        if lo < 0:
            return b"\xff" * n
        return data[lo:lo + n]
    return validate_boot(read, offset, chip)
