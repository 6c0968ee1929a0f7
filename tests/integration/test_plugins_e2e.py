#!/usr/bin/env python3
"""Log plugins end to end: `logstream run` starts the real plugin host beside
the build, feeds it every masked line and streams its output as the build's
"plugins" log on the real server. Third-party plugins are built here with
`cc -shared -fPIC` against include/logstream/plugin.h and loaded with
--plugin-dir: one that talks while the build runs (the log is live), one that
segfaults in process_line. The host is also killed with SIGKILL mid-build.
Whatever happens to the host, the build keeps its own result.

usage: test_plugins_e2e.py --binary PATH_TO_logstream
"""
import os
import pathlib
import re
import shutil
import signal
import subprocess
import time
import unittest

import lstest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CC = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")

# Says something as soon as it sees a line starting with "PING" (so the test
# can see the plugins log grow while the build still runs).
ECHO_PLUGIN = r"""
#include <logstream/plugin.h>
#include <string.h>
static int init(const ls_plugin_context *c, void **s) { *s = 0; return LS_PLUGIN_RUN; }
static int line(const ls_plugin_context *c, void *s, const ls_plugin_step *st,
                const char *l, size_t n) {
    if (n >= 4 && memcmp(l, "PING", 4) == 0)
        c->output(c, "step %s saw: %s", st->name, l);
    return 0;
}
LS_PLUGIN_EXPORT const ls_plugin_v1 logstream_plugin = {
    LS_PLUGIN_ABI_VERSION, "echo", "repeats PING lines", init, line, 0, 0 };
"""

# Crashes the whole host on a line that says CRASH.
CRASH_PLUGIN = r"""
#include <logstream/plugin.h>
#include <string.h>
static int init(const ls_plugin_context *c, void **s) { *s = 0; return LS_PLUGIN_RUN; }
static int line(const ls_plugin_context *c, void *s, const ls_plugin_step *st,
                const char *l, size_t n) {
    if (strstr(l, "CRASH")) {
        volatile int *p = (volatile int *)0;
        *p = 42;
    }
    return 0;
}
LS_PLUGIN_EXPORT const ls_plugin_v1 logstream_plugin = {
    LS_PLUGIN_ABI_VERSION, "crash", "segfaults on CRASH", init, line, 0, 0 };
"""

# The sanitizer build's host must die of the signal, not report it and exit 1.
NO_SEGV_HANDLER = {"ASAN_OPTIONS": "handle_segv=0:" + os.environ.get("ASAN_OPTIONS", "")}

WAIT = 60.0


def children_of(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def plugin_hosts_of(pid):
    return [c for c in children_of(pid) if b"plugin-host" in cmdline(c)]


class PluginsE2E(lstest.TestCase):
    def build_plugin(self, name, source):
        if not CC:
            self.skipTest("no C compiler")
        d = os.path.join(self.tmp, "plugins-" + name)
        os.makedirs(d, exist_ok=True)
        src = os.path.join(self.tmp, name + ".c")
        with open(src, "w") as f:
            f.write(source)
        subprocess.run([CC, "-shared", "-fPIC", "-O1", "-I", str(ROOT / "include"), "-o",
                        os.path.join(d, name + ".so"), src], check=True)
        return d

    def logs(self, srv, build, step):
        a = lstest.request("GET", lstest.step_logs_url(srv.url, build, step))
        self.assertEqual(a.status, 200, a.text())
        return a.text()

    def wait_logs(self, srv, build, step, pattern, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            text = self.logs(srv, build, step)
            if re.search(pattern, text, re.M):
                return text
            if time.monotonic() > deadline:
                self.fail("no %r in the log of step %d within %ss:\n%s" % (
                    pattern, step, timeout, text))
            time.sleep(0.1)

    def wait_step_final(self, srv, build, step, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            b = lstest.get_json("%s/api/v1/builds/%d" % (srv.url, build))
            s = [s for s in b["steps"] if s["number"] == step][0]
            if s["status"] not in ("pending", "running"):
                return s
            if time.monotonic() > deadline:
                self.fail("step %d still %s" % (step, s["status"]))
            time.sleep(0.1)

    def go_file(self):
        return os.path.join(self.tmp, "go")

    def wait_for_go(self):
        return "while [ ! -f %s ]; do sleep 0.05; done" % self.go_file()

    def release(self):
        open(self.go_file(), "w").close()

    # ---- resave, live output, masking ----

    def test_resave_live_and_masked(self):
        srv = self.start_server()
        echo_dir = self.build_plugin("echo", ECHO_PLUGIN)
        secret = "hunter2-very-secret"
        copies = os.path.join(self.tmp, "copies")
        p = self.write_pipeline("""
name: plugins-e2e
environment: {SHOWN: plain-value, LEAKY: "x-%s-x"}
plugins:
  settings:
    resave: {dir: %s}
steps:
  - name: build
    secrets: [DEPLOY_KEY]
    commands:
      - echo "deploying with $DEPLOY_KEY"
      - echo PING from build
      - %s
      - echo after the wait
  - name: test
    commands: ["seq 1 50"]
services:
  - name: db
    commands: ["echo db up", "sleep 600"]
""" % (secret, copies, self.wait_for_go()))
        w = self.run_worker(p, srv.url, ["--plugin-dir", echo_dir],
                            env={"DEPLOY_KEY": secret})
        b = lstest.get_json("%s/api/v1/builds/%d" % (srv.url, w.build_id))
        kinds = [(s["number"], s["name"], s["kind"]) for s in b["steps"]]
        self.assertEqual(kinds, [(1, "build", "step"), (2, "test", "step"),
                                 (3, "db", "service"), (4, "plugins", "plugins")])
        # live: the echo plugin's line is in the plugins log while step 1 still waits
        text = self.wait_logs(srv, w.build_id, 4, r"^\[echo\] step build saw: PING from build$")
        b = lstest.get_json("%s/api/v1/builds/%d" % (srv.url, w.build_id))
        # neither the build, nor step 1, nor the plugins log has finished (status
        # PATCHes travel apart from the lines, so "running" may still be on its way)
        self.assertIn(b["status"], ("pending", "running"))
        self.assertIn(b["steps"][0]["status"], ("pending", "running"))
        self.assertIn(b["steps"][3]["status"], ("pending", "running"))
        self.release()
        self.assertEqual(w.wait(), 0, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "success")
        pl = self.wait_step_final(srv, w.build_id, 4)
        self.assertEqual((pl["status"], pl["exit_code"]), ("success", 0))
        text = self.logs(srv, w.build_id, 4)
        saved = dict(re.findall(r"^\[resave\] step (\S+): \d+ lines saved to (\S+)$", text, re.M))
        self.assertEqual(sorted(saved), ["build", "db", "test"], text)
        with open(saved["test"]) as f:
            self.assertEqual(f.read(), "$ seq 1 50\n" + "".join("%d\n" % i for i in range(1, 51)))
        with open(saved["build"]) as f:
            build_copy = f.read()
        self.assertIn("deploying with ***\n", build_copy)
        self.assertIn("after the wait\n", build_copy)
        with open(saved["db"]) as f:
            self.assertIn("db up\n", f.read())
        self.assertEqual(saved["build"], os.path.join(copies, "1-build.log"))
        # the secret reached neither the host's files nor its output
        self.assertEqual(sorted(os.listdir(copies)), ["1-build.log", "2-test.log", "3-db.log"])
        for name in os.listdir(copies):
            with open(os.path.join(copies, name), "rb") as f:
                self.assertNotIn(secret.encode(), f.read(), name)
        self.assertNotIn(secret, text)
        self.assertNotIn(secret, w.proc.err.text())

    # ---- a host that dies ----

    def run_crashing(self, srv, plugin_dir, last_command):
        p = self.write_pipeline("""
steps:
  - name: first
    commands: ["echo fine", "echo now CRASH please", "sleep 0.5", "echo still running"]
  - name: second
    commands: ["echo second step", "%s"]
""" % last_command, name="crash-%s.yml" % last_command.replace(" ", "-"))
        w = self.run_worker(p, srv.url, ["--plugin-dir", plugin_dir], env=NO_SEGV_HANDLER)
        rc = w.wait()
        b = lstest.wait_build_final(srv.url, w.build_id)
        return w, rc, b

    def test_plugin_segfault_keeps_the_build_result(self):
        srv = self.start_server()
        crash_dir = self.build_plugin("crash", CRASH_PLUGIN)
        for last, want_rc, want_status in (("true", 0, "success"), ("exit 4", 1, "failure")):
            with self.subTest(last=last):
                w, rc, b = self.run_crashing(srv, crash_dir, last)
                self.assertEqual(rc, want_rc, w.proc.describe())
                self.assertEqual(b["status"], want_status)
                self.assertEqual([s["status"] for s in b["steps"][:2]],
                                 ["success", want_status])
                self.assertEqual(b["steps"][1]["lines"], 3)
                text = self.wait_logs(
                    srv, w.build_id, 3,
                    r"^plugin host exited with signal 11 \(Segmentation fault\); plugins are "
                    r"off for the rest of this build$")
                pl = self.wait_step_final(srv, w.build_id, 3)
                self.assertEqual((pl["kind"], pl["status"], pl["exit_code"]),
                                 ("plugins", "failure", 128 + 11))
                self.assertNotIn("[resave]", text)  # no finalize ran
                self.assertIn("plugin host exited with signal 11", w.proc.err.text())

    def test_host_killed_mid_build(self):
        srv = self.start_server()
        p = self.write_pipeline("""
steps:
  - name: wait
    commands: ["echo before", "%s", "echo after"]
  - name: more
    commands: ["echo more"]
""" % self.wait_for_go())
        w = self.run_worker(p, srv.url)
        self.wait_logs(srv, w.build_id, 1, r"^before$")
        hosts = plugin_hosts_of(w.proc.p.pid)
        self.assertEqual(len(hosts), 1, "plugin hosts: %r" % hosts)
        os.kill(hosts[0], signal.SIGKILL)
        self.wait_logs(srv, w.build_id, 3,
                       r"^plugin host exited with signal 9 \(Killed\); plugins are off for the "
                       r"rest of this build$")
        self.release()
        self.assertEqual(w.wait(), 0, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "success")
        self.assertEqual([s["status"] for s in b["steps"][:2]], ["success", "success"])
        self.assertEqual(b["steps"][0]["lines"], 5)
        pl = self.wait_step_final(srv, w.build_id, 3)
        self.assertEqual((pl["status"], pl["exit_code"]), ("failure", 137))

    # ---- a host that falls behind ----

    def test_stopped_host_gets_every_line_later(self):
        """The host stops reading (SIGSTOP) while a step prints 300,000 lines:
        beyond the worker's 64 KiB queue they wait in the spill file, the step
        ends as usual, and once the host runs again resave gets every line, in
        order; nothing is reported lost."""
        srv = self.start_server()
        copies = os.path.join(self.tmp, "copies")
        spool = os.path.join(self.tmp, "spool")
        p = self.write_pipeline("""
plugins:
  enable: [resave]
  disable: [test-results, tool-usage, forward]
  settings:
    resave: {dir: %s}
steps:
  - name: flood
    commands: ["%s", "seq 1 300000"]
""" % (copies, self.wait_for_go()))
        w = self.run_worker(p, srv.url, ["--plugin-queue", "64KiB", "--spool-dir", spool])
        self.wait_logs(srv, w.build_id, 1, r"^\$ while ")
        hosts = plugin_hosts_of(w.proc.p.pid)
        self.assertEqual(len(hosts), 1, "plugin hosts: %r" % hosts)
        os.kill(hosts[0], signal.SIGSTOP)
        try:
            self.release()
            step = self.wait_step_final(srv, w.build_id, 1)
            self.assertEqual(step["status"], "success")
            fds = os.listdir("/proc/%d/fd" % w.proc.p.pid)
            links = [os.readlink("/proc/%d/fd/%s" % (w.proc.p.pid, fd)) for fd in fds]
            spills = [l for l in links if "/plugin-spill-" in l]
            self.assertEqual(len(spills), 1, links)
            self.assertTrue(spills[0].startswith(spool + "/"), spills)
            self.assertTrue(spills[0].endswith(" (deleted)"), spills)  # nothing left behind
        finally:
            os.kill(hosts[0], signal.SIGCONT)
        self.assertEqual(w.wait(), 0, w.proc.describe())
        self.wait_step_final(srv, w.build_id, 2)
        text = self.logs(srv, w.build_id, 2)
        self.assertNotIn("not given to plugins", text)
        self.assertIn("[resave] step flood: 300002 lines saved to", text)
        with open(os.path.join(copies, "1-flood.log")) as f:
            self.assertEqual(f.read(), "$ %s\n$ seq 1 300000\n" % self.wait_for_go()
                             + "".join("%d\n" % i for i in range(1, 300001)))

    def test_temp_dir_goes_with_the_build(self):
        srv = self.start_server()
        p = self.write_pipeline("plugins: {enable: [resave]}\n"
                                "steps: [{name: only, commands: [echo hi]}]\n")
        w = self.run_worker(p, srv.url, env={"TMPDIR": self.tmp})
        self.assertEqual(w.wait(), 0, w.proc.describe())
        lstest.wait_build_final(srv.url, w.build_id)
        self.wait_step_final(srv, w.build_id, 2)
        text = self.logs(srv, w.build_id, 2)
        path = re.search(r"^\[resave\] step only: 2 lines saved to (\S+)$", text, re.M).group(1)
        self.assertTrue(path.startswith(os.path.join(self.tmp, "logstream-job-%d-" % w.build_id)))
        self.assertFalse(os.path.exists(os.path.dirname(os.path.dirname(path))))
        # and resave says so
        self.assertIn("[resave] these copies are in the job's temporary directory, which is "
                      "removed when the build ends", text)

    def test_resave_is_off_unless_asked_for(self):
        srv = self.start_server()
        p = self.write_pipeline("steps: [{name: only, commands: [echo hi]}]\n")
        quiet = {"LOGSTREAM_PLUGIN_DIAGNOSTICS": ""}  # the default (lstest sets "-")
        w = self.run_worker(p, srv.url, env=quiet)
        self.assertEqual(w.wait(), 0, w.proc.describe())
        lstest.wait_build_final(srv.url, w.build_id)
        self.wait_step_final(srv, w.build_id, 2)
        self.assertNotIn("[resave]", self.logs(srv, w.build_id, 2))
        # the host's diagnostics are not on the worker's stderr unless asked for
        self.assertNotIn("plugin-host:", w.proc.err.text())
        diag = os.path.join(self.tmp, "diag.log")
        w = self.run_worker(p, srv.url, ["--plugin", "resave", "--plugin-diagnostics", diag],
                            env=quiet)
        self.assertEqual(w.wait(), 0, w.proc.describe())
        self.wait_step_final(srv, w.build_id, 2)
        self.assertIn("[resave] step only: 2 lines saved to", self.logs(srv, w.build_id, 2))
        with open(diag) as f:
            self.assertIn("plugin-host: resave: done; 2 lines processed", f.read())
        self.assertNotIn("plugin-host:", w.proc.err.text())

    # ---- switching plugins off and on ----

    def test_no_plugins_starts_no_host(self):
        srv = self.start_server()
        p = self.write_pipeline("""
steps:
  - name: only
    commands: ["echo hi", "%s"]
""" % self.wait_for_go())
        w = self.run_worker(p, srv.url, ["--no-plugins"])
        self.wait_logs(srv, w.build_id, 1, r"^hi$")
        self.assertEqual(plugin_hosts_of(w.proc.p.pid), [])
        self.release()
        self.assertEqual(w.wait(), 0, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual([s["kind"] for s in b["steps"]], ["step"])
        self.assertNotIn("plugin-host", w.proc.err.text())

    def test_pipeline_keys_and_flags(self):
        srv = self.start_server()
        off = self.write_pipeline("""
plugins: {enabled: false}
steps:
  - name: only
    commands: ["echo hi"]
""", name="off.yml")
        w = self.run_worker(off, srv.url)
        self.assertEqual(w.wait(), 0, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual([s["kind"] for s in b["steps"]], ["step"])

        # --plugin wins over the file: only resave runs, with the file's settings
        copies = os.path.join(self.tmp, "copies")
        only = self.write_pipeline("""
plugins:
  enabled: false
  disable: [resave]
  settings:
    resave: {dir: %s}
steps:
  - name: only
    commands: ["echo hi"]
""" % copies, name="only.yml")
        w = self.run_worker(only, srv.url, ["--plugin", "resave"])
        self.assertEqual(w.wait(), 0, w.proc.describe())
        lstest.wait_build_final(srv.url, w.build_id)
        self.wait_step_final(srv, w.build_id, 2)
        text = self.logs(srv, w.build_id, 2)
        self.assertEqual(text.strip(), "[resave] step only: 2 lines saved to %s/1-only.log"
                         % copies)
        with open(os.path.join(copies, "1-only.log")) as f:
            self.assertEqual(f.read(), "$ echo hi\nhi\n")

        # --disable-plugin wins over the file's enable
        on = self.write_pipeline("""
plugins: {enable: [resave]}
steps:
  - name: only
    commands: ["echo hi"]
""", name="on.yml")
        w = self.run_worker(on, srv.url, ["--disable-plugin", "resave,test-results"])
        self.assertEqual(w.wait(), 0, w.proc.describe())
        lstest.wait_build_final(srv.url, w.build_id)
        self.wait_step_final(srv, w.build_id, 2)
        self.assertNotIn("[resave]", self.logs(srv, w.build_id, 2))

    def test_bad_plugins_key_is_a_pipeline_error(self):
        srv = self.start_server()
        bad = self.write_pipeline("""steps:
  - name: only
    commands: ["echo hi"]
plugins:
  disable: [Not_A_Name]
""", name="bad.yml")
        p = self.start(["run", bad, "--server", srv.url])
        self.assertEqual(p.wait(), 2)
        self.assertRegex(p.err.text(), r"bad\.yml:5:13: invalid plugin name \"Not_A_Name\"")
        good = self.write_pipeline("steps: [{name: only, commands: [echo hi]}]\n", name="good.yml")
        p = self.start(["run", good, "--server", srv.url, "--no-plugins", "--plugin", "resave"])
        self.assertEqual(p.wait(), 2)
        self.assertIn("--no-plugins cannot be combined with --plugin", p.err.text())
        p = self.start(["run", good, "--server", srv.url, "--plugin", "resave",
                        "--disable-plugin=forward,resave"])
        self.assertEqual(p.wait(), 2)
        self.assertIn("plugin resave is given to both --plugin and --disable-plugin", p.err.text())


if __name__ == "__main__":
    lstest.main()
