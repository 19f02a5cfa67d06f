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
from clip import ClipWriter, _hex
from ring import _ticks_diff

BUFFERING = 0
RECORDING = 1
FINALIZING = 2
STATE_NAMES = ("buffering", "recording", "finalizing")

CLIP_FORMAT = "bodycam-clip/1"
SYNC_MS = 1000  # a power cut loses at most this much of a recording
# At the press the pre-roll (~1.5 MB for 30 s of VGA) goes to the card
# back to back, synced every PREROLL_SYNC_BYTES and as soon as it is all
# written, not on the next 1 s tick: a cut during it keeps the oldest part.
PREROLL_SYNC_BYTES = 131072
# Frame bytes per writer step: at most one staging flush (a blocking card
# write), so the capture loop gets the CPU back within a frame interval.
# 8 sectors, about 20 ms on a typical card written a sector at a time from
# PSRAM (host/bodycam/sim/costs.py): small enough that the last step of a
# tick wastes little of the interval (8 KiB steps left the card idle 20 %).
STEP_BYTES = 4096
# While buffering, collect garbage when less than this is free, so that no
# collection (hundreds of ms on an ESP32: the GC reads the whole multi-MB
# ring, py/gc.c, and the loop skips camera frames meanwhile) falls in the
# seconds after a press: writing a 30 s VGA pre-roll allocated 219 KB on
# the unix port (64-bit objects; about half on an ESP32), tests/test_press_phase.py.
PRESS_HEAP_BYTES = 327680
# ...but never collect unless that frees at least this much: the heap left
# beside the ring (settings.HEAP_RESERVE) may be smaller than the above.
GC_MIN_GAIN = 65536


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
        self._cap_t = None
        self.late_total = 0  # camera frames the loop was too late to capture, ever
        self.stage = bytearray(stage_bytes)
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
        self._counter += 1
        name = "BC%06d" % self._counter
        self.press_t = t
        self.first_seq = first
        self.start_utc = self.utc(t) if self.utc else None
        self.start_info = self._start_meta(name)
        try:
            self.clip = ClipWriter(self.dir, name, self.width, self.height, self.stage, self.start_info,
                                   STEP_BYTES if STEP_BYTES <= len(self.stage) else None)
        except OSError as e:
            self.last_error = "cannot create clip %s in %s: %s" % (name, self.dir, e)
            self._log("error", {"what": self.last_error})
            self._counter -= 1
            return False
        ring.hold(first)
        self.next = first
        self.preroll_frames = 0
        self.markers = []
        self.stop_info = None
        self.stop_seq = -1
        self.drops0 = (ring.dropped_full, ring.dropped_bad, ring.dropped_large)
        self._synced_t = t
        # The writer's account: bytes not yet on the card, the pre-roll's
        # size and when it was all there (ms after the press), frames the
        # camera made that the loop was too late to capture.
        self._part = 0  # bytes of frame self.next already written
        self._unsynced = 0
        self.preroll_durable_ms = None
        self.late0 = self.late_total
        pre = back = 0
        seq = first
        while seq <= ring.newest_seq():
            if ring.thinned(seq):  # dropped by pre-roll thinning: nothing to write
                seq += 1
                continue
            n = len(ring.frame(seq))
            back += n
            if _ticks_diff(ring.time_of(seq), t) < 0:
                pre += n
            seq += 1
        self._seen = seq - 1
        self.backlog = self.backlog_peak = back
        self.preroll_bytes = pre
        self.state = RECORDING
        self._log("record_start", {"t": t, "clip": name, "first_seq": first})
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
        last = ring.newest_seq() if self.state == RECORDING else self.stop_seq
        while self._seen < ring.newest_seq():  # frames captured since: backlog
            self._seen += 1
            if not ring.thinned(self._seen):
                self.backlog += len(ring.frame(self._seen))
        if self.backlog > self.backlog_peak:
            self.backlog_peak = self.backlog
        if self.preroll_durable_ms is None and self._unsynced >= PREROLL_SYNC_BYTES:
            self._sync()  # a step of its own: a sync and a block together overran the tick
            return 1
        budget = max_frames * STEP_BYTES
        done = 0
        while budget > 0 and self.next <= last:
            seq = self.next
            if ring.thinned(seq):  # pre-roll thinning dropped it (ring.py): not a lost frame
                self.next = seq + 1
                continue
            t = ring.time_of(seq)
            rel = _ticks_diff(t, self.press_t)
            if self._part == 0:
                if rel >= 0 and self.preroll_durable_ms is None:
                    # the whole pre-roll is written: make it safe now
                    self._sync_preroll()
                    return done + 1
                if rel < 0:
                    self.preroll_frames += 1
                if clip.frames == 0:
                    self.t_first = t
                clip.begin_frame(len(ring.frame(seq)))
            frame = ring.frame(seq)
            n = len(frame)
            k = n - self._part
            if k > budget:
                k = budget
            clip.write_data(frame[self._part:self._part + k])
            self._part += k
            budget -= k
            self._unsynced += k
            self.backlog -= k
            if self._part < n:
                done += 1  # part of a frame: progress all the same
                break
            clip.end_frame(n, rel)
            self._part = 0
            self.t_last = t
            self.next = seq + 1
            ring.hold(self.next)  # frame written: it may now be evicted
            done += 1
        if self.preroll_durable_ms is not None and done and self.clip.frames and _ticks_diff(self.t_last, self._synced_t) >= SYNC_MS:
            self._sync()
            self._synced_t = self.t_last
        if self.state == FINALIZING and self.next > self.stop_seq:
            if self.preroll_durable_ms is None:
                self._sync_preroll()  # stopped before any live frame
            self._finish_step()
            done += 1
        return done

    def _sync(self):
        self.clip.sync()
        self._unsynced = 0

    def _sync_preroll(self):
        self._sync()
        now = self.ticks() if self.ticks else self.t_last if self.clip.frames else self.press_t
        self._synced_t = self.t_last if self.clip.frames else self.press_t
        self.preroll_durable_ms = _ticks_diff(now, self.press_t)
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
        """Called by the loop while buffering: collect garbage now, when a
        collection costs nothing but idle time, if little memory is free."""
        if self.state != BUFFERING:
            return
        if self._gc_t is not None and _ticks_diff(now, self._gc_t) < 1000:
            return
        self._gc_t = now
        want = PRESS_HEAP_BYTES
        if self._gc_free is not None and want > self._gc_free - GC_MIN_GAIN:
            want = self._gc_free - GC_MIN_GAIN
        if gc.mem_free() < want:
            gc.collect()
            self._gc_free = gc.mem_free()  # what a collection leaves free

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
                       "backlog_peak_bytes": self.backlog_peak}
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
