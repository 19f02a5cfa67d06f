"""Shared fixtures. Firmware tests run on the real MicroPython unix port:
`run_mpy` writes a script, runs it with firmware/ on MICROPYPATH and the
heap limited like a board's, and returns what it printed as JSON."""
import io
import json
import os
import random
import textwrap

import pytest

from bodycam.device import upy

HERE = os.path.dirname(os.path.abspath(__file__))
MPY_HELPERS = os.path.join(HERE, "mpy")


class MpyError(AssertionError):
    pass


# Hardware-in-loop: the `board` / `virtual_board` fixtures and
# --bodycam-port come from the package's pytest plugin (bodycam.pytest_plugin,
# docs/hil.md).


def mpy_json(code, script_dir, heapsize=None, cwd=None, timeout=600):
    """Run code on the MicroPython unix port (firmware/ and tests/mpy on its
    path, the heap limited to `heapsize`) from script_dir/t_script.py; return
    the JSON value of its last stdout line. Raises MpyError with
    MicroPython's output otherwise. A plain function, for module-scoped
    fixtures; tests use the run_mpy fixture."""
    script = os.path.join(str(script_dir), "t_script.py")
    with open(script, "w") as f:
        f.write(textwrap.dedent(code))
    p = upy.run_script(script, heapsize=heapsize, cwd=str(cwd or script_dir),
                       extra_path=[MPY_HELPERS], timeout=timeout)
    if p.returncode != 0:
        raise MpyError("MicroPython exited %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    if not lines:
        raise MpyError("MicroPython printed nothing; stderr:\n" + p.stderr)
    return json.loads(lines[-1])


@pytest.fixture
def run_mpy(tmp_path):
    """run_mpy(code, heapsize=None) -> the JSON value of the script's last
    stdout line. Fails the test with MicroPython's traceback otherwise."""

    def run(code, heapsize=None, cwd=None, timeout=600):
        return mpy_json(code, tmp_path, heapsize=heapsize, cwd=cwd, timeout=timeout)

    return run


def make_jpeg(i, size=(640, 480), quality=80, busy=0):
    """A real JPEG frame with its number drawn in; `busy` adds noise so
    sizes vary like a real scene."""
    from PIL import Image, ImageDraw

    rng = random.Random(i)
    im = Image.new("RGB", size, (40 + (i * 7) % 120, 90, 160))
    d = ImageDraw.Draw(im)
    w, h = size
    x = (i * 13) % max(1, w - w // 4)
    d.rectangle((x, h // 4, x + w // 4, h // 2), fill=(220, 60, 40))
    for _ in range(busy):
        px, py = rng.randrange(w), rng.randrange(h)
        d.rectangle((px, py, px + 6, py + 6), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    d.text((8, 8), "frame %d" % i, fill=(255, 255, 255))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


@pytest.fixture(scope="session")
def jpeg_dir(tmp_path_factory):
    """A folder of 12 real VGA JPEG frames of varying size (frames/*.jpg)."""
    d = tmp_path_factory.mktemp("frames")
    for i in range(12):
        (d / ("%03d.jpg" % i)).write_bytes(make_jpeg(i, busy=(i % 4) * 150))
    return d


@pytest.fixture(scope="session")
def qvga_dir(tmp_path_factory):
    """6 real QVGA JPEG frames (the evidence tests' small, fast clips)."""
    d = tmp_path_factory.mktemp("qvga")
    for i in range(6):
        (d / ("%03d.jpg" % i)).write_bytes(make_jpeg(i, size=(320, 240), busy=i * 20))
    return d


@pytest.fixture(scope="session")
def report_fleet(tmp_path_factory):
    """A small fleet for `bodycam report` (tests/fleet.py): 10 cameras over
    8 days recorded by the firmware on the MicroPython unix port; camera 2's
    last dock leaves a clip on the camera. Its roster puts cameras 0-5 in
    Team A and 6-9 in Team B (fewer than 5 officers: suppressed in --public)."""
    import fleet
    root = tmp_path_factory.mktemp("fleet")
    f = fleet.make_fleet(root, cameras=10, days=8, seed=5, per_day=2, median_s=45, leave_on_camera=True)
    rows = open(f.roster).read().splitlines()
    out = [rows[0]]
    for line in rows[1:]:
        dev, officer, team, a, b = line.split(",")
        out.append(",".join((dev, officer, "Team A" if int(dev[-2:], 16) < 6 else "Team B", a, b)))
    with open(f.roster, "w") as fh:
        fh.write("\n".join(out) + "\n")
    return f
