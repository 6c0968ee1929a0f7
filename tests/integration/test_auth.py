#!/usr/bin/env python3
"""Access control of `logstream server` (docs/api.md, "Authentication").

A table over every endpoint x every kind of credential (none, garbage, an
expired upload token, admin, worker, read, the build's own upload token,
another build's upload token) checks 401/403/2xx; then --public-read and
--public-metrics, the admin token printed once, tokens stored only as hashes,
the tokens API, the worker's use of its tokens, and a TLS round trip.

    python3 tests/integration/test_auth.py --binary build/logstream
"""
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import ssl
import subprocess
import urllib.parse

import lstest

RECORDS = b"1\t1700000000000\to\thello\n"

# What each endpoint needs: the access levels of src/server/auth.h.
PUBLIC, READ, METRICS, CREATE, WRITE, STREAM_STATUS, ADMIN = (
    "public", "read", "metrics", "create", "write", "stream_status", "admin")

# Which credential gets through to which access level (True = 2xx). The
# upload tokens "own" and "other" are tried on build A, whose token is "own".
GRANTS = {
    "admin": {READ, METRICS, CREATE, WRITE, STREAM_STATUS, ADMIN},
    "worker": {CREATE, WRITE, STREAM_STATUS},
    "read": {READ, METRICS, STREAM_STATUS},
    "own": {WRITE, STREAM_STATUS},
    "other": set(),
}


def endpoints(build):
    """(name, method, path, body, headers, access) for every endpoint, on build."""
    b = "/api/v1/builds/%d" % build
    s = b + "/steps/1"
    sse = {"Accept": "text/event-stream"}
    return [
        ("healthz", "GET", "/healthz", None, {}, PUBLIC),
        ("metrics", "GET", "/metrics", None, {}, METRICS),
        ("builds list", "GET", "/api/v1/builds", None, {}, READ),
        ("build create", "POST", "/api/v1/builds",
         {"name": "auth", "steps": [{"name": "s"}]}, {}, CREATE),
        ("build get", "GET", b, None, {}, READ),
        ("build patch", "PATCH", b, {"status": "running"}, {}, WRITE),
        ("build events SSE", "GET", b + "/events", None, sse, READ),
        ("step get", "GET", s, None, {}, READ),
        ("step patch", "PATCH", s, {"status": "running"}, {}, WRITE),
        ("stream POST", "POST", s + "/stream", RECORDS,
         {"Content-Type": "application/x-logstream-records"}, WRITE),
        ("stream GET", "GET", s + "/stream", None, {}, STREAM_STATUS),
        ("logs raw", "GET", s + "/logs", None, {}, READ),
        ("logs ndjson", "GET", s + "/logs?since=0&limit=10", None, {}, READ),
        ("logs tail", "GET", s + "/logs?tail=5", None, {}, READ),
        ("logs SSE", "GET", s + "/logs", None, sse, READ),
        ("tokens list", "GET", "/api/v1/tokens", None, {}, ADMIN),
        ("token create", "POST", "/api/v1/tokens", {"scope": "read", "name": "t"}, {}, ADMIN),
        ("token delete", "DELETE", "/api/v1/tokens/{victim}", None, {}, ADMIN),
    ]


def read_text(path):
    with open(path) as f:
        return f.read()


def call(port, method, path, body=None, headers=None, token=None, scheme_ctx=None):
    """One request on its own connection; returns (status, headers, body).
    SSE answers are not read past their headers."""
    if scheme_ctx is not None:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=scheme_ctx)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    hdrs = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = "Bearer " + token
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        if resp.status == 200 and "event-stream" in (resp.getheader("Content-Type") or ""):
            data = b""
        else:
            data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


class AuthTest(lstest.TestCase):

    def setUp(self):
        super().setUp()
        self.srv = self.start_server()
        self.port = self.srv.port
        self.tok = dict(self.srv.tokens)

    def create_build(self, token=None):
        status, _, body = call(self.port, "POST", "/api/v1/builds",
                               {"name": "auth", "steps": [{"name": "s"}, {"name": "t"}]},
                               token=token or self.tok["worker"])
        self.assertEqual(status, 201, body)
        b = json.loads(body)
        self.assertTrue(re.match(r"^lst_[A-Za-z0-9_-]{43}$", b["upload_token"]), b)
        return b["id"], b["upload_token"]

    def victim(self):
        return json.loads(call(self.port, "POST", "/api/v1/tokens",
                               {"scope": "read", "name": "victim"},
                               token=self.tok["admin"])[2])["id"]

    def check(self, name, status, headers, body, want, label):
        what = "%s with %s: HTTP %d %s" % (name, label, status, body[:300])
        if want == 200:
            self.assertIn(status, (200, 201), what)
            return
        self.assertEqual(status, want, what)
        err = json.loads(body)
        self.assertIsInstance(err.get("error"), str, what)
        self.assertIsInstance(err.get("code"), str, what)
        if want == 401:
            self.assertTrue(headers.get("www-authenticate", "").startswith("Bearer"), what)
        return err

    def test_every_endpoint_by_credential(self):
        a, own = self.create_build()
        _, other = self.create_build()
        ended, expired = self.create_build()
        status, _, body = call(self.port, "PATCH", "/api/v1/builds/%d" % ended,
                               {"status": "success"}, token=expired)
        self.assertEqual(status, 200, body)  # the build's own token may end it
        garbage = "lst_" + secrets.token_urlsafe(32)[:43]
        creds = [("no token", None), ("a made-up token", garbage),
                 ("an expired upload token", expired), ("admin", self.tok["admin"]),
                 ("worker", self.tok["worker"]), ("read", self.tok["read"]),
                 ("own", own), ("other", other)]
        checked = 0
        for label, token in creds:
            for name, method, path, body, headers, need in endpoints(a):
                if "{victim}" in path:
                    path = path.replace("{victim}", str(self.victim()))
                status, hdrs, data = call(self.port, method, path, body, headers, token)
                if need == PUBLIC:
                    want = 200
                elif label in ("no token", "a made-up token", "an expired upload token"):
                    want = 401
                else:
                    want = 200 if need in GRANTS[label] else 403
                err = self.check(name, status, hdrs, data, want, label)
                if label == "an expired upload token" and want == 401:
                    self.assertEqual(err["code"], "token_expired", (name, err))
                if label == "other" and need in (WRITE, STREAM_STATUS):
                    self.assertEqual(err["code"], "wrong_build", (name, err))
                checked += 1
        self.assertEqual(checked, len(creds) * len(endpoints(a)))
        # A malformed Authorization header is a 401 too.
        status, hdrs, data = call(self.port, "GET", "/api/v1/builds",
                                  headers={"Authorization": "Basic dXNlcjpwdw=="})
        self.check("builds list", status, hdrs, data, 401, "Basic credentials")

    def test_access_token_query_for_get_only(self):
        a, _ = self.create_build()
        q = "access_token=" + self.tok["read"]
        logs = "/api/v1/builds/%d/steps/1/logs" % a
        self.assertEqual(call(self.port, "GET", logs + "?" + q)[0], 200)
        self.assertEqual(call(self.port, "GET", logs + "?since=0&" + q)[0], 200)
        st, hdrs, _ = call(self.port, "GET", logs + "?" + q, headers={"Accept": "text/event-stream"})
        self.assertEqual(st, 200)
        self.assertIn("text/event-stream", hdrs["content-type"])
        self.assertEqual(call(self.port, "GET", "/api/v1/builds/%d/events?%s" % (a, q),
                              headers={"Accept": "text/event-stream"})[0], 200)
        # not for writes, even with a token that could write
        wq = "access_token=" + self.tok["worker"]
        self.assertEqual(call(self.port, "POST", "/api/v1/builds?" + wq,
                              {"name": "x", "steps": []})[0], 401)
        # the header wins over the query
        self.assertEqual(call(self.port, "GET", logs + "?" + q, token=self.tok["worker"])[0], 403)
        # the web UI's pages are public (their data is not)
        for page in ("/", "/builds/%d" % a):
            st, hdrs, _ = call(self.port, "GET", page)
            self.assertEqual(st, 200, page)
            self.assertIn("text/html", hdrs["content-type"])

    def test_sse_stream_keeps_working_and_build_token_expires_at_the_end(self):
        a, own = self.create_build()
        sse = lstest.SSEReader(lstest.step_logs_url(self.srv.url, a, 1))  # read token
        self.assertEqual(sse.status, 200)
        for seq in (1, 2):
            rec = b"%d\t1700000000000\to\tline %d\n" % (seq, seq)
            st, _, body = call(self.port, "POST", "/api/v1/builds/%d/steps/1/stream" % a, rec,
                               {"Content-Type": "application/x-logstream-records"}, own)
            self.assertEqual(st, 200, body)
        for step in (1, 2):
            st, _, body = call(self.port, "PATCH", "/api/v1/builds/%d/steps/%d" % (a, step),
                               {"status": "success", "exit_code": 0}, token=own)
            self.assertEqual(st, 200, body)
        events = sse.read_until_end(30)
        sse.close()
        self.assertEqual([ln["text"] for e in events if e.type == "lines" for ln in e.lines()],
                         ["line 1", "line 2"])
        st, _, body = call(self.port, "PATCH", "/api/v1/builds/%d" % a, {"status": "success"},
                           token=own)
        self.assertEqual(st, 200, body)
        st, _, body = call(self.port, "GET", "/api/v1/builds/%d/steps/1/stream" % a, token=own)
        self.assertEqual(st, 401, body)
        self.assertEqual(json.loads(body)["code"], "token_expired")
        # the build is still readable with a read token
        self.assertEqual(call(self.port, "GET", "/api/v1/builds/%d" % a,
                              token=self.tok["read"])[0], 200)

    def test_tokens_api(self):
        admin = self.tok["admin"]
        st, _, body = call(self.port, "POST", "/api/v1/tokens", {"scope": "worker", "name": "ci-1"},
                           token=admin)
        self.assertEqual(st, 201, body)
        made = json.loads(body)
        self.assertEqual((made["scope"], made["name"]), ("worker", "ci-1"))
        st, _, body = call(self.port, "GET", "/api/v1/tokens", token=admin)
        listed = json.loads(body)["tokens"]
        self.assertIn(made["id"], [t["id"] for t in listed])
        self.assertNotIn("lst_", body.decode())  # no secrets in the list
        self.assertTrue(all("token" not in t for t in listed))
        self.assertEqual(sorted(t["scope"] for t in listed), ["admin", "read", "worker", "worker"])
        # a deleted token stops working at once
        self.assertEqual(call(self.port, "POST", "/api/v1/builds", {"name": "x"},
                              token=made["token"])[0], 201)
        st, _, body = call(self.port, "DELETE", "/api/v1/tokens/%d" % made["id"], token=admin)
        self.assertEqual(st, 200, body)
        st, _, body = call(self.port, "POST", "/api/v1/builds", {"name": "x"}, token=made["token"])
        self.assertEqual(st, 401, body)
        self.assertEqual(call(self.port, "DELETE", "/api/v1/tokens/%d" % made["id"],
                              token=admin)[0], 404)
        # bad requests
        for bad in ({"scope": "build", "name": "x"}, {"scope": "root", "name": "x"},
                    {"scope": "read"}, {"scope": "read", "name": ""}):
            st, _, body = call(self.port, "POST", "/api/v1/tokens", bad, token=admin)
            self.assertEqual(st, 400, (bad, body))
        # the only admin token cannot be deleted; with a second one it can
        admin_id = [t["id"] for t in listed if t["scope"] == "admin"][0]
        st, _, body = call(self.port, "DELETE", "/api/v1/tokens/%d" % admin_id, token=admin)
        self.assertEqual(st, 409, body)
        st, _, body = call(self.port, "POST", "/api/v1/tokens", {"scope": "admin", "name": "new"},
                           token=admin)
        admin2 = json.loads(body)["token"]
        st, _, body = call(self.port, "DELETE", "/api/v1/tokens/%d" % admin_id, token=admin2)
        self.assertEqual(st, 200, body)
        self.assertEqual(call(self.port, "GET", "/api/v1/tokens", token=admin)[0], 401)

    def test_worker_uses_its_tokens_and_steps_do_not_see_them(self):
        p = self.write_pipeline("steps:\n  - name: env\n    commands:\n"
                                "      - echo \"token=[$LOGSTREAM_TOKEN]\"\n")
        w = self.run_worker(p, self.srv.url)  # LOGSTREAM_TOKEN = worker token
        self.assertEqual(w.wait(), 0, w.proc.describe())
        log = lstest.request("GET", lstest.step_logs_url(self.srv.url, w.build_id, 1)).text()
        self.assertIn("token=[]", log)
        self.assertNotIn("lst_", log)
        # a read token cannot create builds: the worker says why and fails
        bad = lstest.Proc([lstest.binary(), "run", p, "--server", self.srv.url, "--token",
                           self.tok["read"]], name="run")
        self._procs.append(bad)
        self.assertEqual(bad.wait(), 1, bad.describe())
        self.assertIn("HTTP 403", bad.err.text())
        # logs needs a read token; without one it says how to give it
        nolog = self.start(["logs", "--server", self.srv.url, str(w.build_id)],
                           env={"LOGSTREAM_TOKEN": ""})
        self.assertEqual(nolog.wait(), 1)
        self.assertIn("--token or LOGSTREAM_TOKEN", nolog.err.text())
        ok = self.start(["logs", "--server", self.srv.url, "--token", self.tok["read"],
                         "%d/1" % w.build_id], env={"LOGSTREAM_TOKEN": ""})
        self.assertEqual(ok.wait(), 0, ok.describe())
        self.assertIn("token=[]", ok.out.text())


class ServerOptionsTest(lstest.TestCase):

    def test_public_read(self):
        srv = self.start_server(["--public-read"])
        build = lstest.request("POST", srv.url + "/api/v1/builds",
                               {"name": "p", "steps": [{"name": "s"}]}).json()["id"]
        u = urllib.parse.urlsplit(srv.url)
        for path in ("/api/v1/builds", "/api/v1/builds/%d" % build, "/metrics",
                     "/api/v1/builds/%d/steps/1/logs" % build,
                     "/api/v1/builds/%d/steps/1/stream" % build):
            self.assertEqual(call(u.port, "GET", path)[0], 200, path)
        st, hdrs, _ = call(u.port, "GET", "/api/v1/builds/%d/steps/1/logs" % build,
                           headers={"Accept": "text/event-stream"})
        self.assertEqual(st, 200)
        # writes and the tokens API still need tokens; a bad token is still refused
        self.assertEqual(call(u.port, "POST", "/api/v1/builds", {"name": "x"})[0], 401)
        self.assertEqual(call(u.port, "PATCH", "/api/v1/builds/%d" % build,
                              {"status": "running"})[0], 401)
        self.assertEqual(call(u.port, "GET", "/api/v1/tokens")[0], 401)
        self.assertEqual(call(u.port, "GET", "/api/v1/builds",
                              token="lst_" + "A" * 43)[0], 401)
        # a worker token may read when reads are public
        self.assertEqual(call(u.port, "GET", "/api/v1/builds", token=srv.tokens["worker"])[0], 200)

    def test_public_metrics_only(self):
        srv = self.start_server(["--public-metrics"])
        self.assertEqual(call(srv.port, "GET", "/metrics")[0], 200)
        self.assertEqual(call(srv.port, "GET", "/api/v1/builds")[0], 401)

    def test_admin_token_printed_once_and_stored_hashed(self):
        data = os.path.join(self.tmp, "data")
        os.makedirs(data)
        first = self.start(["server", "--listen", "127.0.0.1:0", "--data", data], name="server")
        self.assertTrue(first.out.wait_for("listening on http://", lstest.START_TIMEOUT))
        got = first.err.wait_for(r"admin token \(shown once, stored hashed in "
                                 r"(.*logstream\.db|the PostgreSQL database)\): lst_", 10)
        self.assertIsNotNone(got, first.describe())
        admin = re.search(r"(lst_[A-Za-z0-9_-]{43})$", got[1]).group(1)
        port = int(re.search(r":(\d+)$", first.out.lines[0][1]).group(1))
        st, _, body = call(port, "POST", "/api/v1/tokens", {"scope": "read", "name": "r"},
                           token=admin)
        self.assertEqual(st, 201, body)
        read = json.loads(body)["token"]
        self.assertEqual(first.stop(), 0)
        self.assertEqual(first.err.text().count("admin token"), 1)

        # Only hashes are on disk: not the admin token, not the read token.
        blobs = b""
        for name in os.listdir(data):
            with open(os.path.join(data, name), "rb") as f:
                blobs += f.read()
        db_url = lstest.database_url(data)
        if db_url:  # on PostgreSQL the hashes are in its tokens table
            blobs += bytes.fromhex(lstest._psql(
                db_url, "SELECT string_agg(encode(hash, 'hex'), '') FROM tokens"))
        for tok in (admin, read):
            self.assertNotIn(tok.encode(), blobs)
            self.assertNotIn(tok[4:].encode(), blobs)
            self.assertIn(hashlib.sha256(tok.encode()).digest(), blobs)  # we looked in the right place

        second = self.start(["server", "--listen", "127.0.0.1:0", "--data", data], name="server")
        got = second.out.wait_for("listening on http://", lstest.START_TIMEOUT)
        self.assertTrue(got, second.describe())
        port = int(re.search(r":(\d+)$", got[1]).group(1))
        self.assertEqual(call(port, "GET", "/api/v1/tokens", token=admin)[0], 200)
        self.assertEqual(call(port, "GET", "/api/v1/builds", token=read)[0], 200)
        self.assertEqual(second.stop(), 0)
        self.assertNotIn("admin token", second.err.text())

    def test_admin_token_file_is_private(self):
        srv = self.start_server()
        mode = os.stat(srv.admin_token_file).st_mode & 0o777
        self.assertEqual(mode, 0o600)
        self.assertRegex(read_text(srv.admin_token_file), r"^lst_[A-Za-z0-9_-]{43}\n$")

    def test_tls_round_trip(self):
        if not shutil.which("openssl"):
            self.skipTest("openssl is not installed (scripts/install-deps.sh installs it)")
        cert, key = os.path.join(self.tmp, "cert.pem"), os.path.join(self.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        srv = self.start_server(["--tls-cert", cert, "--tls-key", key])
        self.assertTrue(srv.url.startswith("https://127.0.0.1:"), srv.url)
        admin = read_text(srv.admin_token_file).strip()
        ctx = ssl.create_default_context(cafile=cert)
        st, _, body = call(srv.port, "GET", "/api/v1/builds", token=admin, scheme_ctx=ctx)
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body), {"builds": []})
        st, hdrs, _ = call(srv.port, "GET", "/api/v1/builds", scheme_ctx=ctx)
        self.assertEqual(st, 401)
        st, _, body = call(srv.port, "POST", "/api/v1/builds", {"name": "tls", "steps": []},
                           token=admin, scheme_ctx=ctx)
        self.assertEqual(st, 201, body)
        # an unverified client is refused by its own TLS check; plain HTTP gets no answer
        with self.assertRaises(ssl.SSLError):
            call(srv.port, "GET", "/healthz", scheme_ctx=ssl.create_default_context())
        try:
            st = call(srv.port, "GET", "/healthz")[0]
        except (http.client.HTTPException, OSError):
            st = None
        self.assertIsNone(st, "plain HTTP got an answer on the TLS port")
        # curl with the certificate as its CA
        if shutil.which("curl"):
            out = subprocess.run(["curl", "-sS", "--cacert", cert, "-H",
                                  "Authorization: Bearer " + admin, srv.url + "/api/v1/builds"],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(json.loads(out.stdout)["builds"][0]["name"], "tls", out.stderr)

    def test_tls_flags_must_come_together(self):
        p = self.start(["server", "--listen", "127.0.0.1:0", "--data",
                        os.path.join(self.tmp, "d"), "--tls-cert", "/nonexistent.pem"])
        self.assertEqual(p.wait(), 2)
        self.assertIn("--tls-cert and --tls-key go together", p.err.text())


if __name__ == "__main__":
    lstest.main()
