#!/usr/bin/env python3
"""Faults between the worker and the server, with real processes on loopback
(each test stops everything it started):

1. kill -9 of the server at random moments while 20 steps stream, restarted
   each time: every stored log equals what its step printed, byte for byte.
2. nginx (Debian's, started here with a generated config) in front of the
   server, closing connections idle for 10 s: a step that prints, sleeps 15 s
   and prints again streams correctly and live; with request buffering on, the
   worker notices the stream makes no progress, switches to batch uploads and
   the lines still arrive within seconds.
3. The network to the server blackholed for 30 s (faultproxy.py) while a step
   prints: the worker spools and catches up, nothing lost.
4. A Server-Sent Events reader that never reads: the server's memory stays
   bounded, the reader is disconnected, a fast reader is unaffected.
5. The server's disk full (a small tmpfs as --data): ingest answers 507, the
   worker keeps spooling and retrying, and after space is freed nothing is
   lost.
6. The plugin host killed mid-build: the build completes with its own result.

Run: python3 test_faults.py --binary PATH_TO_logstream
     (LS_FAULTS_SEED=N repeats a run of test 1's random kill times)
"""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy  # noqa: E402
import lstest  # noqa: E402

# Prints n lines for step `step`: bursts of `every` lines, then a pause.
GEN = r'''
import sys, time
step, n, every, pause = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
for i in range(1, n + 1):
    sys.stdout.write("step %02d line %05d %s\n" % (step, i, "abcdefghij"[(i + step) % 10] * ((i * 7 + step) % 90)))
    if i % every == 0:
        sys.stdout.flush()
        time.sleep(pause)
sys.stdout.flush()
'''


def gen_output(step, n):
    return "".join("step %02d line %05d %s\n" % (step, i, "abcdefghij"[(i + step) % 10]
                                                 * ((i * 7 + step) % 90))
                   for i in range(1, n + 1))


FAST = ["--backoff-base", "50ms", "--backoff-max", "500ms", "--heartbeat", "1s",
        "--upload-deadline", "300s"]


def tokens(url):
    """The test tokens lstest made for the server at url ({} before auth)."""
    f = getattr(lstest, "tokens_for", None)
    return f(url) if f else {}


def auth(url, method="GET"):
    f = getattr(lstest, "auth_header", None)
    return f(url, method) if f else {}


def sse_reader(url, server_url, **kw):
    """An SSE reader of url (maybe through a proxy) with server_url's read token."""
    t = tokens(server_url).get("read")
    if t:
        kw["token"] = t
    return lstest.SSEReader(url, **kw)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1))


def sanitized():
    with open(lstest.binary(), "rb") as f:
        return b"__asan_init" in f.read()


def start_nginx(tmp, upstream_port, request_buffering):
    """nginx in front of one server: idle connections closed after 10 s,
    request bodies buffered or streamed."""
    name = "nginx-%s" % ("buf" if request_buffering else "stream")
    return lstest.Nginx(os.path.join(tmp, name), """    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        client_body_timeout 10s;
        location / {{
            proxy_pass http://127.0.0.1:%d;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 10s;
            proxy_send_timeout 10s;
            proxy_request_buffering %s;
            proxy_buffering off;
        }}
    }}
""" % (upstream_port, "on" if request_buffering else "off"))


class Faults(lstest.TestCase):

    def setUp(self):
        super().setUp()
        self._cleanups_extra = []

    def tearDown(self):
        for fn in reversed(self._cleanups_extra):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - keep cleaning up
                sys.stderr.write("cleanup failed: %r\n" % e)
        super().tearDown()

    # ---- helpers ----

    def pipeline(self, steps, name="faults"):
        out = ['version: "1"', "name: %s" % name, "steps:"]
        for sname, commands in steps:
            out.append("  - name: %s" % sname)
            out.append("    commands:")
            for c in commands:
                out.append("      - %s" % json.dumps(c))
        return self.write_pipeline("\n".join(out) + "\n")

    def gen(self):
        path = os.path.join(self.tmp, "gen.py")
        with open(path, "w") as f:
            f.write(GEN)
        return path

    def worker_via(self, pipe, srv, url, extra=()):
        """A worker talking to srv through url (a proxy), with srv's token."""
        env = {}
        if tokens(srv.url).get("worker"):
            env["LOGSTREAM_TOKEN"] = tokens(srv.url)["worker"]
        return self.run_worker(pipe, url, list(extra), env=env)

    def restart_server(self, port, data, extra=()):
        """`logstream server` again on the same port and data (retrying while
        the old socket is released); returns its Proc."""
        deadline = time.monotonic() + 30
        while True:
            p = self.start(["server", "--listen", "127.0.0.1:%d" % port, "--data", data]
                           + list(extra), name="server")
            if p.out.wait_for(r"listening on http://", lstest.START_TIMEOUT):
                return p
            p.stop()
            self.assertLess(time.monotonic(), deadline, p.describe())
            time.sleep(0.2)

    def raw_log(self, url, build, step):
        a = lstest.request("GET", lstest.step_logs_url(url, build, step), timeout=120)
        self.assertEqual(a.status, 200, a.text())
        return a.body.decode("utf-8", "replace")

    def durable_seq(self, url, build, step):
        try:
            a = lstest.request("GET", "%s/api/v1/builds/%d/steps/%d/stream" % (url, build, step),
                               timeout=5)
            return a.json().get("durable_seq", 0) if a.status == 200 else 0
        except OSError:
            return 0

    def metric(self, url, name):
        text = lstest.request("GET", url + "/metrics").text()
        m = re.search(r"^%s(?:\{[^}]*\})? (\d+)$" % re.escape(name), text, re.M)
        return int(m.group(1)) if m else None

    def assert_log(self, log, command, body):
        head = "$ " + command + "\n"
        self.assertTrue(log.startswith(head), log[:300])
        got = log[len(head):]
        if got != body:
            a, b = got.splitlines(), body.splitlines()
            first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            self.fail("stored log differs at line %d: got %d lines, want %d; got %r want %r"
                      % (first + 1, len(a), len(b), a[first:first + 2], b[first:first + 2]))

    # ---- 1 ----

    def test_1_kill9_during_20_streamed_steps(self):
        seed = int(os.environ.get("LS_FAULTS_SEED", random.randrange(1 << 30)))
        rnd = random.Random(seed)
        sys.stderr.write("\n  kill -9 schedule seed %d (LS_FAULTS_SEED=%d repeats it)\n"
                         % (seed, seed))
        srv = self.start_server()
        gen = self.gen()
        # The last step starts printing only once the server was killed 3
        # times: some schedules have 20 short steps (9 s in all) and left
        # time for only 2 kills.
        go = os.path.join(self.tmp, "killed-3-times")
        steps, cmds = [], []
        for i in range(1, 21):
            # 200..1400 lines in bursts of 20..200 with 10..80 ms pauses: 0.2..3 s
            n, every, pause = rnd.randrange(200, 1400), rnd.randrange(20, 200), rnd.uniform(0.01,
                                                                                           0.08)
            cmd = "python3 %s %d %d %d %.3f" % (gen, i, n, every, pause)
            if i == 20:
                cmd = "while [ ! -e %s ]; do sleep 0.1; done; %s" % (go, cmd)
            steps.append(("s%02d" % i, [cmd]))
            cmds.append((cmd, n))
        pipe = self.pipeline(steps, "kill9")
        w = self.run_worker(pipe, srv.url, FAST)
        port, data = srv.port, srv.data_dir
        proc = srv.proc
        kills = 0
        while w.proc.p.poll() is None and kills < 12:
            time.sleep(rnd.uniform(0.5, 3.0))
            if w.proc.p.poll() is not None:
                break
            os.killpg(proc.p.pid, signal.SIGKILL)
            proc.p.wait()
            kills += 1
            time.sleep(rnd.uniform(0.05, 1.5))
            proc = self.restart_server(port, data)
            if kills == 3:
                open(go, "w").close()
        open(go, "w").close()
        self.assertEqual(w.wait(300), 0, w.proc.describe())
        self.assertGreaterEqual(kills, 3, "the build ended before the server was killed 3 times")
        url = "http://127.0.0.1:%d" % port
        b = lstest.wait_build_final(url, w.build_id)
        self.assertEqual(b["status"], "success")
        for i, (cmd, n) in enumerate(cmds, 1):
            self.assert_log(self.raw_log(url, w.build_id, i), cmd, gen_output(i, n))
            self.assertEqual(b["steps"][i - 1]["lines"], n + 1)
            self.assertEqual(b["steps"][i - 1]["status"], "success")
        sys.stderr.write("  %d kills, %d steps stored exactly\n" % (kills, len(cmds)))

    # ---- 2 ----

    def nginx(self, upstream_port, request_buffering):
        if not shutil.which("nginx"):
            self.skipTest("nginx is not installed (scripts/install-deps.sh installs it)")
        n = start_nginx(self.tmp, upstream_port, request_buffering)
        self._cleanups_extra.append(n.stop)
        return n

    def test_2a_nginx_idle_timeout_stream_stays_live(self):
        srv = self.start_server(["--sse-ping", "3s"])
        ng = self.nginx(srv.port, request_buffering=False)
        pipe = self.pipeline([("sleepy", ["echo before", "sleep 15", "echo after"])])
        # heartbeats every 3 s keep the upload open through the proxy's 10 s idle timeout
        w = self.worker_via(pipe, srv, ng.url, ["--heartbeat", "3s", "--transport", "stream"])
        sse = sse_reader(lstest.step_logs_url(ng.url, w.build_id, 1) + "?since=0", srv.url)
        events = sse.read_until_end(60)
        sse.close()
        self.assertEqual(w.wait(60), 0, w.proc.describe())
        lines = {}
        for e in events:
            if e.type == "lines":
                for l in e.lines():
                    lines[l["text"]] = (e.time, l)
        self.assertIn("before", lines, events)
        self.assertIn("after", lines, events)
        self.assertEqual(events[-1].type, "end", events)
        # live: "after" reached the reader within a few seconds of being read
        # by the worker, about 15 s after "before"
        gap = lines["after"][0] - lines["before"][0]
        self.assertGreater(gap, 13, gap)
        self.assertLess(gap, 20, gap)
        wall_lag = time.time() - (time.monotonic() - lines["after"][0]) - \
            lines["after"][1]["ts"] / 1000.0
        self.assertLess(wall_lag, 3.0, "'after' reached the reader %.1fs after it was read"
                        % wall_lag)
        # one upload request the whole time: no reconnect
        self.assertFalse(w.proc.err.wait_for("upload interrupted", 0), w.proc.describe())
        self.assertEqual(self.raw_log(srv.url, w.build_id, 1),
                         "$ echo before\nbefore\n$ sleep 15\n$ echo after\nafter\n")
        sys.stderr.write("\n  via nginx: 'after' arrived %.1fs after 'before', %.2fs after it was "
                         "read\n" % (gap, wall_lag))

    def test_2b_nginx_request_buffering_falls_back_to_batch(self):
        srv = self.start_server()
        ng = self.nginx(srv.port, request_buffering=True)
        script = os.path.join(self.tmp, "tick.py")
        with open(script, "w") as f:
            f.write("import sys, time\n"
                    "for i in range(60):\n"
                    "    print('tick %02d' % i, flush=True)\n"
                    "    time.sleep(0.25)\n")
        cmd = "python3 " + script
        pipe = self.pipeline([("ticks", [cmd])])
        t0 = time.monotonic()
        w = self.worker_via(pipe, srv, ng.url, FAST + ["--stall-timeout", "3s",
                                                       "--batch-interval", "500ms"])
        # watch the server directly: when does each line become durable?
        arrived = {}
        deadline = time.monotonic() + 60
        while len(arrived) < 61 and time.monotonic() < deadline:
            n = self.durable_seq(srv.url, w.build_id, 1)
            now = time.monotonic()
            for seq in range(1, n + 1):
                arrived.setdefault(seq, now)
            time.sleep(0.1)
        self.assertEqual(w.wait(60), 0, w.proc.describe())
        self.assertTrue(w.proc.err.wait_for("switching to batch uploads", 0), w.proc.describe())
        self.assert_log(self.raw_log(srv.url, w.build_id, 1), cmd,
                        "".join("tick %02d\n" % i for i in range(60)))
        # every line printed after the switch is stored within a few seconds
        # (printed at about t0 + 0.25 * i; allow a generous 5 s on a busy machine)
        lines = lstest.request("GET", lstest.step_logs_url(srv.url, w.build_id, 1)
                               + "?since=0&limit=100").text().splitlines()
        ts = {json.loads(x)["seq"]: json.loads(x)["ts"] / 1000.0 for x in lines}
        base_wall = time.time() - time.monotonic()
        lags = []
        for seq in range(2, 62):
            lag = arrived[seq] + base_wall - ts[seq]
            lags.append(lag)
        late = [(seq, round(lag, 1)) for seq, lag in zip(range(2, 62), lags)
                if ts[seq] - ts[2] > 8 and lag > 5.0]
        self.assertFalse(late, "lines stored more than 5 s after they were printed: %r" % late)
        first = arrived[2] - t0
        self.assertLess(first, 20, "the first line took %.1fs" % first)
        sys.stderr.write("\n  via buffering nginx: first line stored after %.1fs; after the "
                         "switch, max lag %.1fs\n" % (first, max(
                             lag for seq, lag in zip(range(2, 62), lags) if ts[seq] - ts[2] > 8)))

    # ---- 3 ----

    def test_3_blackhole_30s_worker_spools_and_catches_up(self):
        srv = self.start_server()
        proxy = faultproxy.FaultProxy("127.0.0.1", srv.port)
        self._cleanups_extra.append(proxy.close)
        script = os.path.join(self.tmp, "slowgen.py")
        n = 400
        with open(script, "w") as f:
            f.write("import sys, time\n"
                    "for i in range(1, %d + 1):\n"
                    "    print('cut line %%04d %%s' %% (i, 'z' * (i %% 70)), flush=True)\n"
                    "    time.sleep(0.1)\n" % n)
        cmd = "python3 " + script
        pipe = self.pipeline([("through-cut", [cmd])])
        w = self.worker_via(pipe, srv, proxy.url, FAST)
        deadline = time.monotonic() + 30
        while self.durable_seq(srv.url, w.build_id, 1) < 20:
            self.assertLess(time.monotonic(), deadline, "no lines reached the server")
            time.sleep(0.05)
        proxy.blackhole()
        t_cut = time.monotonic()
        held = self.durable_seq(srv.url, w.build_id, 1)
        time.sleep(30)
        during = self.durable_seq(srv.url, w.build_id, 1)
        proxy.resume()
        t_resume = time.monotonic()
        # nothing passed while the network was black: the lines waited in the spool
        self.assertLessEqual(during - held, 2, "lines went through the blackhole")
        self.assertIsNone(w.proc.p.poll(), w.proc.describe())
        # the worker catches up with what was printed meanwhile (~300 lines)
        caught = None
        deadline = time.monotonic() + 60
        while caught is None:
            now_seq = self.durable_seq(srv.url, w.build_id, 1)
            if now_seq >= during + 250:
                caught = time.monotonic() - t_resume
            self.assertLess(time.monotonic(), deadline, "the worker did not catch up")
            time.sleep(0.1)
        self.assertEqual(w.wait(120), 0, w.proc.describe())
        self.assert_log(self.raw_log(srv.url, w.build_id, 1), cmd,
                        "".join("cut line %04d %s\n" % (i, "z" * (i % 70))
                                for i in range(1, n + 1)))
        sys.stderr.write("\n  blackhole %.0fs: %d lines held back, caught up %.1fs after the "
                         "network came back\n" % (t_resume - t_cut, now_seq - during, caught))

    # ---- 4 ----

    def test_4_slow_sse_reader_is_disconnected_memory_bounded(self):
        env = {"ASAN_OPTIONS": "quarantine_size_mb=16:" + os.environ.get("ASAN_OPTIONS", "")}
        # the stalled reader falls 30 MB behind; the fast one (Python, on a
        # busy machine) may lag a few MB: 12 MiB tells them apart
        srv = self.start_server(["--sse-max-lag", "12MiB", "--live-buffer", "1MiB",
                                 "--max-pending", "8MiB"], env=env)
        flag = os.path.join(self.tmp, "go")
        n = 300000  # 100-byte lines: 30 MB
        script = os.path.join(self.tmp, "flood.py")
        with open(script, "w") as f:
            f.write("import os, sys, time\n"
                    "while not os.path.exists(%r): time.sleep(0.05)\n"
                    "w = sys.stdout.write\n"
                    "for i in range(%d):\n"
                    "    w('flood %%07d %%s\\n' %% (i, 'f' * 86))\n"
                    "    if i %% 10000 == 0: sys.stdout.flush(); time.sleep(0.2)\n" % (flag, n))
        pipe = self.pipeline([("flood", ["python3 " + script])])
        w = self.run_worker(pipe, srv.url, FAST)
        url = lstest.step_logs_url(srv.url, w.build_id, 1)
        # the slow reader: a tiny receive buffer, and it never reads after the headers
        slow = socket.socket()
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect((srv.host, srv.port))
        hdrs = "".join("%s: %s\r\n" % kv for kv in auth(url).items())
        slow.sendall(("GET /api/v1/builds/%d/steps/1/logs HTTP/1.1\r\nHost: x\r\n"
                      "Accept: text/event-stream\r\n%s\r\n" % (w.build_id, hdrs)).encode())
        self._cleanups_extra.append(slow.close)
        fast = lstest.SSEReader(url + "?since=0", timeout=120)
        self._cleanups_extra.append(fast.close)
        time.sleep(1.0)
        base = rss_kb(srv.proc.p.pid)
        with open(flag, "w"):
            pass
        peak = base
        got_lines = 0
        end = None
        deadline = time.monotonic() + 240
        while end is None:
            self.assertLess(time.monotonic(), deadline, "no end event")
            try:
                ev = fast.next(0.2)
            except Exception:  # queue.Empty
                ev = False
            if ev is None:
                break
            if ev:
                if ev.type == "lines":
                    got_lines += len(ev.data.split("\n"))
                elif ev.type == "end":
                    end = ev
            peak = max(peak, rss_kb(srv.proc.p.pid))
        self.assertEqual(w.wait(120), 0, w.proc.describe())
        self.assertIsNotNone(end, "the fast reader saw no end event (disconnected %s times)"
                             % self.metric(srv.url, "logstream_sse_disconnected_slow_total"))
        self.assertEqual(got_lines, n + 1)
        # exactly one reader was disconnected: the stalled one
        self.assertEqual(self.metric(srv.url, "logstream_sse_disconnected_slow_total"), 1)
        # the slow reader's connection was closed by the server: reading what
        # is buffered ends in EOF (or a reset), not in a wait
        slow.settimeout(30)
        closed = False
        try:
            while True:
                if not slow.recv(65536):
                    closed = True
                    break
        except ConnectionResetError:
            closed = True
        except socket.timeout:
            pass
        self.assertTrue(closed, "the slow reader was not disconnected")
        grown = (peak - base) / 1024.0
        bound = 96 if sanitized() else 64
        sys.stderr.write("\n  30 MB step, one stalled SSE reader: server RSS %.0f MB -> peak "
                         "%.0f MB (+%.0f MB, bound %d MB)\n" % (base / 1024.0, peak / 1024.0,
                                                                 grown, bound))
        self.assertLess(grown, bound, "server memory grew by %.0f MB" % grown)

    # ---- 5 ----

    def test_5_disk_full_507_then_nothing_lost(self):
        if lstest.using_postgres():
            self.skipTest("the store is PostgreSQL's, not on this tmpfs (its disk-full error, "
                          "SQLSTATE 53100, is tested in unit/test_store_pg)")
        mnt = tempfile.mkdtemp(prefix="lstest-tmpfs-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            os.rmdir(mnt)
            self.skipTest("cannot mount a tmpfs here (%s): the disk-full test needs root"
                          % r.stdout.decode().strip())

        def unmount():
            subprocess.run(["umount", "-l", mnt])
            os.rmdir(mnt)
        self._cleanups_extra.append(unmount)
        srv = self.start_server(["--data", os.path.join(mnt, "data"), "--chunk-size", "64KiB"])
        go = os.path.join(self.tmp, "go")
        printed = os.path.join(self.tmp, "printed")
        n = 16000  # ~100-byte lines of base64 noise: 1.6 MB, ~1.2 MB stored
        script = os.path.join(self.tmp, "noise.py")
        with open(script, "w") as f:
            f.write("import os, sys, time, random, base64\n"
                    "while not os.path.exists(%r): time.sleep(0.05)\n"
                    "r = random.Random(7)\n"
                    "for i in range(%d):\n"
                    "    sys.stdout.write('%%05d %%s\\n' %% (i, base64.b64encode(bytes(r.getrandbits(8)"
                    " for _ in range(69))).decode()))\n"
                    "    if i %% 500 == 0: sys.stdout.flush(); time.sleep(0.05)\n"
                    "sys.stdout.flush()\n"
                    "open(%r, 'w').close()\n" % (go, n, printed))
        cmd = "python3 " + script
        pipe = self.pipeline([("noise", [cmd])])
        w = self.run_worker(pipe, srv.url, FAST)
        # leave ~300 KB free on the tmpfs, then let the step print
        st = os.statvfs(mnt)
        free = st.f_bavail * st.f_frsize
        ballast = os.path.join(mnt, "ballast")
        with open(ballast, "wb") as f:
            f.write(b"\0" * max(0, free - 300 * 1024))
        with open(go, "w"):
            pass
        deadline = time.monotonic() + 60
        while self.metric(srv.url, "logstream_storage_full") != 1:
            self.assertLess(time.monotonic(), deadline, "the disk never filled up:\n"
                            + srv.proc.describe())
            time.sleep(0.1)
        a = lstest.request("POST", "%s/api/v1/builds/%d/steps/1/stream" % (srv.url, w.build_id),
                           body=b"", headers={"Content-Type": "application/x-logstream-records"})
        self.assertIn(a.status, (503, 507), a.text())
        self.assertEqual(a.json()["code"], "insufficient_storage")
        while not os.path.exists(printed):
            self.assertLess(time.monotonic(), deadline + 60, "the step did not finish")
            time.sleep(0.1)
        time.sleep(2)
        self.assertIsNone(w.proc.p.poll(), "the worker must keep retrying:\n"
                          + w.proc.describe())
        stored_while_full = self.durable_seq(srv.url, w.build_id, 1)
        self.assertLess(stored_while_full, n)
        os.unlink(ballast)
        self.assertEqual(w.wait(120), 0, w.proc.describe())
        self.assertEqual(self.metric(srv.url, "logstream_storage_full"), 0)
        rnd = random.Random(7)
        import base64
        want = "".join("%05d %s\n" % (i, base64.b64encode(bytes(rnd.getrandbits(8)
                                                                for _ in range(69))).decode())
                       for i in range(n))
        self.assert_log(self.raw_log(srv.url, w.build_id, 1), cmd, want)
        self.assertTrue(srv.proc.err.wait_for("ingest answers 507", 0), srv.proc.describe())
        sys.stderr.write("\n  disk full at line %d of %d; all stored after space was freed\n"
                         % (stored_while_full, n))

    # ---- 6 ----

    def test_6_plugin_host_killed_mid_build(self):
        srv = self.start_server()
        flag = os.path.join(self.tmp, "go")
        pipe = self.pipeline([
            ("one", ["echo first step", "while [ ! -e %s ]; do sleep 0.1; done" % flag,
                     "echo still here"]),
            ("two", ["echo second step"])])
        w = self.run_worker(pipe, srv.url, FAST)
        host = None
        deadline = time.monotonic() + 20
        while host is None:
            self.assertLess(time.monotonic(), deadline, "no plugin host was started:\n"
                            + w.proc.describe())
            out = subprocess.run(["pgrep", "-P", str(w.proc.p.pid), "-f", "plugin-host"],
                                 stdout=subprocess.PIPE).stdout.split()
            host = int(out[0]) if out else None
            time.sleep(0.1)
        os.kill(host, signal.SIGKILL)
        time.sleep(0.5)
        with open(flag, "w"):
            pass
        self.assertEqual(w.wait(60), 0, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "success")
        self.assertEqual([s["status"] for s in b["steps"] if s["kind"] == "step"],
                         ["success", "success"])
        # the user is told, in the build's plugins log
        plugins = [s for s in b["steps"] if s["kind"] == "plugins"]
        self.assertEqual(len(plugins), 1, b)
        self.assertIn("plugin host exited with signal 9",
                      self.raw_log(srv.url, w.build_id, plugins[0]["number"]))
        self.assertEqual(self.raw_log(srv.url, w.build_id, 1),
                         "$ echo first step\nfirst step\n$ while [ ! -e %s ]; do sleep 0.1; done\n"
                         "$ echo still here\nstill here\n" % flag)
        self.assertEqual(self.raw_log(srv.url, w.build_id, 2), "$ echo second step\nsecond step\n")


if __name__ == "__main__":
    lstest.main()
