# The capture loop: camera -> ring -> button gestures -> recorder, one frame
# per tick. Everything hardware comes from the HAL, so the same loop runs on
# the ESP32 and on the virtual board.
import gc

import boardcfg
import button as btn
import health
import memsize
import recover
import settings as cfg
from recorder import BUFFERING, RECORDING, Recorder
from ring import _ticks_diff
from version import VERSION

RECOVERY_MARGIN_MS = 20  # background recovery hands back this long before the next frame
# A press is acted on during the wait for the next frame only when at least
# this long (or what starting a clip took last, if longer) is left before it.
START_MS = 60


class App:
    def __init__(self, hal, board, s, max_writes_per_tick=None):
        self.hal = hal
        self.settings = s
        t0 = hal.ticks_ms()
        self.plan, self.ring, self.memory = self.size_ring(hal, board, s)
        self.boot_ms = {"ring": _ticks_diff(hal.ticks_ms(), t0)}
        b = board["button"]
        self.button = btn.Button(hal.ticks_ms, active_low=b["active_low"], hold_ms=s["hold_ms"])
        self.button.attach(hal.button_pin)
        w, h, _ = cfg.FRAMESIZES[s["framesize"]]
        info = {"board": board["id"], "firmware": VERSION, "settings": s}
        self.recorder = Recorder(self.ring, hal.clips_dir, w, h, s["preroll_s"] * 1000, info,
                                 utc=hal.clock.utc, audit=getattr(hal, "audit", None),
                                 seal=getattr(hal, "seal", None), ticks=hal.ticks_ms)
        # Clip names continue past clips offloaded and deleted (the sealer
        # remembers the last number) and past a clip whose files a power cut
        # destroyed before it was sealed (the audit log saw it start), so a
        # name never repeats on a device.
        last = getattr(self.recorder.seal, "last_clip_number", 0)
        cut = getattr(getattr(hal, "audit", None), "interrupted", None)
        if isinstance(cut, str) and cut[2:8].isdigit() and int(cut[2:8]) > last:
            last = int(cut[2:8])
        if last > self.recorder._counter:
            self.recorder._counter = last
        # Clips cut off by a power loss (or a reset, a crash) are rebuilt in
        # the background while the camera buffers (recover.Recovery).
        reason, cause = getattr(hal, "stop_cause", None) or ("power_loss", None)
        self.recovery = recover.Recovery(hal.clips_dir, self.recorder, self.recorder.seal,
                                         self.recorder.audit, reason, cause)
        health.attach(self, hal)  # no card: presses go to a RAM log; memory shortfall to the audit log
        # The camera's buffer goes back to the driver as soon as the frame
        # is in the ring. cnadler86's capture() returns the buffer it holds
        # only at the next capture (src/modcamera.c v0.6.0), and the driver
        # refills only free buffers: with one held, the other took the first
        # frame after each capture and kept it, so every capture returned a
        # frame as old as the loop's interval (or a card stall), stamped now
        # (esp32-camera driver/cam_hal.c; tests/test_frame_times.py). With
        # both free it always queues the newest (GrabMode.LATEST): a frame
        # finished within one sensor frame period of the capture. With one
        # buffer it is kept until the next capture, which then waits for a
        # fresh frame instead.
        self.free_camera = getattr(hal.camera, "free_buffer", None) if s["fb_count"] > 1 else None
        # ...so the frame a capture returns was finished some time in the
        # sensor's frame period before the call (or, if the capture had to
        # wait for it, just before it returned): it is stamped at the middle
        # of that window, at most half a period (20 ms at VGA) off.
        self.frame_window = cfg.sensor_period_us(s["framesize"]) // 1000 if self.free_camera else 0
        self.interval_ms = 1000 // s["fps"]
        self.max_writes = max_writes_per_tick
        self.step_ms = 0  # a writer step's recent duration (moving average)
        self.exposed = None  # when the frame just captured was exposed (estimate, ticks ms)
        # Other loop work (e.g. the serial dock): objects with poll(now),
        # called once per tick after the recorder.
        self.services = []
        self.capture_errors = 0
        self.memory_errors = 0
        self.ticks = 0
        self.interrupt = False  # set by the dock on a deliberate Ctrl-C (see run)
        self.start_ms = START_MS  # what starting a clip took last (wait_until)

    @property
    def recovered(self):
        """[(name, frames)] of the clips recovery has finished (frames None:
        kept as it was, a later boot tries again)."""
        return self.recovery.done

    def step(self):
        """One tick that survives running out of memory: a MemoryError (on the
        ESP32 the heap shares PSRAM with the camera) stops the recording and
        keeps every whole frame already written, instead of losing the clip
        or crashing the camera."""
        try:
            return self.tick()
        except MemoryError:
            gc.collect()
            now = self.hal.ticks_ms()
            self.memory_errors += 1
            self.recorder.rescue(now, "memory")
            return now

    def tick(self):
        hal = self.hal
        called = hal.ticks_ms()
        try:
            frame = hal.camera.capture()
        except OSError:
            frame = None
        now = hal.ticks_ms()
        self.blocked(called, now)
        self.recorder.captured(now)
        if frame is None:
            self.capture_errors += 1
            self.exposed = None
        else:
            t = now
            if self.frame_window:
                t = (now - ((_ticks_diff(now, called) + self.frame_window) >> 1)) & 0x3FFFFFFF
            self.ring.push(frame, t)
            if self.free_camera is not None:
                self.free_camera()
            self.exposed = self.exposure_of(now, called)
        self.poll_timed(now)
        hal.clock.keep(now)  # UTC stays right past the 6.2-day tick range (clock.py)
        # The writer must hand back before the NEXT exposure, not one interval
        # after this capture: a capture that found its frame waiting (the loop
        # was late) would push every later deadline later, the lag would grow
        # a little each busy tick (the pre-roll keeps every tick busy) until
        # a whole frame was skipped, with no gap in the capture times to show.
        base = now if self.exposed is None else self.exposed
        self.write(now, base + self.interval_ms)
        if self.recovery.owed:
            # at most half the interval, and never past the next frame
            until = base + self.interval_ms - RECOVERY_MARGIN_MS
            if _ticks_diff(until, now + self.interval_ms // 2) > 0:
                until = now + self.interval_ms // 2
            self.recovery.poll(now, until & 0x3FFFFFFF, hal.ticks_ms, _ticks_diff)
        for svc in self.services:
            svc.poll(now)
        hal.led("status", health.status_led(self, self.recorder.state == RECORDING, now))
        self.ticks += 1
        return now

    def blocked(self, since, now):
        """A call from `since` to `now` (a capture, a card write) long enough
        to hide a press: pin IRQs are soft on the ESP32, so the button's
        handler ran only when it returned (ports/esp32/machine_pin.c)."""
        if _ticks_diff(now, since) >= self.button.debounce_ms:
            self.button.late(since)

    def exposure_of(self, now, called=None):
        """When the frame captured at `now` was exposed (ticks ms), estimated
        from the camera's steady rate. A capture that had to wait for its
        frame (it took an eighth of an interval or more since `called`)
        returns as the frame is exposed: the estimate is `now`, back in the
        sensor's phase. Otherwise the newest frame (GrabMode.LATEST) was
        exposed within the interval before `now`, a whole number of
        intervals after the last estimate. A sensor a little slower than the
        set rate is followed by the waits it causes. (The estimate used to
        creep 1 ms a frame towards `now` for that; but the loop calls the
        camera when the estimate says, so the creep fed itself: after 30 s
        of back-to-back writing the estimate was 160 ms behind the sensor
        and a long step skipped a frame, tests/test_press_phase.py.)
        With the camera's buffer given back at once (free_camera) the OV2640
        free-runs faster than the loop and a frame finished within its
        period is always queued: a capture never waits for one, so a slow
        capture says nothing about the sensor's phase, and the loop keeps
        its own grid (the estimate is then when the loop meant to capture)."""
        iv = self.interval_ms
        e = self.exposed
        if e is None or not iv:
            return now
        if called is not None and not self.free_camera and _ticks_diff(now, called) >= iv // 8:
            return now
        e += iv
        if _ticks_diff(e, now) > 0:
            return now
        while _ticks_diff(now, e) >= iv:
            e += iv
        return e & 0x3FFFFFFF

    def size_ring(self, hal, board, s):
        """(plan, ring, memory report): the ring sized from the memory really
        free now that the camera is up (memsize.py); never fails the boot."""
        return memsize.ring_for(hal, board, s)

    def health(self):
        """Storage and memory for the boot line and `bodycam info`."""
        memsize.refresh(self.memory, self.ring, self.settings["fps"])
        return health.report(self)

    def poll_button(self, now):
        b = self.button
        level = self.hal.button_pin.value()
        while True:
            ev = b.poll(now, level)
            if ev == btn.NONE:
                return
            self.recorder.on_button(ev, b.t, b.held_ms, now)

    def poll_timed(self, now):
        """poll_button, timing a press that starts a clip (start_ms, for
        wait_until). True if one did."""
        was = self.recorder.state
        self.poll_button(now)
        if was != BUFFERING or self.recorder.state != RECORDING:
            return False
        took = _ticks_diff(self.hal.ticks_ms(), now)
        self.start_ms = took if took > START_MS else START_MS
        return True

    def write(self, now, deadline):
        # Writer work until caught up or the next frame is due: a step (one
        # card write) is started while at least half of one as long as recent
        # ones still fits before the deadline. The last step may run past the
        # next exposure by up to half a step (about 10 ms on the typical
        # card): that capture is then a little late, which costs no frame
        # (the driver keeps the newest one queued), and the next deadline is
        # anchored to the exposure, not to the late capture, so lateness
        # never builds up. The pre-roll reaches the card at nearly the card's
        # rate (bench/press.py).
        rec = self.recorder
        rec.idle(now)  # a collection, if one is due, takes the writer's time, before the deadline check
        if rec.state == BUFFERING:
            return
        n = 0
        while rec.state != BUFFERING:
            if self.max_writes is not None and n >= self.max_writes:
                return
            t0 = self.hal.ticks_ms()
            left = _ticks_diff(deadline, t0)
            # (the first step goes even if it may not fit, so the writer
            # always makes progress, unless the tick is already past its
            # deadline, e.g. after a press's work: then the next frame first)
            if left <= 0 or (left <= self.step_ms // 2 and n):
                return
            if not rec.step(now, 1):
                return
            t1 = self.hal.ticks_ms()
            self.blocked(t0, t1)
            took = _ticks_diff(t1, t0)
            self.step_ms = (3 * self.step_ms + took + 3) // 4
            n += 1

    def run(self, kbd=True):
        # Ctrl-C: on the ESP32 the REPL UART's RX interrupt turns every 0x03
        # into KeyboardInterrupt (ports/esp32/uart.c, mp_interrupt_char), so
        # one byte of line noise would end the recording and the pre-roll.
        # With kbd_intr(-1) it is data; the dock tells a stray one from a
        # deliberate interrupt and sets self.interrupt (firmware/dock.py).
        # kbd=False (no dock: it did not start) keeps Ctrl-C, so a deploy
        # can still reach the REPL.
        import micropython
        if kbd:
            micropython.kbd_intr(-1)
        try:
            self._loop()
        finally:
            micropython.kbd_intr(3)
            for svc in self.services:  # e.g. the dock gives the REPL its UART back
                if hasattr(svc, "close"):
                    svc.close()

    def _loop(self):
        hal = self.hal
        due = hal.ticks_ms()
        # Services that can use the wait for the next frame: the dock keeps
        # the UART busy then instead of letting it idle. idle(due) returns
        # by `due`.
        idlers = [s.idle for s in self.services if hasattr(s, "idle")]
        while True:
            self.step()
            if self.exposed is None:
                due += self.interval_ms
            else:
                # The next frame is ready one interval after this one was
                # exposed: wait for that, not for a grid of the loop's own.
                # Such a grid drifts out of phase with the sensor's, and the
                # loop then sleeps past the exposure the writer handed back
                # for: up to a whole interval each tick while the pre-roll is
                # written (about a third of the card's time on the virtual
                # board's typical card, bench/press.py).
                due = (self.exposed + self.interval_ms) & 0x3FFFFFFF
            for use in idlers:
                use(due)
            if self.interrupt:
                self.close_for_repl()
                raise KeyboardInterrupt  # to the REPL, as Ctrl-C would
            if _ticks_diff(due, hal.ticks_ms()) > 0:
                self.wait_until(due)
            else:
                due = hal.ticks_ms()  # fell behind: don't try to catch up

    def wait_until(self, due):
        """Sleep until `due` (the next frame), acting on the button
        meanwhile: a press starts its clip once it is stable (the
        debounce), not at the next frame's poll (up to a frame interval,
        200 ms at 5 fps, later), and the pre-roll's first blocks go to the
        card in the time left before that frame. The HAL's sleep wakes
        early when the button's IRQ handler has queued an edge."""
        hal = self.hal
        b = self.button
        while True:
            now = hal.ticks_ms()
            left = _ticks_diff(due, now)
            if left <= 0:
                return
            if b.w != b.r or b.in_burst:
                was = self.recorder.state
                if was == BUFFERING and left < self.start_ms:
                    # Starting a clip (its files, layout and audit entries)
                    # would run past the next frame and lose it: that frame
                    # first, then the tick after it starts the clip.
                    hal.sleep_ms(left)
                    return
                if self.poll_timed(now):
                    self.write(now, due)
                    continue
                if b.in_burst:  # settling: look again after a debounce's worth
                    hal.sleep_ms(left if left < b.debounce_ms else b.debounce_ms)
                    continue
            hal.sleep_ms(left, self._edge_queued)

    def _edge_queued(self):
        return self.button.w != self.button.r

    def close_for_repl(self, max_steps=100000):
        """A deliberate interrupt (mpremote): the clip in progress is closed
        and sealed, its stop reason "interrupt", before the REPL runs."""
        rec = self.recorder
        for _ in range(max_steps):
            if rec.state == RECORDING:  # also one a queued press just started
                rec.stop(self.hal.ticks_ms(), "interrupt")
            if rec.state == BUFFERING:
                return
            if not rec.step(self.hal.ticks_ms(), 8):
                self.hal.sleep_ms(1)


def load_config(path="config.json", boards_dir="boards"):
    """config.json -> (board profile, validated settings)."""
    import json
    with open(path) as f:
        c = json.load(f)
    bid = c.get("board", "ai-thinker-esp32-cam")
    board = boardcfg.load(boards_dir + "/" + bid + ".json")
    return board, cfg.validate(c)
