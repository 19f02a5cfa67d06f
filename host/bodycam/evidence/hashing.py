"""SHA-256 of files on the host, read in 1 MiB blocks (clips can be GBs)."""
import hashlib

BLOCK = 1 << 20


def sha256_and_size(path):
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def sha256_file(path):
    return sha256_and_size(path)[0]
