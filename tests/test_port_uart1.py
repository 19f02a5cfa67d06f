"""UART1 with ESP-IDF's driver on the REPL's pins, as the virtual board
models it (sim/board_side/vboard_uart.py, docs/esp32-port.md row 2c): the
dock's fast link above the boot speed (firmware/dockuart.py).

- a write goes into the driver's TX ring and returns; a write the ring
  cannot take waits for the TX interrupt to hand an item back, not for a
  FreeRTOS tick; the dock's estimate of the ring (dockio.TxPacer) keeps its
  whole-frame writes from ever waiting, and the line busy through gaps as
  long as the ring lasts;
- pins: UART1 takes GPIO1 (the REPL's output then reaches nobody), and
  UART(0, tx=1, rx=3) gives it back after the driver is deleted;
- machine.UART's own rules: UART.write takes the buffer only, the REPL
  UART's buffers are fixed, UART1 needs its pins (its defaults are the SPI
  flash's on an ESP32-CAM), a TX ring must be larger than the FIFO."""

FAKE_LINK = """
import json, random
import vboard, vboard_uart as VU, dockio


class Clock:
    t = 5000000
    sent = []
    info = {"baud": 115200}
    def board_us(self):
        return self.t
    def sleep_until_us(self, end):
        if end > self.t:
            self.t = end
    def send(self, msg):
        self.sent.append(msg)


class Out:
    n = 0
    def write(self, b, off=0, k=None):   # a stream's write(buf[, off, len])
        self.n += len(b) - off if k is None else k


clk = Clock()
vboard.LINK = clk
VU.attach(clk)
"""


def test_the_ring_keeps_the_line_busy_through_gaps_and_a_full_ring_waits_for_an_item_not_a_tick(run_mpy):
    out = run_mpy(FAKE_LINK + """
res = {}
for baud, txbuf in ((2000000, 16384), (921600, 16384), (921600, 8192)):
    u = VU.DriverUart(clk, Out(), baud, txbuf)
    p = dockio.TxPacer(clk.board_us, lambda us: clk.sleep_until_us(clk.t + us), baud, txbuf // 2, 0, True)
    random.seed(3)
    frames = [bytearray(random.choice((4112, 4112, 1040, 144))) for _ in range(3)]
    t0 = clk.t
    sent = 0
    for i in range(3000):
        f = frames[i % 3]
        while p.room() < len(f) and p.level:  # whole frames when they fit (dockio.StdioLink.room)
            clk.t += 50
        r = p.room()
        u.write(f)
        p.wrote(len(f), r)
        sent += len(f)
        clk.t += random.randint(0, 30000 if txbuf > 8192 else 12000)  # the loop: a card read, a capture
    line_s = (clk.t - t0) / 1e6
    res["%d/%d" % (baud, txbuf)] = [u.ring_waits, sent / line_s / (baud / 10)]
# a write the ring cannot take: waits until the interrupt returns an item
u = VU.DriverUart(clk, Out(), 2000000, 4096)
t0 = clk.t
u.write(bytearray(3000))
u.write(bytearray(3000))
res["full"] = [u.ring_waits, clk.t - t0]
try:
    u.write(bytearray(10), 0, 5)
except TypeError:
    res["offset"] = "TypeError"
print(json.dumps(res))
""")
    for key in ("2000000/16384", "921600/16384", "921600/8192"):
        waits, busy = out[key]
        assert waits == 0, key  # the estimate never let a write wait
        assert busy > 0.9, (key, busy)  # the line stayed busy through the gaps the ring covers
    waits, waited_us = out["full"]
    # the second write waited for the first's items: about its line time
    # less what the FIFO holds (~14 ms at 2 Mbaud), not tick-quantised
    assert waits >= 1 and 5000 < waited_us < 20000
    assert out["offset"] == "TypeError"  # machine.UART.write(buf) only (stream write1)


def test_uart1_takes_the_repl_pin_and_uart0_gets_it_back(run_mpy):
    out = run_mpy(FAKE_LINK + """
res = {}
r = VU.repl_uart()
r.out = Out()
u1 = VU.UART(1, baudrate=2000000, tx=1, rx=3, txbuf=8192)
u1.out = Out()
r.write(b"print from the REPL")
u1.write(b"frame")
res["while_uart1"] = [r.out.n, r.unheard, u1.out.n, clk.sent[-1]]
try:
    VU.UART(0, baudrate=2000000)          # UART0's divider for stdin, pins left as they are
except OSError as e:
    res["uart0_divider"] = e.args[0]
u1.flush()
u1.deinit()
res["released"] = clk.sent[-1]
try:
    VU.UART(0, baudrate=115200, tx=1, rx=3)
except OSError as e:
    res["restore"] = e.args[0]
r.write(b"back")
res["after"] = [r.out.n, clk.sent[-1]]
for bad in ("VU.UART(1, baudrate=921600, txbuf=8192)", "VU.UART(1, baudrate=921600, tx=1, rx=3, txbuf=128)",
            "VU.UART(0, baudrate=921600, txbuf=8192)"):
    try:
        eval(bad)
        res[bad] = None
    except (ValueError, OSError) as e:
        res[bad] = "%s %s" % (type(e).__name__, e)
print(json.dumps(res))
""")
    n0, unheard, n1, msg = out["while_uart1"]
    assert n0 == 0 and unheard > 0 and n1 == 5  # the REPL's bytes reach nobody, UART1's the host
    assert msg["tx"] == 1 and msg["tx_baud"] == 2000000
    assert out["uart0_divider"] == -0x103  # the late ESP_ERR_INVALID_STATE: the divider changed
    assert out["released"]["tx"] is None and out["released"]["tx_baud"] == 0  # driver deleted: GPIO1 driven by none
    assert out["restore"] == -0x103
    assert out["after"][0] > 0 and out["after"][1]["tx"] == 0 and out["after"][1]["tx_baud"] == 115200
    assert "ValueError" in out["VU.UART(1, baudrate=921600, txbuf=8192)"]
    assert "OSError" in out["VU.UART(1, baudrate=921600, tx=1, rx=3, txbuf=128)"]
    assert "buffer size is fixed" in out["VU.UART(0, baudrate=921600, txbuf=8192)"]


def test_the_links_speed_step_moves_output_to_uart1_and_back(run_mpy):
    # dockio.StdioLink on the virtual board: above the boot speed UART0's
    # divider follows (stdin hears the host) and UART1 drives the pin; at
    # the boot speed (or close(), before the REPL runs) UART0 drives it again.
    out = run_mpy(FAKE_LINK + """
vboard.attached = lambda: True
import sys
link = dockio.StdioLink()
res = {"boot": [link.kind, link.baud]}
link.set_baud(2000000)
res["fast"] = [link.kind, link.whole, link.baud, clk.sent[-1]]
link.set_baud(921600)
res["faster_to_fast"] = [link.kind, link.baud, clk.sent[-1]]
link.set_baud(115200)
res["boot_again"] = [link.kind, link.baud, clk.sent[-1]]
link.set_baud(921600)
link.close()
res["closed"] = [link.kind, clk.sent[-1]]
print(json.dumps(res))
""")
    assert out["boot"] == ["repl", 115200]
    kind, whole, baud, msg = out["fast"]
    assert (kind, whole, baud) == ("uart1", True, 2000000) and msg == {"op": "uart", "baud": 2000000,
                                                                        "tx_baud": 2000000, "tx": 1}
    assert out["faster_to_fast"][:2] == ["uart1", 921600] and out["faster_to_fast"][2]["tx_baud"] == 921600
    assert out["boot_again"] == ["repl", 115200, {"op": "uart", "baud": 115200, "tx_baud": 115200, "tx": 0}]
    assert out["closed"][0] == "repl" and out["closed"][1]["tx"] == 0
