# ctest: PostgreSQL only (tests/CMakeLists.txt runs this file in the integration/pg/ pass only)
"""Two server instances on one PostgreSQL database with NATS between them: a
worker streams to instance A, a viewer follows on instance B (live, through
NATS); NATS stops for 10 s mid-stream (B reads the database meanwhile); the
worker moves from A to B mid-step (A killed with SIGKILL). Every line once, in
order, the `end` event, and the stored log equals what the step printed.

Only meaningful on PostgreSQL (several instances share its database): skipped
in the SQLite run."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultproxy  # noqa: E402
import lstest  # noqa: E402


def metric(url, name):
    """The value of an unlabelled metric on the server at url."""
    text = lstest.request("GET", url + "/metrics").text()
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    if not m:
        raise AssertionError("no metric %s in /metrics of %s" % (name, url))
    return float(m.group(1))


def pipeline(lines, sleep):
    """A one-step pipeline printing 'line 1'..'line N', sleep seconds apart."""
    cmd = ("i=1; while [ $i -le %d ]; do echo \"line $i\"; sleep %s; i=$((i+1)); done"
           % (lines, sleep))
    return ('version: "1"\nsteps:\n  - name: gen\n    commands:\n      - %s\n'
            % json.dumps(cmd))


def listed_until_success(test, listing, build, timeout=60):
    """The build objects of the 'build' events of a builds list stream until
    build reports success."""
    seen = []
    deadline = time.monotonic() + timeout
    while not any(o.get("id") == build and o.get("status") == "success" for o in seen):
        test.assertLess(time.monotonic(), deadline, "builds list events: %r" % seen)
        ev = listing.next(deadline - time.monotonic())
        test.assertIsNotNone(ev)
        if ev.type == "build":
            seen.append(json.loads(ev.data))
    return seen


def follow(events):
    """The line objects of the 'lines' events, with their arrival times."""
    out = []
    for ev in events:
        if ev.type == "lines":
            out.extend((ev.time, o) for o in ev.lines())
    return out


@unittest.skipUnless(lstest.using_postgres(),
                     "several instances share one PostgreSQL database: runs in the PostgreSQL "
                     "variant only (LOGSTREAM_TEST_DATABASE)")
class Fanout(lstest.TestCase):
    def setUp(self):
        super().setUp()
        self.nats = lstest.NatsServer()
        self.addCleanup(self.nats.close)

    def pair(self, extra=(), connected=True, nats=None):
        args = ["--nats", nats or self.nats.url, "--remote-poll-interval", "200ms"] + list(extra)
        a = self.start_server(args)
        b = self.start_peer_server(a, args)
        for srv in (a, b):
            got = srv.proc.err.wait_for("connected to NATS" if connected else "not reachable yet",
                                        20)
            self.assertTrue(got, srv.proc.describe())
        return a, b

    def check_log(self, lines, n, step_text="line"):
        """lines: line objects seq 1..: the echoed command, then 'line 1'..'line n'."""
        seqs = [o["seq"] for o in lines]
        self.assertEqual(seqs, list(range(1, len(lines) + 1)), "in order, no gap, no duplicate")
        self.assertTrue(lines[0]["text"].startswith("$ "), lines[0])
        self.assertEqual([o["text"] for o in lines[1:]],
                         ["%s %d" % (step_text, i) for i in range(1, n + 1)])

    def stored(self, url, build):
        """The stored log of step 1 read through url, as line objects."""
        a = lstest.request("GET", lstest.step_logs_url(url, build, 1) + "?since=0&limit=100000")
        self.assertEqual(a.status, 200, a.text())
        return [json.loads(s) for s in a.text().splitlines() if s]

    def test_viewer_on_other_instance_gets_every_line_live(self):
        a, b = self.pair(["--remote-safety-poll-interval", "60s"])
        n = 300
        listing = lstest.SSEReader(b.url + "/api/v1/events")  # the builds list, on B
        w = self.run_worker(self.write_pipeline(pipeline(n, "0.01")), a.url)
        sse = lstest.SSEReader(lstest.step_logs_url(b.url, w.build_id, 1))
        self.assertEqual(sse.status, 200)
        bev = lstest.SSEReader("%s/api/v1/builds/%d/events" % (b.url, w.build_id))
        self.assertEqual(bev.status, 200)
        events = sse.read_until_end(120)
        sse.close()
        self.assertEqual(w.wait(), 0, w.proc.describe())
        # the build's events on B: A's PATCHes (step 1 success, the build's end)
        bevents = bev.read_until_end(60)
        bev.close()
        self.assertEqual(bevents[-1].type, "end", bevents)
        steps = [json.loads(e.data) for e in bevents if e.type == "step"]
        self.assertIn((1, "success", 0),
                      [(o["number"], o["status"], o["exit_code"]) for o in steps], bevents)
        builds = [json.loads(e.data) for e in bevents if e.type == "build"]
        self.assertEqual(builds[-1]["status"], "success", bevents)
        # the builds list on B saw the build created on A, and its end
        seen = []
        deadline = time.monotonic() + 60
        while not any(o.get("id") == w.build_id and o.get("status") == "success" for o in seen):
            self.assertLess(time.monotonic(), deadline, "builds list events on B: %r" % seen)
            ev = listing.next(deadline - time.monotonic())
            self.assertIsNotNone(ev)
            if ev.type == "build":
                seen.append(json.loads(ev.data))
        # (listing stays open: closing it would wait for its reader thread's
        # read, until the next ping; the servers' stop ends it)
        self.assertIn("pending", [o["status"] for o in seen if o["id"] == w.build_id])
        got = follow(events)
        self.check_log([o for _, o in got], n)
        end = events[-1]
        self.assertEqual(end.type, "end")
        self.assertEqual(json.loads(end.data), {"status": "success", "exit_code": 0,
                                                "lines": n + 1})
        # live: the first lines reached B while the step still ran (it prints
        # for 3 s or more), not all at once at the end
        self.assertGreater(end.time - got[0][0], 1.5)
        # ... and through NATS (B appended A's lines from it)
        self.assertGreater(metric(b.url, "logstream_nats_received_lines_total"), 0)
        self.assertGreater(metric(a.url, "logstream_nats_published_total"), 0)
        self.assertEqual(metric(b.url, "logstream_nats_connected"), 1)
        # NATS healthy: B read the database only at the start (NATS's
        # (re)connect, each follower's first look), not every
        # --remote-poll-interval (200 ms: 30 reads or more for the two
        # followers over the step's 3 s or more)
        self.assertLess(metric(b.url, "logstream_remote_polls_total"), 10)
        for srv in (a, b):
            self.check_log(self.stored(srv.url, w.build_id), n)
        # B subscribed to the step and the build only while it had followers:
        # logstream.events stays
        deadline = time.monotonic() + 30
        while (metric(b.url, "logstream_nats_subscriptions"),
               metric(b.url, "logstream_fanout_watches")) != (1, 0):
            self.assertLess(time.monotonic(), deadline,
                            lstest.request("GET", b.url + "/metrics").text())
            time.sleep(0.1)

    def test_nats_outage_viewer_reads_the_database(self):
        a, b = self.pair()
        n = 250
        w = self.run_worker(self.write_pipeline(pipeline(n, "0.1")), a.url)
        sse = lstest.SSEReader(lstest.step_logs_url(b.url, w.build_id, 1))
        self.assertEqual(sse.status, 200)
        events = []
        # a few seconds of live lines first
        while len(follow(events)) < 20:
            ev = sse.next(60)
            self.assertIsNotNone(ev, "stream ended early: %r" % events)
            events.append(ev)
        self.nats.stop()
        t_stop = time.monotonic()
        self.assertTrue(b.proc.err.wait_for("lost the NATS connection", 20), b.proc.describe())
        down_metric = metric(b.url, "logstream_nats_connected")
        while time.monotonic() - t_stop < 10:
            try:
                ev = sse.next(1)
            except lstest.queue.Empty:
                continue
            self.assertIsNotNone(ev, "stream ended during the outage: %r" % events[-3:])
            events.append(ev)
        self.nats.start()
        t_start = time.monotonic()
        self.assertTrue(b.proc.err.wait_for("NATS connection back", 30), b.proc.describe())
        self.assertTrue(a.proc.err.wait_for("NATS connection back", 30), a.proc.describe())
        via_nats = metric(b.url, "logstream_nats_received_lines_total")
        events += sse.read_until_end(120)
        sse.close()
        self.assertEqual(w.wait(), 0, w.proc.describe())
        self.assertEqual(down_metric, 0)
        got = follow(events)
        self.check_log([o for _, o in got], n)
        self.assertEqual(events[-1].type, "end")
        # during the outage lines kept coming (from the database), not in one
        # burst at its end
        during = [t for t, _ in got if t_stop + 1 < t < t_start]
        self.assertGreater(len(during), 20, "lines received while NATS was down")
        self.assertGreater(len({int(t) for t in during}), 4, "spread over the outage")
        # after it, NATS carried lines again
        self.assertGreater(metric(b.url, "logstream_nats_received_lines_total"), via_nats)
        self.assertGreater(metric(b.url, "logstream_remote_poll_updates_total"), 0)
        self.check_log(self.stored(b.url, w.build_id), n)

    def test_end_and_build_events_arrive_with_nats_down(self):
        a, b = self.pair()
        n = 40
        w = self.run_worker(self.write_pipeline(pipeline(n, "0.1")), a.url)
        sse = lstest.SSEReader(lstest.step_logs_url(b.url, w.build_id, 1))
        bev = lstest.SSEReader("%s/api/v1/builds/%d/events" % (b.url, w.build_id))
        self.assertEqual((sse.status, bev.status), (200, 200))
        events = []
        while len(follow(events)) < 5:
            ev = sse.next(60)
            self.assertIsNotNone(ev, "stream ended early: %r" % events)
            events.append(ev)
        # NATS goes away before the step ends and stays away: the rest of the
        # lines, the step's end and the build's events come from the database
        self.nats.stop()
        self.assertTrue(b.proc.err.wait_for("lost the NATS connection", 20), b.proc.describe())
        events += sse.read_until_end(120)
        sse.close()
        self.assertEqual(w.wait(), 0, w.proc.describe())
        self.check_log([o for _, o in follow(events)], n)
        self.assertEqual(events[-1].type, "end")
        self.assertEqual(json.loads(events[-1].data)["status"], "success")
        bevents = bev.read_until_end(60)
        bev.close()
        self.assertEqual(bevents[-1].type, "end", bevents)
        steps = [json.loads(e.data) for e in bevents if e.type == "step"]
        self.assertIn((1, "success"), [(o["number"], o["status"]) for o in steps], bevents)
        builds = [json.loads(e.data) for e in bevents if e.type == "build"]
        self.assertEqual(builds[-1]["status"], "success", bevents)
        self.assertEqual(metric(b.url, "logstream_nats_connected"), 0)
        self.assertGreater(metric(b.url, "logstream_remote_poll_updates_total"), 0)

    def test_nats_starts_after_the_instances(self):
        self.nats.stop()
        a, b = self.pair(connected=False)
        n = 150
        w = self.run_worker(self.write_pipeline(pipeline(n, "0.05")), a.url)
        sse = lstest.SSEReader(lstest.step_logs_url(b.url, w.build_id, 1))
        self.assertEqual(sse.status, 200)
        events = []
        while len(follow(events)) < 10:  # through the database
            ev = sse.next(60)
            self.assertIsNotNone(ev, "stream ended early: %r" % events)
            events.append(ev)
        self.assertEqual(metric(b.url, "logstream_nats_connected"), 0)
        self.nats.start()
        for srv in (a, b):
            self.assertTrue(srv.proc.err.wait_for("connected to NATS", 30), srv.proc.describe())
        events += sse.read_until_end(120)
        sse.close()
        self.assertEqual(w.wait(), 0, w.proc.describe())
        self.check_log([o for _, o in follow(events)], n)
        # B subscribed once NATS was there: lines came through it
        self.assertGreater(metric(b.url, "logstream_nats_received_lines_total"), 0)

    def test_worker_moves_to_other_instance_mid_step(self):
        a, b = self.pair()
        proxy = faultproxy.FaultProxy("127.0.0.1", a.port)
        self.addCleanup(proxy.close)
        n = 400
        env = {"LOGSTREAM_TOKEN": a.tokens["worker"]}
        w = self.run_worker(self.write_pipeline(pipeline(n, "0.02")), proxy.url, env=env)
        sse = lstest.SSEReader(lstest.step_logs_url(b.url, w.build_id, 1))
        self.assertEqual(sse.status, 200)
        events = []
        while len(follow(events)) < 100:
            ev = sse.next(60)
            self.assertIsNotNone(ev, "stream ended early: %r" % events)
            events.append(ev)
        # A dies with lines it accepted but had not stored; the worker's new
        # connections reach B, which resumes from what the database holds
        proxy.target = ("127.0.0.1", b.port)
        a.proc.signal(signal.SIGKILL)
        a.proc.wait(30)
        events += sse.read_until_end(180)
        sse.close()
        self.assertEqual(w.wait(120), 0, w.proc.describe())
        self.check_log([o for _, o in follow(events)], n)
        self.assertEqual(events[-1].type, "end")
        self.assertEqual(json.loads(events[-1].data)["lines"], n + 1)
        stored = self.stored(b.url, w.build_id)
        self.check_log(stored, n)
        raw = lstest.request("GET", lstest.step_logs_url(b.url, w.build_id, 1)).text()
        self.assertEqual(raw, "".join(o["text"] + "\n" for o in stored))
        st = lstest.get_json("%s/api/v1/builds/%d/steps/1/stream" % (b.url, w.build_id),)
        self.assertEqual(st["durable_seq"], n + 1)

    def test_nats_url_list(self):
        """--nats takes a comma-separated list: the instances connect to the
        one that answers (the first is a port nobody listens on)."""
        dead = "nats://127.0.0.1:%d" % lstest.free_port()
        a, b = self.pair(nats="%s, %s" % (dead, self.nats.url))
        n = 30
        w = self.run_worker(self.write_pipeline(pipeline(n, "0.05")), a.url)
        sse = lstest.SSEReader(lstest.step_logs_url(b.url, w.build_id, 1))
        self.assertEqual(sse.status, 200)
        events = sse.read_until_end(120)
        sse.close()
        self.assertEqual(w.wait(), 0, w.proc.describe())
        self.check_log([o for _, o in follow(events)], n)
        self.assertEqual(metric(b.url, "logstream_nats_connected"), 1)
        self.assertGreater(metric(b.url, "logstream_nats_received_lines_total"), 0)
        # an empty URL in the list is refused at start, naming the flag
        out = subprocess.run([lstest.binary(), "server", "--listen", "127.0.0.1:0", "--data",
                              os.path.join(self.tmp, "never"), "--nats", self.nats.url + ",,"],
                             capture_output=True, text=True, timeout=30)
        self.assertNotEqual(out.returncode, 0, out.stderr)
        self.assertIn("--nats: URL 2 of the list is empty", out.stderr)

    def test_no_nats_instances_share_the_database(self):
        """Without --nats: B reads A's lines from the database (slower), never a
        stale copy of its own memory."""
        self.nats.stop()
        args = ["--remote-poll-interval", "200ms"]
        a = self.start_server(args)
        b = self.start_peer_server(a, args)
        for srv in (a, b):
            self.assertTrue(srv.proc.err.wait_for("PostgreSQL without --nats", 20),
                            srv.proc.describe())
        n = 60
        listing = lstest.SSEReader(b.url + "/api/v1/events")  # the builds list, on B
        w = self.run_worker(self.write_pipeline(pipeline(n, "0.05")), a.url)
        sse = lstest.SSEReader(lstest.step_logs_url(b.url, w.build_id, 1))
        bev = lstest.SSEReader("%s/api/v1/builds/%d/events" % (b.url, w.build_id))
        self.assertEqual((sse.status, bev.status), (200, 200))
        # B's memory has the step from here on: what it serves later must
        # come from the database, not from this copy
        early = lstest.request("GET", lstest.step_logs_url(b.url, w.build_id, 1))
        self.assertEqual(early.status, 200, early.text())
        events = sse.read_until_end(120)
        sse.close()
        self.assertEqual(w.wait(), 0, w.proc.describe())
        got = follow(events)
        self.check_log([o for _, o in got], n)
        self.assertEqual(events[-1].type, "end")
        self.assertEqual(json.loads(events[-1].data), {"status": "success", "exit_code": 0,
                                                       "lines": n + 1})
        # lines came while the step ran (3 s or more), not all at the end
        self.assertGreater(events[-1].time - got[0][0], 1.0)
        bevents = bev.read_until_end(60)
        bev.close()
        self.assertEqual(bevents[-1].type, "end", bevents)
        builds = [json.loads(e.data) for e in bevents if e.type == "build"]
        self.assertEqual(builds[-1]["status"], "success", bevents)
        stored = self.stored(b.url, w.build_id)
        self.check_log(stored, n)
        raw = lstest.request("GET", lstest.step_logs_url(b.url, w.build_id, 1))
        self.assertEqual(raw.status, 200)
        self.assertEqual(raw.text(), "".join(o["text"] + "\n" for o in stored))
        st = lstest.get_json("%s/api/v1/builds/%d/steps/1/stream" % (b.url, w.build_id))
        self.assertEqual(st["durable_seq"], n + 1)
        self.assertGreater(metric(b.url, "logstream_remote_poll_updates_total"), 0)
        # the builds list on B got the build created on A, and its end
        # (read from the database: the states it had at the polls, here
        # running, not pending, which lasted a few ms)
        listed_until_success(self, listing, w.build_id)

    def test_builds_list_with_nats_down(self):
        """NATS down: the builds list stream of B gets the builds created and
        changed on A from the database."""
        a, b = self.pair()
        listing = lstest.SSEReader(b.url + "/api/v1/events")
        self.nats.stop()
        for srv in (a, b):
            self.assertTrue(srv.proc.err.wait_for("lost the NATS connection", 20),
                            srv.proc.describe())
        w = self.run_worker(self.write_pipeline(pipeline(20, "0.05")), a.url)
        seen = listed_until_success(self, listing, w.build_id)
        self.assertEqual(w.wait(), 0, w.proc.describe())
        self.assertEqual(seen[0]["id"], w.build_id, seen)  # the new build, then its changes
        # once each: no change sent twice
        sigs = [(o["id"], o["status"], o.get("started_ms"), o.get("finished_ms")) for o in seen]
        self.assertEqual(len(sigs), len(set(sigs)), seen)


if __name__ == "__main__":
    lstest.main()
