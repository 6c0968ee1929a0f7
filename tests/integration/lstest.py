"""Shared helpers for logstream's integration tests (Python standard library only).

They start the real `logstream` binary on loopback -- the server on a free port
with a temporary data directory, the worker, the viewer -- and talk to them as
a user's tool would: plain HTTP, Server-Sent Events, process output.

Usage in a test file:

    import lstest
    class T(lstest.TestCase):
        def test_x(self):
            srv = self.start_server()
            ...
    if __name__ == "__main__":
        lstest.main()

Run as: python3 test_x.py --binary /path/to/logstream [unittest args]

Authentication: every server is started with --admin-token-file; Server reads
the admin token and makes a worker and a read token through the tokens API
(Server.tokens). request(), get_json() and SSEReader send the server's token
for the request (admin for /api/v1/tokens, read for GET, worker otherwise)
unless given token=... (None = send no token); Worker and the `logs`/`run`
commands started with TestCase.start() get LOGSTREAM_TOKEN. So every test goes
through the real auth path; raw-socket tests add auth_header(url, method).
"""

import argparse
import atexit
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

BINARY = None  # set by main() from --binary

# Tokens of the servers started by this process: "http://HOST:PORT" ->
# {"admin": ..., "worker": ..., "read": ...}.
TOKENS = {}
DEFAULT = object()  # token=DEFAULT: pick the server's token for the request

# Workers put the plugin host's diagnostics (and a sanitizer's report from
# it) on their stderr, which a failing test prints (`logstream run` drops
# them by default). A test that checks the default passes env with "".
os.environ.setdefault("LOGSTREAM_PLUGIN_DIAGNOSTICS", "-")

# How long to wait for a process to print its first line or to exit.
START_TIMEOUT = 20.0
EXIT_TIMEOUT = 60.0


def binary():
    if not BINARY:
        raise RuntimeError("run with --binary PATH_TO_logstream")
    return BINARY


class LineReader:
    """Reads a pipe line by line in a thread, keeping every line with the
    monotonic time it arrived, so tests can wait for a line with a timeout."""

    def __init__(self, pipe, name):
        self.name = name
        self.lines = []  # (time.monotonic(), text without newline)
        self.closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines.append((time.monotonic(), text))
                self._cond.notify_all()
        pipe.close()  # at EOF: no ResourceWarning for the pipe left open
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def wait_for(self, predicate, timeout):
        """Returns (time, line) of the first line matching predicate (a regex
        string or a function), waiting up to timeout seconds; None on timeout
        or EOF."""
        if isinstance(predicate, str):
            rx = re.compile(predicate)
            predicate = lambda s: rx.search(s) is not None  # noqa: E731
        deadline = time.monotonic() + timeout
        with self._cond:
            i = 0
            while True:
                while i < len(self.lines):
                    if predicate(self.lines[i][1]):
                        return self.lines[i]
                    i += 1
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    return None
                self._cond.wait(left)

    def wait_closed(self, timeout):
        self._thread.join(timeout)
        return self.closed

    def text(self):
        with self._cond:
            return "\n".join(t for _, t in self.lines)


class Proc:
    """A started logstream process with line readers on stdout and stderr."""

    def __init__(self, args, env=None, cwd=None, name=None):
        self.args = args
        self.name = name or args[1]
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.p = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
        )
        self.out = LineReader(self.p.stdout, self.name + ".stdout")
        self.err = LineReader(self.p.stderr, self.name + ".stderr")

    def wait(self, timeout=EXIT_TIMEOUT):
        rc = self.p.wait(timeout)
        self.out.wait_closed(5)
        self.err.wait_closed(5)
        return rc

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL after timeout; returns the exit code."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.out.wait_closed(5)
        self.err.wait_closed(5)
        return self.p.returncode

    def describe(self):
        return "%s exited %s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            " ".join(self.args), self.p.poll(), self.out.text(), self.err.text())


def _origin(url):
    u = urllib.parse.urlsplit(url)
    return "%s://%s" % (u.scheme, u.netloc)


def tokens_for(url):
    """The tokens of the server url belongs to ({} when unknown)."""
    return TOKENS.get(_origin(url), {})


def token_for(url, method="GET"):
    """The token lstest sends by default for method on url (None if none)."""
    t = tokens_for(url)
    path = urllib.parse.urlsplit(url).path
    if path.startswith("/api/v1/tokens"):
        return t.get("admin")
    return t.get("read") if method in ("GET", "HEAD") else t.get("worker")


def auth_header(url, method="GET", token=DEFAULT):
    """{"Authorization": "Bearer T"} for a raw request, or {} without a token."""
    if token is DEFAULT:
        token = token_for(url, method)
    return {"Authorization": "Bearer " + token} if token else {}


def make_token(server_url, scope, name="lstest"):
    """Makes a token of scope through the tokens API (with the admin token)."""
    a = request("POST", server_url + "/api/v1/tokens", {"scope": scope, "name": name},
                token=tokens_for(server_url)["admin"])
    if a.status != 201:
        raise AssertionError("POST /api/v1/tokens -> %d %s" % (a.status, a.text()))
    return a.json()["token"]


# ---- PostgreSQL (LOGSTREAM_TEST_DATABASE) -------------------------------------
# With LOGSTREAM_TEST_DATABASE set (a postgres:// URL of a superuser, or the
# state file of scripts/pg-test-cluster.sh), every server started through this
# module gets --database with a database of its own data directory: created on
# first use, remembered in the data directory (a restart on the same data finds
# it again), dropped when the test process exits.

_DATABASES = []  # (base URL, name) created by this process


def _pg_base_url():
    v = os.environ.get("LOGSTREAM_TEST_DATABASE", "")
    if v and not v.startswith(("postgres://", "postgresql://")):
        with open(v) as f:
            v = f.readline().strip()
    return v or None


def _psql(url, sql):
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url,
                        "-c", sql], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("psql %s: %s" % (sql, r.stderr))
    return r.stdout.strip()


def using_postgres():
    """True when the servers' store is PostgreSQL (LOGSTREAM_TEST_DATABASE)."""
    return bool(os.environ.get("LOGSTREAM_TEST_DATABASE"))


def database_url(data_dir):
    """The PostgreSQL URL of data_dir's database, or None (SQLite in data_dir)."""
    base = _pg_base_url()
    if not base:
        return None
    marker = os.path.join(data_dir, "lstest-database-url")
    if os.path.exists(marker):
        with open(marker) as f:
            return f.read().strip()
    name = "lstest_%d_%d" % (os.getpid(), len(_DATABASES) + 1)
    _psql(base, "CREATE DATABASE " + name)
    _DATABASES.append((base, name))
    head, _, query = base.partition("?")
    url = head.rsplit("/", 1)[0] + "/" + name + ("?" + query if query else "")
    os.makedirs(data_dir, exist_ok=True)
    with open(marker, "w") as f:
        f.write(url + "\n")
    return url


def database_args(data_dir):
    """["--database", URL] for a server on data_dir, or [] for SQLite."""
    url = database_url(data_dir)
    return ["--database", url] if url else []


def _drop_databases():
    for base, name in _DATABASES:
        try:
            _psql(base, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        except Exception:  # noqa: BLE001 - the cluster may be gone already
            pass


atexit.register(_drop_databases)


class StoreWriteLock:
    """Holds the write lock of the store of a server on data_dir, so that its
    flusher cannot store (SQLite: BEGIN IMMEDIATE; PostgreSQL: an exclusive
    lock on the steps table, whose rows an append locks) until release()."""

    def __init__(self, data_dir):
        self.url = database_url(data_dir)
        if not self.url:
            import sqlite3
            self.db = sqlite3.connect(os.path.join(data_dir, "logstream.db"), timeout=30,
                                      isolation_level=None)
            self.db.execute("BEGIN IMMEDIATE")
            return
        self.p = subprocess.Popen(["psql", "-X", "-q", "-d", self.url], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, text=True)
        self.p.stdin.write("BEGIN;\nLOCK TABLE steps IN EXCLUSIVE MODE;\n")
        self.p.stdin.flush()
        deadline = time.monotonic() + 30
        while _psql(self.url, "SELECT COUNT(*) FROM pg_locks WHERE relation = 'steps'::regclass "
                              "AND mode = 'ExclusiveLock' AND granted") != "1":
            if time.monotonic() > deadline:
                raise AssertionError("could not lock the steps table")
            time.sleep(0.05)

    def release(self):
        if not self.url:
            self.db.execute("ROLLBACK")
            self.db.close()
            return
        self.p.stdin.write("ROLLBACK;\n")
        self.p.stdin.close()
        self.p.wait(30)


class Server:
    """`logstream server` on 127.0.0.1:0 with its own data directory. The
    admin token goes to DATA/admin.token at first start; tokens holds it
    and a worker and a read token made with it."""

    def __init__(self, data_dir, extra_args=(), env=None, listen="127.0.0.1:0"):
        self.data_dir = data_dir
        self.admin_token_file = os.path.join(data_dir, "admin.token")
        args = [binary(), "server", "--listen", listen, "--data", data_dir]
        if "--database" not in extra_args:
            args += database_args(data_dir)
        if "--admin-token-file" not in extra_args:
            args += ["--admin-token-file", self.admin_token_file]
        self.proc = Proc(args + list(extra_args), env=env, name="server")
        got = self.proc.out.wait_for(r"listening on https?://", START_TIMEOUT)
        if not got:
            self.proc.stop()
            raise AssertionError("server did not print its URL:\n" + self.proc.describe())
        self.url = re.search(r"(https?://\S+)", got[1]).group(1).rstrip("/")
        u = urllib.parse.urlsplit(self.url)
        self.host, self.port = u.hostname, u.port
        self.tokens = {}
        if self.url.startswith("http://") and os.path.exists(self.admin_token_file):
            with open(self.admin_token_file) as f:
                admin = f.read().strip()
            known = TOKENS.get(self.url, {})
            if known.get("admin") == admin:
                self.tokens = known  # a restart on the same data: the tokens are still valid
            else:
                TOKENS[self.url] = {"admin": admin}
                self.tokens = TOKENS[self.url]
                self.tokens["worker"] = make_token(self.url, "worker", "lstest worker")
                self.tokens["read"] = make_token(self.url, "read", "lstest reader")

    def stop(self):
        return self.proc.stop()


class Worker:
    """`logstream run PIPELINE --server URL` with the server's worker token in
    LOGSTREAM_TOKEN (unless env sets it); reads its "build ID URL" line."""

    def __init__(self, pipeline, server_url, extra_args=(), env=None):
        env = dict(env or {})
        if "LOGSTREAM_TOKEN" not in env and tokens_for(server_url).get("worker"):
            env["LOGSTREAM_TOKEN"] = tokens_for(server_url)["worker"]
        self.proc = Proc([binary(), "run", pipeline, "--server", server_url] + list(extra_args),
                         env=env, name="run")
        got = self.proc.out.wait_for(r"^build \d+ ", START_TIMEOUT)
        if not got:
            self.proc.stop()
            raise AssertionError("worker did not print 'build ID URL':\n" + self.proc.describe())
        parts = got[1].split()
        self.build_id = int(parts[1])
        self.build_url = parts[2] if len(parts) > 2 else None

    def wait(self, timeout=EXIT_TIMEOUT):
        return self.proc.wait(timeout)


# ---- NATS (several server instances) -------------------------------------------


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """Debian's nginx in the foreground, with a generated config in its own
    directory, listening on a free loopback port (self.port, self.url).
    http_body is the text inside `http { }` after the common settings: the
    test's upstream and server blocks, with {port} where the server listens
    (a str.format template: double the other braces)."""

    def __init__(self, dir, http_body, connections=256, start_timeout=20.0):
        self.dir = dir
        os.makedirs(os.path.join(dir, "logs"), exist_ok=True)
        self.port = free_port()
        user = "user root;\n" if os.geteuid() == 0 else ""
        conf = ("{user}daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\n"
                "error_log {d}/logs/error.log info;\n"
                "events {{ worker_connections {conns}; }}\n"
                "http {{\n    access_log {d}/logs/access.log;\n"
                "    client_body_temp_path {d}/body;\n    proxy_temp_path {d}/proxy;\n"
                "    fastcgi_temp_path {d}/fastcgi;\n    uwsgi_temp_path {d}/uwsgi;\n"
                "    scgi_temp_path {d}/scgi;\n").format(user=user, d=dir, conns=connections)
        conf += http_body.format(port=self.port) + "}\n"
        self.conf = os.path.join(dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.p = subprocess.Popen(["nginx", "-p", dir, "-c", self.conf, "-e",
                                   os.path.join(dir, "logs", "error.log")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  start_new_session=True)
        self.url = "http://127.0.0.1:%d" % self.port
        deadline = time.monotonic() + start_timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.p.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("nginx did not start: %s\n%s" % (
                        self.p.stderr.read().decode("utf-8", "replace") if self.p.poll() is not None
                        else "timeout", self.error_log()))
                time.sleep(0.1)

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "logs", "error.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.p.stderr.close()


class NatsServer:
    """Debian's `nats-server` on 127.0.0.1 with a free port and its own temp
    dir. stop() and start() again keep the port (an outage, then recovery:
    clients reconnect to the same URL). Stopped at exit.

        nats = lstest.NatsServer()        # started
        srv = self.start_server(["--nats", nats.url])
        nats.stop(); ...; nats.start()
    """

    BINARY = "/usr/sbin/nats-server"

    def __init__(self, port=None, start=True):
        if not os.access(self.BINARY, os.X_OK):
            raise unittest.SkipTest("nats-server is not installed (scripts/install-deps.sh)")
        self.port = port or free_port()
        self.url = "nats://127.0.0.1:%d" % self.port
        self.dir = tempfile.mkdtemp(prefix="lsnats-")
        self.proc = None
        atexit.register(self.close)
        if start:
            self.start()

    def start(self):
        """Starts the server (no-op if running); waits until it accepts connections."""
        if self.proc and self.proc.p.poll() is None:
            return
        args = [self.BINARY, "-a", "127.0.0.1", "-p", str(self.port),
                "-l", os.path.join(self.dir, "nats.log")]
        self.proc = Proc(args, cwd=self.dir, name="nats-server")
        import socket
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(4).startswith(b"INFO"):
                        return
            except OSError:
                pass
            if self.proc.p.poll() is not None or time.monotonic() > deadline:
                log = ""
                try:
                    with open(os.path.join(self.dir, "nats.log")) as f:
                        log = f.read()
                except OSError:
                    pass
                self.proc.stop()
                raise AssertionError("nats-server did not start on port %d:\n%s\n%s"
                                     % (self.port, self.proc.describe(), log))
            time.sleep(0.05)

    def stop(self):
        """Stops the server (SIGTERM, then SIGKILL); the port stays reserved by value."""
        if self.proc:
            self.proc.stop()

    def running(self):
        return bool(self.proc) and self.proc.p.poll() is None

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# ---- HTTP --------------------------------------------------------------------


class HttpAnswer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def text(self):
        return self.body.decode("utf-8", "replace")


def request(method, url, body=None, headers=None, timeout=30.0, token=DEFAULT, context=None):
    """One request; returns HttpAnswer for every status (no exception on 4xx/5xx).
    Sends the server's token for it (see token_for) unless token is given
    (None = no token) or headers has Authorization."""
    data = body
    hdrs = dict(headers or {})
    if "Authorization" not in hdrs:
        hdrs.update(auth_header(url, method, token))
    if isinstance(body, (dict, list)):
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return HttpAnswer(r.status, dict(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return HttpAnswer(e.code, dict(e.headers), e.read())


def get_json(url, timeout=30.0, token=DEFAULT):
    a = request("GET", url, timeout=timeout, token=token)
    if a.status != 200:
        raise AssertionError("GET %s -> %d %s" % (url, a.status, a.text()))
    return a.json()


def wait_build_final(server_url, build_id, timeout=EXIT_TIMEOUT):
    """Polls GET /api/v1/builds/ID until its status is final; returns the build."""
    deadline = time.monotonic() + timeout
    while True:
        b = get_json("%s/api/v1/builds/%d" % (server_url, build_id))
        if b["status"] not in ("pending", "running"):
            return b
        if time.monotonic() > deadline:
            raise AssertionError("build %d still %s after %ss" % (build_id, b["status"], timeout))
        time.sleep(0.1)


# ---- Server-Sent Events ------------------------------------------------------


class SSEEvent:
    def __init__(self, type_, data, id_, t):
        self.type = type_
        self.data = data
        self.id = id_
        self.time = t  # time.monotonic() when the event was complete

    def lines(self):
        """For 'lines' events: the NDJSON line objects."""
        return [json.loads(s) for s in self.data.split("\n") if s]

    def __repr__(self):
        return "SSEEvent(%r, id=%r, %r)" % (self.type, self.id, self.data[:200])


class SSEReader:
    """Reads one SSE response in a thread (http.client, so the stream is
    consumed as it arrives), queueing events with their arrival times."""

    def __init__(self, url, last_event_id=None, timeout=60.0, token=DEFAULT):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        path = u.path + ("?" + u.query if u.query else "")
        headers = {"Accept": "text/event-stream"}
        headers.update(auth_header(url, "GET", token))
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        self.conn.request("GET", path, headers=headers)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.content_type = self.resp.getheader("Content-Type", "")
        self.events = queue.Queue()
        self.comments = []
        self.closed = threading.Event()
        self.error = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        if self.status == 200:
            self._thread.start()
        else:
            self.body = self.resp.read()
            self.closed.set()

    def _run(self):
        etype, data, eid = "", [], None
        try:
            while True:
                raw = self.resp.fp.readline()
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                if line == "":
                    if data:
                        self.events.put(SSEEvent(etype or "message", "\n".join(data), eid,
                                                 time.monotonic()))
                    etype, data = "", []
                elif line.startswith(":"):
                    self.comments.append(line[1:])
                else:
                    field, _, value = line.partition(":")
                    if value.startswith(" "):
                        value = value[1:]
                    if field == "event":
                        etype = value
                    elif field == "data":
                        data.append(value)
                    elif field == "id":
                        eid = value
        except Exception as e:  # noqa: BLE001 - reported to the test
            self.error = e
        finally:
            self.closed.set()
            self.events.put(None)

    def next(self, timeout):
        """The next event, or None at end of stream; raises queue.Empty on timeout."""
        return self.events.get(timeout=timeout)

    def read_until_end(self, timeout):
        """Events until 'end' (inclusive) or end of stream; fails on timeout."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no 'end' event within %ss; got %r" % (timeout, out))
            try:
                ev = self.next(left)
            except queue.Empty:
                raise AssertionError("no 'end' event within %ss (the stream stayed open, %d "
                                     "events); last events: %r"
                                     % (timeout, len(out), out[-5:])) from None
            if ev is None:
                return out
            out.append(ev)
            if ev.type == "end":
                return out

    def close(self):
        try:
            self.resp.close()
        finally:
            self.conn.close()


def step_logs_url(server_url, build_id, step):
    return "%s/api/v1/builds/%d/steps/%d/logs" % (server_url, build_id, step)


# ---- test case base ------------------------------------------------------------


class TestCase(unittest.TestCase):
    """Gives each test a temp dir and cleans up the processes it started."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lstest-")
        self._procs = []

    def tearDown(self):
        for p in reversed(self._procs):
            p.stop()
        if self._outcome_ok():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            sys.stderr.write("kept %s for inspection\n" % self.tmp)
            for p in self._procs:
                sys.stderr.write(p.describe() + "\n")

    def _outcome_ok(self):
        outcome = getattr(self, "_outcome", None)
        if outcome is None:
            return True
        result = getattr(outcome, "result", None)
        if result is None:
            return True
        errs = [e for t, e in result.errors + result.failures if t is self]
        return not errs

    def start_server(self, extra_args=(), env=None):
        data = os.path.join(self.tmp, "data-%d" % len(self._procs))
        os.makedirs(data, exist_ok=True)
        srv = Server(data, extra_args, env)
        self._procs.append(srv.proc)
        return srv

    def start_peer_server(self, first, extra_args=(), env=None):
        """Another server instance on the same PostgreSQL database as the
        Server first (its own data dir and port), with first's tokens (they
        live in the database). Needs LOGSTREAM_TEST_DATABASE."""
        url = database_url(first.data_dir)
        if not url:
            raise unittest.SkipTest("several instances need PostgreSQL (LOGSTREAM_TEST_DATABASE)")
        data = os.path.join(self.tmp, "data-%d" % len(self._procs))
        os.makedirs(data, exist_ok=True)
        srv = Server(data, ["--database", url] + list(extra_args), env)
        self._procs.append(srv.proc)
        TOKENS[srv.url] = dict(first.tokens)
        srv.tokens = TOKENS[srv.url]
        return srv

    def run_worker(self, pipeline, server_url, extra_args=(), env=None):
        w = Worker(pipeline, server_url, extra_args, env)
        self._procs.append(w.proc)
        return w

    def start(self, args, env=None, cwd=None, name=None):
        """Starts `logstream ARGS...`. For `logs` and `run` LOGSTREAM_TOKEN is
        the read or worker token of the server named by --server (or of the
        last server started) unless env sets it."""
        env = dict(env or {})
        if args and args[0] in ("logs", "run") and "LOGSTREAM_TOKEN" not in env:
            url = None
            for i, a in enumerate(args):
                if a == "--server" and i + 1 < len(args):
                    url = args[i + 1]
                elif a.startswith("http://"):
                    url = url or a
            t = tokens_for(url) if url else (list(TOKENS.values())[-1] if TOKENS else {})
            tok = t.get("read" if args[0] == "logs" else "worker")
            if tok:
                env["LOGSTREAM_TOKEN"] = tok
        if args and args[0] == "server" and "--data" in args and "--database" not in args:
            args = list(args) + database_args(args[list(args).index("--data") + 1])
        p = Proc([binary()] + list(args), env=env, cwd=cwd, name=name)
        self._procs.append(p)
        return p

    def write_pipeline(self, text, name="pipeline.yml"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path


def main():
    """Parses --binary, then runs the unittest tests of the calling module."""
    global BINARY
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True, help="path to the logstream executable")
    args, rest = ap.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    if not os.access(BINARY, os.X_OK):
        sys.exit("not an executable: %s" % BINARY)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
