"""Writing MicroPython to a board with esptool (as a library): connect,
check the chip is the one the board profile names, erase, write at the
profile's offset, check the flash's MD5 against the image, reset into the
new firmware. The image is checked (fwimage) before this runs, so a
wrong or damaged file never reaches the board. esptool's progress bars
follow bodycam.progress's convention (one line redrawn on a terminal, a
line per 10 % elsewhere) instead of a line per 1 KB block in a log."""
import contextlib
import hashlib
import sys
import time

from bodycam.cli import UserError
from bodycam.progress import Progress

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
          connect_attempts=7, log=print, progress=True):
    """Flash `image` (bytes) for `board` (a loaded profile) on `port`.
    stub: True/False, or None to use esptool's stub except on the virtual
    board. progress: show esptool's progress (on stderr) the bodycam way;
    False: not at all. Returns a report dict."""
    with esptool_progress(sys.stderr if progress else None):
        return _flash(port, board, image, baud, stub, erase, before, connect_attempts, log)


def _flash(port, board, image, baud, stub, erase, before, connect_attempts, log):
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


@contextlib.contextmanager
def esptool_progress(stream):
    """While it runs, esptool's progress bars become bodycam.progress lines
    on `stream` (None: dropped); everything else esptool says goes on as
    before. esptool >= 5 with esp-pylib: through its documented custom
    logger hook (esptool.logger.TemplateLogger, log.set_logger); an older
    esptool keeps its own output."""
    try:
        from esp_pylib.logger import EspLog
        from esptool.logger import TemplateLogger, log
    except ImportError:
        yield
        return

    class Bars(TemplateLogger):
        def __init__(self, inner):
            self.inner = inner
            self.bar = None

        def print(self, *args, **kwargs):
            if self.bar is not None:
                self.bar.clear()
            self.inner.print(*args, **kwargs)

        def note(self, message):
            self.inner.note(message)

        def warning(self, message):
            self.inner.warn(message)

        def error(self, message):
            self.inner.err(message)

        # esp-pylib's names, so its suggestions and verbose-only debug
        # output keep their meaning
        def warn(self, message, suggestion=None):
            self.inner.warn(message, suggestion=suggestion)

        def err(self, message, suggestion=None):
            self.inner.err(message, suggestion=suggestion)

        def debug(self, *args):
            self.inner.debug(*args)

        def stage(self, finish=False):
            self.inner.stage(finish=finish)

        def set_verbosity(self, verbosity):
            self.inner.set_verbosity(verbosity)

        def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
            if stream is None:
                return
            # "Writing at 0x00012000": the address changes with every block.
            what = prefix.split(" at ")[0].strip() or "esptool"
            b = self.bar
            if b is None or b.total != total_iters or cur_iter < b.done or b.name != what:
                self.end()
                # esptool's byte counts read "1.00kB/63.94kB"; others "3/5".
                self.bar = Progress(total_iters, stream=stream, name=what, unit="B" if "B/" in suffix else "steps")
            self.bar.update(cur_iter)
            if cur_iter >= total_iters:
                self.end()

        def end(self):
            if self.bar is not None:
                self.bar.finish()
                self.bar = None

    inner = EspLog.instance
    bars = Bars(inner)
    log.set_logger(bars)
    try:
        yield
    finally:
        bars.end()
        EspLog.instance = inner


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
