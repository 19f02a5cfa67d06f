"""Puller's rules where the rig cannot easily stage the fault: a listing
without a hash, a link that never comes back, a link lost during deletes, a
stale or damaged audit-log part. A small in-memory stand-in for the dock
client (tests/memdock.py); the real protocol is covered by tests/test_pull*.py on the real
firmware."""
import hashlib

import pytest

from bodycam.offload.client import DockError, LinkLost
from bodycam.offload.pull import RECONNECTS, Puller
from memdock import Device


def test_a_file_listed_without_a_hash_is_reported_never_pulled_or_deleted(tmp_path):
    dev = Device({"BC000001.AVI": b"clip one", "BC000001.JSON": b"{}", "BC000002.AVI": b"clip two"},
                 listed={"BC000001.AVI": {"sha256": None}})
    s = Puller(dev, str(tmp_path), delete=True, progress=False, say=lambda m: None).run()
    assert s["errors"] == [("BC000001.AVI", "the device gave no SHA-256")]
    assert not (tmp_path / "BC000001.AVI").exists()
    assert sorted(dev.files) == ["BC000001.AVI", "BC000001.JSON"]  # its sidecar stays with it
    assert dev.deleted == ["BC000002.AVI"]


def pull(dev, out, **kw):
    return Puller(dev, str(out), progress=False, say=lambda m: None, **kw).run()


def test_a_board_that_never_comes_back_ends_the_pull_after_a_few_tries(tmp_path):
    dev = Device({"BC000001.AVI": b"x" * 100})
    dev.lose_reads = dev.lose_reconnects = True
    with pytest.raises(LinkLost, match="run the same command again to resume"):
        pull(dev, tmp_path)
    assert dev.reads == 1 and dev.reconnects == RECONNECTS  # looked for it RECONNECTS times, then gave up


def test_a_link_that_breaks_again_and_again_with_no_progress_is_given_up(tmp_path):
    dev = Device({"BC000001.AVI": b"x" * 100})
    dev.lose_reads = True  # found again every time, but each read dies after a byte
    with pytest.raises(LinkLost):
        pull(dev, tmp_path)
    assert dev.reads == 2 * RECONNECTS + 1
    assert not (tmp_path / "BC000001.AVI").exists()


def test_a_link_lost_while_deleting_stops_the_pull_and_deletes_nothing_more(tmp_path):
    dev = Device({"BC000001.AVI": b"one", "BC000002.AVI": b"two"})
    dev.lose_deletes = True
    with pytest.raises(LinkLost):
        pull(dev, tmp_path, delete=True)
    assert sorted(dev.files) == ["BC000001.AVI", "BC000002.AVI"]
    assert (tmp_path / "BC000001.AVI").read_bytes() == b"one"  # what was pulled stays


def test_a_damaged_part_of_the_audit_log_is_never_resumed(tmp_path):
    log = b'{"seq": 1}\n{"seq": 2}\n'
    dev = Device({"AUDIT.LOG": log})
    sha = hashlib.sha256(log).hexdigest()
    (tmp_path / ("AUDIT.LOG.%s.part" % sha[:12])).write_bytes(b'{"seq": 9}\n')
    s = pull(dev, tmp_path)
    assert s["errors"] == [] and s["pulled"] == ["AUDIT.LOG"]
    assert (tmp_path / "AUDIT.LOG").read_bytes() == log
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AUDIT.LOG"]


def test_an_audit_log_unlike_its_listing_is_reported_and_nothing_is_left(tmp_path):
    dev = Device({"AUDIT.LOG": b'{"seq": 1}\n'}, listed={"AUDIT.LOG": {"sha256": "ab" * 32}})
    s = pull(dev, tmp_path)
    assert [e[0] for e in s["errors"]] == ["AUDIT.LOG"] and "ab" * 32 in s["errors"][0][1]
    assert dev.reads == 1  # a log that does not match is not fetched again and again
    assert list(tmp_path.iterdir()) == []  # no AUDIT.LOG that is not the device's, no .part


class GrowingLog(Device):
    """The camera writes audit entries while it is being offloaded: the log
    grows between each listing and the read of it, `grows` times."""

    def __init__(self, grows):
        super().__init__({"AUDIT.LOG": b'{"n": 0}\n'})
        self.grows = grows

    def read_file(self, name, size, offset, sink, progress=None):
        if self.grows:
            self.grows -= 1
            self.files[name] += b'{"n": %d}\n' % self.reads
            self.reads += 1
            # what firmware/dock.py answers (the client raises it as a DockError)
            raise DockError("%s has %d bytes, not %d: list again" % (name, len(self.files[name]), size))
        super().read_file(name, size, offset, sink, progress)


def test_an_audit_log_that_grew_while_it_was_read_is_listed_again_and_pulled(tmp_path):
    dev = GrowingLog(grows=2)
    s = pull(dev, tmp_path)
    assert s["errors"] == [] and s["pulled"] == ["AUDIT.LOG"]
    assert (tmp_path / "AUDIT.LOG").read_bytes() == dev.files["AUDIT.LOG"] == b'{"n": 0}\n{"n": 0}\n{"n": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["AUDIT.LOG"]  # no .part of a failed try left


def test_an_audit_log_that_keeps_growing_is_reported_after_three_tries(tmp_path):
    dev = GrowingLog(grows=3)
    s = pull(dev, tmp_path)
    assert dev.reads == 3 and s["pulled"] == []
    assert s["errors"] == [("AUDIT.LOG", "AUDIT.LOG has 36 bytes, not 27: list again")]
    assert list(tmp_path.iterdir()) == []  # nothing, not even the empty .part of each try
