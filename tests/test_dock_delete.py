"""The dock's delete (X NAME SHA256) on the real firmware behind the rig's
serial line: a file is deleted only when the hash the host sends is the
hash of the file as it is now, not as it was when it was listed."""
import hashlib
import json
import os

import pytest

from bodycam.offload.client import DockClient, DockError
from rig.offload import DockRig
from bodycam.resources import shared


@pytest.fixture
def rig(tmp_path):
    r = DockRig(str(tmp_path / "rig"), clips=[1], baud=1000000, paced=False, frame_busy=5)
    yield r
    errors = r.device_errors()
    r.close()
    assert not errors, "the device printed errors:\n" + "\n".join(errors)


def test_a_file_changed_since_it_was_listed_is_not_deleted_with_its_old_hash(rig):
    c = DockClient(rig.open_port())
    c.connect()
    listed = {e["name"]: e for e in c.list()}  # the dock hashes (and caches) every file
    path = os.path.join(rig.dir, "sd", "clips", "BC000001.JSON")
    data = bytearray(open(path, "rb").read())
    data[-2:-1] = b" "  # same size, other bytes
    with open(path, "wb") as f:
        f.write(data)
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # a later mtime, as a rewrite gives
    with pytest.raises(DockError, match="not deleted"):
        c.delete("BC000001.JSON", listed["BC000001.JSON"]["sha256"])
    assert os.path.exists(path)
    now = hashlib.sha256(bytes(data)).hexdigest()
    assert c.delete("BC000001.JSON", now)["deleted"] == "BC000001.JSON"
    assert not os.path.exists(path)


@pytest.mark.parametrize("where", ["after the hash key", "after the size digits"])
def test_the_recorded_hash_is_found_when_the_sidecar_splits_at_a_read_block(tmp_path, where):
    # The dock reads a sidecar in blocks of one frame payload and scans each
    # for "avi_sha256" and "avi_bytes". Padded so that a block ends right
    # after the key or right after the size's digits, the record must still
    # be found: then a card that corrupted the AVI is caught by the host
    # (the dock lists the recorded hash, not the hash of the bad bytes).
    block = shared("dockwire").MAX_PAYLOAD
    r = DockRig(str(tmp_path / "rig"), clips=[1], baud=1000000, paced=False, frame_busy=5)
    try:
        clips = os.path.join(r.dir, "sd", "clips")
        side = os.path.join(clips, "BC000001.JSON")
        text = open(side, "rb").read()
        recorded = json.loads(text)["avi_sha256"]
        if where == "after the hash key":
            end = text.index(b'"avi_sha256"') + len(b'"avi_sha256"')
        else:
            at = text.index(b'"avi_bytes"') + len(b'"avi_bytes": ')
            end = at + len(str(json.loads(text)["avi_bytes"]))
        assert end < block
        text = text[:1] + b" " * (block - end) + text[1:]  # still the same JSON
        with open(side, "wb") as f:
            f.write(text)
        avi = os.path.join(clips, "BC000001.AVI")
        data = bytearray(open(avi, "rb").read())
        data[len(data) // 2] ^= 0x01
        with open(avi, "wb") as f:
            f.write(data)
        c = DockClient(r.open_port())
        c.connect()
        listed = {e["name"]: e["sha256"] for e in c.list()}
        assert listed["BC000001.AVI"] == recorded != hashlib.sha256(bytes(data)).hexdigest()
    finally:
        errors = r.device_errors()
        r.close()
    assert not errors, "the device printed errors:\n" + "\n".join(errors)
