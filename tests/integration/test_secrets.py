#!/usr/bin/env python3
"""Secret masking end to end: a step and a service print a secret in every
form the masker knows -- the value, base64 at all three alignments,
JSON-escaped, URL-encoded, each line of a multi-line secret, and a value added
with ::add-mask:: -- and none of them appears in what leaves the worker:

- the worker's spool files (read while the step is still running),
- the Server-Sent Events stream of a follower connected from the start,
- the stored log (raw text and NDJSON),
- the service's log.

A secret printed across a cut of the line -- half of it, a pause past
--idle-flush, the rest (the first half went out as a continued piece), or a
line longer than --max-line with the secret across the split point -- is
masked too (issue 5): the worker never cuts a line inside a possible secret.

(The masker's own table of secrets x encodings x positions, adjacent and
overlapping secrets, is tests/unit/test_masker.c; the plugins' input is
covered by test_plugins_e2e.py.)

Run: python3 test_secrets.py --binary PATH_TO_logstream
"""

import base64
import glob
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstest  # noqa: E402

SECRET = 'p@ss"w/rd-7731+Zq'
MULTI = "first-line-of-key-8812\nsecond-line-of-key-9923"
RUNTIME = "made-at-run-time-4455"

PRINTER = r'''
import base64, json, os, sys, time, urllib.parse
s, m = os.environ["APP_SECRET"], os.environ["APP_MULTI"]
print("plain: " + s + " end")
print(s + " at the start")
print("at the end " + s)
print("adjacent " + s + s + "!")
for prefix in ("", "x", "xy"):
    print("base64 %d: %s" % (len(prefix), base64.b64encode((prefix + s).encode()).decode()))
print("json: " + json.dumps({"password": s}))
print("url: https://host/?p=" + urllib.parse.quote(s, safe=""))
print("url form: " + urllib.parse.quote_plus(s))
print("multi: " + m)
print("::add-mask::" + os.environ["APP_RUNTIME"])
print("runtime value " + os.environ["APP_RUNTIME"] + " later")
sys.stdout.flush()
flag = sys.argv[1]
while not os.path.exists(flag):
    time.sleep(0.05)
print("done")
'''


def leaks(text):
    """The forms of the secrets found in text (empty when masked)."""
    found = []
    forms = {"value": SECRET, "json": json.dumps(SECRET)[1:-1],
             "url": urllib.parse.quote(SECRET, safe=""),
             "url-form": urllib.parse.quote_plus(SECRET),
             "multi line 1": MULTI.split("\n")[0], "multi line 2": MULTI.split("\n")[1],
             "runtime": RUNTIME}
    for prefix in ("", "x", "xy"):
        enc = base64.b64encode((prefix + SECRET).encode()).decode()
        # the characters that do not mix with the neighbours' bits
        forms["base64/%d" % len(prefix)] = enc[4:-4]
    for name, form in forms.items():
        if form in text:
            found.append(name)
    return found

SPLIT = "half-and-half-K9x2Qw7Ze4"
SPLIT_RUNTIME = "added-mid-step-Vb3Nq81"
SPLIT_COMMAND = "its-own-add-mask-Tz5Lm20"  # an ::add-mask:: line cut by a pause

# Pauses mid-line (0.8 s, --idle-flush is 50ms) inside a secret, and prints
# lines longer than --max-line (64) with a secret across byte 64.
SPLIT_PRINTER = r'''
import os, sys, time
s, r, c = os.environ["APP_SPLIT"], os.environ["APP_RT"], os.environ["APP_CMD"]
def out(text, pause=0):
    sys.stdout.write(text)
    sys.stdout.flush()
    time.sleep(pause)
out("before " + s[:9], 0.8)
out(s[9:] + " after\n")
out("L" * 50 + s + "M" * 30 + "\n")
out("N" * 60 + s[:4], 0.8)
out(s[4:] + "O" * 100 + "\n")
out("::add-mask::" + r + "\n")
out("runtime " + r[:12], 0.8)
out(r[12:] + " end\n")
out("P" * 55 + r + "\n")
out("::add-mask::" + c[:9], 0.8)
out(c[9:] + "\n")
out("cmd " + c + "\n")
out("plain " + "Q" * 140 + "\n")
out("spool-check\n")
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
print("done")
'''

SPLIT_EXPECTED = [
    "before *** after",
    "L" * 50 + "***" + "M" * 30,
    "N" * 60 + "***" + "O" * 100,
    "::add-mask::***",
    "runtime *** end",
    "P" * 55 + "***",
    "::add-mask::***",
    "cmd ***",
    "plain " + "Q" * 140,
    "spool-check",
    "done",
]


def wait_for_tail(case, url, marker, timeout):
    """Waits until the step's last stored line holds marker."""
    deadline = time.monotonic() + timeout
    while True:
        a = lstest.request("GET", url + "?tail=1")
        if a.status == 200 and marker in a.text():
            return
        case.assertLess(time.monotonic(), deadline, "the step did not print")
        time.sleep(0.1)


def spool_text(case, spool):
    """Everything in the worker's spool files, as text."""
    files = [p for p in glob.glob(os.path.join(spool, "**"), recursive=True)
             if os.path.isfile(p)]
    case.assertTrue(files, "no spool files in %s" % spool)
    spooled = b""
    for p in files:
        with open(p, "rb") as f:
            spooled += f.read()
    return spooled.decode("utf-8", "replace")


def finish(case, w, sse, flag, url):
    """Lets the step end (its flag file), waits for the worker; returns what
    the follower streamed, the raw log and the NDJSON log."""
    with open(flag, "w"):
        pass
    case.assertEqual(w.wait(90), 0, w.proc.describe())
    events = sse.read_until_end(60)
    sse.close()
    streamed = "\n".join(e.data for e in events)
    case.assertIn("done", streamed)
    raw = lstest.request("GET", url).text()
    nd = lstest.request("GET", url + "?since=0").text()
    return streamed, raw, nd


def halves(text):
    """The halves of the split secrets found in text."""
    found = []
    for secret in (SPLIT, SPLIT_RUNTIME, SPLIT_COMMAND):
        for half in (secret[:len(secret) // 2], secret[len(secret) // 2:]):
            if half in text:
                found.append(half)
    return found


class Secrets(lstest.TestCase):

    def test_the_leak_detector_sees_every_form(self):
        """Unmasked, the printer's output shows every form leaks() looks for."""
        printer = os.path.join(self.tmp, "printer.py")
        with open(printer, "w") as f:
            f.write(PRINTER)
        flag = os.path.join(self.tmp, "go")
        open(flag, "w").close()
        env = dict(os.environ, APP_SECRET=SECRET, APP_MULTI=MULTI, APP_RUNTIME=RUNTIME)
        import subprocess
        out = subprocess.run([sys.executable, printer, flag], env=env, check=True,
                             stdout=subprocess.PIPE).stdout.decode()
        self.assertEqual(sorted(leaks(out)), sorted(
            ["value", "json", "url", "url-form", "multi line 1", "multi line 2", "runtime",
             "base64/0", "base64/1", "base64/2"]))

    def test_secret_never_in_spool_sse_or_stored_log(self):
        srv = self.start_server()
        printer = os.path.join(self.tmp, "printer.py")
        with open(printer, "w") as f:
            f.write(PRINTER)
        flag = os.path.join(self.tmp, "go")
        spool = os.path.join(self.tmp, "spool")
        pipe = self.write_pipeline("""version: "1"
name: secrets
steps:
  - name: print
    secrets: [APP_SECRET, APP_MULTI]
    environment:
      APP_RUNTIME: %s
    commands:
      - python3 %s %s
services:
  - name: svc
    secrets: [APP_SECRET]
    commands:
      - echo "service sees $APP_SECRET"; sleep 30
""" % (RUNTIME, printer, flag))
        w = self.run_worker(pipe, srv.url, ["--spool-dir", spool, "--heartbeat", "1s"],
                            env={"APP_SECRET": SECRET, "APP_MULTI": MULTI})
        url = lstest.step_logs_url(srv.url, w.build_id, 1)
        sse = lstest.SSEReader(url + "?since=0", timeout=60)
        # wait until the step has printed everything but "done"
        wait_for_tail(self, url, "later", 30)
        # the spool, while the step still runs
        spooled = spool_text(self, spool)
        self.assertIn("***", spooled)
        self.assertEqual(leaks(spooled), [], spooled[:2000])
        streamed, raw, nd = finish(self, w, sse, flag, url)
        self.assertEqual(leaks(streamed), [], streamed[:2000])
        for text in (raw, nd):
            self.assertEqual(leaks(text), [], text[:2000])
        # what is left is readable: the masks are in place, the rest is kept
        self.assertIn("plain: *** end", raw)
        self.assertIn("*** at the start", raw)
        self.assertIn("at the end ***", raw)
        self.assertIn("runtime value *** later", raw)
        self.assertIn("::add-mask::***", raw)
        b = lstest.wait_build_final(srv.url, w.build_id)
        svc = [s for s in b["steps"] if s["kind"] == "service"]
        self.assertEqual(len(svc), 1, b)
        svc_log = lstest.request("GET", lstest.step_logs_url(srv.url, w.build_id,
                                                             svc[0]["number"])).text()
        self.assertIn("service sees ***", svc_log)
        self.assertEqual(leaks(svc_log), [], svc_log)
        self.assertNotIn(SECRET, w.proc.out.text() + w.proc.err.text())

    def test_secret_across_a_cut_of_the_line(self):
        """Issue 5: a secret printed across an idle flush or the max line
        length is masked; the log is otherwise what was printed."""
        srv = self.start_server()
        printer = os.path.join(self.tmp, "split_printer.py")
        with open(printer, "w") as f:
            f.write(SPLIT_PRINTER)
        flag = os.path.join(self.tmp, "go")
        spool = os.path.join(self.tmp, "spool")
        pipe = self.write_pipeline("""version: "1"
name: split-secrets
steps:
  - name: print
    secrets: [APP_SPLIT]
    environment:
      APP_RT: %s
      APP_CMD: %s
    commands:
      - python3 %s %s
""" % (SPLIT_RUNTIME, SPLIT_COMMAND, printer, flag))
        w = self.run_worker(pipe, srv.url, ["--spool-dir", spool, "--heartbeat", "1s",
                                            "--idle-flush", "50ms", "--max-line", "64"],
                            env={"APP_SPLIT": SPLIT})
        url = lstest.step_logs_url(srv.url, w.build_id, 1)
        sse = lstest.SSEReader(url + "?since=0", timeout=60)
        wait_for_tail(self, url, "spool-check", 60)
        spooled = spool_text(self, spool)
        self.assertIn("***", spooled)
        self.assertEqual(halves(spooled), [], spooled[:3000])
        streamed, raw, nd = finish(self, w, sse, flag, url)
        self.assertEqual(halves(streamed), [], streamed[:3000])
        self.assertEqual(halves(nd), [], nd[:3000])
        self.assertEqual(halves(raw), [], raw)
        # the line was cut (continued pieces), and raw reads join the pieces
        self.assertTrue(any(json.loads(x).get("continued") for x in nd.splitlines() if x), nd)
        self.assertEqual(raw.split("\n")[1:], SPLIT_EXPECTED + [""], raw)


if __name__ == "__main__":
    lstest.main()
