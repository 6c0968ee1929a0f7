#!/usr/bin/env python3
"""The worker's upload thread runs at a raised nice value (--upload-nice,
default 10), and so do the plugin host and the thread that feeds it
(--plugin-nice, default 13), so that on a busy machine the steps get the CPU
first; the steps themselves keep the worker's own priority. The step looks itself up in /proc and prints
what it sees: its own nice value, those of `logstream run`'s threads (its
parent) and that of the plugin host (its sibling).

Run: python3 test_priorities.py --binary PATH_TO_logstream
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstest  # noqa: E402

# /proc/PID/stat: field 4 is the parent, 19 the nice value (no command here
# has a space in its name, so awk's fields are the stat fields). The step's
# own shell is a sibling of the host too, and its script says plugin-host.
PROBE = ("sleep 0.3; awk '{print \"step=\" $19}' /proc/self/stat; "
         "printf 'worker='; cat /proc/$PPID/task/*/stat | awk '{printf \"%s,\", $19}'; echo; "
         "for p in /proc/[0-9]*; do "
         "if [ \"${p#/proc/}\" != $$ ] && "
         "[ \"$(awk '{print $4}' $p/stat 2>/dev/null)\" = \"$PPID\" ] && "
         "grep -qa plugin-host $p/cmdline 2>/dev/null; then "
         "awk '{print \"host=\" $19}' $p/stat; fi; done")


def seen(raw):
    """{"step": int, "worker": [ints], "host": int or None} from the step's log."""
    out = {"host": None}
    for line in raw.split("\n"):
        if line.startswith("step="):
            out["step"] = int(line[5:])
        elif line.startswith("worker="):
            out["worker"] = sorted(int(v) for v in line[7:].split(",") if v)
        elif line.startswith("host="):
            out["host"] = int(line[5:])
    return out


class Priorities(lstest.TestCase):

    def run_probe(self, extra_args):
        srv = self.start_server()
        pipe = self.write_pipeline('version: "1"\nname: nice\nsteps:\n'
                                   '  - name: probe\n    commands:\n      - %s\n'
                                   % json.dumps(PROBE))
        w = self.run_worker(pipe, srv.url, extra_args)
        self.assertEqual(w.wait(60), 0, w.proc.describe())
        raw = lstest.request("GET", lstest.step_logs_url(srv.url, w.build_id, 1)).text()
        return seen(raw), raw

    def test_upload_thread_and_host_yield_steps_do_not(self):
        base = os.nice(0)
        got, raw = self.run_probe([])
        self.assertEqual(got.get("step"), base, raw)  # the step keeps the worker's priority
        self.assertIn(base, got.get("worker", []), raw)  # the thread that runs the steps
        self.assertIn(min(base + 10, 19), got.get("worker", []), raw)  # the upload thread
        self.assertEqual(got["host"], min(base + 13, 19), raw)  # the plugin host: --plugin-nice
        self.assertIn(min(base + 13, 19), got.get("worker", []), raw)  # the thread feeding it

    def test_flags_set_both(self):
        base = os.nice(0)
        got, raw = self.run_probe(["--upload-nice", "0", "--plugin-nice", "5"])
        self.assertEqual(got.get("step"), base, raw)
        self.assertNotIn(min(base + 10, 19), got.get("worker", []), raw)
        self.assertEqual(got["host"], min(base + 5, 19), raw)
        # the worker's thread that feeds the host yields with it
        self.assertIn(min(base + 5, 19), got.get("worker", []), raw)

    def test_out_of_range_is_a_usage_error(self):
        srv = self.start_server()
        pipe = self.write_pipeline('version: "1"\nsteps:\n  - name: s\n    commands:\n'
                                   '      - echo hi\n')
        for flag, value, says in (("--upload-nice", "20", "must be 0..19"),
                                  ("--plugin-nice", "20", "must be 0..19"),
                                  ("--flood-pace-us", "10001", "must be 0..10000"),
                                  ("--flood-pace-us", "-1", "must be 0..10000"),
                                  ("--plugin-spill", "-1", "is not a size")):
            p = self.start(["run", pipe, "--server", srv.url, flag, value])
            self.assertEqual(p.wait(30), 2, p.describe())
            self.assertTrue(p.err.wait_for(says, 0), p.describe())


if __name__ == "__main__":
    lstest.main()
