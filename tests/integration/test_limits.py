#!/usr/bin/env python3
"""Size limits and retention, with the real server and worker on loopback:

- a step over --max-step-bytes keeps its first and its most recent lines; the
  middle is one run of seqs shown as a single marker line saying how many
  lines and bytes were dropped, in the raw log, the NDJSON pages, tail and
  SSE; the worker's final check (seq and bytes) still passes;
- --max-build-bytes holds a build's later steps to what the earlier ones left;
- --max-disk: ingest answers 507 with a clear JSON error, the worker keeps its
  spool and retries, and after the limit is raised nothing is lost;
- --retention deletes finished builds (steps, logs) and leaves running ones.

Run: python3 test_limits.py --binary PATH_TO_logstream
"""

import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstest  # noqa: E402

# Prints n numbered lines of `width` bytes (plus the newline), in bursts.
GEN = r'''
import sys, time
n, width, every, pause = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
for i in range(1, n + 1):
    head = "line %07d " % i
    sys.stdout.write(head + "abcdefghijklmnopqrstuvwxyz"[i % 26] * (width - len(head)) + "\n")
    if every and i % every == 0:
        sys.stdout.flush()
        time.sleep(pause)
sys.stdout.flush()
'''


def gen_lines(n, width):
    out = []
    for i in range(1, n + 1):
        head = "line %07d " % i
        out.append(head + "abcdefghijklmnopqrstuvwxyz"[i % 26] * (width - len(head)))
    return out


MARKER = re.compile(r"^\u2026 (\d+) lines \((\d+) bytes\) dropped: the (step's log|build's logs) "
                    r"exceeded --(max-step-bytes|max-build-bytes) \((\d+) bytes\)")

FAST = ["--backoff-base", "50ms", "--backoff-max", "500ms", "--heartbeat", "1s"]


class Limits(lstest.TestCase):

    def pipeline(self, steps, name="limits"):
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

    def ndjson(self, url, build, step, since=0, limit=100000):
        a = lstest.request("GET", "%s?since=%d&limit=%d"
                           % (lstest.step_logs_url(url, build, step), since, limit), timeout=60)
        self.assertEqual(a.status, 200, a.text())
        return [json.loads(s) for s in a.text().splitlines() if s]

    def all_lines(self, url, build, step):
        out, since = [], 0
        while True:
            page = self.ndjson(url, build, step, since)
            if not page:
                return out
            out += page
            since = page[-1]["seq"]

    def raw(self, url, build, step):
        a = lstest.request("GET", lstest.step_logs_url(url, build, step), timeout=60)
        self.assertEqual(a.status, 200, a.text())
        return a.text()

    def metric(self, url, name):
        text = lstest.request("GET", url + "/metrics").text()
        m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
        return int(m.group(1)) if m else None

    def check_truncated(self, url, build, step, printed, limit, reason, effective=None):
        """The stored log of a step that printed `printed` (after its "$ cmd"
        line) is: a head, one marker, the tail; returns (head, dropped, tail)."""
        lines = self.all_lines(url, build, step)
        seqs = [l["seq"] for l in lines]
        self.assertEqual(seqs, sorted(set(seqs)), "seqs must only grow")
        markers = [i for i, l in enumerate(lines) if MARKER.match(l["text"])]
        self.assertEqual(len(markers), 1, [l["text"] for l in lines if "dropped" in l["text"]])
        k = markers[0]
        m = MARKER.match(lines[k]["text"])
        n_dropped, b_dropped = int(m.group(1)), int(m.group(2))
        self.assertEqual(m.group(3), reason)
        self.assertEqual(int(m.group(5)), limit)
        # the marker has the first dropped seq; the next line follows the run
        first = lines[k]["seq"]
        self.assertEqual(lines[k - 1]["seq"], first - 1)
        self.assertEqual(lines[k + 1]["seq"], first + n_dropped)
        # every other line is exactly what was printed, at its seq ("$ cmd" is seq 1)
        for l in lines[:k] + lines[k + 1:]:
            if l["seq"] > 1:
                self.assertEqual(l["text"], printed[l["seq"] - 2], l)
        dropped = printed[first - 2:first - 2 + n_dropped]
        self.assertEqual(b_dropped, sum(len(x) for x in dropped))
        self.assertEqual(lines[-1]["text"], printed[-1])
        kept = sum(len(l["text"]) for l in lines[:k] + lines[k + 1:])
        # what is kept: within the limit plus a chunk or two of slack (whole
        # chunks are dropped; the newest lines may not be sealed yet)
        effective = effective or limit
        self.assertLess(kept, effective + 3 * 4096 + 64 * 1024)
        self.assertGreater(kept, effective // 2)
        return lines[:k], lines[k], lines[k + 1:]

    def test_step_limit_keeps_head_and_tail(self):
        limit = 256 * 1024
        srv = self.start_server(["--max-step-bytes", str(limit), "--chunk-size", "4KiB",
                                 "--max-build-bytes", "0", "--flush-interval", "20ms"])
        n, width = 12000, 100  # 1.2 MB of text, ~5x the limit
        cmd = "python3 %s %d %d 500 0.01" % (self.gen(), n, width)
        pipe = self.pipeline([("big", [cmd])])
        w = self.run_worker(pipe, srv.url, FAST)
        self.assertEqual(w.wait(120), 0, w.proc.describe())
        self.assertFalse(w.proc.err.wait_for("given up|differ|holds", 0), w.proc.describe())
        printed = gen_lines(n, width)
        head, marker, tail = self.check_truncated(srv.url, w.build_id, 1, printed, limit,
                                                  "step's log")
        self.assertEqual(head[0]["text"], "$ " + cmd)
        self.assertEqual(head[1]["text"], printed[0])
        # the step reports every line and byte it received, and truncated
        b = lstest.wait_build_final(srv.url, w.build_id)
        s = b["steps"][0]
        self.assertEqual(b["status"], "success")
        self.assertTrue(s["truncated"])
        self.assertEqual(s["lines"], n + 1)
        self.assertEqual(s["bytes"], len("$ " + cmd) + n * width)

        # the raw download has the same head, marker and tail
        raw = self.raw(srv.url, w.build_id, 1).split("\n")
        self.assertEqual(raw[-1], "")
        self.assertEqual(raw[:-1], [l["text"] for l in head] + [marker["text"]]
                         + [l["text"] for l in tail])
        # tail=N reaching the dropped run starts with the marker
        a = lstest.request("GET", lstest.step_logs_url(srv.url, w.build_id, 1)
                           + "?tail=%d" % (len(tail) + 1))
        got = [json.loads(x) for x in a.text().splitlines()]
        self.assertEqual(got[0]["text"], marker["text"])
        self.assertEqual([g["seq"] for g in got[1:]], [t["seq"] for t in tail])
        # a page starting inside the run begins after it
        got = self.ndjson(srv.url, w.build_id, 1, since=marker["seq"] + 3, limit=2)
        self.assertEqual([g["seq"] for g in got], [tail[0]["seq"], tail[1]["seq"]])
        # a page reaching the run counts the marker as one line
        got = self.ndjson(srv.url, w.build_id, 1, since=head[-2]["seq"], limit=4)
        self.assertEqual([g["seq"] for g in got], [head[-1]["seq"], marker["seq"],
                                                   tail[0]["seq"], tail[1]["seq"]])
        got = self.ndjson(srv.url, w.build_id, 1, since=marker["seq"], limit=1)
        self.assertEqual([g["seq"] for g in got], [tail[0]["seq"]])
        # tail=N counts the marker as one line too
        a = lstest.request("GET", lstest.step_logs_url(srv.url, w.build_id, 1)
                           + "?tail=%d" % (len(tail) + 3))
        got = [json.loads(x) for x in a.text().splitlines()]
        self.assertEqual([g["seq"] for g in got], [head[-2]["seq"], head[-1]["seq"],
                                                   marker["seq"]] + [t["seq"] for t in tail])
        # SSE from the start: the same lines, one marker
        sse = lstest.SSEReader(lstest.step_logs_url(srv.url, w.build_id, 1) + "?since=0")
        events = sse.read_until_end(60)
        sse.close()
        seen = [l for e in events if e.type == "lines" for l in e.lines()]
        self.assertEqual([l["seq"] for l in seen],
                         [l["seq"] for l in head] + [marker["seq"]] + [l["seq"] for l in tail])
        self.assertTrue(MARKER.match(seen[len(head)]["text"]))
        # resuming inside the run continues after it
        sse = lstest.SSEReader(lstest.step_logs_url(srv.url, w.build_id, 1),
                               last_event_id=marker["seq"])
        events = sse.read_until_end(60)
        sse.close()
        seen = [l for e in events if e.type == "lines" for l in e.lines()]
        self.assertEqual(seen[0]["seq"], tail[0]["seq"])
        self.assertGreater(self.metric(srv.url, "logstream_dropped_lines_total"), 0)

    def test_build_limit_holds_later_steps(self):
        srv = self.start_server(["--max-step-bytes", "1MiB", "--max-build-bytes", "400KiB",
                                 "--chunk-size", "4KiB", "--flush-interval", "20ms"])
        gen = self.gen()
        n, width = 3000, 100  # 300 KB each
        c1 = "python3 %s %d %d 500 0.01" % (gen, n, width)
        c2 = "python3 %s %d %d 1000 0.01" % (gen, n, width)
        pipe = self.pipeline([("first", [c1]), ("second", [c2])])
        w = self.run_worker(pipe, srv.url, FAST)
        self.assertEqual(w.wait(120), 0, w.proc.describe())
        printed = gen_lines(n, width)
        # the first step fits: complete
        first = self.raw(srv.url, w.build_id, 1)
        self.assertEqual(first, "$ %s\n" % c1 + "".join(x + "\n" for x in printed))
        # the second gets what is left of the build's 400 KiB
        left = 400 * 1024 - (len("$ " + c1) + n * width)
        self.check_truncated(srv.url, w.build_id, 2, printed, 400 * 1024, "build's logs", left)
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual([s["truncated"] for s in b["steps"][:2]], [False, True])

    def test_max_disk_answers_507_and_nothing_is_lost(self):
        srv = self.start_server(["--max-disk", "2MiB", "--chunk-size", "64KiB",
                                 "--zstd-level", "1"])
        # incompressible lines: 4 MB of them cannot fit in 2 MiB
        gen = os.path.join(self.tmp, "rand.py")
        with open(gen, "w") as f:
            f.write("import os, sys, base64, time\n"
                    "for i in range(40000):\n"
                    "    sys.stdout.write('%06d ' % i + base64.b64encode(os.urandom(72)).decode()"
                    " + '\\n')\n"
                    "    if i % 2000 == 0: sys.stdout.flush(); time.sleep(0.02)\n"
                    "with open(sys.argv[1], 'w') as f: f.write('done')\n")
        done = os.path.join(self.tmp, "printed")
        pipe = self.pipeline([("rand", ["python3 %s %s" % (gen, done), "echo end"])])
        w = self.run_worker(pipe, srv.url, FAST + ["--upload-deadline", "300s"])
        deadline = time.monotonic() + 60
        while self.metric(srv.url, "logstream_storage_full") != 1:
            self.assertLess(time.monotonic(), deadline, "the store never filled up")
            time.sleep(0.1)
        # a client gets a clear 507
        a = lstest.request("POST", "%s/api/v1/builds/%d/steps/1/stream" % (srv.url, w.build_id),
                           body=b"", headers={"Content-Type": "application/x-logstream-records"})
        self.assertEqual(a.status, 507, a.text())
        self.assertEqual(a.json()["code"], "insufficient_storage")
        self.assertIn("out of storage space", a.json()["error"])
        # the worker keeps going, retrying
        while not os.path.exists(done):
            self.assertLess(time.monotonic(), deadline + 60, "the step did not finish")
            time.sleep(0.1)
        time.sleep(2)
        self.assertIsNone(w.proc.p.poll(), "the worker must wait for the server:\n"
                          + w.proc.describe())
        rejected = lstest.request("GET", srv.url + "/metrics").text()
        self.assertRegex(rejected, r'logstream_ingest_rejected_total\{code="insufficient_storage"'
                                   r'\} [1-9]')
        # more room: restart with a higher limit on the same port and data
        port, data = srv.port, srv.data_dir
        srv.stop()
        srv2 = self.restart_server(port, data, ["--max-disk", "64MiB", "--chunk-size", "64KiB"])
        self.assertEqual(w.wait(180), 0, w.proc.describe())
        log = self.raw(srv2, w.build_id, 1).split("\n")
        self.assertEqual(log[0], "$ python3 %s %s" % (gen, done))
        body = log[1:40001]
        self.assertEqual([x.split(" ")[0] for x in body], ["%06d" % i for i in range(40000)])
        self.assertEqual(log[40001:], ["$ echo end", "end", ""])

    def restart_server(self, port, data, extra):
        deadline = time.monotonic() + 30
        while True:
            p = self.start(["server", "--listen", "127.0.0.1:%d" % port, "--data", data] + extra,
                           name="server2")
            if p.out.wait_for(r"listening on http://", lstest.START_TIMEOUT):
                return "http://127.0.0.1:%d" % port
            p.stop()
            self.assertLess(time.monotonic(), deadline, p.describe())
            time.sleep(0.3)

    def test_retention_deletes_finished_builds(self):
        srv = self.start_server(["--retention", "2s", "--retention-interval", "1s",
                                 "--live-linger", "0s"])
        pipe = self.pipeline([("quick", ["echo quick"])])
        w = self.run_worker(pipe, srv.url, FAST)
        self.assertEqual(w.wait(60), 0, w.proc.describe())
        old = w.build_id
        self.assertEqual(self.raw(srv.url, old, 1), "$ echo quick\nquick\n")
        # a build that keeps running is never deleted
        flag = os.path.join(self.tmp, "go")
        slow = self.pipeline([("wait", ["while [ ! -e %s ]; do sleep 0.1; done" % flag,
                                         "echo slow"])], name="slow")
        w2 = self.run_worker(slow, srv.url, FAST)
        deadline = time.monotonic() + 30
        while lstest.request("GET", "%s/api/v1/builds/%d" % (srv.url, old)).status != 404:
            self.assertLess(time.monotonic(), deadline, "the finished build was not deleted")
            time.sleep(0.2)
        a = lstest.request("GET", lstest.step_logs_url(srv.url, old, 1))
        self.assertEqual(a.status, 404, a.text())
        self.assertEqual(a.json()["code"], "not_found")
        time.sleep(3)
        b2 = lstest.get_json("%s/api/v1/builds/%d" % (srv.url, w2.build_id))
        self.assertEqual(b2["status"], "running")
        with open(flag, "w"):
            pass
        self.assertEqual(w2.wait(60), 0, w2.proc.describe())
        self.assertEqual(self.raw(srv.url, w2.build_id, 1).split("\n")[-2], "slow")
        self.assertGreaterEqual(self.metric(srv.url, "logstream_retention_deleted_builds_total"),
                                1)
        self.assertTrue(srv.proc.err.wait_for("retention: deleted", 0), srv.proc.describe())


if __name__ == "__main__":
    lstest.main()
