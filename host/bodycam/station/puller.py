"""`bodycam pull`'s Puller with the evidence store between the verified
local copy and the delete on the camera.

The Puller (host/bodycam/offload/pull.py) is used as it is, through its
steps: after the clips are pulled and their pairs checked, every verified
clip is uploaded; a clip is deleted on the camera only when its local copy
re-reads to the device's SHA-256 (the Puller's own check) AND the store,
asked again right then, confirms the object (checksum and retention). The
audit log, pulled last, goes up as a new version of AUDIT.LOG."""
import os
import time

from bodycam.offload.pull import LOGS, Puller
from bodycam.evidence.store import StoreError


class StationPuller(Puller):
    def __init__(self, client, out_dir, device, store=None, note=None, **kw):
        super().__init__(client, out_dir, **kw)
        self.device = device
        self.store = store
        self.note = note or (lambda event, **fields: None)
        self.current = None  # the file being pulled or uploaded, for the table
        self.summary.update({"device": device, "stored": [], "store_errors": [],
                             "upload_bytes": 0, "upload_seconds": 0.0})
        self.confirmed = {}  # name -> the store's confirmation

    # --- hooks into the Puller's steps ---------------------------------------------
    def _download(self, e, part):
        self.current = e["name"]
        return super()._download(e, part)

    def _check_pairs(self, files):
        super()._check_pairs(files)
        if self.store is not None:
            self._upload_verified()

    def _verified_here(self, e):
        if not super()._verified_here(e):
            return False
        if self.store is None:
            return True
        return self._store_confirms(e)

    def _pull_logs(self):
        super()._pull_logs()
        if self.store is not None:
            for name in LOGS:
                if name in self.local:
                    self._upload(name, log=True)

    # --- the store ----------------------------------------------------------------------
    def _upload_verified(self):
        for name in sorted(self.local):
            if name in LOGS or name.split(".")[0] in self.bad_pairs:
                continue
            self._upload(name)

    def _upload(self, name, log=False):
        path = os.path.join(self.out, name)
        self.current = name
        self.note("uploading", file=name)
        t0 = time.monotonic()
        try:
            if log:
                conf = self.store.put_log(self.device, path, self.local[name], name=name)
            else:
                conf = self.store.put_clip(self.device, name, path, self.local[name],
                                           progress=self._uploaded)
        except StoreError as err:
            self.summary["store_errors"].append((name, str(err)))
            self.note("store_error", file=name, error=str(err))
            return
        finally:
            self.summary["upload_seconds"] += time.monotonic() - t0
        self.confirmed[name] = conf
        self.summary["stored"].append(name)
        self.note("stored", file=name, key=conf["key"], version=conf["version"], retain_until=conf["retain_until"])

    def _uploaded(self, n):
        self.summary["upload_bytes"] += n

    def _store_confirms(self, e):
        # Asked again right before the delete: what the store holds now.
        name = e["name"]
        if name not in self.confirmed:
            return False
        try:
            self.store.confirm(self.device, name, os.path.join(self.out, name), e["sha256"],
                               self.confirmed[name]["version"])
            return True
        except StoreError as err:
            self.summary["store_errors"].append((name, "not deleted: %s" % err))
            self.note("store_error", file=name, error=str(err))
            return False
