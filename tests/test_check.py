"""bodycam check on clips with known timing, made by the real firmware
(recorder, ring, clip writer) on MicroPython under synthetic time; and on
truncated and corrupt AVIs, which must be diagnosed, never a traceback."""
import json
import os
import random
import shutil
import statistics
import struct
import sys

import pytest
from PIL import Image

from bodycam import cli, timing
from bodycam.evidence.avi_reader import read_avi
from bodycam.resources import boards_dir, shared
from conftest import mpy_json

BOARD = os.path.join(boards_dir(), "ai-thinker-esp32-cam.json")
QVGA_HEAP = shared("settings").heap_bytes(4194304, "QVGA", 2)


def mpy(code, cwd, heapsize=QVGA_HEAP):
    return mpy_json(code, cwd, heapsize=heapsize)


def timed(cwd, qvga_dir, times, press_t, stop_t, preroll_ms, fps, bad=()):
    """Record one clip with the firmware at these capture times; returns
    the clip's path without extension."""
    os.makedirs(os.path.join(str(cwd), "clips"), exist_ok=True)
    name = mpy("""
import json, evkit
from hal_virtual import load_frames
print(json.dumps(evkit.timed_clip("clips", load_frames(%r), %r, %d, %d, %d, %d, %r)))
""" % (str(qvga_dir), list(times), press_t, stop_t, preroll_ms, fps, list(bad)), cwd)
    return os.path.join(str(cwd), "clips", name)


def jload(path):
    with open(path) as f:
        return json.load(f)


def run_cli(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.out, out.err


def brute_min_window(fm, w, where=False):
    # Every integer window start from the first frame to the last possible.
    best = None
    for s in range(fm[0], fm[-1] - w + 1):
        c = sum(1 for t in fm if s <= t < s + w)
        if best is None or c < best[0]:
            best = (c, s)
    return best if where else best[0]


# --- timing --------------------------------------------------------------

def test_regular_clip_pre_roll_latency_and_rate(tmp_path, qvga_dir, capsys):
    times = list(range(0, 10000, 100))
    base = timed(tmp_path, qvga_dir, times, press_t=5050, stop_t=8000, preroll_ms=3000, fps=10)
    rep = timing.check_clip(base)
    # Expected from the chosen times alone: the first frame is the newest at
    # or before press - 3 s (2000), the first live one the next after the press.
    kept = [t for t in times if 2000 <= t <= 8000]
    assert rep["frames"] == len(kept) == 61
    assert rep["preroll_ms"] == 5050 - 2000
    assert rep["preroll_frames"] == len([t for t in kept if t < 5050]) == 31
    assert rep["press_to_first_live_ms"] == 5100 - 5050
    assert rep["fps_mean"] == 10.0 and rep["fps_min_1s"] == 10
    assert rep["largest_gap"]["ms"] == 100 and rep["interval_ms"]["jitter_std"] == 0
    assert rep["gaps"] == 0 and rep["dropped_total"] == 0
    assert rep["avi_agreement"]["frames_avi"] == 61 and rep["avi_agreement"]["max_offset_ms"] == 0
    assert rep["problems"] == [] and rep["ok"]
    code, out, _ = run_cli(["check", base + ".AVI", "--preroll", "3"], capsys)
    assert code == 0 and "pre-roll kept:    3.05 s before the press (31 frames)" in out
    assert "verdict: meets its targets" in out
    code, out, _ = run_cli(["check", base, "--preroll", "3.1"], capsys)
    assert code == 1 and "pre-roll: only 3.05 s kept before the press, 3.10 s required" in out
    code, out, _ = run_cli(["check", base, "--max-delay", "20"], capsys)
    assert code == 1 and "latency: first live frame 50 ms after the press (limit 20 ms)" in out


def test_camera_failure_makes_a_gap_and_dropped_frames(tmp_path, qvga_dir, capsys):
    times = list(range(0, 12000, 100))
    bad = list(range(6000, 6700, 100))  # the camera gives bad frames for 0.7 s
    base = timed(tmp_path, qvga_dir, times, press_t=4000, stop_t=10000, preroll_ms=2000, fps=10, bad=bad)
    rep = timing.check_clip(base)
    fm = [t - 4000 for t in times if 2000 <= t <= 10000 and t not in bad]
    side = jload(base + ".JSON")
    assert side["frame_ms"] == fm
    assert rep["dropped"]["bad_frame"] == 7 and rep["dropped_total"] == 7
    assert rep["largest_gap"] == {"ms": 800, "after_frame": fm.index(1900), "from_ms": 1900, "to_ms": 2700}
    assert rep["gaps"] == 1 and rep["missing_frames_est"] == 7
    assert (rep["fps_min_1s"], rep["fps_min_1s_at_ms"]) == brute_min_window(fm, 1000, where=True) == (3, 1601)
    code, out, _ = run_cli(["check", base], capsys)
    assert code == 1
    assert "gap: no frame for 800 ms from +1.90 s to +2.70 s (limit 300 ms)" in out
    assert "frame rate: only 3 frames in the second from +1.60 s, 10 fps set" in out
    assert "frame rate: 9.12 fps on average, below the 10 fps set" in out
    # a looser gap limit and rate still fail on the rate alone
    code, out, _ = run_cli(["check", base, "--max-gap", "1000"], capsys)
    assert code == 1 and "gap:" not in out and "frame rate: only 3 frames" in out


def test_one_lost_frame_amid_jitter_passes_two_in_a_second_fail(tmp_path, qvga_dir, capsys):
    rng = random.Random(5)
    times = [i * 100 + rng.randrange(-3, 4) for i in range(100)]
    one = timed(tmp_path / "a", qvga_dir, times, press_t=3050, stop_t=9000, preroll_ms=2000, fps=10,
                bad=[times[60]])
    rep = timing.check_clip(one)
    assert rep["fps_min_1s"] == 8 and rep["ok"], rep["problems"]
    two = timed(tmp_path / "b", qvga_dir, times, press_t=3050, stop_t=9000, preroll_ms=2000, fps=10,
                bad=[times[60], times[65]])
    rep = timing.check_clip(two)
    assert rep["fps_min_1s"] == 7 and rep["largest_gap"]["ms"] < 300
    assert rep["problems"] == ["frame rate: only 7 frames in the second from %+.2f s, 10 fps set"
                               % (rep["fps_min_1s_at_ms"] / 1000.0)]


def test_jitter_and_rate_on_irregular_times(tmp_path, qvga_dir):
    rng = random.Random(4)
    times = [i * 200 + rng.randrange(-30, 31) for i in range(60)]
    times = sorted(set(times))
    base = timed(tmp_path, qvga_dir, times, press_t=times[20] + 1, stop_t=times[-5], preroll_ms=3000, fps=5)
    rep = timing.check_clip(base)
    fm = jload(base + ".JSON")["frame_ms"]
    iv = [b - a for a, b in zip(fm, fm[1:])]
    assert rep["interval_ms"]["jitter_std"] == round(statistics.pstdev(iv), 3)
    assert rep["interval_ms"]["max"] == max(iv) and rep["interval_ms"]["min"] == min(iv)
    assert rep["fps_mean"] == round(1000.0 * len(iv) / (fm[-1] - fm[0]), 3)
    assert rep["fps_min_1s"] == brute_min_window(fm, 1000)
    # The AVI has one constant rate: frames sit up to this far off their true time.
    us = read_avi(base + ".AVI").us_per_frame
    assert rep["avi_agreement"]["max_offset_ms"] == round(max(abs(i * us / 1000.0 - (t - fm[0]))
                                                              for i, t in enumerate(fm)), 3)
    assert rep["avi_agreement"]["avi_span_ms"] <= fm[-1] - fm[0] < rep["avi_agreement"]["avi_span_ms"] + 1


def test_app_under_synthetic_time_keeps_30_s_at_the_rate_set(tmp_path, qvga_dir, capsys):
    out = mpy("""
import json, evkit
k = evkit.EvKit(%r, %r, {"framesize": "QVGA", "fps": 5, "preroll_s": 30})
t = k.clip(preroll_ms=40000, live_ms=4000, marker_at=1000)
print(json.dumps([t, k.rec.clips_done]))
""" % (BOARD, str(qvga_dir)), tmp_path)
    press, done = out
    base = str(tmp_path / "sd" / "clips" / done[0])
    code, text, _ = run_cli(["check", base, "--fps", "5", "--preroll", "30"], capsys)
    assert code == 0, text
    rep = timing.check_clip(base)
    assert 30000 <= rep["preroll_ms"] < 30200 and rep["preroll_frames"] == 150
    assert rep["fps_min_1s"] == 5 and rep["largest_gap"]["ms"] == 200
    assert rep["press_to_first_live_ms"] == 0 and len(rep["markers"]) == 1
    code, text, _ = run_cli(["check", base, "--preroll", "45"], capsys)
    assert code == 1 and "pre-roll: only 30.00 s kept before the press, 45.00 s required" in text


def test_min_window_matches_brute_force():
    rng = random.Random(9)
    for _ in range(150):
        n = rng.randrange(2, 30)
        fm = sorted(rng.sample(range(-3000, 3000), n))
        got = timing.min_frames_in_window(fm, 1000)
        if fm[-1] - fm[0] < 1000:
            assert got is None
        else:
            assert got == brute_min_window(fm, 1000, where=True)


def _legend(ax):
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    FigureCanvasAgg(fig).draw()  # tick labels exist once drawn
    return fig


def test_json_and_plot(tmp_path, qvga_dir, capsys, monkeypatch):
    from bodycam import timing_plot
    times = list(range(0, 8000, 100))
    base = timed(tmp_path, qvga_dir, times, press_t=3000, stop_t=7000, preroll_ms=2000, fps=10,
                 bad=[5000, 5100, 5200])
    png = str(tmp_path / "t.png")
    code, out, _ = run_cli(["check", base, "--json", "--plot", png], capsys)
    rep = json.loads(out)
    assert code == 1 and rep["ok"] is False and rep["largest_gap"]["ms"] == 400 and rep["plot"] == png
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] >= 800 and im.size[1] >= 500

    # What the picture holds (the same figure the CLI saved), not its pixels.
    fm = jload(base + ".JSON")["frame_ms"]
    sizes, src = timing_plot.frame_sizes(base + ".AVI")
    assert src == "AVI index" and sizes == [n for _, n in read_avi(base + ".AVI").index] and len(sizes) == len(fm)
    fig = _drawn(timing_plot.figure(rep, fm, sizes, src))
    assert len(fig.axes) == 2
    top, bottom = fig.axes
    assert fig.get_suptitle().startswith(os.path.basename(base) + ": FAILS: ")
    assert "ms" in top.get_ylabel() and "bytes" in bottom.get_ylabel()
    assert bottom.get_xlabel().startswith("seconds from the press")
    yticks = [t.get_text() for t in top.get_yticklabels() if t.get_text()]
    assert len(yticks) >= 4 and all(t.endswith(" ms") for t in yticks)
    assert any(t.get_text() == "\u22122" for t in bottom.get_xticklabels())  # -2 s: the pre-roll
    labels = _legend(top)
    for want in ("interval before each frame", "nominal 100 ms (10 fps)", "gap limit 300 ms",
                 "1 gap over the limit", "pre-roll kept (2.0 s)", "pre-roll wanted: from -2 s", "stop (hold)"):
        assert want in labels, labels
    assert any(lab.startswith("press") for lab in labels)
    size_line = [ln for ln in bottom.get_lines() if ln.get_label().startswith("frame size")]
    assert len(size_line) == 1 and list(size_line[0].get_ydata()) == sizes
    assert _legend(bottom) == ["frame size (AVI index)"]

    # The same clip with a gap limit above the gap: nothing is over it.
    png2 = str(tmp_path / "t2.png")
    code, out, _ = run_cli(["check", base, "--max-gap", "500", "--plot", png2], capsys)
    assert "plot: " + png2 in out and os.path.getsize(png2) > 0
    rep2 = timing.check_clip(base, max_gap_ms=500)
    labels = _legend(timing_plot.figure(rep2, fm, sizes, src).axes[0])
    assert "gap limit 500 ms" in labels and not any("over the limit" in lab for lab in labels)

    # Without matplotlib: a clear message naming the extra, exit 2, no file.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    png3 = tmp_path / "t3.png"
    code, out, err = run_cli(["check", base, "--plot", str(png3)], capsys)
    assert code == 2 and "pip install 'bodycam[plot]'" in err and not png3.exists()


def test_plot_marks_markers_once_in_the_legend():
    from bodycam import timing_plot
    fm = list(range(-3000, 5000, 200))
    rep = {"clip": "BC000009", "problems": [], "targets": {"fps": 5, "max_gap_ms": 600, "preroll_ms": 3000},
           "markers": [{"ms": 1000, "held_ms": 200}, {"ms": 2600, "held_ms": 250}],
           "stop": {"reason": "storage", "ms": 4900}}
    fig = timing_plot.figure(rep, fm, [9000] * len(fm), "AVI index")
    top, bottom = fig.axes
    labels = _legend(top)
    assert labels.count("marker (short press)") == 1 and "stop (storage)" in labels
    assert fig.get_suptitle() == "BC000009: meets its targets"
    # the markers are drawn on both panels
    for ax in (top, bottom):
        xs = {ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_linestyle() == "-."}
        assert xs == {1.0, 2.6}


# --- damaged files --------------------------------------------------------

@pytest.fixture(scope="module")
def clip(tmp_path_factory, qvga_dir):
    """A sound 60-frame clip and its frame offsets from the index."""
    d = tmp_path_factory.mktemp("clip")
    base = timed(d, qvga_dir, list(range(0, 6000, 100)), press_t=2000, stop_t=5900, preroll_ms=2000, fps=10)
    with open(base + ".AVI", "rb") as f:
        data = f.read()
    idx = data.rindex(b"idx1")
    movi = data.index(b"movi")
    n = struct.unpack_from("<I", data, idx + 4)[0] // 16
    entries = [struct.unpack_from("<4sIII", data, idx + 8 + 16 * i) for i in range(n)]
    offsets = [(movi + off + 8, size) for _, _, off, size in entries]  # data start, size
    return base, data, offsets, idx


def copy_clip(clip, tmp_path, data=None):
    base, orig, _, _ = clip
    dst = str(tmp_path / "BC000001")
    shutil.copy(base + ".JSON", dst + ".JSON")
    with open(dst + ".AVI", "wb") as f:
        f.write(orig if data is None else data)
    return dst


def test_sound_clip_reads_whole(clip):
    base, data, offsets, _ = clip
    r = read_avi(base + ".AVI")
    assert r.ok and r.frames == offsets and r.header_frames == len(offsets) == 60
    assert r.frame_bytes(3)[:2] == b"\xff\xd8"


@pytest.mark.parametrize("where", ["mid_frame", "in_index", "in_header", "empty"])
def test_truncated_avi_is_diagnosed_with_the_frames_still_readable(clip, tmp_path, capsys, where):
    _, data, offsets, idx = clip
    cut = {"mid_frame": offsets[25][0] + offsets[25][1] // 2, "in_index": idx + 8 + 16 * 10,
           "in_header": 100, "empty": 0}[where]
    base = copy_clip(clip, tmp_path, data[:cut])
    code, out, err = run_cli(["check", base], capsys)
    assert code == 1 and err == ""
    r = read_avi(base + ".AVI")
    if where == "mid_frame":
        assert len(r.frames) == 25 and r.truncated
        assert "frame 26 is cut short" in out and "the file is truncated" in out
        assert "the AVI holds 25 frames but the sidecar lists 60" in out
    elif where == "in_index":
        assert len(r.frames) == 60 and "the index is cut short" in out
        assert "the index lists 10 frames but 60 frame chunks are in the file" in out
    elif where == "in_header":
        assert r.frames == [] and "no 'movi' list" in out
    else:
        assert "the file is empty (0 bytes)" in out


def test_never_closed_recording_is_diagnosed(clip, tmp_path, capsys):
    # What a power cut leaves: the placeholder header written at the start,
    # frames up to the cut (the last one torn), no index.
    _, data, offsets, _ = clip
    avi = shared("avi")
    head = bytes(avi.header(320, 240, 0, 0, 0, 0))
    cut = offsets[30][0] + 100
    base = copy_clip(clip, tmp_path, head + data[len(head):cut])
    os.remove(base + ".JSON")
    code, out, _ = run_cli(["check", base], capsys)
    assert code == 1
    assert "the header says 0 frames: the clip was never closed" in out and "30 frames are readable" in out
    assert "the sidecar BC000001.JSON is missing" in out
    assert "frame 31 is cut short" in out


def test_corrupt_chunk_header_resyncs_to_the_next_frame(clip, tmp_path, capsys):
    _, data, offsets, _ = clip
    b = bytearray(data)
    at = offsets[5][0] - 8
    b[at:at + 8] = b"\x13" * 8  # frame 6's chunk header destroyed
    base = copy_clip(clip, tmp_path, bytes(b))
    code, out, _ = run_cli(["check", base], capsys)
    r = read_avi(base + ".AVI")
    assert code == 1 and len(r.frames) == 59 and r.frames[5] == offsets[6]
    assert "unreadable bytes at byte %d (after frame 5); reading resumes at byte %d" % (at, offsets[6][0] - 8) in out


def test_damaged_jpeg_inside_a_frame_is_named(clip, tmp_path, capsys):
    _, data, offsets, _ = clip
    b = bytearray(data)
    off, n = offsets[12]
    b[off + n - 2:off + n] = b"\0\0"  # frame 13 lost its end marker
    base = copy_clip(clip, tmp_path, bytes(b))
    code, out, _ = run_cli(["check", base], capsys)
    assert code == 1 and "1 frame(s) are not whole JPEGs (first: frame 13)" in out


def test_not_an_avi_and_missing_clip(tmp_path, capsys):
    (tmp_path / "X.AVI").write_bytes(os.urandom(5000).replace(b"00dc", b"0000"))
    code, out, _ = run_cli(["check", str(tmp_path / "X.AVI")], capsys)
    assert code == 1 and "not a RIFF AVI file" in out and "no video frames found" in out
    code, _, err = run_cli(["check", str(tmp_path / "NOPE")], capsys)
    assert code == 2 and "no clip" in err


def test_edited_frame_times_and_bad_sidecar(clip, tmp_path, capsys):
    base = copy_clip(clip, tmp_path)
    side = jload(base + ".JSON")
    side["frame_ms"][3] += 1
    with open(base + ".JSON", "w") as f:
        json.dump(side, f)
    code, out, _ = run_cli(["check", base], capsys)
    assert code == 1 and "frame times do not match their hash" in out
    with open(base + ".JSON", "w") as f:
        f.write('{"frame_ms": [1, 2')
    code, out, _ = run_cli(["check", base], capsys)
    assert code == 1 and "is not valid JSON" in out and "damaged or cut short" in out
