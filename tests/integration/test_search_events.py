"""The log search (GET .../steps/{s}/search) and the server-wide build events
(GET /api/v1/events) against the real server, through the real auth path."""

import http.client
import json
import os
import queue
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lstest  # noqa: E402


def new_build(url, name="s"):
    a = lstest.request("POST", url + "/api/v1/builds",
                       {"name": name, "steps": [{"name": "a", "kind": "step"}]})
    assert a.status == 201, a.text()
    return a.json()["id"]


def send_text(url, build, text):
    a = lstest.request("POST", "%s/api/v1/builds/%d/steps/1/stream" % (url, build),
                       text.encode(), headers={"Content-Type": "text/plain"})
    assert a.status == 200, a.text()
    return a.json()


def search(url, build, token=lstest.DEFAULT, **q):
    path = "%s/api/v1/builds/%d/steps/1/search?%s" % (url, build, urllib.parse.urlencode(q))
    return lstest.request("GET", path, token=token)


class SearchTest(lstest.TestCase):
    def test_search_rendered_text_whole_log(self):
        srv = self.start_server(["--search-max-query", "32", "--search-max-matches", "500",
                                 "--live-buffer", "64KiB", "--flush-interval", "20ms"])
        b = new_build(srv.url)
        # 30000 lines: most of them only in the store (the live buffer is
        # small), the newest in memory; the needle behind escapes and a \r
        lines = ["row %d" % i for i in range(1, 30001)]
        lines[99] = "\x1b[1mNee\x1b[0mdle one"
        lines[29990] = "waiting...\rthe NEEDLE two"
        lines[500] = "needl\x1b[31m"  # no: the word is cut
        send_text(srv.url, b, "\n".join(lines) + "\n")
        a = search(srv.url, b, q="needle")
        self.assertEqual(a.status, 200, a.text())
        self.assertEqual(a.headers.get("Content-Type"), "application/json")
        self.assertEqual(a.json(), {"matches": [100, 29991], "total": 2, "last_seq": 30000})
        # the overwritten part of a \r line is gone
        self.assertEqual(search(srv.url, b, q="waiting").json()["total"], 0)
        # limit lists the first N, total counts them all; since skips
        a = search(srv.url, b, q="ROW 2999", limit="3").json()
        self.assertEqual(a["matches"], [2999, 29990, 29992])  # 29991 is the \r line
        self.assertEqual(a["total"], 10)
        a = search(srv.url, b, q="row 2999", since="29990").json()
        self.assertEqual(a["matches"], list(range(29992, 30000)))
        # a common word: the listed seqs stop at --search-max-matches' default cap
        a = search(srv.url, b, q="row").json()
        self.assertEqual(a["total"], 29997)
        self.assertEqual(len(a["matches"]), 500)
        self.assertEqual(a["matches"][:3], [1, 2, 3])
        # lines sent later are found by a new search
        send_text(srv.url, b, "one more needle\n")
        a = search(srv.url, b, q="needle", since="30000").json()
        self.assertEqual(a, {"matches": [30001], "total": 1, "last_seq": 30001})

    def test_bad_queries_and_access(self):
        srv = self.start_server(["--search-max-query", "8", "--search-max-matches", "100"])
        b = new_build(srv.url)
        send_text(srv.url, b, "hello\n")
        for q, code in [({}, "bad_query"), ({"q": ""}, "bad_query"),
                        ({"q": "123456789"}, "bad_query"),
                        ({"q": "x", "limit": "0"}, "bad_query"),
                        ({"q": "x", "limit": "101"}, "bad_query"),
                        ({"q": "x", "since": "-1"}, "bad_query")]:
            a = search(srv.url, b, **q)
            self.assertEqual(a.status, 400, (q, a.text()))
            self.assertEqual(a.json()["code"], code)
            self.assertTrue(a.json()["error"])
        self.assertIn("--search-max-query", search(srv.url, b, q="123456789").json()["error"])
        a = lstest.request("GET", srv.url + "/api/v1/builds/%d/steps/1/search?q=%%FF" % b)
        self.assertEqual(a.status, 400)
        self.assertIn("UTF-8", a.json()["error"])
        a = lstest.request("GET", srv.url + "/api/v1/builds/%d/steps/7/search?q=x" % b)
        self.assertEqual(a.status, 404)
        # a read token is needed: as a header, or as ?access_token=
        self.assertEqual(search(srv.url, b, token=None, q="hello").status, 401)
        read = srv.tokens["read"]
        a = search(srv.url, b, token=None, q="hello", access_token=read)
        self.assertEqual(a.json()["matches"], [1])


class EventsTest(lstest.TestCase):
    def test_build_events_live_resume_reset(self):
        # pings end each blocked read soon, so closing a reader is quick
        srv = self.start_server(["--events-backlog", "3", "--sse-ping", "300ms"])
        url = srv.url + "/api/v1/events"
        a = lstest.request("GET", url, token=None)
        self.assertEqual(a.status, 401)
        r = lstest.SSEReader(url)
        self.assertEqual(r.status, 200)
        self.assertTrue(r.content_type.startswith("text/event-stream"))
        ready = r.next(10)
        self.assertEqual((ready.type, ready.data), ("ready", "{}"))
        epoch = ready.id.split("-")[0]
        self.assertEqual(ready.id, epoch + "-0")
        b1 = new_build(srv.url, "one")
        ev = r.next(10)
        self.assertEqual(ev.type, "build")
        self.assertEqual(ev.id, epoch + "-1")
        o = json.loads(ev.data)
        self.assertEqual((o["id"], o["name"], o["status"]), (b1, "one", "pending"))
        self.assertNotIn("steps", o)
        a = lstest.request("PATCH", "%s/api/v1/builds/%d" % (srv.url, b1), {"status": "running"})
        self.assertEqual(a.status, 200)
        ev = r.next(10)
        self.assertEqual(json.loads(ev.data)["status"], "running")
        self.assertEqual(ev.id, epoch + "-2")
        # a PATCH that changes nothing sends nothing
        lstest.request("PATCH", "%s/api/v1/builds/%d" % (srv.url, b1), {"status": "running"})
        b2 = new_build(srv.url, "two")
        lstest.request("PATCH", "%s/api/v1/builds/%d" % (srv.url, b1), {"status": "success"})
        ev3, ev4 = r.next(10), r.next(10)
        self.assertEqual(json.loads(ev3.data)["id"], b2)
        self.assertEqual((json.loads(ev4.data)["status"], ev4.id), ("success", epoch + "-4"))
        with self.assertRaises(queue.Empty):
            r.next(0.5)
        r.close()
        # resume: the events after the id, then ready
        r = lstest.SSEReader(url, last_event_id=epoch + "-2")
        got = [r.next(10) for _ in range(3)]
        self.assertEqual([(e.type, e.id) for e in got],
                         [("build", epoch + "-3"), ("build", epoch + "-4"), ("ready", epoch + "-4")])
        r.close()
        # older than the backlog (3 events: 2..4), or another server: reset
        for last in (epoch + "-0", "12-3", "junk"):
            r = lstest.SSEReader(url, last_event_id=last)
            got = [r.next(10) for _ in range(2)]
            self.assertEqual([e.type for e in got], ["reset", "ready"], last)
            r.close()
        r = lstest.SSEReader(url, last_event_id=epoch + "-1")
        self.assertEqual([r.next(10).type for _ in range(4)], ["build", "build", "build", "ready"])
        r.close()
        # EventSource's way: ?access_token=
        r = lstest.SSEReader(url + "?access_token=" + srv.tokens["read"], token=None)
        self.assertEqual(r.next(10).type, "ready")
        r.close()

    def test_slow_client_is_disconnected(self):
        srv = self.start_server(["--sse-max-lag", "16KiB"])
        url = srv.url + "/api/v1/events"
        u = urllib.parse.urlsplit(url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        c.connect()
        # a small receive buffer: the server's socket fills sooner
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.request("GET", u.path, headers=lstest.auth_header(url))
        resp = c.getresponse()
        self.assertEqual(resp.status, 200)
        # never read: the events pile up in the server's queue for this client
        name = "x" * 200
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for _ in range(50):
                new_build(srv.url, name)
            m = lstest.request("GET", srv.url + "/metrics").text()
            if "logstream_sse_disconnected_slow_total 1" in m:
                break
        else:
            self.fail("the slow client was never disconnected")
        resp.close()
        c.close()


if __name__ == "__main__":
    lstest.main()
