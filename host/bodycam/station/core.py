"""The station: one Slot (worker thread) per docked camera, all draining
at once into DIR/<device-id>/ and, with a store, into the object store.

Slots come from --port (kept for the whole run, so an rfc2217:// board or
a camera unplugged mid-pull is retried and resumes) or, without --port,
from watching the USB serial adapters (bodycam.device.portfind): a new adapter
gets a slot, one that disappears loses it.

A device id belongs to one slot at a time: a second camera claiming the
id of a camera docked in this run is refused, loudly, and not touched (two
cameras with one key would mix their clips and chains). The claim lasts
as long as the first camera's slot: the whole run for a --port, until it
is unplugged for a watched adapter (so a camera moved to another dock
slot is served there)."""
import os
import threading
import time

from bodycam.device import portfind
from bodycam.station.slot import Slot
from bodycam.evidence.store import StoreError


class Station:
    def __init__(self, out, ports=(), store=None, delete=False, baud=None, once=False, reporter=None,
                 poll=10.0, scan_every=1.0, backoff_first=1.0, backoff_most=60.0, once_grace=60.0,
                 comports=None, tick_every=0.5, open_dock=None):
        self.out = out
        self.fixed_ports = list(ports or ())
        self.store = store
        self.delete = delete
        self.baud = baud  # an int, or a callable(port) -> int or None (--baud auto)
        self.once = once
        self.poll = poll
        self.scan_every = scan_every
        self.backoff_first = backoff_first
        self.backoff_most = backoff_most
        self.once_grace = once_grace
        self.comports = comports  # callable -> [ListPortInfo]; pyserial's comports by default
        self.tick_every = tick_every
        self.open_dock = open_dock  # callable(port, log) -> (dock client, close); slot.dock_on by default
        self.reporter = reporter
        self.slots = {}  # port -> Slot
        self.claims = {}  # device id -> Slot
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._present = set()

    # --- for the slots ------------------------------------------------------------
    def event(self, slot, kind, **fields):
        if self.reporter is not None:
            self.reporter.event(slot, kind, **fields)

    def claim(self, slot, device):
        """None if `slot` may serve `device`, else why not."""
        with self.lock:
            other = self.claims.get(device)
            # Held while the other camera's slot exists: for its whole run on
            # a --port, until it is unplugged on a watched adapter.
            if other is not None and other is not slot and self.slots.get(other.port) is other:
                msg = ("REFUSED: the camera on %s claims device id %s, which the camera on %s already has. Two "
                       "cameras with one device key would mix their clips and evidence chains, so this one is "
                       "not drained (nothing read, nothing deleted). Re-provision one of them with "
                       "`bodycam deploy` (a new device key), then dock it again" % (slot.port, device, other.port))
                self.event(slot, "conflict", device=device, other_port=other.port, error=msg)
                return msg
            self.claims[device] = slot
            return None

    def release(self, slot):
        with self.lock:
            if slot.device and self.claims.get(slot.device) is slot:
                del self.claims[slot.device]

    def port_present(self, port):
        return port in self._scan()

    def baud_for(self, port):
        return self.baud(port) if callable(self.baud) else self.baud

    # --- ports ----------------------------------------------------------------------------
    def _scan(self):
        found = portfind.adapters(self.comports() if self.comports else None)
        self._present = {p.device for p in found}
        return self._present

    def _add(self, port, fixed):
        s = Slot(self, port, fixed=fixed)
        self.slots[port] = s
        self.event(s, "slot", fixed=fixed)
        s.start()

    def _watch(self):
        present = self._scan()
        for port in sorted(present):
            if port not in self.slots:
                self._add(port, fixed=False)
        for port, s in list(self.slots.items()):
            if port not in present and not s.fixed and not s.is_alive():
                del self.slots[port]
                self.release(s)
                self.event(s, "slot_gone")

    # --- the run -------------------------------------------------------------------------------
    def stop(self):
        self._stop.set()
        for s in list(self.slots.values()):
            s.stop()

    def run(self):
        """Drain until stop() (or, with once, until every slot is done).
        Returns the summary."""
        os.makedirs(self.out, exist_ok=True)
        t0 = time.monotonic()
        if self.store is not None:
            try:
                self.store.check()  # a badly set-up bucket is refused before any camera is touched
            except StoreError as e:
                self.event(None, "store_error", error="%s; clips stay on the cameras and in %s until it answers"
                                                      % (e, self.out))
        if self.fixed_ports:
            for p in self.fixed_ports:
                self._add(p, fixed=True)
        else:
            if self.once and not self._scan():
                raise portfind.NoPortError(portfind.NONE_FOUND)
            self._watch()
        last_scan = last_tick = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if not self.fixed_ports and not self.once and now - last_scan >= self.scan_every:
                    self._watch()
                    last_scan = now
                if self.reporter is not None and now - last_tick >= self.tick_every:
                    self.reporter.tick(self._rows())
                    last_tick = now
                if self.once and not any(s.is_alive() for s in self.slots.values()):
                    break
                self._stop.wait(0.1)
        finally:
            self.stop()
            for s in self.slots.values():
                s.join(timeout=30)
            if self.reporter is not None:
                self.reporter.close(self._rows())
        return self.summary(time.monotonic() - t0)

    def _rows(self):
        return [self.slots[p] for p in sorted(self.slots)]

    def summary(self, seconds):
        slots = []
        for s in self._rows():
            slots.append({"port": s.port, "device": s.device, "state": s.state, "outcome": s.outcome,
                          "pulled": s.totals["pulled"], "stored": s.totals["stored"],
                          "deleted": s.totals["deleted"], "busy": s.totals["busy"], "bytes": s.totals["bytes"],
                          "baud": s.totals["baud"], "pull_seconds": round(s.totals["pull_seconds"], 3),
                          "upload_bytes": s.totals["upload_bytes"],
                          "upload_seconds": round(s.totals["upload_seconds"], 3),
                          "errors": [{"file": f or None, "error": e} for f, e in s.errors]})
        return {"slots": slots, "seconds": round(seconds, 3),
                "bytes": sum(s["bytes"] for s in slots),
                "pulled": sum(len(s["pulled"]) for s in slots),
                "stored": sum(len(s["stored"]) for s in slots),
                "deleted": sum(len(s["deleted"]) for s in slots),
                "refused": [s["port"] for s in slots if s["state"] == "refused"],
                "ok": bool(slots) and all(s["outcome"] == "drained" for s in slots)}
