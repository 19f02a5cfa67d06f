"""Flashing and deploying on the virtual board (paced at the line rate like
a real UART), run on the host:
    python bench/flash_deploy.py
Prints JSON: `bodycam flash` (esptool, ROM loader, no stub) throughput at
460800 and 921600 baud against the line rate; a first and a second
`bodycam deploy` (time, bytes on the wire); and deploy's base64 upload
against mpremote's fs_writefile (repr) for the same binary file.

The virtual board's ROM has no stub and no compression, so these are
ROM-loader numbers: a real board with esptool's stub and compression
writes a 1.6 MB MicroPython image far faster than `size / line rate`."""
import json
import os
import random
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from bodycam.device.deploying import deploy  # noqa: E402
from bodycam.boards import load_board  # noqa: E402
from bodycam.device.repl import Device  # noqa: E402
from bodycam.device.flashing import flash  # noqa: E402
from bodycam.sim import VirtualBoard  # noqa: E402
from test_romloader import app_image, merged_image  # noqa: E402

BOARD = "ai-thinker-esp32-cam"


def big_image(kib):
    """A valid merged image whose app is about kib KiB (incompressible)."""
    rnd = random.Random(1)
    payload = bytes(rnd.randrange(256) for _ in range(kib * 1024 // 40))
    image, _ = merged_image("esp32", app=app_image("esp32", payload))
    return image


def quiet(fn, *a, **kw):
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a, **kw)


def main():
    work = tempfile.mkdtemp(prefix="bench-flash-")
    os.environ["BODYCAM_KEYRING"] = os.path.join(work, "keys.json")
    out = {"board": BOARD}
    board = load_board(BOARD)
    image = big_image(192)
    try:
        with VirtualBoard(board=BOARD, state_dir=os.path.join(work, "state")) as vb:
            out["flash"] = []
            for baud in (460800, 921600):
                t = time.monotonic()
                rep = quiet(flash, vb.port_url, board, image, baud=baud, log=lambda *a: None)
                wall = time.monotonic() - t
                line = baud / 10.0
                out["flash"].append({
                    "baud": baud, "image_bytes": len(image), "seconds_total": round(wall, 2),
                    "seconds_in_esptool": rep["seconds"],
                    "kB_per_s": round(len(image) / rep["seconds"] / 1000, 1),
                    "line_rate_kB_per_s": round(line / 1000, 1),
                    "fraction_of_line_rate": round(len(image) / rep["seconds"] / line, 2)})
            runs = []
            for label in ("first", "second"):
                r = deploy(vb.port_url, BOARD, {"preroll_s": 5, "framesize": "QVGA"}, log=lambda *a: None)
                runs.append({"run": label, "seconds": r["seconds"], "files_sent": len(r["sent"]),
                             "upload_bytes_on_wire": r["bytes_sent"], "repl_bytes": r["repl_bytes"]})
            out["deploy"] = runs
            # Upload encodings for the same 8 KiB of .mpy-like binary data.
            data = bytes(random.Random(2).randrange(256) for _ in range(8192))
            with Device(vb.port_url) as dev:
                dev.enter()
                t = time.monotonic()
                before = dev.bytes_sent
                dev.put("bench.bin", data)
                b64 = (time.monotonic() - t, dev.bytes_sent - before)
                t = time.monotonic()
                repr_bytes = sum(len("w(" + repr(data[i:i + 256]) + ")") for i in range(0, len(data), 256))
                dev.t.fs_writefile("bench2.bin", data)
                rp = (time.monotonic() - t, repr_bytes)
                same = dev.hashes(["bench.bin", "bench2.bin"])["hashes"]
                dev.remove("bench.bin")
                dev.remove("bench2.bin")
            out["upload_8KiB_binary"] = {
                "bodycam_base64": {"seconds": round(b64[0], 2), "bytes_on_wire": b64[1]},
                "mpremote_fs_writefile_repr": {"seconds": round(rp[0], 2), "bytes_on_wire": rp[1]},
                "same_result": same["bench.bin"] == same["bench2.bin"]}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
