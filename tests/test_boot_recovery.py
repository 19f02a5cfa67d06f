"""Recovery never holds the camera back (firmware/recover.py Recovery): on
the virtual board (typical card, esp32 CPU), a boot owing the recovery of
a clip a power cut left is buffering within 5 s of power-on, rebuilds the
clip in the background while it buffers, and a press meanwhile records a
normal clip with its pre-roll; both clips and the audit log verify, and
the cut clip says honestly what ended it."""
import json
import os
import time

from bodycam.evidence import verify
from bodycam.sim import VirtualBoard

BUFFERING_WITHIN_MS = 5000


def this_boots_line(vb, timeout=60):
    """The BODYCAM-BOOT line of the board's latest boot (after its ROM banner)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        tail = vb.console_tail(20000)
        since = tail[tail.rfind("rst:"):]
        for line in since.split("\n")[:-1]:
            if line.startswith("BODYCAM-BOOT "):
                return json.loads(line[len("BODYCAM-BOOT "):])
        time.sleep(0.1)
    raise AssertionError("no boot line after the last reset:\n" + vb.console_tail())


def test_a_boot_owing_recovery_buffers_at_once_and_a_press_records_meanwhile(tmp_path):
    with VirtualBoard(state_dir=str(tmp_path / "vb"), speed=5) as vb:
        vb.wait_recording_ready(timeout=60)
        vb.sleep_board(31000)
        vb.tap()
        vb.sleep_board(9000)  # ~2 MB of clip, then the power goes
        vb.power_cut()
        cut_size = [s for n, s, _ in vb.sd_listdir("clips") if n == "BC000001.AVI"][0]
        vb.power_on()
        boot = this_boots_line(vb)
        on_at = vb.sensor.first_ms  # the first frame the camera gave (the ring's size probe)
        vb.sleep_board(1500)
        from bodycam.offload.client import docked
        with docked(vb.port_url) as c:
            health = c.info()["health"]
        vb.tap()  # a press while the cut clip is still being rebuilt
        vb.sleep_board(3000)
        vb.hold(3500)
        vb.wait_for_clip(known=["BC000001"], timeout=120)
        vb.wait_for_clip(known=["BC000002"], timeout=120)
        out = tmp_path / "out"
        for name in vb.list_clips():
            vb.copy_clip(name, str(out))
        with open(os.path.join(str(out), "AUDIT.LOG"), "wb") as f:
            f.write(vb.read_sd_file("clips/AUDIT.LOG"))
    assert cut_size > 1500000
    # power-on to buffering: the boot's own trace, and the sensor's first frame
    assert boot["boot_ms"]["total"] < BUFFERING_WITHIN_MS, boot["boot_ms"]
    assert on_at is not None and on_at < BUFFERING_WITHIN_MS, on_at
    assert health["recovering"] == ["BC000001"]  # still being rebuilt when the press came
    with open(out / "BC000002.JSON") as f:
        pressed = json.load(f)
    assert pressed["stop"]["reason"] == "hold" and pressed["preroll_frames"] >= 5
    with open(out / "BC000001.JSON") as f:
        cut = json.load(f)
    assert cut["recovered"] is True and cut["frames"] > 150
    assert cut["stop"]["reason"] == "power_loss" and cut["stop"]["cause"] == "power loss or brownout"
    rep = verify.verify_dir(str(out), verify.KeySet(checking=False))
    fails = [f.text for f in rep.all_findings() if f.level == "fail"]
    assert fails == [], fails
    if cut["seq"] > pressed["seq"]:  # the new clip was sealed first: said, not failed
        notes = " ".join(f.text for f in rep.all_findings() if f.level == "note")
        assert "rebuilt after a cut and sealed after BC000002" in notes
