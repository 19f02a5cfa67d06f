"""The ESP32 ROM serial loader ("download mode") as the virtual board's UART
answers it: SLIP frames in, SLIP frames out, writing a virtual SPI flash
image file. Real esptool with --no-stub flashes and verifies it.

It models what esptool 5.x actually sends to a ROM (no stub): SYNC,
READ_REG/WRITE_REG (chip detection by the magic register on ESP32,
GET_SECURITY_INFO on ESP32-S3, eFuses, and the SPI peripheral's user
commands that read the flash JEDEC id), SPI_ATTACH, SPI_SET_PARAMS,
FLASH_BEGIN/DATA/END (the ROM erases on begin), FLASH_DEFL_*,
SPI_FLASH_MD5 (32 hex characters), READ_FLASH_SLOW (64-byte reads) and
CHANGE_BAUDRATE. RAM download (MEM_*, how esptool uploads its stub) is
refused: the virtual board cannot run Xtensa code.

Pure bytes in, bytes out: the virtual board owns the UART, its pacing and
the reset lines. Register constants come from esptool's chip classes, so
this model and the tool that talks to it agree on the hardware map.
"""
import hashlib
import os
import struct
import zlib

from esptool.targets import CHIP_DEFS

from bodycam.device.appimage import validate_app_image  # the board checks its flash with it before booting

__all__ = ["RomLoader", "SlipDecoder", "slip_encode", "validate_app_image"]

SECTOR = 4096
MIB = 1024 * 1024
ROM_DEFAULT_FLASH_SIZE = 2 * MIB  # flash size the ROM assumes until SPI_SET_PARAMS

# Commands (esptool's ESPLoader.ESP_CMDS)
FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
MEM_BEGIN, MEM_END, MEM_DATA = 0x05, 0x06, 0x07
SYNC, WRITE_REG, READ_REG = 0x08, 0x09, 0x0A
SPI_SET_PARAMS, SPI_ATTACH, READ_FLASH_SLOW, CHANGE_BAUDRATE = 0x0B, 0x0D, 0x0E, 0x0F
FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, FLASH_DEFL_END = 0x10, 0x11, 0x12
SPI_FLASH_MD5, GET_SECURITY_INFO = 0x13, 0x14

# ROM error codes (second status byte; esptool prints them as 0x1NN)
E_INVALID_MESSAGE = 0x05
E_FAILED = 0x06
E_CHECKSUM = 0x07
E_FLASH_WRITE = 0x08
E_FLASH_READ = 0x09
E_READ_LENGTH = 0x0A
E_DEFLATE = 0x0B

CHECKSUM_SEED = 0xEF
SYNC_VALUE = 0x20120707  # non-zero: tells esptool it talks to the ROM, not a stub
SPI_CMD_USR = 1 << 18

BANNERS = {
    "esp32": (b"ets Jun  8 2016 00:22:57\r\n\r\n"
              b"rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n"
              b"waiting for download\r\n"),
    "esp32s3": (b"ESP-ROM:esp32s3-20210327\r\nBuild:Mar 27 2021\r\n"
                b"rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\n"
                b"waiting for download\r\n"),
}

# W25Q32-style JEDEC id: manufacturer 0xEF, type 0x40, capacity byte log2(size)
FLASH_MANUFACTURER = 0xEF
FLASH_TYPE = 0x40

# Locally administered (bit 1 of the first byte): no factory eFuse MAC has
# it, so `bodycam flash` knows a virtual board by it and skips the stub.
DEFAULT_MAC = (0x02, 0xBC, 0xCA, 0x00, 0x00, 0x01)


class RomError(Exception):
    """A command the ROM answers with a failure status."""

    def __init__(self, code, why):
        Exception.__init__(self, why)
        self.code = code


def checksum(data):
    c = CHECKSUM_SEED
    for b in data:
        c ^= b
    return c


def slip_encode(packet):
    return b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class SlipDecoder:
    """Splits a byte stream into SLIP frames. Bytes outside a frame (boot
    noise, a REPL's leftovers) are ignored, as the ROM ignores them."""

    def __init__(self):
        self.buf = None  # None: between frames
        self.escaped = False

    def feed(self, data):
        frames = []
        for b in data:
            if self.buf is None:
                if b == 0xC0:
                    self.buf = bytearray()
                continue
            if b == 0xC0:
                if self.buf:
                    frames.append(bytes(self.buf))
                # an empty frame is a start delimiter after an end one
                self.buf = bytearray()
                self.escaped = False
            elif self.escaped:
                self.escaped = False
                if b == 0xDC:
                    self.buf.append(0xC0)
                elif b == 0xDD:
                    self.buf.append(0xDB)
                else:
                    self.buf = None  # corrupt frame: drop it, resync on the next 0xC0
            elif b == 0xDB:
                self.escaped = True
            else:
                self.buf.append(b)
        return frames


def _chip_model(chip, mac):
    """Register values the ROM reads back for this chip: eFuses, the
    detection magic, clocks. Everything else reads as 0."""
    cls = CHIP_DEFS[chip]
    regs = {}
    m = mac
    if chip == "esp32":
        regs[cls.CHIP_DETECT_MAGIC_REG_ADDR] = cls.MAGIC_VALUE
        base = cls.EFUSE_RD_REG_BASE
        # ESP32-D0WD-V3, revision v3.0, 240 MHz rated (as on current ESP32-CAMs)
        regs[base + 4 * 1] = (m[2] << 24) | (m[3] << 16) | (m[4] << 8) | m[5]
        regs[base + 4 * 2] = (m[0] << 8) | m[1]
        regs[base + 4 * 3] = (1 << 9) | (1 << 13) | (1 << 15)
        regs[base + 4 * 4] = 100  # CK8M frequency eFuse: with the calibration below, 40 MHz
        regs[base + 4 * 5] = 1 << 20
        regs[cls.APB_CTL_DATE_ADDR] = 1 << cls.APB_CTL_DATE_S
        regs[cls.RTCCALICFG1] = 1024 << cls.TIMERS_RTC_CALI_VALUE_S
    elif chip == "esp32s3":
        # No magic register: esptool asks GET_SECURITY_INFO for the chip id.
        regs[cls.MAC_EFUSE_REG] = (m[2] << 24) | (m[3] << 16) | (m[4] << 8) | m[5]
        regs[cls.MAC_EFUSE_REG + 4] = (m[0] << 8) | m[1]
    else:
        raise ValueError("the virtual ROM loader emulates esp32 and esp32s3, not %r" % chip)
    return cls, regs


class RomLoader:
    """One ESP32 ROM download-mode session over a UART.

    feed(bytes) -> bytes to send back. After a CHANGE_BAUDRATE answer,
    new_baud holds the new rate: send the answer at the old rate, then
    switch, then set new_baud back to None. After FLASH_END, leave is
    "run" (run the app in flash) or "reboot": the board leaves download
    mode."""

    def __init__(self, flash_path, chip="esp32", flash_size=4 * MIB, mac=DEFAULT_MAC, baud=115200):
        self.flash_path = flash_path
        self.chip = chip
        self.flash_size = flash_size
        self.cls, self.regs = _chip_model(chip, mac)
        self.baud = baud  # the ROM auto-bauds to whatever the host syncs at
        self.new_baud = None
        self.leave = None
        self.param_size = ROM_DEFAULT_FLASH_SIZE
        self.slip = SlipDecoder()
        self.write = None  # the FLASH_BEGIN/FLASH_DEFL_BEGIN in progress
        self.log = []  # (command name, detail) for tests and the board's log
        self.blocks_written = 0
        _ensure_flash(flash_path, flash_size)

    def boot_message(self):
        return BANNERS[self.chip]

    def feed(self, data):
        out = []
        for frame in self.slip.feed(data):
            for reply in self._handle(frame):
                out.append(slip_encode(reply))
        return b"".join(out)

    # --- framing -----------------------------------------------------------

    def _handle(self, frame):
        if len(frame) < 8 or frame[0] != 0x00:
            return []  # not a request: the ROM stays silent
        _, op, size, chk = struct.unpack("<BBHI", frame[:8])
        data = frame[8:]
        if size != len(data):
            return [self._reply(op, 0, b"", E_INVALID_MESSAGE)]
        if op == SYNC:
            return self._sync(data)
        handler = self.HANDLERS.get(op)
        if handler is None:
            self.log.append(("unsupported", op))
            return [self._reply(op, 0, b"", E_INVALID_MESSAGE)]
        try:
            value, body = handler(self, data, chk)
        except RomError as e:
            self.log.append(("error", "%s: %s" % (handler.__name__, e)))
            return [self._reply(op, 0, b"", e.code)]
        except struct.error:
            return [self._reply(op, 0, b"", E_INVALID_MESSAGE)]
        return [self._reply(op, value, body)]

    def _reply(self, op, value, body, error=0):
        # ESP32 and later ROMs append 4 status bytes: status, error, 2 reserved.
        status = bytes((1 if error else 0, error, 0, 0))
        body = body + status
        return struct.pack("<BBHI", 0x01, op, len(body), value) + body

    def _sync(self, data):
        if data != b"\x07\x07\x12\x20" + b"\x55" * 32:
            return []
        self.log.append(("sync", None))
        # The ROM answers a SYNC eight times.
        return [self._reply(SYNC, SYNC_VALUE, b"")] * 8

    # --- registers ---------------------------------------------------------

    def read_reg(self, addr):
        cls = self.cls
        if addr == cls.UART_CLKDIV_REG:
            return int(40e6 // self.baud)  # APB runs from the 40 MHz crystal in the ROM
        return self.regs.get(addr, 0)

    def _read_reg(self, data, chk):
        (addr,) = struct.unpack("<I", data[:4])
        return self.read_reg(addr), b""

    def _write_reg(self, data, chk):
        if len(data) % 16:
            raise RomError(E_INVALID_MESSAGE, "WRITE_REG takes 16-byte records")
        for i in range(0, len(data), 16):
            addr, value, mask, _delay = struct.unpack("<IIII", data[i:i + 16])
            old = self.regs.get(addr, 0)
            self.regs[addr] = (old & ~mask) | (value & mask)
            if addr == self.cls.SPI_REG_BASE and value & SPI_CMD_USR:
                self._spi_user_command()
        return 0, b""

    def _spi_user_command(self):
        # esptool's run_spiflash_command: command byte in USR2's low bits,
        # the answer read back from W0. Only what esptool asks a ROM for.
        base = self.cls.SPI_REG_BASE
        cmd = self.regs.get(base + self.cls.SPI_USR2_OFFS, 0) & 0xFF
        w0 = base + self.cls.SPI_W0_OFFS
        if cmd == 0x9F:  # RDID
            cap = self.flash_size.bit_length() - 1
            self.regs[w0] = FLASH_MANUFACTURER | (FLASH_TYPE << 8) | (cap << 16)
        else:  # status registers, SFDP: an idle, unprotected chip reads 0
            self.regs[w0] = 0
        self.regs[base] = self.regs.get(base, 0) & ~SPI_CMD_USR  # done at once

    def _security_info(self, data, chk):
        if self.chip == "esp32":
            raise RomError(E_INVALID_MESSAGE, "the ESP32 ROM has no GET_SECURITY_INFO")
        # flags, flash_crypt_cnt, 7 key purposes, chip id, API version
        return 0, struct.pack("<IBBBBBBBBII", 0, 0, 0, 0, 0, 0, 0, 0, 0, self.cls.IMAGE_CHIP_ID, 0)

    # --- flash -------------------------------------------------------------

    def _spi_attach(self, data, chk):
        if len(data) != 8:
            raise RomError(E_INVALID_MESSAGE, "SPI_ATTACH takes 8 bytes in the ROM")
        return 0, b""

    def _spi_set_params(self, data, chk):
        _id, total, _block, _sector, _page, _mask = struct.unpack("<IIIIII", data)
        self.param_size = total
        self.log.append(("spi_set_params", total))
        return 0, b""

    def _begin_args(self, data):
        n = 16 if self.chip == "esp32" else 20  # ESP32's ROM has no 'encrypted' word
        if len(data) != n:
            raise RomError(E_INVALID_MESSAGE, "FLASH_BEGIN takes %d bytes on %s" % (n, self.chip))
        return struct.unpack("<IIII", data[:16])

    def _check_region(self, offset, size):
        limit = min(self.param_size, self.flash_size)
        if offset + size > limit:
            raise RomError(E_FAILED, "region 0x%x+0x%x is beyond the %d-byte flash" % (offset, size, limit))

    def _flash_begin(self, data, chk, deflate=False):
        size, blocks, block_size, offset = self._begin_args(data)
        if offset % SECTOR:
            raise RomError(E_FAILED, "FLASH_BEGIN offset 0x%x is not sector-aligned" % offset)
        erase = (size + SECTOR - 1) // SECTOR * SECTOR
        self._check_region(offset, erase)
        if erase:
            with open(self.flash_path, "r+b") as f:
                f.seek(offset)
                f.write(b"\xff" * erase)
        self.write = {"offset": offset, "pos": offset, "end": offset + erase, "blocks": blocks,
                      "block_size": block_size, "seq": 0,
                      "inflate": zlib.decompressobj() if deflate else None}
        self.log.append(("flash_begin", (offset, size, deflate)))
        return 0, b""

    def _flash_data(self, data, chk, deflate=False):
        w = self.write
        if w is None or (w["inflate"] is not None) != deflate:
            raise RomError(E_FAILED, "FLASH_DATA without FLASH_BEGIN")
        n, seq, _, _ = struct.unpack("<IIII", data[:16])
        payload = data[16:]
        if n != len(payload):
            raise RomError(E_INVALID_MESSAGE, "block length %d != %d" % (n, len(payload)))
        if checksum(payload) != chk & 0xFF:
            raise RomError(E_CHECKSUM, "block %d checksum" % seq)
        if seq != w["seq"]:
            raise RomError(E_FAILED, "block %d out of sequence (expected %d)" % (seq, w["seq"]))
        if seq >= w["blocks"]:
            raise RomError(E_FAILED, "block %d beyond the %d announced" % (seq, w["blocks"]))
        if deflate:
            try:
                payload = w["inflate"].decompress(payload)
            except zlib.error:
                raise RomError(E_DEFLATE, "bad deflate stream in block %d" % seq)
        if w["pos"] + len(payload) > w["end"]:
            payload = payload[:max(0, w["end"] - w["pos"])]  # padding past the erased region
        self._program(w["pos"], payload)
        w["pos"] += len(payload)
        w["seq"] += 1
        self.blocks_written += 1
        return 0, b""

    def _program(self, addr, data):
        # NOR flash programming only clears bits: writing over data that was
        # not erased gives old AND new, as on the real chip.
        with open(self.flash_path, "r+b") as f:
            f.seek(addr)
            old = f.read(len(data))
            if old != b"\xff" * len(old):
                data = bytes(a & b for a, b in zip(old, data))
            f.seek(addr)
            f.write(data)

    def _flash_end(self, data, chk, deflate=False):
        (stay,) = struct.unpack("<I", data[:4])
        self.write = None
        self.leave = "run" if stay else "reboot"
        self.log.append(("flash_end", self.leave))
        return 0, b""

    def _defl_begin(self, data, chk):
        return self._flash_begin(data, chk, deflate=True)

    def _defl_data(self, data, chk):
        return self._flash_data(data, chk, deflate=True)

    def _defl_end(self, data, chk):
        return self._flash_end(data, chk, deflate=True)

    def _md5(self, data, chk):
        addr, size, _, _ = struct.unpack("<IIII", data)
        self._check_region(addr, size)
        h = hashlib.md5()
        with open(self.flash_path, "rb") as f:
            f.seek(addr)
            h.update(f.read(size))
        return 0, h.hexdigest().encode()

    def _read_flash_slow(self, data, chk):
        addr, n = struct.unpack("<II", data)
        if n > 64:
            raise RomError(E_READ_LENGTH, "the ROM reads at most 64 bytes at a time")
        self._check_region(addr, n)
        with open(self.flash_path, "rb") as f:
            f.seek(addr)
            got = f.read(n)
        return 0, got + b"\x00" * (64 - len(got))  # always a 64-byte buffer

    def _change_baud(self, data, chk):
        rom_baud, _old = struct.unpack("<II", data)
        # esptool scales the rate by the ROM's idea of the crystal
        # (get_rom_cal_crystal_freq); ours is exactly 40 MHz, so no scaling.
        self.new_baud = rom_baud
        self.baud = rom_baud
        self.log.append(("change_baudrate", rom_baud))
        return 0, b""

    def _mem_refused(self, data, chk):
        raise RomError(E_FAILED, "RAM download (the esptool stub) cannot run on the virtual board: use --no-stub")

    HANDLERS = {
        READ_REG: _read_reg, WRITE_REG: _write_reg,
        SPI_ATTACH: _spi_attach, SPI_SET_PARAMS: _spi_set_params,
        FLASH_BEGIN: _flash_begin, FLASH_DATA: _flash_data, FLASH_END: _flash_end,
        FLASH_DEFL_BEGIN: _defl_begin, FLASH_DEFL_DATA: _defl_data, FLASH_DEFL_END: _defl_end,
        SPI_FLASH_MD5: _md5, READ_FLASH_SLOW: _read_flash_slow, CHANGE_BAUDRATE: _change_baud,
        GET_SECURITY_INFO: _security_info, MEM_BEGIN: _mem_refused,
    }


def _ensure_flash(path, size):
    """A blank (erased: all 0xFF) flash chip the first time; an existing
    image keeps its contents."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    have = os.path.getsize(path) if os.path.exists(path) else 0
    if have > size:
        raise ValueError("%s is %d bytes, larger than the %d-byte virtual flash" % (path, have, size))
    if have < size:
        with open(path, "ab") as f:
            left = size - have
            chunk = b"\xff" * min(left, MIB)
            while left:
                f.write(chunk[:left])
                left -= min(left, len(chunk))
