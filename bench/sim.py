"""Virtual board numbers: boot time, frame pacing per --speed, serial
throughput against the line rate, mpremote's file copy speed over it, and
`bodycam demo`'s wall time. Prints one JSON object.

    python bench/sim.py [--quick]
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import serial

from bodycam.sim import VirtualBoard


def pacing(speed, record_s=5):
    """Frame intervals (board ms) of a clip recorded at this speed."""
    with tempfile.TemporaryDirectory() as d:
        with VirtualBoard(state_dir=d + "/s", speed=speed, settings={"preroll_s": 3}) as vb:
            vb.wait_recording_ready()
            vb.sleep_board(4000)
            vb.tap()
            vb.sleep_board(record_s * 1000)
            vb.hold(3500)
            name = vb.wait_for_clip()
            _, side = vb.copy_clip(name, d)
        fm = json.load(open(side))["frame_ms"]
    iv = sorted(b - a for a, b in zip(fm, fm[1:]))
    return {"speed": speed, "frames": len(fm), "mean_ms": round(statistics.mean(iv), 2),
            "p5_ms": iv[len(iv) // 20], "p95_ms": iv[len(iv) * 19 // 20], "min_ms": iv[0], "max_ms": iv[-1]}


def read_until(p, marker, timeout=30):
    data = b""
    end = time.monotonic() + timeout
    while marker not in data and time.monotonic() < end:
        data += p.read(max(1, p.in_waiting))
    return data


def throughput(vb, baud, n=23040):
    """Board-to-host bytes/s at `baud`, against baud/10."""
    vb.reset()
    vb.wait_recording_ready()
    p = serial.serial_for_url(vb.port_url, baudrate=115200, timeout=0.1)
    try:
        p.write(b"\r\x03")
        read_until(p, b">>> ")
        if baud != 115200:
            p.write(b"import dockio; dockio.set_baud(%d)\r" % baud)
            time.sleep(0.3)
            p.baudrate = baud
            p.reset_input_buffer()
        p.write(b"import sys; sys.stdout.write(chr(90) * %d)\r" % n)
        got, first, t0 = 0, 0, None
        end = time.monotonic() + 60
        while got < n and time.monotonic() < end:
            k = p.read(max(1, p.in_waiting)).count(b"Z")
            if k and t0 is None:
                t0, first = time.monotonic(), k
            got += k
        dt = time.monotonic() - t0
    finally:
        p.close()
    rate = (got - first) / dt
    return {"baud": baud, "bytes_per_s": round(rate), "line_rate": baud // 10,
            "fraction_of_line_rate": round(rate / (baud / 10.0), 3)}


def mpremote_copy(vb, size=16384):
    """mpremote cp of a file off the board's flash: bytes/s at 115200."""
    vb.reset()
    vb.wait_recording_ready()
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port_url, "exec",
                            "f = open('blob.bin', 'wb'); f.write(bytes(range(256)) * %d); f.close()" % (size // 256)],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "mpremote", "connect", vb.port_url, "resume", "cp",
                            ":blob.bin", os.path.join(d, "blob.bin")], capture_output=True, text=True, timeout=300)
        dt = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        assert os.path.getsize(os.path.join(d, "blob.bin")) == size
    return {"bytes": size, "seconds": round(dt, 2), "bytes_per_s": round(size / dt),
            "fraction_of_line_rate": round(size / dt / 11520.0, 3)}


def main():
    quick = "--quick" in sys.argv
    out = {}
    with tempfile.TemporaryDirectory() as d:
        t0 = time.monotonic()
        with VirtualBoard(state_dir=d + "/s", speed=1) as vb:
            out["create_and_boot_s"] = round(time.monotonic() - t0, 3)
            vb.wait_recording_ready()
            out["to_first_frames_s"] = round(time.monotonic() - t0, 3)
            out["throughput"] = [throughput(vb, b) for b in ((115200,) if quick else (115200, 460800, 921600))]
            out["mpremote_cp"] = mpremote_copy(vb)
    out["pacing"] = [pacing(s) for s in ((10, 20) if quick else (1, 10, 20, 50))]
    with tempfile.TemporaryDirectory() as d:
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "bodycam", "demo", "--out", d], capture_output=True, text=True)
        out["demo"] = {"seconds": round(time.monotonic() - t0, 2), "exit": r.returncode}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
