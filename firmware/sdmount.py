# Mount the SD card without ever stopping the boot: a missing, unreadable or
# exFAT card leaves the camera buffering, with the reason kept for the boot
# line, `bodycam info` and the error LED. Shared by the ESP32 HAL and the
# virtual board's, so both turn the same OSError into the same report.
#
# What MicroPython 1.27 raises (read from its source, tag v1.27.0):
# - machine.SDCard(...) only sets up the host and slot; the card itself is
#   first talked to by the block protocol's ioctl INIT, which returns -1
#   when sdmmc_card_init fails (ports/esp32/machine_sdcard.c,
#   sdcard_ensure_card_init, machine_sdcard_ioctl). A bad slot/width/pin
#   combination raises ValueError in the constructor.
# - vfs.mount(card, path) -> VfsFat -> f_mount -> find_volume
#   (lib/oofatfs/ff.c): init failed -> FR_NOT_READY; a failed sector read ->
#   FR_DISK_ERR; no FAT boot record -> FR_NO_FILESYSTEM. extmod/vfs_fat.c
#   and vfs_fat_file.c's fresult_to_errno_table make these OSError(EBUSY=16),
#   OSError(EIO=5) and OSError(ENODEV=19) (the last from vfs_fat_mount, as
#   mount() never formats).
# - The port's FatFs has no exFAT: lib/oofatfs/ffconf.h sets FF_FS_EXFAT
#   from MICROPY_FATFS_EXFAT, which ports/esp32/mpconfigport.h never
#   defines, so check_fs() sees an exFAT boot sector as "not FAT" and the
#   mount fails with ENODEV. Cards of 64 GB and up are sold exFAT.
EBUSY = 16
EIO = 5
ENODEV = 19

# The AI-Thinker's button is on GPIO13, the SDMMC slot's DAT3 line. In
# 1-bit mode ESP-IDF never drives DAT3 (sdmmc_host_init_slot configures D3
# only for width >= 4; ports/esp32/machine_sdcard.c sets no pull on it), and
# an SD card that sees DAT3 (its CS in SPI mode) low at CMD0 goes into SPI
# mode and stays there until its power is cut (SD Physical Layer
# Simplified Specification, 7.2.1 "Mode Selection and Initialization"). A
# button held as the card is started would lock it out until a power
# cycle: the card is started only once the button is released.
DAT3_WAIT_MS = 10000  # how long the boot waits for the button to be let go

NO_CARD = "no_card"
UNREADABLE = "unreadable"
EXFAT = "exfat"
NOT_FAT = "not_fat"
SETUP = "sd_setup"
SPI_MODE = "spi_mode"

ADVICE = {
    NO_CARD: "no SD card answered: insert a card (FAT32) and reset the board",
    UNREADABLE: "the SD card cannot be read: reseat it or try another card, then reset the board",
    EXFAT: "the SD card is exFAT, which MicroPython cannot read: format it FAT32 "
           "(cards of 64 GB and up need a FAT32 formatter) and reset the board",
    NOT_FAT: "the SD card holds no FAT filesystem: format it FAT32 and reset the board",
    SETUP: "the SD card slot could not be set up: check the board profile's storage pins",
    SPI_MODE: "the SD card was started while the record button (GPIO13, the card's DAT3 line) was held "
              "down, which puts a card in SPI mode until its power is cut: release the button and "
              "power-cycle the board (a reset is not enough)",
}


def ok_status(kind, path):
    return {"ok": True, "kind": kind, "path": path}


def failed_status(reason, err):
    return {"ok": False, "kind": "sd", "path": None, "reason": reason,
            "error": _err_text(err), "advice": ADVICE[reason]}


def mount_sd(make_card, mount, mount_point="/sd", held=None):
    """make_card() -> block device (machine.SDCard or the virtual card);
    mount(dev, mount_point) is vfs.mount. held: what wait_released() found
    (the button on DAT3), or None. Returns a status dict: ok True and the
    clips path, or ok False with reason/error/advice. Never raises for a
    card problem."""
    st = _mount(make_card, mount, mount_point)
    if held is None:
        return st
    waited, still = held
    if still and not st["ok"] and st["reason"] in (NO_CARD, UNREADABLE):
        st = failed_status(SPI_MODE, st["error"])  # the button was still down as the card was started
    elif not st["ok"] and st["reason"] == NO_CARD:
        # a card held in SPI mode since an earlier start looks just like none
        st["advice"] += ("; if the record button was held down as the camera started, power-cycle "
                         "the board: the card waits in SPI mode until its power is cut")
    if waited:
        st["dat3_wait_ms"] = waited  # the boot waited for the button to be let go
    return st


def _mount(make_card, mount, mount_point):
    try:
        card = make_card()
    except (OSError, ValueError) as e:
        return failed_status(SETUP, e)
    try:
        mount(card, mount_point)
    except OSError as e:
        code = e.args[0] if e.args else None
        if code == EBUSY:
            return failed_status(NO_CARD, e)
        if code == ENODEV:
            return failed_status(EXFAT if is_exfat(card) else NOT_FAT, e)
        return failed_status(UNREADABLE, e)
    return ok_status("sd", mount_point + "/clips")


def dat3_pin(board):
    """The GPIO on the SD card's DAT3 line, where the board's wiring fixes
    it: the original ESP32's SDMMC slot 1 (IO_MUX: CLK 14, CMD 15, D0 2,
    D1 4, D2 12, D3 13); else None."""
    st = board.get("storage") or {}
    if st.get("kind") == "sd" and board.get("chip") == "esp32" and st.get("slot") == 1:
        return 13
    return None


def wait_released(is_pressed, ticks_ms, diff, sleep_ms, limit_ms=DAT3_WAIT_MS):
    """Wait (at most limit_ms) until the button on DAT3 is let go. Returns
    (ms waited, still pressed): (0, False) when it was not down."""
    if not is_pressed():
        return 0, False
    t0 = ticks_ms()
    while is_pressed():
        waited = diff(ticks_ms(), t0)
        if waited >= limit_ms:
            return waited, True
        sleep_ms(20)
    return diff(ticks_ms(), t0), False


def is_exfat(card):
    """True when sector 0, or the first MBR partition's first sector, is an
    exFAT boot sector ("\\xEB\\x76\\x90EXFAT   ", exFAT spec 3.1; the same
    check ff.c's check_fs makes when exFAT is built in)."""
    buf = bytearray(512)
    try:
        if card.readblocks(0, buf) is False:
            return False
        if _exfat_vbr(buf):
            return True
        if buf[510] != 0x55 or buf[511] != 0xAA:
            return False
        lba = buf[454] | buf[455] << 8 | buf[456] << 16 | buf[457] << 24  # partition 1 start
        if not lba or card.readblocks(lba, buf) is False:
            return False
        return _exfat_vbr(buf)
    except Exception:
        return False


def _exfat_vbr(b):
    return bytes(b[0:11]) == b"\xEB\x76\x90EXFAT   " and b[510] == 0x55 and b[511] == 0xAA


def _err_text(e):
    if isinstance(e, OSError) and e.args and isinstance(e.args[0], int):
        names = {EBUSY: "EBUSY", EIO: "EIO", ENODEV: "ENODEV"}
        return "OSError(%d%s)" % (e.args[0], (" " + names[e.args[0]]) if e.args[0] in names else "")
    return "%s(%s)" % (type(e).__name__, e)
