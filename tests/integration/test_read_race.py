#!/usr/bin/env python3
"""Readers racing the ingest and the flusher see every line exactly once.

A step is fed in many small ingest requests while the server flushes every
few milliseconds into tiny chunks (--chunk-size 4KiB: an open row per flush,
sealed and rewritten every few flushes) and keeps almost nothing in memory
(--live-buffer 0: each 64 KiB segment is freed as soon as it is durable), so
reads keep crossing the boundary between the live memory and the store, and
the store's rows change under them. At the same time:

  - an NDJSON follower pages with ?since=LAST&limit=N (N varies);
  - a raw reader reads the whole log again and again;
  - an SSE follower streams from the start until the step ends.

Each must see seqs 1, 2, 3, ... with no duplicate and no gap, and the text of
each line must be the one sent with that seq. (A 1,000,000-line test once read
back two lines twice; this is the targeted check for the read path.)

Run: python3 test_read_race.py --binary PATH_TO_logstream
"""

import json
import os
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstest  # noqa: E402

N = 40000        # lines
BATCH = 150      # lines per ingest request
DEADLINE = 300   # seconds for the whole run (sanitizer builds on a busy machine)


def text_of(seq):
    return "race line %d %s" % (seq, "r" * (seq % 61))


def records(first, last):
    return b"".join(b"%d\t%d\to\t%s\n" % (s, 1700000000000 + s, text_of(s).encode())
                    for s in range(first, last + 1))


class ReadRace(lstest.TestCase):

    def setUp(self):
        super().setUp()
        self.srv = self.start_server(["--chunk-size", "4KiB", "--live-buffer", "0",
                                      "--flush-interval", "5ms"])
        a = lstest.request("POST", self.srv.url + "/api/v1/builds",
                           {"name": "race", "steps": [{"name": "s", "kind": "step"}]})
        self.assertEqual(a.status, 201, a.text())
        self.build = a.json()["id"]
        self.logs = lstest.step_logs_url(self.srv.url, self.build, 1)
        self.errors = []
        self.writer_done = threading.Event()

    def fail_later(self, msg):
        self.errors.append(msg)

    def writer(self):
        url = "%s/api/v1/builds/%d/steps/1/stream" % (self.srv.url, self.build)
        try:
            a = lstest.request("PATCH", "%s/api/v1/builds/%d/steps/1" % (self.srv.url, self.build),
                               {"status": "running"})
            if a.status != 200:
                self.fail_later("PATCH running -> %d %s" % (a.status, a.text()))
                return
            for first in range(1, N + 1, BATCH):
                last = min(N, first + BATCH - 1)
                a = lstest.request("POST", url, records(first, last), timeout=60,
                                   headers={"Content-Type": "application/x-logstream-records"})
                if a.status != 200:
                    self.fail_later("ingest %d-%d -> %d %s" % (first, last, a.status, a.text()))
                    return
        finally:
            self.writer_done.set()

    def check_seq(self, who, want, seq, text):
        if seq != want:
            self.fail_later("%s: got seq %d where %d was next (%s)"
                            % (who, seq, want, "a duplicate" if seq < want else "a gap"))
            return False
        if text != text_of(seq):
            self.fail_later("%s: line %d has text %r" % (who, seq, text[:80]))
            return False
        return True

    def ndjson_follower(self):
        after, k = 0, 0
        limits = (1, 7, 100, 999, 2000, 5000)
        deadline = time.monotonic() + DEADLINE
        while after < N and not self.errors and time.monotonic() < deadline:
            limit = limits[k % len(limits)]
            k += 1
            a = lstest.request("GET", "%s?since=%d&limit=%d" % (self.logs, after, limit),
                               timeout=60)
            if a.status != 200:
                self.fail_later("ndjson: since=%d -> %d %s" % (after, a.status, a.text()))
                return
            got = [json.loads(s) for s in a.body.decode().split("\n") if s]
            if len(got) > limit:
                self.fail_later("ndjson: %d lines for limit=%d" % (len(got), limit))
                return
            for line in got:
                if not self.check_seq("ndjson since=%d" % after, after + 1, line["seq"],
                                      line["text"]):
                    return
                after += 1
            if not got:
                time.sleep(0.005)
        if after < N and not self.errors:
            self.fail_later("ndjson follower reached only line %d" % after)

    def raw_reader(self):
        rounds = 0
        while not self.writer_done.is_set() and not self.errors:
            a = lstest.request("GET", self.logs, timeout=60)
            if a.status != 200:
                self.fail_later("raw -> %d %s" % (a.status, a.text()))
                return
            lines = a.body.decode().split("\n")
            if lines[-1] != "":
                self.fail_later("raw: the body does not end with a newline")
                return
            for i, text in enumerate(lines[:-1]):
                if text != text_of(i + 1):
                    j = next((k for k in range(len(lines) - 1) if lines[k] == text), None)
                    self.fail_later("raw round %d: line %d is %r (that is line %s): "
                                    "%d lines read" % (rounds, i + 1, text[:60],
                                                       j + 1 if j is not None else "?",
                                                       len(lines) - 1))
                    return
            rounds += 1
        self.raw_rounds = rounds

    def sse_follower(self):
        r = lstest.SSEReader(self.logs + "?since=0", timeout=DEADLINE)
        want = 1
        try:
            if r.status != 200:
                self.fail_later("sse -> %d" % r.status)
                return
            deadline = time.monotonic() + DEADLINE
            while not self.errors:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.fail_later("sse: no end after %ds, at line %d" % (DEADLINE, want - 1))
                    return
                ev = r.next(left)
                if ev is None or ev.type == "end":
                    break
                if ev.type != "lines":
                    continue
                for line in ev.lines():
                    if not self.check_seq("sse", want, line["seq"], line["text"]):
                        return
                    want += 1
            if want != N + 1 and not self.errors:
                self.fail_later("sse ended after line %d of %d" % (want - 1, N))
        finally:
            r.close()

    def test_readers_see_each_line_once(self):
        threads = [threading.Thread(target=f, daemon=True)
                   for f in (self.writer, self.ndjson_follower, self.raw_reader, self.sse_follower)]
        for t in threads:
            t.start()
        threads[0].join(DEADLINE)
        self.assertTrue(self.writer_done.is_set(), "the writer did not finish")
        if not self.errors:
            a = lstest.request("PATCH", "%s/api/v1/builds/%d/steps/1" % (self.srv.url, self.build),
                               {"status": "success", "exit_code": 0})
            self.assertEqual(a.status, 200, a.text())
        for t in threads[1:]:
            t.join(DEADLINE)
            self.assertFalse(t.is_alive(), "a reader is still running")
        self.assertEqual(self.errors, [])
        self.assertGreater(getattr(self, "raw_rounds", 0), 0, "the raw reader never read")
        # and the stored log, once everything is durable and memory let go
        a = lstest.request("GET", self.logs, timeout=60)
        self.assertEqual(a.status, 200)
        want = "".join(text_of(s) + "\n" for s in range(1, N + 1))
        self.assertTrue(a.body.decode() == want, "the final raw log differs")


if __name__ == "__main__":
    lstest.main()
