"""One docked camera: a worker thread that drains it, again and again.

States (shown in the table, docs/station.md):
  connecting   opening the port, finding the dock and the device id
  pulling      bringing clips into DIR/<device-id>/ (verified by SHA-256)
  uploading    sending verified files to the store, confirming them
  idle         everything on the camera is in DIR (and the store); waiting for new clips
  store-wait   the store did not confirm some files: they stay on the camera and in DIR; retrying with backoff
  lost         the camera stopped answering or its port went away; retrying with backoff (resumes the file)
  refused      this camera is not drained: another slot has its device id, or it has none (see errors)
  done         --once: drained (or given up on); the summary says which
"""
import os
import threading
import time

from bodycam.offload.client import DockClient, LinkLost, PortGone, open_port
from bodycam.station.identity import NoDeviceId, device_id
from bodycam.station.puller import StationPuller
from bodycam.evidence.store import StoreRefused


def dock_on(port, log):
    """(DockClient, close) for the camera on `port`; LinkLost when the port
    cannot be opened."""
    p = open_port(port)

    def close():
        try:
            p.close()
        except OSError:
            pass

    return DockClient(p, log=log), close


class Backoff:
    """Waits that double from `first` up to `most` seconds, reset on success."""

    def __init__(self, first=1.0, most=60.0):
        self.first = first
        self.most = most
        self.next = first

    def take(self):
        w = self.next
        self.next = min(self.most, self.next * 2)
        return w

    def reset(self):
        self.next = self.first


class Slot(threading.Thread):
    def __init__(self, station, port, fixed=True):
        super().__init__(name="slot %s" % port, daemon=True)
        self.st = station
        self.port = port
        self.fixed = fixed  # given with --port: kept when it goes away; else dropped when unplugged
        self.state = "connecting"
        self.device = None
        self.bytes = 0
        self.rate = 0.0
        self.errors = []  # (file or "", message), newest last
        self.totals = {"pulled": [], "stored": [], "deleted": [], "present": [], "busy": [], "bytes": 0,
                       "pull_seconds": 0.0, "upload_bytes": 0, "upload_seconds": 0.0, "baud": None}
        self.outcome = None  # of the last round: drained, store-pending, errors, gave-up, refused
        self.puller = None
        self.backoff = Backoff(station.backoff_first, station.backoff_most)
        self._quit = threading.Event()
        self._rate_t = time.monotonic()
        self._rate_b = 0

    # --- reporting ------------------------------------------------------------------
    def set_state(self, state, **fields):
        if state != self.state or fields:
            self.state = state
            self.st.event(self, "state", state=state, **fields)

    def error(self, msg, file=""):
        self.errors.append((file, msg))
        self.st.event(self, "error", file=file or None, error=msg)

    def note(self, event, **fields):
        if event == "uploading":
            self.set_state("uploading")
        self.st.event(self, event, **fields)

    def row(self):
        """What the table shows for this slot."""
        p = self.puller
        now = time.monotonic()
        b = self.totals["bytes"] + (p.summary["bytes"] if p is not None else 0)
        if now - self._rate_t >= 1.0:
            self.rate = (b - self._rate_b) / (now - self._rate_t)
            self._rate_t, self._rate_b = now, b
        clip = p.current if p is not None else None  # the file being pulled or uploaded
        rate = self.rate if self.state in ("pulling", "uploading") else 0.0
        return {"port": self.port, "device": self.device, "clip": clip, "bytes": b, "rate": rate,
                "state": self.state, "errors": len(self.errors),
                "last_error": self.errors[-1][1] if self.errors else None}

    def stop(self):
        self._quit.set()

    def wait(self, seconds):
        return self._quit.wait(seconds)

    # --- the job ---------------------------------------------------------------------------
    def run(self):
        try:
            self._run()
        except Exception as e:  # a bug must not leave the station waiting on this slot
            self.outcome = "crashed"
            self.set_state("done")
            self.error("internal error: %r" % e)
            raise

    def _run(self):
        give_up = None  # --once: when to stop retrying a camera that went away
        while not self._quit.is_set():
            try:
                done = self._session()
            except NoDeviceId as e:
                self.outcome = "refused"
                self.set_state("refused")
                self.error(str(e))
                return
            except StoreRefused as e:
                self.outcome = "refused"
                self.set_state("refused")
                self.error(str(e))
                return
            except (LinkLost, OSError) as e:
                gone = isinstance(e, PortGone) or "cannot open" in str(e)
                if gone and not self.fixed and not self.st.port_present(self.port):
                    self.outcome = "unplugged"
                    self.set_state("lost")
                    self.error("unplugged: %s" % e)
                    return
                self.set_state("lost")
                self.error(str(e))
                if self.st.once:
                    give_up = give_up or time.monotonic() + self.st.once_grace
                    if time.monotonic() >= give_up:
                        self.error("gave up after %.0f s: the camera did not come back; what arrived is kept "
                                   "and resumes next time" % self.st.once_grace)
                        self.outcome = "gave-up"
                        self.set_state("done")
                        return
                self.wait(self.backoff.take())
                continue
            give_up = None if done else give_up
            if done == "refused":
                return
            if self.st.once:
                if done or (give_up is not None and time.monotonic() >= give_up):
                    self.set_state("done")
                    return
                give_up = give_up or time.monotonic() + self.st.once_grace
                self.wait(self.backoff.take())
                continue
            self.wait(self.st.poll if done else self.backoff.take())

    def _session(self):
        """Open the port, drain the camera as long as it answers. Returns
        True when a round went through (errors, if any, reported), False
        when some files wait for the store, "refused" for a device id
        conflict."""
        self.set_state("connecting")
        client, close = (self.st.open_dock or dock_on)(self.port, lambda m: self.st.event(self, "link", message=m))
        try:
            info = client.connect()
            if self.device is None:
                dev = device_id(client, info)
                why = self.st.claim(self, dev)
                if why:
                    self.outcome = "refused"
                    self.device = dev
                    self.set_state("refused")
                    self.error(why)
                    return "refused"
                self.device = dev
                self.st.event(self, "camera", device=dev, board=info.get("board"), firmware=info.get("firmware"))
            return self._round(client)
        finally:
            close()

    def _round(self, client):
        self.set_state("pulling")
        out = os.path.join(self.st.out, self.device)
        p = StationPuller(client, out, self.device, store=self.st.store, note=self.note,
                          delete=self.st.delete, baud=self.st.baud_for(self.port), progress=False,
                          say=lambda m: self.st.event(self, "say", message=m))
        self.puller = p
        try:
            s = p.run()
        finally:
            self.puller = None
            self._add(p.summary)
        for name, msg in s["errors"]:
            self.error(msg, name)
        self.outcome = "store-pending" if s["store_errors"] else "errors" if s["errors"] else "drained"
        if s["store_errors"]:
            self.set_state("store-wait", pending=sorted({n for n, _ in s["store_errors"]}))
            return False
        # Other errors (a file that failed its check...) were reported; the
        # next round tries them again, not sooner.
        self.backoff.reset()
        self.set_state("idle")
        return True

    def _add(self, s):
        for k in ("pulled", "stored", "deleted", "present", "busy"):
            for n in s.get(k, ()):
                if n not in self.totals[k]:
                    self.totals[k].append(n)
        for k in ("bytes", "pull_seconds", "upload_bytes", "upload_seconds"):
            self.totals[k] += s.get("seconds" if k == "pull_seconds" else k, 0)
        self.totals["baud"] = s.get("baud") or self.totals["baud"]
