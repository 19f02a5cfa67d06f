# Virtual board only: block devices over image files, so VfsFat and VfsLfs2
# mount the virtual SD card and the virtual SPI flash the way they mount
# machine.SDCard and esp32.Partition on the real board. Writes go straight
# to the file (MicroPython's unix files are unbuffered), so a power cut
# (SIGKILL) keeps exactly what reached the "card", like real storage.


class CardImage:
    """An SD card: 512-byte sectors, the simple block protocol VfsFat uses."""

    SECTOR = 512

    def __init__(self, f):
        self.f = f  # an open "r+b" file: opened before the host's root is unmounted
        f.seek(0, 2)
        self.blocks = f.tell() // self.SECTOR

    def readblocks(self, n, buf):
        self.f.seek(n * self.SECTOR)
        self.f.readinto(buf)

    def writeblocks(self, n, buf):
        self.f.seek(n * self.SECTOR)
        self.f.write(buf)

    def ioctl(self, op, arg):
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

    def __init__(self, f, offset, size):
        self.f = f
        self.offset = offset
        self.blocks = size // self.BLOCK
        self._erased = b"\xff" * self.BLOCK

    def readblocks(self, n, buf, off=0):
        self.f.seek(self.offset + n * self.BLOCK + off)
        self.f.readinto(buf)

    def writeblocks(self, n, buf, off=None):
        if off is None:  # simple protocol: erase the blocks, then program
            for i in range(len(buf) // self.BLOCK):
                self.ioctl(6, n + i)
            off = 0
        pos = self.offset + n * self.BLOCK + off
        self.f.seek(pos)
        old = self.f.read(len(buf))
        a = int.from_bytes(old, "little")
        b = int.from_bytes(buf, "little")
        self.f.seek(pos)
        self.f.write((a & b).to_bytes(len(buf), "little"))

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.BLOCK
        if op == 6:  # erase one block
            self.f.seek(self.offset + arg * self.BLOCK)
            self.f.write(self._erased)
            return 0
        return 0
