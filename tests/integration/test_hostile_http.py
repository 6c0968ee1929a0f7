#!/usr/bin/env python3
"""Hostile HTTP against the real server, over raw sockets (nothing normalises
the bytes on the way): huge headers, slowloris, invalid chunk sizes, non-UTF-8
and NUL bytes in paths, bodies and JSON, seq overflow, negative and huge
since/limit/tail, path traversal in every path parameter, bad methods,
oversized JSON.

Every case gets a clear 4xx: a JSON {"error", "code"} when the request reached
the API, or libmicrohttpd's own 4xx (or a closed connection) when HTTP itself
is broken (header too large, malformed chunk sizes, garbage instead of a
request line). Meanwhile a normal client polls the server the whole time and
must be served promptly, and after the table a worker-style upload and a read
still work.

A raw NUL byte inside the request line (libmicrohttpd 0.9.75): the path ends
at the NUL, and the server routes and authorizes that shorter path (both use
the same URL from libmicrohttpd), so "/api/v1/tokens\0/../builds" is the
tokens list and needs an admin token, "/api/v1/builds/B\0/../../tokens" is
build B. libmicrohttpd still takes a query string that follows the NUL
("...logs\0?since=abc" is checked, and refused, as ?since=abc). Neither grants
anything the token could not get with a plain request for the shorter path;
test_raw_nul_in_the_request_line pins each of these answers. %00 is kept
encoded and refused.

Run: python3 test_hostile_http.py --binary PATH_TO_logstream
"""

import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstest  # noqa: E402

IDLE_TIMEOUT_S = 2


def auth(url, method="GET"):
    f = getattr(lstest, "auth_header", None)
    return f(url, method) if f else {}


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "Answer(%s, %r)" % (self.status, self.body[:200])


def exchange(host, port, data, timeout=15.0, pieces=None):
    """Sends data (or the list pieces, with small pauses) on a new connection
    and reads one response. Returns an Answer, or None when the server closed
    (or reset) the connection without answering."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        try:
            for p in (pieces or [data]):
                s.sendall(p)
                if pieces:
                    time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered (or closed) before the whole request was sent: read what came
        buf = b""
        deadline = time.monotonic() + timeout
        while True:
            if b"\r\n\r\n" in buf:
                head, _, body = buf.partition(b"\r\n\r\n")
                m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
                if m and len(body) >= int(m.group(1)):
                    break
                if not m and re.search(rb"\r\ntransfer-encoding: *chunked", head, re.I) \
                        and body.endswith(b"0\r\n\r\n"):
                    break
            if time.monotonic() > deadline:
                raise AssertionError("no complete answer within %ss: %r" % (timeout, buf[:300]))
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    if not buf:
        return None
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        raise AssertionError("not an HTTP answer: %r" % buf[:300])
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode("latin-1")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        out, rest = b"", body
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size.split(b";")[0], 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return Answer(int(m.group(1)), headers, body)


class Poller:
    """A normal client: GET /healthz every 200 ms on a fresh connection,
    recording each status and latency."""

    def __init__(self, url):
        self.url = url + "/healthz"
        self.results = []  # (status or exception text, seconds)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            t0 = time.monotonic()
            try:
                st = lstest.request("GET", self.url, timeout=20).status
            except Exception as e:  # noqa: BLE001 - recorded, the test fails on it
                st = repr(e)
            self.results.append((st, time.monotonic() - t0))
            self._stop.wait(0.2)

    def stop(self):
        self._stop.set()
        self._t.join(30)
        return self.results


class HostileHttp(lstest.TestCase):

    def setUp(self):
        super().setUp()
        self.srv = self.start_server(["--idle-timeout", "%ds" % IDLE_TIMEOUT_S,
                                      "--max-json", "64KiB", "--connection-memory", "64KiB",
                                      "--max-line", "4KiB"])
        b = lstest.request("POST", self.srv.url + "/api/v1/builds",
                           {"name": "hostile", "steps": [{"name": "s", "kind": "step"}]})
        self.assertEqual(b.status, 201, b.body)
        self.build = b.json()["id"]
        self.poller = Poller(self.srv.url)

    def tearDown(self):
        if getattr(self, "poller", None):
            self.poller.stop()
        super().tearDown()

    def hdrs(self, method, path):
        h = auth(self.srv.url + path, method)
        return "".join("%s: %s\r\n" % kv for kv in h.items()).encode()

    def req(self, method, path, headers=b"", body=b"", auth_path=None):
        """A raw request (bytes) with the test's token for auth_path/method."""
        if isinstance(path, str):
            path = path.encode()
        ap = auth_path if auth_path is not None else path.decode("latin-1")
        return (method.encode() + b" " + path + b" HTTP/1.1\r\nHost: t\r\n"
                + self.hdrs(method if method in ("GET", "POST", "PATCH") else "POST", ap)
                + headers + (b"Content-Length: %d\r\n" % len(body) if body else b"")
                + b"\r\n" + body)

    def stream_req(self, chunked_body):
        path = "/api/v1/builds/%d/steps/1/stream" % self.build
        return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\n"
                + self.hdrs("POST", path)
                + b"Content-Type: application/x-logstream-records\r\n"
                + b"Transfer-Encoding: chunked\r\n\r\n" + chunked_body)

    def records(self, body):
        """A records upload with a Content-Length body."""
        path = "/api/v1/builds/%d/steps/1/stream" % self.build
        return self.req("POST", path, b"Content-Type: application/x-logstream-records\r\n", body)

    # ---- the table ----

    def cases(self):
        b = self.build
        logs = "/api/v1/builds/%d/steps/1/logs" % b
        big = b"a" * (1024 * 1024)
        sse = b"Accept: text/event-stream\r\n"
        J, H = "json", "http"  # a JSON error from the API / HTTP broken: MHD's 4xx or a close
        return [
            # headers and request line
            ("huge header", self.req("GET", "/healthz", b"X-Big: " + big + b"\r\n"), H, {431}),
            ("20000 headers", self.req("GET", "/healthz", b"".join(
                b"X-H%d: v\r\n" % i for i in range(20000))), H, {431}),
            ("300 KB URL", self.req("GET", "/api/v1/builds/" + "1" * 300000), H, {414, 431}),
            ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", H, {400, 505}),
            ("TLS hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200, H,
             {400}),
            ("negative Content-Length", self.req("POST", "/api/v1/builds",
                                                 b"Content-Length: -1\r\n"), H, {400}),
            ("two Content-Lengths", self.req("POST", "/api/v1/builds",
                                             b"Content-Length: 2\r\nContent-Length: 9\r\n")
             + b"{}", H, {400, 413}),
            ("Content-Length and chunked", self.req(
                "POST", "/api/v1/builds", b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n")
             + b"0\r\n\r\n", J, {400}),
            # chunk sizes
            ("chunk size not hex", self.stream_req(b"zz\r\nabc\r\n0\r\n\r\n"), H, {400}),
            ("chunk size 2^80", self.stream_req(b"FFFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n"), H,
             {400, 413}),
            ("negative chunk size", self.stream_req(b"-5\r\nabc\r\n0\r\n\r\n"), H, {400}),
            ("chunk longer than said", self.stream_req(b"2\r\nabcdef\r\n0\r\n\r\n"), H, {400}),
            # methods
            ("unknown method", self.req("FOO", "/api/v1/builds"), J, {405}),
            ("lower-case method", self.req("get", "/healthz"), J, {405}),
            ("control byte in method", self.req("G\x01T", "/healthz"), J, {400, 405}),
            ("DELETE a build", self.req("DELETE", "/api/v1/builds/%d" % b), J, {405}),
            ("PUT a stream", self.req("PUT", "/api/v1/builds/%d/steps/1/stream" % b), J, {405}),
            ("TRACE", self.req("TRACE", "/"), J, {405}),
            # non-UTF-8 and NUL bytes in paths
            ("non-UTF-8 build id", self.req("GET", b"/api/v1/builds/\xff\xfe", auth_path="/x"),
             J, {400}),
            ("non-UTF-8 UI path", self.req("GET", b"/builds/\xff", auth_path="/x"), J, {404}),
            ("%00 in build id", self.req("GET", "/api/v1/builds/%d%%00/steps" % b), J, {400}),
            ("%00 in step", self.req("GET", "/api/v1/builds/%d/steps/1%%00/logs" % b), J, {400}),
            ("%00 in a query value", self.req("GET", logs + "?since=1%00"), J, {400}),
            ("raw NUL ends the path", self.req("GET", b"/api/v1/builds/999999\x00/steps/1/logs",
                                               auth_path="/api/v1/builds/999999"), J, {404}),
            ("raw NUL: the path before it is authorized",
             self.req("GET", b"/api/v1/tokens\x00/../builds", auth_path="/api/v1/builds"), J,
             {403}),
            ("raw NUL: the path before it is routed",
             self.req("POST", b"/api/v1/builds/%d\x00/steps/1/stream" % b,
                      auth_path="/api/v1/builds/%d/steps/1/stream" % b), J, {405}),
            ("raw NUL before a query", self.req("GET", logs.encode() + b"\x00?since=abc"), J,
             {400}),
            ("raw NUL first in the path", self.req("GET", b"\x00/api/v1/builds",
                                                   auth_path="/api/v1/builds"), J, {404}),
            # path traversal in every path parameter
            ("builds/../..", self.req("GET", "/api/v1/builds/../.."), J, {400}),
            ("builds/%2e%2e", self.req("GET", "/api/v1/builds/%2e%2e"), J, {400}),
            ("builds/%2e%2e%2f", self.req("GET", "/api/v1/builds/%2e%2e%2fetc%2fpasswd"), J,
             {400}),
            ("steps/1%2F..", self.req("GET", "/api/v1/builds/%d/steps/1%%2F.." % b), J, {404}),
            ("steps/..%2f..", self.req("GET", "/api/v1/builds/%d/steps/..%%2f../logs" % b), J,
             {400}),
            ("steps/%2e%2e", self.req("POST", "/api/v1/builds/%d/steps/%%2e%%2e/stream" % b), J,
             {400}),
            ("build/../build", self.req("GET", "/api/v1/builds/%d/../%d/steps/1/logs" % (b, b)), J,
             {404}),
            ("events/..", self.req("GET", "/api/v1/builds/%d/events/.." % b), J, {404}),
            ("logs/../../..", self.req("GET", logs + "/../../../../etc/passwd"), J, {404}),
            ("tokens/..%2f", self.req("GET", "/api/v1/tokens/..%2f..%2fetc%2fpasswd"), J,
             {400, 401, 403, 404}),
            ("static/..%2f", self.req("GET", "/static/..%2f..%2fetc%2fpasswd"), J, {404}),
            ("static/../", self.req("GET", "/static/../../etc/passwd"), J, {404}),
            ("builds/../ (UI)", self.req("GET", "/builds/../../etc/passwd"), J, {404}),
            ("double slash", self.req("GET", "//api/v1/builds"), J, {404}),
            ("backslashes", self.req("GET", "/api/v1/builds/%d\\..\\..\\etc" % b), J, {400}),
            # seq and numbers
            ("seq 2^64", self.records(b"18446744073709551616\t1\to\tx\n"), J, {400}),
            ("seq 2^63", self.records(b"9223372036854775808\t1\to\tx\n"), J, {400, 409}),
            ("seq 30 digits", self.records(b"1" * 30 + b"\t1\to\tx\n"), J, {400}),
            ("negative seq", self.records(b"-1\t1\to\tx\n"), J, {400}),
            ("ts 2^70", self.records(b"1\t1180591620717411303424\to\tx\n"), J, {400}),
            ("NUL in seq", self.records(b"1\x00\t1\to\tx\n"), J, {400}),
            ("non-UTF-8 stream", self.records(b"1\t1\t\xff\tx\n"), J, {400}),
            ("record over --max-line", self.records(b"1\t1\to\t" + b"y" * 8192 + b"\n"), J,
             {413}),
            ("since=-1", self.req("GET", logs + "?since=-1"), J, {400}),
            ("since=2^64", self.req("GET", logs + "?since=18446744073709551616"), J, {400}),
            ("since=abc", self.req("GET", logs + "?since=abc"), J, {400}),
            ("limit=0", self.req("GET", logs + "?limit=0"), J, {400}),
            ("limit=-5", self.req("GET", logs + "?limit=-5"), J, {400}),
            ("limit huge", self.req("GET", logs + "?limit=99999999999999999999999"), J, {400}),
            ("tail=-3", self.req("GET", logs + "?tail=-3"), J, {400}),
            ("tail=0", self.req("GET", logs + "?tail=0"), J, {400}),
            ("tail huge", self.req("GET", logs + "?tail=1e99"), J, {400}),
            ("tail with since", self.req("GET", logs + "?tail=5&since=1"), J, {400}),
            ("Last-Event-ID -1", self.req("GET", logs, sse + b"Last-Event-ID: -1\r\n"), J, {400}),
            ("Last-Event-ID huge", self.req("GET", logs, sse + b"Last-Event-ID: "
                                            + b"9" * 40 + b"\r\n"), J, {400}),
            ("SSE since=-1", self.req("GET", logs + "?since=-1", sse), J, {400}),
            ("builds limit=-1", self.req("GET", "/api/v1/builds?limit=-1"), J, {400}),
            ("builds before=2^64", self.req("GET", "/api/v1/builds?before=18446744073709551616"),
             J, {400}),
            ("build id 2^64", self.req("GET", "/api/v1/builds/18446744073709551616"), J, {400}),
            ("step 0", self.req("GET", "/api/v1/builds/%d/steps/0" % b), J, {400}),
            ("step 2^31", self.req("GET", "/api/v1/builds/%d/steps/2147483648" % b), J, {400}),
            # JSON bodies
            ("JSON over --max-json", self.req("POST", "/api/v1/builds",
                                              b"Content-Type: application/json\r\n",
                                              b'{"name":"' + b"n" * 200000 + b'"}'), J, {413}),
            ("non-UTF-8 JSON", self.req("POST", "/api/v1/builds",
                                        b"Content-Type: application/json\r\n",
                                        b'{"name":"\xff\xfe","steps":[]}'), J, {400}),
            ("NUL in JSON", self.req("POST", "/api/v1/builds", b"Content-Type: application/json\r\n",
                                     b'{"name":"a\\u0000b","steps":[]}'), J, {400}),
            ("raw NUL in JSON", self.req("POST", "/api/v1/builds",
                                         b"Content-Type: application/json\r\n",
                                         b'{"name":"a\x00b","steps":[]}'), J, {400}),
            ("JSON nested 20000 deep", self.req("POST", "/api/v1/builds",
                                                b"Content-Type: application/json\r\n",
                                                b"[" * 20000 + b"]" * 20000), J, {400}),
            ("JSON array", self.req("POST", "/api/v1/builds", b"Content-Type: application/json\r\n",
                                    b"[1,2]"), J, {400}),
            ("PATCH status NUL", self.req("PATCH", "/api/v1/builds/%d/steps/1" % b,
                                          b"Content-Type: application/json\r\n",
                                          b'{"status":"succ\\u0000ess"}'), J, {400}),
            ("PATCH exit code 2^70", self.req("PATCH", "/api/v1/builds/%d/steps/1" % b,
                                              b"Content-Type: application/json\r\n",
                                              b'{"exit_code":1180591620717411303424}'), J, {400}),
        ]

    def test_table_every_case_a_clear_4xx_while_others_are_served(self):
        failures = []
        for name, data, kind, codes in self.cases():
            try:
                a = exchange(self.srv.host, self.srv.port, data)
            except Exception as e:  # noqa: BLE001 - collected below
                failures.append("%s: %r" % (name, e))
                continue
            if a is None:
                if kind != "http":
                    failures.append("%s: connection closed without an answer" % name)
                continue
            if a.status not in codes:
                failures.append("%s: status %d, want %s: %r" % (name, a.status, sorted(codes),
                                                                 a.body[:200]))
                continue
            if kind == "json":
                try:
                    j = a.json()
                    ok = isinstance(j.get("error"), str) and j["error"] and \
                        isinstance(j.get("code"), str) and j["code"]
                except Exception:  # noqa: BLE001
                    ok = False
                if not ok:
                    failures.append("%s: not a JSON error: %r" % (name, a.body[:200]))
        self.assertEqual(failures, [], "\n".join(failures))
        self.assert_still_serving()

    def test_raw_nul_in_the_request_line(self):
        """The exact answers to a raw NUL in the request line: libmicrohttpd
        ends the path at the NUL; routing and authorization both see that
        shorter path, never the bytes after it."""
        b = self.build
        logs = "/api/v1/builds/%d/steps/1/logs" % b

        def ask(method, raw_path, auth_path):
            a = exchange(self.srv.host, self.srv.port,
                         self.req(method, raw_path, auth_path=auth_path))
            self.assertIsNotNone(a, "no answer to %r" % raw_path)
            return a

        # what follows the NUL is not part of the path: build b itself
        a = ask("GET", b"/api/v1/builds/%d\x00/../../tokens" % b, "/api/v1/builds/%d" % b)
        self.assertEqual(a.status, 200, a.body[:200])
        self.assertEqual(a.json()["id"], b)
        # the tokens list needs an admin token, whatever follows the NUL
        a = ask("GET", b"/api/v1/tokens\x00/../builds", "/api/v1/builds")
        self.assertEqual((a.status, a.json()["code"]), (403, "forbidden"))
        # a POST to what is a build, not a stream
        a = ask("POST", b"/api/v1/builds/%d\x00/steps/1/stream" % b,
                "/api/v1/builds/%d/steps/1/stream" % b)
        self.assertEqual((a.status, a.json()["code"]), (405, "method_not_allowed"))
        self.assertIn("/api/v1/builds/%d" % b, a.json()["error"])
        self.assertNotIn("stream", a.json()["error"])
        # a query after the NUL is still the query (and checked as one)
        a = ask("GET", logs.encode() + b"\x00?since=abc", logs)
        self.assertEqual((a.status, a.json()["code"]), (400, "bad_query"))
        # a NUL inside the query ends it: limit=abc is never seen
        a = ask("GET", logs.encode() + b"?since=0\x00&limit=abc", logs)
        self.assertEqual(a.status, 200, a.body[:200])
        # an empty path
        a = ask("GET", b"\x00/api/v1/builds", "/api/v1/builds")
        self.assertEqual((a.status, a.json()["code"]), (404, "not_found"))

    def test_records_with_nul_and_invalid_utf8_are_stored_and_read_safely(self):
        text = b"nul\x00here \xff\xfe bad \xc3( utf8 \x1b[31mred\x1b[0m"
        a = exchange(self.srv.host, self.srv.port, self.records(b"1\t5\to\t" + text + b"\n"))
        self.assertEqual(a.status, 200, a)
        self.assertEqual(a.json()["durable_seq"], 1)
        logs = lstest.step_logs_url(self.srv.url, self.build, 1)
        raw = lstest.request("GET", logs)
        self.assertEqual(raw.body, text + b"\n")
        nd = lstest.request("GET", logs + "?since=0")
        line = json.loads(nd.body.decode("utf-8"))  # valid UTF-8 JSON
        self.assertEqual(line["seq"], 1)
        self.assertIn("\ufffd", line["text"])
        self.assertIn("nul\u0000here", line["text"])

    def test_slowloris_and_idle_connections(self):
        host, port = self.srv.host, self.srv.port
        slow = []
        for _ in range(150):
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            slow.append(s)
        silent = socket.create_connection((host, port), timeout=10)
        silent.sendall(b"POST /api/v1/builds HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n{")
        # trickle one header line per connection every 0.5 s for 5 s; a normal
        # client must be served all along
        t_end = time.monotonic() + 5
        worst = 0.0
        while time.monotonic() < t_end:
            for s in slow:
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass
            t0 = time.monotonic()
            a = lstest.request("GET", self.srv.url + "/healthz", timeout=10)
            worst = max(worst, time.monotonic() - t0)
            self.assertEqual(a.status, 200)
            time.sleep(0.5)
        self.assertLess(worst, 2.0, "a normal request took %.1fs during the slowloris" % worst)
        # once they stop sending, --idle-timeout closes every one of them
        t_stop = time.monotonic()
        closed = 0
        for s in slow + [silent]:
            s.settimeout(IDLE_TIMEOUT_S + 10 - (time.monotonic() - t_stop))
            try:
                while s.recv(65536):
                    pass  # an answer (if any) then EOF
                closed += 1
            except ConnectionResetError:
                closed += 1
            except socket.timeout:
                pass
            finally:
                s.close()
        took = time.monotonic() - t_stop
        self.assertEqual(closed, len(slow) + 1, "connections left open after the idle timeout")
        self.assertLess(took, IDLE_TIMEOUT_S + 10)
        sys.stderr.write("\n  150 slowloris connections: normal requests took at most %.2fs; "
                         "all closed %.1fs after going idle (--idle-timeout %ds)\n"
                         % (worst, took, IDLE_TIMEOUT_S))
        self.assert_still_serving()

    def assert_still_serving(self):
        """The poller never failed or waited long, and an upload and a read work."""
        results = self.poller.stop()
        self.poller = None
        bad = [r for r in results if r[0] != 200]
        self.assertEqual(bad, [], "the normal client was refused")
        self.assertGreater(len(results), 3)
        slowest = max(t for _, t in results)
        self.assertLess(slowest, 5.0, "a normal request took %.1fs" % slowest)
        path = "/api/v1/builds/%d/steps/1/stream" % self.build
        st = lstest.request("GET", self.srv.url + path).json()
        seq = st["durable_seq"] + 1
        a = lstest.request("POST", self.srv.url + path, body=b"%d\t1\to\tstill fine\n" % seq,
                           headers={"Content-Type": "application/x-logstream-records"})
        self.assertEqual(a.status, 200, a.text())
        tail = lstest.request("GET", lstest.step_logs_url(self.srv.url, self.build, 1)
                              + "?tail=1")
        self.assertEqual(json.loads(tail.text())["text"], "still fine")
        sys.stderr.write("\n  normal client during the run: %d requests, slowest %.2fs\n"
                         % (len(results), slowest))


if __name__ == "__main__":
    lstest.main()
