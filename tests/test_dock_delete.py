"""The dock's delete (X NAME SHA256) on the real firmware behind the rig's
serial line: a file is deleted only when the hash the host sends is the
hash of the file as it is now, not as it was when it was listed."""
import hashlib
import os

import pytest

from bodycam.offload.client import DockClient, DockError
from bodycam.offload.rig import DockRig


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
