#!/usr/bin/env python3
"""The ingest body rate limit (--max-request-rate), with the real server on
loopback:

- with --max-request-rate 200K, one chunked POST of ~1 MB of records takes
  at least (1 MB - one burst) / 200 KiB/s: the server pauses the sender (it
  stops reading the body) instead of refusing it; every line is stored
  exactly; meanwhile /healthz and reads are answered at once; /metrics
  counts the pauses;
- the same limit holds for raw text (text/plain) and for a body with a
  Content-Length (the worker's batch transport);
- `logstream run` against a throttled server stores everything; with the
  default limit a normal `logstream run` is never paused;
- bad values of the flag are refused with a message.

Run: python3 test_rate_limit.py --binary PATH_TO_logstream
"""

import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstest  # noqa: E402

RATE = 200 * 1024   # --max-request-rate 200K
BURST = RATE // 4   # what a new request may send at once (ratelimit.h)


def lines_of(n, width=100):
    out = []
    for i in range(1, n + 1):
        head = "line %06d " % i
        out.append(head + "abcdefghijklmnopqrstuvwxyz"[i % 26] * (width - len(head)))
    return out


def records(lines):
    return b"".join(b"%d\t%d\to\t%s\n" % (i, 1700000000000 + i, t.encode())
                    for i, t in enumerate(lines, 1))


def pieces(body, size=16 * 1024):
    for i in range(0, len(body), size):
        yield body[i:i + size]


def metric(url, name):
    text = lstest.request("GET", url + "/metrics").text()
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    if not m:
        raise AssertionError("no %s in /metrics:\n%s" % (name, text))
    return float(m.group(1))


class Upload(threading.Thread):
    """POSTs body to a step's stream on a thread: chunked (from 16 KiB
    pieces) or with a Content-Length; records the answer and the time."""

    def __init__(self, srv, build, step, body, content_type, chunked=True):
        super().__init__(daemon=True)
        self.srv, self.build, self.step, self.body = srv, build, step, body
        self.content_type, self.chunked = content_type, chunked
        self.status = self.answer = self.error = None
        self.elapsed = None

    def run(self):
        path = "/api/v1/builds/%d/steps/%d/stream" % (self.build, self.step)
        url = self.srv.url + path
        headers = {"Content-Type": self.content_type}
        headers.update(lstest.auth_header(url, "POST"))
        t0 = time.monotonic()
        try:
            conn = http.client.HTTPConnection(self.srv.host, self.srv.port, timeout=120)
            if self.chunked:
                conn.request("POST", path, body=pieces(self.body), headers=headers,
                             encode_chunked=True)
            else:
                conn.request("POST", path, body=self.body, headers=headers)
            resp = conn.getresponse()
            self.status, self.answer = resp.status, resp.read()
            conn.close()
        except Exception as e:  # reported by the test
            self.error = e
        self.elapsed = time.monotonic() - t0

    def result(self, timeout=180):
        self.join(timeout)
        if self.is_alive():
            raise AssertionError("the upload did not end in %ds" % timeout)
        if self.error:
            raise AssertionError("the upload failed: %r" % self.error)
        return self.status, self.answer


class RateLimit(lstest.TestCase):

    def create_build(self, url, steps):
        a = lstest.request("POST", url + "/api/v1/builds", {
            "name": "rate", "steps": [{"name": s, "kind": "step"} for s in steps]})
        self.assertEqual(a.status, 201, a.text())
        return a.json()["id"]

    def stored(self, url, build, step):
        a = lstest.request("GET", lstest.step_logs_url(url, build, step), timeout=60)
        self.assertEqual(a.status, 200, a.text())
        return a.body.decode().split("\n")[:-1]

    def min_seconds(self, nbytes):
        """The least time the server can take to read nbytes at RATE."""
        return (nbytes - BURST) / RATE

    def test_throttled_upload_is_paused_complete_and_others_are_served(self):
        srv = self.start_server(["--max-request-rate", "200K"])
        build = self.create_build(srv.url, ["records"])
        sent = lines_of(9500)
        body = records(sent)
        self.assertGreater(len(body), 1000000)
        up = Upload(srv, build, 1, body, "application/x-logstream-records")
        up.start()

        # while it is paused, other requests are answered at once
        time.sleep(1.0)
        checked = 0
        for path in ("/healthz", "/api/v1/builds/%d" % build,
                     "/api/v1/builds/%d/steps/1/logs?tail=5" % build, "/metrics"):
            t0 = time.monotonic()
            a = lstest.request("GET", srv.url + path, timeout=30)
            took = time.monotonic() - t0
            self.assertEqual(a.status, 200, (path, a.text()))
            self.assertLess(took, 2.0, "%s took %.2fs during a throttled upload" % (path, took))
            checked += 1
        self.assertTrue(up.is_alive(), "the upload ended before the other requests were made")
        self.assertGreater(metric(srv.url, "logstream_ingest_throttled_total"), 0)
        # the lines read so far are there for readers, the rest not yet
        tail = lstest.request("GET", srv.url + "/api/v1/builds/%d/steps/1/logs?tail=1" % build)
        last = json.loads(tail.text().splitlines()[0])
        self.assertEqual(last["text"], sent[last["seq"] - 1])
        self.assertLess(last["seq"], len(sent))

        status, answer = up.result()
        self.assertEqual(status, 200, answer)
        got = json.loads(answer)
        self.assertEqual(got["durable_seq"], len(sent))
        self.assertEqual(got["accepted"], len(sent))
        self.assertEqual(got["bytes"], sum(len(s) for s in sent))
        least = self.min_seconds(len(body))
        self.assertGreaterEqual(up.elapsed, least - 0.2,
                                "1 MB at 200 KiB/s took only %.2fs (at least %.2fs expected)"
                                % (up.elapsed, least))
        self.assertEqual(self.stored(srv.url, build, 1), sent)
        self.assertGreater(metric(srv.url, "logstream_ingest_throttled_total"), 3)
        self.assertGreater(metric(srv.url, "logstream_ingest_throttled_seconds_total"),
                           least / 2)
        self.assertEqual(checked, 4)

    def test_raw_text_and_content_length_bodies_are_throttled_too(self):
        srv = self.start_server(["--max-request-rate", "200K"])
        build = self.create_build(srv.url, ["raw", "batch"])
        raw_lines = lines_of(6000)
        raw = ("\n".join(raw_lines) + "\n").encode()
        batch_lines = lines_of(5500)
        batch = records(batch_lines)
        # both at once: the limit is per request, each gets its own rate
        ups = [Upload(srv, build, 1, raw, "text/plain"),
               Upload(srv, build, 2, batch, "application/x-logstream-records", chunked=False)]
        for u in ups:
            u.start()
        for u, body, lines in zip(ups, (raw, batch), (raw_lines, batch_lines)):
            status, answer = u.result()
            self.assertEqual(status, 200, answer)
            self.assertEqual(json.loads(answer)["durable_seq"], len(lines))
            least = self.min_seconds(len(body))
            self.assertGreaterEqual(u.elapsed, least - 0.2,
                                    "%d bytes (%s) took only %.2fs (at least %.2fs expected)"
                                    % (len(body), u.content_type, u.elapsed, least))
        self.assertEqual(self.stored(srv.url, build, 1), raw_lines)
        self.assertEqual(self.stored(srv.url, build, 2), batch_lines)

    def test_default_does_not_slow_a_worker(self):
        srv = self.start_server()
        n = 200000
        cmd = "yes \"$(printf '%%0100d' 7)\" | head -n %d" % n
        pipe = self.write_pipeline('version: "1"\nsteps:\n  - name: many\n    commands:\n'
                                   '      - %s\n' % json.dumps(cmd))
        w = self.run_worker(pipe, srv.url)
        self.assertEqual(w.wait(), 0, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "success")
        step = b["steps"][0]
        self.assertEqual(step["lines"], n + 1)  # and the "$ cmd" line
        self.assertEqual(metric(srv.url, "logstream_ingest_throttled_total"), 0)
        self.assertGreater(metric(srv.url, "logstream_bytes_ingested_total"), 100 * n)

    def test_worker_against_a_throttled_server_stores_everything(self):
        srv = self.start_server(["--max-request-rate", "200K"])
        n = 8000
        cmd = "yes \"$(printf '%%0100d' 7)\" | head -n %d" % n
        pipe = self.write_pipeline('version: "1"\nsteps:\n  - name: many\n    commands:\n'
                                   '      - %s\n' % json.dumps(cmd))
        t0 = time.monotonic()
        w = self.run_worker(pipe, srv.url)
        self.assertEqual(w.wait(), 0, w.proc.describe())
        took = time.monotonic() - t0
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "success")
        self.assertEqual(b["steps"][0]["lines"], n + 1)
        self.assertEqual(self.stored(srv.url, w.build_id, 1)[1:], ["0" * 99 + "7"] * n)
        self.assertGreater(metric(srv.url, "logstream_ingest_throttled_total"), 0)
        # 808 KB of records at 200 KiB/s
        self.assertGreater(took, self.min_seconds(n * 110) - 0.2)

    def test_zero_is_no_limit(self):
        srv = self.start_server(["--max-request-rate", "0"])
        build = self.create_build(srv.url, ["fast"])
        sent = lines_of(30000)
        up = Upload(srv, build, 1, records(sent), "application/x-logstream-records")
        up.start()
        status, answer = up.result()
        self.assertEqual(status, 200, answer)
        self.assertEqual(self.stored(srv.url, build, 1), sent)
        self.assertEqual(metric(srv.url, "logstream_ingest_throttled_total"), 0)

    def test_flag_values(self):
        out = subprocess.run([lstest.binary(), "server", "--help"], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0)
        self.assertIn("--max-request-rate", out.stdout)
        for bad, says in (("100", "at least 1KiB"), ("fast", "max-request-rate"),
                          ("-5", "max-request-rate")):
            out = subprocess.run([lstest.binary(), "server", "--listen", "127.0.0.1:0", "--data",
                                  os.path.join(self.tmp, "never"), "--max-request-rate", bad],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 2, (bad, out.stderr))
            self.assertIn(says, out.stderr)


if __name__ == "__main__":
    lstest.main()
