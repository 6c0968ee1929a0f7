"""A TCP proxy on loopback that injects network faults between a client (the
worker, a viewer) and the server, for the fault tests (standard library only).

    proxy = FaultProxy("127.0.0.1", server_port)   # listens on 127.0.0.1:proxy.port
    proxy.blackhole()   # nothing passes either way; new connections hang
    proxy.resume()      # everything held is delivered, connections go on
    proxy.cut()         # every connection is reset; new ones are reset at once
    proxy.heal()        # new connections work again (after a cut)
    proxy.close()

Modes:
- pass: bytes are forwarded both ways as they arrive.
- blackhole: like a network that drops every packet for a while. Nothing is
  read or forwarded on open connections (the senders' kernel buffers fill and
  their writes block, as TCP does while its segments go unacknowledged), and
  new connections are not accepted (they wait in the listen backlog, like a
  SYN that gets no answer). resume() delivers everything held, in order and
  exactly once -- TCP's retransmissions after a short outage.
- cut: the server is unreachable. Open connections are reset (RST), new
  connections are accepted and reset at once.

Counters: .accepted (connections accepted), .bytes_up / .bytes_down (bytes
forwarded client->server / server->client).
"""

import select
import socket
import struct
import threading

PASS, BLACKHOLE, CUT = "pass", "blackhole", "cut"


def _reset(sock):
    """Closes with an RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class FaultProxy:
    def __init__(self, target_host, target_port, listen_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self._lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._lsock.bind((listen_host, 0))
        self._lsock.listen(128)
        self.port = self._lsock.getsockname()[1]
        self.host = listen_host
        self.url = "http://%s:%d" % (listen_host, self.port)
        self._mode = PASS
        self._cond = threading.Condition()
        self._pairs = []  # [client_sock, server_sock]
        self._closed = False
        self.accepted = 0
        self.bytes_up = 0
        self.bytes_down = 0
        # a pipe wakes the forwarding loop when the mode or the set of sockets changes
        self._wake_r, self._wake_w = socket.socketpair()
        self._threads = [threading.Thread(target=self._accept_loop, daemon=True),
                         threading.Thread(target=self._forward_loop, daemon=True)]
        for t in self._threads:
            t.start()

    # ---- control ----

    @property
    def mode(self):
        with self._cond:
            return self._mode

    def _set_mode(self, mode):
        with self._cond:
            self._mode = mode
            self._cond.notify_all()
        self._wake()

    def blackhole(self):
        self._set_mode(BLACKHOLE)

    def resume(self):
        self._set_mode(PASS)

    def heal(self):
        self._set_mode(PASS)

    def cut(self):
        with self._cond:
            self._mode = CUT
            pairs, self._pairs = self._pairs, []
            self._cond.notify_all()
        for c, s in pairs:
            _reset(c)
            _reset(s)
        self._wake()

    def connections(self):
        with self._cond:
            return len(self._pairs)

    def close(self):
        with self._cond:
            self._closed = True
            pairs, self._pairs = self._pairs, []
            self._cond.notify_all()
        try:
            # unblock accept()
            socket.create_connection((self.host, self.port), timeout=1).close()
        except OSError:
            pass
        self._wake()
        for c, s in pairs:
            _reset(c)
            _reset(s)
        for t in self._threads:
            t.join(5)
        for s in (self._lsock, self._wake_r, self._wake_w):
            try:
                s.close()
            except OSError:
                pass

    # ---- internals ----

    def _wake(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _accept_loop(self):
        while True:
            with self._cond:
                # a blackhole leaves new connections in the listen backlog
                while self._mode == BLACKHOLE and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
            try:
                client, _ = self._lsock.accept()
            except OSError:
                return
            with self._cond:
                if self._closed:
                    _reset(client)
                    return
                mode = self._mode
            if mode == CUT:
                _reset(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=10)
            except OSError:
                _reset(client)
                continue
            for s in (client, server):
                s.setblocking(False)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._cond:
                self.accepted += 1
                self._pairs.append([client, server])
            self._wake()

    def _forward_loop(self):
        while True:
            with self._cond:
                if self._closed:
                    return
                mode = self._mode
                pairs = list(self._pairs)
            rlist = [self._wake_r]
            if mode == PASS:
                for c, s in pairs:
                    rlist += [c, s]
            try:
                ready, _, _ = select.select(rlist, [], [], 0.5)
            except (OSError, ValueError):
                self._drop_dead()
                continue
            if self._wake_r in ready:
                try:
                    self._wake_r.recv(4096)
                except OSError:
                    pass
            if mode != PASS:
                continue
            for pair in pairs:
                c, s = pair
                for src, dst, up in ((c, s, True), (s, c, False)):
                    if src in ready:
                        self._pump(pair, src, dst, up)

    def _pump(self, pair, src, dst, up):
        try:
            data = src.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_pair(pair)
            return
        # deliver all of it (blocking briefly: the reader is a test peer)
        view = memoryview(data)
        while view:
            with self._cond:
                if self._closed or pair not in self._pairs:
                    return
            try:
                n = dst.send(view)
                view = view[n:]
            except BlockingIOError:
                select.select([], [dst], [], 0.5)
            except OSError:
                self._close_pair(pair)
                return
        with self._cond:
            if up:
                self.bytes_up += len(data)
            else:
                self.bytes_down += len(data)

    def _close_pair(self, pair):
        with self._cond:
            if pair in self._pairs:
                self._pairs.remove(pair)
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def _drop_dead(self):
        with self._cond:
            pairs = list(self._pairs)
        for pair in pairs:
            if any(s.fileno() < 0 for s in pair):
                self._close_pair(pair)
