"""What an ESP32-CAM's storage costs, for the virtual board: SD card
profiles and the SPI flash chip, as numbers the board-side block devices
(firmware/vboard_bdev.py) charge in board time. Every figure names its
source; docs/virtual-board.md has the table.

How MicroPython reaches the card on an ESP32 with PSRAM (all our boards):
the GC heap lives in PSRAM (ports/esp32/main.c v1.27.0 takes it with
malloc, and boards/sdkconfig.spiram sets CONFIG_SPIRAM_USE_MALLOC with an
8 KiB always-internal threshold, below the 56 KiB initial heap), so every
buffer VfsFat hands to machine.SDCard.writeblocks is external RAM.
ESP-IDF's sdmmc_write_sectors / sdmmc_read_sectors
(components/sdmmc/sdmmc_cmd.c) then cannot DMA from it
(SOC_SDMMC_PSRAM_DMA_CAPABLE is 0 on the ESP32 and ESP32-S3): they copy
through a 512-byte DMA bounce buffer and issue one single-block command per
sector. So a write of k sectors costs k x (command + transfer + the card's
single-block program time), not one multi-block transfer. FatFs in
MicroPython is built with FF_FS_TINY=1 (lib/oofatfs/ffconf.h v1.27.0): a
file's partial last sector shares the volume window with the FAT and the
directory, so after a sync has written a part-filled sector, the next write
to it reads it back first (read-modify-write). The unix port runs the same
FatFs, so the virtual card sees exactly those reads and writes; the block
device only has to charge for them."""
from bodycam.sim.errors import SimError

# Per profile: bytes/s on the bus (board time), a command's overhead, the
# card's program time after a single-block write, and write stalls (the SD
# spec lets an SDHC card hold busy up to 250 ms, SDXC 500 ms).
CARDS = {
    # A good card in 4-bit SDIO: atomic14/esp32-sdcard-msc measured 2.34 MB/s
    # raw sector writes over 4-bit SDIO at 40 MHz (ESP32-S3);
    # espressif/arduino-esp32 #12027 3.66 MB/s sequential reads.
    "fast": {"write_Bps": 2340000, "read_Bps": 3660000, "cmd_us": 100, "program_us": 400,
             "stall_ms": 50, "stall_every_bytes": 8 << 20},
    # The AI-Thinker's 1-bit SDIO with an ordinary card: ~1 MB/s (atomic14
    # 1.01 MB/s over SPI; C recorders 0.45-1.5 MB/s in 1-bit mode, see
    # /work/shared/reference). Single-block writes from PSRAM ~5x slower
    # than from an internal staging buffer (espressif/esp32-camera #182):
    # 512 B per ~2.5 ms, i.e. ~0.2 MB/s through MicroPython.
    "typical": {"write_Bps": 1000000, "read_Bps": 1500000, "cmd_us": 200, "program_us": 1800,
                "stall_ms": 100, "stall_every_bytes": 2 << 20},
    # An old or cheap card at the bottom of the measured range (0.3 MB/s
    # sequential), stalling for the SD spec's 250 ms SDHC busy limit.
    "slow": {"write_Bps": 300000, "read_Bps": 600000, "cmd_us": 400, "program_us": 4000,
             "stall_ms": 250, "stall_every_bytes": 1 << 20},
    # The host's disk: writes cost nothing (tests that need raw speed).
    "host": None,
}
DEFAULT_CARD = "typical"

# The SPI NOR flash (boards that keep clips in flash): a 4 KiB sector erase
# 45 ms, a 256-byte page program 0.7 ms, reads at ~10 MB/s (Winbond
# W25Q32JV/W25Q64JV datasheets, typical tSE and tPP; 40 MHz DIO read).
FLASH = {"erase_us": 45000, "page_program_us": 700, "page_bytes": 256, "read_Bps": 10000000}

SECTOR = 512


def card_profile(name):
    """The cost numbers of card `name` (None for "host"), or SimError
    naming the known ones."""
    if name not in CARDS:
        raise SimError("unknown card %r: use one of %s" % (name, ", ".join(sorted(CARDS))))
    p = CARDS[name]
    return dict(p, name=name) if p else None


def sector_write_us(p):
    """Board us to write one 512-byte sector from PSRAM (bounced)."""
    return p["cmd_us"] + SECTOR * 1000000 // p["write_Bps"] + p["program_us"]


def effective_write_Bps(p):
    """Sustained write rate through MicroPython (bounced, one sector per
    command), stalls averaged in."""
    per_byte_us = sector_write_us(p) / SECTOR + p["stall_ms"] * 1000.0 / p["stall_every_bytes"]
    return int(1000000 / per_byte_us)


# What a flash board really sustains: the highest whole frame rate whose
# clip passes `bodycam check` (mean >= 95 %, no 1 s window short by more
# than 2 frames, no gap over 3 intervals), recorded on the virtual M5Stack
# Timer Camera (real littlefs through VfsLfs2 on the flash model above,
# esp32 CPU, quality 85, 2 s pre-roll then 8 s live; bench/flash_fps.py).
# Far below the chip's raw 73 KB/s: littlefs is copy-on-write, so each
# append after a sync copies the file's last block (another erase), and
# while the flash is written or erased the caches are off and both cores
# wait (ESP-IDF "Concurrency Constraints for flash on SPI1": all non-IRAM
# code and interrupts stop; the camera's task is parked, camdriver.py).
# Measured (ok / fails): QVGA 2 / 3 (3 passed once, then gave 2.70 fps on
# a loaded machine: not promised), HQVGA 3 once / 4, CIF 2 / 3, HVGA 1 / 2,
# VGA 1 / 2, SVGA 1 / 2, XGA 1, HD fails at 1 (0.91 fps). HQVGA, QQVGA and
# QCIF (frames no bigger than QVGA's) are taken as QVGA.
FLASH_FPS = {"QQVGA": 2, "QCIF": 2, "HQVGA": 2, "QVGA": 2, "CIF": 2, "HVGA": 1, "VGA": 1, "SVGA": 1,
             "XGA": 1, "HD": 0, "SXGA": 0, "UXGA": 0}
FLASH_FPS_QUALITY = 85


def flash_sustained_fps(framesize, quality=FLASH_FPS_QUALITY):
    """Whole frames per second a flash-storage board keeps recording at
    (FLASH_FPS). A finer quality makes bigger frames: fewer fps, in
    proportion to the size (settings.qs_size_factor); a coarser one is not
    credited with more than was measured."""
    from bodycam.resources import shared
    s = shared("settings")
    fps = FLASH_FPS[framesize]
    grow = s.qs_size_factor(s.driver_qs(quality)) / s.qs_size_factor(s.driver_qs(FLASH_FPS_QUALITY))
    return int(fps / grow) if grow > 1 else fps


def flash_write_Bps(f=FLASH):
    """Sustained write rate to the SPI flash: each 4 KiB erased, then
    programmed a page at a time (littlefs writes whole blocks on average)."""
    us = f["erase_us"] + (4096 // f["page_bytes"]) * f["page_program_us"]
    return 4096 * 1000000 // us


# Bytes that reach the card per byte of video: FAT, directory, the index
# and frame-time files, syncs (measured on the virtual board: 2.57 MB
# written for a 2.32 MB clip).
FILE_OVERHEAD = 1.1
# The writer shares the loop with capture: it may use this much of the
# card's rate for the recording to be sustained with room to drain a backlog.
SUSTAIN_SHARE = 0.8
# While the pre-roll goes to the card the writer runs back to back (firmware/
# app.py shares each frame interval with the capture): measured on the
# virtual board (bench/press.py, esp32 CPU, 2026-12-01) the pre-roll took
# 1.10-1.12x the card's own time for its bytes on the fast, typical and
# slow cards, i.e. FILE_OVERHEAD at ~97 % of the card's time.
PREROLL_SHARE = 0.97


def storage_plan(board, p, card, quality=FLASH_FPS_QUALITY):
    """Does the storage keep up with plan `p` (settings.plan), and how soon
    is the pre-roll on it after a press? `card` is a profile name (SD
    boards; flash boards use the flash chip's numbers and the frame rate
    they were measured to sustain, FLASH_FPS)."""
    frame = p["typical_frame_bytes"]
    need = frame * p["fps"] * FILE_OVERHEAD
    pre = frame * p["fps"] * p["preroll_s"]
    if board["storage"]["kind"] == "flash":
        medium, rate = "internal flash", flash_write_Bps()
    else:
        prof = card_profile(card)
        medium = "SD card (%s)" % card
        rate = effective_write_Bps(prof) if prof else None
    out = {"card": card, "medium": medium, "write_Bps": rate, "need_Bps": int(need), "preroll_bytes": pre}
    if rate is None:  # the host's disk: free
        out.update(sustains=True, preroll_to_card_s=0.0, preroll_target_s=0.5, catch_up_s=0.0)
        return out
    out["sustains"] = need <= SUSTAIN_SHARE * rate
    out["load"] = round(need / rate, 3)
    if board["storage"]["kind"] == "flash":
        out["sustained_fps"] = flash_sustained_fps(p["framesize"], quality)
        out["sustains"] = out["sustains"] and p["fps"] <= out["sustained_fps"]
    out["preroll_to_card_s"] = round(pre * FILE_OVERHEAD / (PREROLL_SHARE * rate), 2)
    out["preroll_target_s"] = round(pre / float(rate) + 0.5, 2)
    # until the writer has caught up with live frames too (the ring holds them meanwhile)
    spare = SUSTAIN_SHARE * rate - need
    out["catch_up_s"] = round(pre * FILE_OVERHEAD / spare, 1) if spare > 0 else None
    return out
