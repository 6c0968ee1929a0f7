#!/usr/bin/env python3
# ctest: PostgreSQL only (tests/CMakeLists.txt runs this file in the integration/pg/ pass only)
"""Several `logstream server` instances as one server (issue 6), with real
processes on loopback: nats-server (lstest.NatsServer), three instances on one
PostgreSQL database (LOGSTREAM_TEST_DATABASE) with --nats, and Debian's nginx
balancing over them round robin (no request or response buffering, HTTP/1.1
upstream, long timeouts). Workers go through nginx; viewers follow every step
over SSE on EACH instance directly. Each test starts and stops its own set.

a. A worker streams 20 steps through nginx: every viewer on every instance
   gets every line of every step in order, no gap, no duplicate, then `end`;
   the stored logs equal what the steps printed, byte for byte (raw download
   from each instance).
b. three workers (builds) at once through nginx, kill -9 of the instance
   holding the most of their streams, mid-step: its workers reconnect through
   nginx to another instance and resume from the durable seq; the stored logs
   of every build equal what the steps printed, byte for byte; viewers of the
   first build on the surviving
   instances get everything, and the killed instance's viewers, resumed on a
   survivor with Last-Event-ID, miss nothing and see nothing twice.
c. nats-server stopped for 10 s mid-step: viewers on every instance keep
   receiving lines (through the database), /metrics says NATS is down on
   every instance while it is, and once it is back (same port) the metric
   recovers and every viewer completes, in order.

Needs PostgreSQL: without LOGSTREAM_TEST_DATABASE every test is skipped.

Run: LOGSTREAM_TEST_DATABASE=URL|STATE_FILE python3 test_cluster.py --binary PATH_TO_logstream
     (scripts/pg-test-cluster.sh start --state FILE makes a cluster; ctest
     does this in its integration/pg/ pass)
"""

import json
import os
import re
import shutil
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstest  # noqa: E402

# The metric that says whether an instance is connected to NATS (1) or not (0).
NATS_METRIC = "logstream_nats_connected"

# Step k prints n lines, in bursts of `every` with a pause after each burst;
# the same text as gen_lines() below.
GEN = r'''
import sys, time
step, n, every, pause = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
for i in range(1, n + 1):
    sys.stdout.write("s%02d line %05d %s\n" % (step, i, "klmnopqrst"[(i + step) % 10] * ((i * 13 + step) % 97)))
    if i % every == 0:
        sys.stdout.flush()
        time.sleep(pause)
sys.stdout.flush()
'''


def gen_lines(step, n):
    return ["s%02d line %05d %s" % (step, i, "klmnopqrst"[(i + step) % 10] * ((i * 13 + step) % 97))
            for i in range(1, n + 1)]


# Worker: retry fast, heartbeat often (nginx and the servers see traffic).
WORKER_FLAGS = ["--no-plugins", "--backoff-base", "50ms", "--backoff-max", "500ms",
                "--heartbeat", "2s", "--upload-deadline", "300s", "--create-timeout", "60s"]
# How long a build or a viewer may take on the loaded 2-core test machine.
BUILD_TIMEOUT = 400.0


def start_nginx(tmp, upstream_ports):
    """nginx balancing round robin over upstream ports; streams both ways
    unbuffered (the config docs/deploy-cluster.md recommends, on loopback)."""
    servers = "".join("        server 127.0.0.1:%d max_fails=1 fail_timeout=10s;\n" % p
                      for p in upstream_ports)
    return lstest.Nginx(os.path.join(tmp, "nginx"), """    upstream logstream {{
%s        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        client_body_timeout 300s;
        location / {{
            proxy_pass http://logstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_connect_timeout 2s;
            proxy_read_timeout 300s;
            proxy_send_timeout 300s;
            proxy_next_upstream error timeout;
        }}
    }}
""" % servers.replace("{", "{{").replace("}", "}}"), connections=1024)


class Viewer:
    """One SSE follower of a step on one instance, from seq 0, collecting
    (arrival time, seq, text) of every line and the `end` event in a thread.
    resume=V (a closed Viewer) continues V's lines as a browser's EventSource
    does after a cut: Last-Event-ID = the last seq V got."""

    def __init__(self, instance, name, build, step, resume=None):
        self.name = "%s step %d" % (name, step)
        self.step = step
        self.lines = list(resume.lines) if resume else []  # (time.monotonic(), seq, text)
        self.end = None  # the end event's data (dict)
        self.closed = False  # the stream ended (with or without `end`)
        self.error = None
        self._cond = threading.Condition()
        url = lstest.step_logs_url(instance.url, build, step)
        if resume:
            self.name = "%s, resumed from %s" % (self.name, resume.name)
            last = self.lines[-1][1] if self.lines else 0
            self.sse = lstest.SSEReader(url, last_event_id=last, timeout=120,
                                        token=instance.tokens["read"])
        else:
            self.sse = lstest.SSEReader(url + "?since=0", timeout=120,
                                        token=instance.tokens["read"])
        if self.sse.status != 200:
            raise AssertionError("%s: SSE answered %d %r" % (self.name, self.sse.status,
                                                            getattr(self.sse, "body", b"")))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while True:
            ev = self.sse.next(None)
            with self._cond:
                if ev is None:
                    self.closed = True
                    self.error = self.sse.error
                    self._cond.notify_all()
                    return
                if ev.type == "lines":
                    for obj in ev.lines():
                        self.lines.append((ev.time, obj["seq"], obj["text"]))
                elif ev.type == "end":
                    self.end = json.loads(ev.data)
                self._cond.notify_all()

    def count(self):
        with self._cond:
            return len(self.lines)

    def wait(self, predicate, timeout):
        """Waits until predicate(self) holds (called under the lock); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def wait_end(self, timeout):
        return self.wait(lambda v: v.end is not None or v.closed, timeout)

    def close(self):
        self.sse.close()


class Cluster(lstest.TestCase):

    @classmethod
    def setUpClass(cls):
        if not lstest.using_postgres():
            raise unittest.SkipTest("several instances share one PostgreSQL database: set "
                                    "LOGSTREAM_TEST_DATABASE (ctest runs this file in its "
                                    "integration/pg/ pass only)")
        if not shutil.which("nginx"):
            raise unittest.SkipTest("nginx is not installed (scripts/install-deps.sh installs it)")

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

    # ---- setup ----

    def start_cluster(self, n=3):
        """nats-server, n instances on one database with --nats, nginx over them."""
        nats = lstest.NatsServer()
        self._cleanups_extra.append(nats.close)
        extra = ["--nats", nats.url, "--sse-ping", "5s"]
        first = self.start_server(extra)
        instances = [first] + [self.start_peer_server(first, extra) for _ in range(n - 1)]
        for i, inst in enumerate(instances):
            inst.name = "instance %d (port %d)" % (i + 1, inst.port)
        ng = start_nginx(self.tmp, [inst.port for inst in instances])
        self._cleanups_extra.append(ng.stop)
        self._cleanups_extra.append(lambda: self._dump_on_failure(ng, nats))
        return nats, instances, ng

    def _dump_on_failure(self, ng, nats):
        if not self._outcome_ok():
            sys.stderr.write("--- nginx error log ---\n%s\n" % ng.error_log()[-5000:])
            try:
                with open(os.path.join(nats.dir, "nats.log")) as f:
                    sys.stderr.write("--- nats log ---\n%s\n" % f.read()[-5000:])
            except OSError:
                pass

    def gen(self):
        path = os.path.join(self.tmp, "gen.py")
        with open(path, "w") as f:
            f.write(GEN)
        return path

    def pipeline(self, steps, name):
        """steps: [(command, expected output lines)]; returns the pipeline file."""
        out = ['version: "1"', "name: %s" % name, "steps:"]
        for i, (cmd, _) in enumerate(steps, 1):
            out += ["  - name: s%02d" % i, "    commands:", "      - %s" % json.dumps(cmd)]
        return self.write_pipeline("\n".join(out) + "\n")

    def gen_steps(self, sizes):
        """[(n, every, pause)] per step -> [(command, expected lines)]."""
        gen = self.gen()
        out = []
        for i, (n, every, pause) in enumerate(sizes, 1):
            cmd = "python3 %s %d %d %d %.3f" % (gen, i, n, every, pause)
            out.append((cmd, ["$ " + cmd] + gen_lines(i, n)))
        return out

    def run_worker_via(self, pipe, ng, first):
        """logstream run through nginx, with the cluster's worker token."""
        return self.run_worker(pipe, ng.url, WORKER_FLAGS,
                               env={"LOGSTREAM_TOKEN": first.tokens["worker"]})

    def open_viewers(self, instances, build, nsteps):
        viewers = []
        for inst in instances:
            for step in range(1, nsteps + 1):
                v = Viewer(inst, inst.name, build, step)
                v.instance = inst
                viewers.append(v)
                self._cleanups_extra.append(v.close)
        return viewers

    # ---- checks ----

    def metric(self, inst, name):
        """The value of metric name on inst (None when absent or unreachable)."""
        try:
            a = lstest.request("GET", inst.url + "/metrics", timeout=10,
                               token=inst.tokens["read"])
        except OSError:
            return None
        if a.status != 200:
            return None
        m = re.search(r"^%s(?:\{[^}]*\})? ([0-9.eE+-]+)$" % re.escape(name), a.text(), re.M)
        return float(m.group(1)) if m else None

    def build_json(self, inst, build):
        return lstest.get_json("%s/api/v1/builds/%d" % (inst.url, build),
                               token=inst.tokens["read"])

    def assert_viewer_complete(self, v, expected):
        """v got lines 1..N in order, no gap, no duplicate, equal to expected, then `end`."""
        self.assertTrue(v.wait_end(BUILD_TIMEOUT), "%s: no end after %ss, %d lines"
                        % (v.name, BUILD_TIMEOUT, v.count()))
        with v._cond:
            seqs = [s for _, s, _ in v.lines]
            texts = [t for _, _, t in v.lines]
            end = v.end
        bad = next((i for i, s in enumerate(seqs) if s != i + 1), None)
        self.assertIsNone(bad, "%s: line %d has seq %s (gap or duplicate); seqs around it %r"
                          % (v.name, (bad or 0) + 1, seqs[bad] if bad is not None else None,
                             seqs[max(0, (bad or 0) - 3):(bad or 0) + 3]))
        if texts != expected:
            i = next((i for i, (a, b) in enumerate(zip(texts, expected)) if a != b),
                     min(len(texts), len(expected)))
            self.fail("%s: got %d lines, want %d; first difference at line %d: %r != %r"
                      % (v.name, len(texts), len(expected), i + 1, texts[i:i + 1],
                         expected[i:i + 1]))
        self.assertIsNotNone(end, "%s: stream closed without `end` (%r)" % (v.name, v.error))
        self.assertEqual(end.get("lines"), len(expected), "%s: %r" % (v.name, end))
        self.assertEqual(end.get("status"), "success", "%s: %r" % (v.name, end))

    def assert_stored(self, inst, build, steps):
        """The raw download of every step from inst equals what the step printed."""
        b = self.build_json(inst, build)
        self.assertEqual(b["status"], "success", b)
        for i, (cmd, expected) in enumerate(steps, 1):
            a = lstest.request("GET", lstest.step_logs_url(inst.url, build, i), timeout=120,
                               token=inst.tokens["read"])
            self.assertEqual(a.status, 200, a.text())
            want = "".join(line + "\n" for line in expected).encode()
            if a.body != want:
                got = a.body.decode("utf-8", "replace").split("\n")
                k = next((k for k, (x, y) in enumerate(zip(got, expected)) if x != y),
                         min(len(got), len(expected)))
                self.fail("%s: step %d stored log differs at line %d (%d bytes, want %d): "
                          "%r != %r" % (inst.name, i, k + 1, len(a.body), len(want),
                                        got[k:k + 1], expected[k:k + 1]))
            st = b["steps"][i - 1]
            self.assertEqual((st["status"], st["lines"]), ("success", len(expected)), st)

    # ---- a ----

    def test_a_20_steps_through_nginx_viewers_on_every_instance(self):
        nats, instances, ng = self.start_cluster()
        # 20 steps of 120..500 lines in bursts with pauses: about 0.5..2 s each
        steps = self.gen_steps([(120 + 20 * i, 20 + i, 0.04) for i in range(1, 21)])
        pipe = self.pipeline(steps, "cluster-a")
        w = self.run_worker_via(pipe, ng, instances[0])
        viewers = self.open_viewers(instances, w.build_id, len(steps))
        self.assertEqual(w.wait(BUILD_TIMEOUT), 0, w.proc.describe())
        for v in viewers:
            self.assert_viewer_complete(v, steps[v.step - 1][1])
        for inst in instances:
            self.assert_stored(inst, w.build_id, steps)
        # the stream requests went to more than one instance (round robin)
        ingested = [self.metric(inst, "logstream_lines_ingested_total") or 0
                    for inst in instances]
        self.assertGreaterEqual(sum(1 for x in ingested if x > 0), 2, ingested)
        # and every instance got lines of the others' steps through NATS
        via_nats = [self.metric(inst, "logstream_nats_received_lines_total") or 0
                    for inst in instances]
        self.assertTrue(all(x > 0 for x in via_nats), via_nats)
        sys.stderr.write("\n  lines ingested per instance: %r, received through NATS: %r; "
                         "%d viewers complete\n" % ([int(x) for x in ingested],
                                                    [int(x) for x in via_nats], len(viewers)))

    # ---- b ----

    def test_b_kill9_instance_mid_stream_worker_resumes_elsewhere(self):
        nats, instances, ng = self.start_cluster()
        # 20 steps of 600..980 lines, bursts of 40 with 0.1 s pauses: 1.5..2.5 s each
        steps = self.gen_steps([(580 + 20 * i, 40, 0.1) for i in range(1, 21)])
        pipe = self.pipeline(steps, "cluster-b")
        w = self.run_worker_via(pipe, ng, instances[0])
        viewers = self.open_viewers(instances, w.build_id, len(steps))
        # two more workers at once (12 steps each, no viewers): nginx spreads
        # the streams, so the killed instance holds one or more of them
        others = []
        for k in (2, 3):
            osteps = self.gen_steps([(560 + 20 * i, 40, 0.1) for i in range(1, 13)])
            ow = self.run_worker_via(self.pipeline(osteps, "cluster-b%d" % k), ng, instances[0])
            others.append((ow, osteps))
        workers = [(w, steps)] + others
        # wait for a step >= 4 to be part way through (80 lines durable, less
        # than half), then kill the instance that holds the worker's stream
        victim, step_at_kill = None, None
        deadline = time.monotonic() + BUILD_TIMEOUT
        while victim is None:
            self.assertLess(time.monotonic(), deadline, "no step 4 stream seen")
            self.assertIsNone(w.proc.p.poll(), "the build ended before the kill\n"
                              + w.proc.describe())
            b = self.build_json(instances[0], w.build_id)
            running = [s for s in b["steps"] if s["status"] == "running"]
            if running and running[0]["number"] >= 4 and \
                    80 <= running[0]["lines"] < len(steps[running[0]["number"] - 1][1]) // 2:
                # the instance with the most of the workers' streams
                held = [(self.metric(inst, "logstream_active_streams") or 0, i)
                        for i, inst in enumerate(instances)]
                n, i = max(held)
                if n >= 1:
                    victim, step_at_kill = instances[i], running[0]["number"]
            if victim is None:
                time.sleep(0.05)
        for ow, _ in others:
            self.assertIsNone(ow.proc.p.poll(), "a build ended before the kill\n"
                              + ow.proc.describe())
        os.killpg(victim.proc.p.pid, signal.SIGKILL)
        victim.proc.p.wait()
        sys.stderr.write("\n  killed %s (%d of the workers' streams) during step %d\n"
                         % (victim.name, n, step_at_kill))
        survivors = [inst for inst in instances if inst is not victim]
        # the victim's viewers are cut; each resumes on a survivor with
        # Last-Event-ID, as the web UI's EventSource does through nginx
        resumed = 0
        for i, v in enumerate([v for v in viewers if v.instance is victim]):
            self.assertTrue(v.wait(lambda x: x.closed or x.end is not None, 60),
                            "%s: still open after its server was killed" % v.name)
            if v.end is not None:
                continue  # the step had ended before the kill
            inst = survivors[i % len(survivors)]
            r = Viewer(inst, inst.name, w.build_id, v.step, resume=v)
            r.instance = inst
            viewers.append(r)
            self._cleanups_extra.append(r.close)
            resumed += 1
        # the step at the kill and the ones after it had not ended
        self.assertGreaterEqual(resumed, len(steps) - step_at_kill + 1, resumed)
        for ww, _ in workers:
            self.assertEqual(ww.wait(BUILD_TIMEOUT), 0, ww.proc.describe())
        # the workers streaming to the victim noticed and resumed on another
        # instance (through nginx): at least one
        cut = [ww for ww, _ in workers if ww.proc.err.wait_for(r"upload interrupted", 0)]
        self.assertGreaterEqual(len(cut), 1, "\n".join(ww.proc.describe() for ww, _ in workers))
        for v in viewers:
            if v.instance is not victim:
                self.assert_viewer_complete(v, steps[v.step - 1][1])
        for inst in survivors:
            for ww, wsteps in workers:
                self.assert_stored(inst, ww.build_id, wsteps)
        for ww in cut:
            notes = [t for _, t in ww.proc.err.lines if "resumed" in t or "interrupted" in t]
            sys.stderr.write("  worker of build %d: %s\n" % (ww.build_id, "; ".join(notes[:6])))
        sys.stderr.write("  %d of %d workers cut and resumed; %d viewers of the killed instance "
                         "resumed on the others\n" % (len(cut), len(workers), resumed))

    # ---- c ----

    def test_c_nats_down_10s_viewers_fall_back_and_recover(self):
        nats, instances, ng = self.start_cluster()
        # step 2 prints one line every 20 ms for about 30 s; steps 1 and 3 are short
        steps = self.gen_steps([(50, 10, 0.05), (1500, 1, 0.02), (50, 10, 0.05)])
        pipe = self.pipeline(steps, "cluster-c")
        for inst in instances:
            self.assertEqual(self.metric(inst, NATS_METRIC), 1.0,
                             "%s: %s before the outage" % (inst.name, NATS_METRIC))
        w = self.run_worker_via(pipe, ng, instances[0])
        viewers = self.open_viewers(instances, w.build_id, len(steps))
        step2 = [v for v in viewers if v.step == 2]
        for v in step2:
            self.assertTrue(v.wait(lambda x: len(x.lines) >= 100, BUILD_TIMEOUT),
                            "%s: %d lines" % (v.name, v.count()))
        nats.stop()
        t_down = time.monotonic()
        # every instance says so while NATS is down
        seen_down = set()
        while time.monotonic() < t_down + 10:
            for inst in instances:
                if self.metric(inst, NATS_METRIC) == 0.0:
                    seen_down.add(inst.name)
            time.sleep(0.2)
        counts_down = [v.count() for v in step2]
        nats.start()
        t_up = time.monotonic()
        self.assertEqual(seen_down, {inst.name for inst in instances},
                         "%s = 0 seen only on %r during the outage" % (NATS_METRIC, seen_down))
        for inst in instances:
            self.assertTrue(inst.proc.err.wait_for(r"lost the NATS connection", 10),
                            "%s did not log the outage:\n%s" % (inst.name, inst.proc.err.text()))
        self.assertIsNone(w.proc.p.poll(), "step 2 ended before NATS was back; "
                          "the outage was not mid-stream\n" + w.proc.describe())
        # viewers kept receiving during the outage (after the first seconds)
        for v in step2:
            with v._cond:
                during = [s for t, s, _ in v.lines if t_down + 3 <= t < t_up]
            self.assertGreater(len(during), 0, "%s got no line between 3 s into the outage and "
                               "its end" % v.name)
        # the instances reconnect to NATS
        for inst in instances:
            deadline = time.monotonic() + 120
            while self.metric(inst, NATS_METRIC) != 1.0:
                self.assertLess(time.monotonic(), deadline,
                                "%s: %s still not 1 two minutes after NATS came back"
                                % (inst.name, NATS_METRIC))
                time.sleep(0.2)
            self.assertTrue(inst.proc.err.wait_for(r"NATS connection back", 10),
                            "%s did not log the recovery:\n%s" % (inst.name,
                                                                   inst.proc.err.text()))
        self.assertEqual(w.wait(BUILD_TIMEOUT), 0, w.proc.describe())
        for v in viewers:
            self.assert_viewer_complete(v, steps[v.step - 1][1])
        for inst in instances:
            self.assert_stored(inst, w.build_id, steps)
        sys.stderr.write("\n  step 2 lines seen by each viewer when NATS came back: %r of %d\n"
                         % (counts_down, len(steps[1][1])))


if __name__ == "__main__":
    lstest.main()
