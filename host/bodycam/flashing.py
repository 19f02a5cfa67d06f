"""Writing MicroPython to a board with esptool (as a library): connect,
check the chip is the one the board profile names, erase, write at the
profile's offset, check the flash's MD5 against the image, reset into the
new firmware. The image is checked (fwimage) before this runs, so a
wrong or damaged file never reaches the board."""
import hashlib
import time

from bodycam.cli import UserError

ROM_BAUD = 115200


class FlashError(UserError):
    pass


def chip_key(chip_name):
    """esptool's CHIP_NAME ('ESP32-S3') as a profile's chip ('esp32s3')."""
    return chip_name.lower().replace("-", "")


def is_virtual(mac):
    """A base MAC with the locally-administered bit set is not a factory
    eFuse MAC: it is the virtual board (bodycam.sim), which cannot run the
    esptool stub."""
    return bool(mac and mac[0] & 0x02)


def flash(port, board, image, baud=460800, stub=None, erase=True, before="default-reset",
          connect_attempts=7, log=print):
    """Flash `image` (bytes) for `board` (a loaded profile) on `port`.
    stub: True/False, or None to use esptool's stub except on the virtual
    board. Returns a report dict."""
    from esptool import cmds
    from esptool.util import FatalError

    offset = board["flash_offset_int"]
    t0 = time.monotonic()
    try:
        esp = cmds.detect_chip(port, ROM_BAUD, before, connect_attempts=connect_attempts)
    except (FatalError, OSError) as e:
        raise FlashError("no ESP32 bootloader answered on %s: %s\n  Check the port, and that the board can enter "
                         "download mode (IO0 low at reset: the ESP32-CAM-MB does it through DTR; otherwise hold "
                         "IO0/BOOT to GND and press reset)." % (port, _short(e)))
    report = {"port": port, "offset": offset, "bytes": len(image)}
    try:
        _steady_timeout(esp)
        chip = chip_key(esp.CHIP_NAME)
        report["chip"] = chip
        report["description"] = esp.get_chip_description()
        if chip != board["chip"]:
            raise FlashError("the board on %s is an %s, but profile '%s' is for an %s: nothing was written. "
                             "Pick the right --board." % (port, esp.CHIP_NAME, board["id"], board["chip"].upper()))
        mac = esp.read_mac()
        virtual = is_virtual(mac)
        use_stub = (not virtual) if stub is None else stub
        report["virtual"] = virtual
        if virtual and stub is None:
            log("virtual board (MAC %s): using the ROM loader without esptool's stub" % _mac(mac))
        if use_stub:
            esp = cmds.run_stub(esp)
        report["stub"] = bool(esp.IS_STUB)
        if baud and baud != ROM_BAUD:
            esp.change_baud(baud)
        report["baud"] = baud or ROM_BAUD
        cmds.attach_flash(esp)
        size = _flash_size(cmds, esp)
        report["flash_size"] = size
        if size and offset + len(image) > size:
            raise FlashError("the image (%d bytes at 0x%x) does not fit this board's %d MB flash"
                             % (len(image), offset, size >> 20))
        if erase:
            if esp.IS_STUB:
                cmds.erase_flash(esp)
            else:
                # The ROM has no chip erase; esptool erases a region through
                # FLASH_BEGIN, which erases as it starts.
                cmds.erase_region(esp, 0, size or 4 << 20)
        cmds.write_flash(esp, [(offset, image)], flash_size="keep")
        # esptool checked the MD5 itself; check it once more here, so the
        # report rests on a read of the flash and not on a log line.
        got = esp.flash_md5sum(offset, len(image))
        want = hashlib.md5(image).hexdigest()
        if got != want:
            raise FlashError("verify failed: flash MD5 %s != image MD5 %s at 0x%x; run bodycam flash again"
                             % (got, want, offset))
        report["md5"] = want
        report["seconds"] = round(time.monotonic() - t0, 2)
        cmds.reset_chip(esp, "hard-reset")
    except (FatalError, OSError) as e:  # OSError: pyserial's SerialException, a lost port
        raise FlashError("flashing failed: %s\n  The board is not running a complete image; run bodycam flash "
                         "again (it erases and rewrites everything)." % _short(e))
    finally:
        try:
            esp._port.close()
        except OSError:
            pass
    return report


def _steady_timeout(esp):
    """esptool sets the port's timeout to each command's (3 s for most) and
    back afterwards. Over RFC 2217 (remote boards, the virtual board)
    pyserial renegotiates the port settings on every timeout change, a
    round trip plus >= 50 ms sleep each: ~200 ms per command. Leaving the
    port at the usual command timeout skips both changes for most
    commands (measured on the virtual board: 0.3 s -> 0.03 s per 1 KB
    block)."""
    from esptool.loader import DEFAULT_TIMEOUT
    esp._port.timeout = DEFAULT_TIMEOUT


def _flash_size(cmds, esp):
    from esptool.util import flash_size_bytes
    try:
        return flash_size_bytes(cmds.detect_flash_size(esp))
    except Exception:  # unknown JEDEC id: esptool then assumes 4 MB too
        return None


def _mac(mac):
    return ":".join("%02x" % b for b in mac)


def _short(e):
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
