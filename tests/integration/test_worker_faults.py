#!/usr/bin/env python3
"""The worker's upload path under faults, with the real server and worker:

(a) the server is killed (-9) mid-stream and restarted on the same port and
    data dir: the worker resumes and the stored log is exactly what the step
    printed;
(b) the server is down when the step starts and comes back 5 s later:
    nothing is lost;
(c) a step printing 1,000,000 lines is stored complete;
(d) secrets (from the environment, their base64 form, ::add-mask:: values)
    never reach the stored log;
plus the exit codes for pipeline and secret errors.

Run: python3 test_worker_faults.py --binary PATH_TO_logstream
"""

import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstest  # noqa: E402

GEN = r'''
import sys, time
n, every, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
for i in range(1, n + 1):
    sys.stdout.write("gen line %d of %d: %s\n" % (i, n, "x" * (i % 50)))
    if every and i % every == 0:
        sys.stdout.flush()
        time.sleep(pause)
sys.stdout.flush()
'''


def expected_gen(n):
    return "".join("gen line %d of %d: %s\n" % (i, n, "x" * (i % 50)) for i in range(1, n + 1))


# Fast timers so faults are noticed and retried quickly.
FAST = ["--backoff-base", "50ms", "--backoff-max", "500ms", "--heartbeat", "1s",
        "--upload-deadline", "120s"]


class WorkerFaults(lstest.TestCase):

    def pipeline(self, steps, name="faults"):
        """steps: list of (name, [commands], extra dict). Commands go in as JSON
        strings (valid YAML) so no quoting surprises."""
        out = ['version: "1"', "name: %s" % name, "steps:"]
        for sname, commands, extra in steps:
            out.append("  - name: %s" % sname)
            out.append("    commands:")
            for c in commands:
                out.append("      - %s" % json.dumps(c))
            for k, v in (extra or {}).items():
                out.append("    %s: %s" % (k, v))
        return self.write_pipeline("\n".join(out) + "\n")

    def gen_script(self):
        path = os.path.join(self.tmp, "gen.py")
        with open(path, "w") as f:
            f.write(GEN)
        return path

    def start_server_on(self, port, data_dir):
        """Restarts `logstream server` on a fixed port (retrying while the old
        socket is still being released)."""
        deadline = time.monotonic() + 20
        while True:
            p = self.start(["server", "--listen", "127.0.0.1:%d" % port, "--data", data_dir],
                           name="server2")
            if p.out.wait_for(r"listening on http://", lstest.START_TIMEOUT):
                return p
            p.stop()
            if time.monotonic() > deadline:
                self.fail("server did not restart on port %d:\n%s" % (port, p.describe()))
            time.sleep(0.2)

    def raw_log(self, url, build, step):
        a = lstest.request("GET", lstest.step_logs_url(url, build, step), timeout=120)
        self.assertEqual(a.status, 200, a.text())
        return a.body.decode("utf-8", "replace")

    def durable_seq(self, url, build, step):
        try:
            a = lstest.request("GET", "%s/api/v1/builds/%d/steps/%d/stream" % (url, build, step),
                            timeout=5)
            return a.json().get("durable_seq", 0) if a.status == 200 else 0
        except OSError:
            return 0

    def assert_step_log(self, log, command, body):
        """The stored log is the command echo followed by exactly what it printed."""
        self.assertTrue(log.startswith("$ " + command + "\n"), log[:300])
        got = log[len("$ " + command + "\n"):]
        if got != body:
            a, b = got.splitlines(), body.splitlines()
            first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            self.fail("stored log differs at line %d: got %d lines, want %d; got %r want %r"
                      % (first + 1, len(a), len(b), a[first:first + 2], b[first:first + 2]))

    # (a)
    def test_server_killed_mid_stream_resumes_exactly(self):
        srv = self.start_server()
        gen = self.gen_script()
        n = 6000
        cmd = "python3 %s %d 100 0.05" % (gen, n)  # about 3 s of output
        pipe = self.pipeline([("gen", [cmd], None)])
        w = self.run_worker(pipe, srv.url, FAST)
        deadline = time.monotonic() + 30
        while self.durable_seq(srv.url, w.build_id, 1) < 500:
            self.assertLess(time.monotonic(), deadline, "no lines reached the server")
            time.sleep(0.05)
        os.killpg(srv.proc.p.pid, signal.SIGKILL)
        srv.proc.p.wait()
        time.sleep(1.0)
        self.start_server_on(srv.port, srv.data_dir)
        rc = w.wait(180)
        self.assertEqual(rc, 0, w.proc.describe())
        self.assertTrue(w.proc.err.wait_for(r"upload interrupted", 0), w.proc.describe())
        self.assert_step_log(self.raw_log(srv.url, w.build_id, 1), cmd, expected_gen(n))
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "success")
        self.assertEqual(b["steps"][0]["status"], "success")
        self.assertEqual(b["steps"][0]["lines"], n + 1)

    # (b)
    def test_server_down_when_step_starts(self):
        srv = self.start_server()
        gen = self.gen_script()
        n = 3000
        cmd = "python3 %s %d 100 0.05" % (gen, n)  # about 1.5 s, all while the server is down
        pipe = self.pipeline([("gen", [cmd], None)])
        w = self.run_worker(pipe, srv.url, FAST)
        os.killpg(srv.proc.p.pid, signal.SIGKILL)  # right after the build was created
        srv.proc.p.wait()
        time.sleep(5.0)
        self.assertIsNone(w.proc.p.poll(), "the worker must wait for the server:\n"
                          + w.proc.describe())
        self.start_server_on(srv.port, srv.data_dir)
        rc = w.wait(180)
        self.assertEqual(rc, 0, w.proc.describe())
        self.assert_step_log(self.raw_log(srv.url, w.build_id, 1), cmd, expected_gen(n))
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "success")

    # (c)
    def test_million_lines_stored_complete(self):
        srv = self.start_server()
        n = 1000000
        cmd = "seq 1 %d" % n
        pipe = self.pipeline([("seq", [cmd], None)])
        t0 = time.monotonic()
        # Under ASan, freed memory stays resident in its quarantine (256 MB by
        # default), so the peak grew with the number of lines and hit 41 MB
        # on a loaded CI machine; with no quarantine it is flat (31-32 MB for
        # 1M and 3M lines here). Use-after-free is checked by the other tests.
        with open(lstest.binary(), "rb") as f:
            sanitized = b"__asan_init" in f.read()
        env = None
        if sanitized:
            env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0"}
        w = self.run_worker(pipe, srv.url, ["--upload-deadline", "300s"], env)
        peak = 0
        while w.proc.p.poll() is None:
            try:
                with open("/proc/%d/status" % w.proc.p.pid) as f:
                    m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
                    if m:
                        peak = max(peak, int(m.group(1)))
            except OSError:
                pass
            time.sleep(0.1)
            self.assertLess(time.monotonic() - t0, 400, "worker still running")
        rc = w.wait(10)
        elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0, w.proc.describe())
        log = self.raw_log(srv.url, w.build_id, 1)
        lines = log.split("\n")
        self.assertEqual(lines[0], "$ " + cmd)
        self.assertEqual(lines[-1], "")
        body = lines[1:-1]
        self.assertEqual(len(body), n)
        self.assertEqual(body, [str(i) for i in range(1, n + 1)])
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["steps"][0]["lines"], n + 1)
        sys.stderr.write("\n  1,000,000 lines: worker done in %.1fs, worker peak RSS %.1f MB\n"
                         % (elapsed, peak / 1024.0))
        # Memory stays flat whatever the log size: < 20 MB, the issue's
        # target, checked in the optimised build (16-17 MB there), also when
        # the plugin host falls behind (its lines beyond --plugin-queue, 1 MiB,
        # wait on disk). ASan's
        # shadow memory and allocator add ~15 MB to the unoptimised sanitized
        # build (31-32 MB seen): a looser bound that still catches growth
        # with the log size (1M lines of text would be 7 MB more per copy).
        limit_mb = 38 if sanitized else 20
        self.assertLess(peak / 1024.0, limit_mb, "worker peak RSS")

    # (d)
    def test_secrets_masked_in_stored_log(self):
        srv = self.start_server()
        secret = "s3cr3t-Value-7731"
        runtime = "runtime-mask-4242"
        cmds = [
            'echo "token is $API_TOKEN."',
            'printf %s "$API_TOKEN" | base64',
            'echo "::add-mask::$RUNTIME_VALUE"',
            'echo "later $RUNTIME_VALUE and again $RUNTIME_VALUE"',
            "echo done",
        ]
        # The runtime value comes from the environment so that the shell's
        # command echo (printed before ::add-mask:: runs) does not show it.
        pipe = self.pipeline([("secret", cmds, {"secrets": "[API_TOKEN]",
                                                "environment": "{RUNTIME_VALUE: %s}" % runtime})])
        w = self.run_worker(pipe, srv.url, FAST, env={"API_TOKEN": secret})
        rc = w.wait(60)
        self.assertEqual(rc, 0, w.proc.describe())
        log = self.raw_log(srv.url, w.build_id, 1)
        import base64
        b64 = base64.b64encode(secret.encode()).decode()
        for leak in (secret, b64.rstrip("="), runtime):
            self.assertNotIn(leak, log)
        self.assertIn("token is ***.", log)
        self.assertIn("::add-mask::***", log)
        self.assertIn("later *** and again ***", log)
        self.assertIn("\ndone\n", log)

    def test_missing_secret_and_bad_pipeline_exit_2(self):
        srv = self.start_server()
        pipe = self.pipeline([("s", ["echo hi"], {"secrets": "[NOT_SET_ANYWHERE_42]"})])
        env = dict(os.environ)
        env.pop("NOT_SET_ANYWHERE_42", None)
        p = self.start(["run", pipe, "--server", srv.url], env=env)
        self.assertEqual(p.wait(30), 2)
        self.assertTrue(p.err.wait_for("NOT_SET_ANYWHERE_42", 0), p.describe())

        env["NOT_SET_ANYWHERE_42"] = "abc"  # shorter than --min-secret-length (4)
        p = self.start(["run", pipe, "--server", srv.url], env=env)
        self.assertEqual(p.wait(30), 2)
        self.assertTrue(p.err.wait_for("NOT_SET_ANYWHERE_42 is shorter than 4 bytes", 0),
                        p.describe())

        bad = self.write_pipeline('version: "1"\nsteps:\n  - name: x\n    commands: 5\n',
                                  "bad.yml")
        p = self.start(["run", bad, "--server", srv.url])
        self.assertEqual(p.wait(30), 2)
        self.assertTrue(p.err.wait_for(r"bad\.yml:\d+:\d+: ", 0), p.describe())

    def test_failed_step_cancels_the_rest(self):
        srv = self.start_server()
        pipe = self.pipeline([("ok", ["echo one"], None), ("bad", ["echo two", "exit 3"], None),
                              ("never", ["echo three"], None)])
        w = self.run_worker(pipe, srv.url, FAST)
        self.assertEqual(w.wait(60), 1, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "failure")
        steps = [s for s in b["steps"] if s["kind"] != "plugins"]
        self.assertEqual([s["status"] for s in steps], ["success", "failure", "canceled"])
        # the plugins log ends with the build; its status is not the build's
        self.assertEqual([s["status"] for s in b["steps"] if s["kind"] == "plugins"], ["success"])
        self.assertEqual(b["steps"][1]["exit_code"], 3)
        self.assertEqual(self.raw_log(srv.url, w.build_id, 2), "$ echo two\ntwo\n$ exit 3\n")

    def test_batch_transport_stores_everything(self):
        srv = self.start_server()
        gen = self.gen_script()
        n = 20000
        cmd = "python3 %s %d 5000 0.2" % (gen, n)
        pipe = self.pipeline([("gen", [cmd], None)])
        w = self.run_worker(pipe, srv.url, FAST + ["--transport", "batch",
                                                    "--batch-interval", "100ms"])
        self.assertEqual(w.wait(120), 0, w.proc.describe())
        self.assert_step_log(self.raw_log(srv.url, w.build_id, 1), cmd, expected_gen(n))

    def test_sigint_cancels_and_keeps_what_was_printed(self):
        srv = self.start_server()
        pipe = self.pipeline([
            ("long", ["echo before the signal", "sleep 60", "echo never printed"], None),
            ("next", ["echo never run"], None)])
        w = self.run_worker(pipe, srv.url, FAST + ["--stop-grace", "2s"])
        deadline = time.monotonic() + 20
        while self.durable_seq(srv.url, w.build_id, 1) < 3:
            self.assertLess(time.monotonic(), deadline, "no lines reached the server")
            time.sleep(0.05)
        w.proc.signal(signal.SIGINT)
        self.assertEqual(w.wait(30), 1, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "canceled")
        self.assertEqual([s["status"] for s in b["steps"]], ["canceled", "canceled", "canceled"])
        self.assertEqual(b["steps"][2]["kind"], "plugins")
        log = self.raw_log(srv.url, w.build_id, 1)
        self.assertTrue(log.startswith("$ echo before the signal\nbefore the signal\n$ sleep 60\n"),
                        log)
        self.assertNotIn("never printed", log)


if __name__ == "__main__":
    lstest.main()
