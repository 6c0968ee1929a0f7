#!/usr/bin/env python3
"""Integration test of `logstream server` against docs/api.md.

Starts the real binary on a free loopback port with a temporary data
directory and talks to it as a worker and a viewer would: raw sockets for
chunked ingest (so records can be split anywhere) and for Server-Sent
Events, http.client for the rest.

    python3 tests/integration/test_server_api.py --binary build/logstream
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import lstest

BINARY = None

# Tokens of each running server by port: {"admin", "worker", "read"}. Every
# request goes through the real auth path: GETs with the read token, writes
# with the worker token, the tokens API with the admin token.
AUTH = {}


def auth_line(port, scope):
    """The Authorization header line of a raw request ("" without tokens)."""
    tok = AUTH.get(port, {}).get(scope)
    return "Authorization: Bearer %s\r\n" % tok if tok else ""


class Server:
    """A running `logstream server` process."""

    def __init__(self, data_dir, extra=()):
        self.data_dir = data_dir
        token_file = os.path.join(data_dir, "admin.token")
        self.proc = subprocess.Popen(
            [BINARY, "server", "--listen", "127.0.0.1:0", "--data", data_dir,
             "--admin-token-file", token_file, *lstest.database_args(data_dir), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("logstream server listening on http://"):
            self.proc.kill()
            raise RuntimeError("server did not start: %r" % line)
        self.port = int(line.strip().rsplit(":", 1)[1])
        with open(token_file) as f:
            AUTH[self.port] = {"admin": f.read().strip()}
        for scope in ("worker", "read"):
            status, tok = self.json("POST", "/api/v1/tokens", {"scope": scope, "name": "test"})
            assert status == 201, (status, tok)
            AUTH[self.port][scope] = tok["token"]

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        return self.proc.returncode

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        headers = dict(headers or {})
        scope = ("admin" if path.startswith("/api/v1/tokens") else
                 "read" if method == "GET" else "worker")
        tok = AUTH.get(self.port, {}).get(scope)
        if tok and "Authorization" not in headers:
            headers["Authorization"] = "Bearer " + tok
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, resp.getheader("Content-Type") or "", data

    def json(self, method, path, body=None, headers=None):
        status, ctype, data = self.request(method, path, body, headers)
        return status, json.loads(data) if data else None

    def create_build(self, steps=("logs",)):
        status, build = self.json("POST", "/api/v1/builds", {
            "name": "it", "steps": [{"name": s, "kind": "step"} for s in steps]})
        assert status == 201, (status, build)
        return build["id"]


def records(first, last, prefix="line", stream="o"):
    return b"".join(b"%d\t%d\t%s\t%s %d\n" % (seq, 1700000000000 + seq, stream.encode(),
                                               prefix.encode(), seq)
                    for seq in range(first, last + 1))


def read_http_response(sock):
    """Reads one HTTP/1.1 response (Content-Length or chunked) from sock."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed before the response headers: %r" % buf)
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    body = rest
    if "content-length" in headers:
        n = int(headers["content-length"])
        while len(body) < n:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, headers, body[:n]
    reader = Dechunker()
    out = reader.feed(body)
    while not reader.done:
        chunk = sock.recv(65536)
        if not chunk:
            break
        out += reader.feed(chunk)
    return status, headers, out


def stream_post(port, path, pieces, content_type="application/x-logstream-records", pause=0.02):
    """POSTs the concatenation of pieces with chunked encoding, one chunk per
    piece (so records can be cut anywhere), and returns (status, json)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=15)
    head = ("POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" % path
            + auth_line(port, "worker"))
    if content_type:
        head += "Content-Type: %s\r\n" % content_type
    sock.sendall((head + "\r\n").encode())
    try:
        for piece in pieces:
            if piece:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                time.sleep(pause)
        sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    status, headers, body = read_http_response(sock)
    sock.close()
    return status, json.loads(body)


class Dechunker:
    def __init__(self):
        self.buf = b""
        self.done = False

    def feed(self, data):
        self.buf += data
        out = b""
        while True:
            if b"\r\n" not in self.buf:
                return out
            size_line, rest = self.buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self.done = True
                return out
            if len(rest) < size + 2:
                return out
            out += rest[:size]
            self.buf = rest[size + 2:]


class SSEClient:
    """A minimal EventSource over a raw socket."""

    def __init__(self, port, path, last_event_id=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        head = ("GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n" % path
                + auth_line(port, "read"))
        if last_event_id is not None:
            head += "Last-Event-ID: %s\r\n" % last_event_id
        self.sock.sendall((head + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("no SSE response headers")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split()[1])
        self.headers = head.decode()
        self.dechunk = Dechunker()
        self.text = self.dechunk.feed(rest).decode()
        self.closed = False
        self.comments = []

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            self.closed = True
            return
        self.text += self.dechunk.feed(chunk).decode()
        if self.dechunk.done:
            self.closed = True

    def next_event(self):
        """Returns (event, id, [data lines]) or None when the stream ended."""
        while True:
            while "\n\n" in self.text:
                block, self.text = self.text.split("\n\n", 1)
                ev = {"event": "message", "id": None, "data": []}
                for line in block.split("\n"):
                    if line.startswith(":"):
                        self.comments.append(line)
                        continue
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    if field == "data":
                        ev["data"].append(value)
                    elif field in ("event", "id"):
                        ev[field] = value
                if ev["data"]:
                    return ev
            if self.closed:
                return None
            self._fill()

    def close(self):
        self.sock.close()


class ServerAPITest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="logstream-it-")
        cls.srv = Server(os.path.join(cls.tmp, "data"), ["--sse-ping", "300ms"])

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, "server exit code %r" % rc

    def stream_path(self, build, step=1):
        return "/api/v1/builds/%d/steps/%d/stream" % (build, step)

    def logs_path(self, build, step=1, query=""):
        return "/api/v1/builds/%d/steps/%d/logs%s" % (build, step, query)

    def ndjson(self, path):
        status, ctype, data = self.srv.request("GET", path)
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("application/x-ndjson"), ctype)
        return [json.loads(l) for l in data.decode().splitlines()]

    def test_healthz(self):
        self.assertEqual(self.srv.json("GET", "/healthz"), (200, {"status": "ok"}))

    def test_build_object_and_errors(self):
        status, b = self.srv.json("POST", "/api/v1/builds", {
            "name": "hello", "steps": [{"name": "logs", "kind": "step"},
                                       {"name": "db", "kind": "service"}]})
        self.assertEqual(status, 201)
        self.assertEqual([s["kind"] for s in b["steps"]], ["step", "service"])
        self.assertEqual([s["number"] for s in b["steps"]], [1, 2])
        self.assertEqual(b["status"], "pending")
        self.assertTrue(b["url"].endswith("/builds/%d" % b["id"]))
        self.assertEqual(self.srv.json("GET", "/api/v1/builds/%d" % b["id"])[1]["name"], "hello")
        status, lst = self.srv.json("GET", "/api/v1/builds?limit=1")
        self.assertEqual(status, 200)
        self.assertEqual(len(lst["builds"]), 1)
        self.assertNotIn("steps", lst["builds"][0])
        status, err = self.srv.json("PATCH", "/api/v1/builds/%d" % b["id"], {"status": "running"})
        self.assertEqual((status, err["status"]), (200, "running"))
        self.assertIsNotNone(err["started_ms"])
        status, err = self.srv.json("PATCH", "/api/v1/builds/%d" % b["id"], {"status": "success"})
        self.assertEqual(status, 200)
        status, err = self.srv.json("PATCH", "/api/v1/builds/%d" % b["id"], {"status": "running"})
        self.assertEqual((status, err["code"]), (409, "status_final"))
        status, err = self.srv.json("POST", "/api/v1/builds", {"steps": []})
        self.assertEqual((status, err["code"]), (400, "bad_build"))
        status, _, data = self.srv.request("POST", "/api/v1/builds", "{not json")
        self.assertEqual((status, json.loads(data)["code"]), (400, "bad_json"))

    def test_unknown_and_bad_paths(self):
        status, err = self.srv.json("GET", "/api/v1/builds/999999")
        self.assertEqual((status, err["code"]), (404, "not_found"))
        self.assertIn("error", err)
        status, err = stream_post(self.srv.port, self.stream_path(999999), [records(1, 1)])
        self.assertEqual((status, err["code"]), (404, "not_found"))
        for bad in ("/api/v1/builds/abc", "/api/v1/builds/01", "/api/v1/builds/1/steps/-1/logs",
                    "/api/v1/builds/99999999999999999999999"):
            status, err = self.srv.json("GET", bad)
            self.assertEqual((status, err["code"]), (400, "bad_path"), bad)
        status, err = self.srv.json("GET", "/api/v1/nothing")
        self.assertEqual(status, 404)
        status, err = self.srv.json("DELETE", "/api/v1/builds")
        self.assertEqual((status, err["code"]), (405, "method_not_allowed"))
        build = self.srv.create_build()
        status, err = self.srv.json("GET", self.logs_path(build, 7))
        self.assertEqual((status, err["code"]), (404, "not_found"))

    def test_chunked_ingest_split_mid_record_and_reads(self):
        build = self.srv.create_build()
        body = records(1, 50)
        cuts = [0, 7, 8, 9, 333, 334, 900, len(body)]
        pieces = [body[a:b] for a, b in zip(cuts, cuts[1:])]
        status, res = stream_post(self.srv.port, self.stream_path(build), pieces)
        self.assertEqual(status, 200, res)
        text_bytes = sum(len(b"line %d" % i) for i in range(1, 51))
        self.assertEqual(res, {"durable_seq": 50, "bytes": text_bytes, "accepted": 50,
                               "duplicates": 0})
        status, st = self.srv.json("GET", self.stream_path(build))
        self.assertEqual(st, {"durable_seq": 50, "received_seq": 50, "bytes": text_bytes})
        status, ctype, raw = self.srv.request("GET", self.logs_path(build))
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain"))
        self.assertEqual(raw.decode(), "".join("line %d\n" % i for i in range(1, 51)))
        lines = self.ndjson(self.logs_path(build, query="?since=10&limit=5"))
        self.assertEqual([l["seq"] for l in lines], [11, 12, 13, 14, 15])
        self.assertEqual(lines[0], {"seq": 11, "ts": 1700000000011, "stream": "o",
                                    "text": "line 11"})
        self.assertEqual([l["seq"] for l in self.ndjson(self.logs_path(build, query="?tail=3"))],
                         [48, 49, 50])
        self.assertEqual(self.ndjson(self.logs_path(build, query="?since=50")), [])
        self.assertEqual(len(self.ndjson(self.logs_path(build, query="?since=0"))), 50)
        status, err = self.srv.json("GET", self.logs_path(build, query="?since=x"))
        self.assertEqual((status, err["code"]), (400, "bad_query"))
        status, err = self.srv.json("GET", self.logs_path(build, query="?tail=2&since=1"))
        self.assertEqual(status, 400)
        status, b = self.srv.json("GET", "/api/v1/builds/%d" % build)
        self.assertEqual((b["steps"][0]["lines"], b["steps"][0]["bytes"]), (50, text_bytes))

    def test_duplicates_ignored_and_heartbeat(self):
        build = self.srv.create_build()
        status, res = stream_post(self.srv.port, self.stream_path(build), [records(1, 10)])
        self.assertEqual(res["durable_seq"], 10)
        hb = b"0\t1700000000000\th\t\n"
        status, res = stream_post(self.srv.port, self.stream_path(build),
                                  [hb, records(1, 12), hb])
        self.assertEqual(status, 200, res)
        self.assertEqual((res["durable_seq"], res["accepted"], res["duplicates"]), (12, 2, 10))
        self.assertEqual(len(self.ndjson(self.logs_path(build, query="?since=0"))), 12)

    def test_gap_is_409(self):
        build = self.srv.create_build()
        stream_post(self.srv.port, self.stream_path(build), [records(1, 3)])
        status, err = stream_post(self.srv.port, self.stream_path(build),
                                  [records(4, 5) + records(9, 9) + records(10, 10)])
        self.assertEqual(status, 409, err)
        self.assertEqual((err["code"], err["expected"], err["record"]), ("seq_gap", 6, 3))
        status, st = self.srv.json("GET", self.stream_path(build))
        self.assertEqual(st["received_seq"], 5)  # records before the gap are kept

    def test_malformed_record_is_400_and_earlier_lines_kept(self):
        build = self.srv.create_build()
        body = records(1, 4) + b"5\tnot-a-time\to\tbad\n" + records(6, 7)
        status, err = stream_post(self.srv.port, self.stream_path(build), [body[:30], body[30:]])
        self.assertEqual(status, 400, err)
        self.assertEqual((err["code"], err["record"]), ("bad_record", 5))
        self.assertIn("timestamp", err["error"])
        deadline = time.time() + 5
        while time.time() < deadline:
            status, st = self.srv.json("GET", self.stream_path(build))
            if st["durable_seq"] == 4:
                break
            time.sleep(0.05)
        self.assertEqual(st["durable_seq"], 4)
        self.assertEqual([l["text"] for l in self.ndjson(self.logs_path(build, query="?since=0"))],
                         ["line %d" % i for i in range(1, 5)])
        status, err = stream_post(self.srv.port, self.stream_path(build),
                                  [b"5\t1\tx\tbad stream\n"])
        self.assertEqual((status, err["code"], err["record"]), (400, "bad_record", 1))

    def test_oversize_line_is_413(self):
        build = self.srv.create_build()
        big = b"1\t1\to\t" + b"x" * (64 * 1024 + 1) + b"\n"
        status, err = stream_post(self.srv.port, self.stream_path(build),
                                  [big[:1000], big[1000:]])
        self.assertEqual((status, err["code"]), (413, "line_too_long"))
        exact = b"1\t1\to\t" + b"y" * (64 * 1024) + b"\n"
        status, res = stream_post(self.srv.port, self.stream_path(build), [exact])
        self.assertEqual((status, res["durable_seq"]), (200, 1))

    def test_wrong_content_type_is_415(self):
        build = self.srv.create_build()
        status, err = stream_post(self.srv.port, self.stream_path(build), [records(1, 1)],
                                  content_type="application/json")
        self.assertEqual((status, err["code"]), (415, "unsupported_media_type"))

    def test_text_plain_raw_mode(self):
        build = self.srv.create_build()
        status, res = stream_post(self.srv.port, self.stream_path(build),
                                  [b"first li", b"ne\nsecond\r\n", b"no newline at end"],
                                  content_type="text/plain; charset=utf-8")
        self.assertEqual(status, 200, res)
        self.assertEqual(res["durable_seq"], 3)
        status, res = stream_post(self.srv.port, self.stream_path(build), [b"more\n"],
                                  content_type="text/plain")
        self.assertEqual(res["durable_seq"], 4)
        lines = self.ndjson(self.logs_path(build, query="?since=0"))
        self.assertEqual([l["text"] for l in lines],
                         ["first line", "second\r", "no newline at end", "more"])
        now_ms = time.time() * 1000
        self.assertTrue(all(abs(l["ts"] - now_ms) < 60000 for l in lines))

    def test_invalid_utf8_replaced(self):
        build = self.srv.create_build()
        stream_post(self.srv.port, self.stream_path(build),
                    [b"1\t1\to\tok \xff\xfe \xc3\xa9 \"q\" \\ \t tab\n"])
        line = self.ndjson(self.logs_path(build, query="?since=0"))[0]
        self.assertEqual(line["text"], "ok \ufffd\ufffd \u00e9 \"q\" \\ \t tab")

    def test_sse_live_resume_and_end(self):
        build = self.srv.create_build()
        stream_post(self.srv.port, self.stream_path(build), [records(1, 20)])
        # history from Last-Event-ID, then live lines
        sse = SSEClient(self.srv.port, self.logs_path(build), last_event_id="5")
        self.assertEqual(sse.status, 200)
        self.assertIn("text/event-stream", sse.headers)
        seen = []
        while len(seen) < 15:
            ev = sse.next_event()
            self.assertEqual(ev["event"], "lines")
            batch = [json.loads(d)["seq"] for d in ev["data"]]
            self.assertEqual(int(ev["id"]), batch[-1])
            seen += batch
        self.assertEqual(seen, list(range(6, 21)))
        # a live line arrives within milliseconds
        t0 = time.monotonic()
        stream_post(self.srv.port, self.stream_path(build), [records(21, 21)], pause=0)
        ev = sse.next_event()
        self.assertEqual([json.loads(d)["seq"] for d in ev["data"]], [21])
        self.assertLess(time.monotonic() - t0, 2.0)
        # pings while idle
        time.sleep(0.8)
        stream_post(self.srv.port, self.stream_path(build), [records(22, 30)])
        got = []
        while not got or got[-1] < 30:
            got += [json.loads(d)["seq"] for d in sse.next_event()["data"]]
        self.assertEqual(got, list(range(22, 31)))
        self.assertTrue(any(c.startswith(": ping") for c in sse.comments), sse.comments)
        sse.close()
        # resume after a drop: exactly the rest, no gap, no duplicate
        stream_post(self.srv.port, self.stream_path(build), [records(31, 40)])
        sse2 = SSEClient(self.srv.port, self.logs_path(build), last_event_id="30")
        status, step = self.srv.json("PATCH", "/api/v1/builds/%d/steps/1" % build,
                                     {"status": "failure", "exit_code": 3})
        self.assertEqual((status, step["status"], step["exit_code"]), (200, "failure", 3))
        got = []
        while True:
            ev = sse2.next_event()
            self.assertIsNotNone(ev, "stream closed without an end event")
            if ev["event"] == "end":
                self.assertEqual(json.loads(ev["data"][0]),
                                 {"status": "failure", "exit_code": 3, "lines": 40})
                break
            got += [json.loads(d)["seq"] for d in ev["data"]]
        self.assertEqual(got, list(range(31, 41)))
        self.assertIsNone(sse2.next_event())  # the server closed the stream
        sse2.close()
        # a finished step: history then end, from ?since
        sse3 = SSEClient(self.srv.port, self.logs_path(build, query="?since=38"))
        ev = sse3.next_event()
        self.assertEqual([json.loads(d)["seq"] for d in ev["data"]], [39, 40])
        self.assertEqual(sse3.next_event()["event"], "end")
        sse3.close()
        status, err = self.srv.json("PATCH", "/api/v1/builds/%d/steps/1" % build,
                                    {"status": "running"})
        self.assertEqual(status, 409)

    def test_build_events(self):
        build = self.srv.create_build(("a", "b"))
        sse = SSEClient(self.srv.port, "/api/v1/builds/%d/events" % build)
        ev = sse.next_event()
        self.assertEqual(ev["event"], "build")
        self.assertEqual(len(json.loads(ev["data"][0])["steps"]), 2)
        self.srv.json("PATCH", "/api/v1/builds/%d" % build, {"status": "running"})
        self.srv.json("PATCH", "/api/v1/builds/%d/steps/2" % build, {"status": "running"})
        self.srv.json("PATCH", "/api/v1/builds/%d" % build, {"status": "success"})
        evs = []
        while True:
            ev = sse.next_event()
            if ev is None:
                break
            evs.append((ev["event"], json.loads(ev["data"][0]).get("status")))
        sse.close()
        self.assertEqual(evs, [("build", "running"), ("step", "running"), ("build", "success"),
                               ("end", None)])

    def test_metrics(self):
        build = self.srv.create_build()
        stream_post(self.srv.port, self.stream_path(build), [records(1, 3)])
        stream_post(self.srv.port, self.stream_path(build), [records(7, 7)])
        status, ctype, data = self.srv.request("GET", "/metrics")
        self.assertEqual(status, 200)
        text = data.decode()
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        self.assertGreaterEqual(values["logstream_lines_ingested_total"], 3)
        self.assertGreaterEqual(values["logstream_bytes_ingested_total"], 18)
        self.assertGreaterEqual(values['logstream_ingest_rejected_total{code="seq_gap"}'], 1)
        self.assertGreaterEqual(values["logstream_flush_seconds_count"], 1)
        self.assertEqual(values['logstream_flush_seconds_bucket{le="+Inf"}'],
                         values["logstream_flush_seconds_count"])
        for name in ("logstream_active_streams", "logstream_sse_clients",
                     "logstream_sse_disconnected_slow_total"):
            self.assertIn(name, values)
        self.assertIn("# TYPE logstream_flush_seconds histogram", text)


class LimitsTest(unittest.TestCase):
    """Slow followers, backpressure and shutdown, on servers with small limits."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="logstream-it-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def metric(self, srv, name):
        status, _, data = srv.request("GET", "/metrics")
        for line in data.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        self.fail("no metric " + name)

    def test_slow_follower_is_disconnected_and_resumes(self):
        srv = Server(os.path.join(self.tmp, "data"), ["--sse-max-lag", "64KiB"])
        try:
            build = srv.create_build()
            sse = SSEClient(srv.port, "/api/v1/builds/%d/steps/1/logs" % build)
            total = 200000
            body = records(1, total, prefix="x" * 60)
            step = len(body) // 40
            status, res = stream_post(srv.port, "/api/v1/builds/%d/steps/1/stream" % build,
                                      [body[i:i + step] for i in range(0, len(body), step)],
                                      pause=0)
            self.assertEqual((status, res["durable_seq"]), (200, total))
            seqs = []
            while True:  # the follower reads only now: it is far behind
                ev = sse.next_event()
                if ev is None:
                    break
                seqs += [json.loads(d)["seq"] for d in ev["data"]]
            sse.close()
            self.assertLess(len(seqs), total)  # closed early, without an end event
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
            self.assertGreaterEqual(self.metric(srv, "logstream_sse_disconnected_slow_total"), 1)
            last = seqs[-1] if seqs else 0
            sse = SSEClient(srv.port, "/api/v1/builds/%d/steps/1/logs" % build,
                            last_event_id=str(last))
            srv.json("PATCH", "/api/v1/builds/%d/steps/1" % build, {"status": "success"})
            rest = []
            while True:
                ev = sse.next_event()
                if ev is None or ev["event"] == "end":
                    break
                rest += [json.loads(d)["seq"] for d in ev["data"]]
            sse.close()
            self.assertEqual(rest, list(range(last + 1, total + 1)))
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_backpressure_pauses_ingest_without_loss(self):
        data = os.path.join(self.tmp, "data")
        srv = Server(data, ["--max-pending", "64KiB", "--flush-interval", "50ms"])
        try:
            build = srv.create_build()
            # Hold the database's write lock so the flusher cannot store:
            # pending bytes pile up to --max-pending and ingest must pause.
            db = lstest.StoreWriteLock(data)
            total = 20000
            body = records(1, total)
            pieces = [body[i:i + 16384] for i in range(0, len(body), 16384)]
            result = {}

            def post():
                result["r"] = stream_post(srv.port, "/api/v1/builds/%d/steps/1/stream" % build,
                                          pieces, pause=0)
            t = threading.Thread(target=post)
            t.start()
            deadline = time.time() + 10
            while (self.metric(srv, "logstream_backpressure_waits_total") < 1 and
                   time.time() < deadline):
                time.sleep(0.05)
            self.assertGreaterEqual(self.metric(srv, "logstream_backpressure_waits_total"), 1)
            pending = self.metric(srv, "logstream_pending_bytes")
            self.assertGreater(pending, 64 * 1024)
            self.assertLess(pending, 64 * 1024 + 512 * 1024)  # bounded: one read beyond the limit
            self.assertTrue(t.is_alive())  # the upload is held back, not answered
            db.release()
            t.join(30)
            status, res = result["r"]
            self.assertEqual((status, res["durable_seq"], res["accepted"]), (200, total, total))
            status, ctype, raw = srv.request("GET", "/api/v1/builds/%d/steps/1/logs" % build)
            self.assertEqual(raw.decode().count("\n"), total)
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_sigterm_with_open_streams_stores_what_was_received(self):
        data = os.path.join(self.tmp, "data")
        srv = Server(data)
        build = srv.create_build()
        sse = SSEClient(srv.port, "/api/v1/builds/%d/steps/1/logs" % build)
        up = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        up.sendall(b"POST /api/v1/builds/%d/steps/1/stream HTTP/1.1\r\nHost: x\r\n"
                   b"Transfer-Encoding: chunked\r\n%s\r\n"
                   % (build, auth_line(srv.port, "worker").encode()))
        body = records(1, 30)
        up.sendall(b"%x\r\n%s\r\n" % (len(body), body))
        got = []
        while len(got) < 30:
            got += [json.loads(d)["seq"] for d in sse.next_event()["data"]]
        t0 = time.monotonic()
        self.assertEqual(srv.stop(), 0)
        self.assertLess(time.monotonic() - t0, 10)
        while sse.next_event() is not None:
            pass
        sse.close()
        up.close()
        srv = Server(data)
        try:
            status, st = srv.json("GET", "/api/v1/builds/%d/steps/1/stream" % build)
            self.assertEqual(st["durable_seq"], 30)
        finally:
            self.assertEqual(srv.stop(), 0)


class RestartTest(unittest.TestCase):
    def test_durable_seq_survives_kill_9(self):
        tmp = tempfile.mkdtemp(prefix="logstream-it-")
        try:
            srv = Server(os.path.join(tmp, "data"))
            build = srv.create_build()
            path = "/api/v1/builds/%d/steps/1/stream" % build
            status, res = stream_post(srv.port, path, [records(1, 100)])
            self.assertEqual(res["durable_seq"], 100)
            srv.stop(signal.SIGKILL)
            self.assertEqual(srv.proc.returncode, -signal.SIGKILL)
            srv = Server(os.path.join(tmp, "data"))
            status, st = srv.json("GET", path)
            self.assertEqual((st["durable_seq"], st["received_seq"]), (100, 100))
            status, res = stream_post(srv.port, path, [records(95, 110)])
            self.assertEqual((res["durable_seq"], res["accepted"], res["duplicates"]),
                             (110, 10, 6))
            self.assertEqual(srv.stop(), 0)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args, rest = ap.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
