"""bodycam.progress: the one convention of every long command (flash,
deploy, pull, station). On a terminal one line redrawn in place; in a pipe
or a log a line per 10 % done, however big the job."""
import io

from bodycam.device import deploying
from bodycam.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_a_line_per_ten_percent():
    out = io.StringIO()
    p = Progress(1400000, stream=out, name="firmware.bin")
    for _ in range(1400):  # 1 KB blocks, as esptool writes a 1.4 MB image
        p.add(1000)
    p.finish()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in out.getvalue()
    assert [ln[:6] for ln in lines] == ["[%3d%%]" % v for v in range(10, 101, 10)]
    assert "firmware.bin" in lines[-1] and "1.4 MB / 1.4 MB" in lines[-1]


def test_a_big_step_prints_one_line_not_one_per_ten_percent_passed():
    out = io.StringIO()
    p = Progress(100, stream=out, unit="files")
    p.update(35)
    p.update(100)
    p.finish()
    assert [ln[:6] for ln in out.getvalue().splitlines()] == ["[ 35%]", "[100%]"]
    assert "100 files / 100 files" in out.getvalue()


def test_on_a_terminal_one_line_redrawn_and_ended_once():
    out = Terminal()
    p = Progress(1000, stream=out, every=0)
    for _ in range(100):
        p.add(10)
    p.print_line("a message between updates")
    p.add(0)
    p.finish()
    text = out.getvalue()
    assert text.count("\n") == 2  # the message, and the end of the job
    assert text.count("\r") > 100
    assert "a message between updates\n" in text
    assert text.rstrip("\n").split("\r")[-1].startswith("[100%]")


class FakeDevice:
    """Device.put's contract: progress(done, total) after each 2 KB chunk."""

    def __init__(self):
        self.files = {}

    def put(self, path, data, progress=None):
        for i in range(0, len(data), 2048):
            if progress:
                progress(min(i + 2048, len(data)), len(data))
        self.files[path] = data


def test_deploy_upload_follows_the_convention(capsys):
    files = [("m%02d.mpy" % i, bytes(3000 + 500 * i)) for i in range(25)]
    dev = FakeDevice()
    deploying._send(dev, files, progress=True)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert 5 <= len(lines) <= 11 and lines[-1].startswith("[100%]") and "m24.mpy" in lines[-1]
    assert dev.files == dict(files)
    deploying._send(dev, files, progress=False)
    assert capsys.readouterr().err == ""
