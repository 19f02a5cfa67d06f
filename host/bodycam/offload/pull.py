"""bodycam pull: bring every clip file the device offers into a folder,
each byte checked, and delete from the device only what the folder
verifiably holds.

A file is downloaded to NAME.<sha12>.part, synced to disk, checked against
the SHA-256 the device listed, then renamed: a file under its real name is
always complete and verified. An interrupted pull leaves the .part, and the
next run resumes it. A file already in the folder under its name is kept
if its hash matches and never overwritten if it does not."""
import hashlib
import json
import os
import sys
import time

from bodycam.offload.client import DockClient, DockError, LinkLost, PortGone, open_port
from bodycam.progress import Progress, human_bytes, human_time
from bodycam.evidence.hashing import sha256_file

LOGS = ("AUDIT.LOG",)  # append-only, pulled last, never deleted (docs/evidence.md)
RECONNECTS = 3


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # not possible on this platform
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def pull_all(port, out_dir, delete=False, baud=None, progress=True, say=None, log=None, set_clock=False):
    """Pull every clip file not yet in out_dir from the dock on `port` (a
    port name/URL, or an open pyserial-like object). Returns a summary dict;
    summary["errors"] lists what went wrong per file (empty on success).
    Raises DockError/LinkLost when the device cannot be reached at all."""
    own = isinstance(port, str)
    p = open_port(port) if own else port
    try:
        client = DockClient(p, log=log or _stderr)
        return Puller(client, out_dir, delete=delete, baud=baud, progress=progress,
                      say=say or print, set_clock=set_clock).run()
    finally:
        if own:
            p.close()


def _stderr(msg):
    print("bodycam pull: " + msg, file=sys.stderr)


class Puller:
    def __init__(self, client, out_dir, delete=False, baud=None, progress=True, say=print, set_clock=False):
        self.c = client
        self.out = out_dir
        self.delete = delete
        self.baud = baud
        self.show = progress
        self.say = say
        self.set_clock = set_clock
        self.summary = {"pulled": [], "present": [], "busy": [], "deleted": [], "errors": [],
                        "warnings": [], "bytes": 0, "seconds": 0.0, "baud": None}
        self.local = {}  # name -> sha256 of the verified local copy
        self.progress = None
        self.bad_pairs = set()

    # --- the job -------------------------------------------------------------
    def run(self):
        os.makedirs(self.out, exist_ok=True)
        c = self.c
        info = c.connect()
        if self.set_clock:
            r = c.set_clock()
            self.say("device clock set to %s" % r.get("utc"))
        if self.baud and self.baud != c.baud:
            if c.set_baud(self.baud):
                info = c.info()
            else:
                msg = "the link did not work at %d baud: pulling at %d" % (self.baud, c.baud)
                why = _device_baud_error(c, self.baud)
                if why:
                    msg += " (the camera says: %s)" % why
                self.summary["warnings"].append(msg)
                self.say(msg)
        self.summary["baud"] = c.baud
        try:
            files = c.list()
            self.say("%s: %s, firmware %s, %d file%s (%s) on the camera, %s" % (
                c.name, info.get("board"), info.get("firmware"), len(files), "" if len(files) == 1 else "s",
                human_bytes(sum(e["size"] for e in files)),
                "clock %s" % info["clock"]["utc"] if (info.get("clock") or {}).get("set")
                else "clock NOT set (clips get no UTC time; --set-clock sets it)"))
            todo = self._plan(files)
            total = sum(e["size"] - self._part_size(e) for e in todo)
            self.progress = Progress(total, force=False) if self.show else None
            t0 = time.monotonic()
            for e in todo:
                self._one(e, self._pull)
            self._check_pairs(files)
            if self.delete:
                self._delete(files)
            self._pull_logs()
            self.summary["seconds"] = time.monotonic() - t0
            # resends and how the frame size adapted to the line (client.py)
            self.summary["link"] = {k: v for k, v in self.c.stats.items() if k != "chunk_history"}
            reader = getattr(self.c, "reader", None)  # (a client without a serial frame reader has none)
            if reader is not None:
                self.summary["link"]["console_lines"] = reader.console_lines  # device log lines taken out of frames
        finally:
            if self.progress is not None:
                self.progress.clear()
            self._restore_baud(info)
        return self.summary

    def _one(self, e, fn):
        # One file's failure is reported and the rest go on, except when the
        # link itself is gone.
        try:
            fn(e)
        except LinkLost as err:
            raise LinkLost("%s: %s. What arrived is kept; run the same command again to resume" % (e["name"], err))
        except (DockError, OSError, ValueError) as err:
            self._error(e["name"], str(err))

    def _error(self, name, msg):
        self.summary["errors"].append((name, msg))
        self._print("%s: ERROR: %s" % (name, msg))

    def _print(self, msg):
        if self.progress is not None:
            self.progress.clear()
        self.say(msg)

    def _restore_baud(self, info):
        # Leave the board at its boot speed, where mpremote expects it.
        boot = info.get("boot_baud")
        if boot and self.c.baud != boot:
            try:
                self.c.set_baud(boot)
            except (DockError, OSError):
                pass  # the dock goes back by itself when the host is gone

    # --- planning ----------------------------------------------------------------
    def _plan(self, files):
        todo = []
        for e in files:
            name = e["name"]
            if name in LOGS:
                continue  # after the clips, so they are covered
            if e.get("busy"):
                self.summary["busy"].append(name)
                self.say("%s: being recorded, left on the device" % name)
                continue
            if not e.get("sha256"):
                self._error(name, "the device gave no SHA-256")
                continue
            path = os.path.join(self.out, name)
            if os.path.exists(path):
                have = sha256_file(path)
                if have == e["sha256"]:
                    self.local[name] = have
                    self.summary["present"].append(name)
                else:
                    self._error(name, "%s already holds a different file (SHA-256 %s, device has %s); "
                                      "not overwritten: pull into another folder" % (path, have, e["sha256"]))
                continue
            todo.append(e)
        return todo

    def _part_path(self, e):
        return os.path.join(self.out, "%s.%s.part" % (e["name"], e["sha256"][:12]))

    def _part_size(self, e):
        try:
            n = os.path.getsize(self._part_path(e))
        except OSError:
            return 0
        return n if n <= e["size"] else 0

    # --- one file ----------------------------------------------------------------
    def _pull(self, e):
        name, size, want = e["name"], e["size"], e["sha256"]
        final = os.path.join(self.out, name)
        got, resumed = self._download(e, self._part_path(e))
        if got != want and resumed:
            # The kept part was bad (e.g. the host crashed mid-write): start over.
            os.remove(self._part_path(e))
            got, resumed = self._download(e, self._part_path(e))
        if got != want:
            bad = final + ".unverified"
            os.replace(self._part_path(e), bad)
            raise DockError("downloaded bytes have SHA-256 %s but the device lists %s (storage corruption "
                            "on the device?); kept as %s, not deleted from the device" % (got, want, bad))
        os.replace(self._part_path(e), final)
        _fsync_dir(self.out)
        self.local[name] = got
        self.summary["pulled"].append(name)
        self._print("%s: %s pulled, SHA-256 %s verified" % (name, human_bytes(size), got[:16]))

    def _download(self, e, part):
        """Download into part (resuming it); returns (sha256 hex, resumed)."""
        name, size = e["name"], e["size"]
        h = hashlib.sha256()
        have = 0
        if os.path.exists(part):
            have = os.path.getsize(part)
            if have > size:
                os.remove(part)
                have = 0
            else:
                with open(part, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        h.update(block)
        resumed = have > 0
        if self.progress is not None:
            self.progress.start_file(name)
        with open(part, "ab") as f:
            count = [have]

            def sink(b):
                f.write(b)
                h.update(b)
                count[0] += len(b)
                self.summary["bytes"] += len(b)

            add = self.progress.add if self.progress is not None else None
            lost = 0
            while count[0] < size:
                try:
                    self.c.read_file(name, size, count[0], sink, add)
                    break
                except PortGone:
                    raise
                except LinkLost:
                    f.flush()
                    lost += 1
                    if lost > 2 * RECONNECTS:
                        raise  # found again and again, but no progress sticks
                    self._print("%s: link lost at %d of %d bytes, reconnecting" % (name, count[0], size))
                    self._reconnect()
            f.flush()
            os.fsync(f.fileno())
        return h.hexdigest(), resumed

    def _reconnect(self):
        # A board that was reset needs a few seconds to boot and mount its
        # card: look for it a few times before giving up.
        for attempt in range(RECONNECTS):
            try:
                self.c.reconnect(self.baud)
                return
            except PortGone:
                raise
            except LinkLost:
                if attempt == RECONNECTS - 1:
                    raise

    # --- checks and deletes ---------------------------------------------------------
    def _check_pairs(self, files):
        """A sidecar names its AVI's SHA-256: both copies must agree."""
        self.bad_pairs = set()
        for n in sorted(self.local):
            if not n.endswith(".JSON"):
                continue
            avi = n[:-5] + ".AVI"
            if avi not in self.local:
                continue
            try:
                with open(os.path.join(self.out, n)) as f:
                    meta = json.load(f)
            except (OSError, ValueError) as err:
                self.bad_pairs.add(n[:-5])
                self._error(n, "sidecar unreadable: %s" % err)
                continue
            rec = meta.get("avi_sha256")
            if rec is not None and rec != self.local[avi]:
                self.bad_pairs.add(n[:-5])
                self._error(avi, "SHA-256 %s differs from the %s recorded in %s; not deleted" % (
                    self.local[avi], rec, n))

    def _delete(self, files):
        stems = {}
        for e in files:
            if e["name"] in LOGS:
                continue
            stems.setdefault(e["name"].split(".")[0], []).append(e)
        for stem in sorted(stems):
            group = stems[stem]
            if stem in self.bad_pairs or any(e.get("busy") for e in group):
                continue
            unproven = [e for e in group if not self._verified_here(e)]
            if unproven:
                for e in unproven:
                    if e["name"] in self.local:  # verified once, changed since: say so
                        self._error(e["name"], "the copy in %s no longer matches SHA-256 %s (changed or "
                                               "removed after the download); clip not deleted from the device: "
                                               "pull it again into another folder" % (self.out, e["sha256"]))
                continue
            # The AVI first: its hash is the one the sidecar recorded.
            group.sort(key=lambda e: (not e["name"].endswith(".AVI"), e["name"]))
            for e in group:
                note = ""
                try:
                    self.c.delete(e["name"], e["sha256"])
                except LinkLost:
                    raise
                except DockError as err:
                    if "no such file" not in str(err):
                        self._error(e["name"], "not deleted: %s" % err)
                        break
                    # An earlier try went through but its reply was lost
                    # (e.g. the board reset): the file is gone either way.
                    note = " (it was already gone)"
                self.summary["deleted"].append(e["name"])
                self._print("%s: deleted from the device%s" % (e["name"], note))

    def _verified_here(self, e):
        # Re-read the local copy from disk right before deleting the original.
        path = os.path.join(self.out, e["name"])
        try:
            return sha256_file(path) == e["sha256"]
        except OSError:
            return False

    # --- the audit log -----------------------------------------------------------------
    def _pull_logs(self):
        for name in LOGS:
            for attempt in range(3):
                entry = next((e for e in self.c.list() if e["name"] == name), None)
                if entry is None:
                    break
                try:
                    self._pull_log(entry)
                    break
                except DockError as err:
                    if "list again" in str(err) and attempt < 2:
                        continue  # it grew between listing and reading
                    self._error(name, str(err))
                    break

    def _pull_log(self, e):
        name = e["name"]
        final = os.path.join(self.out, name)
        if os.path.exists(final) and sha256_file(final) == e["sha256"]:
            self.summary["present"].append(name)
            return
        part = self._part_path(e)
        if os.path.exists(part):
            os.remove(part)  # a log grows: never resume an old one
        try:
            got, _ = self._download(e, part)
        except Exception:
            if os.path.exists(part):
                os.remove(part)  # never resumed (above): a failed read leaves nothing behind
            raise
        if got != e["sha256"]:
            os.remove(part)
            raise DockError("%s: downloaded SHA-256 %s, device lists %s" % (name, got, e["sha256"]))
        if os.path.exists(final) and not _is_prefix(final, part):
            # Not a continuation of the log we hold: keep both.
            keep = os.path.join(self.out, "%s.%s" % (name, sha256_file(final)[:12]))
            os.replace(final, keep)
            self._print("%s: the device's log does not continue the one here; old one kept as %s" % (name, keep))
        os.replace(part, final)
        _fsync_dir(self.out)
        self.local[name] = got
        self.summary["pulled"].append(name)
        self._print("%s: %s pulled, SHA-256 %s verified" % (name, human_bytes(e["size"]), got[:16]))


def _is_prefix(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x = fa.read(1 << 20)
            if not x:
                return True
            if fb.read(len(x)) != x:
                return False


def describe(summary):
    """The closing line of `bodycam pull`."""
    s = summary
    parts = ["pulled %d file%s (%s)" % (len(s["pulled"]), "" if len(s["pulled"]) == 1 else "s", human_bytes(s["bytes"]))]
    if s["seconds"] > 0 and s["bytes"]:
        rate = s["bytes"] / s["seconds"]
        parts[0] += " in %s at %s/s" % (human_time(s["seconds"]), human_bytes(rate))
        ratio = rate / (s["baud"] / 10.0) if s.get("baud") else None
        if ratio is not None and ratio <= 1.05:  # not shown for links that ignore the baud (socket://)
            parts[0] += " (%.2f of the line rate at %d baud)" % (ratio, s["baud"])
    if s["present"]:
        parts.append("%d already here" % len(s["present"]))
    if s["deleted"]:
        parts.append("deleted %d from the device" % len(s["deleted"]))
    if s["busy"]:
        parts.append("%d being recorded, left on the device" % len(s["busy"]))
    if s["errors"]:
        parts.append("%d error%s" % (len(s["errors"]), "" if len(s["errors"]) == 1 else "s"))
    return "; ".join(parts)


def _device_baud_error(c, baud):
    """The dock's own reason when it could not switch its UART, if any."""
    try:
        err = c.info().get("last_error") or ""
    except (OSError, ValueError):
        return None
    return err if err.startswith("baud %d failed" % baud) else None
