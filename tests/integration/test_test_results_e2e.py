"""test-results end to end: `logstream run` of a pipeline whose steps run real
test commands (Python unittest, node --test, prove, and pytest / go test when
they are installed), with the built-in test-results plugin in the real
plugin host; then GET /api/v1/builds/{build}/tests must show each run with the
right counts. Also the API's validation: POST bodies that break the schema get
a 400 naming the problem, a missing build or step a 404.
"""

import json
import os
import shutil
import subprocess
import time

import lstest

UNITTEST = '''import unittest

class T(unittest.TestCase):
    def test_ok(self):
        self.assertEqual(1, 1)

    def test_also_ok(self):
        pass

    def test_bad(self):
        self.assertEqual("cart", "card", "cart total\\nis wrong")

    @unittest.skip("not ready")
    def test_later(self):
        pass
'''

NODE = '''import { test, describe, it } from 'node:test';
import assert from 'node:assert';
describe('cart', () => {
  it('totals', () => { assert.strictEqual(5, 6); });
  it('counts', () => {});
});
test('skipped', { skip: true }, () => {});
test('todo', { todo: true }, () => {});
'''

PERL_OK = "use Test::More tests => 3;\nok(1, 'a');\nok(1, 'b');\nok(1, 'c');\n"
PERL_BAD = ("use Test::More tests => 2;\nis(1, 2, 'one is two');\n"
            "SKIP: { skip 'no db', 1; ok(0, 'db'); }\n")

PYTEST = '''import pytest

def test_pass():
    assert True

def test_fail():
    assert [1, 2] == [1, 3]

@pytest.mark.skip(reason="later")
def test_skip():
    pass
'''

GO_TEST = '''package demo

import "testing"

func TestTop(t *testing.T) {
	t.Run("good", func(t *testing.T) {})
	t.Run("bad", func(t *testing.T) { t.Fatal("broke") })
}

func TestFine(t *testing.T) {}
'''


def have_pytest():
    return subprocess.run(["/usr/bin/python3", "-c", "import pytest"],
                          capture_output=True).returncode == 0


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


class TestResultsEndToEnd(lstest.TestCase):
    def wait_runs(self, srv, build_id, want, timeout=60):
        """GET .../tests until it lists want runs (the plugin publishes as runs end)."""
        deadline = time.monotonic() + timeout
        while True:
            got = lstest.get_json("%s/api/v1/builds/%d/tests" % (srv.url, build_id))
            if len(got["runs"]) >= want or time.monotonic() > deadline:
                return got
            time.sleep(0.2)

    def test_pipeline_of_real_test_runners(self):
        srv = self.start_server()
        proj = os.path.join(self.tmp, "proj")
        write(os.path.join(proj, "py", "test_shop.py"), UNITTEST)
        write(os.path.join(proj, "node", "shop.test.mjs"), NODE)
        write(os.path.join(proj, "perl", "t", "ok.t"), PERL_OK)
        write(os.path.join(proj, "perl", "t", "bad.t"), PERL_BAD)
        steps = [
            ("unittest", "cd %s/py && /usr/bin/python3 -m unittest" % proj),
            ("node", "cd %s/node && node --test" % proj),
            ("prove", "cd %s/perl && prove" % proj),
            ("no tests", "echo building; echo ok; echo done"),
        ]
        # what each step's run must show: framework, passed, failed, skipped, partial
        want = [
            (1, "unittest", 2, 1, 1, False),
            (2, "node", 1, 1, 2, False),
            (3, "prove", 3, 1, 1, True),  # prove without -v: partial (see tap.c)
        ]
        expect_names = {1: "test_bad (test_shop.T.test_bad)", 2: "cart > totals", 3: "one is two"}
        if have_pytest():
            write(os.path.join(proj, "pyt", "test_x.py"), PYTEST)
            steps.append(("pytest", "cd %s/pyt && /usr/bin/python3 -m pytest -p no:cacheprovider"
                          % proj))
            want.append((len(steps), "pytest", 1, 1, 1, False))
            expect_names[len(steps)] = "test_x.py::test_fail"
        if shutil.which("go"):
            write(os.path.join(proj, "go", "go.mod"), "module example.com/demo\n\ngo 1.19\n")
            write(os.path.join(proj, "go", "demo_test.go"), GO_TEST)
            gocache = os.path.join(self.tmp, "gocache")
            steps.append(("go", "cd %s/go && GOCACHE=%s GOFLAGS=-mod=mod go test -count=1 -v ./..."
                          % (proj, gocache)))
            # TestTop (failed through its subtest), TestTop/good, TestTop/bad, TestFine
            want.append((len(steps), "go", 2, 2, 0, False))
            expect_names[len(steps)] = "TestTop/bad"
        # a JUnit XML file written by the last step, read by the plugin at finalize
        junit_dir = os.path.join(self.tmp, "reports")
        xml = ('<testsuites time="1.5"><testsuite name="s">'
               '<testcase classname="pkg.T" name="a"/>'
               '<testcase classname="pkg.T" name="b"><failure message="b broke">trace</failure>'
               '</testcase><testcase classname="pkg.T" name="c"><skipped/></testcase>'
               '</testsuite></testsuites>')
        steps.append(("junit", "mkdir -p %s && printf '%%s' '%s' > %s/TEST-pkg.xml"
                      % (junit_dir, xml, junit_dir)))
        want.append((len(steps), "junit", 1, 1, 1, False))
        expect_names[len(steps)] = "pkg.T.b"
        lines = ["plugins:", "  settings:", "    test-results:",
                 "      junit: %s" % json.dumps(junit_dir + "/*.xml"), "steps:"]
        for name, cmd in steps:
            lines += ["  - name: %s" % json.dumps(name), "    commands: [%s]" % json.dumps(cmd),
                      "    ruleset: {continue: true}"]
        p = self.write_pipeline("\n".join(lines) + "\n")
        w = self.run_worker(p, srv.url)
        # the failing steps have ruleset continue: the build itself succeeds
        self.assertEqual(w.wait(180), 0, w.proc.describe())
        got = self.wait_runs(srv, w.build_id, len(want))
        runs = got["runs"]
        summary = [(r["step"], r["framework"], r["passed"], r["failed"], r["skipped"], r["partial"])
                   for r in runs]
        self.assertEqual(sorted(summary), sorted(want), json.dumps(got, indent=1) + "\n" +
                         w.proc.describe())
        for r in runs:
            self.assertEqual(r["total"], r["passed"] + r["failed"] + r["skipped"])
            names = [f["name"] for f in r["failures"]]
            self.assertIn(expect_names[r["step"]], names, r)
            self.assertTrue(all(isinstance(f["message"], str) for f in r["failures"]))
        unit = [r for r in runs if r["framework"] == "unittest"][0]
        junit = [r for r in runs if r["framework"] == "junit"][0]
        self.assertEqual(junit["duration_ms"], 1500)
        self.assertEqual(junit["failures"], [{"name": "pkg.T.b", "message": "b broke\ntrace"}])
        msg = [f for f in unit["failures"] if f["name"].startswith("test_bad")][0]["message"]
        self.assertIn("cart total\nis wrong", msg)  # a multi-line message kept whole
        self.assertEqual(got["failed"], sum(r[3] for r in want))
        self.assertEqual(got["total"], sum(r[2] + r[3] + r[4] for r in want))
        # the step without tests published nothing
        self.assertNotIn(4, [r["step"] for r in runs])

    def test_api_validates_runs(self):
        srv = self.start_server()
        b = lstest.request("POST", srv.url + "/api/v1/builds",
                           {"name": "t", "steps": [{"name": "a"}, {"name": "b"}]})
        self.assertEqual(b.status, 201, b.text())
        bid = b.json()["id"]
        url = "%s/api/v1/builds/%d/tests" % (srv.url, bid)
        good = {"step": 2, "framework": "pytest", "passed": 3, "failed": 1, "skipped": 1,
                "total": 5, "duration_ms": 120, "partial": False,
                "failures": [{"name": "test_x.py::test_a", "message": "assert 1 == 2\nmore"}]}
        a = lstest.request("POST", url, good)
        self.assertEqual(a.status, 201, a.text())
        self.assertEqual(a.json()["framework"], "pytest")
        bad = [
            (dict(good, total=4), "total"),
            (dict(good, extra=1), "unknown field"),
            ({k: v for k, v in good.items() if k != "partial"}, "partial"),
            (dict(good, passed=-1), "passed"),
            (dict(good, passed=1.5), "passed"),
            (dict(good, duration_ms="1s"), "duration_ms"),
            (dict(good, framework=""), "framework"),
            (dict(good, step=0), "step"),
            (dict(good, failures=[{"name": "x"}]), "failures[0]"),
            (dict(good, failures=[{"name": "", "message": ""}]), "failures[0].name"),
            (dict(good, failures="none"), "failures"),
        ]
        for body, word in bad:
            a = lstest.request("POST", url, body)
            self.assertEqual(a.status, 400, (body, a.text()))
            self.assertEqual(a.json()["code"], "bad_test_run")
            self.assertIn(word, a.json()["error"])
        a = lstest.request("POST", url, b"{not json", headers={"Content-Type": "application/json"})
        self.assertEqual(a.status, 400, a.text())
        a = lstest.request("POST", url, dict(good, step=3))
        self.assertEqual(a.status, 404, a.text())
        self.assertIn("no step 3", a.json()["error"])
        a = lstest.request("POST", "%s/api/v1/builds/%d/tests" % (srv.url, bid + 100), good)
        self.assertEqual(a.status, 404, a.text())
        a = lstest.request("GET", "%s/api/v1/builds/%d/tests" % (srv.url, bid + 100))
        self.assertEqual(a.status, 404, a.text())
        got = lstest.get_json(url)
        self.assertEqual(len(got["runs"]), 1)
        r = got["runs"][0]
        self.assertEqual((r["step"], r["passed"], r["failed"], r["skipped"], r["total"],
                          r["duration_ms"], r["partial"]), (2, 3, 1, 1, 5, 120, False))
        self.assertEqual(r["failures"], good["failures"])
        self.assertEqual((got["passed"], got["failed"], got["skipped"], got["total"]), (3, 1, 1, 5))
        # without a token a POST is refused (auth applies to this route too)
        a = lstest.request("POST", url, good, token=None)
        self.assertIn(a.status, (401, 403), a.text())

    def test_max_test_runs_flag(self):
        srv = self.start_server(["--max-test-runs", "3"])
        b = lstest.request("POST", srv.url + "/api/v1/builds", {"name": "t", "steps": [{"name": "a"}]})
        self.assertEqual(b.status, 201, b.text())
        url = "%s/api/v1/builds/%d/tests" % (srv.url, b.json()["id"])
        run = {"step": 1, "framework": "go", "passed": 1, "failed": 0, "skipped": 0, "total": 1,
               "duration_ms": None, "partial": False, "failures": []}
        for i in range(3):
            a = lstest.request("POST", url, run)
            self.assertEqual(a.status, 201, a.text())
        a = lstest.request("POST", url, run)
        self.assertEqual(a.status, 409, a.text())
        self.assertEqual(a.json()["code"], "too_many_test_runs")
        self.assertIn("already has 3 test runs", a.json()["error"])
        self.assertIn("--max-test-runs 3", a.json()["error"])
        self.assertEqual(len(lstest.get_json(url)["runs"]), 3)
        # a value out of range is refused at start
        p = self.start(["server", "--listen", "127.0.0.1:0", "--data",
                        os.path.join(self.tmp, "bad"), "--max-test-runs", "0"])
        self.assertEqual(p.wait(), 2, p.describe())
        self.assertIn("max-test-runs", p.err.text())


    def failures_run(self, n):
        return {"step": 1, "framework": "go", "passed": 0, "failed": n, "skipped": 0,
                "total": n, "duration_ms": None, "partial": False,
                "failures": [{"name": "T%d" % i, "message": ""} for i in range(n)]}

    def test_max_test_failures_flag(self):
        for args, limit in ((["--max-test-failures", "3"], 3), ([], 1000)):
            srv = self.start_server(args)
            b = lstest.request("POST", srv.url + "/api/v1/builds",
                               {"name": "t", "steps": [{"name": "a"}]})
            self.assertEqual(b.status, 201, b.text())
            url = "%s/api/v1/builds/%d/tests" % (srv.url, b.json()["id"])
            a = lstest.request("POST", url, self.failures_run(limit))
            self.assertEqual(a.status, 201, a.text())
            a = lstest.request("POST", url, self.failures_run(limit + 1))
            self.assertEqual(a.status, 400, a.text())
            self.assertEqual(a.json()["code"], "bad_test_run")
            self.assertIn("at most %d tests (--max-test-failures)" % limit, a.json()["error"])
            self.assertEqual([len(r["failures"]) for r in lstest.get_json(url)["runs"]], [limit])
        p = self.start(["server", "--listen", "127.0.0.1:0", "--data",
                        os.path.join(self.tmp, "bad"), "--max-test-failures", "0"])
        self.assertEqual(p.wait(), 2, p.describe())
        self.assertIn("max-test-failures", p.err.text())

    def test_plugin_max_failures_setting(self):
        """The plugin lists max_failures failed tests (default 100) and counts them all."""
        srv = self.start_server()
        proj = os.path.join(self.tmp, "many")
        body = "import unittest\n\nclass M(unittest.TestCase):\n" + "".join(
            "    def test_%03d(self):\n        self.fail('no %d')\n" % (i, i) for i in range(102))
        write(os.path.join(proj, "test_many.py"), body)
        cmd = "cd %s && /usr/bin/python3 -m unittest" % proj
        p = self.write_pipeline("""
plugins:
  settings:
    test-results: {max_failures: 3}
steps:
  - {name: three, commands: [%s], ruleset: {continue: true}}
""" % json.dumps(cmd))
        w = self.run_worker(p, srv.url)
        self.assertEqual(w.wait(180), 0, w.proc.describe())
        got = self.wait_runs(srv, w.build_id, 1)
        self.assertEqual([(r["failed"], len(r["failures"])) for r in got["runs"]], [(102, 3)])
        # the default: 100 of the 102
        srv = self.start_server()
        p = self.write_pipeline("steps:\n  - {name: all, commands: [%s], ruleset: {continue: true}}\n"
                                % json.dumps(cmd))
        w = self.run_worker(p, srv.url)
        self.assertEqual(w.wait(180), 0, w.proc.describe())
        got = self.wait_runs(srv, w.build_id, 1)
        self.assertEqual([(r["failed"], len(r["failures"])) for r in got["runs"]], [(102, 100)])


if __name__ == "__main__":
    lstest.main()
