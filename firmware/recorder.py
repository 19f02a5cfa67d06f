# Recorder state machine: BUFFERING -> RECORDING -> FINALIZING -> BUFFERING.
#
# While buffering, frames live only in the ring (nothing touches storage).
# A press starts a clip with the frames of the last preroll_ms before the
# press, then continues with live frames: the ring holds every frame from
# the clip's next unwritten one on, so the pre-roll/live boundary has no gap
# and no duplicate. Presses while recording become markers; a deliberate
# hold stops. Time comes in as an argument (ticks in ms), never from a clock.
import gc
import os

import button
import recover
from backfill import Backfill
from clip import ClipWriter, _hex, placeholder_header
from ring import _ticks_diff

from recstate import BUFFERING, FINALIZING, RECORDING, STATE_NAMES  # noqa: F401 (also the recorder's names)

CLIP_FORMAT = "bodycam-clip/1"
# A recording is synced when its newest frame on the card is this much
# newer than the last synced one: with the write's own lag that keeps every
# live frame older than 1 s on the card (the promise, docs/evidence.md).
SYNC_MS = 750
# At the press the pre-roll (~1.5 MB for 30 s of VGA, ~8 s of a typical
# card's time) goes to the card newest frame first, with live frames
# appended as they come (backfill.py): a power cut in those seconds keeps
# the moments nearest the press. Meanwhile the clip is synced every
# BACKFILL_SYNC_BYTES or BACKFILL_SYNC_MS, whichever comes first, and once
# the pre-roll is all written.
BACKFILL_FIRST_SYNC_BYTES = 16384
BACKFILL_SYNC_BYTES = 49152
BACKFILL_SYNC_MS = 400
# The ring frees only its oldest frames: when less than this many seconds
# of frames would still fit, the pre-roll's next block comes from its
# oldest end, so live frames never find the ring full.
RING_ROOM_S = 3
# While the pre-roll is written newest first, a live frame waits until the
# pre-roll on the card reaches twice as far back from the press as the
# frame is after it plus this: what a cut t s after a press must keep
# (docs/evidence.md) is the last 2t s before it and live frames up to
# t - 1 s, so the first second's card time goes to the pre-roll.
LIVE_LAG_MS = 1000
# Frame bytes per writer step: at most one staging flush (a blocking card
# write), so the capture loop gets the CPU back within a frame interval.
# 8 sectors, about 20 ms on a typical card written a sector at a time from
# PSRAM (host/bodycam/sim/costs.py): small enough that the last step of a
# tick wastes little of the interval (8 KiB steps left the card idle 20 %).
STEP_BYTES = 4096
# While buffering, collect garbage when less than this is free, so that no
# collection (hundreds of ms on an ESP32: the GC reads the whole multi-MB
# ring, py/gc.c, and the loop skips camera frames meanwhile) falls in the
# seconds after a press. Measured on the virtual 4 MB AI-Thinker (unix
# port, 64-bit objects: about half on an ESP32), from the press until the
# whole 30 s VGA pre-roll was on the card, live frames beside it: 165 KB on
# the typical card (13.5 s), 274 KB on the slow one (39 s); the heap beside
# the ring is ~450 KB after a collection (docs/virtual-board.md, "Memory
# at the press"). After each of these collections gc.threshold() makes the
# GC itself keep this much free between the loop's looks.
PRESS_HEAP_BYTES = 327680
# While the pre-roll is being written, collect only when less than this is
# free (an allocation would soon force a collection anyway, at a worse
# moment): the press's allocations were planned to fit in PRESS_HEAP_BYTES.
PRESS_FLOOR_BYTES = 32768
# ...but never collect unless that frees at least this much: the heap left
# beside the ring (settings.HEAP_RESERVE) may be smaller than the above.
GC_MIN_GAIN = 65536
# While recording, collect at the writer's turn once less than this is free
# (checked once a second): a recording allocates a few KB a second, so no
# allocation ever runs out of heap and forces a collection elsewhere.
GC_LOW_BYTES = 98304


class Recorder:
    def __init__(self, ring, clips_dir, width, height, preroll_ms, info,
                 utc=None, stage_bytes=8192, audit=None, seal=None, ticks=None):
        self.ring = ring
        self.dir = clips_dir
        self.width = width
        self.height = height
        self.preroll_ms = preroll_ms
        self.info = info  # board, firmware and settings for the sidecar
        self.utc = utc  # utc(ticks) -> ISO 8601 'Z' string, or None if unset
        self.audit = audit  # audit.record(kind, dict) or None
        self.seal = seal  # seal(meta) -> meta: adds the manifest's chain/HMAC
        self.ticks = ticks  # ticks() -> ms, to time the pre-roll's sync (None: the step's now)
        fps = (info.get("settings") or {}).get("fps") or 0
        self.interval_ms = 1000 // fps if fps else 0
        self._gc_t = None
        self._gc_free = None
        self.collections = 0  # collections the loop chose the moment of
        self._cap_t = None
        self.late_total = 0  # camera frames the loop was too late to capture, ever
        self.preroll_durable_ms = None
        self.stage = bytearray(stage_bytes)
        # The pre-roll's blocks are put together in the staging buffer's
        # second half: the live stager writes STEP_BYTES at a time from its
        # first (ClipWriter's block), and nothing else uses it while a clip
        # records (closing, hashing and recovery come after the pre-roll is
        # written). No second buffer: a board short of memory boots as before.
        if len(self.stage) >= 2 * STEP_BYTES:
            self.backfill = Backfill(memoryview(self.stage)[STEP_BYTES:2 * STEP_BYTES])
        else:
            self.backfill = Backfill(bytearray(STEP_BYTES))
        self.state = BUFFERING
        self.clip = None
        self.clips_done = []
        self.last_error = None
        self._counter = _last_clip_number(clips_dir)
        self._after = -1  # first seq not yet in a previous clip
        self._queued = None  # press during FINALIZING: start right after
        self._start_press = False  # the press that started this clip
        self._down = False  # the button is down now
        self._pending = None  # time of a press while recording
        self._closing = None

    # --- events ----------------------------------------------------------
    def on_button(self, ev, t, held_ms=0, now=None):
        if ev == button.PRESS:
            self._down = True
            self._log("press", {"t": t, "state": STATE_NAMES[self.state]})
            if self.state == BUFFERING:
                self.start(t)
                self._start_press = True
            elif self.state == RECORDING:
                self._pending = t
            else:
                self._queued = t
        elif ev == button.RELEASE:
            self._down = False
            if self.state == RECORDING and self._pending is not None:
                mark = {"ms": _ticks_diff(self._pending, self.press_t), "held_ms": held_ms}
                self.markers.append(mark)
                self.clip.note({"marker": mark})
                self._log("marker", {"t": self._pending, "held_ms": held_ms})
            self._pending = None
            self._start_press = False
        elif ev == button.HOLD:
            if self.state == RECORDING and self._pending is not None and not self._start_press:
                self.stop(t if now is None else now, "hold", self._pending)
                self._pending = None

    def start(self, t):
        ring = self.ring
        if self.preroll_ms > 0:
            first = ring.first_since(t - self.preroll_ms)
        else:
            first = _first_at_or_after(ring, t)
        if first < self._after:
            first = self._after  # never repeat frames of the previous clip
        # The pre-roll: frames first..last, captured before the press.
        last = first - 1
        while last < ring.newest_seq() and _ticks_diff(ring.time_of(last + 1), t) < 0:
            last += 1
        self._counter += 1
        name = "BC%06d" % self._counter
        self.press_t = t
        self.first_seq = first
        self.start_utc = self.utc(t) if self.utc else None
        bf = self.backfill
        sizes = bf.plan(ring, first, last, placeholder_header(self.width, self.height))
        self.start_info = self._start_meta(name)
        inf = self.start_info
        pre = None
        self.t_first = self.t_last = None
        if sizes:
            times = []
            seq = first
            while seq <= last:
                if not ring.thinned(seq):
                    times.append(_ticks_diff(ring.time_of(seq), t))
                seq += 1
            # Where each pre-roll frame goes in the file, for recovery
            # (recover.py): known before any of them is written.
            inf = dict(inf, preroll_layout={"bytes": bf.end - 224, "sizes": sizes})
            pre = (bf, sizes, times)
            self.t_first = t + times[0]
            self.t_last = t + times[-1]
        try:
            self.clip = ClipWriter(self.dir, name, self.width, self.height, self.stage, inf,
                                   STEP_BYTES if STEP_BYTES <= len(self.stage) else None, pre)
        except OSError as e:
            self.last_error = "cannot create clip %s in %s: %s" % (name, self.dir, e)
            self._log("error", {"what": self.last_error})
            self._counter -= 1
            bf.active = False
            return False
        self.next = last + 1  # the next live frame to append
        self.preroll_frames = len(sizes)
        self.markers = []
        self.stop_info = None
        self.stop_seq = -1
        self.drops0 = (ring.dropped_full, ring.dropped_bad, ring.dropped_large)
        self._synced_t = t
        self._sync_at = self._now(t)
        # The writer's account: bytes not yet on the card, the pre-roll's
        # size and when it was all there (ms after the press), how much of
        # it was on the card at each sync before that, frames the camera
        # made that the loop was too late to capture.
        self._part = 0  # bytes of frame self.next already written
        self._unsynced = 0
        self.preroll_durable_ms = None
        self.preroll_covered = []  # [ms after the press, ms before it covered without a gap]
        self.late0 = self.late_total
        # Newest first only where the ring can keep every frame until it is
        # written: a thinned ring's levels each free their own oldest frames.
        self._front_only = ring.levels > 1
        held = 0
        seq = first
        while seq <= ring.newest_seq():
            if not ring.thinned(seq):
                held += ring.length(seq)
            seq += 1
        self._held = held  # bytes of the frames the ring keeps for this clip
        self._hold = first
        self.backlog = self.backlog_peak = held
        self._seen = ring.newest_seq()
        self.preroll_bytes = sum(sizes)
        ring.hold(first)
        # No collection by threshold while the pre-roll is written: what is
        # free was kept for it (idle); one when memory runs out is the GC's.
        gc.threshold(-1)
        self.state = RECORDING
        self._log("record_start", {"t": t, "clip": name, "first_seq": first})
        if not sizes:
            self._sync_preroll()  # no pre-roll: nothing to wait for
        return True

    def stop(self, now, reason, press_t=None):
        if self.state != RECORDING:
            return
        self.stop_seq = self.ring.newest_seq()
        self.stop_info = {"reason": reason, "ms": _ticks_diff(now, self.press_t)}
        if press_t is not None:
            self.stop_info["press_ms"] = _ticks_diff(press_t, self.press_t)
        self.state = FINALIZING
        self._log("record_stop", {"t": now, "reason": reason, "clip": self.clip.name})

    # --- work --------------------------------------------------------------
    def step(self, now, max_frames=8):
        """Write up to max_frames pending frames, or take one finishing step.
        Returns how much work was done (frames written + finishing steps):
        0 means there is nothing to do until the next frame arrives."""
        if self.state == BUFFERING:
            return 0
        try:
            return self._work(max_frames)
        except OSError as e:
            return self._storage_failed(now, e)

    def _work(self, max_frames):
        ring = self.ring
        clip = self.clip
        while self._seen < ring.newest_seq():  # frames captured since: backlog
            self._seen += 1
            if not ring.thinned(self._seen):
                n = ring.length(self._seen)
                self.backlog += n
                self._held += n
        if self.backlog > self.backlog_peak:
            self.backlog_peak = self.backlog
        if self.preroll_durable_ms is None:
            if not clip.preroll_done():
                if self._backfill_sync_due():
                    self._sync()  # a step of its own: a sync and a block together overran the tick
                    self._note_cover()
                    return 1
            else:
                self._sync_preroll()  # the whole pre-roll is written: make it safe now
                return 1
        last = ring.newest_seq() if self.state == RECORDING else self.stop_seq
        budget = max_frames * STEP_BYTES
        done = 0
        while budget > 0:
            live = self.next <= last
            pre = not clip.preroll_done()
            short = pre and self._ring_short()
            front = pre and (self._front_only or short)
            if live and short and not self._part:
                # The ring is short of room and only the pre-roll's oldest
                # block frees any: live frames wait (they are in the ring)
                # so that none is dropped for want of room.
                live = False
            elif live and pre and not front and not self._part:
                # Nearest the press first, the pre-roll weighted double: the
                # next live frame goes once the pre-roll on the card reaches
                # twice as far back from the press as that frame is after
                # it, plus LIVE_LAG_MS (what a cut costs: the seconds either
                # side of the press, docs/evidence.md). The card writes
                # seconds of pre-roll per second, so live frames still go
                # within about a second of their capture.
                live = 2 * (_ticks_diff(ring.time_of(self.next), self.press_t) + LIVE_LAG_MS) <= self._depth()
            if live:
                k = self._append(budget)
                if k < 0:
                    continue  # (a thinned frame: nothing to write)
                budget -= k
                done += 1
                if self._part:
                    break
                continue
            if not pre:
                break
            k = clip.preroll_step(front)
            if not k:
                continue  # (nothing was left to write)
            self._unsynced += k
            self.backlog -= k
            budget -= k
            done += 1
            self._release_front()
            break  # one block of the pre-roll per step: a card write each
        if self.preroll_durable_ms is not None and done and clip.frames and \
                _ticks_diff(self.t_last, self._synced_t) >= SYNC_MS:
            self._sync()
            self._synced_t = self.t_last
        if self.state == FINALIZING and self.next > self.stop_seq and clip.preroll_done():
            if self.preroll_durable_ms is None:
                self._sync_preroll()  # stopped before the pre-roll was all on the card
            self._finish_step()
            done += 1
        return done

    def _append(self, budget):
        # Write (part of) the next live frame; returns the bytes written, or
        # -1 for a frame pre-roll thinning dropped (ring.py): not a lost frame.
        ring = self.ring
        clip = self.clip
        seq = self.next
        if ring.thinned(seq):
            self.next = seq + 1
            return -1
        frame = ring.frame(seq)
        n = len(frame)
        if self._part == 0:
            clip.begin_frame(n)
        k = n - self._part
        if k > budget:
            k = budget
        clip.write_data(frame[self._part:self._part + k])
        self._part += k
        self._unsynced += k
        self.backlog -= k
        if self._part < n:
            return k
        t = ring.time_of(seq)
        clip.end_frame(n, _ticks_diff(t, self.press_t))
        self._part = 0
        self.t_last = t
        if self.t_first is None:
            self.t_first = t
        self.next = seq + 1
        if clip.preroll_done():
            self._set_hold(self.next)  # frame written: it may now be evicted
        return k

    def _set_hold(self, seq):
        ring = self.ring
        s = self._hold
        while s < seq:
            if not ring.thinned(s) and s <= ring.newest_seq():
                self._held -= ring.length(s)
            s += 1
        self._hold = seq
        ring.hold(seq)

    def _release_front(self):
        bf = self.backfill
        self._set_hold(bf.hold_seq() if bf.active else self.next)

    def _ring_short(self):
        """Too little room left in the ring for the live frames to come:
        write the pre-roll's oldest block, the only one that frees room."""
        fps = (self.info.get("settings") or {}).get("fps") or 0
        frames = self.preroll_frames or 1
        want = RING_ROOM_S * fps * self.preroll_bytes // frames
        return self.ring.size - self._held < want + 2 * self.clip.max_chunk

    def _depth(self):
        """How far back from the press (ms) the pre-roll written from its
        newest end reaches without a gap (written, not yet synced)."""
        bf = self.backfill
        seq = bf.oldest_kept_back()
        if seq > bf.last:
            return 0
        return -_ticks_diff(self.ring.time_of(seq), self.press_t)

    def _now(self, fallback):
        return self.ticks() if self.ticks else fallback

    def _backfill_sync_due(self):
        if not self._unsynced:
            return False
        # the first sync soon: the seconds nearest the press are safe then
        want = BACKFILL_SYNC_BYTES if self.preroll_covered else BACKFILL_FIRST_SYNC_BYTES
        return self._unsynced >= want or \
            _ticks_diff(self._now(self._sync_at), self._sync_at) >= BACKFILL_SYNC_MS

    def _note_cover(self):
        # How far back from the press the pre-roll is on the card without a
        # gap now (the newest part is written first): the sidecar's writer
        # account says when each stretch was safe.
        if self.t_first is None or not self.preroll_frames:
            return
        if self.backfill.done():
            cover = -_ticks_diff(self.t_first, self.press_t)
        else:
            cover = self._depth()
        c = self.preroll_covered
        if cover and (not c or c[-1][1] != cover):
            c.append([_ticks_diff(self._now(self.press_t), self.press_t), cover])

    def _sync(self):
        self.clip.sync()
        self._unsynced = 0
        self._sync_at = self._now(self._sync_at)

    def _sync_preroll(self):
        self._sync()
        now = self._now(self.press_t if self.t_last is None else self.t_last)
        self._synced_t = self.press_t if self.t_last is None else self.t_last
        self.preroll_durable_ms = _ticks_diff(now, self.press_t)
        self._note_cover()
        self._set_hold(self.next)
        self.clip.note({"preroll_durable_ms": self.preroll_durable_ms, "preroll_bytes": self.preroll_bytes})
        self._log("preroll_durable", {"clip": self.clip.name, "ms": self.preroll_durable_ms,
                                      "bytes": self.preroll_bytes, "frames": self.preroll_frames})

    def captured(self, now):
        """The loop took a frame from the camera at `now`. A gap of more than
        two intervals since the last one means the camera made frames the
        loop was too late to take (GrabMode.LATEST keeps only the newest):
        counted for the clip's sidecar, and logged, never silent."""
        iv = self.interval_ms
        prev = self._cap_t
        self._cap_t = now
        if prev is None or not iv:
            return
        # Frame times are capture times: the loop captures just after an
        # exposure (capture() waits for a new frame), so a late capture
        # shifts one frame's time without losing it; only a gap of two
        # intervals or more (less a little jitter) means frames were lost.
        gap = _ticks_diff(now, prev)
        if gap >= 2 * iv - iv // 8:
            missed = (gap + iv // 8) // iv - 1
            if missed > 0:
                self.late_total += missed
                if self.state == RECORDING:
                    self._log("frames_late", {"clip": self.clip.name, "at_ms": _ticks_diff(now, self.press_t),
                                              "frames": missed})

    def idle(self, now):
        """Called by the loop right after a capture, before the writer's
        turn: collect garbage now, when a collection costs idle time (or
        the writer's, while recording), not at whatever allocation would
        otherwise force one (hundreds of ms on an ESP32 with the ring in
        PSRAM, in the middle of a capture or a card write). Returns True if
        it collected."""
        if self._gc_t is not None and _ticks_diff(now, self._gc_t) < 1000:
            return False
        self._gc_t = now
        if self.state == BUFFERING:
            # Room for a press: the pre-roll's writing must not need one.
            want = PRESS_HEAP_BYTES
            if self._gc_free is not None and want > self._gc_free - GC_MIN_GAIN:
                want = self._gc_free - GC_MIN_GAIN
        elif self.preroll_durable_ms is None:
            want = PRESS_FLOOR_BYTES  # the pre-roll is being written (see start)
        else:
            want = GC_LOW_BYTES
        if gc.mem_free() < want:
            gc.collect()
            self.collections += 1
            self._gc_free = gc.mem_free()  # what a collection leaves free
            if self.state == BUFFERING and self._gc_free > want:
                # Between the loop's once-a-second looks (a dock transfer
                # allocates fast) the GC collects by itself before less than
                # `want` is free: a press always finds its room.
                gc.threshold(self._gc_free - want)
            return True
        return False

    def _finish_step(self):
        if self._closing is None:
            self._closing = self.clip.close_steps(self._us_per_frame())
        try:
            next(self._closing)
            return
        except StopIteration:
            pass
        self._closing = None
        clip = self.clip
        meta = self._meta()
        if self.seal is not None:
            meta = self.seal(meta)
        clip.write_sidecar(meta)
        self.clips_done.append(clip.name)
        self._log("clip_done", {"clip": clip.name, "frames": clip.frames, "sha256": clip.sha256})
        self._after = self.next
        self.clip = None
        self.state = BUFFERING
        self.ring.hold(-1)
        if self._queued is not None:
            t, self._queued = self._queued, None
            if self.start(t):
                # Started by a press made while finishing: its hold must not
                # stop this clip, unless it was already released.
                self._start_press = self._down

    def _storage_failed(self, now, err):
        self.last_error = "storage failed while writing %s: %s" % (self.clip.name if self.clip else "?", err)
        self._log("error", {"what": self.last_error})
        if self.state == RECORDING:
            self.stop(now, "storage")
            self.stop_seq = self.next - 1  # keep what is already written
            return 0
        # Finishing failed too: give up on this clip, keep buffering.
        if self.clip:
            self.clip.abort()
        self.clip = None
        self._closing = None
        self.state = BUFFERING
        self.ring.hold(-1)
        return 0

    def rescue(self, now, reason):
        """Something failed in the middle of writing (e.g. MemoryError): end
        the clip here without trusting the half-done write. Its files are
        closed and rebuilt from their whole frames, as after a power cut."""
        self._log("error", {"what": "recording rescued: " + reason, "t": now})
        if self.clip is None:
            return
        clip = self.clip
        self.clip = None
        self._closing = None
        self.state = BUFFERING
        self.ring.hold(-1)
        try:
            clip.sync()
        except Exception:
            pass  # whatever reached the card is what recovery works from
        clip.abort()
        if clip.sha256 is None:  # (not already finished)
            recover.recover(self.dir, clip.name, self.stage, self.seal, reason)
        self._after = self.next
        self.clips_done.append(clip.name)
        self._log("record_stop", {"t": now, "reason": reason, "clip": clip.name})

    def _us_per_frame(self):
        # The AVI has one constant rate: the mean interval of this clip, so
        # players show it at its real length. True times are in the sidecar.
        n = self.clip.frames
        if n > 1:
            span = _ticks_diff(self.t_last, self.t_first)
            if span > 0:
                return span * 1000 // (n - 1)
        fps = (self.info.get("settings") or {}).get("fps") or 10
        return 1000000 // fps

    def _start_meta(self, name):
        # What is known when the clip starts: also written to NAME.INF, so a
        # clip cut off by power loss can be rebuilt (recover.py).
        return {
            "format": CLIP_FORMAT,
            "clip": name + ".AVI",
            "board": self.info.get("board"),
            "firmware": self.info.get("firmware"),
            "settings": self.info.get("settings"),
            "width": self.width,
            "height": self.height,
            "clock": {"set": self.start_utc is not None, "press_utc": self.start_utc,
                      "press_ticks_ms": self.press_t},
            "preroll_ms": self.preroll_ms,
            "first_seq": self.first_seq,
            # Which pre-roll stretch kept every Nth frame (sealed with the rest).
            "preroll_stretches": self.ring.stretches(self.first_seq, self.press_t),
        }

    def _meta(self):
        ring = self.ring
        c = self.clip
        d0 = self.drops0
        m = dict(self.start_info)
        m["preroll_frames"] = self.preroll_frames
        m["frames"] = c.frames
        m["last_seq"] = self.next - 1
        m["markers"] = self.markers
        m["stop"] = self.stop_info
        m["dropped"] = {"ring_full": ring.dropped_full - d0[0], "bad_frame": ring.dropped_bad - d0[1],
                        "too_large": ring.dropped_large - d0[2], "late_capture": self.late_total - self.late0}
        m["writer"] = {"preroll_bytes": self.preroll_bytes, "preroll_durable_ms": self.preroll_durable_ms,
                       "preroll_covered": self.preroll_covered, "backlog_peak_bytes": self.backlog_peak}
        m["avi_bytes"] = c.size
        m["avi_sha256"] = c.sha256
        # frame_ms is streamed into the sidecar after sealing; this hash
        # (SHA-256 of the times as int32 little-endian) binds it in.
        m["frame_ms_sha256"] = _hex(c.times_hash.digest())
        return m

    def _log(self, kind, data):
        if self.audit is not None:
            self.audit.record(kind, data)


def _first_at_or_after(ring, t):
    seq = ring.oldest_seq()
    while seq <= ring.newest_seq() and _ticks_diff(ring.time_of(seq), t) < 0:
        seq += 1
    return seq


def _last_clip_number(d):
    n = 0
    try:
        names = os.listdir(d)
    except OSError:
        return 0
    for name in names:
        if len(name) == 12 and name.startswith("BC") and name.endswith(".AVI"):
            try:
                n = max(n, int(name[2:8]))
            except ValueError:
                pass
    return n
