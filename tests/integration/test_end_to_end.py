"""End to end: the sample pipeline through `logstream run`, a real server, a live
SSE follower, the stored log, `logstream logs` and `logstream demo`."""

import os
import re
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstest  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HELLO = os.path.join(REPO, "examples", "hello.yml")

HELLO_LOG = (
    "$ sleep 1\n"
    '$ echo "hello one"\n'
    "hello one\n"
    "$ sleep 2\n"
    '$ echo "hello two"\n'
    "hello two\n"
    "$ sleep 3\n"
    '$ echo "hello three"\n'
    "hello three\n"
)


def line_times(events):
    """{text: arrival time} and the ordered line objects of 'lines' events."""
    times, lines = {}, []
    for ev in events:
        if ev.type != "lines":
            continue
        for obj in ev.lines():
            lines.append(obj)
            times.setdefault(obj["text"], ev.time)
    return times, lines


class EndToEnd(lstest.TestCase):
    def test_sample_pipeline_streams_live_and_is_stored(self):
        srv = self.start_server()
        w = self.run_worker(HELLO, srv.url)
        sse = lstest.SSEReader(lstest.step_logs_url(srv.url, w.build_id, 1))
        self.assertEqual(sse.status, 200, "GET step 1 logs as SSE")
        self.assertTrue(sse.content_type.startswith("text/event-stream"), sse.content_type)
        events = sse.read_until_end(30)
        sse.close()
        self.assertEqual(w.wait(), 0, w.proc.describe())

        times, lines = line_times(events)
        # Live: "hello one" reached the follower while the step was still
        # running, seconds before "hello three" was even printed (sleep 2 + 3).
        self.assertIn("hello one", times)
        self.assertIn("hello three", times)
        self.assertGreater(times["hello two"] - times["hello one"], 1.5)
        self.assertGreater(times["hello three"] - times["hello one"], 4.0)

        self.assertEqual([o["seq"] for o in lines], list(range(1, 10)))
        self.assertEqual("".join(o["text"] + "\n" for o in lines), HELLO_LOG)
        self.assertTrue(all(o["stream"] == "o" for o in lines), lines)
        for ev in events:
            if ev.type == "lines":
                self.assertEqual(int(ev.id), ev.lines()[-1]["seq"], "event id = last seq")
        end = events[-1]
        self.assertEqual(end.type, "end")
        self.assertEqual(lstest.json.loads(end.data),
                         {"status": "success", "exit_code": 0, "lines": 9})

        raw = lstest.request("GET", lstest.step_logs_url(srv.url, w.build_id, 1))
        self.assertEqual(raw.status, 200)
        self.assertEqual(raw.text(), HELLO_LOG)

        b = lstest.get_json("%s/api/v1/builds/%d" % (srv.url, w.build_id))
        self.assertEqual(b["status"], "success")
        self.assertIsNotNone(b["finished_ms"])
        self.assertEqual([s["kind"] for s in b["steps"]], ["step", "plugins"])
        st = b["steps"][0]
        self.assertEqual((st["number"], st["name"], st["kind"], st["status"], st["exit_code"]),
                         (1, "logs", "step", "success", 0))
        self.assertEqual(st["lines"], 9)
        # api.md leaves open whether a step's bytes count the newlines.
        self.assertIn(st["bytes"], (len(HELLO_LOG) - 9, len(HELLO_LOG)))
        self.assertGreaterEqual(st["finished_ms"] - st["started_ms"], 5500)

    def test_failing_step_fails_the_build(self):
        srv = self.start_server()
        p = self.write_pipeline(
            "steps:\n"
            "  - name: ok\n"
            "    commands: [echo fine]\n"
            "  - name: broken\n"
            "    commands: ['echo before >&2; sleep 0.5', 'exit 3', 'echo never']\n")
        w = self.run_worker(p, srv.url, ["--no-plugins"])
        self.assertEqual(w.wait(), 1, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "failure")
        s1, s2 = b["steps"]
        self.assertEqual((s1["status"], s1["exit_code"]), ("success", 0))
        self.assertEqual((s2["status"], s2["exit_code"]), ("failure", 3))
        raw = lstest.request("GET", lstest.step_logs_url(srv.url, w.build_id, 2)).text()
        # stdout and stderr are separate pipes: the sleep orders them.
        self.assertEqual(raw, "$ echo before >&2; sleep 0.5\nbefore\n$ exit 3\n")
        nd = lstest.request("GET", lstest.step_logs_url(srv.url, w.build_id, 2) + "?since=0")
        streams = [lstest.json.loads(s)["stream"] for s in nd.text().splitlines()]
        self.assertEqual(streams, ["o", "e", "o"])

        out = self.start(["logs", "--server", srv.url, str(w.build_id)])
        self.assertEqual(out.wait(), 0, out.describe())
        self.assertEqual(out.out.text() + "\n",
                         "── step 1: ok (success, exit 0) ──\n$ echo fine\nfine\n"
                         "── step 2: broken (failure, exit 3) ──\n" + raw)

    def test_logs_prints_a_finished_build(self):
        srv = self.start_server()
        w = self.run_worker(HELLO, srv.url, ["--no-plugins"])
        self.assertEqual(w.wait(), 0, w.proc.describe())

        whole = self.start(["logs", "--server", srv.url, str(w.build_id)])
        self.assertEqual(whole.wait(), 0, whole.describe())
        self.assertEqual(whole.out.text() + "\n",
                         "── step 1: logs (success, exit 0) ──\n" + HELLO_LOG)

        # One step, by number, by name, and through the build's URL: raw log only.
        for target in ["%d/1" % w.build_id, "%d/logs" % w.build_id, "%s/1" % w.build_url]:
            one = self.start(["logs", "--server", srv.url, target])
            self.assertEqual(one.wait(), 0, one.describe())
            self.assertEqual(one.out.text() + "\n", HELLO_LOG, target)

        # The server URL from the environment, times on every line.
        ts = self.start(["logs", "--timestamps", "%d/1" % w.build_id],
                        env={"LOGSTREAM_SERVER": srv.url})
        self.assertEqual(ts.wait(), 0, ts.describe())
        got = ts.out.text().split("\n")
        self.assertEqual(len(got), 9)
        rx = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (.*)$")
        self.assertEqual([rx.match(s).group(1) for s in got], HELLO_LOG.splitlines())

        # Following a finished build prints it all and exits.
        f = self.start(["logs", "-f", "--server", srv.url, str(w.build_id)])
        self.assertEqual(f.wait(30), 0, f.describe())
        self.assertIn(HELLO_LOG, f.out.text() + "\n")

    def test_logs_errors_are_clear(self):
        srv = self.start_server()
        missing = self.start(["logs", "--server", srv.url, "9999"])
        self.assertEqual(missing.wait(), 1)
        self.assertIn("build 9999 not found", missing.err.text())

        port = srv.port
        srv.stop()
        down = self.start(["logs", "--server", "http://127.0.0.1:%d" % port, "1"])
        self.assertEqual(down.wait(), 1)
        self.assertIn("cannot reach the logstream server", down.err.text())

        bad = self.start(["logs", "not-a-build"])
        self.assertEqual(bad.wait(), 2)
        self.assertIn("not BUILD[/STEP]", bad.err.text())

    def test_demo_once(self):
        data = os.path.join(self.tmp, "demo-data")
        d = self.start(["demo", "--once", "--listen", "127.0.0.1:0", "--data", data],
                       cwd=REPO, name="demo")
        self.assertEqual(d.wait(90), 0, d.describe())
        out = d.out.text()
        self.assertRegex(out, r"logstream server listening on http://127\.0\.0\.1:\d+")
        self.assertRegex(out, r"build 1: http://127\.0\.0\.1:\d+/builds/1")
        pos = [out.find("\nhello " + w + "\n") for w in ("one", "two", "three")]
        self.assertTrue(all(p > 0 for p in pos) and pos == sorted(pos), out)
        self.assertEqual(out.count("\nhello one\n"), 1, out)
        # Printed as they happened, not at the end.
        t = {w: d.out.wait_for("^hello %s$" % w, 1)[0] for w in ("one", "three")}
        self.assertGreater(t["three"] - t["one"], 4.0)
        self.assertTrue(os.path.isdir(data))

    def test_demo_exit_code_is_the_pipeline_s(self):
        p = self.write_pipeline("steps:\n  - name: fails\n    commands: ['echo no', 'exit 5']\n")
        d = self.start(["demo", "--once", "--listen", "127.0.0.1:0", "--data",
                        os.path.join(self.tmp, "d"), "--pipeline", p], name="demo")
        self.assertEqual(d.wait(60), 1, d.describe())
        self.assertIn("\nno\n", d.out.text())

    def test_demo_keeps_serving_until_ctrl_c_and_falls_back_when_port_taken(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        try:
            d = self.start(["demo", "--listen", "127.0.0.1:%d" % port, "--data",
                            os.path.join(self.tmp, "d")], cwd=REPO, name="demo")
            got = d.out.wait_for("server still running at http://", 60)
            self.assertIsNotNone(got, d.describe())
            url = re.search(r"(http://[0-9.:]+)", got[1]).group(1)
            # the demo prints the UI's URL with its read token
            read_token = re.search(r"access_token=(lst_[A-Za-z0-9_-]+)", got[1]).group(1)
            self.assertNotEqual(url, "http://127.0.0.1:%d" % port)
            self.assertIn("port %d on 127.0.0.1 is taken" % port, d.err.text())
            # The server still answers after the pipeline ended.
            self.assertEqual(lstest.request("GET", url + "/api/v1/builds/1").status, 401)
            b = lstest.get_json(url + "/api/v1/builds/1", token=read_token)
            self.assertEqual(b["status"], "success")
            d.signal(signal.SIGINT)
            self.assertEqual(d.wait(30), 0, d.describe())
            self.assertIn("stopping the server", d.out.text())
        finally:
            busy.close()

    def test_command_dispatch(self):
        h = self.start(["--help"])
        self.assertEqual(h.wait(), 0)
        for cmd in ("server", "run", "logs", "demo", "plugin-host"):
            self.assertRegex(h.out.text(), r"(?m)^  %s\s+\S" % re.escape(cmd))
        v = self.start(["--version"])
        self.assertEqual(v.wait(), 0)
        self.assertRegex(v.out.text(), r"^logstream \d+\.\d+")
        u = self.start(["frobnicate"])
        self.assertEqual(u.wait(), 2)
        self.assertIn("unknown command 'frobnicate'", u.err.text())
        lh = self.start(["logs", "--help"])
        self.assertEqual(lh.wait(), 0)
        self.assertIn("--no-color", lh.out.text())


if __name__ == "__main__":
    lstest.main()
