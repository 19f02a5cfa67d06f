# Virtual board only: block devices over image files, so VfsFat and VfsLfs2
# mount the virtual SD card and the virtual SPI flash the way they mount
# machine.SDCard and esp32.Partition on the real board. Writes go straight
# to the file (MicroPython's unix files are unbuffered), so a power cut
# (SIGKILL) keeps exactly what reached the "card", like real storage.
#
# Each op also costs what it costs on the ESP32, in board time (`cost`, a
# profile from host/bodycam/sim/costs.py; None: free, the host's disk).
# The write happens first, then the chip is held busy: a power cut during
# the hold keeps the write, as a card that had taken the data would.


import struct
from time import ticks_us as _ticks_us


class Costs:
    """Charges block-device ops: bt.spend(board_us) holds the chip busy;
    cpu (or None) times the op so its own host time is not charged as the
    firmware's CPU (vboard_costs.Cpu.io_begin/io_end)."""

    def __init__(self, cost, bt, cpu=None):
        self.c = cost  # None: the op is free (the "host" card), only the CPU bracket counts
        self.bt = bt
        self.cpu = cpu
        self.stalls = 0
        self.stall_ms_total = 0
        self.ops = 0
        self.busy_us = 0
        self.wbytes = 0
        self.rbytes = 0
        self._rnd = 12345  # stalls come at pseudo-random, repeatable places
        self._to_stall = self._next_gap()

    def _next_gap(self):
        every = (self.c or {}).get("stall_every_bytes") or 0
        if not every:
            return -1
        self._rnd = (self._rnd * 1103515245 + 12345) & 0x7FFFFFFF
        return every // 2 + self._rnd % every  # mean `every`

    def leave(self, us, t0):
        """The op that began at wall ticks_us t0 is done: hold the chip for
        its us, and tell the CPU model how long the op's own Python took."""
        self.ops += 1
        self.busy_us += us
        bt = self.bt
        h0, s0 = bt.holds, bt.slept_us
        cpu = self.cpu
        bt.spend(us, cpu is None or cpu.io_hold())
        if cpu:
            cpu.io_end(t0, h0, s0)

    def sd_write(self, nbytes):
        c = self.c
        self.wbytes += nbytes
        if c is None:
            return 0
        # PSRAM source: ESP-IDF's sdmmc_write_sectors bounces it one sector
        # per single-block command (components/sdmmc/sdmmc_cmd.c).
        sectors = nbytes // 512
        us = sectors * (c["cmd_us"] + 512 * 1000000 // c["write_Bps"] + c["program_us"])
        if self._to_stall >= 0:
            self._to_stall -= nbytes
            if self._to_stall < 0:
                # the card holds busy doing its housekeeping (SD spec: up to 250 ms, SDHC)
                us += c["stall_ms"] * 1000
                self.stalls += 1
                self.stall_ms_total += c["stall_ms"]
                self._to_stall = self._next_gap()
        return us

    def sd_read(self, nbytes):
        c = self.c
        self.rbytes += nbytes
        if c is None:
            return 0
        sectors = nbytes // 512
        return sectors * (c["cmd_us"] + 512 * 1000000 // c["read_Bps"])

    def flash_read(self, nbytes):
        if self.c is None:
            return 0
        return nbytes * 1000000 // self.c["read_Bps"]

    def flash_program(self, nbytes):
        if self.c is None:
            return 0
        pb = self.c["page_bytes"]
        return (nbytes + pb - 1) // pb * self.c["page_program_us"]

    def flash_erase(self):
        if self.c is None:
            return 0
        return self.c["erase_us"]


class CardImage:
    """An SD card: 512-byte sectors, the simple block protocol VfsFat uses."""

    SECTOR = 512

    def __init__(self, f, costs=None, journal=None):
        self.f = f  # an open "r+b" file: opened before the host's root is unmounted
        f.seek(0, 2)
        self.blocks = f.tell() // self.SECTOR
        self.costs = costs
        # (file, board_us()) or None: every write is also appended there
        # with the board time it was done (host/bodycam/sim/cardjournal.py),
        # so a test can see the card as a power cut at any moment would
        # have left it.
        self.journal = journal
        self._jh = bytearray(16)
        # (pin, send) when the board's wiring puts a GPIO on the card's
        # DAT3 line: an SD card that sees DAT3 (its chip select in SPI
        # mode) low at CMD0 goes into SPI mode and answers nothing in SD
        # mode until its power is cut (SD Physical Layer Simplified
        # Specification 7.2.1); send tells the simulator, which keeps it so
        # across resets until power_cut().
        self.dat3 = None
        self.spi_mode = False

    def readblocks(self, n, buf):
        if self.spi_mode:
            return False  # (machine.SDCard.readblocks: False when the card does not answer)
        t0 = _ticks_us()  # first: the op's whole Python is the virtual board's
        c = self.costs
        self.f.seek(n * self.SECTOR)
        self.f.readinto(buf)
        if c:
            c.leave(c.sd_read(len(buf)), t0)

    def writeblocks(self, n, buf):
        if self.spi_mode:
            return False
        t0 = _ticks_us()
        c = self.costs
        self.f.seek(n * self.SECTOR)
        self.f.write(buf)
        if c:
            c.leave(c.sd_write(len(buf)), t0)
        if self.journal:
            self._record(n, buf)

    def _record(self, n, buf):
        # Done when the card's time for it has passed (held now, or owed
        # and held at the next HAL call): a cut before then loses it.
        f, board_us = self.journal
        done = board_us() + (self.costs.bt.owed_us if self.costs else 0)
        struct.pack_into("<QII", self._jh, 0, done, n, len(buf))
        f.write(self._jh)
        f.write(buf)

    def ioctl(self, op, arg):
        if op == 1 and self.dat3 is not None and not self.spi_mode:  # INIT: CMD0
            pin, send = self.dat3
            if pin.value() == 0:
                self.spi_mode = True
                send({"op": "sd_spi_mode"})
        if self.spi_mode:
            return 0 if op in (2, 3) else -1  # as an empty slot: sdmmc_card_init fails
        if op == 4:  # block count
            return self.blocks
        if op == 5:  # block size
            return self.SECTOR
        return 0  # init, deinit, sync: nothing is cached here


class NoCard:
    """An empty SD slot, as machine.SDCard sees it (MicroPython 1.27
    ports/esp32/machine_sdcard.c): the constructor succeeds, ioctl INIT
    returns -1 (sdmmc_card_init failed) and reads return False, so
    vfs.mount fails with FatFs's FR_NOT_READY: OSError(16, EBUSY)."""

    def readblocks(self, n, buf):
        return False

    def writeblocks(self, n, buf):
        return False

    def ioctl(self, op, arg):
        return 0 if op in (2, 3) else -1  # deinit, sync succeed; init, sizes fail


class UnreadableCard(CardImage):
    """A card that answers but whose sectors cannot be read (bad contacts,
    a dying card). On the ESP32 machine.SDCard.readblocks returns False and
    1.27's FatFs turns that into FR_DISK_ERR, OSError(5, EIO), at mount
    (lib/oofatfs/ff.c find_volume: check_fs() == 4). The unix port's newer
    FatFs (1.29) reports the same failed read as "no filesystem", so this
    card raises the port's OSError(EIO) itself."""

    def readblocks(self, n, buf):
        raise OSError(5)

    def writeblocks(self, n, buf):
        raise OSError(5)


class FlashPartition:
    """A region of NOR flash: erase sets 4 KiB blocks to 0xFF, programming
    can only clear bits (new = old AND data), the extended block protocol
    VfsLfs2 uses (like esp32.Partition)."""

    BLOCK = 4096

    def __init__(self, f, offset, size, costs=None):
        self.f = f
        self.offset = offset
        self.blocks = size // self.BLOCK
        self._erased = b"\xff" * self.BLOCK
        self.costs = costs  # flash chip timings (erase, page program, read), or None
        # busy(us): told of each program and erase before it is charged (the
        # cache is off meanwhile: the camera's driver stalls, camdriver.py)
        self.busy = None

    def readblocks(self, n, buf, off=0):
        t0 = _ticks_us()
        c = self.costs
        self.f.seek(self.offset + n * self.BLOCK + off)
        self.f.readinto(buf)
        if c:
            c.leave(c.flash_read(len(buf)), t0)

    def writeblocks(self, n, buf, off=None):
        if off is None:  # simple protocol: erase the blocks, then program
            for i in range(len(buf) // self.BLOCK):
                self.ioctl(6, n + i)
            off = 0
        t0 = _ticks_us()
        c = self.costs
        pos = self.offset + n * self.BLOCK + off
        self.f.seek(pos)
        old = self.f.read(len(buf))
        a = int.from_bytes(old, "little")
        b = int.from_bytes(buf, "little")
        self.f.seek(pos)
        self.f.write((a & b).to_bytes(len(buf), "little"))
        if c:
            us = c.flash_program(len(buf))
            if self.busy:
                self.busy(us)
            c.leave(us, t0)

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.BLOCK
        if op == 6:  # erase one block
            t0 = _ticks_us()
            c = self.costs
            self.f.seek(self.offset + arg * self.BLOCK)
            self.f.write(self._erased)
            if c:
                us = c.flash_erase()
                if self.busy:
                    self.busy(us)
                c.leave(us, t0)
            return 0
        return 0
