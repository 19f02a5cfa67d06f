"""Mutation testing for the modules that guard evidence.

    nice python bench/mutation.py                      # every module, every mutant
    python bench/mutation.py --module ring --max 40    # a sample of 40 ring mutants
    python bench/mutation.py --module pull --list      # only print the mutants
    python bench/mutation.py --module ring --line 77   # the mutants of one line

For each module: parse it, make mutants (one small change each, see MUTATORS
below), write each mutant over the module in place, run the module's test
files (`pytest -x`, fast files first, a timeout per run), and restore the
module. A mutant is killed when a test fails (or the run times out), else it
survived. Prints one JSON line per module:

    {"module", "file", "mutants", "run", "killed", "survived", "equivalent",
     "score", "survivors": [{"line", "code", "mutation"}], "seconds", "sampled"}

score = killed / (run - equivalent). A survivor is a change no test noticed:
kill it with a test, or, when it cannot change behaviour, list it in
EQUIVALENT with the reason (docs/testing.md explains each).

Why our own tool and not mutmut/cosmic-ray: half of these modules are
firmware that the tests run on the MicroPython unix port in a subprocess
(tests/conftest.py run_mpy), from the files in firmware/. mutmut 3 rewrites
each function into a "trampoline" that picks the mutant from an environment
variable at run time: that code imports mutmut and needs CPython, so
MicroPython cannot run it. cosmic-ray needs a session database and a runner
per module, and also mutates by re-importing in CPython. Writing each mutant
to the real file works for MicroPython, for the subprocesses the rigs start,
and for the host modules alike. The original is kept as FILE.mutation-orig
while a mutant is in place and put back afterwards, also after Ctrl-C; a
run that was killed hard is repaired by the next start.

The tool runs itself at nice 10: the machine is shared."""
import argparse
import ast
import json
import os
import random
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Target:
    def __init__(self, path, tests, scope=None, note=""):
        self.path = path
        self.tests = tests  # fastest first: most mutants die in the first file
        self.scope = scope  # qualified names (Class.method or function) to mutate; None: all
        self.note = note


# Which tests guard which module. Test files that only exercise a module
# incidentally (e.g. the virtual board's slow end-to-end tests) are left out
# so a run stays affordable; the survivors show what that costs.
MODULES = {
    "ring": Target("firmware/ring.py", ["tests/test_ring.py", "tests/test_recorder.py"]),
    "recorder": Target("firmware/recorder.py", ["tests/test_recorder.py", "tests/test_recover.py",
                                                 "tests/test_audit.py", "tests/test_clip_avi.py",
                                                 # pre-roll thinning and the GC before a press
                                                 "tests/test_thinning_clip.py", "tests/test_press_phase.py"]),
    "recover": Target("firmware/recover.py", [
        "tests/test_recover.py", "tests/test_audit.py",
        # the one place recovery runs on VfsFat, whose files buffer writes
        "tests/test_sim_recording.py::test_a_clip_cut_by_power_loss_is_rebuilt_on_the_boards_fat_card"]),
    "dock-delete": Target("firmware/dock.py", ["tests/test_dock_delete.py", "tests/test_dock_device.py",
                                               "tests/test_pull.py"],
                          scope=("Dock.cmd_delete", "Dock._delete_job", "Dock._sha", "Dock._recorded_sha",
                                 "_field", "stem_of"),
                          note="the delete path: the X command and the hashes it checks"),
    "pull": Target("host/bodycam/offload/pull.py",
                   ["tests/test_pull_rules.py", "tests/test_pull.py", "tests/test_pull_faults.py",
                    "tests/test_pull_cli.py"],
                   scope=("pull_all", "Puller", "_is_prefix", "_fsync_dir"),
                   note="all but describe(), the closing summary line"),
    "evidence": Target("host/bodycam/evidence/verify.py", ["tests/test_verify_chain.py", "tests/test_verify_keys.py",
                                                     "tests/test_verify_unsigned.py", "tests/test_verify.py",
                                                     "tests/test_audit.py", "tests/test_pull.py"],
                       scope=("KeySet", "check_audit", "_looks_torn", "_parse_entry", "_span", "check_clip",
                              "verify_dir", "_check_chain", "_all_deleted", "_seq_name", "_clip_no",
                              "_audit_seals", "_deleted_shas", "_cross_check"),
                       note="the checks; not describe() and the report classes' text"),
    "hashing": Target("host/bodycam/evidence/hashing.py", ["tests/test_pull.py", "tests/test_verify.py"]),
    # The evidence store and the station: moto's S3 server and in-memory
    # cameras (tests/memdock.py), seconds per run; tests/test_station.py
    # (virtual boards, minutes) is left out.
    "store": Target("host/bodycam/evidence/store.py", ["tests/test_store.py", "tests/test_store_log.py",
                                                       "tests/test_hold.py", "tests/test_station_rules.py"]),
    "store-log": Target("host/bodycam/evidence/storelog.py", ["tests/test_store_log.py", "tests/test_store.py",
                                                              "tests/test_hold.py"]),
    "holds": Target("host/bodycam/evidence/holds.py", ["tests/test_hold.py"]),
    "station-core": Target("host/bodycam/station/core.py", ["tests/test_station_rules.py"]),
    "station-slot": Target("host/bodycam/station/slot.py", ["tests/test_station_rules.py"]),
    "station-puller": Target("host/bodycam/station/puller.py", ["tests/test_station_rules.py"]),
    "station-identity": Target("host/bodycam/station/identity.py", ["tests/test_station_rules.py"]),
    "station-report": Target("host/bodycam/station/report.py", ["tests/test_station_rules.py"]),
    # The dock client on the real firmware (the offload rig): the fast
    # files first, the noisy line last.
    "client": Target("host/bodycam/offload/client.py", ["tests/test_dock_client.py", "tests/test_pull.py",
                                                        "tests/test_pull_cli.py", "tests/test_pull_faults.py",
                                                        "tests/test_noisy_link.py"]),
    "wire": Target("host/bodycam/offload/wire.py", ["tests/test_dock_wire.py", "tests/test_pull.py"]),
}

# Mutants that cannot change behaviour, by module: "CODE :: MUTATION" -> why,
# CODE being the stripped source line and MUTATION what the run prints (no
# line numbers, so the list survives edits elsewhere in the file); MUTATION
# "*" stands for every mutant of that line.
# docs/testing.md explains each.
EQUIVALENT = {
    "hashing": {
        "BLOCK = 1 << 20 :: `1` -> `2`": "read size only: the hash and size do not depend on it",
        "BLOCK = 1 << 20 :: `20` -> `21`": "read size only",
        "BLOCK = 1 << 20 :: `20` -> `19`": "read size only",
    },
    "ring": {
        "self.head = 0  # slot of the oldest frame :: `0` -> `(-1)`":
            "slot -1 is the last slot (negative array index): the same slots, rotated by one",
    },
    "recorder": {
        "self._start_press = False  # the press that started this clip :: `False` -> `True`":
            "every way into RECORDING sets the flag first",
        "self.stop_seq = -1 :: `1` -> `2`": "stop() sets stop_seq before anything reads it",
        "self._start_press = True :: `True` -> `False`":
            "a press that starts a clip leaves no pending mark, so its hold cannot stop it either way",
        "self._start_press = self._down :: remove `self._start_press = self._down`":
            "RELEASE already cleared the flag, and a press made while finishing leaves no pending mark",
        "return True :: `return True` -> `return None`": "start()'s result only sets that flag (as above)",
        "if self.preroll_ms > 0: :: `0` -> `1`": "preroll_ms is whole seconds: never 1",
        "if done and _ticks_diff(self.t_last, self._synced_t) >= SYNC_MS: :: "
        "`done and _ticks_diff(self.t_last, self._synced_t) >= SYNC_MS` -> "
        "`(done or _ticks_diff(self.t_last, self._synced_t) >= SYNC_MS)`":
            "t_last does not move without a frame written: at most a repeated sync of nothing new",
        "return 0 :: `0` -> `1`": "_storage_failed returns to a BUFFERING recorder: the writer loop stops either way",
        "if n > 1: :: `n > 1` -> `(n >= 1)`": "one frame has span 0 and takes the same fallback",
        "if span > 0: :: `0` -> `1`": "frames are at least 1000/fps ms apart, never 1 ms",
        'fps = (self.info.get("settings") or {}).get("fps") or 10 :: `10` -> `11`':
            "settings are validated: fps is always set",
        "if self.backlog > self.backlog_peak: :: `self.backlog > self.backlog_peak` -> "
        "`(self.backlog >= self.backlog_peak)`": "equal: the peak is set to the value it has",
        "done += 1 :: `1` -> `2`": "step()'s count is only tested against 0 (app.py: `if not rec.step(...)`)",
        # gap >= 2*iv - iv//8 is missed >= 1 for missed = (gap + iv//8) // iv - 1:
        # the first test only spares the division, `missed > 0` decides
        "if gap >= 2 * iv - iv // 8: :: `8` -> `7`": "a wider first test: missed is 0 for the gaps it adds",
        "if missed > 0: :: `0` -> `(-1)`": "missed >= 1 whenever the test before it passed",
        "return 1000000 // fps :: `1000000` -> `1000001`":
            "1000001 = 101 * 9901: for every fps setting (1-30) 1000001 // fps == 1000000 // fps",
    },
    "recover": {
        'out.write(avi.header(start.get("width", 0), start.get("height", 0), 0, 0, 0, 0)) :: *':
            "the placeholder header is overwritten by the final one before the file is used",
        "return 0 :: `0` -> `1`": "_size: 1 // 4 frames is 0 frames, as 0 // 4 is",
        "while frames < ntimes and pos + 8 <= size: :: `pos + 8 <= size` -> `(pos + 8 < size)`":
            "a chunk needs 8 + n bytes: fewer than 8 left fails the header read anyway",
        "while frames < ntimes and pos + 8 <= size: :: `pos + 8` -> `(pos - 8)`": "as above",
        "while frames < ntimes and pos + 8 <= size: :: `8` -> `9`": "as above",
        "while frames < ntimes and pos + 8 <= size: :: `8` -> `7`": "as above",
        "us = (last_t - first_t) * 1000 // (frames - 1) if frames > 1 and last_t > first_t else 200000 :: "
        "`frames > 1 and last_t > first_t` -> `(frames > 1 or last_t > first_t)`":
            "with one frame or none last_t == first_t; with more, times strictly increase",
        "us = (last_t - first_t) * 1000 // (frames - 1) if frames > 1 and last_t > first_t else 200000 :: "
        "`frames > 1` -> `(frames >= 1)`": "as above",
        "us = (last_t - first_t) * 1000 // (frames - 1) if frames > 1 and last_t > first_t else 200000 :: "
        "`1` -> `0`": "frames > 0: as above (one frame: last_t == first_t)",
        "us = (last_t - first_t) * 1000 // (frames - 1) if frames > 1 and last_t > first_t else 200000 :: "
        "`last_t > first_t` -> `(last_t >= first_t)`": "as above",
    },
    "dock-delete": {
        "while sha is None or nbytes is None: :: `sha is None or nbytes is None` -> `(sha is None and nbytes is None)`":
            "the firmware writes avi_bytes and avi_sha256 side by side: both are found in the same block",
        "stop = text.find(b'\"frame_ms\"') >= 0 :: `text.find(b'\"frame_ms\"') >= 0` -> "
        "`(text.find(b'\"frame_ms\"') < 0)`": "speed only: stops reading the long frame_ms list",
        "break :: remove `break`": "speed only (the frame_ms stop); other breaks are killed",
        "i += 1 :: `1` -> `2`": "the firmware's JSON has ': ' (2 characters) after a key",
        "while j < len(text) and 48 <= text[j] <= 57: :: `48` -> `47`": "'/' never follows a number in JSON",
    },
    "evidence": {
        "return False :: `return False` -> `return None`":
            "_looks_torn's and _all_deleted's callers only test the truth of the result",
        'if isinstance(head, dict) and isinstance(head.get("n"), int) and head["n"] >= 0: :: `0` -> `1`':
            "entry 0 is always the boot entry: no clip is sealed after it alone",
        'if isinstance(head, dict) and isinstance(head.get("n"), int) and head["n"] >= 0: :: '
        "`head[\"n\"] >= 0` -> `(head['n'] > 0)`": "as above",
        # Clip stems are CLIP_RE's: "BC" and exactly 6 digits, upper-cased.
        "if _clip_no(c.stem) < _clip_no(prev.stem): :: "
        "`_clip_no(c.stem) < _clip_no(prev.stem)` -> `(_clip_no(c.stem) <= _clip_no(prev.stem))`":
            "two stems never share a number",
        "return int(stem[2:8]) :: `8` -> `9`": "a stem has 8 characters: [2:9] is [2:8]",
        "return 0 :: *": "_clip_no's ValueError branch: a stem's 6 digits always parse",
        "if d.get(\"clip\") != c.stem[:8]: :: `8` -> `9`": "a stem has 8 characters",
        # q == lo or q == hi is a clip here: `q in in_dir` already holds
        "if q in in_dir or (lo is not None and lo < q < hi): :: `lo < q < hi` -> `(lo <= q < hi)`":
            "q == lo is in the folder",
        "if q in in_dir or (lo is not None and lo < q < hi): :: `lo < q < hi` -> `(lo < q <= hi)`":
            "q == hi is in the folder",
    },
    "store": {
        "old.get(\"ETag\", \"\").strip('\"') == hashlib.md5(data, usedforsecurity=False).hexdigest()): :: "
        "`False` -> `True`":
            "usedforsecurity only matters on a FIPS-restricted OpenSSL (where True refuses MD5): the same digest "
            "everywhere else",
        'key=lambda u: u.get("Initiated") or 0) :: `0` -> `1`':
            "S3 always sends Initiated; were it missing from all uploads, 0s and 1s sort alike (and a mix with "
            "dates fails either way)",
    },
    "station-puller": {
        "return False :: `return False` -> `return None`":
            "_verified_here's and _store_confirms's callers only test the truth of the result",
    },
    "holds": {
        'if o["retain_until"] is None or datetime.datetime.fromisoformat(o["retain_until"]) <= now] :: '
        '`datetime.datetime.fromisoformat(o["retain_until"]) <= now` -> '
        "`(datetime.datetime.fromisoformat(o['retain_until']) < now)`":
            "a retain-until date equal to now to the microsecond: the same answer a microsecond later",
    },
    "wire": {
        "elif time.monotonic() >= end: :: `time.monotonic() >= end` -> `(time.monotonic() > end)`":
            "monotonic float seconds: never exactly equal; one more empty read at most",
        "self._skip(1) :: `1` -> `2`": "MAGIC is 0xBC 0xDC: its second byte cannot start another magic, so "
                                       "passing over both bytes of a false magic finds the same next frame",
        "data = self.read(65536) :: *": "the most one read asks for: every byte still comes, the frames are "
                                        "found the same",
    },
    "client": {
        'fallback = r.get("fallback_ms", 2500) / 1000.0 :: *':
            "the default for a reply without fallback_ms: firmware/dock.py always sends it, and a dock of another "
            "protocol is refused at connect()",
    },
    "station-core": {
        "if self.reporter is not None and now - last_tick >= self.tick_every: :: "
        "`now - last_tick >= self.tick_every` -> `(now - last_tick > self.tick_every)`":
            "monotonic float seconds: never exactly equal; at most one turn of the loop (0.1 s) later",
    },
    "station-slot": {
        "return False :: `return False` -> `return None`":
            "_round's result is tested for its truth and against \"refused\": None is False there",
    },
    "station-identity": {
        "for attempt in range(3): :: `3` -> `4`":
            "`attempt == 2` raises at the third failure whatever the range's end",
        "continue :: remove `continue`":
            "the byte test before json.loads only spares parsing: the firmware writes canonical JSON, so a line "
            "without the bytes \"k\":\"boot\" is no boot entry either way (the other continue's removal is killed)",
    },
    "pull": {
        "info = c.info() :: remove `info = c.info()`": "the same device's facts, asked again at the new baud",
        "self.progress.clear() :: remove `self.progress.clear()`": "draws only on a terminal",
        "self.progress = Progress(total, force=False) if self.show else None :: `False` -> `True`":
            "the progress line on a non-terminal: display only",
        'self._print("%s: %s pulled, SHA-256 %s verified" % (name, human_bytes(size), got[:16])) :: `16` -> `15`':
            "message text",
    },
}


# --- making mutants -----------------------------------------------------------------

CMP_SWAP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
            ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}
CMP_FLIP = {ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Gt: ast.LtE, ast.GtE: ast.Lt}
REMOVABLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Raise, ast.Break, ast.Continue,
             ast.Delete)


class Mutant:
    def __init__(self, line, desc, start, end, text, code=""):
        self.line = line
        self.code = code  # the source line, stripped
        self.desc = desc  # what was changed, e.g. "`a < b` -> `a <= b`"
        self.start, self.end, self.text = start, end, text  # byte span of the source and its replacement

    def apply(self, src):
        return src[:self.start] + self.text.encode() + src[self.end:]


def _short(s, n=70):
    s = " ".join(s.split())
    return s if len(s) <= n else s[:n - 3] + "..."


class _Maker(ast.NodeVisitor):
    def __init__(self, src, scope):
        self.src = src  # bytes: ast offsets are UTF-8 byte columns
        self.starts = [0]
        for i, b in enumerate(src):
            if b == 0x0A:
                self.starts.append(i + 1)
        self.scope = scope
        self.stack = []
        self.out = []
        self.docstrings = set()
        self.skip_lines = {i + 1 for i, line in enumerate(src.decode().splitlines()) if "no mutate" in line}

    def _span(self, node):
        return (self.starts[node.lineno - 1] + node.col_offset, self.starts[node.end_lineno - 1] + node.end_col_offset)

    def _text(self, node):
        a, b = self._span(node)
        return self.src[a:b].decode()

    def _in_scope(self):
        if self.scope is None:
            return True
        name = ".".join(self.stack)
        return any(name == s or name.startswith(s + ".") for s in self.scope)

    def _add(self, node, new_text, desc=None):
        if not self._in_scope() or node.lineno in self.skip_lines:
            return
        a, b = self._span(node)
        old = self.src[a:b].decode()
        code = self.src[self.starts[node.lineno - 1]:].split(b"\n", 1)[0].decode().strip()
        self.out.append(Mutant(node.lineno, desc or "`%s` -> `%s`" % (_short(old), _short(new_text)), a, b, new_text,
                               code))

    # scopes
    def _named(self, node):
        body = getattr(node, "body", [])
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            self.docstrings.add(id(body[0]))
        self.stack.append(node.name)
        for d in getattr(node, "decorator_list", []):
            pass  # decorators are not mutated
        for s in node.body:
            self.visit(s)
        self.stack.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _named

    def visit_Module(self, node):
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
            self.docstrings.add(id(node.body[0]))
        for s in node.body:
            if isinstance(s, (ast.Import, ast.ImportFrom)):
                continue
            self.visit(s)

    def visit_If(self, node):
        t = node.test
        if isinstance(t, ast.Compare) and _text_is_main(t):
            return  # if __name__ == "__main__"
        self._add(t, "not (%s)" % self._text(t), "negate `%s`" % _short(self._text(t)))
        self.generic_visit(node)

    def visit_While(self, node):
        if not (isinstance(node.test, ast.Constant) and node.test.value is True):
            self._add(node.test, "not (%s)" % self._text(node.test), "negate `%s`" % _short(self._text(node.test)))
        self.generic_visit(node)

    def visit_IfExp(self, node):
        self._add(node.test, "not (%s)" % self._text(node.test), "negate `%s`" % _short(self._text(node.test)))
        self.generic_visit(node)

    def visit_Compare(self, node):
        for i, op in enumerate(node.ops):
            for table in (CMP_SWAP, CMP_FLIP):
                new = table.get(type(op))
                if new is None:
                    continue
                ops = list(node.ops)
                ops[i] = new()
                self._add(node, "(%s)" % ast.unparse(ast.Compare(node.left, ops, node.comparators)))
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        self._add(node, "(%s)" % ast.unparse(ast.BoolOp(other, node.values)))
        self.generic_visit(node)

    def visit_BinOp(self, node):
        swap = {ast.Add: ast.Sub, ast.Sub: ast.Add}.get(type(node.op))
        if swap is not None and not _is_str(node.left) and not _is_str(node.right):
            self._add(node, "(%s)" % ast.unparse(ast.BinOp(node.left, swap(), node.right)))
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if isinstance(node.op, ast.Not):
            self._add(node, "(%s)" % self._text(node.operand))
        self.generic_visit(node)

    def visit_Constant(self, node):
        v = node.value
        if isinstance(v, bool):
            self._add(node, str(not v))
        elif isinstance(v, int):
            for d in (1, -1):
                self._add(node, "(%d)" % (v + d) if v + d < 0 else str(v + d))

    def visit_JoinedStr(self, node):
        pass  # f-strings: messages

    def visit_Return(self, node):
        if node.value is not None and not (isinstance(node.value, ast.Constant) and node.value.value is None):
            self._add(node, "return None")
        self.generic_visit(node)

    def generic_visit(self, node):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.stmt):
                        self._stmt(item)
                    elif isinstance(item, ast.AST):
                        self.visit(item)
            elif isinstance(value, ast.AST):
                self.visit(value)

    def _stmt(self, s):
        if isinstance(s, REMOVABLE) and id(s) not in self.docstrings:
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)):
                self._add(s, "pass", "remove `%s`" % _short(self._text(s)))
        if id(s) not in self.docstrings:
            self.visit(s)


def _is_str(node):
    return isinstance(node, (ast.Constant, ast.JoinedStr)) and isinstance(getattr(node, "value", ""), str)


def _text_is_main(t):
    return isinstance(t.left, ast.Name) and t.left.id == "__name__"


def make_mutants(path, scope=None):
    with open(path, "rb") as f:
        src = f.read()
    tree = ast.parse(src)
    m = _Maker(src, scope)
    m.visit(tree)
    seen, out = set(), []
    for mu in m.out:
        new = mu.apply(src)
        if new in seen or new == src:
            continue
        try:
            ast.parse(new)
        except SyntaxError:
            continue
        seen.add(new)
        out.append(mu)
    return src, out


# --- running them ----------------------------------------------------------------------

class Module:
    """Writes mutants over a file and always puts the original back."""

    def __init__(self, path):
        self.path = path
        self.backup = path + ".mutation-orig"
        if os.path.exists(self.backup):  # a run killed hard left a mutant behind
            os.replace(self.backup, self.path)
            print("mutation: restored %s from %s" % (path, self.backup), file=sys.stderr)
        with open(path, "rb") as f:
            self.original = f.read()

    def write(self, data):
        if not os.path.exists(self.backup):
            with open(self.backup, "wb") as f:
                f.write(self.original)
        with open(self.path, "wb") as f:
            f.write(data)

    def restore(self):
        with open(self.path, "wb") as f:
            f.write(self.original)
        if os.path.exists(self.backup):
            os.remove(self.backup)


def run_tests(tests, timeout, extra=()):
    """(passed, seconds). A run past `timeout` counts as failed (killed)."""
    # The project's addopts stay in force: they keep the pytest-embedded
    # plugin out, whose multiprocessing manager (pytest_embedded/plugin.py)
    # hung at session end under load when `-o addopts=` let it load.
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--timeout", str(int(timeout))] \
        + list(extra) + list(tests)
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # our own child's group: pytest and its MicroPython runs
        p.wait()
        rc = -1
    return rc == 0, time.monotonic() - t0


def run_module(name, t, max_n=None, seed=0, lines=None, list_only=False, say=None):
    path = os.path.join(ROOT, t.path)
    src, mutants = make_mutants(path, t.scope)
    total = len(mutants)
    if lines:
        mutants = [m for m in mutants if m.line in lines]
    sampled = max_n is not None and len(mutants) > max_n
    if sampled:
        mutants = sorted(random.Random(seed).sample(mutants, max_n), key=lambda m: (m.line, m.desc))
    res = {"module": name, "file": t.path, "mutants": total, "run": len(mutants), "sampled": sampled}
    if list_only:
        res["list"] = [{"line": m.line, "code": m.code, "mutation": m.desc} for m in mutants]
        return res
    t0 = time.monotonic()
    mod = Module(path)
    equivalent = EQUIVALENT.get(name, {})
    killed = survived = eq = 0
    survivors = []
    try:
        ok, base = run_tests(t.tests, 1800)
        if not ok:
            raise SystemExit("mutation: %s's tests fail without any mutant: fix them first (%s)"
                             % (name, " ".join(t.tests)))
        timeout = max(60.0, 3 * base + 30)
        for i, m in enumerate(mutants):
            mod.write(m.apply(src))
            passed, secs = run_tests(t.tests, timeout)
            mod.restore()
            if not passed:
                killed += 1
                verdict = "killed"
            elif "%s :: %s" % (m.code, m.desc) in equivalent or "%s :: *" % m.code in equivalent:
                eq += 1
                verdict = "equivalent"
            else:
                survived += 1
                survivors.append({"line": m.line, "code": m.code, "mutation": m.desc})
                verdict = "SURVIVED"
            if say:
                say("%s %d/%d line %d %s: %s (%.1f s)" % (name, i + 1, len(mutants), m.line, m.desc, verdict, secs))
    finally:
        mod.restore()
    scored = len(mutants) - eq
    res.update({"killed": killed, "survived": survived, "equivalent": eq,
                "score": round(killed / scored, 3) if scored else None, "survivors": survivors,
                "baseline_seconds": round(base, 1), "seconds": round(time.monotonic() - t0, 1)})
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", action="append", choices=sorted(MODULES),
                    help="module to mutate (repeatable; default: all)")
    ap.add_argument("--max", type=int, help="run a random sample of at most this many mutants per module")
    ap.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    ap.add_argument("--line", type=int, action="append", help="only the mutants of this source line")
    ap.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    ap.add_argument("--quiet", action="store_true", help="no per-mutant progress on stderr")
    a = ap.parse_args(argv)
    try:
        os.nice(10)  # the machine is shared; pytest and MicroPython inherit it
    except OSError:
        pass

    def interrupted(sig, frame):
        raise KeyboardInterrupt  # so the finally clauses put the originals back

    signal.signal(signal.SIGTERM, interrupted)
    say = None if a.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    for name in a.module or sorted(MODULES):
        res = run_module(name, MODULES[name], a.max, a.seed, set(a.line or ()), a.list, say)
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
