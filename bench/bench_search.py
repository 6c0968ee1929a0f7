#!/usr/bin/env python3
"""Log search benchmark: GET .../steps/{s}/search over a 1,000,000-line log.

    python3 bench/bench_search.py PATH_TO_logstream [--lines N] [--runs R]

Starts the real server on loopback (temporary data dir, access control on:
the admin token from --admin-token-file), creates a build whose step log has
N lines streamed as text/plain (every 10th line ANSI-coloured, as
bench/bench_ui.mjs makes them), marks it finished (so the log is read from
the store, not from memory), then times R searches of each kind, whole answer
read, and prints the median (min, max):
  rare      the one line N-1 ("line N-1 of the"): time to find a match far away
  common    text on every 10th line, inside escape sequences' reach
            ("COLOURED line": the escapes split it in the raw bytes), first
            10000 listed, all counted
  unicode   a non-ASCII text (no match): the slower decode-and-fold path
  raw       the whole raw log download, for reference (same store reads)
"""
import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--lines", type=int, default=1000000)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    data = tempfile.mkdtemp(prefix="ls-bench-search-")
    tok_file = os.path.join(data, "admin.token")
    srv = subprocess.Popen([a.binary, "server", "--listen", "127.0.0.1:0", "--data", data,
                            "--admin-token-file", tok_file],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = srv.stdout.readline()
        url = re.search(r"(http://\S+)", line).group(1).rstrip("/")
        u = urllib.parse.urlsplit(url)
        token = open(tok_file).read().strip()
        auth = {"Authorization": "Bearer " + token}

        def req(method, path, body=None, headers=None, read=True):
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
            h = dict(auth)
            h.update(headers or {})
            if isinstance(body, dict):
                body = json.dumps(body)
                h["Content-Type"] = "application/json"
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            out = r.read()
            c.close()
            if r.status >= 300:
                raise SystemExit("%s %s: %d %s" % (method, path, r.status, out[:300]))
            return out

        b = json.loads(req("POST", "/api/v1/builds",
                           {"name": "bench-search", "steps": [{"name": "big", "kind": "step"}]}))
        step = "/api/v1/builds/%d/steps/1" % b["id"]
        req("PATCH", "/api/v1/builds/%d" % b["id"], {"status": "running"})
        req("PATCH", step, {"status": "running"})

        def gen():
            chunk = []
            for i in range(1, a.lines + 1):
                colour = "\x1b[3%dmcoloured\x1b[0m line " % (i % 8) if i % 10 == 0 else ""
                chunk.append("%sline %d of the benchmark log: lorem ipsum dolor sit amet %d\n"
                             % (colour, i, i * 7919 % 100003))
                if len(chunk) == 5000:
                    yield "".join(chunk).encode()
                    chunk = []
            if chunk:
                yield "".join(chunk).encode()

        t = time.monotonic()
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
        c.request("POST", step + "/stream", body=gen(),
                  headers=dict(auth, **{"Content-Type": "text/plain"}), encode_chunked=True)
        r = c.getresponse()
        res = json.loads(r.read())
        c.close()
        print("ingested %d lines (%.1f MiB) in %.1f s" % (res["durable_seq"], res["bytes"] / 1048576,
                                                          time.monotonic() - t))
        req("PATCH", step, {"status": "success", "exit_code": 0})
        req("PATCH", "/api/v1/builds/%d" % b["id"], {"status": "success"})

        def timed(path):
            t0 = time.monotonic()
            out = req("GET", path)
            return (time.monotonic() - t0) * 1000, out

        kinds = [
            ("rare", "line %d of the" % (a.lines - 1)),
            ("common", "COLOURED line"),
            ("unicode", "\u00e4rger \u00fcber"),
        ]
        print("lines: %d, runs: %d, server %s" % (a.lines, a.runs, a.binary))
        for name, q in kinds:
            path = step + "/search?" + urllib.parse.urlencode({"q": q, "limit": 10000})
            ms = []
            for _ in range(a.runs):
                m, out = timed(path)
                ms.append(m)
            ans = json.loads(out)
            print("search %-8s q=%-22r total %7d, %5d listed: median %6.0f ms (min %.0f, max %.0f)"
                  % (name, q, ans["total"], len(ans["matches"]), statistics.median(ms), min(ms),
                     max(ms)))
        ms = []
        for _ in range(a.runs):
            m, out = timed(step + "/logs")
            ms.append(m)
        print("raw download (%.1f MiB) for reference:              median %6.0f ms (min %.0f, max %.0f)"
              % (len(out) / 1048576, statistics.median(ms), min(ms), max(ms)))
    finally:
        srv.terminate()
        srv.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
