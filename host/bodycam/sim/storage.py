"""The virtual board's storage, kept in its state dir across resets and
power cuts like real storage (the pre-roll in RAM is not):

  flash.bin   the SPI flash chip (4 MiB on the AI-Thinker), MicroPython's
              littlefs 'vfs' partition at 0x200000 as on ESP32 builds
  sd.img      the microSD card: a FAT image (sparse file)
  sd-exfat.img  a second card, exFAT-formatted as large cards ship
              (`--sd exfat`): kept apart so acting out a bad card never
              touches the clips on the good one
  state.json  which board this is, and whether its app was flashed

The host reads and writes the images with the board's own code
(sim/board_side/vboard_fs.py on MicroPython's unix port), so there is one FAT and
one littlefs implementation, the real ones."""
import errno
import fcntl
import json
import os
import subprocess
import tempfile

from bodycam.device import upy
from bodycam.resources import board_side_dir
from bodycam.sim.errors import SimError

MIB = 1024 * 1024
VFS_OFFSET = 0x200000  # MicroPython's ESP32 partition table puts 'vfs' here
DEFAULT_FLASH_BYTES = 4 * MIB
DEFAULT_SD_BYTES = 256 * MIB
STATE_FORMAT = "bodycam-vboard/1"
# What is in the SD slot (`bodycam sim --sd`): the FAT card; an exFAT card
# (MicroPython's FatFs has no exFAT); a card whose reads fail; no card.
# sim/board_side/vboard_bdev.py makes each fail the way machine.SDCard does.
SD_KINDS = ("fat32", "exfat", "unreadable", "none")
EXFAT_PART_LBA = 2048  # where SD card formatters put the first partition (4 MiB aligned)


class Image:
    """One filesystem image: "fat" (the SD card) or "lfs" (the flash's vfs
    partition from `offset`, `size` bytes)."""

    def __init__(self, path, kind, offset=0, size=None):
        self.path = path
        self.kind = kind
        self.offset = offset
        self.size = size

    def run(self, ops, readonly=False):
        """Run ops (see sim/board_side/vboard_fs.py) in one MicroPython process;
        returns their results. Raises SimError if the image won't mount and
        FileNotFoundError/SimError for the first op that failed."""
        job = {"image": self.path, "kind": self.kind, "offset": self.offset, "size": self.size,
               "readonly": readonly, "ops": ops}
        with tempfile.NamedTemporaryFile("w", prefix="bcsim-", suffix=".json") as jf:
            json.dump(job, jf)
            jf.flush()
            try:
                p = subprocess.run([upy.micropython_exe(), "-X", "heapsize=4M",
                                    os.path.join(board_side_dir(), "vboard_fs.py"), jf.name],
                                   env=upy.micropython_env(), capture_output=True, text=True, timeout=300)
            except subprocess.TimeoutExpired:
                raise SimError("reading the %s image %s timed out" % (self.kind, self.path))
        results = []
        for line in p.stdout.splitlines():
            if line.startswith("{"):
                results.append(json.loads(line))
        if p.returncode or len(results) != len(ops):
            why = (results[-1].get("error") if results else None) or (p.stderr.strip() or p.stdout.strip())[-500:]
            raise SimError("cannot use the %s image %s: %s" % (self.kind, self.path, why))
        out = []
        for r in results:
            if "error" in r:
                if "no such file" in r["error"]:
                    raise FileNotFoundError(r["error"])
                raise SimError(r["error"])
            out.append(r["ok"])
        return out

    def mkfs(self, then=()):
        return self.run([["mkfs"]] + list(then))

    def listdir(self, path=""):
        """[(name, size, is_dir)] in path."""
        return [tuple(e) for e in self.run([["ls", path]], readonly=True)[0]]

    def get(self, path, dest):
        return self.run([["get", path, os.path.abspath(dest)]], readonly=True)[0]

    def read(self, path):
        with tempfile.TemporaryDirectory(prefix="bcsim-") as d:
            tmp = os.path.join(d, "f")
            self.get(path, tmp)
            with open(tmp, "rb") as f:
                return f.read()

    def write(self, path, data):
        with tempfile.TemporaryDirectory(prefix="bcsim-") as d:
            tmp = os.path.join(d, "f")
            with open(tmp, "wb") as f:
                f.write(data)
            return self.run([["put", tmp, path]])[0]


class StateDir:
    """A board's state dir, locked for one running virtual board."""

    def __init__(self, path, board, flash_bytes=None, sd_bytes=None, sd_kind="fat32"):
        if sd_kind not in SD_KINDS:
            raise SimError("sd must be one of %s, not %r" % (", ".join(SD_KINDS), sd_kind))
        self.sd_kind = sd_kind
        self.path = os.path.abspath(path)
        self.board = board
        self.flash_bytes = flash_bytes or board.get("flash_bytes", DEFAULT_FLASH_BYTES)
        self.sd_bytes = sd_bytes or DEFAULT_SD_BYTES
        self._lock = None
        try:
            os.makedirs(self.path, exist_ok=True)
            self._lock = open(os.path.join(self.path, "lock"), "a+")
        except OSError as e:
            raise SimError("cannot use %s as the virtual board's state dir: %s; pick a folder you can write"
                           % (path, e.strerror or e))
        if not os.access(self.path, os.W_OK):
            raise SimError("cannot use %s as the virtual board's state dir: it is not writable; "
                           "pick a folder you can write" % path)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            self._lock.seek(0)
            pid = self._lock.read().strip() or "?"
            self._lock.close()
            self._lock = None
            raise SimError("state dir %s is in use by another virtual board (pid %s); "
                           "stop it or use another --state" % (path, pid))
        self._lock.seek(0)
        self._lock.truncate()
        self._lock.write(str(os.getpid()))
        self._lock.flush()
        self.flash_path = os.path.join(self.path, "flash.bin")
        self.sd_path = os.path.join(self.path, "sd.img")
        self.exfat_path = os.path.join(self.path, "sd-exfat.img")
        self.flash = Image(self.flash_path, "lfs", VFS_OFFSET, self.flash_bytes - VFS_OFFSET)
        self.sd = Image(self.sd_path, "fat")
        try:
            self.state = self._load_state()
        except BaseException:
            self.close()
            raise

    # --- state.json ---------------------------------------------------------
    def _state_file(self):
        return os.path.join(self.path, "state.json")

    def _load_state(self):
        try:
            with open(self._state_file()) as f:
                st = json.load(f)
        except FileNotFoundError:
            return None
        except ValueError as e:
            raise SimError("%s is damaged (%s); delete the state dir to start afresh" % (self._state_file(), e))
        if st.get("board") != self.board["id"]:
            raise SimError("state dir %s holds a virtual %s, not a %s; use --board %s or another --state"
                           % (self.path, st.get("board"), self.board["id"], st.get("board")))
        return st

    def save_state(self):
        tmp = self._state_file() + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1)
        os.replace(tmp, self._state_file())

    # --- images -------------------------------------------------------------
    def ensure(self, settings=None):
        """Create the storage of a new board (erased flash with a formatted
        filesystem holding config.json and the board profile, and a
        formatted SD card); on an existing one, write config.json when
        settings are given."""
        if self.state is None:
            self._create(settings or {})
        elif settings is not None:
            self.write_config(settings)

    def _create(self, settings):
        for p in (self.flash_path, self.sd_path):
            if os.path.exists(p):
                os.remove(p)
        with open(self.flash_path, "wb") as f:
            chunk = b"\xff" * MIB
            left = self.flash_bytes
            while left:
                n = min(left, MIB)
                f.write(chunk[:n])
                left -= n
        with open(self.sd_path, "wb") as f:
            f.truncate(self.sd_bytes)  # sparse: a big card costs no disk
        from bodycam.resources import boards_dir
        with tempfile.TemporaryDirectory(prefix="bcsim-") as d:
            cfg = os.path.join(d, "config.json")
            with open(cfg, "w") as f:
                json.dump(dict(settings, board=self.board["id"]), f)
            bid = self.board["id"]
            self.flash.mkfs([["put", cfg, "config.json"], ["mkdir", "boards"],
                             ["put", os.path.join(boards_dir(), bid + ".json"), "boards/%s.json" % bid]])
        if self.board["storage"]["kind"] == "sd":
            self.sd.mkfs()
        self.state = {"format": STATE_FORMAT, "board": self.board["id"], "flash_bytes": self.flash_bytes,
                      "sd_bytes": self.sd_bytes, "app": "factory"}
        self.save_state()

    def card_path(self):
        """The image in the SD slot for the board's hello (None: no slot or
        no card); an exFAT card is made on first use."""
        if self.board["storage"]["kind"] != "sd" or self.sd_kind == "none":
            return None
        if self.sd_kind == "exfat":
            if not os.path.exists(self.exfat_path):
                write_exfat_card(self.exfat_path, self.sd_bytes)
            return self.exfat_path
        return self.sd_path

    def write_config(self, settings):
        data = json.dumps(dict(settings, board=self.board["id"])).encode()
        self.flash.write("config.json", data)

    def read_config(self):
        """config.json from the flash filesystem, or None if it is missing or
        not JSON (the firmware will say so itself when it boots)."""
        try:
            return json.loads(self.flash.read("config.json"))
        except (OSError, SimError, ValueError):
            return None

    def close(self):
        if self._lock is not None:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            finally:
                self._lock.close()
                self._lock = None



def write_exfat_card(path, size):
    """A card as exFAT cards ship: an MBR whose first partition (type 0x07)
    starts at EXFAT_PART_LBA and holds an exFAT boot sector (Microsoft's
    exFAT specification, section 3.1: JumpBoot EB 76 90, "EXFAT   ", 53
    zero bytes, revision 1.00, 512-byte sectors, signature 55 AA). Only the
    boot region is written: FatFs without exFAT stops at that sector
    (lib/oofatfs/ff.c check_fs), as on the board."""
    import struct
    sectors = size // 512
    part = sectors - EXFAT_PART_LBA
    mbr = bytearray(512)
    mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\0\0\x21", 0x07, b"\0\0\0", EXFAT_PART_LBA, part)
    mbr[510:512] = b"\x55\xaa"
    vbr = bytearray(512)
    vbr[0:11] = b"\xEB\x76\x90EXFAT   "
    # PartitionOffset, VolumeLength, FatOffset, FatLength, ClusterHeapOffset,
    # ClusterCount, FirstClusterOfRootDirectory, VolumeSerialNumber
    clusters = (part - 4096) // 64
    struct.pack_into("<QQIIIIII", vbr, 64, EXFAT_PART_LBA, part, 2048, (clusters * 4 + 511) // 512, 4096,
                     clusters, 4, 0x0BC0CA11)
    struct.pack_into("<HHBBBB", vbr, 104, 0x0100, 0, 9, 6, 1, 0x80)  # revision, flags, shifts, FATs, drive
    vbr[510:512] = b"\x55\xaa"
    with open(path, "wb") as f:
        f.truncate(size)
        f.write(mbr)
        f.seek(EXFAT_PART_LBA * 512)
        f.write(vbr)
