# Virtual board only: the ESP32's UARTs as MicroPython v1.27.0's ESP32 port
# and ESP-IDF v5.5.1 drive them, in board time. Bytes go to the process's
# stdout (the pty) as they enter a UART; the simulator carries them at the
# line rate of the UART whose TX signal reaches GPIO1, which it learns,
# with the rates, over the control socket.
#
# UART0, the REPL (ports/esp32/uart.c): no ESP-IDF driver. Output:
# mp_hal_stdout_tx_strn (mphalport.c) calls uart_stdout_tx_strn, which puts
# what fits into the 128-byte TX FIFO (SOC_UART_FIFO_LEN) and, while bytes
# are left, waits ulTaskNotifyTake(pdFALSE, 1): until the next FreeRTOS
# tick (CONFIG_FREERTOS_HZ, not set by ports/esp32/boards/sdkconfig.*, so
# ESP-IDF's default 100 Hz: 10 ms). A write larger than the free FIFO
# blocks in 10 ms steps; at most 128 bytes leave per tick (12.8 KB/s).
#
# UART1 with ESP-IDF's driver (machine_uart.c installs one for any UART
# but the REPL's): UART.write is uart_write_bytes, which copies the bytes
# into a no-split ring buffer of `txbuf` bytes (components/esp_driver_uart/
# src/uart.c uart_tx_all: an event item, then items of at most a quarter of
# the buffer) and returns; the driver's TX-empty interrupt refills the FIFO
# from it (below UART_EMPTY_THRESH_DEFAULT, 10 bytes) and returns each item
# once its last byte is in the FIFO. A write blocks only while the ring
# lacks room, until an item comes back: not in ticks. So the line stays
# busy while the firmware does something else, for as long as the ring
# holds (16 KB: 80 ms at 2 Mbaud).
#
# Pins: uart_set_pin routes UART1's TX to GPIO1 through the GPIO matrix
# (gpio_func_sel: the pad leaves UART0's IOMUX function) and its RX from
# GPIO3 without changing that pad's function, so UART0 (the REPL's stdin)
# still hears the host. uart_driver_delete releases the pins (GPIO1's
# output off); UART(0, tx=1, rx=3) puts GPIO1 back on UART0's IOMUX
# function before it fails as every UART(0, ...) does (see UART below).
# While UART1 owns GPIO1, the REPL's output reaches nobody.
import select
import sys

TX_FIFO = 128
FREERTOS_HZ = 100
TICK_US = 1000000 // FREERTOS_HZ
ESP_ERR_INVALID_STATE = 0x103
REPL_TX, REPL_RX = 1, 3  # the ESP32's UART0 pins (IOMUX)
EMPTY_THRESH = 10  # UART_EMPTY_THRESH_DEFAULT: the TX interrupt refills below this
RING_HEADER = 8  # ItemHeader_t (components/esp_ringbuf/ringbuf.c)
EVENT_ITEM = 12  # uart_tx_data_t: type + brk_len + size
# What the chip spends on UART1's output, charged in board time (estimates
# from the code paths; not measured on a board):
PSRAM_READ_US_PER_KB = 25  # the copy into the ring reads the frame from PSRAM: ~40 MB/s (reference notes)
SEND_ITEM_US = 3  # xRingbufferSend's bookkeeping per item
ISR_US = 10  # one TX interrupt: ~118 FIFO writes of a byte each, ring receive/return
STDIN_CALL_US = 2  # mp_hal_stdio_poll or mp_hal_stdin_rx_chr: a look at a C ring buffer

_ROUTE = {"tx": 0}  # which UART drives GPIO1: 0, 1 or None (released)
_STATE = {"repl": None, "uart1": None, "baud0": 0, "stdin": None}


_BOOT = {"link": None}  # the Link of this boot (vboard.boot() attaches it)


def attach(link):
    _BOOT["link"] = link


def _link():
    return _BOOT["link"]


def _tell():
    """The simulator learns which UART drives GPIO1 and the rates."""
    u1 = _STATE["uart1"]
    tx = _ROUTE["tx"]
    tx_baud = uart_baud() if tx == 0 else (u1.baud if tx == 1 and u1 is not None else 0)
    _link().send({"op": "uart", "baud": uart_baud(), "tx_baud": tx_baud, "tx": tx})


def uart_baud():
    """UART0's baud rate now (the simulator says at boot)."""
    return _STATE["baud0"] or _link().info.get("baud", 115200)


def repl_uart():
    """The board's REPL UART model (one per boot)."""
    if _STATE["repl"] is None:
        _STATE["repl"] = ReplUart(_link(), sys.stdout.buffer, uart_baud())
    return _STATE["repl"]


def repl_stdin():
    """The REPL UART's receive side as the firmware reads it (one per boot)."""
    if _STATE["stdin"] is None:
        _STATE["stdin"] = ReplStdin(_link())
    return _STATE["stdin"]


class ReplStdin:
    """sys.stdin on the ESP32: the REPL UART's RX interrupt fills a C ring
    buffer (ports/esp32/uart.c uart_irq_handler -> stdin_ringbuf);
    select.poll looks at it (mp_hal_stdio_poll) and a read takes a byte
    from it (mp_hal_stdin_rx_chr): a few microseconds of C each. Here the
    same calls are the pty's poll and read syscalls, the simulator's work:
    bracketed out of the CPU model (vboard_costs) and charged as the chip's
    STDIN_CALL_US instead."""

    def __init__(self, link):
        self.link = link
        self.inp = sys.stdin.buffer
        self.p = select.poll()
        self.p.register(sys.stdin, select.POLLIN)
        self.eof = False

    def _charge(self):
        if getattr(self.link, "cpu", None) is not None:
            self.link.board_time.spend(STDIN_CALL_US, hold=False)

    def any(self):
        self._charge()
        if self.eof:
            return False
        for _, ev in self.p.ipoll(0):
            if ev & select.POLLIN:
                return True
        return False

    def readinto(self, b1):
        self._charge()
        n = self.inp.readinto(b1, 1)
        if not n:
            self.eof = True
        return n

    def wait(self, ms):
        """Until a byte arrives or ms pass (MICROPY_EVENT_POLL_HOOK: the
        task sleeps)."""
        if self.eof:
            return
        for _ in self.p.ipoll(ms):
            return


class ReplUart:
    """stdout of the virtual board as the ESP32's REPL UART: the TX FIFO
    drains at baud/10 bytes per second of board time; a write blocks (in
    board time) as uart_stdout_tx_strn does. Only writes through this
    object are modelled (the dock's); print() and the REPL's own output go
    straight to the pty."""

    def __init__(self, link, out, baud):
        self.link = link
        self.out = out
        self.baud = baud
        self.level = 0  # bytes in the FIFO at board time self.at
        self.rem = 0  # and the part of a byte already sent
        self.at = link.board_us()
        self.tick_waits = 0  # ulTaskNotifyTake calls: writes that had to wait
        self.unheard = 0  # bytes written while UART1 drove GPIO1

    def ticks_us(self):
        return self.link.board_us()  # the unix port's ticks_diff spans it

    def sleep_us(self, us):
        self.link.sleep_until_us(self.link.board_us() + us)

    def fifo(self):
        """Bytes in the TX FIFO now (exact: the fraction of a byte carries)."""
        now = self.link.board_us()
        x = (now - self.at) * self.baud + self.rem  # bit times x 1e6; a byte is 10 bits (8N1)
        self.at = now
        gone = x // 10000000
        if gone >= self.level:
            self.level = 0
            self.rem = 0
        else:
            self.level -= gone
            self.rem = x - gone * 10000000
        return self.level

    def write(self, buf, off=0, n=None):
        """uart_stdout_tx_strn: returns when every byte is in the FIFO."""
        if n is None:
            n = len(buf) - off
        end = off + n
        while True:
            put = min(end - off, TX_FIFO - self.fifo())
            if put > 0:
                if _ROUTE["tx"] == 0:
                    self.out.write(buf, off, put)  # (a slice would be garbage the chip never makes)
                else:
                    self.unheard += put  # the FIFO drains into an unconnected signal
                self.level += put
                off += put
            if off >= end:
                return n
            self.tick_waits += 1
            now = self.link.board_us()
            self.link.sleep_until_us((now // TICK_US + 1) * TICK_US)  # the next tick

    def flush(self):
        pass

    def set_baud(self, baud):
        # The divider changes at once: what is still in the FIFO goes out at
        # the new rate (garbled), as on the chip.
        self.fifo()
        self.baud = baud


class Ring:
    """ESP-IDF's no-split ring buffer (esp_ringbuf ringbuf.c): items are a
    header and their bytes aligned to 4; one that does not fit before the
    end wraps to the start (the rest is a dummy); space comes back in item
    order."""

    def __init__(self, size):
        self.size = size
        self.acq = 0  # pucAcquire
        self.free = 0  # pucFree
        self.full = False
        self.items = []  # end pointer, line position at which it is returned, ... (flat: no list per item)
        self.max_item = (size // 2 + 3) // 4 * 4 - RING_HEADER  # xMaxItemSize

    def fits(self, n):
        total = (n + 3) // 4 * 4 + RING_HEADER
        a, f = self.acq, self.free
        if a == f:
            return not self.full
        if f > a:
            return total <= f - a
        return total <= self.size - a or total <= f

    def put(self, n, returned_at):
        aligned = (n + 3) // 4 * 4
        if self.size - self.acq < aligned + RING_HEADER:
            self.acq = 0  # a dummy to the end, and wrap
        self.acq += RING_HEADER + aligned
        if self.size - self.acq < RING_HEADER:
            self.acq = 0
        if self.acq == self.free:
            self.full = True
        self.items.append(self.acq)
        self.items.append(returned_at)

    def give_back(self, sent):
        """Items whose bytes are all in the FIFO by line position `sent`."""
        items = self.items
        while items and items[1] <= sent:
            self.free = items.pop(0)
            items.pop(0)
            self.full = False

    def next_return(self):
        return self.items[1] if self.items else None


class DriverUart:
    """machine.UART(1, ...) with ESP-IDF's driver and a TX ring buffer."""

    def __init__(self, link, out, baud, txbuf):
        self.link = link
        self.out = out
        self.baud = baud
        self.ring = Ring(txbuf)
        self.txbuf = txbuf
        self.queued = 0  # bytes written so far (line positions)
        self.sent = 0  # of them, out of the FIFO by board time self.at
        self.rem = 0
        self.at = link.board_us()
        self.isr_paid = 0  # line position up to which the TX interrupts were charged
        self.ring_waits = 0  # writes that waited for ring room
        self.unheard = 0
        self.closed = False

    def ticks_us(self):
        return self.link.board_us()

    def sleep_us(self, us):
        self.link.sleep_until_us(self.link.board_us() + us)

    def _line(self):
        now = self.link.board_us()
        x = (now - self.at) * self.baud + self.rem
        self.at = now
        gone = x // 10000000
        left = self.queued - self.sent
        if gone >= left:
            self.sent = self.queued
            self.rem = 0
        else:
            self.sent += gone
            self.rem = x - gone * 10000000
        # the FIFO is refilled from the ring once below EMPTY_THRESH: an
        # item is returned once all its bytes are in the FIFO
        self.ring.give_back(self.sent + TX_FIFO - EMPTY_THRESH)

    def pending(self):
        """Bytes not out on the line yet."""
        self._line()
        return self.queued - self.sent

    def _charge(self, n, items):
        """The ESP32's CPU for a write and for the TX interrupts since the
        last one (esp32 CPU model only)."""
        if getattr(self.link, "cpu", None) is None:
            return
        isr = (self.sent - self.isr_paid) // (TX_FIFO - EMPTY_THRESH)
        self.isr_paid += isr * (TX_FIFO - EMPTY_THRESH)
        self.link.board_time.spend(n * PSRAM_READ_US_PER_KB // 1024 + items * SEND_ITEM_US + isr * ISR_US,
                                   hold=False)

    def _place(self, n, at):
        ring = self.ring
        while not ring.fits(n):
            self.ring_waits += 1
            # xRingbufferSend waits for the TX interrupt to return an item
            due = ring.next_return()
            wait = (due - TX_FIFO + EMPTY_THRESH - self.sent) * 10000000 // self.baud + 1
            self.link.sleep_until_us(self.at + max(wait, 1))
            self._line()
        ring.put(n, at)

    def write(self, buf):
        """uart_write_bytes: returns when every byte is in the ring. Like
        machine.UART.write (py/stream.c stream_write1_method), the buffer
        only: no offset, no length."""
        if self.closed:
            raise OSError(-1, "UART driver deleted")
        n = len(buf)
        off = 0
        if n <= 0:
            return 0
        self._line()
        self._place(EVENT_ITEM, self.queued)
        step = self.ring.max_item // 2
        items = 0
        done = 0
        while done < n:
            k = min(step, n - done)
            self._place(k, self.queued + k)
            self.queued += k
            done += k
            items += 1
        # the bytes go to the pty once they are all in the ring (the line's
        # pacing is the simulator's; a slice per item would be garbage)
        if _ROUTE["tx"] == 1:
            self.out.write(buf)
        else:
            self.unheard += n
        self._charge(n, items + 1)
        return n

    def txdone(self):
        return self.pending() == 0

    def flush(self):
        """uart_wait_tx_done (the stream flush)."""
        left = self.pending()
        if left:
            self.link.sleep_until_us(self.at + left * 10000000 // self.baud + 1)
            self._line()

    def any(self):
        return 0  # RX: the same bytes as the REPL's stdin, not modelled (the dock reads stdin)

    def readinto(self, buf, n=None):
        return None

    def init(self, baudrate=0, **kw):
        """init() with the driver installed: wait for TX to finish (up to
        1 s), then the new divider (machine_uart.c init_helper)."""
        if baudrate:
            self.flush()
            _check_divider(baudrate)
            self.baud = baudrate
            _tell()

    def deinit(self):
        """uart_driver_delete: what is still in the ring is lost, the pins
        are released (GPIO1's output off: nothing reaches the host)."""
        if not self.closed:
            self.closed = True
            if _ROUTE["tx"] == 1:
                _ROUTE["tx"] = None
            _STATE["uart1"] = None
            _tell()


def _check_divider(baud):
    # ESP-IDF hal/esp32 uart_ll_set_baudrate: (80 MHz << 4) / baud, its
    # integer part 20 bits; otherwise "baud rate unachievable" (ESP_FAIL)
    if baud <= 0 or (80000000 << 4) // baud >> 4 > 0xFFFFF:
        _idf_log("baud rate unachievable")
        raise OSError(1, "ESP_FAIL")  # check_esp_err: OSError(-code, name)


def UART(uart_id, baudrate=0, tx=None, rx=None, txbuf=None, **kw):
    """machine.UART(id, ...) as machine_uart.c v1.27.0 does it.

    UART(0, ...) on the REPL UART (mp_machine_uart_make_new ->
    mp_machine_uart_init_helper): no IDF driver (uart_is_repl), so
    uart_set_baudrate works (it only writes the divider), uart_set_pin
    works, then, with timeout_char 0, uart_set_rx_full_threshold fails with
    ESP_ERR_INVALID_STATE ("call uart_driver_install API first"), or, with
    a timeout_char, uart_flush_input fails with ESP_FAIL ("uart driver
    error"): OSError either way, after the divider and the pins changed.
    No object is returned, so UART(0).init(...) never runs; txbuf or rxbuf
    on the REPL UART is "REPL UART buffer size is fixed".

    UART(1, ..., tx=, rx=, txbuf=N): the driver with a TX ring of N bytes
    (N > 128: uart_driver_install's check), on the pins given."""
    if uart_id == 1:
        return _uart1(baudrate, tx, rx, txbuf)
    if uart_id != 0:
        raise ValueError("the virtual board models UART(0), the REPL UART, and UART(1) only")
    if txbuf is not None:
        raise ValueError("REPL UART buffer size is fixed")
    if baudrate:
        _check_divider(baudrate)
        _STATE["baud0"] = baudrate
        repl_uart().set_baud(baudrate)
    if tx == REPL_TX:
        _ROUTE["tx"] = 0  # GPIO1 back on UART0's IOMUX function
    if baudrate or tx == REPL_TX:
        _tell()
    # ESP-IDF logs the failing call on the console (errors are printed:
    # sdkconfig.base sets CONFIG_LOG_DEFAULT_LEVEL_ERROR), at the new speed.
    if kw.get("timeout_char", 0):
        _idf_log("uart_flush_input: uart driver error")  # (ESP_RETURN_ON_FALSE adds the source line)
        raise OSError(1, "ESP_FAIL")  # uart_flush_input: no driver
    _idf_log("call uart_driver_install API first")
    raise OSError(-ESP_ERR_INVALID_STATE, "ESP_ERR_INVALID_STATE")


def _uart1(baudrate, tx, rx, txbuf):
    if _STATE["uart1"] is not None:
        u = _STATE["uart1"]
        u.init(baudrate=baudrate)
        return u
    if txbuf is None:
        txbuf = 256  # machine_uart.c's default
    if txbuf and txbuf <= TX_FIFO:
        _idf_log("uart tx buffer length error")
        raise OSError(1, "ESP_FAIL")
    if tx is None or rx is None:
        # its defaults, GPIO9/10, are the SPI flash's on an ESP32-CAM
        raise ValueError("the virtual board models UART(1) on GPIO1/GPIO3 only: give tx and rx")
    if (tx, rx) != (REPL_TX, REPL_RX):
        raise ValueError("the virtual board models UART(1) on GPIO1/GPIO3 only, not tx=%r rx=%r" % (tx, rx))
    baud = baudrate or 115200
    _check_divider(baud)
    u = DriverUart(_link(), sys.stdout.buffer, baud, txbuf)
    _STATE["uart1"] = u
    _ROUTE["tx"] = 1
    _tell()
    return u


def _idf_log(msg, tag="uart"):
    line = "E (%d) %s: %s\r\n" % (_link().board_us() // 1000, tag, msg)
    repl_uart().write(line.encode())
