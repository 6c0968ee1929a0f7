"""Viewers that join a step while it runs: over SSE and with `logstream logs -f`
they get the whole history, then the live lines, with no gap and no duplicate
-- also when the connection is cut again and again (through a proxy) and the
viewer has to resume with Last-Event-ID."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstest  # noqa: E402

N_LINES = 40
# A step printing numbered lines over ~4 s.
COUNTER = (
    "steps:\n"
    "  - name: count\n"
    "    commands:\n"
    "      - for i in $(seq 1 %d); do echo \"line $i\"; sleep 0.1; done\n" % N_LINES
)
COUNTER_CMD = "$ for i in $(seq 1 %d); do echo \"line $i\"; sleep 0.1; done" % N_LINES
COUNTER_LOG = [COUNTER_CMD] + ["line %d" % i for i in range(1, N_LINES + 1)]


def wait_lines(server_url, build_id, step, n, timeout=20):
    """Waits until the server holds at least n lines of the step."""
    deadline = time.monotonic() + timeout
    url = lstest.step_logs_url(server_url, build_id, step) + "?since=0&limit=100000"
    while time.monotonic() < deadline:
        a = lstest.request("GET", url)
        if a.status == 200 and len(a.text().splitlines()) >= n:
            return
        time.sleep(0.05)
    raise AssertionError("step %d never reached %d lines" % (step, n))


class CuttingProxy:
    """A TCP proxy to the server that closes every connection `lifetime`
    seconds after it opened (the cut lands wherever the answer is then), so
    SSE readers must resume again and again."""

    def __init__(self, upstream_port, lifetime):
        self.upstream_port = upstream_port
        self.lifetime = lifetime
        self.cuts = 0
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _serve(self, client):
        try:
            up = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pump, args=(client, up), daemon=True).start()
        down = threading.Thread(target=self._pump, args=(up, client), daemon=True)
        down.start()
        down.join(self.lifetime)
        if down.is_alive():
            self.cuts += 1
        for s in (client, up):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        down.join(5)
        client.close()
        up.close()

    def stop(self):
        self.stopped = True
        self.lsock.close()


class Viewer(lstest.TestCase):
    def start_counter(self):
        srv = self.start_server()
        # exact `logs -f` output is compared: no plugins log in this build
        w = self.run_worker(self.write_pipeline(COUNTER), srv.url, ["--no-plugins"])
        wait_lines(srv.url, w.build_id, 1, 10)  # join in the middle of the step
        return srv, w

    def test_sse_viewer_joining_mid_step_gets_history_then_live(self):
        srv, w = self.start_counter()
        t_join = time.monotonic()
        sse = lstest.SSEReader(lstest.step_logs_url(srv.url, w.build_id, 1))
        self.assertEqual(sse.status, 200)
        events = sse.read_until_end(30)
        sse.close()
        self.assertEqual(w.wait(), 0, w.proc.describe())

        lines = [o for ev in events if ev.type == "lines" for o in ev.lines()]
        self.assertEqual([o["seq"] for o in lines], list(range(1, N_LINES + 2)))
        self.assertEqual([o["text"] for o in lines], COUNTER_LOG)
        # History came at once, the rest live over the following seconds.
        first = next(ev for ev in events if ev.type == "lines")
        self.assertGreaterEqual(len(first.lines()), 10)
        self.assertLess(first.time - t_join, 1.0)
        self.assertGreater(events[-2].time - first.time, 1.0)
        self.assertEqual(events[-1].type, "end")

    def test_sse_resume_with_last_event_id(self):
        srv, w = self.start_counter()
        url = lstest.step_logs_url(srv.url, w.build_id, 1)
        sse = lstest.SSEReader(url, last_event_id=5)
        events = sse.read_until_end(30)
        sse.close()
        lines = [o for ev in events if ev.type == "lines" for o in ev.lines()]
        self.assertEqual([o["seq"] for o in lines], list(range(6, N_LINES + 2)))
        # ?since= does the same.
        sse = lstest.SSEReader(url + "?since=%d" % N_LINES)
        events = sse.read_until_end(30)
        sse.close()
        lines = [o for ev in events if ev.type == "lines" for o in ev.lines()]
        self.assertEqual([o["seq"] for o in lines], [N_LINES + 1])

    def test_logs_follow_joining_mid_step(self):
        srv, w = self.start_counter()
        one = self.start(["logs", "-f", "--server", srv.url, "%d/1" % w.build_id])
        whole = self.start(["logs", "-f", "--server", srv.url, str(w.build_id)])
        self.assertEqual(one.wait(30), 0, one.describe())
        self.assertEqual(whole.wait(30), 0, whole.describe())
        self.assertEqual(w.wait(), 0, w.proc.describe())
        self.assertEqual(one.out.text().split("\n"), COUNTER_LOG)
        got = whole.out.text().split("\n")
        self.assertEqual(got[0], "── step 1: count ──")
        self.assertEqual(got[1:-1], COUNTER_LOG)
        self.assertEqual(got[-1], "── step 1: count finished: success, exit 0 ──")
        # Lines were printed as they came, not all at the end.
        t10 = one.out.wait_for("^line 10$", 1)[0]
        t40 = one.out.wait_for("^line %d$" % N_LINES, 1)[0]
        self.assertGreater(t40 - t10, 1.5)

    def test_logs_follow_resumes_after_cuts_without_gap_or_duplicate(self):
        srv, w = self.start_counter()
        proxy = CuttingProxy(srv.port, lifetime=0.3)
        try:
            f = self.start(["logs", "-f", "--backoff-base", "20ms", "--backoff-cap", "200ms",
                            "--server", proxy.url, "%d/1" % w.build_id],
                           env={"LOGSTREAM_TOKEN": srv.tokens["read"]})
            self.assertEqual(f.wait(60), 0, f.describe())
        finally:
            proxy.stop()
        self.assertEqual(f.out.text().split("\n"), COUNTER_LOG)
        self.assertGreater(proxy.cuts, 2, "the proxy never cut a stream")
        self.assertIn("resuming", f.err.text())

    def test_services_are_followed_with_a_prefix(self):
        srv = self.start_server()
        p = self.write_pipeline(
            "steps:\n"
            "  - name: main\n"
            "    commands: ['sleep 1', 'echo main done']\n"
            "services:\n"
            "  - name: db\n"
            "    commands: ['echo db up', 'sleep 30']\n")
        w = self.run_worker(p, srv.url)
        f = self.start(["logs", "-f", "--server", srv.url, str(w.build_id)])
        self.assertEqual(f.wait(60), 0, f.describe())
        self.assertEqual(w.wait(), 0, w.proc.describe())
        out = f.out.text().split("\n")
        self.assertIn("db | db up", out)
        self.assertIn("main done", out)
        self.assertLess(out.index("── step 1: main ──"), out.index("main done"))

    def test_no_color_strips_escapes(self):
        srv = self.start_server()
        p = self.write_pipeline(
            "steps:\n"
            "  - name: colours\n"
            "    commands: [\"printf '\\\\033[1;31mred\\\\033[0m plain\\\\n'\"]\n")
        w = self.run_worker(p, srv.url)
        self.assertEqual(w.wait(), 0, w.proc.describe())
        target = "%d/1" % w.build_id
        kept = self.start(["logs", "--server", srv.url, target])
        stripped = self.start(["logs", "--no-color", "--server", srv.url, target])
        self.assertEqual(kept.wait(), 0)
        self.assertEqual(stripped.wait(), 0)
        self.assertIn("\x1b[1;31mred\x1b[0m plain", kept.out.text())
        self.assertEqual(stripped.out.text().split("\n")[-1], "red plain")
        self.assertNotIn("\x1b", stripped.out.text())


if __name__ == "__main__":
    lstest.main()
