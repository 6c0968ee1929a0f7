#!/usr/bin/env python3
"""tool-usage and forward end to end: `logstream run` of a pipeline whose
steps publish and deploy (the tools are shell functions printing what the
real tools print, so the test needs none of them), with the real server and
the real plugin host. The server's GET .../tool-usage lists each event once
with its step, /metrics counts them, and forward copied every line of the
build to a file.

usage: test_tool_usage.py --binary PATH_TO_logstream
"""
import json
import os
import re
import time

import lstest

PIPELINE = r"""
name: release
plugins:
  settings:
    forward: {target: file, path: %(out)s, batch_wait: 20ms}
steps:
  - name: build
    commands:
      - echo compiling
  - name: release
    commands:
      - |
        docker() { echo "The push refers to repository [reg.example.com/app]"; echo "5f70: Pushed"; echo "1.2: digest: sha256:abc size: 739"; }
        npm() { echo "npm notice Publishing to https://registry.npmjs.org/ with tag latest and default access"; echo "+ @acme/app@1.2.0"; }
        kubectl() { echo "deployment.apps/app configured"; echo "service/app unchanged"; }
      - docker push reg.example.com/app:1.2
      - npm publish
      - kubectl apply -f k8s/
      - echo "done"
"""


class ToolUsageEndToEnd(lstest.TestCase):
    def test_events_listed_counted_and_lines_forwarded(self):
        srv = self.start_server()
        out = os.path.join(self.tmp, "forwarded.ndjson")
        p = self.write_pipeline(PIPELINE % {"out": out})
        w = self.run_worker(p, srv.url)
        self.assertEqual(w.wait(), 0, w.proc.describe())
        b = lstest.wait_build_final(srv.url, w.build_id)
        self.assertEqual(b["status"], "success")

        got = lstest.get_json("%s/api/v1/builds/%d/tool-usage" % (srv.url, w.build_id))
        events = [(e["step"], e["tool"], e["action"], e["target"], e["outcome"])
                  for e in got["events"]]
        self.assertEqual(events, [
            (2, "docker", "push", "reg.example.com/app:1.2", "succeeded"),
            (2, "npm", "publish", "@acme/app@1.2.0", "succeeded"),
            (2, "kubectl", "apply", "deployment.apps/app, service/app", "succeeded"),
        ])
        self.assertTrue(all(e["source"] == "command" for e in got["events"]))

        metrics = lstest.request("GET", srv.url + "/metrics").text()
        for tool, action in (("docker", "push"), ("npm", "publish"), ("kubectl", "apply")):
            self.assertIn('logstream_tool_usage_total{tool="%s",action="%s"} 1\n'
                          % (tool, action), metrics)

        # the plugins log told the user
        plugins = [s for s in b["steps"] if s["kind"] == "plugins"]
        self.assertEqual(len(plugins), 1)
        text = lstest.request("GET", lstest.step_logs_url(srv.url, w.build_id,
                                                          plugins[0]["number"])).text()
        self.assertIn("[tool-usage] docker push reg.example.com/app:1.2 (step release: "
                      "succeeded)", text)
        self.assertIn("[tool-usage] 3 publish/deploy events", text)
        self.assertRegex(text, r"\[forward\] \d+ lines forwarded to file at ")

        # forward: every line of both steps, in order, labelled with the build
        with open(out) as f:
            fwd = [json.loads(l) for l in f]
        self.assertTrue(all(r["build"] == str(w.build_id) for r in fwd))
        for step in b["steps"]:
            if step["kind"] != "step":
                continue
            stored = lstest.request("GET", lstest.step_logs_url(srv.url, w.build_id,
                                                                step["number"])).text()
            mine = [r["line"] for r in fwd if r["step"] == str(step["number"])]
            self.assertEqual(mine, stored.splitlines(), step["name"])
            self.assertTrue(all(r["step_name"] == step["name"]
                                for r in fwd if r["step"] == str(step["number"])))
        self.assertTrue(any(re.match(r"^\$ docker push", r["line"]) for r in fwd))


    def test_max_tool_events_flag(self):
        srv = self.start_server(["--max-tool-events", "2"])
        b = lstest.request("POST", srv.url + "/api/v1/builds", {"name": "t", "steps": [{"name": "a"}]})
        self.assertEqual(b.status, 201, b.text())
        url = "%s/api/v1/builds/%d/tool-usage" % (srv.url, b.json()["id"])
        ev = [{"step": 1, "tool": "npm", "action": "publish", "target": "pkg@%d" % i}
              for i in range(3)]
        a = lstest.request("POST", url, {"events": ev})
        self.assertEqual(a.status, 413, a.text())
        self.assertEqual(a.json()["code"], "too_many_events")
        self.assertIn("3 events in one request; at most 2 (--max-tool-events)", a.json()["error"])
        a = lstest.request("POST", url, {"events": ev[:2]})
        self.assertIn(a.status, (200, 201), a.text())
        self.assertEqual(len(lstest.get_json(url)["events"]), 2)
    def plugins_text(self, srv, build_id):
        b = lstest.wait_build_final(srv.url, build_id)
        plugins = [s for s in b["steps"] if s["kind"] == "plugins"][0]
        deadline = time.monotonic() + 60
        while True:
            st = [s for s in lstest.get_json("%s/api/v1/builds/%d" % (srv.url, build_id))["steps"]
                  if s["number"] == plugins["number"]][0]
            if st["status"] not in ("pending", "running") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        return lstest.request("GET", lstest.step_logs_url(srv.url, build_id,
                                                          plugins["number"])).text()

    def test_summary_tools_setting(self):
        """summary_tools (default 16) tool/action pairs are named in the summary;
        the events of the others are counted together."""
        srv = self.start_server()
        out = os.path.join(self.tmp, "forwarded.ndjson")
        for setting, want in (
                ("    tool-usage: {summary_tools: 2}\n",
                 "[tool-usage] 3 publish/deploy events: 1 docker push, 1 npm publish, "
                 "1 of other tools\n"),
                ("",
                 "[tool-usage] 3 publish/deploy events: 1 docker push, 1 npm publish, "
                 "1 kubectl apply\n")):
            text = PIPELINE % {"out": out}
            text = text.replace("  settings:\n", "  settings:\n" + setting, 1)
            w = self.run_worker(self.write_pipeline(text), srv.url)
            self.assertEqual(w.wait(), 0, w.proc.describe())
            self.assertIn(want, self.plugins_text(srv, w.build_id))


if __name__ == "__main__":
    lstest.main()
