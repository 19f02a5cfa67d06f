"""bodycam demo: the README's first command, end to end on a virtual board."""
import json

import pytest

from bodycam.evidence import keys
from bodycam.cli import main


@pytest.fixture(autouse=True)
def keyring(tmp_path, monkeypatch):
    """The demo keeps its board's key in the user's keyring: a test's own."""
    path = tmp_path / "keyring.json"
    monkeypatch.setenv("BODYCAM_KEYRING", str(path))
    return path


def test_demo_records_copies_and_checks_a_clip(tmp_path, capsys, keyring):
    out = tmp_path / "clips"
    assert main(["demo", "--out", str(out), "--speed", "15"]) == 0
    text = capsys.readouterr().out
    avi, side = out / "BC000001.AVI", out / "BC000001.JSON"
    assert avi.exists() and side.exists()
    m = json.loads(side.read_text())
    assert m["frame_ms"][0] <= -30000
    assert "checks:         all passed" in text
    assert "pre-roll kept:  %.1f s before the press (%d frames)" % (-m["frame_ms"][0] / 1000.0,
                                                                   m["preroll_frames"]) in text
    assert "AVI index holds %d frames, the sidecar %d" % (m["frames"], m["frames"]) in text
    assert "rfc2217://127.0.0.1:" in text
    # it came over the serial port, verified, with the audit log
    assert "over the serial port at 921600 baud" in text and "SHA-256 verified" in text
    assert (out / "AUDIT.LOG").exists()

    # The newcomer's next step: verify says VERIFIED, signatures included,
    # with the demo board's key from the keyring, labelled as the demo's.
    assert "bodycam verify %s" % out in text
    assert main(["verify", str(out)]) == 0
    report = capsys.readouterr().out
    assert "verdict: VERIFIED" in report and "signed (key" in report
    ring = keys.load_keyring(str(keyring))
    dev = ring["devices"][keys.demo_device_id("ai-thinker-esp32-cam")]
    assert dev["label"] == keys.DEMO_LABEL and len(dev["keys"]) == 1
    # ...and the demo's last line points at the supervisor's review, which works on its folder.
    assert text.rstrip().splitlines()[-1] == ("Review it as a supervisor would (one page, every camera in the "
                                              "folder): bodycam report %s" % out)
    assert main(["report", str(out), "--out", str(tmp_path / "review")]) == 0
    page = (tmp_path / "review" / "report.html").read_text()
    assert "all 1 camera trail(s) VERIFIED" in page and "BC000001" in page

    # A second run never overwrites the first clip (copied from the SD
    # image this time: the serial path is covered above).
    first = avi.read_bytes()
    assert main(["demo", "--out", str(out), "--speed", "25", "--record", "1", "--from-sd"]) == 0
    assert avi.read_bytes() == first
    assert len(list(out.glob("demo-*/BC000001.AVI"))) == 1
    # ...and reuses the demo's key instead of adding one per run.
    assert keys.load_keyring(str(keyring))["devices"] == ring["devices"]


def test_demo_check_catches_a_damaged_clip(tmp_path, capsys):
    from bodycam.commands.demo import check
    out = tmp_path / "clips"
    assert main(["demo", "--out", str(out), "--speed", "25", "--record", "1", "--from-sd"]) == 0
    capsys.readouterr()
    avi, side = out / "BC000001.AVI", out / "BC000001.JSON"
    data = bytearray(avi.read_bytes())
    data[5000] ^= 0xFF
    avi.write_bytes(bytes(data))
    ok, lines = check(str(avi), str(side), 30)
    assert not ok
    assert any("FAIL SHA-256 of the AVI does NOT match" in line for line in lines)
    ok, lines = check(str(avi), str(side), 60)
    assert any("FAIL first frame" in line and "(60 s wanted)" in line for line in lines)


@pytest.mark.parametrize("argv, msg", [
    (["--record", "0"], "--record must be 1 to 600 seconds"),
    (["--board", "nope"], "unknown board 'nope'"),
])
def test_demo_bad_arguments(tmp_path, capsys, argv, msg):
    assert main(["demo", "--out", str(tmp_path)] + argv) == 2
    assert msg in capsys.readouterr().err


def test_demo_key_goes_on_the_boards_flash_and_an_existing_one_is_kept(tmp_path, keyring, monkeypatch):
    from bodycam.boards import load_board
    from bodycam.commands.demo import give_key
    from bodycam.sim.storage import StateDir

    state = str(tmp_path / "state")
    note = give_key(state, "ai-thinker-esp32-cam")
    assert "added to your keyring" in note
    store = StateDir(state, load_board("ai-thinker-esp32-cam"))
    try:
        on_board = json.loads(store.flash.read(keys.DEVICE_KEY_FILE))
    finally:
        store.close()
    assert keys.device_key(on_board["device"]).hex() == on_board["key"]
    # A board that has a key keeps it; one missing from the keyring is named.
    assert "from your keyring" in give_key(str(tmp_path / "other"), "ai-thinker-esp32-cam")
    monkeypatch.setenv("BODYCAM_KEYRING", str(tmp_path / "another-ring.json"))
    note = give_key(state, "ai-thinker-esp32-cam")
    assert note.startswith("warning:") and on_board["device"] in note and "--key" in note
    assert not (tmp_path / "another-ring.json").exists()
