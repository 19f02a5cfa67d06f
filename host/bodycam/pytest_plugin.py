"""pytest plugin (entry point `pytest11: bodycam`): hardware-in-loop tests
for your own bodycam board, or for a virtual one when you have none.

    pytest --bodycam-port /dev/ttyUSB0      # or BODYCAM_PORT=/dev/ttyUSB0
    pytest                                  # the same tests on a virtual board

Fixtures:
  board          the same verbs on either kind: info(), clips(), pull(dir),
                 press(), hold(ms), tap(), reset(). On a real board the
                 button is pressed through the dock's test-trigger command,
                 present only after `bodycam deploy --test-hooks`; each
                 trigger is audit-logged and marks its clip's sidecar.
  virtual_board  a bodycam.sim.VirtualBoard (power_cut(), unplug(), ...).
  bodycam_port   the real port, or None.
Marker:
  @pytest.mark.bodycam_real   skip (with the reason) when no real board is given.

Every wait is bounded; a port that answers but is not running bodycam, or a
board without test hooks, fails with a message that says what to do."""
import os
import time

import pytest

ENV = "BODYCAM_PORT"
INFO_TIMEOUT_S = 8.0  # a bodycam dock answers within a second; this is for slow links
BOOT_TIMEOUT_S = 60.0
PRESS_MARGIN_S = 5.0  # beyond the press itself, for the dock to take the command


class BoardError(Exception):
    """Something about the board the user must fix (the message says what)."""


def pytest_addoption(parser):
    g = parser.getgroup("bodycam", "bodycam hardware-in-loop")
    g.addoption("--bodycam-port", default=os.environ.get(ENV),
                help="serial port of a real bodycam board (/dev/ttyUSB0, COM3, rfc2217://host:port); "
                     "default $%s; without one the board fixture is a virtual board" % ENV)
    g.addoption("--bodycam-speed", type=float, default=10,
                help="the virtual board's clock speed (default: %(default)s x real time)")
    g.addoption("--bodycam-card", default="typical",
                help="the virtual board's SD card profile: fast, typical, slow, host (default: %(default)s)")
    g.addoption("--bodycam-cpu", default=None,
                help="the virtual board's CPU: esp32 or host (default: esp32 up to 4x speed, host above: "
                     "at 10x the esp32 model turns the host's own jitter into 10x-long stalls)")


def pytest_configure(config):
    config.addinivalue_line("markers", "bodycam_real: needs a real bodycam board (--bodycam-port); skipped without one")


def pytest_runtest_setup(item):
    if item.get_closest_marker("bodycam_real") and not item.config.getoption("--bodycam-port"):
        pytest.skip("needs a real bodycam board: pass --bodycam-port PORT or set $%s" % ENV)


@pytest.fixture(scope="session")
def bodycam_port(request):
    return request.config.getoption("--bodycam-port")


@pytest.fixture
def virtual_board(request, tmp_path):
    from bodycam.sim import VirtualBoard
    speed = request.config.getoption("--bodycam-speed")
    cpu = request.config.getoption("--bodycam-cpu") or ("esp32" if speed <= 4 else "host")
    with VirtualBoard(speed=speed, state_dir=str(tmp_path / "vboard"),
                      card=request.config.getoption("--bodycam-card"), cpu=cpu) as vb:
        vb.wait_recording_ready(timeout=BOOT_TIMEOUT_S)
        yield vb


@pytest.fixture
def board(request, bodycam_port, tmp_path):
    if bodycam_port:
        b = RealBoard(bodycam_port)
        try:
            b.check()
        except BoardError as e:
            pytest.fail(str(e), pytrace=False)
        yield b
        return
    vb = request.getfixturevalue("virtual_board")
    yield SimBoard(vb)


class _Board:
    """What both kinds share: the dock, over the board's serial port."""

    real = False
    port_url = None

    def info(self):
        from bodycam.offload.client import docked
        with docked(self.port_url) as c:
            return c.info()

    def clips(self):
        """Names of the complete clips on the board (BC000001, ...), oldest first."""
        from bodycam.offload.client import docked
        with docked(self.port_url) as c:
            files = c.list()
        names = {f["name"] for f in files if not f.get("busy")}
        return sorted(n[:-4] for n in names if n.endswith(".AVI") and n[:-4] + ".JSON" in names)

    def pull(self, out_dir, baud=None):
        """Bring every clip (and the audit log) to out_dir, SHA-256 verified.
        Returns pull's summary dict."""
        from bodycam.offload.pull import pull_all
        return pull_all(self.port_url, str(out_dir), baud=baud, progress=False, say=lambda *a: None)

    def tap(self):
        return self.hold(150)

    def press(self):
        """A short press (starts a recording, or marks one)."""
        return self.tap()


class SimBoard(_Board):
    """The board fixture on a virtual board: presses on its button pin."""

    def __init__(self, vb):
        self.vb = vb
        self.port_url = vb.port_url

    def hold(self, ms):
        self.vb.hold(ms)

    def reset(self):
        self.vb.reset()
        self.vb.wait_recording_ready(timeout=BOOT_TIMEOUT_S)

    def sleep(self, ms):
        """Let ms of board time pass (the virtual clock may run fast)."""
        self.vb.sleep_board(ms)


class RealBoard(_Board):
    """The board fixture on a real board (or any port running bodycam)."""

    real = True

    def __init__(self, port_url):
        self.port_url = port_url

    def check(self):
        """Fail clearly unless the port answers as a bodycam board."""
        from bodycam.offload.client import DockError, docked
        try:
            with docked(self.port_url) as c:
                c.connect(total=INFO_TIMEOUT_S)
        except DockError as e:
            raise BoardError("%s does not answer as a bodycam board: %s. Is bodycam deployed on it "
                             "(`bodycam deploy --port %s --test-hooks`) and its firmware running?"
                             % (self.port_url, e, self.port_url))

    def hold(self, ms):
        """Press for ms through the dock's test trigger; returns once released."""
        from bodycam.offload.client import DockError, docked
        try:
            with docked(self.port_url) as c:
                c.call("H", "press", int(ms), total=INFO_TIMEOUT_S)
        except DockError as e:
            if getattr(e, "code", None) == "no_test_hooks" or "no test hooks" in str(e):
                raise BoardError("%s: deploy it with `bodycam deploy --port %s --test-hooks` so tests can "
                                 "press its button" % (e, self.port_url))
            raise
        time.sleep(ms / 1000.0 + 0.3)  # the press runs on the board's own clock

    def sleep(self, ms):
        time.sleep(ms / 1000.0)

    def reset(self):
        """Pulse EN through RTS (ESP32-CAM-MB / USB-UART wiring), then wait
        for the firmware's boot line."""
        from bodycam.offload.client import open_port
        port = open_port(self.port_url)
        try:
            port.rts = True
            time.sleep(0.1)
            port.rts = False
            end = time.monotonic() + BOOT_TIMEOUT_S
            seen = b""
            while time.monotonic() < end:
                seen = (seen + port.read(256))[-4096:]
                at = seen.rfind(b"BODYCAM-BOOT ")
                if at >= 0 and b"\n" in seen[at:]:  # a whole boot line
                    return
            raise BoardError("%s did not print its boot line within %.0f s of a reset; last output: %r"
                             % (self.port_url, BOOT_TIMEOUT_S, seen[-300:]))
        finally:
            port.close()
