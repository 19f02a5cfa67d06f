"""--port is optional: with no --port and no $BODYCAM_PORT, commands use the
one USB serial adapter plugged in, or say what to check when there is none;
--baud auto resolves per adapter."""
import argparse

import pytest
from serial.tools.list_ports_common import ListPortInfo

from bodycam import cli, cliargs
from bodycam.device import portfind


def _adapter(dev, vid, pid, product):
    info = ListPortInfo(dev, skip_link_detection=True)
    info.vid, info.pid, info.product, info.description = vid, pid, product, product
    return info


def test_no_port_and_no_adapter_says_what_to_check(monkeypatch, capsys):
    monkeypatch.delenv("BODYCAM_PORT", raising=False)
    monkeypatch.setattr(portfind, "adapters", lambda comports=None: [])
    rc = cli.main(["ls"])
    err = capsys.readouterr().err
    assert rc != 0
    assert "bodycam sim" in err and "cable" in err


def test_the_only_adapter_is_used_and_named(monkeypatch, capsys):
    monkeypatch.delenv("BODYCAM_PORT", raising=False)
    one = _adapter("/dev/ttyUSB7", 0x1A86, 0x7523, "USB Serial")
    monkeypatch.setattr(portfind, "adapters", lambda comports=None: [one])
    p = argparse.ArgumentParser()
    cliargs.add_port_argument(p)
    args = p.parse_args([])
    assert cliargs.need_port(args) == "/dev/ttyUSB7"
    assert "/dev/ttyUSB7" in capsys.readouterr().err


def test_a_given_port_wins_over_adapters(monkeypatch):
    monkeypatch.setattr(portfind, "adapters", lambda comports=None: pytest.fail("should not look"))
    p = argparse.ArgumentParser()
    cliargs.add_port_argument(p)
    assert cliargs.need_port(p.parse_args(["--port", "rfc2217://127.0.0.1:1"])) == "rfc2217://127.0.0.1:1"


def test_baud_auto_resolves_by_adapter(monkeypatch):
    ch340 = _adapter("/dev/ttyUSB0", 0x1A86, 0x7523, "USB Serial")
    monkeypatch.setattr(portfind, "adapters", lambda comports=None: [ch340])
    said = []
    assert cliargs.resolve_baud("auto", "/dev/ttyUSB0", said.append) == 2000000
    assert cliargs.resolve_baud("auto", "rfc2217://127.0.0.1:5", said.append) is None
    assert cliargs.resolve_baud(921600, "/dev/ttyUSB0", said.append) == 921600
    with pytest.raises(argparse.ArgumentTypeError):
        cliargs.baud_argument("fast")
