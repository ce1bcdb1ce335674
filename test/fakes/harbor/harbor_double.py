#!/usr/bin/env python3
"""A Harbor v2.0 test double: Harbor's REST API (/api/v2.0), its registry (/v2/) and token
service (/service/token) over HTTPS on one loopback port, and a control API for tests (faults,
request log, state, reset) over plain HTTP on another. Started by test/cluster/harbor-up; the
contract is test/fakes/harbor/README.md.
"""

import argparse
import os
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import api  # noqa: E402
import control  # noqa: E402
import oci  # noqa: E402
import store as st  # noqa: E402
from httpcore import Faults, HarborError, Request, RequestLog, Response  # noqa: E402


class Reset(Exception):
    """The connection was reset on purpose (an injected fault)."""


class Harbor:
    def __init__(self, args, admin_password):
        self.store = st.Store(args.state, admin_password)
        self.faults = Faults()
        self.log = RequestLog()
        self.host = "127.0.0.1:%d" % args.port
        self.base_url = "https://" + self.host
        self.registry = oci.Registry(self, args.blobs)
        self.routes = api.ROUTES

    # ---- Harbor's side -----------------------------------------------------------------------
    def perform(self, req):
        try:
            with self.store.lock:
                if req.path == "/service/token":
                    return self.registry.token_service(req)
                if req.path == "/v2" or req.path.startswith("/v2/"):
                    return self.registry.handle(req)
                if req.path.startswith(api.BASE + "/"):
                    return self.api(req)
                raise HarborError(404, "path %s was not found" % req.path)
        except HarborError as e:
            return Response.error(e)
        except Exception as e:  # a bug in the double: Harbor's 500, and say so in the log
            req.undeclared = True
            sys.stderr.write("harbor-double: internal error on %s %s: %r\n"
                             % (req.method, req.path, e))
            return Response.error(HarborError(500, "internal error in the harbor double: %r" % e))

    def api(self, req):
        sub = req.path[len(api.BASE):]
        if len(sub) > 1:
            sub = sub.rstrip("/")
        allowed = []
        for route in self.routes:
            m = route.regex.match(sub)
            if not m:
                continue
            if route.method != req.method:
                allowed.append(route.method)
                continue
            req.params = {k: urllib.parse.unquote(v)
                          for k, v in m.groupdict().items()}
            # Bad credentials are no error in Harbor: the request goes on as anonymous.
            user, secret = oci.basic(req.header("Authorization", ""))
            req.principal = self.store.authenticate(user, secret)
            try:
                resp = route.handler(self, req)
            except HarborError as e:
                resp = Response.error(e)
            if resp.status not in route.statuses:
                # check_routes.py should have caught it; the request log flags it for the tests.
                req.undeclared = True
                sys.stderr.write("harbor-double: %s %s answered %d, undeclared for the route\n"
                                 % (req.method, req.path, resp.status))
            return resp
        if allowed:
            raise HarborError(405, "method %s is not allowed, but [%s] are"
                              % (req.method, ",".join(sorted(set(allowed)))),
                              headers={"Allow": ", ".join(sorted(set(allowed)))})
        raise HarborError(404, "path %s was not found (or is not served by the harbor double)"
                          % req.path)

    # ---- one request, faults around it -------------------------------------------------------
    def serve(self, handler, req):
        started = time.time()
        fault = self.faults.take(req.method, req.path, req.raw_query)
        resp = None
        status = None
        try:
            if fault and fault.phase == "before":
                resp = self.apply(fault, handler, None)
            if resp is None:
                resp = self.perform(req)
                if fault and fault.phase == "after":
                    resp = self.apply(fault, handler, resp)
            status = resp.status
            resp.headers["X-Request-Id"] = req.request_id
            handler.send(resp, head=req.method == "HEAD")
        except Reset:
            status = "reset"
            raise
        finally:
            user = None
            if req.principal:
                user = req.principal["name"]
            self.log.add({"method": req.method, "path": req.path, "query": req.raw_query,
                          "status": status, "time": started,
                          "duration_ms": int((time.time() - started) * 1000),
                          "request_id": req.request_id, "user": user,
                          "fault": fault.id if fault else None,
                          "undeclared_status": getattr(req, "undeclared", False)})

    def apply(self, fault, handler, resp):
        """Acts out a fault; returns the response to send instead, or `resp` to go on."""
        if fault.latency_ms:
            time.sleep(fault.latency_ms / 1000.0)
        if fault.action == "latency":
            return resp
        if fault.action == "reset":
            handler.reset()
            raise Reset()
        return Response.error(HarborError(fault.status, fault.message, fault.code))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "nginx"

    def log_message(self, fmt, *args):  # the request log is the control API's
        pass

    def handle_one_request(self):
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            body = self.read_body()
            rid = self.headers.get("X-Request-Id") or str(uuid.uuid4())
            req = Request(self.command, self.path, self.headers, body, rid)
            self.server.app_serve(self, req)
            self.wfile.flush()
        except Reset:
            self.close_connection = True
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            self.close_connection = True

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, resp, head=False):
        self.send_response(resp.status)
        length = resp.headers.pop("Content-Length-Override", None)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if "Content-Type" not in resp.headers and resp.body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", length if length is not None else str(len(resp.body)))
        self.end_headers()
        if not head and resp.body:
            self.wfile.write(resp.body)

    def reset(self):
        # SO_LINGER 0: close() sends RST, no TLS close_notify, no HTTP answer.
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, app, context):
        self.app = app
        self.context = context
        super().__init__(addr, Handler)

    def app_serve(self, handler, req):
        self.app.serve(handler, req)

    def finish_request(self, request, client_address):
        # The TLS handshake runs in the request's thread, so a slow client blocks nobody.
        try:
            request.settimeout(60)
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            try:
                tls.close()
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--control-port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--state", required=True, help="JSON state file, kept across restarts")
    ap.add_argument("--blobs", required=True, help="directory for registry blobs")
    ap.add_argument("--admin-password-file", required=True)
    args = ap.parse_args()
    with open(args.admin_password_file) as f:
        password = f.read().strip()
    os.makedirs(args.blobs, exist_ok=True)
    app = Harbor(args, password)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["http/1.1"])
    harbor = TLSServer(("127.0.0.1", args.port), app, ctx)
    ctl = ThreadingHTTPServer(("127.0.0.1", args.control_port), control.handler_for(app))
    ctl.daemon_threads = True

    def stop(signum, frame):
        threading.Thread(target=lambda: (harbor.shutdown(), ctl.shutdown()), daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    t = threading.Thread(target=ctl.serve_forever, daemon=True)
    t.start()
    sys.stderr.write("harbor-double: serving %s (control http://127.0.0.1:%d)\n"
                     % (app.base_url, args.control_port))
    harbor.serve_forever()
    with app.store.lock:
        app.store.save()


if __name__ == "__main__":
    main()
