#!/usr/bin/env python3
"""The real `logstream plugin-host` driven through stdin, as the worker does:
the resave sample end to end, plugins loaded with dlopen (the resave source
built as a shared object, an ABI mismatch, a stuck plugin tripping the
breaker), a refused context, and end of input without the finish line.

usage: test_plugin_host.py --binary PATH_TO_logstream
"""
import argparse
import os
import re
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = None
CC = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")

STUCK_PLUGIN = r"""
#include <logstream/plugin.h>
#include <unistd.h>
static int init(const ls_plugin_context *c, void **s) { *s = 0; return LS_PLUGIN_RUN; }
static int line(const ls_plugin_context *c, void *s, const ls_plugin_step *st,
                const char *l, size_t n) { for (;;) pause(); return 0; }
LS_PLUGIN_EXPORT const ls_plugin_v1 logstream_plugin = {
    LS_PLUGIN_ABI_VERSION, "stuck", "never returns", init, line, 0, 0 };
"""

# Reads nothing until the file named by $LATE_GO exists, then counts its
# lines and adds up their numbers ("N:line K" -> K).
LATE_PLUGIN = r"""
#include <logstream/plugin.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static unsigned long long n, sum;
static int init(const ls_plugin_context *c, void **s) { *s = 0; return LS_PLUGIN_RUN; }
static int line(const ls_plugin_context *c, void *s, const ls_plugin_step *st,
                const char *l, size_t len) {
    while (access(getenv("LATE_GO"), F_OK) != 0) usleep(10000);
    n++;
    if (len > 5 && memcmp(l, "line ", 5) == 0) sum += strtoull(l + 5, 0, 10);
    return 0;
}
static int fin(const ls_plugin_context *c, void *s) {
    c->output(c, "late saw %llu lines, sum %llu", n, sum);
    return 0;
}
LS_PLUGIN_EXPORT const ls_plugin_v1 logstream_plugin = {
    LS_PLUGIN_ABI_VERSION, "late", "falls behind, then catches up", init, line, fin, 0 };
"""

FUTURE_ABI_PLUGIN = r"""
#include <logstream/plugin.h>
static int init(const ls_plugin_context *c, void **s) { return LS_PLUGIN_DECLINE; }
static int line(const ls_plugin_context *c, void *s, const ls_plugin_step *st,
                const char *l, size_t n) { return 0; }
LS_PLUGIN_EXPORT const ls_plugin_v1 logstream_plugin = {
    99, "future", "built for another ABI", init, line, 0, 0 };
"""


def context(tmp, plugins=None, nonce="n0nce"):
    import json
    ctx = {
        "build_id": 3,
        "server": {"url": "http://127.0.0.1:9", "token": "t"},
        "temp_dir": str(tmp),
        "finish_nonce": nonce,
        "variables": {"CI": "true"},
        "steps": [{"id": "1", "name": "build"}, {"id": 2, "name": "unit tests"}],
    }
    if plugins is not None:
        ctx["plugins"] = plugins
    return json.dumps(ctx) + "\n"


def run_host(stdin_text, args=(), timeout=30, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([BINARY, "plugin-host", *args], input=stdin_text.encode(),
                          capture_output=True, timeout=timeout, env=e)


def compile_plugin(source_text, out_path, extra=()):
    src = out_path.with_suffix(".c")
    src.write_text(source_text)
    subprocess.run([CC, "-shared", "-fPIC", "-O2", "-I", str(ROOT / "include"), *extra,
                    "-o", str(out_path), str(src)], check=True)
    src.unlink()


class PluginHostTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        probe = subprocess.run([BINARY, "plugin-host", "--help"], capture_output=True,
                               timeout=10)
        out = probe.stdout.decode(errors="replace") + probe.stderr.decode(errors="replace")
        if probe.returncode != 0 or "plugin-max-pending" not in out:
            raise AssertionError(
                "`%s plugin-host` is not wired: main.c must dispatch the `plugin-host` "
                "command to ls_pluginhost_main(argc - 2, argv + 2) from "
                "src/pluginhost/host.h (exit %d, output: %r)"
                % (BINARY, probe.returncode, out[:300]))

    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="test_plugin_host_"))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_resave_end_to_end(self):
        lines = ["1:compiling", "2:test a ... ok", "1:", "1:a:b:c", "2:test b ... ok",
                 "##[logplugin.finish]n0nce"]
        p = run_host(context(self.tmp) + "\n".join(lines) + "\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        build = self.tmp / "resave" / "1-build.log"
        tests = self.tmp / "resave" / "2-unit_tests.log"
        self.assertEqual(build.read_text(), "compiling\n\na:b:c\n")
        self.assertEqual(tests.read_text(), "test a ... ok\ntest b ... ok\n")
        self.assertEqual(p.stdout.decode(),
                         "[resave] step build: 3 lines saved to %s\n"
                         "[resave] step unit tests: 2 lines saved to %s\n"
                         "[resave] these copies are in the job's temporary directory, which is "
                         "removed when the build ends: give resave a \"dir\" setting to keep "
                         "them\n" % (build, tests))
        self.assertIn("plugin-host: resave: done; 5 lines processed", p.stderr.decode())

    def test_resave_built_as_shared_object_is_loaded_with_dlopen(self):
        plugins = self.tmp / "plugins"
        plugins.mkdir()
        # The sample's own source, renamed so it does not clash with the built-in copy.
        src = (ROOT / "src/plugins/resave/resave.c").read_text()
        self.assertIn('.name = "resave"', src)
        src = src.replace('.name = "resave"', '.name = "resave-so"')
        compile_plugin(src, plugins / "resave-so.so", ["-DLS_PLUGIN_SHARED"])
        out_dir = self.tmp / "copies"
        ctx = context(self.tmp, plugins={"resave-so": {"settings": {"dir": str(out_dir)}}})
        p = run_host(ctx + "1:from the shared object\n##[logplugin.finish]n0nce\n",
                     ["--plugin-dir", str(plugins)])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual((out_dir / "1-build.log").read_text(), "from the shared object\n")
        self.assertEqual(p.stdout.decode(), "[resave-so] step build: 1 lines saved to %s\n"
                         % (out_dir / "1-build.log"))
        self.assertFalse((self.tmp / "resave").exists())  # the built-in was not enabled

    def test_junit_limits_are_settings(self):
        data = ROOT / "tests/data/test-results/junit"
        files = sorted(str(p) for p in data.glob("pytest-*.xml"))
        self.assertEqual(len(files), 2)
        ctx = context(self.tmp, plugins={"test-results": {"settings": {
            "junit": files, "junit_max_files": 1}}})
        p = run_host(ctx + "##[logplugin.finish]n0nce\n")
        out = p.stdout.decode()
        self.assertIn("[test-results] 2 JUnit XML files match; only the first 1 are read "
                      "(junit_max_files)", out)
        ctx = context(self.tmp, plugins={"test-results": {"settings": {
            "junit": files[:1], "junit_max_bytes": "100"}}})
        p = run_host(ctx + "##[logplugin.finish]n0nce\n")
        self.assertIn("[test-results] JUnit XML %s skipped: larger than 100 bytes "
                      "(the junit_max_bytes setting)" % files[0], p.stdout.decode())
        ctx = context(self.tmp, plugins={"test-results": {"settings": {
            "junit": files[:1], "junit_max_files": "lots"}}})
        p = run_host(ctx + "##[logplugin.finish]n0nce\n")
        self.assertIn('setting "junit_max_files" must be a number from 1 to 1000000, not "lots"',
                      p.stdout.decode())

    def test_abi_mismatch_is_refused_and_others_still_run(self):
        plugins = self.tmp / "plugins"
        plugins.mkdir()
        compile_plugin(FUTURE_ABI_PLUGIN, plugins / "future.so")
        (plugins / "garbage.so").write_text("not a shared object")
        p = run_host(context(self.tmp) + "1:x\n##[logplugin.finish]n0nce\n",
                     ["--plugin-dir", str(plugins)])
        out = p.stdout.decode()
        self.assertEqual(p.returncode, 1, out)
        self.assertIn("[plugin-host] plugin not loaded: %s: plugin ABI version 99 is not "
                      "supported (this host supports version 1)" % (plugins / "future.so"), out)
        self.assertIn("[plugin-host] plugin not loaded: %s: cannot load" % (plugins / "garbage.so"),
                      out)
        self.assertIn("[resave] step build: 1 lines saved to", out)

    def test_plugin_that_falls_behind_gets_every_line_later(self):
        """A plugin that takes no line for a while: beyond its 1 MiB in memory
        its lines wait in an unlinked file in the job's temporary directory,
        and once it runs again it gets every one of them, in order."""
        plugins = self.tmp / "plugins"
        plugins.mkdir()
        compile_plugin(LATE_PLUGIN, plugins / "late.so")
        go = self.tmp / "go"
        n = 200000
        body = "".join("1:line %d\n" % i for i in range(1, n + 1)).encode()  # 2.3 MB
        proc = subprocess.Popen(
            [BINARY, "plugin-host", "--plugin-dir", str(plugins)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, LOGSTREAM_PLUGIN_MAX_PENDING="1MiB", LATE_GO=str(go)))
        try:
            proc.stdin.write(context(self.tmp).encode() + body)
            proc.stdin.flush()
            deadline = time.monotonic() + 30
            spill = []
            while not spill and time.monotonic() < deadline:
                fd_dir = "/proc/%d/fd" % proc.pid
                links = [os.readlink(os.path.join(fd_dir, f)) for f in os.listdir(fd_dir)]
                spill = [l for l in links if "/plugin-queue-" in l]
                time.sleep(0.05)
            self.assertTrue(spill, links)  # late's, and maybe another plugin's that lagged
            for path in spill:
                self.assertTrue(path.startswith(str(self.tmp) + "/"), spill)
                self.assertTrue(path.endswith(" (deleted)"), spill)
        finally:
            go.touch()
        proc.stdin.write(b"##[logplugin.finish]n0nce\n")
        proc.stdin.close()
        proc.stdin = None
        out, err = proc.communicate(timeout=60)
        out = out.decode()
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("[late] late saw %d lines, sum %d" % (n, n * (n + 1) // 2), out)
        self.assertIn("[plugin-host] late cannot keep up: more than 1 MiB of lines wait for it "
                      "(--plugin-max-pending); they wait on disk until it catches up", out)
        self.assertNotIn("were not given", out)
        self.assertIn("plugin-host: late: done; %d lines processed, 0 dropped" % n, err.decode())
        self.assertEqual([p.name for p in self.tmp.iterdir() if "plugin-queue" in p.name], [])

    def test_stuck_plugin_trips_breaker_and_host_exits(self):
        plugins = self.tmp / "plugins"
        plugins.mkdir()
        compile_plugin(STUCK_PLUGIN, plugins / "stuck.so")
        # ~10 MB: fills the stuck plugin's queue; resave must keep up within its 4 MiB.
        body = "".join("%d:line %d of some build output\n" % (1 + i % 2, i)
                       for i in range(200000))
        proc = subprocess.Popen(
            [BINARY, "plugin-host", "--plugin-dir", str(plugins)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=dict(os.environ, LOGSTREAM_PLUGIN_MAX_PENDING="4MiB",
                     LOGSTREAM_PLUGIN_BREAKER_WINDOW="300ms"))
        start = time.monotonic()
        proc.stdin.write(context(self.tmp).encode())
        data = body.encode()
        # ~25 MB/s: far less than the host reads, so resave keeps up even on
        # a busy machine, while the stuck plugin's queue fills all the same.
        for off in range(0, len(data), 256 * 1024):
            proc.stdin.write(data[off:off + 256 * 1024])
            proc.stdin.flush()
            time.sleep(0.01)
        written = time.monotonic() - start
        time.sleep(0.8)  # longer than the window: the breaker trips on its own
        proc.stdin.write(b"1:last\n##[logplugin.finish]n0nce\n")
        proc.stdin.close()
        proc.stdin = None  # closed by hand: communicate() must not flush it
        out, err = proc.communicate(timeout=30)
        out = out.decode()
        self.assertLess(written, 5.0, "the host did not keep reading stdin")
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn("[plugin-host] stuck cannot keep up: more than 4 MiB of lines wait for it "
                      "(--plugin-max-pending); they wait on disk until it catches up", out)
        self.assertIn("[plugin-host] stuck stopped: circuit breaker: more than 4 MiB of lines "
                      "waited for it for longer than 300 ms", out)
        self.assertRegex(out, r"\[plugin-host\] stuck: \d+ lines \(\d+ bytes\) were not given")
        self.assertEqual(len((self.tmp / "resave" / "1-build.log").read_text().splitlines()),
                         100001)  # resave, with room to lag, lost nothing

    def test_refused_context_exits_2_and_reads_all_input(self):
        body = "".join("1:line %d\n" % i for i in range(100000))  # > a pipe's buffer
        p = run_host("{this is not json\n" + body)
        self.assertEqual(p.returncode, 2)
        self.assertIn("[plugin-host] log plugins do not run for this job: its context was "
                      "refused (context is not valid JSON", p.stdout.decode())

    def test_eof_without_finish_ends_cleanly(self):
        start = time.monotonic()
        p = run_host(context(self.tmp) + "1:a\n2:b\n", timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertLess(time.monotonic() - start, 10)
        self.assertEqual(p.stdout.decode(), "")  # no finalize, so no report
        self.assertIn("input ended without the finish line", p.stderr.decode())

    def test_malformed_lines_are_reported_and_skipped(self):
        p = run_host(context(self.tmp) + "no prefix\n9:unknown step\n1:good\n"
                     "##[logplugin.finish]wrong\n##[logplugin.finish]n0nce\n")
        self.assertEqual(p.returncode, 0, p.stderr)
        err = p.stderr.decode()
        self.assertIn("line 1 skipped: no \"STEP_ID:\" prefix", err)
        self.assertIn("line 2 skipped: unknown step id", err)
        self.assertIn("line 4 skipped: finish line with a wrong nonce", err)
        self.assertEqual((self.tmp / "resave" / "1-build.log").read_text(), "good\n")
        # --plugin-max-malformed-reports: the first N in full, the rest counted
        bad = "".join("9:bad %d\n" % i for i in range(5))
        p = run_host(context(self.tmp) + bad + "##[logplugin.finish]n0nce\n",
                     ["--plugin-max-malformed-reports", "2"])
        err = p.stderr.decode()
        self.assertEqual(len(re.findall(r"^plugin-host: line \d+ skipped", err, re.M)), 2, err)
        self.assertIn("line 2 skipped: unknown step id: \"9:bad 1\" (further malformed lines are "
                      "only counted, --plugin-max-malformed-reports)", err)
        p = run_host("", ["--plugin-max-malformed-reports", "-1"])
        self.assertEqual(p.returncode, 2)

    def test_bad_flag_is_a_usage_error(self):
        p = run_host("", ["--plugin-max-pending=lots"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("plugin-max-pending", p.stderr.decode())


def main():
    global BINARY
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args, rest = ap.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    if CC is None:
        print("no C compiler (cc) found: the dlopen tests need one", file=sys.stderr)
        return 1
    prog = unittest.main(argv=[sys.argv[0], *rest], exit=False, verbosity=2)
    return 0 if prog.result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
