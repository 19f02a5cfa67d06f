"""Finding the camera's port (bodycam.device.portfind) from what pyserial's
list_ports reports (real ListPortInfo objects, filled in as its Linux
backend does for USB adapters), and --baud auto's table."""
import pytest
from serial.tools.list_ports_common import ListPortInfo

from bodycam.device import portfind


def port(device, vid=None, pid=None, product=None, serial=None):
    p = ListPortInfo(device, skip_link_detection=True)
    p.vid, p.pid, p.product, p.serial_number = vid, pid, product, serial
    if vid is not None:
        p.apply_usb_info()
    return p


CH340 = port("/dev/ttyUSB0", 0x1A86, 0x7523, "USB Serial")
CP2102N = port("/dev/ttyUSB1", 0x10C4, 0xEA60, "CP2102N USB to UART Bridge Controller", "0001")
CP2102 = port("/dev/ttyUSB2", 0x10C4, 0xEA60, "CP2102 USB to UART Bridge Controller")
FTDI = port("/dev/ttyUSB3", 0x0403, 0x6015, "FT231X USB UART")
S3JTAG = port("/dev/ttyACM0", 0x303A, 0x1001, "USB JTAG/serial debug unit")
BUILTIN = port("/dev/ttyS0")  # a PC's own UART: not a camera adapter
MOUSE = port("/dev/ttyACM5", 0x046D, 0xC52B, "Unifying Receiver")


def test_only_known_adapters_count():
    found = portfind.adapters([BUILTIN, MOUSE, S3JTAG, CH340, FTDI])
    assert [p.device for p in found] == ["/dev/ttyACM0", "/dev/ttyUSB0", "/dev/ttyUSB3"]
    assert [portfind.adapter_kind(p) for p in found] == ["ESP32-S3 USB-Serial/JTAG", "CH340", "FTDI"]


def test_a_given_port_is_used_as_is():
    assert portfind.choose_port("rfc2217://127.0.0.1:4000", comports=[]) == "rfc2217://127.0.0.1:4000"


def test_exactly_one_adapter_is_used_and_named():
    said = []
    assert portfind.choose_port(None, comports=[BUILTIN, CH340], say=said.append) == "/dev/ttyUSB0"
    assert "/dev/ttyUSB0" in said[0] and "CH340" in said[0] and "1a86:7523" in said[0]


def test_several_are_listed_and_you_choose():
    with pytest.raises(portfind.NoPortError) as e:
        portfind.choose_port(None, comports=[CH340, CP2102N])
    msg = str(e.value)
    assert "2 USB serial adapters" in msg and "--port" in msg
    assert "/dev/ttyUSB0 (CH340" in msg and "/dev/ttyUSB1 (CP210x" in msg and "serial 0001" in msg
    said = []
    answers = iter(["9", "2"])
    assert portfind.choose_port(None, comports=[CH340, CP2102N], say=said.append,
                                ask=lambda q: next(answers)) == "/dev/ttyUSB1"
    assert "not one of them" in said[-1]
    assert portfind.choose_port(None, comports=[CH340, CP2102N], say=said.append,
                                ask=lambda q: "/dev/ttyUSB0") == "/dev/ttyUSB0"


def test_none_says_what_to_check():
    with pytest.raises(portfind.NoPortError) as e:
        portfind.choose_port(None, comports=[BUILTIN])
    msg = str(e.value)
    for what in ("cable", "driver", "bodycam sim", "--port"):
        assert what in msg


def test_auto_baud_by_usb_id():
    ports = [CH340, CP2102N, CP2102, FTDI, S3JTAG]
    assert portfind.auto_baud("/dev/ttyUSB0", ports) == 2000000
    assert portfind.auto_baud("/dev/ttyUSB1", ports) == 3000000
    assert portfind.auto_baud("/dev/ttyUSB2", ports) == 921600
    assert portfind.auto_baud("/dev/ttyUSB3", ports) == 3000000
    assert portfind.auto_baud("/dev/ttyACM0", ports) is None  # USB CDC: no UART rate on a wire
    assert portfind.auto_baud("rfc2217://127.0.0.1:1", ports) is None
    assert portfind.auto_baud("/dev/ttyUSB9", ports) is None


def test_esp32_uart_really_gets_close_to_each_rate():
    # 80 MHz APB, divider in 1/16ths rounded down: 2 Mbaud is exact, 3 Mbaud
    # gets 80e6*16/426 = 3,004,695 (0.16 % fast), 921600 gets 80e6*16/1388 =
    # 922,190 (0.06 % fast): all well inside a UART's margin.
    assert portfind.esp32_uart_rate(2000000) == 2000000
    assert round(portfind.esp32_uart_rate(3000000)) == 3004695
    assert round(portfind.esp32_uart_rate(921600)) == 922190
    with pytest.raises(ValueError):
        portfind.esp32_uart_rate(90000000)


def test_station_baud_option(capsys):
    from bodycam.cli import build_parser
    from bodycam.commands.station import _baud
    parse = build_parser().parse_args
    assert _baud(parse(["station", "--out", "x"]).baud) is None
    assert _baud(parse(["station", "--out", "x", "--baud", "921600"]).baud) == 921600
    assert _baud(parse(["station", "--out", "x", "--baud", "auto"]).baud) is portfind.auto_baud
    with pytest.raises(SystemExit):
        parse(["station", "--out", "x", "--baud", "fast"])
    assert "auto" in capsys.readouterr().err
