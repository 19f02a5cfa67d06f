"""bodycam station with several virtual boards at once: N boards (default
4) at 921600 baud drained concurrently into a folder and moto's S3 server
(Object Lock, COMPLIANCE retention). Prints JSON.

    python bench/station.py [--boards 4] [--baud 921600] [--clip-mb 1] [--no-store] [--link tty|rfc2217]
                            [--cpu esp32|host]

1. Each board (provisioned with a device key, as `bodycam deploy` does)
   records a clip of at least --clip-mb MB with board time sped up.
2. All boards restart at speed 1 (capture loop and dock at their real
   rates; the paced UART is always real time) and one `Station(once=True)`
   drains them all at once: identity, baud switch, pull, SHA-256 checks,
   upload, confirm, and (--delete) the deletes.
3. Numbers: per board, payload bytes over the time its Puller spent
   pulling (upload time taken out) against the line rate (baud/10 bytes/s);
   aggregate = all boards' bytes over the longest of those pull times
   (they run side by side) against boards x line rate; upload rate = bytes
   uploaded over the time spent in uploads; and where the CPU went.

--link tty (the default) drains each board through its kernel tty
(/dev/pts/N, opened as a plain serial device, as a desk's USB adapters
are); rfc2217 through its RFC 2217 port, where pyserial's client parses
every byte in Python (the station's own cost then dominates: 0.49-0.57 of
the combined line rate with 4 boards, issue 24).

Honest about the machine: everything runs on this one machine, which has
os.cpu_count() cores shared with other work (the load average before and
after is reported). Three kinds of process, each measured from /proc:
the boards' host (this script run with --host-boards: one Python process
with every board's RFC 2217 server and UART pacing threads, plus one
MicroPython process per board), moto's S3 server (`python -m
moto.server`), and the station (this process: one worker thread per
board). cpu_bound says whether the CPU, not the link, was the limit:
the cores all busy, or one Python process at the ~1 core its GIL allows.
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "host"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from bodycam.sim import VirtualBoard  # noqa: E402
from bodycam.station import Station  # noqa: E402
from stationkit import provision_state  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("bench/station: " + msg, file=sys.stderr, flush=True)


def proc_cpu(pid):
    """CPU seconds (user + system) of a process so far, from /proc."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK
    except (OSError, IndexError, ValueError):
        return 0.0


class Sampler(threading.Thread):
    """Where this process's threads are, every 5 ms (sys._current_frames):
    the innermost bodycam/serial/botocore function of each thread, so the
    station's CPU time can be put to names. Waiting threads show up as
    their wait (select, Event.wait...) and are counted apart."""
    WAITS = ("wait", "select", "sleep", "poll", "_wait_for_tstate_lock", "accept", "readline")

    def __init__(self):
        super().__init__(daemon=True)
        self.counts = {}
        self.total = 0
        self.halt = threading.Event()

    def run(self):
        me = threading.get_ident()
        while not self.halt.wait(0.005):
            for tid, f in sys._current_frames().items():
                if tid == me:
                    continue
                top = f.f_code.co_name
                if top in self.WAITS:
                    continue
                where = None
                while f is not None:
                    fn = f.f_code.co_filename
                    if any(k in fn for k in ("bodycam", "serial", "botocore", "hashlib", "moto")):
                        where = "%s:%s" % (os.path.basename(fn), f.f_code.co_name)
                        break
                    f = f.f_back
                key = "%s (in %s)" % (where, top) if where and not where.endswith(":" + top) else where or top
                self.counts[key] = self.counts.get(key, 0) + 1
                self.total += 1

    def top(self, n=10):
        return [{"where": k, "share": round(v / self.total, 3)}
                for k, v in sorted(self.counts.items(), key=lambda kv: -kv[1])[:n]] if self.total else []


def host_boards(states, cpu="esp32"):
    """--host-boards: run the boards at speed 1, print their URLs and pids,
    keep them until stdin closes."""
    with contextlib.ExitStack() as stack:
        vbs = [stack.enter_context(VirtualBoard(state_dir=s, speed=1, cpu=cpu)) for s in states]
        for vb in vbs:
            vb.wait_recording_ready(timeout=120)
        print(json.dumps({"urls": [vb.port_url for vb in vbs], "ttys": [vb.tty_path for vb in vbs],
                          "pids": [vb.proc.pid for vb in vbs]}), flush=True)
        sys.stdin.read()


def start_moto(port):
    p = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise SystemExit("moto's S3 server did not start")


def record(state, mb, speed):
    with VirtualBoard(state_dir=state, speed=speed) as vb:
        vb.wait_recording_ready(timeout=120)
        vb.tap()
        t0 = time.monotonic()
        while True:
            vb.sleep_board(2000)
            sizes = [s for n, s, d in vb.sd_listdir("clips") if n.endswith(".AVI")]
            if sizes and max(sizes) >= mb * 1e6:
                break
            if time.monotonic() - t0 > 900:
                raise SystemExit("a virtual board did not record %g MB in 15 min" % mb)
        vb.hold(3500)
        vb.wait_for_clip((), timeout=300)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--boards", type=int, default=4)
    ap.add_argument("--baud", type=int, default=921600)
    ap.add_argument("--clip-mb", type=float, default=1.0)
    ap.add_argument("--record-speed", type=float, default=10)
    ap.add_argument("--no-store", action="store_true", help="pull only (no S3 server)")
    ap.add_argument("--delete", action="store_true", help="also delete on the boards after confirmation")
    ap.add_argument("--link", choices=("tty", "rfc2217"), default="tty",
                    help="each board's kernel tty (default: as USB adapters are read) or its RFC 2217 port")
    ap.add_argument("--cpu", choices=("esp32", "host"), default="esp32",
                    help="the boards' CPU model while draining (host: the firmware's Python at this machine's "
                         "speed, to tell the station's own cost from the esp32 model's)")
    ap.add_argument("--host-boards", nargs="+", metavar="STATE", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.host_boards:
        return host_boards(a.host_boards, a.cpu)

    tmp = tempfile.mkdtemp(prefix="bench-station-")
    os.environ["BODYCAM_KEYRING"] = os.path.join(tmp, "keys.json")
    states = [os.path.join(tmp, "board%d" % i) for i in range(a.boards)]
    for i, s in enumerate(states):
        provision_state(s, "bc-bench%d" % i, os.environ["BODYCAM_KEYRING"])
    log("recording a %g MB clip on %d boards" % (a.clip_mb, a.boards))
    rec = [threading.Thread(target=record, args=(s, a.clip_mb, a.record_speed)) for s in states]
    for t in rec:
        t.start()
    for t in rec:
        t.join()

    store = srv = None
    if not a.no_store:
        import boto3
        from s3server import aws_env_dict, free_port
        port = free_port()
        srv = start_moto(port)
        os.environ.update(aws_env_dict("http://127.0.0.1:%d" % port))
        boto3.client("s3").create_bucket(Bucket="bench-evidence", ObjectLockEnabledForBucket=True)
        from bodycam.evidence.store import EvidenceStore
        store = EvidenceStore("s3://bench-evidence/station", retain_days=1)

    host = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--cpu", a.cpu, "--host-boards"] + states,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        boards = json.loads(host.stdout.readline())
        procs = {"boards_micropython": boards["pids"], "boards_host_python": [host.pid],
                 "s3_server": [srv.pid] if srv else [], "station": [os.getpid()]}
        load_before = os.getloadavg()
        cpu0 = {k: sum(proc_cpu(p) for p in v) for k, v in procs.items()}
        sampler = Sampler()
        sampler.start()
        t0 = time.monotonic()
        log("draining %d boards at %d baud%s" % (a.boards, a.baud, "" if store is None else " into the store"))
        ports = boards["ttys"] if a.link == "tty" else boards["urls"]
        s = Station(os.path.join(tmp, "out"), ports=ports, store=store, delete=a.delete,
                    baud=a.baud, once=True).run()
        wall = time.monotonic() - t0
        sampler.halt.set()
        cpu = {k: round(sum(proc_cpu(p) for p in v) - cpu0[k], 2) for k, v in procs.items()}
        load_after = os.getloadavg()
    finally:
        host.stdin.close()
        host.wait(60)
        if srv is not None:
            srv.terminate()
            srv.wait(10)

    line = a.baud / 10.0
    per = []
    for sl in s["slots"]:
        pull_s = sl["pull_seconds"] - sl["upload_seconds"]
        per.append({"device": sl["device"], "outcome": sl["outcome"], "bytes": sl["bytes"], "baud": sl["baud"],
                    "pull_seconds": round(pull_s, 3),
                    "line_ratio": round(sl["bytes"] / pull_s / line, 4) if pull_s > 0 else None})
    longest = max(p["pull_seconds"] for p in per)
    total = sum(p["bytes"] for p in per)
    agg = total / longest if longest > 0 else 0.0
    up_b = sum(sl["upload_bytes"] for sl in s["slots"])
    up_s = sum(sl["upload_seconds"] for sl in s["slots"])
    cores = os.cpu_count() or 1
    busy = sum(cpu.values()) / (wall * cores)
    # A Python process runs its threads one at a time (the GIL): near one
    # core means that process is the limit even with cores to spare.
    gil = {k: round(cpu[k] / wall, 3) for k in ("boards_host_python", "station", "s3_server")}
    why = []
    if busy >= 0.85:
        why.append("all %d cores busy (%.0f%%)" % (cores, 100 * busy))
    why += ["%s process at %.0f%% of one core (GIL)" % (k, 100 * v) for k, v in gil.items() if v >= 0.8]
    if load_before[0] >= cores:
        why.append("machine already loaded by other work (load %.1f on %d cores)" % (load_before[0], cores))
    out = {
        "boards": a.boards, "baud": a.baud, "clip_mb": a.clip_mb, "link": a.link, "board_cpu_model": a.cpu, "all_drained": s["ok"],
        "target_aggregate_line_ratio": 0.85,
        "aggregate_bytes_per_s": round(agg), "aggregate_line_ratio": round(agg / (a.boards * line), 4),
        "per_board_line_ratio": [p["line_ratio"] for p in per],
        "store_upload_bytes_per_s": round(up_b / up_s) if up_s > 0 else None,
        "store_upload_bytes": up_b,
        "station_wall_seconds": round(wall, 3),
        "cpu_bound": bool(why), "cpu_bound_because": why,
        "cpu": {"cores": cores, "share_of_all_cores_busy_by_this_run": round(busy, 3),
                "cpu_seconds": cpu, "share_of_one_core": gil,
                "loadavg_before": [round(x, 2) for x in load_before],
                "loadavg_after": [round(x, 2) for x in load_after],
                "station_threads_running_in": sampler.top()},
        "slots": per,
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
