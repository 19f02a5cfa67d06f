"""firmware/backfill.py on the MicroPython unix port: whatever order the
pre-roll's blocks are written in (newest first, oldest first, any mix, as
the ring's room decides), the file ends up byte for byte what writing the
header and the frames front to back gives; every block is sector-aligned;
and a pre-roll shorter than a sector (all of it in the live stager's first
sector) is no work at all."""
import json

SCRIPT = """
import json, ring, backfill, clip, avi
def frame(n, k):
    b = bytearray(n)
    b[0] = 0xFF; b[1] = 0xD8; b[-2] = 0xFF; b[-1] = 0xD9
    for i in range(2, n - 2):
        b[i] = (i * 7 + k) & 0xFF
    return b
out = []
for case in CASES:
    sizes, pattern = case
    r = ring.FrameRing(1 << 20, 256)
    for i, n in enumerate(sizes):
        assert r.push(frame(n, i), i * 200) == i
    hdr = clip.placeholder_header(640, 480)
    want = bytearray(hdr)
    ch = bytearray(8)
    for i, n in enumerate(sizes):
        avi.chunk_header(ch, n)
        want += ch + frame(n, i) + (b"\\0" if n & 1 else b"")
    bf = backfill.Backfill(bytearray(1024))
    got_sizes = bf.plan(r, 0, len(sizes) - 1, hdr)
    img = bytearray(len(want))
    class F:
        def seek(self, p):
            self.p = p
        def write(self, mv):
            img[self.p:self.p + len(mv)] = mv
            self.blocks.append((self.p, len(mv)))
            return len(mv)
    f = F()
    f.blocks = []
    tail = bytearray(512)
    k = bf.tail(tail)
    img[bf.b:bf.b + k] = tail[:k]
    steps = 0
    while bf.active:
        front = pattern[steps % len(pattern)] == "f"
        assert bf.step(f, 1024, front, 999) > 0
        assert f.p == 999  # the file position goes back to the live stager's
        steps += 1
    # the ring may give up frames the front wrote: the hold says which
    out.append({"equal": bytes(img) == bytes(want), "sizes": got_sizes == sizes, "steps": steps,
                "end": bf.end, "aligned": all(p % 512 == 0 and n % 512 == 0 for p, n in f.blocks),
                "hold": bf.hold_seq()})
print(json.dumps(out))
"""

CASES = [
    ([10001, 9000, 12345, 8000, 11111, 9999, 10240, 7001], "b"),  # newest first, odd and even sizes
    ([10001, 9000, 12345, 8000, 11111, 9999, 10240, 7001], "f"),  # oldest first
    ([10001, 9000, 12345, 8000, 11111, 9999, 10240, 7001], "bbfb"),  # a mix, as the ring's room decides
    ([3000, 3001, 2999, 5000, 4096, 4097, 100, 6000], "fbbf"),
    ([40, 41], "b"),  # the whole pre-roll in the first sector (QQVGA frames): nothing to write around
    ([512 - 224 - 8], "b"),  # the region ends exactly on a sector boundary: no tail
]


def test_any_write_order_gives_the_file_front_to_back_writing_gives(run_mpy):
    out = run_mpy("CASES = %s\n" % json.dumps(CASES) + SCRIPT, heapsize=8 << 20)
    for case, r in zip(CASES, out):
        assert r["equal"] and r["sizes"] and r["aligned"], (case, r)
    assert out[4]["steps"] == 0 and out[4]["end"] < 512
    assert out[5]["end"] == 512 and out[5]["steps"] == 1
    # front-only writing handed every frame to the card in order: the ring
    # keeps only the newest, whose end is in the live stager's first sector
    # (the recorder lets it go once the whole pre-roll is written)
    assert out[1]["hold"] == len(CASES[1][0]) - 1
