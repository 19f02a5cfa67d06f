"""The REPL UART as MicroPython v1.27.0's ESP32 port really drives it, on the
virtual board (issue 9, items 2-4; docs/esp32-port.md):

- output: uart_stdout_tx_strn (ports/esp32/uart.c) fills the 128-byte TX
  FIFO and waits a FreeRTOS tick (10 ms) whenever it is full; the dock
  writes only what the FIFO takes, so it never waits; above the boot speed
  it writes through UART1's TX ring instead, and capture keeps its frame
  rate while streaming;
- speed: machine.UART(0).init(baudrate=) is refused on the REPL UART; the
  dock's step (UART(0, baudrate=), divider set before the port's OSError)
  works;
- Ctrl-C: a stray 0x03 leaves the recording going and the clip whole; a
  deliberate "\\r\\x03" (mpremote) closes and seals the clip, then the REPL.
"""
import hashlib
import json
import os
import re
import time

import pytest
import serial

from bodycam.offload.client import DockClient, open_port
from bodycam.resources import boards_dir
from bodycam.sim import VirtualBoard
from rig import serialio


def read_until(port, marker, timeout=15):
    return serialio.read_until(port, marker, timeout)


def repl(url):
    return serialio.repl(url, timeout=15)


def board_line(p, code, tag, timeout=15):
    """Run one line at the REPL; returns what it printed after `tag`."""
    p.write(code.encode() + b"\r")
    data = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        data += p.read(max(1, p.in_waiting))
        i = data.rfind(tag + b" ")
        if i >= 0 and b"\n" in data[i:]:
            return data[i + len(tag) + 1:data.index(b"\n", i)].strip().decode()
    raise AssertionError("no %r line from the board; got %r" % (tag, data[-500:]))


@pytest.fixture(scope="module")
def vb(tmp_path_factory):
    with VirtualBoard(state_dir=str(tmp_path_factory.mktemp("vb")), speed=10, cpu="host") as b:
        b.wait_recording_ready()
        yield b


# --- item 2: the TX FIFO and the tick wait ------------------------------------

@pytest.mark.parametrize("baud", [115200, 921600])
def test_a_4kb_write_blocks_in_ticks_and_a_write_that_fits_does_not(vb, baud):
    vb.reset()
    vb.wait_recording_ready()
    p = repl(vb.port_url)
    try:
        if baud != 115200:
            p.write(b"import dockio; dockio.set_baud(%d)\r" % baud)
            time.sleep(0.5)
            p.baudrate = baud
            p.reset_input_buffer()
        # (short lines: the board's stdin buffer holds 260 bytes)
        p.write(b"import vboard; u = vboard.repl_uart(); L = vboard.LINK; B = L.board_us\r")
        read_until(p, b">>> ")
        p.write(b"u.write(bytes(1)); L.sleep_ms(50); t0 = B(); w0 = u.tick_waits\r")
        read_until(p, b">>> ")
        p.write(b"u.write(bytes(100)); t1 = B(); w1 = u.tick_waits; u.write(bytes(4096)); t2 = B()\r")
        read_until(p, b">>> ")
        code = "print('FIFO', t1 - t0, w1 - w0, t2 - t1, u.tick_waits - w1)"
        _, small_waits, big_us, big_waits = (int(x) for x in board_line(p, code, b"FIFO").split())
    finally:
        p.close()
        vb.reset()
    assert small_waits == 0  # fits the FIFO: no tick wait (its time here is the host's, x10)
    # 4096 bytes, 128 a tick at most: >= 31 waits of up to one 10 ms tick each
    assert big_waits >= 31
    assert big_us >= 300000  # longer than a 200 ms frame interval (board time)


def test_writes_the_pacer_allows_never_wait_a_tick_and_it_allocates_nothing(run_mpy):
    # The dock's FIFO estimate (dockio.TxPacer) against the board's model of
    # uart_stdout_tx_strn (vboard.ReplUart), on one synthetic board clock,
    # with random write sizes, gaps, and delays between asking and writing.
    waits, sent, per_write, allocs = run_mpy("""
import json, random, micropython
import vboard, dockio
class Clock:
    t = 5000000
    def board_us(self):
        return self.t
    def sleep_until_us(self, end):
        if end > self.t:
            self.t = end
class Out:
    n = 0
    def write(self, b, off=0, k=None):   # a stream's write(buf[, off, len])
        self.n += len(b) - off if k is None else k
clk = Clock()
random.seed(9)
out = {}
for baud in (115200, 921600):
    u = vboard.ReplUart(clk, Out(), baud)
    p = dockio.TxPacer(clk.board_us, lambda us: clk.sleep_until_us(clk.t + us), baud)
    buf = bytearray(200)
    for i in range(20000):
        r = p.room()
        k = min(r, random.randint(1, 200))
        clk.t += random.randint(0, 40)  # the write starts a little after room() was asked
        if k > 0:
            u.write(buf, 0, k)
            p.wrote(k, r)
        clk.t += random.randint(0, 700)
    out[baud] = (u.tick_waits, u.out.n)
# a write bigger than the room: the model waits, the pacer knows the FIFO is full
u = vboard.ReplUart(clk, Out(), 921600)
p = dockio.TxPacer(clk.board_us, lambda us: None, 921600)
r = p.room()
u.write(bytearray(1000), 0, 1000)
p.wrote(1000, r)
big = (u.tick_waits, p.room())
micropython.heap_lock()
try:
    for i in range(100):
        clk.t += 50
        r = p.room()
        p.wrote(min(r, 8), r)
        p.wait_us(64)
    allocs = 0
except MemoryError:
    allocs = 1
micropython.heap_unlock()
print(json.dumps([[out[115200][0], out[921600][0]], [out[115200][1], out[921600][1]], big, allocs]))
""")
    assert waits == [0, 0]
    assert min(sent) > 50000  # they did stream (most of the line rate)
    assert per_write[0] >= 7 and per_write[1] == 0  # (1000 - 128) / 128 ticks; then no room
    assert allocs == 0


def test_the_dock_streams_without_waiting_and_capture_keeps_its_rate(tmp_path):
    # Host card and CPU: this is about the UART's pacing, not the card's.
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=1, cpu="host", card="host") as vb:
        vb.wait_recording_ready()
        known = vb.list_clips()
        vb.tap()
        vb.sleep_board(2500)
        vb.hold(3200)
        name = vb.wait_for_clip(known) + ".AVI"
        data = vb.read_sd_file("clips/" + name)
        port = open_port(vb.port_url)
        try:
            c = DockClient(port)
            c.connect()
            assert c.set_baud(921600)  # the speed step the port allows (item 3)
            i0 = c.info()
            got = bytearray()
            for _ in range(2):  # ~2 s of streaming
                c.read_file(name, len(data), 0, got.extend)
            i1 = c.info()
            c.set_baud(115200)
        finally:
            port.close()
    assert bytes(got) == data * 2
    # above the boot speed the output goes through UART1's TX ring
    # (firmware/dockuart.py; test_port_uart1.py), not the REPL's FIFO
    assert i0["baud"] == 921600 and i0["uart"] == "uart1" and i0["tx_ring_waits"] is not None
    assert i1["tx_ring_waits"] - i0["tx_ring_waits"] == 0  # never a write bigger than the ring's room
    board_s = (i1["clock"]["ticks_ms"] - i0["clock"]["ticks_ms"]) / 1000.0
    fps = (i1["frames_captured"] - i0["frames_captured"]) / board_s
    assert fps >= 0.8 * 1000.0 / i0["tick_ms"], "capture fell to %.2f fps while streaming" % fps


# --- item 3: the speed step -------------------------------------------------------

def test_uart0_init_is_refused_and_the_constructor_sets_the_divider_then_fails(vb):
    vb.reset()
    vb.wait_recording_ready()
    p = repl(vb.port_url)
    try:
        p.write(b"import vboard, dockio\r")
        read_until(p, b">>> ")
        r = board_line(p, "exec('try:\\n vboard.UART(0).init(baudrate=460800)\\n"
                          "except OSError as e:\\n print(\\'IN\\' + \\'IT\\', e.args[0])')", b"INIT")
        assert r == "-259"  # ESP_ERR_INVALID_STATE, raised by UART(0) itself
        assert vb.uart_stats()["board_baud"] == 115200  # nothing changed
        p.write(b"exec('try:\\n vboard.UART(0, baudrate=460800)\\nexcept OSError as e:\\n print(e.args)')\r")
        time.sleep(1.0)
        assert vb.uart_stats()["board_baud"] == 460800  # the divider changed before the error
        p.baudrate = 460800
        p.reset_input_buffer()
        assert board_line(p, "dockio.repl_baud(vboard.UART, 460800); print('STEP' + 'PED', 1)", b"STEPPED") == "1"
    finally:
        p.close()
        vb.reset()


def test_the_speed_step_tells_an_error_before_the_divider_from_the_ports_late_one(run_mpy):
    calls, err = run_mpy("""
import json
import dockio
calls = []
def port_like(uid, baudrate=0):  # machine_uart.c v1.27.0 on the REPL UART
    calls.append(baudrate)
    raise OSError(-259, "ESP_ERR_INVALID_STATE")
def unachievable(uid, baudrate=0):  # uart_set_baudrate failed: divider untouched
    raise OSError(-1, "ESP_FAIL")
dockio.repl_baud(port_like, 921600)
err = None
try:
    dockio.repl_baud(unachievable, 921600)
except ValueError as e:
    err = str(e)
print(json.dumps([calls, err]))
""")
    assert calls == [921600]
    assert err is not None and err.startswith("UART(0, baudrate=921600) failed")


def test_a_speed_the_adapter_cannot_carry_leaves_pull_at_the_boot_speed_with_the_reason(tmp_path):
    from bodycam.offload import pull_all
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=10, cpu="host") as vb:
        vb.wait_recording_ready()
        # 3000000 is in the dock's list and the ESP32's divider makes it;
        # the ESP32-CAM-MB's CH340 stops at 2 Mbaud and refuses it
        s = pull_all(vb.port_url, str(tmp_path / "out"), baud=3000000, progress=False, say=lambda m: None)
        assert vb.uart_stats()["board_baud"] == 115200  # the dock went back by itself
    assert s["errors"] == [] and s["baud"] == 115200 and "AUDIT.LOG" in s["pulled"]
    assert any("did not work at 3000000" in w for w in s["warnings"]), s["warnings"]


# --- item 4: Ctrl-C ------------------------------------------------------------------

def test_which_ctrl_c_is_deliberate_and_the_interrupt_seals_the_clip_in_progress(run_mpy, jpeg_dir, tmp_path):
    board = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")
    out = run_mpy("""
import json, simkit, dockkit
k = simkit.Kit(%r, %r, {"fps": 10, "preroll_s": 2, "ring_bytes": 600000})
d = dockkit.attach(k)
out = {}
def rx(b):
    d.link.feed(b)
    d.rx.read(d.link)
    r = k.app.interrupt
    k.app.interrupt = False
    return r
out["stray"] = [rx(b"\\x03"), rx(b"ab\\x03"), rx(b"\\x00\\xff\\x03\\x2e\\x03x"), d.stats["stray_ctrl_c"]]
out["double"] = rx(b"\\x03\\x03")
out["mpremote"] = rx(b"x\\r\\x03\\r\\x01")
out["left_for_repl"] = bytes(d.link.inp[d.link.pos:]).decode()
k.run_for(3000)
k.press(200)
k.run_for(1500)
out["recording"] = k.rec.state
k.app.close_for_repl()
out["after"] = [k.rec.state, k.rec.clips_done]
out["sidecar"] = simkit.sidecar(k.rec.dir, k.rec.clips_done[-1])["stop"]["reason"]
print(json.dumps(out))
""" % (board, str(jpeg_dir)), heapsize=4 * 1024 * 1024, cwd=tmp_path)
    assert out["stray"] == [False, False, False, 4]
    assert out["double"] is True and out["mpremote"] is True
    assert out["left_for_repl"] == "\r\x01"  # mpremote's Ctrl-A reaches the REPL
    assert out["recording"] == 1  # RECORDING
    assert out["after"] == [0, ["BC000001"]]  # BUFFERING, the clip closed
    assert out["sidecar"] == "interrupt"


def sidecar(vb, name):
    return json.loads(vb.read_sd_file("clips/%s.JSON" % name))


def test_stray_ctrl_c_never_ends_a_recording_and_a_deliberate_one_seals_the_clip_first(tmp_path):
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=5, cpu="host") as vb:
        vb.wait_recording_ready()
        known = vb.list_clips()
        vb.tap()
        vb.sleep_board(1500)
        assert vb.leds["status"] is True
        p = serial.serial_for_url(vb.port_url, baudrate=115200, timeout=0.1)
        try:
            # noise, a terminal's lone Ctrl-C, garbage from a speed step
            p.write(b"\x03" + b"\x00\xff\x03\x2e\x03" * 20 + b"x\x03y\x03")
            vb.sleep_board(1500)
            assert vb.state == "running" and vb.leds["status"] is True  # still recording
            assert b"KeyboardInterrupt" not in vb.uart.recent
            vb.hold(3500)
            first = vb.wait_for_clip(known)
            m = sidecar(vb, first)
            assert m["stop"]["reason"] == "hold"
            gaps = [b - a for a, b in zip(m["frame_ms"], m["frame_ms"][1:])]
            assert max(gaps) < 1000  # no frames lost around the burst
            avi = vb.read_sd_file("clips/%s.AVI" % first)
            assert hashlib.sha256(avi).hexdigest() == m["avi_sha256"]
            # the deliberate interrupt, as mpremote sends it
            known = vb.list_clips()
            vb.tap()
            vb.sleep_board(1500)
            p.reset_input_buffer()
            p.write(b"\r\x03")
            out = read_until(p, b">>> ")
            clips_at_prompt = vb.list_clips()  # what the card held when the REPL answered
        finally:
            p.close()
        assert b"KeyboardInterrupt" in out
        second = [c for c in clips_at_prompt if c not in known]
        assert second, "the clip in progress was not closed before the REPL"
        m = sidecar(vb, second[0])
        assert m["stop"]["reason"] == "interrupt"
        assert m["seq"] and m["prev_manifest_sha256"]  # sealed, chained to the first
        avi = vb.read_sd_file("clips/%s.AVI" % second[0])
        assert hashlib.sha256(avi).hexdigest() == m["avi_sha256"] and m["frames"] > 0
        assert re.search(rb"KeyboardInterrupt", out)
