"""Clips made by the firmware on MicroPython, checked by an independent
decoder (PyAV, i.e. FFmpeg): frame count, frame bytes, hash, bad input."""
import hashlib
import json
import os
import struct

import av

from bodycam.resources import boards_dir

BOARD_HEAP = 4194304 - 2 * (640 * 480 // 5)
BOARD = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")


def record(run_mpy, jpeg_dir, body_extra="", overrides=None, heapsize=BOARD_HEAP):
    return run_mpy("""
import json, simkit
k = simkit.Kit(%r, %r, %r)
%s
k.run_for(35000)
k.press(200)
k.run_for(4000)
k.press(3200)
k.finish()
print(json.dumps({"done": k.rec.clips_done, "bad": k.ring.dropped_bad, "err": k.rec.last_error,
                  "ring": k.ring.size}))
""" % (BOARD, str(jpeg_dir), overrides or {}, body_extra), heapsize=heapsize)


def decode(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        info = {"codec": s.codec_context.name, "w": s.width, "h": s.height, "frames_hdr": s.frames}
        packets = [bytes(p) for p in c.demux(s) if p.size]
    with av.open(str(path)) as c:
        images = [(f.height, f.width) for f in c.decode(video=0)]
    return info, packets, images


def test_clip_decodes_with_exactly_the_sidecars_frames(run_mpy, jpeg_dir, tmp_path):
    out = record(run_mpy, jpeg_dir)
    assert out["done"] == ["BC000001"], out
    clips = tmp_path / "sd" / "clips"
    avi, sc = clips / "BC000001.AVI", json.loads((clips / "BC000001.JSON").read_text())
    assert sorted(os.listdir(clips)) == ["BC000001.AVI", "BC000001.JSON"]  # no temp files left
    info, packets, images = decode(avi)
    assert info["codec"] == "mjpeg" and (info["w"], info["h"]) == (640, 480)
    assert info["frames_hdr"] == sc["frames"] == len(packets) == len(images) == len(sc["frame_ms"])
    assert all(shape[:2] == (480, 640) for shape in images)
    # the AVI holds the camera's frames byte for byte, in capture order
    src = [p.read_bytes() for p in sorted(jpeg_dir.glob("*.jpg"))]
    first = sc["first_seq"]
    assert packets == [src[(first + i) % len(src)] for i in range(len(packets))]
    data = avi.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sc["avi_sha256"] and len(data) == sc["avi_bytes"]
    fm = sc["frame_ms"]
    assert hashlib.sha256(struct.pack("<%di" % len(fm), *fm)).hexdigest() == sc["frame_ms_sha256"]
    # the constant AVI rate is the clip's mean interval, so its length is real
    with av.open(str(avi)) as c:
        rate = float(c.streams.video[0].average_rate)
    assert abs(rate - 1000.0 * (len(fm) - 1) / (fm[-1] - fm[0])) < 0.05


def test_truncated_frames_from_the_camera_are_counted_never_written(run_mpy, jpeg_dir, tmp_path):
    # every 7th capture is cut short (as a glitching sensor or DMA would)
    extra = """
cam = k.hal.camera
real = cam.capture
n = [0]
def glitchy():
    mv = real()
    n[0] += 1
    return mv[:len(mv) // 2] if n[0] % 7 == 0 else mv
cam.capture = glitchy
"""
    out = record(run_mpy, jpeg_dir, extra)
    sc = json.loads((tmp_path / "sd" / "clips" / "BC000001.JSON").read_text())
    assert out["bad"] > 10
    assert sc["dropped"]["bad_frame"] > 0
    info, packets, images = decode(tmp_path / "sd" / "clips" / "BC000001.AVI")
    assert len(packets) == len(images) == sc["frames"]
    src = {p.read_bytes() for p in jpeg_dir.glob("*.jpg")}
    assert all(p in src for p in packets)  # only whole frames made it in


def test_default_ai_thinker_ring_fits_its_heap_and_not_a_smaller_one(run_mpy, jpeg_dir):
    from bodycam.resources import shared

    s = shared("settings")
    heap = s.heap_bytes(4194304, "VGA", 2)
    assert heap == BOARD_HEAP
    out = record(run_mpy, jpeg_dir, heapsize=heap)
    assert out["done"] == ["BC000001"]
    # control: in 3 MB of heap the same firmware still boots and records, on
    # a smaller ring (sized from the memory really free: firmware/memsize.py),
    # so -X heapsize really is the limit being tested
    small = record(run_mpy, jpeg_dir, heapsize=3 * 1024 * 1024)
    assert small["done"] == ["BC000002"] and small["err"] is None  # (same card: the next clip)
    assert small["ring"] < out["ring"] - 512 * 1024
