"""What the virtual board charges for storage and CPU, in board time: the
block devices' cost model on the real MicroPython unix port, the profiles'
numbers, and bad --card/--cpu values refused with the known ones."""
import json

import pytest

from bodycam import cli
from bodycam.sim import SimError, VirtualBoard
from bodycam.sim import costs, cpu

COSTS = """
import json, vboard_bdev, vboard_costs
bt = vboard_costs.BoardTime(1000000)  # speed 1000: 1 board s = 1 wall ms
f = open("img", "w+b")
f.write(bytearray(1 << 20))
c = vboard_bdev.Costs(%r, bt)
card = vboard_bdev.CardImage(f, c)
buf = bytearray(8192)
card.writeblocks(0, buf)          # 16 sectors from a PSRAM buffer
w = bt.spent_us
card.readblocks(0, bytearray(512))
r = bt.spent_us - w
for i in range(600):              # 4.9 MB: stalls come every 1-3 MB
    card.writeblocks(16, buf)
print(json.dumps({"write_8k": w, "read_512": r, "stalls": c.stalls, "stall_ms": c.stall_ms_total,
                  "total": bt.spent_us, "ops": c.ops}))
"""


def test_sd_writes_cost_one_single_block_command_per_sector(run_mpy):
    p = costs.card_profile("typical")
    out = run_mpy(COSTS % p)
    # ESP-IDF bounces a PSRAM buffer: 16 commands, each with the card's program time
    assert out["write_8k"] == 16 * costs.sector_write_us(p) == 16 * (200 + 512 + 1800)
    assert out["read_512"] == 200 + 512 * 1000000 // 1500000
    # 1-3 MB between stalls (2 MB on average), 100 ms each
    assert 1 <= out["stalls"] <= 4 and out["stall_ms"] == 100 * out["stalls"]
    assert out["total"] == 601 * 16 * costs.sector_write_us(p) + out["read_512"] + out["stall_ms"] * 1000


def test_slow_card_stalls_for_the_sd_spec_limit(run_mpy):
    out = run_mpy(COSTS % costs.card_profile("slow"))
    assert out["stalls"] >= 1 and out["stall_ms"] == 250 * out["stalls"]


def test_flash_erase_and_program_cost_the_chip_times(run_mpy):
    out = run_mpy("""
import json, vboard_bdev, vboard_costs
bt = vboard_costs.BoardTime(1000000)
f = open("flash", "w+b")
f.write(bytearray(b"\\xff" * 65536))
part = vboard_bdev.FlashPartition(f, 0, 65536, vboard_bdev.Costs(%r, bt))
part.writeblocks(1, bytearray(4096))   # simple protocol: erase, then program 16 pages
print(json.dumps(bt.spent_us))
""" % costs.FLASH)
    assert out == 45000 + 16 * 700


def test_host_card_is_free_and_profiles_refuse_unknown_names():
    assert costs.card_profile("host") is None
    with pytest.raises(SimError, match="unknown card 'sd-ultra': use one of fast, host, slow, typical"):
        costs.card_profile("sd-ultra")
    with pytest.raises(SimError, match="unknown cpu 'arm': use one of esp32, host"):
        cpu.check_cpu("arm")
    with pytest.raises(SimError, match="unknown card"):
        VirtualBoard(card="bogus")
    # slower cards are slower, through MicroPython (bounced sectors, stalls averaged in)
    rates = [costs.effective_write_Bps(costs.card_profile(n)) for n in ("fast", "typical", "slow")]
    assert rates[0] > rates[1] > rates[2] and 150000 < rates[1] < 300000


def test_sim_refuses_an_unknown_card_with_the_known_ones(capsys):
    assert cli.main(["sim", "--card", "bogus", "--state", "/nonexistent/x"]) != 0
    err = capsys.readouterr().err
    assert "unknown card 'bogus'" in err and "typical" in err


def test_plan_says_whether_the_card_keeps_up_and_when_the_preroll_is_on_it(capsys):
    assert cli.main(["plan", "--card", "typical"]) == 0
    out = capsys.readouterr().out
    assert "sustained" in out and "pre-roll: 1.50 MB reaches the storage" in out
    # within 10 % of what bench/press.py measures on the virtual board (7.9-8.2 s, typical card)
    secs = float(out.split("reaches the storage ~")[1].split(" s")[0])
    assert 7.2 <= secs <= 9.0, out
    # QVGA at 25 fps with a slow card: too much for it
    assert cli.main(["plan", "--card", "slow", "--framesize", "SVGA", "--fps", "10", "--preroll", "5"]) == 1
    assert "NOT sustained" in capsys.readouterr().out


def test_cpu_scale_is_calibrated_against_the_esp32_pystone_figures():
    s = cpu.cpu_scale("esp32")
    assert cpu.cpu_scale("host") is None
    # this host's unix port is some tens to hundreds of times an ESP32
    assert 10 < s < 2000
    assert s == pytest.approx(cpu.host_pystones() / cpu.ESP32_PYSTONES)


def test_code_sent_to_the_raw_repl_is_not_billed_as_the_firmwares_cpu_time():
    # mpremote's raw REPL on the esp32 CPU model: the unix port reads the
    # pty a byte per read(), work the chip's UART driver does. Billed at the
    # pystone scale, each 2 KB chunk of a deploy cost 1-2 s of board time
    # and mpremote gave up ("timeout waiting for first EOF"). Only the
    # firmware (main.py) is charged; the file the REPL's code writes still
    # pays the flash's program time (every block write is a HAL call: an
    # earlier rule that took 250 ms away from the HAL for "at the REPL"
    # billed this upload in full).
    from bodycam.device.repl import Device

    with VirtualBoard(state_dir=None, cpu="esp32") as vb:  # typical card, the flash's costs
        vb.wait_recording_ready()
        with Device(vb.port_url) as d:
            d.enter()
            c0 = json.loads(d.run("import vboard, json; print(json.dumps(vboard.LINK.cpu.charged_us))"))
            t0 = json.loads(d.run("import time, json; print(json.dumps(time.ticks_ms()))"))
            d.put("blob.bin", bytes(range(256)) * 160)  # 40 KB in 20 chunks, as deploy sends a module
            d.run("time.sleep_ms(10)")
            t1 = json.loads(d.run("print(json.dumps(time.ticks_ms()))"))
            c1 = json.loads(d.run("print(json.dumps(vboard.LINK.cpu.charged_us))"))
            flash_us = json.loads(d.run("print(json.dumps(vboard.LINK.cost_report.devices['flash'].busy_us))"))
            assert d.run("print(open('blob.bin', 'rb').read() == bytes(range(256)) * 160)").strip() == b"True"
    # the board's own clock: the upload took board time near the link's
    # (40 KB as base64 at 115200: ~5 s), not the seconds a chunk would bill
    assert 10 <= time_diff(t1, t0) < 12000, (t0, t1)
    assert c1 == c0  # the REPL's CPU time is not the firmware's...
    assert flash_us >= 10 * 45000  # ...and the flash's erase/program time is still charged


def time_diff(a, b):
    return (a - b) & 0x3FFFFFFF


def test_the_uart_stand_ins_own_work_is_not_billed_as_the_firmwares_cpu(run_mpy):
    # vboard.ReplUart stands in for uart_stdout_tx_strn and its tick waits:
    # its pty writes and polls are the UART driver's and FreeRTOS's work on
    # the chip. Billed as the firmware's Python (pystone scale), they made
    # the dock stream at 0.20-0.26 of the line rate on the esp32 CPU model
    # (bench/offload.py; 0.86 with them left out, 0.98 on the host CPU).
    out = run_mpy("""
import json, time, vboard_costs


def burn(ms):   # host CPU time, as a stand-in's syscalls would use
    t = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t) < ms:
        pass


class Link:
    _sm = 1000                       # speed 1
    def board_us(self):
        return time.ticks_us()
    def ticks_ms(self):
        return 0
    def sleep_ms(self, ms, wake=None):
        pass
    def sleep_until_us(self, us, wake=None):
        burn(5)
    def send(self, msg):
        pass


class Camera:
    def capture(self):
        pass
    def free_buffer(self):
        pass


class Uart:
    def write(self, b, off=0, n=None):
        burn(20)
    def sleep_us(self, us):
        burn(20)


link = Link()
bt, cpu = vboard_costs.attach(link, {"cpu_scale": 10}, Camera, Uart)
cpu.firmware(True)                   # main.py runs (vboard_boot does this)
u = Uart()
link.ticks_ms()
c0 = cpu.charged_us
u.write(b"x"); u.sleep_us(1000); link.sleep_until_us(0)
link.ticks_ms()
stand_ins = cpu.charged_us - c0
burn(20)                             # the firmware's own work: billed (the control)
link.ticks_ms()
own = cpu.charged_us - c0 - stand_ins
print(json.dumps({"stand_ins": stand_ins, "own": own}))
""")
    # own: 20 ms of host CPU at scale 10 is ~200 ms of board time, less the
    # 20 ms it already took; the stand-ins' 45 ms would be ~400 ms more
    assert out["own"] > 100000, out
    assert out["stand_ins"] < out["own"] // 10, out


def test_the_virtual_boards_own_bookkeeping_is_not_billed_as_esp32_cpu(run_mpy):
    # The CPU model reads the process's CPU clock at each HAL call (~3 us a
    # read, moving only at scheduler ticks) and times each block-device op.
    # That bookkeeping is the simulator's, not the ESP32's: billed at the
    # pystone scale (x100 here) it made one 200-byte state file saved on the
    # littlefs flash (thousands of 128-byte reads) cost 2-6 s of board time.
    out = run_mpy("""
import json, time, vboard_costs, vboard_bdev
bt = vboard_costs.BoardTime(1000)    # speed 1
cpu = vboard_costs.Cpu(bt, 100.0, %r)   # the calibration a VirtualBoard brings
cpu.firmware(True)
hal = vboard_costs._bracket(cpu, lambda obj: None)
f = open("flash.img", "w+b")
f.write(b"\\xff" * 65536)
part = vboard_bdev.FlashPartition(f, 0, 65536, vboard_bdev.Costs(None, bt, cpu))
buf = bytearray(128)
hal(None)
c0 = cpu.charged_us
for _ in range(50000):               # HAL calls with nothing in between
    hal(None)
calls = cpu.charged_us - c0
c0 = cpu.charged_us
for i in range(50000):               # block reads, as littlefs makes them
    part.readblocks(i %% 16, buf, 128)
hal(None)
ops = cpu.charged_us - c0
t = time.clock()
while time.clock() - t < 0.020:
    pass                             # 20 ms of the firmware's own CPU (not wall: the host may be loaded): billed
hal(None)
own = cpu.charged_us - c0 - ops
print(json.dumps({"calls": calls, "ops": ops, "own": own}))
""" % cpu.bookkeeping())
    # 50000 of either, billed as before, were 25-50 s of board time; now
    # what is left is the loops' own Python, the clock's tick noise and
    # ~1-1.5 us a HAL call the calibration misses (measured: 4.5-7 s, 1 s)
    assert out["calls"] < 15000000, out
    assert out["ops"] < 10000000, out
    # 20 ms x 100, less the 20 ms it took; the process clock's 20 ms read
    # 14-15 ms of run time on this loaded VM (steal), hence the margin
    assert 1000000 < out["own"] < 2500000, out


def test_the_board_clock_agrees_with_the_simulators_on_the_first_boot_of_a_run(monkeypatch):
    # The CPU model's calibration (bookkeeping(), ~3 s once per run) was
    # measured inside the hello reply, after the reply had taken the board
    # time: the first board of every run booted 3 s x speed behind the
    # simulator's clock, so a button edge sent "now" reached the firmware
    # ~30 s of board time late at speed 10 (a tap was missed).
    from bodycam.offload.client import DockClient
    import serial
    monkeypatch.setattr(cpu, "_cache", {})  # as in a fresh process
    with VirtualBoard(state_dir=None, speed=10, card="host") as vb:
        vb.wait_recording_ready()
        port = serial.serial_for_url(vb.port_url, baudrate=115200, timeout=0.02)
        try:
            before = vb.clock.ms()
            board = DockClient(port).connect(total=10)["clock"]["ticks_ms"]
            after = vb.clock.ms()
        finally:
            port.close()
    assert before - 200 <= board <= after + 200, (before, board, after)


@pytest.mark.xfail(strict=True, reason="known bias of the CPU model, not fixed yet (docs/virtual-board.md, "
                   "'CPU clock'): reading /proc/self/stat first would fix it, but then garbage collections "
                   "(host time x the pystone scale: ~4 s each with the 3.3 MB ring, ~100 ms on the chip) "
                   "need a cost of their own first")
def test_python_shorter_than_a_scheduler_tick_between_hal_calls_is_billed(run_mpy):
    # /proc/self/schedstat moves only at ticks and switches: read alone
    # after 50 us of Python it still shows the last switch; the Python is
    # then added up inside the next HAL call's sleep and left out, and the
    # firmware's work between HAL calls is billed as ~0 (a 2 Mbaud pull's
    # dock: 0.8 % of board time; an idle board buffering VGA: 0 %).
    out = run_mpy("""
import json, time, vboard_costs
bt = vboard_costs.BoardTime(1000)
cpu = vboard_costs.Cpu(bt, 100.0, %r)
cpu.firmware(True)
hal = vboard_costs._bracket(cpu, lambda: time.sleep_us(200))   # a HAL call that sleeps (a switch)
hal()
c0 = cpu.charged_us
py_us = 0
for _ in range(400):
    t = time.ticks_us()
    s = 0
    for i in range(300):             # ~tens of us of Python: far less than a tick
        s += i * i
    py_us += time.ticks_diff(time.ticks_us(), t)
    hal()
print(json.dumps({"charged_s": (cpu.charged_us - c0) / 1e6, "python_s": py_us / 1e6}))
""" % cpu.bookkeeping())
    # billed at ~x99 of the Python's time (measured as wall time: its CPU,
    # or more when the host is loaded; the loop's own lines around it add
    # a little): before, ~0
    assert 40 * out["python_s"] < out["charged_s"] < 200 * out["python_s"], out
