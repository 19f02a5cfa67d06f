# The UARTs behind the dock's link, as MicroPython v1.27.0's ESP32 port
# (ports/esp32/machine_uart.c, uart.c) and ESP-IDF v5.5.1
# (components/esp_driver_uart/src/uart.c) let Python use them.
#
# UART0 is the REPL: no IDF driver, a 128-byte TX FIFO that Python cannot
# see (dockio.TxPacer), and a speed that only UART(0, baudrate=B) changes
# (repl_baud). At 2 Mbaud that FIFO is 0.64 ms of line: whenever the loop
# reads the card or captures a frame for longer, the line idles.
#
# FastTx puts UART1, with the IDF driver and a TX ring buffer, on the
# REPL's TX pin for a fast transfer: UART.write copies a frame into the
# ring and returns, and the driver's interrupt keeps the line busy while
# Python reads the card. uart_set_pin (v5.5.1) routes UART1's TX to GPIO1
# through the GPIO matrix (the pad leaves UART0's IOMUX function) and its
# RX from GPIO3 without touching that pad's function, so UART0 still hears
# the host: commands, Ctrl-C and the REPL's stdin work as before (both
# UARTs run at the same speed). release() waits until the ring is sent,
# deletes the driver (uart_driver_delete releases the pins: GPIO1's output
# off) and gives GPIO1 back to UART0 with UART(0, tx=1, rx=3): its
# uart_set_pin selects the IOMUX function again (gpio_iomux_output: UART0
# drives the pad and its output enable) before the call fails as every
# UART(0, ...) does on the REPL UART. Until then the REPL's own output
# (print, tracebacks) reaches nobody, so the dock releases UART1 whenever
# it goes back to the boot speed, and the loop does before the REPL runs
# (App.run). A soft reset while UART1 holds the pin would leave the board
# silent (machine_uart_deinit_all releases the pin without handing it
# back) until a hard reset.
import sys

ESP_ERR_INVALID_STATE = 0x103
REPL_TX, REPL_RX = 1, 3  # the ESP32's UART0 pins
TXBUF_SIZES = (16384, 8192, 4096)  # TX rings tried, largest first (internal RAM: CONFIG_UART_ISR_IN_IRAM)


def repl_baud(uart, baud, pins=False):
    """The speed step that works on MicroPython v1.27.0's ESP32 REPL UART.
    machine_uart.c: UART(0, baudrate=B) sets the divider (uart_set_baudrate
    needs no IDF driver), then fails with OSError ESP_ERR_INVALID_STATE at
    uart_set_rx_full_threshold, which does need the driver the REPL UART
    never has. So the speed has changed when that error comes; any other
    error came before the divider (e.g. "baud rate unachievable").
    UART(0).init(baudrate=B) cannot work: UART(0) raises first, with the
    divider untouched. pins: also give GPIO1/GPIO3 back to UART0 (after
    UART1 held them)."""
    try:
        if pins:
            uart(0, baudrate=baud, tx=REPL_TX, rx=REPL_RX)
        else:
            uart(0, baudrate=baud)
    except OSError as e:
        if not e.args or e.args[0] != -ESP_ERR_INVALID_STATE:
            raise ValueError("UART(0, baudrate=%d) failed: %s" % (baud, e))


def platform_uart():
    """(machine.UART-like, ticks_us, sleep_us) where UART1 can take the
    REPL's pins, else None: the ESP32 (not the S2/S3/C3, whose REPL is on
    other pins or on USB), and the virtual board, which models the same."""
    if sys.platform == "esp32":
        import os
        import time

        import machine
        m = os.uname().machine
        if "ESP32S" in m or "ESP32C" in m or "ESP32P" in m or "ESP32H" in m:
            return None
        return machine.UART, time.ticks_us, time.sleep_us
    try:
        import vboard
    except ImportError:
        return None
    if not vboard.attached():
        return None
    return vboard.UART, vboard.LINK.board_us, lambda us: vboard.LINK.sleep_until_us(vboard.LINK.board_us() + us)


class FastTx:
    """UART1 with a TX ring buffer on the REPL's TX pin (see above)."""

    kind = "uart1"

    def __init__(self, uart_cls, uart, txbuf, baud):
        self.uart_cls = uart_cls
        self.u = uart
        self.txbuf = txbuf
        self.baud = baud
        # What the ring takes without blocking, estimated from time
        # (dockio.TxPacer): half of it. uart_tx_all splits a write into
        # items of up to a quarter of the ring; an item comes back only once
        # all its bytes are in the FIFO, and one that does not fit before
        # the end of the no-split ring wraps, leaving the end unused. A
        # write beyond the estimate only waits for the driver's interrupt
        # to hand an item back: a short wait, not a tick.
        self.capacity = txbuf // 2

    def write(self, buf):
        self.u.write(buf)  # machine.UART.write takes the buffer only (stream write1)

    def flush(self):
        """Until the ring and the FIFO are sent (uart_wait_tx_done)."""
        try:
            self.u.flush()
        except OSError:
            pass  # timed out: what is left goes as it goes

    def set_baud(self, baud):
        self.u.init(baudrate=baud)  # with a driver: waits for TX to finish, then the divider
        self.baud = baud

    def release(self, baud):
        """UART0 drives the REPL's pins again, at `baud`."""
        self.flush()
        try:
            self.u.deinit()
        finally:
            repl_baud(self.uart_cls, baud, pins=True)


def take_tx(baud):
    """A FastTx at `baud`, or None where UART1 cannot have the REPL's pins
    or no TX ring fits in memory (the dock then paces the REPL UART)."""
    p = platform_uart()
    if p is None:
        return None
    uart_cls, ticks_us, sleep_us = p
    for size in TXBUF_SIZES:
        try:
            u = uart_cls(1, baudrate=baud, tx=REPL_TX, rx=REPL_RX, txbuf=size)
        except (OSError, ValueError, MemoryError):
            continue  # e.g. "UART driver malloc error": try a smaller ring
        t = FastTx(uart_cls, u, size, baud)
        t.ticks_us, t.sleep_us = ticks_us, sleep_us
        return t
    return None
