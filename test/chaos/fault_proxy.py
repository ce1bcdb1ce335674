#!/usr/bin/env python3
"""A TCP proxy in front of the chaos run's chart registry (docker-registry), so that the
registry can answer 5xx or slowly, which docker-registry itself cannot be made to do.

Usage: fault_proxy.py --listen-port P --upstream HOST:PORT --control-port C

Plain HTTP on 127.0.0.1:P is forwarded byte for byte to the upstream. When the upstream
refuses (the registry is down), the client's connection is reset: through a proxy that is
what a dead registry looks like. The control port (plain HTTP, JSON) sets the mode:

  POST /mode {"mode": "pass"}                      forward (the default)
  POST /mode {"mode": "status", "status": 503}     answer every request with that status
  POST /mode {"mode": "latency", "latency_ms": N}  wait N ms before forwarding each connection
  GET  /mode                                       the mode, and counters
  GET  /healthz                                    {"ok": true}

Standard library only; one thread per connection (helm opens a handful at a time).
"""
import argparse
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"mode": "pass", "status": 503, "latency_ms": 0}
COUNTERS = {"connections": 0, "faulted": 0, "upstream_refused": 0}
LOCK = threading.Lock()


def reset(conn):
    # SO_LINGER 0: close sends an RST, as a host whose service died would after a SYN-ACK.
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    conn.close()


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def answer_status(conn, status):
    # Read the request head so the client sees an answer rather than a reset mid-send.
    conn.settimeout(5)
    data = b""
    try:
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    body = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "chaos: injected"}]}).encode()
    head = (
        f"HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        conn.sendall(head + body)
    except OSError:
        pass
    conn.close()


def handle(conn, upstream):
    with LOCK:
        mode = dict(STATE)
        COUNTERS["connections"] += 1
    if mode["mode"] == "status":
        with LOCK:
            COUNTERS["faulted"] += 1
        answer_status(conn, int(mode["status"]))
        return
    if mode["mode"] == "latency":
        with LOCK:
            COUNTERS["faulted"] += 1
        time.sleep(int(mode["latency_ms"]) / 1000.0)
    host, port = upstream.rsplit(":", 1)
    try:
        up = socket.create_connection((host, int(port)), timeout=10)
    except OSError:
        with LOCK:
            COUNTERS["upstream_refused"] += 1
        reset(conn)
        return
    up.settimeout(None)
    threading.Thread(target=pump, args=(conn, up), daemon=True).start()
    pump(up, conn)


class Control(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/healthz":
            self.reply(200, {"ok": True})
        elif self.path == "/mode":
            with LOCK:
                self.reply(200, {**STATE, **COUNTERS})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self):
        if self.path != "/mode":
            self.reply(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length", "0"))
        try:
            req = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self.reply(400, {"error": "bad json"})
            return
        if req.get("mode") not in ("pass", "status", "latency"):
            self.reply(400, {"error": "mode: pass, status or latency"})
            return
        with LOCK:
            STATE["mode"] = req["mode"]
            STATE["status"] = int(req.get("status", 503))
            STATE["latency_ms"] = int(req.get("latency_ms", 0))
            self.reply(200, dict(STATE))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen-port", type=int, required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--control-port", type=int, required=True)
    args = ap.parse_args()
    control = ThreadingHTTPServer(("127.0.0.1", args.control_port), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.listen_port))
    listener.listen(128)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn, args.upstream), daemon=True).start()


if __name__ == "__main__":
    main()
