"""StagedFile keeps every card write on a sector boundary of the file, also
after a sync flushed a part-filled sector (unix port, real files): else
each later block straddles two sectors and FatFs reads back and rewrites
the head and tail sectors through its window."""

ALIGN = """
import json
from staging import StagedFile


class Spy:
    def __init__(self, f):
        self.f = f
        self.writes = []

    def write(self, b):
        self.writes.append((self.f.tell(), len(b)))
        return self.f.write(b)

    def __getattr__(self, name):
        return getattr(self.f, name)


spy = Spy(open("t.bin", "wb"))
sf = StagedFile(spy, bytearray(2048))
data = bytes(range(256)) * 40
sf.write(data[:3000])
sf.flush()            # a sync: 952 bytes past the last whole block, part of a sector
sf.write(data[3000:7000])
sf.flush()
sf.write(data[7000:])
sf.flush()
spy.f.close()
with open("t.bin", "rb") as f:
    back = f.read()
print(json.dumps({"writes": spy.writes, "same": back == data}))
"""


def test_blocks_stay_sector_aligned_across_syncs(run_mpy):
    out = run_mpy(ALIGN)
    assert out["same"]  # the file holds exactly what was written
    assert [off % 512 for off, _ in out["writes"]] == [0] * len(out["writes"]), out["writes"]
    # blocks of 2048 bytes, each a whole number of sectors except at a sync
    assert out["writes"][0] == [0, 2048]
