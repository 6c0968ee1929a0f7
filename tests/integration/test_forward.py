#!/usr/bin/env python3
"""The forward plugin through the real `logstream plugin-host`, with real
receivers on loopback started by the test: an HTTP server taking Loki pushes
and NDJSON posts, a TCP syslog listener (RFC 6587 octet counting), a UDP
syslog listener, and a file. Each checks that every line arrives once, in
order, with its build/step labels and a timestamp; a target that is down and
comes up later gets everything through retries; a dead target trips the
host's circuit breaker (tiny thresholds) while the other plugins and the
host's reading go on.

ReplaceLogE2E runs `logstream run` against a real server with forward's
replace_log: the target gets every (masked) line, the server's log of a
forwarded step holds only the notice, other steps are unaffected, and lines
the plugin host could not take are stored on the server after all.

usage: test_forward.py --binary PATH_TO_logstream
"""
import argparse
import glob
import http.server
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import lstest

BINARY = None

STEPS = [{"id": "1", "name": "build"}, {"id": 2, "name": "unit tests"}]


def context(tmp, forward_settings, extra_plugins=None, nonce="n0nce"):
    plugins = {"forward": {"settings": forward_settings}}
    plugins.update(extra_plugins or {})
    return json.dumps({
        "build_id": 42,
        "server": {"url": "http://127.0.0.1:9", "token": "t"},
        "temp_dir": str(tmp),
        "finish_nonce": nonce,
        "steps": STEPS,
        "plugins": plugins,
    }) + "\n"


def sample_lines(n):
    """(step id, text) pairs: both steps interleaved, with empty lines, quotes,
    backslashes, tabs, ':' and non-ASCII text."""
    out = []
    for i in range(n):
        step = "1" if i % 3 else "2"
        if i % 17 == 0:
            text = ""
        elif i % 11 == 0:
            text = 'quote " back\\slash\ttab ] bracket: é ü 日本 %d' % i
        else:
            text = "line %d of the build: ok" % i
        out.append((step, text))
    return out


def host_input(ctx, lines, nonce="n0nce"):
    body = "".join("%s:%s\n" % (s, t) for s, t in lines)
    return (ctx + body + "##[logplugin.finish]%s\n" % nonce).encode()


def run_host(data, args=(), timeout=120, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BINARY, "plugin-host", *args], input=data, capture_output=True,
                          timeout=timeout, env=e)


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Collector(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port=0, fail_first=0, fail_code=503):
        self.requests = []  # (path, headers, body) of accepted requests
        self.refused = 0
        self.fail_first = fail_first
        self.fail_code = fail_code
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), CollectorHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def stop(self):
        self.shutdown()
        self.server_close()


class CollectorHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with self.server.lock:
            if self.server.refused < self.server.fail_first:
                self.server.refused += 1
                code = self.server.fail_code
            else:
                self.server.requests.append((self.path, dict(self.headers), body))
                code = 204
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def loki_entries(requests):
    """[(labels, ts_ns, line)] in the order they were pushed."""
    out = []
    for path, headers, body in requests:
        assert path == "/loki/api/v1/push", path
        assert headers.get("Content-Type") == "application/json"
        for stream in json.loads(body)["streams"]:
            for ts, line in stream["values"]:
                out.append((stream["stream"], int(ts), line))
    return out


def ndjson_entries(blob):
    return [json.loads(l) for l in blob.decode().splitlines() if l]


SYSLOG_RE = re.compile(
    r'^<14>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) \S+ logstream - - '
    r'\[logstream@32473 build="42" step="([^"]*)" step_name="((?:[^"\\]|\\.)*)" '
    r'seq="(\d+)"( team="shop")?\] (.*)$', re.S)


def parse_syslog(msg):
    m = SYSLOG_RE.match(msg)
    assert m, "not the expected RFC 5424 message: %r" % msg[:200]
    return {"ts": m.group(1), "step": m.group(2), "step_name": m.group(3).replace('\\"', '"'),
            "seq": int(m.group(4)), "line": m.group(6)}


class TcpSyslog:
    """A TCP listener decoding octet-counted frames (RFC 6587)."""

    def __init__(self, port=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.messages = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        buf = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while True:
                    sp = buf.find(b" ")
                    if sp <= 0:
                        break
                    n = int(buf[:sp])
                    if len(buf) < sp + 1 + n:
                        break
                    with self.lock:
                        self.messages.append(buf[sp + 1:sp + 1 + n].decode())
                    buf = buf[sp + 1 + n:]

    def stop(self):
        self.sock.close()


class ForwardTest(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="test_forward_"))
        self.lines = sample_lines(3000)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def expected(self, step):
        return [t for s, t in self.lines if s == step]

    def check_steps(self, got, key_step="step", key_line="line"):
        """got: dicts in arrival order; each step's lines, in order, exactly once."""
        for step, name in (("1", "build"), ("2", "unit tests")):
            mine = [g for g in got if g[key_step] == step]
            self.assertEqual([g[key_line] for g in mine], self.expected(step))
            for g in mine:
                self.assertEqual(g["step_name"], name)
            if "seq" in mine[0]:
                self.assertEqual([g["seq"] for g in mine], list(range(1, len(mine) + 1)))
        self.assertEqual(len(got), len(self.lines))

    def test_loki_push_with_labels_in_order_exactly_once(self):
        srv = Collector()
        try:
            settings = {"target": "loki", "url": srv.url, "batch_lines": 700,
                        "batch_wait": "50ms", "labels": {"team": "shop"}}
            p = run_host(host_input(context(self.tmp, settings), self.lines))
            out = p.stdout.decode()
            self.assertEqual(p.returncode, 0, out + p.stderr.decode())
            entries = loki_entries(srv.requests)
        finally:
            srv.stop()
        self.assertGreaterEqual(len(srv.requests), 5)  # batched: 3000 lines / 700
        got = []
        for labels, ts, line in entries:
            self.assertEqual(labels["job"], "logstream")
            self.assertEqual(labels["build"], "42")
            self.assertEqual(labels["team"], "shop")
            got.append({"step": labels["step"], "step_name": labels["step_name"], "line": line,
                        "ts": ts})
        self.check_steps(got)
        ts = [g["ts"] for g in got]
        self.assertEqual(ts, sorted(ts))
        self.assertEqual(len(set(ts)), len(ts))  # strictly increasing: Loki keeps them all
        now = time.time_ns()
        self.assertLess(abs(ts[0] - now), 600 * 10**9)  # the time the plugin received them
        self.assertIn("[forward] forwarding every line to Loki at %s/loki/api/v1/push" % srv.url,
                      out)
        self.assertIn("[forward] 3000 lines forwarded to Loki", out)

    def test_ndjson_http_endpoint_and_replace_log_notice(self):
        srv = Collector()
        try:
            settings = {"target": "http", "url": srv.url + "/ingest", "batch_lines": 1000,
                        "batch_wait": "20ms", "replace_log": True,
                        "headers": {"X-Tenant": "shop"}}
            p = run_host(host_input(context(self.tmp, settings), self.lines))
        finally:
            srv.stop()
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 0, out + p.stderr.decode())
        got = []
        for path, headers, body in srv.requests:
            self.assertEqual(path, "/ingest")
            self.assertEqual(headers.get("Content-Type"), "application/x-ndjson")
            self.assertEqual(headers.get("X-Tenant"), "shop")
            got.extend(ndjson_entries(body))
        for g in got:
            self.assertEqual(g["build"], "42")
            self.assertRegex(g["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$")
        self.check_steps(got)
        n1, n2 = len(self.expected("1")), len(self.expected("2"))
        self.assertIn("[forward] logs for step 1 (build) were forwarded to HTTP endpoint at "
                      "%s/ingest: %d lines" % (srv.url, n1), out)
        self.assertIn("[forward] logs for step 2 (unit tests) were forwarded to HTTP endpoint "
                      "at %s/ingest: %d lines" % (srv.url, n2), out)

    def test_syslog_tcp_octet_counting(self):
        lst = TcpSyslog()
        try:
            settings = {"target": "syslog", "address": "127.0.0.1:%d" % lst.port,
                        "transport": "tcp", "batch_wait": "20ms", "labels": {"team": "shop"}}
            p = run_host(host_input(context(self.tmp, settings), self.lines))
            self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
            deadline = time.monotonic() + 10
            while len(lst.messages) < len(self.lines) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            lst.stop()
        self.check_steps([parse_syslog(m) for m in lst.messages])

    def test_syslog_udp(self):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        port = rx.getsockname()[1]
        lines = self.lines[:300]  # a few datagrams: loopback does not drop them
        self.lines = lines
        long_line = ("2", "x" * 5000)
        settings = {"target": "syslog", "address": "127.0.0.1:%d" % port, "transport": "udp",
                    "batch_wait": "10ms", "max_message": "1KiB"}
        p = run_host(host_input(context(self.tmp, settings), lines + [long_line]))
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        msgs = []
        try:
            while len(msgs) < len(lines) + 1:
                msgs.append(rx.recv(65536).decode())
        except socket.timeout:
            pass
        rx.close()
        self.assertEqual(len(msgs), len(lines) + 1)
        last = msgs.pop()
        self.assertEqual(len(last.encode()), 1024)  # cut to max_message
        self.check_steps([parse_syslog(m) for m in msgs])
        self.assertIn("[forward] 1 lines were cut to max_message", p.stdout.decode())

    def test_file(self):
        path = self.tmp / "out" / "forwarded.ndjson"
        path.parent.mkdir()
        settings = {"target": "file", "path": str(path), "batch_lines": 100}
        p = run_host(host_input(context(self.tmp, settings), self.lines))
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        self.check_steps(ndjson_entries(path.read_bytes()))

    def test_target_down_then_up_gets_everything(self):
        """HTTP: the first pushes are refused with 503 and the port is closed
        at first; the server comes up while lines keep coming; retries deliver
        every line once, in order."""
        port = free_port()
        settings = {"target": "loki", "url": "http://127.0.0.1:%d" % port, "batch_lines": 200,
                    "batch_wait": "20ms", "retry_min": "50ms", "retry_max": "300ms",
                    "flush_timeout": "60s"}
        proc = subprocess.Popen([BINARY, "plugin-host"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        data = host_input(context(self.tmp, settings), self.lines)
        half = len(data) // 2
        proc.stdin.write(data[:half])
        proc.stdin.flush()
        time.sleep(1.0)  # several refused connections
        srv = Collector(port, fail_first=3)
        try:
            proc.stdin.write(data[half:])
            proc.stdin.close()
            proc.stdin = None
            out, err = proc.communicate(timeout=120)
            entries = loki_entries(srv.requests)
        finally:
            srv.stop()
        out = out.decode()
        self.assertEqual(proc.returncode, 0, out + err.decode())
        self.assertEqual(srv.refused, 3)
        self.assertIn("[forward] cannot reach Loki at", out)
        self.assertIn("reached again: forwarding resumes", out)
        self.assertRegex(out, r"\[forward\] 3000 lines forwarded to Loki at \S+ in \d+ batches "
                              r"\([1-9]\d* retries\)")
        got = [{"step": l["step"], "step_name": l["step_name"], "line": line}
               for l, ts, line in entries]
        self.check_steps(got)

    def test_tcp_syslog_down_then_up(self):
        port = free_port()
        settings = {"target": "syslog", "address": "127.0.0.1:%d" % port, "batch_wait": "20ms",
                    "retry_min": "50ms", "retry_max": "300ms"}
        proc = subprocess.Popen([BINARY, "plugin-host"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        data = host_input(context(self.tmp, settings), self.lines)
        proc.stdin.write(data[:len(data) // 3])
        proc.stdin.flush()
        time.sleep(1.0)
        lst = TcpSyslog(port)
        try:
            proc.stdin.write(data[len(data) // 3:])
            proc.stdin.close()
            proc.stdin = None
            out, err = proc.communicate(timeout=120)
            self.assertEqual(proc.returncode, 0, out.decode() + err.decode())
            deadline = time.monotonic() + 10
            while len(lst.messages) < len(self.lines) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            lst.stop()
        self.check_steps([parse_syslog(m) for m in lst.messages])

    def test_dead_target_trips_breaker_not_the_host(self):
        """Nothing listens: forward's bounded queue fills, its process_line
        waits, the host's queue for it fills and the breaker stops it; the
        host keeps reading stdin and resave gets every line."""
        port = free_port()
        settings = {"target": "syslog", "address": "127.0.0.1:%d" % port,
                    "max_buffer": "16KiB", "batch_lines": 50, "batch_wait": "10ms",
                    "retry_min": "20ms", "retry_max": "100ms"}
        # ~9 MB: more than forward's 4 MiB queue in the host; resave, with the
        # same room and the writes paced (~25 MB/s), keeps up on a busy machine
        n = 200000
        body = "".join("%d:dead target line %d of the build\n" % (1 + i % 2, i)
                       for i in range(n)).encode()
        ctx = context(self.tmp, settings, {"resave": True}).encode()
        proc = subprocess.Popen(
            [BINARY, "plugin-host", "--plugin-max-pending", "4MiB",
             "--plugin-breaker-window", "300ms"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        start = time.monotonic()
        proc.stdin.write(ctx)
        for off in range(0, len(body), 256 * 1024):
            proc.stdin.write(body[off:off + 256 * 1024])
            proc.stdin.flush()
            time.sleep(0.01)
        written = time.monotonic() - start
        time.sleep(0.8)  # longer than the window
        proc.stdin.write(b"1:last\n##[logplugin.finish]n0nce\n")
        proc.stdin.close()
        proc.stdin = None
        out, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - start
        out = out.decode()
        self.assertLess(written, 10.0, "the host did not keep reading stdin")
        self.assertLess(elapsed, 40.0)
        self.assertEqual(proc.returncode, 1, out + err.decode())  # a plugin was stopped
        self.assertIn("[forward] cannot reach syslog at tcp://127.0.0.1:%d" % port, out)
        self.assertIn("[plugin-host] forward stopped: circuit breaker", out)
        saved = (self.tmp / "resave" / "1-build.log").read_text().splitlines()
        self.assertEqual(len(saved), n // 2 + 1)  # the other plugin lost nothing

    def test_bad_settings_are_reported(self):
        p = run_host(host_input(context(self.tmp, {"target": "kafka"}), self.lines[:3]))
        self.assertEqual(p.returncode, 1)
        self.assertIn('[forward] setting "target" must be loki, http, syslog or file, not '
                      '"kafka"', p.stdout.decode())
        p = run_host(host_input(context(self.tmp, {"target": "loki"}), self.lines[:3]))
        self.assertIn('[forward] target loki needs a "url" setting', p.stdout.decode())
        # not configured at all: forward declines, nothing is said
        ctx = json.dumps({"finish_nonce": "n0nce", "steps": STEPS,
                          "plugins": {"forward": True}}) + "\n"
        p = run_host(host_input(ctx, self.lines[:3]))
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertEqual(p.stdout.decode(), "")


def host_pids_of(pid):
    """Pids of the `logstream plugin-host` children of pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid and b"plugin-host" in cmd:
            out.append(int(d))
    return out


class ReplaceLogE2E(lstest.TestCase):
    """forward's replace_log through `logstream run`, a real server and a real
    target: the server stores only a notice for the forwarded steps."""

    WAIT = 60.0

    def logs(self, srv, build, step):
        a = lstest.request("GET", lstest.step_logs_url(srv.url, build, step))
        self.assertEqual(a.status, 200, a.text())
        return a.text()

    def wait_logs(self, srv, build, step, pattern):
        deadline = time.monotonic() + self.WAIT
        while True:
            text = self.logs(srv, build, step)
            if re.search(pattern, text, re.M):
                return text
            if time.monotonic() > deadline:
                self.fail("no %r in the log of step %d:\n%s" % (pattern, step, text))
            time.sleep(0.1)

    def plugins_log_final(self, srv, build, step):
        deadline = time.monotonic() + self.WAIT
        while True:
            b = lstest.get_json("%s/api/v1/builds/%d" % (srv.url, build))
            st = [x for x in b["steps"] if x["number"] == step][0]
            if st["status"] not in ("pending", "running"):
                return b, self.logs(srv, build, step)
            if time.monotonic() > deadline:
                self.fail("plugins log still %s" % st["status"])
            time.sleep(0.1)

    def test_http_target_gets_the_lines_server_keeps_the_notice(self):
        srv = self.start_server()
        sink = Collector()
        self.addCleanup(sink.stop)
        secret = "s3cret-forwarded-value"
        p = self.write_pipeline("""
name: replace-log
plugins:
  settings:
    forward:
      target: http
      url: %s/ingest
      batch_wait: 50ms
      replace_log: [forwarded]
steps:
  - name: forwarded
    secrets: [API_KEY]
    commands: ["echo key=$API_KEY", "seq 1 3000"]
  - name: kept
    commands: ["seq 1 20"]
""" % sink.url)
        w = self.run_worker(p, srv.url, env={"API_KEY": secret})
        self.assertEqual(w.wait(), 0, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "success")
        b, plugins = self.plugins_log_final(srv, w.build_id, 3)
        notice = "logs for this step were forwarded to HTTP endpoint at %s/ingest" % sink.url
        # the server: only the notice for the forwarded step, the whole log for the other
        # target up: only the notice, and the step's result once forward confirmed it
        self.assertEqual(self.logs(srv, w.build_id, 1), notice + "\n")
        self.assertEqual(b["steps"][0]["lines"], 1)
        self.assertEqual(b["steps"][0]["status"], "success")
        self.assertNotIn("forwarding to", w.proc.err.text())
        kept = ["$ seq 1 20"] + [str(i) for i in range(1, 21)]
        self.assertEqual(self.logs(srv, w.build_id, 2), "".join(l + "\n" for l in kept))
        # the target: every line of both steps, in order, masked
        got = []
        for path, headers, body in sink.requests:
            self.assertNotIn(secret.encode(), body)
            got.extend(ndjson_entries(body))
        step1 = [g["line"] for g in got if g["step"] == "1"]
        self.assertEqual(step1, ["$ echo key=$API_KEY", "key=***", "$ seq 1 3000"] +
                         [str(i) for i in range(1, 3001)])
        self.assertEqual([g["line"] for g in got if g["step"] == "2"], kept)
        self.assertIn("[forward] logs for step 1 (forwarded) were forwarded to HTTP endpoint at "
                      "%s/ingest: 3003 lines" % sink.url, plugins)
        self.assertNotIn("logs for step 2", plugins)
        self.assertNotIn(secret, w.proc.err.text())

    def test_file_target_every_step(self):
        srv = self.start_server()
        out = os.path.join(self.tmp, "forwarded.ndjson")
        p = self.write_pipeline("""
plugins:
  settings:
    forward: {target: file, path: %s, replace_log: true}
steps:
  - name: a
    commands: ["seq 1 500"]
  - name: b
    commands: ["echo b done"]
""" % out)
        w = self.run_worker(p, srv.url)
        self.assertEqual(w.wait(), 0, w.proc.describe())
        lstest.wait_build_final(srv.url, w.build_id)
        self.plugins_log_final(srv, w.build_id, 3)
        notice = "logs for this step were forwarded to file at %s\n" % out
        self.assertEqual(self.logs(srv, w.build_id, 1), notice)
        self.assertEqual(self.logs(srv, w.build_id, 2), notice)
        with open(out, "rb") as f:
            got = ndjson_entries(f.read())
        self.assertEqual([g["line"] for g in got if g["step"] == "1"],
                         ["$ seq 1 500"] + [str(i) for i in range(1, 501)])
        self.assertEqual([g["line"] for g in got if g["step"] == "2"], ["$ echo b done", "b done"])

    def step_lines(self, srv, build, step):
        return self.logs(srv, build, step).splitlines()

    def kill_plugin_host(self, srv, w, plugins_step):
        """SIGKILLs the run's one plugin host; waits until the plugins log says so."""
        hosts = host_pids_of(w.proc.p.pid)
        self.assertEqual(len(hosts), 1, "plugin hosts: %r" % hosts)
        os.kill(hosts[0], signal.SIGKILL)
        self.wait_logs(srv, w.build_id, plugins_step, r"^plugin host exited with signal 9")

    def assert_fell_back(self, text, where, why):
        """The step's stored log starts with the notice, then the line saying
        forwarding to `where` failed (why: a regex) and the full log follows."""
        self.assertEqual(text[0], "logs for this step were forwarded to %s" % where)
        self.assertRegex(text[1], r"^forwarding to %s failed: %s; the full log follows$"
                         % (re.escape(where), why))

    def test_host_killed_mid_step_full_log_on_the_server(self):
        srv = self.start_server()
        sink = Collector()
        self.addCleanup(sink.stop)
        go = os.path.join(self.tmp, "go")
        p = self.write_pipeline("""
plugins:
  settings:
    forward: {target: http, url: %s, batch_wait: 20ms, replace_log: true}
steps:
  - name: a
    commands: ["echo before", "while [ ! -f %s ]; do sleep 0.05; done", "seq 1 100"]
""" % (sink.url, go))
        spool = os.path.join(self.tmp, "spool")
        w = self.run_worker(p, srv.url, extra_args=["--spool-dir", spool])
        deadline = time.monotonic() + self.WAIT
        # the host has handed the lines so far to the target
        while not any(b"; done" in body for _, _, body in list(sink.requests)):
            self.assertLess(time.monotonic(), deadline, "the target never got the first lines")
            time.sleep(0.05)
        # the worker keeps the step's masked lines until forward confirms them
        self.assertEqual(len(glob.glob(os.path.join(spool, "*.forward"))), 1)
        self.kill_plugin_host(srv, w, 2)
        open(go, "w").close()
        self.assertEqual(w.wait(), 0, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["steps"][0]["status"], "success")
        text = self.step_lines(srv, w.build_id, 1)
        self.assert_fell_back(text, "HTTP endpoint at %s" % sink.url,
                              r"the plugin host (has exited|ended with status \d+)")
        # every line of the step, once and in order, delivered before the kill or not
        full = ["$ echo before", "before", "$ while [ ! -f %s ]; do sleep 0.05; done" % go,
                "$ seq 1 100"] + [str(i) for i in range(1, 101)]
        self.assertEqual(text[2:], full)
        forwarded = [g["line"] for _, _, body in sink.requests for g in ndjson_entries(body)]
        self.assertEqual(forwarded, full[:len(forwarded)])
        self.assertGreaterEqual(len(forwarded), 3)
        # the side file is gone with the build
        self.assertEqual(glob.glob(os.path.join(spool, "*.forward")), [])

    def test_host_killed_after_the_step_before_finalize(self):
        """The step ended with its lines handed to the host; the host dies before
        forward confirmed them: the full log goes to the server at the end."""
        srv = self.start_server()
        sink = Collector()
        self.addCleanup(sink.stop)
        go = os.path.join(self.tmp, "go")
        p = self.write_pipeline("""
plugins:
  settings:
    forward: {target: http, url: %s, batch_wait: 20ms, replace_log: [a]}
steps:
  - name: a
    commands: ["seq 1 50"]
  - name: b
    commands: ["echo b", "while [ ! -f %s ]; do sleep 0.05; done"]
""" % (sink.url, go))
        w = self.run_worker(p, srv.url)
        self.wait_logs(srv, w.build_id, 2, r"^b$")
        self.kill_plugin_host(srv, w, 3)
        open(go, "w").close()
        self.assertEqual(w.wait(), 0, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["steps"][0]["status"], "success")
        text = self.step_lines(srv, w.build_id, 1)
        self.assert_fell_back(text, "HTTP endpoint at %s" % sink.url,
                              r"the plugin host (has exited|ended with status \d+)")
        self.assertEqual(text[2:], ["$ seq 1 50"] + [str(i) for i in range(1, 51)])

    def test_target_down_for_the_whole_step_full_log_after_the_notice(self):
        srv = self.start_server()
        dead = "http://127.0.0.1:%d/ingest" % lstest.free_port()  # nothing listens there
        p = self.write_pipeline("""
plugins:
  settings:
    forward: {target: http, url: %s, batch_wait: 20ms, retry_min: 20ms, retry_max: 100ms,
              flush_timeout: 300ms, replace_log: [down]}
steps:
  - name: down
    commands: ["seq 1 500"]
  - name: other
    commands: ["echo other"]
""" % dead)
        w = self.run_worker(p, srv.url)
        self.assertEqual(w.wait(), 0, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "success")
        self.assertEqual(b["steps"][0]["status"], "success")
        text = self.step_lines(srv, w.build_id, 1)
        self.assert_fell_back(text, "HTTP endpoint at %s" % dead, r".*could not be forwarded.*")
        self.assertEqual(text[2:], ["$ seq 1 500"] + [str(i) for i in range(1, 501)])
        self.assertEqual(b["steps"][0]["lines"], 503)
        self.assertEqual(self.step_lines(srv, w.build_id, 2), ["$ echo other", "other"])

    def test_log_larger_than_forward_keep_bytes_goes_to_the_server(self):
        srv = self.start_server()
        sink = Collector()
        self.addCleanup(sink.stop)
        p = self.write_pipeline("""
plugins:
  settings:
    forward: {target: http, url: %s, batch_wait: 20ms, replace_log: true}
steps:
  - name: a
    commands: ["seq 1 1000"]
""" % sink.url)
        # "$ seq 1 1000" and 1..1000: 12 + 2893 bytes of text; 1000 hold the command and 1..365
        w = self.run_worker(p, srv.url, extra_args=["--forward-keep-bytes", "1000"])
        self.assertEqual(w.wait(), 0, w.proc.describe())
        lstest.wait_build_final(srv.url, w.build_id)
        text = self.step_lines(srv, w.build_id, 1)
        self.assertEqual(text[1], "forwarding to HTTP endpoint at %s failed: the step's log is "
                         "larger than --forward-keep-bytes; the full log follows" % sink.url)
        self.assertEqual(text[2:], ["$ seq 1 1000"] + [str(i) for i in range(1, 1001)])
        forwarded = [g["line"] for _, _, body in sink.requests for g in ndjson_entries(body)]
        self.assertEqual(forwarded, text[2:])  # the target still gets every line

    def test_batch_refused_with_4xx_full_log_on_the_server(self):
        srv = self.start_server()
        sink = Collector(fail_first=1, fail_code=400)
        self.addCleanup(sink.stop)
        p = self.write_pipeline("""
plugins:
  settings:
    forward: {target: http, url: %s, batch_wait: 20ms, replace_log: true}
steps:
  - name: a
    commands: ["seq 1 50", "sleep 0.3", "seq 51 60"]
""" % sink.url)
        w = self.run_worker(p, srv.url)
        self.assertEqual(w.wait(), 0, w.proc.describe())
        lstest.wait_build_final(srv.url, w.build_id)
        text = self.step_lines(srv, w.build_id, 1)
        self.assertRegex(text[1], r"^forwarding to HTTP endpoint at .* failed: .*refused a batch.*"
                         r"; the full log follows$")
        full = ["$ seq 1 50"] + [str(i) for i in range(1, 51)] + ["$ sleep 0.3", "$ seq 51 60"] + \
            [str(i) for i in range(51, 61)]
        self.assertEqual(text[2:], full)


def main():
    global BINARY
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args, rest = ap.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    lstest.BINARY = BINARY
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
