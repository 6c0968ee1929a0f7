#!/usr/bin/env python3
"""Several `logstream server` instances on one PostgreSQL database with NATS
fan-out (issue 6): cross-instance live latency and durable ingest throughput.

    bench_cluster.py --logstream PATH --emitter PATH [--only latency,ingest]
                     [--db URL] [--nats-server PATH] [--no-nats | --nats-down]
                     [--lines N] [--interval-us N] [--line-bytes N] [--control]
                     [--ingest-lines N] [--streams N] [--instances 1,2,3]
                     [--repeat N] [--flush-interval DUR] [--dir DIR] [--keep]

Without --db it starts a throwaway PostgreSQL cluster with fsync on
(scripts/pg-test-cluster.sh start --durable) and removes it at the end; with
--db URL (a superuser URL) it creates and drops its databases there. It starts
Debian's nats-server on a free loopback port (--no-nats: none, and the
instances run without --nats; --nats-down: none, but the instances get --nats
with that port, so followers on B read the database every
--remote-poll-interval: the fallback's latency) and the server
instances on free loopback ports, each with `--database URL --nats URL` and a
data dir of its own; the first one's --admin-token-file gives the admin token
that makes a worker and a read token (they live in the database, so they work
on every instance).

latency  Two instances A and B on one database. `logstream run --no-plugins`
         runs a one-step pipeline against A whose step is emit_lines
         (bench/emit_lines.c: one line of --line-bytes every --interval-us,
         each carrying the CLOCK_REALTIME time in ns taken just before its
         write(2); --lines of them, after a 1.5 s delay so the viewers are
         subscribed). Two SSE viewers follow the step from seq 0 in this
         process: one on A (same instance, the baseline of the same run) and
         one on B (cross-instance: the lines reach B through NATS). For every
         line, latency = CLOCK_REALTIME right after the read that returned it
         - the printed time. Prints p50/p90/p99/max/mean for both and checks
         that each viewer got every line once and the `end` event. Lines
         printed before a viewer was subscribed are counted and left out.
         "B minus A, per line" is the difference of the two arrival times of
         each line: the cost of the hop to B alone (a line that waited in the
         worker or in A's ingest waited for both viewers). --control puts
         the second viewer on A as well: its "B minus A" is what the client
         process itself adds.
         The viewers are Python (http.client, one thread each); both pay the
         same parsing cost.
ingest   For each count K in --instances: K instances on a fresh database;
         one build with --streams steps; each step's records (--ingest-lines
         in total, split evenly, --line-bytes of log-like text each) go to
         instance (step mod K) as one chunked `POST .../stream` over a raw
         socket in 1 MiB writes, all steps in parallel. The clock runs from
         the first byte to the last answer; a stream's answer comes only when
         every line is durable in PostgreSQL (COMMIT), and its durable_seq is
         checked. Prints lines/s, MB/s of text, and the CPU seconds of the
         instances, PostgreSQL (when started here), nats-server and this
         process (the senders) during the round, and the database's size.

Standard library only (/usr/bin/python3)."""

import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--logstream", required=True, help="path of the logstream binary")
    p.add_argument("--emitter", help="path of emit_lines (bench/emit_lines.c); for latency")
    p.add_argument("--only", default="latency,ingest", help="latency,ingest (default: both)")
    p.add_argument("--db", help="PostgreSQL superuser URL (default: a durable throwaway cluster)")
    p.add_argument("--nats-server", default="/usr/sbin/nats-server")
    p.add_argument("--no-nats", action="store_true",
                   help="instances without --nats (single instances sharing a database: "
                   "ingest only, a viewer on B gets nothing live)")
    p.add_argument("--nats-down", action="store_true",
                   help="instances with --nats to a port where no NATS runs: viewers on B get "
                   "the lines from the database (--remote-poll-interval)")
    p.add_argument("--control", action="store_true",
                   help="latency: the second viewer on A too (what the client itself adds "
                   "to B minus A)")
    p.add_argument("--lines", type=int, default=2000, help="latency: lines printed")
    p.add_argument("--interval-us", type=int, default=5000, help="latency: one line every N us")
    p.add_argument("--line-bytes", type=int, default=100)
    p.add_argument("--ingest-lines", type=int, default=1200000, help="ingest: lines per round")
    p.add_argument("--streams", type=int, default=6, help="ingest: steps streamed in parallel")
    p.add_argument("--instances", default="1,2,3", help="ingest: instance counts")
    p.add_argument("--repeat", type=int, default=1, help="rounds of each measurement")
    p.add_argument("--flush-interval", help="passed to the servers (default: their own)")
    p.add_argument("--dir", default="/tmp", help="parent of the temp dir")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (server logs)")
    a = p.parse_args()
    a.only = set(a.only.split(","))
    a.instances = [int(x) for x in a.instances.split(",")]
    if not a.only <= {"latency", "ingest"}:
        p.error("--only takes latency and/or ingest")
    if "latency" in a.only and not a.emitter:
        p.error("latency needs --emitter")
    if "latency" in a.only and a.no_nats:
        p.error("latency needs NATS (or --nats-down for the database fallback), not --no-nats")
    if a.no_nats and a.nats_down:
        p.error("--no-nats or --nats-down, not both")
    if a.line_bytes < 40 or a.lines <= 0 or a.ingest_lines <= 0 or a.streams <= 0 or \
            a.repeat < 1 or min(a.instances) < 1:
        p.error("--line-bytes >= 40; counts > 0")
    return a


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu(pid, children=False):
    """user+sys CPU seconds of pid (plus its reaped children's with children=True)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def tree_cpu(pid):
    """CPU seconds of pid, its reaped children and its live children."""
    total = proc_cpu(pid, children=True)
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return total
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            continue
        total += sum(proc_cpu(k) for k in kids)
    return total


def self_cpu():
    """user+sys CPU seconds of this process (the senders' threads)."""
    t = os.times()
    return t.user + t.system


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def psql(url, sql):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url,
                        "-c", sql], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise SystemExit("bench_cluster: psql %s: %s" % (sql, r.stderr))
    return r.stdout.strip()


class Postgres:
    """The superuser URL, and databases made in it (dropped at close)."""

    def __init__(self, url, workdir):
        self.state = None
        self.pid = None
        if not url:
            self.state = os.path.join(workdir, "pg.state")
            r = subprocess.run([os.path.join(REPO, "scripts", "pg-test-cluster.sh"), "start",
                                "--durable", "--state", self.state], capture_output=True,
                               text=True, timeout=180)
            if r.returncode != 0:
                raise SystemExit("bench_cluster: no PostgreSQL cluster: " + r.stderr)
            url = r.stdout.strip()
            with open(self.state) as f:
                pgdir = f.read().split("\n")[1]
            with open(os.path.join(pgdir, "data", "postmaster.pid")) as f:
                self.pid = int(f.readline())
        self.url = url
        self.names = []
        self.version = psql(url, "SHOW server_version").split()[0]
        self.fsync = psql(url, "SHOW fsync")
        self.sync_commit = psql(url, "SHOW synchronous_commit")

    def new_database(self, name):
        psql(self.url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        psql(self.url, "CREATE DATABASE " + name)
        self.names.append(name)
        head, _, query = self.url.partition("?")
        return head.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")

    def cpu(self):
        return tree_cpu(self.pid) if self.pid else None

    def close(self):
        for name in self.names:
            try:
                psql(self.url, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
            except SystemExit:
                pass
        if self.state:
            subprocess.run([os.path.join(REPO, "scripts", "pg-test-cluster.sh"), "stop",
                            self.state], capture_output=True, timeout=180)


class Nats:
    """nats-server on a free loopback port (down=True: only the URL of a free
    port where nothing listens)."""

    def __init__(self, binary, workdir, down=False):
        self.port = free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.down = down
        self.proc = None
        if down:
            return
        self.log = os.path.join(workdir, "nats.log")
        self.proc = subprocess.Popen([binary, "-a", "127.0.0.1", "-p", str(self.port),
                                      "-l", self.log], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4).startswith(b"INFO"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("bench_cluster: nats-server did not start; see " + self.log)
            time.sleep(0.05)

    def cpu(self):
        return proc_cpu(self.proc.pid) if self.proc else 0.0

    def stop(self):
        if not self.proc:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Instance:
    """One `logstream server` on a free loopback port with --database (and --nats)."""

    def __init__(self, logstream, workdir, name, db_url, nats_url, extra):
        self.name = name
        self.data = os.path.join(workdir, name)
        os.makedirs(self.data, exist_ok=True)
        self.admin_token_file = os.path.join(self.data, "admin.token")
        self.log_path = os.path.join(workdir, name + ".log")
        self.log = open(self.log_path, "w")
        args = [logstream, "server", "--listen", "127.0.0.1:0", "--data", self.data,
                "--database", db_url, "--admin-token-file", self.admin_token_file] + extra
        if nats_url:
            args += ["--nats", nats_url]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.url = self._wait_url()
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port = u.hostname, u.port

    def _wait_url(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(self.log_path) as f:
                for line in f:
                    if line.endswith("\n") and "listening on http://" in line:
                        return line.split("listening on ", 1)[1].split()[0].rstrip("/")
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise SystemExit("bench_cluster: %s did not start; see %s" % (self.name, self.log_path))

    def cpu(self):
        return proc_cpu(self.proc.pid) if self.proc else 0.0

    def stop(self):
        if not self.proc:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def api(url, method, path, token, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        raise SystemExit("bench_cluster: %s %s -> %d %s" % (method, path, e.code,
                                                            e.read()[:300]))


class Cluster:
    """K instances on a fresh database, NATS shared; tokens made on the first."""

    def __init__(self, a, pg, nats, workdir, k, dbname):
        self.db_url = pg.new_database(dbname)
        extra = ["--flush-interval", a.flush_interval] if a.flush_interval else []
        self.instances = []
        try:
            for i in range(k):
                self.instances.append(Instance(a.logstream, workdir, "%s-%d" % (dbname, i + 1),
                                               self.db_url, nats.url if nats else None, extra))
        except BaseException:
            self.stop()
            raise
        first = self.instances[0]
        with open(first.admin_token_file) as f:
            admin = f.read().strip()
        self.worker_token = api(first.url, "POST", "/api/v1/tokens", admin,
                                {"scope": "worker", "name": "bench_cluster worker"})["token"]
        self.read_token = api(first.url, "POST", "/api/v1/tokens", admin,
                              {"scope": "read", "name": "bench_cluster reader"})["token"]

    def cpu(self):
        return sum(i.cpu() for i in self.instances)

    def stop(self):
        for i in self.instances:
            i.stop()


# ---- latency -------------------------------------------------------------------

STAMP = re.compile(rb'"text":"t=(\d+) n=(\d+) ')


class LatencyViewer(threading.Thread):
    """Follows a step over SSE from seq 0; for every emit_lines line, the
    CLOCK_REALTIME ns after the read that returned it minus its printed time."""

    def __init__(self, inst, token, build, step, timeout):
        super().__init__(daemon=True)
        self.name_ = inst.name
        self.conn = http.client.HTTPConnection(inst.host, inst.port, timeout=timeout)
        self.conn.request("GET", "/api/v1/builds/%d/steps/%d/logs?since=0" % (build, step),
                          headers={"Accept": "text/event-stream",
                                   "Authorization": "Bearer " + token})
        self.resp = self.conn.getresponse()
        if self.resp.status != 200:
            raise SystemExit("bench_cluster: SSE on %s -> %d" % (inst.name, self.resp.status))
        self.subscribed_ns = time.time_ns()
        self.samples = {}  # n -> latency ns
        self.dups = 0
        self.early = 0  # printed before the subscription
        self.ended = False
        self.error = None

    def run(self):
        buf = b""
        try:
            while not self.ended:
                data = self.resp.read1(65536)
                now = time.time_ns()
                if not data:
                    break
                buf += data
                lines = buf.split(b"\n")
                buf = lines.pop()
                for line in lines:
                    if line.startswith(b"data: "):
                        m = STAMP.search(line)
                        if not m:
                            continue
                        t, n = int(m.group(1)), int(m.group(2))
                        if n in self.samples:
                            self.dups += 1
                        elif t < self.subscribed_ns:
                            self.early += 1
                            self.samples[n] = None
                        else:
                            self.samples[n] = now - t
                    elif line == b"event: end":
                        self.ended = True
        except Exception as e:  # noqa: BLE001 - reported by the caller
            self.error = e
        finally:
            self.conn.close()


def nats_mode(nats):
    if not nats:
        return "no NATS (--no-nats)"
    return "NATS down (database fallback)" if nats.down else "NATS"


def pct(xs, q):
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def latency_round(a, pg, nats, workdir, rnd):
    c = Cluster(a, pg, nats, workdir, 2, "bench_cluster_lat_%d_%d" % (os.getpid(), rnd))
    try:
        A, B = c.instances
        yml = os.path.join(workdir, "latency.yml")
        emit = "%s --lines %d --bytes %d --interval-us %d --delay-ms 1500" % (
            a.emitter, a.lines, a.line_bytes, a.interval_us)
        with open(yml, "w") as f:
            f.write('version: "1"\nname: bench-cluster-latency\nsteps:\n  - name: emit\n'
                    "    commands:\n      - '%s'\n" % emit)
        out_path = os.path.join(workdir, "latency-run-%d.out" % rnd)
        with open(out_path, "w") as out:
            env = dict(os.environ, LOGSTREAM_TOKEN=c.worker_token)
            run = subprocess.Popen([a.logstream, "run", yml, "--server", A.url, "--no-plugins"],
                                   stdout=subprocess.PIPE, stderr=out, env=env,
                                   stdin=subprocess.DEVNULL)
            first = run.stdout.readline().decode()
            if not first.startswith("build "):
                run.kill()
                raise SystemExit("bench_cluster: logstream run printed %r; see %s"
                                 % (first, out_path))
            build = int(first.split()[1])
            timeout = a.lines * a.interval_us / 1e6 + 120
            viewers = [LatencyViewer(A, c.read_token, build, 1, timeout),
                       LatencyViewer(A if a.control else B, c.read_token, build, 1, timeout)]
            for v in viewers:
                v.start()
            out.write(run.stdout.read().decode())
            rc = run.wait()
        if rc != 0:
            raise SystemExit("bench_cluster: logstream run exited %d; see %s" % (rc, out_path))
        results = []
        labels = ("same instance (A -> A)",
                  "control: A again" if a.control else "cross-instance (A -> B)")
        for v, label in zip(viewers, labels):
            v.join(60)
            if v.is_alive() or not v.ended:
                raise SystemExit("bench_cluster: the viewer on %s did not get `end` (%d of %d "
                                 "lines, error %r)" % (v.name_, len(v.samples), a.lines, v.error))
            if len(v.samples) != a.lines or v.dups:
                raise SystemExit("bench_cluster: the viewer on %s got %d of %d lines, %d twice"
                                 % (v.name_, len(v.samples), a.lines, v.dups))
            lat = sorted(x / 1e6 for x in v.samples.values() if x is not None)
            results.append((label, lat, v.early))
        # per line, B's arrival minus A's: the cross-instance hop alone (a line
        # that waited in the worker or in A's ingest waited for both viewers)
        a_, b_ = viewers[0].samples, viewers[1].samples
        delta = sorted((b_[n] - a_[n]) / 1e6 for n in a_
                       if a_[n] is not None and b_.get(n) is not None)
        results.append(("second minus A, per line" if a.control else "B minus A, per line",
                        delta, 0))
        return results
    finally:
        c.stop()


def run_latency(a, pg, nats, workdir):
    print("\n== cross-instance latency: worker on A, SSE viewers on A and B; %d lines of %d "
          "bytes, one every %d us; server --flush-interval %s; %s" % (
              a.lines, a.line_bytes, a.interval_us, a.flush_interval or "(default)",
              nats_mode(nats)))
    print("   %-26s %8s %8s %8s %8s %8s %7s  %s" % ("viewer", "p50 ms", "p90 ms", "p99 ms",
                                                   "max ms", "mean ms", "early", "load"))
    for rnd in range(1, a.repeat + 1):
        for label, lat, early in latency_round(a, pg, nats, workdir, rnd):
            print("   %-26s %8.3f %8.3f %8.3f %8.3f %8.3f %7d  %s" % (
                label, pct(lat, 0.5), pct(lat, 0.9), pct(lat, 0.99), lat[-1],
                statistics.fmean(lat), early, loadavg()))
        sys.stdout.flush()


# ---- ingest --------------------------------------------------------------------

WORDS = ["INFO", "WARN", "DEBUG", "error:", "compiling", "src/server/ingest.c", "linking",
         "test", "passed", "failed", "ok", "Downloading", "https://deb.debian.org/debian",
         "npm", "install", "docker", "layer", "sha256:", "0x7f3a9c", "took", "12ms", "cache",
         "hit", "miss", "retrying", "[1/20]", "step", "build", "gcc", "-O2", "warning:"]


def make_bodies(streams, total, line_bytes):
    """streams bodies of records SEQ\\tTS\\to\\tTEXT\\n (text: line_bytes bytes of
    words and numbers, from a pool of 10007 random texts)."""
    rng = random.Random(7)
    pool = []
    for _ in range(10007):
        s = ""
        while len(s) < line_bytes:
            s += rng.choice(WORDS) + " " + str(rng.randrange(100000)) + " "
        pool.append(s)
    ts = str(int(time.time() * 1000))
    per = total // streams
    bodies = []
    for k in range(streams):
        parts = []
        for seq in range(1, per + 1):
            head = "%d " % seq
            text = head + pool[(seq * 7919 + k * 104729) % 10007][:line_bytes - len(head)]
            parts.append("%d\t%s\to\t%s\n" % (seq, ts, text))
        bodies.append("".join(parts).encode())
    return bodies, per


class Sender(threading.Thread):
    """One chunked POST .../stream of body to inst, in 1 MiB writes."""

    def __init__(self, inst, build, step, token, body, start):
        super().__init__(daemon=True)
        self.inst, self.build, self.step, self.token, self.body = inst, build, step, token, body
        self.start_evt = start
        self.answer = None
        self.done_at = None
        self.error = None

    def run(self):
        try:
            s = socket.create_connection((self.inst.host, self.inst.port), timeout=600)
            head = ("POST /api/v1/builds/%d/steps/%d/stream HTTP/1.1\r\nHost: %s:%d\r\n"
                    "Authorization: Bearer %s\r\nContent-Type: application/x-logstream-records\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n" % (self.build, self.step, self.inst.host,
                                                             self.inst.port, self.token)).encode()
            self.start_evt.wait()
            s.sendall(head)
            view = memoryview(self.body)
            step = 1 << 20
            for off in range(0, len(view), step):
                part = view[off:off + step]
                s.sendall(b"%x\r\n" % len(part))
                s.sendall(part)
                s.sendall(b"\r\n")
            s.sendall(b"0\r\n\r\n")
            resp = http.client.HTTPResponse(s)
            resp.begin()
            body = resp.read()
            self.done_at = time.monotonic()
            self.answer = (resp.status, json.loads(body))
            s.close()
        except Exception as e:  # noqa: BLE001 - reported by the caller
            self.error = e


def ingest_round(a, pg, nats, workdir, k, bodies, per, rnd):
    c = Cluster(a, pg, nats, workdir, k, "bench_cluster_ing%d_%d_%d" % (k, os.getpid(), rnd))
    try:
        first = c.instances[0]
        b = api(first.url, "POST", "/api/v1/builds", c.worker_token,
                {"name": "bench-cluster-ingest",
                 "steps": [{"name": "s%d" % i, "kind": "step"} for i in range(1, a.streams + 1)]})
        build, up = b["id"], b["upload_token"]
        api(first.url, "PATCH", "/api/v1/builds/%d" % build, up, {"status": "running"})
        for i in range(1, a.streams + 1):
            api(first.url, "PATCH", "/api/v1/builds/%d/steps/%d" % (build, i), up,
                {"status": "running"})
        start = threading.Event()
        senders = [Sender(c.instances[(i - 1) % k], build, i, up, bodies[i - 1], start)
                   for i in range(1, a.streams + 1)]
        for s in senders:
            s.start()
        time.sleep(0.5)  # every sender connected and waiting
        cpu0 = (c.cpu(), pg.cpu(), nats.cpu() if nats else None, self_cpu())
        t0 = time.monotonic()
        start.set()
        for s in senders:
            s.join()
        wall = max(s.done_at or t0 for s in senders) - t0
        cpu1 = (c.cpu(), pg.cpu(), nats.cpu() if nats else None, self_cpu())
        for i, s in enumerate(senders, 1):
            if s.error or not s.answer or s.answer[0] != 200 or \
                    s.answer[1].get("durable_seq") != per:
                raise SystemExit("bench_cluster: step %d on %s: %r %r" % (i, s.inst.name,
                                                                          s.answer, s.error))
        for i in range(1, a.streams + 1):
            api(first.url, "PATCH", "/api/v1/builds/%d/steps/%d" % (build, i), up,
                {"status": "success", "exit_code": 0})
        api(first.url, "PATCH", "/api/v1/builds/%d" % build, up, {"status": "success"})
        dsize = psql(c.db_url, "SELECT pg_database_size(current_database())")
        cpus = [(x1 - x0) if x0 is not None else None for x0, x1 in zip(cpu0, cpu1)]
        return wall, cpus, int(dsize)
    finally:
        c.stop()


def run_ingest(a, pg, nats, workdir):
    print("\n== durable ingest on PostgreSQL: %d lines of %d bytes in %d parallel streams "
          "(steps of one build), spread over K instances; server --flush-interval %s; %s; "
          "PostgreSQL %s fsync=%s synchronous_commit=%s" % (
              a.ingest_lines, a.line_bytes, a.streams, a.flush_interval or "(default)",
              nats_mode(nats), pg.version, pg.fsync, pg.sync_commit))
    t = time.monotonic()
    bodies, per = make_bodies(a.streams, a.ingest_lines, a.line_bytes)
    total = per * a.streams
    wire = sum(len(x) for x in bodies)
    print("   records made in %.1f s: %d lines, %.1f MB of text, %.1f MB on the wire"
          % (time.monotonic() - t, total, total * a.line_bytes / 1e6, wire / 1e6))
    print("   %-3s %9s %12s %9s %14s %10s %10s %12s %8s %6s" % (
        "K", "wall s", "lines/s", "MB/s", "servers CPU s", "PG CPU s", "NATS CPU s",
        "client CPU s", "db MB", "load"))
    for rnd in range(1, a.repeat + 1):
        for k in a.instances:
            wall, (scpu, pcpu, ncpu, ccpu), dsize = ingest_round(a, pg, nats, workdir, k, bodies,
                                                                 per, rnd)
            print("   %-3d %9.3f %12.0f %9.1f %14.2f %10s %10s %12.2f %8.1f %6s" % (
                k, wall, total / wall, total * a.line_bytes / wall / 1e6, scpu,
                "%.2f" % pcpu if pcpu is not None else "-",
                "%.2f" % ncpu if ncpu is not None else "-", ccpu, dsize / 1e6, loadavg()))
            sys.stdout.flush()


def main():
    a = parse_args()
    workdir = tempfile.mkdtemp(prefix="logstream-bench-cluster-", dir=a.dir)
    pg = nats = None
    try:
        help_text = subprocess.run([a.logstream, "server", "--help"], capture_output=True,
                                   text=True).stdout
        if not a.no_nats and "--nats" not in help_text:
            raise SystemExit("bench_cluster: this logstream server has no --nats flag "
                             "(use --no-nats to measure without NATS)")
        pg = Postgres(a.db, workdir)
        if not a.no_nats:
            nats = Nats(a.nats_server, workdir, down=a.nats_down)
        print("bench_cluster: PostgreSQL %s (%s), nats-server %s, load average %s" % (
            pg.version, "throwaway cluster, fsync=%s" % pg.fsync if pg.state else a.db,
            (nats.url + (" (nothing listens there: --nats-down)" if nats.down else ""))
            if nats else "none", loadavg()))
        if "latency" in a.only:
            run_latency(a, pg, nats, workdir)
        if "ingest" in a.only:
            run_ingest(a, pg, nats, workdir)
    finally:
        if nats:
            nats.stop()
        if pg:
            pg.close()
        if a.keep:
            print("bench_cluster: kept %s" % workdir, file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
