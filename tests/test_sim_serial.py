"""The virtual board's serial port, opened by the real host tools: mpremote
and pyserial over rfc2217://, esptool into download mode; line rate in both
directions; one client at a time."""
import subprocess
import sys
import threading
import time

import pytest
import serial

from bodycam.sim import VirtualBoard
from rig.serialio import read_until, repl

BITS_PER_BYTE = 10  # 8N1
TOL = 0.02  # timer slack allowed below the line-rate bound


@pytest.fixture(scope="module")
def vb(tmp_path_factory):
    with VirtualBoard(state_dir=str(tmp_path_factory.mktemp("vb")), speed=10) as b:
        b.wait_recording_ready()
        yield b


def mpremote(url, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", url] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def running(vb):
    """The board freshly reset, main.py capturing (a test before may have
    left it at the REPL, as mpremote leaves a real board)."""
    vb.reset()
    vb.wait_recording_ready()


def test_mpremote_exec_and_fs_ls(vb):
    r = mpremote(vb.port_url, "exec", "print(6*7)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "42"
    r = mpremote(vb.port_url, "fs", "ls")
    assert r.returncode == 0, r.stderr
    listing = r.stdout.split()
    assert "config.json" in listing and "boards/" in listing  # the board's flash filesystem
    r = mpremote(vb.port_url, "exec", "import os; print(sorted(os.listdir('/boards')))")
    assert r.stdout.strip() == "['ai-thinker-esp32-cam.json']"


def test_pyserial_opens_it_like_a_port_and_ctrl_c_reaches_the_repl(vb):
    running(vb)
    p = serial.serial_for_url(vb.port_url, baudrate=115200, timeout=0.1)
    try:
        assert p.is_open
        p.write(b"\r\x03")
        out = read_until(p, b">>> ")
        assert b"KeyboardInterrupt" in out  # main.py's capture loop was interrupted
        p.write(b"print(sum(range(10)))\r")
        assert b"45" in read_until(p, b"45")
    finally:
        p.close()


def test_soft_reset_reruns_main_like_an_esp32(vb):
    running(vb)
    p = repl(vb.port_url)
    try:
        p.write(b"\x04")  # Ctrl-D at the friendly REPL
        out = read_until(p, b"BODYCAM-BOOT", timeout=20)
        assert b"MPY: soft reboot\r\n" in out
    finally:
        p.close()


def test_rtc_survives_soft_and_cpu_resets_not_en_reset(vb):
    running(vb)
    p = repl(vb.port_url)
    try:
        # What the dock does when the host sets the clock (2026-01-01T00:00:00Z).
        p.write(b"import vboard; vboard.LINK.rtc_set(1767225600000)\r")
        read_until(p, b">>> ")
        p.write(b"\x04")  # soft reset: main.py boots with the RTC's time
        assert b'"clock": "2026-01-01T00:00:' in read_until(p, b"BODYCAM-BOOT", timeout=20) + \
            read_until(p, b"\n")
        p.write(b"\r\x03")
        read_until(p, b">>> ")
        p.write(b"import vboard; vboard.LINK.send({'op': 'reset'})\r")  # machine.reset(): a CPU reset
        out = read_until(p, b"BODYCAM-BOOT", timeout=20) + read_until(p, b"\n")
        assert b"rst:0xc (SW_CPU_RESET)" in out and b'"clock": "2026-01-01T00:00:' in out
        vb.reset()  # EN: a power-on reset, the RTC starts over
        out = read_until(p, b"BODYCAM-BOOT", timeout=20) + read_until(p, b"\n")
        assert b"rst:0x1 (POWERON_RESET)" in out and b'"clock": null' in out
    finally:
        p.close()


def test_line_rate_board_to_host(vb):
    n = 11520
    p = repl(vb.port_url)
    try:
        p.write(b"import sys; sys.stdout.write(chr(90) * %d)\r" % n)  # n times Z; the echo has none
        got, first, t_first = 0, 0, None
        end = time.monotonic() + 30
        while got < n and time.monotonic() < end:
            chunk = p.read(max(1, p.in_waiting))
            k = chunk.count(b"Z")
            if k and t_first is None:
                t_first, first = time.monotonic(), k  # time the bytes after this read
            got += k
        elapsed = time.monotonic() - t_first
    finally:
        p.close()
    assert got == n
    bound = (n - first) * BITS_PER_BYTE / 115200.0
    assert elapsed >= bound * (1 - TOL)
    assert elapsed < bound * 3  # and it does run near the line rate


def test_line_rate_host_to_board(vb):
    n = 11520
    p = repl(vb.port_url)
    try:
        # The board reads n bytes from its stdin and says when it has them all.
        # (Data is sent once the line runs: the unix REPL flushes its input
        # when it switches the terminal mode.)
        p.write(b"import sys; print('RE' + 'ADY'); b = sys.stdin.buffer.read(%d); print('GOT', len(b))\r" % n)
        read_until(p, b"READY")
        t0 = time.monotonic()
        p.write(b"x" * n)
        read_until(p, b"GOT %d" % n, timeout=30)
        elapsed = time.monotonic() - t0
    finally:
        p.close()
    assert elapsed >= n * BITS_PER_BYTE / 115200.0 * (1 - TOL)
    assert vb.uart_stats()["rx_dropped"] == 0  # the board kept up: nothing lost


def test_bytes_beyond_the_boards_stdin_buffer_are_dropped(vb):
    running(vb)
    p = repl(vb.port_url)
    try:
        before = vb.uart_stats()["rx_dropped"]
        p.write(b"import time; print('RE' + 'ADY'); time.sleep(2)\r")  # not reading stdin for 2 s
        read_until(p, b"READY")
        p.write(b"#" * 1000)
        time.sleep(0.5)
        assert vb.uart_stats()["rx_dropped"] - before == 1000 - 260  # ESP32: 260-byte ring buffer
    finally:
        p.close()


def test_ctrl_c_is_data_when_the_firmware_turned_kbd_intr_off(vb):
    running(vb)
    p = repl(vb.port_url)
    try:
        p.write(b"import micropython, sys; micropython.kbd_intr(-1); print('RE' + 'ADY'); "
                b"b = sys.stdin.buffer.read(3); micropython.kbd_intr(3); print(list(b))\r")
        read_until(p, b"READY")
        p.write(b"\x03ab")
        assert b"[3, 97, 98]" in read_until(p, b"[3, 97, 98]")
        assert vb.state == "running"
    finally:
        p.close()


def test_the_firmware_sets_the_line_speed_through_the_uarts_divider(vb):
    running(vb)
    p = repl(vb.port_url)
    try:
        p.write(b"import dockio; dockio.set_baud(460800); print('SW' + 'ITCHED')\r")
        time.sleep(0.5)
        assert b"SWITCHED" not in p.read(4096)  # still listening at 115200: junk
        assert vb.uart_stats()["board_baud"] == 460800
        p.baudrate = 460800
        p.write(b"print('HELLO' + 'AGAIN')\r")
        read_until(p, b"HELLOAGAIN")
    finally:
        p.close()
        vb.reset()  # back to the boot rate


def test_second_client_is_refused_while_one_is_connected(vb):
    first = serial.serial_for_url(vb.port_url, baudrate=115200, timeout=0.1)
    try:
        with pytest.raises(serial.SerialException, match="Connection refused"):
            serial.serial_for_url(vb.port_url, baudrate=115200, timeout=0.1)
        r = mpremote(vb.port_url, "exec", "print(1)", timeout=30)
        assert r.returncode != 0
        assert "failed to access" in r.stderr and "in use by another program" in r.stderr
        assert "others are refused" in [m for _, m in vb.events if "client connected" in m][-1]
        first.write(b"\r\x03")
        read_until(first, b">>> ")  # the first client is unaffected
    finally:
        first.close()
    time.sleep(0.2)
    again = serial.serial_for_url(vb.port_url, baudrate=115200, timeout=0.1)  # free again
    again.close()


def test_unplugging_drops_the_connection_and_the_port(vb):
    running(vb)
    p = serial.serial_for_url(vb.port_url, baudrate=115200, timeout=None)  # mpremote reads like this
    try:
        res = []

        def reader():
            try:
                res.append(p.read(10))
            except serial.SerialException as e:
                res.append(e)

        t = threading.Thread(target=reader)
        t.start()
        time.sleep(0.2)
        vb.unplug()
        t.join(3)
        assert not t.is_alive() and res  # a read blocked on the port returns...
        with pytest.raises(serial.SerialException, match="connection failed"):
            p.read(1)  # ...and the port is gone
        assert vb.state == "off"
        with pytest.raises(serial.SerialException, match="Connection refused"):
            serial.serial_for_url(vb.port_url, baudrate=115200)
    finally:
        p.close()
    vb.plug_in()
    vb.wait_recording_ready()  # it powers the board again
    serial.serial_for_url(vb.port_url, baudrate=115200).close()


def test_power_cut_keeps_the_port_open_and_silent(vb):
    running(vb)
    p = serial.serial_for_url(vb.port_url, baudrate=115200, timeout=0.5)
    try:
        vb.power_cut()
        p.reset_input_buffer()
        p.write(b"\r\x03")
        assert p.read(100) == b""  # nobody home
        vb.power_on()
        assert b"rst:0x1 (POWERON_RESET)" in read_until(p, b"rst:")
    finally:
        p.close()


def test_wrong_host_baud_reads_junk(vb):
    p = serial.serial_for_url(vb.port_url, baudrate=9600, timeout=0.1)  # pyserial's default
    try:
        vb.reset()  # the board talks at 115200
        data = b""
        end = time.monotonic() + 3
        while len(data) < 40 and time.monotonic() < end:
            data += p.read(100)
        assert len(data) >= 40 and b"rst:" not in data  # the ROM banner, garbled
    finally:
        p.close()


def test_esptool_resets_it_into_download_mode(vb):
    running(vb)
    r = subprocess.run([sys.executable, "-m", "esptool", "--port", vb.port_url, "--no-stub", "chip-id"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Connected to ESP32" in r.stdout
    assert any("download mode" in msg for _, msg in vb.events)
    assert "Hard resetting via RTS" in r.stdout
    vb.wait_recording_ready()  # and the hard reset booted the firmware again
    assert vb.state == "running"
