"""An in-memory stand-in for the dock client (bodycam.offload.client.
DockClient): the calls Puller and the station make, over files held in
memory, for rules the rigs cannot easily stage (tests/test_pull_rules.py,
tests/test_station_rules.py). The real protocol is covered on the real
firmware by tests/test_pull*.py and tests/test_station.py."""
import hashlib
from types import SimpleNamespace

from bodycam.offload.client import LinkLost


class Device:
    """The DockClient calls Puller makes, over files held in memory."""

    name = "fake"
    baud = 115200
    stats = {"chunk": 4096, "shrinks": 0, "grows": 0, "chunk_history": []}  # as DockClient.stats
    reader = SimpleNamespace(console_lines=0)  # as DockClient.reader (Puller reports its console lines)

    def __init__(self, files, listed=None):
        self.files = dict(files)
        self.listed = listed or {}  # name -> listing overrides
        self.deleted = []

    def connect(self):
        return {"board": "test", "firmware": "0", "boot_baud": 115200}

    def list(self):
        out = []
        for n, data in sorted(self.files.items()):
            e = {"name": n, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            e.update(self.listed.get(n, {}))
            out.append(e)
        return out

    reads = reconnects = 0
    lose_reads = lose_reconnects = lose_deletes = False

    def read_file(self, name, size, offset, sink, progress=None):
        self.reads += 1
        if self.lose_reads:
            sink(self.files[name][offset:offset + 1])  # a byte, then the link goes
            raise LinkLost("link lost")
        sink(self.files[name][offset:size])

    def reconnect(self, baud=None):
        self.reconnects += 1
        if self.lose_reconnects:
            raise LinkLost("not found")

    def delete(self, name, sha256):
        if self.lose_deletes:
            raise LinkLost("link lost")
        assert hashlib.sha256(self.files[name]).hexdigest() == sha256
        del self.files[name]
        self.deleted.append(name)
        return {"ok": True, "deleted": name}
