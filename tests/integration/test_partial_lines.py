#!/usr/bin/env python3
"""A step that goes quiet in the middle of a line: the worker sends what it
has after --idle-flush (so viewers see it at once), and the stored log still
holds the lines the step printed, byte for byte.

Before, the partial line went out as a line of its own, so the rest of it
became a second line: a program not scheduled for 200 ms in the middle of a
line (seq, printing 1,000,000 lines into a full pipe on a loaded machine) got
an extra line break in its log, and the 1,000,000-line test once read back
1,000,002 lines. Now the partial line is a continued piece ("continued": true)
and the rest of the line is the next one; raw reads join them.

Run: python3 test_partial_lines.py --binary PATH_TO_logstream
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstest  # noqa: E402

# printf pieces of lines with pauses longer than --idle-flush between them;
# the last line has no newline at all
SCRIPT = ("printf 'one '; sleep 0.6; printf 'two '; sleep 0.6; printf 'three\\n'; "
          "printf 'whole line\\n'; printf 'no newline'; sleep 0.6")
PRINTED = "one two three\nwhole line\nno newline\n"


class PartialLines(lstest.TestCase):

    def test_paused_line_is_stored_as_printed(self):
        srv = self.start_server()
        pipe = self.write_pipeline('version: "1"\nname: partial\nsteps:\n'
                                   '  - name: pauses\n    commands:\n      - %s\n'
                                   % json.dumps(SCRIPT))
        w = self.run_worker(pipe, srv.url, ["--idle-flush", "100ms"])
        logs = lstest.step_logs_url(srv.url, w.build_id, 1)
        # while the step sleeps after "one ", the server already has it
        deadline = time.monotonic() + 60
        seen_early = False
        while time.monotonic() < deadline and w.proc.p.poll() is None:
            a = lstest.request("GET", logs + "?since=0&limit=100")
            texts = [json.loads(s)["text"] for s in a.text().split("\n") if s]
            if "one " in texts and "one two three" not in "".join(texts):
                seen_early = True
                break
            time.sleep(0.05)
        self.assertEqual(w.wait(60), 0, w.proc.describe())
        self.assertTrue(seen_early, "the partial line did not show while the step slept")
        raw = lstest.request("GET", logs).text()
        self.assertEqual(raw, "$ " + SCRIPT + "\n" + PRINTED)
        lines = [json.loads(s) for s in
                 lstest.request("GET", logs + "?since=0&limit=100").text().split("\n") if s]
        pieces = [(x["text"], x.get("continued", False)) for x in lines[1:]]
        self.assertEqual(pieces, [("one ", True), ("two ", True), ("three", False),
                                  ("whole line", False), ("no newline", True), ("", False)])
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["steps"][0]["lines"], len(lines))


if __name__ == "__main__":
    lstest.main()
