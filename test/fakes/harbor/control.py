"""The control API of the double (not Harbor's): plain HTTP on its own loopback port, JSON in
and out. Faults, the request log, the state without secrets, a credential check, a clock, reset.
See README.md for the contract."""

import json
import re
from http.server import BaseHTTPRequestHandler

import api


def state_of(app):
    s = app.store
    d = s.data
    return {
        "projects": [api.project_json(app, p) for p in
                     sorted(d["projects"].values(), key=lambda p: p["project_id"])],
        "quotas": [api.quota_json(app, q) for q in sorted(d["quotas"].values(),
                                                          key=lambda q: q["id"])],
        "robots": [dict(api.robot_json(app, r), project_id=r["project_id"],
                        secret_version=r["secret_version"])
                   for r in sorted(d["robots"].values(), key=lambda r: r["id"])],
        "immutable_rules": [dict(api.rule_json(r), project_id=r["project_id"])
                            for r in sorted(d["immutable_rules"].values(),
                                            key=lambda r: r["id"])],
        "retentions": [d["retentions"][k] for k in sorted(d["retentions"], key=int)],
        "repositories": [{"name": r["name"], "project_id": r["project_id"],
                          "tags": sorted(r["tags"]), "artifact_count": len(r["manifests"]),
                          "pull_count": r.get("pull_count", 0)}
                         for r in sorted(d["repositories"].values(), key=lambda r: r["id"])],
        "clock_offset_seconds": s.clock_offset,
        "now": s.now(),
    }


def handler_for(app):
    class Control(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def reply(self, status, body=None):
            data = json.dumps(body if body is not None else {}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def body(self):
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            return json.loads(raw or b"{}")

        def route(self, method):
            path, _, query = self.path.partition("?")
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            try:
                return self.dispatch(method, path.rstrip("/") or "/", params)
            except (ValueError, KeyError, TypeError, re.error) as e:
                return self.reply(400, {"error": "bad control request: %s" % e})

        def dispatch(self, method, path, params):
            if path == "/healthz":
                return self.reply(200, {"ok": True})
            if path == "/faults":
                if method == "GET":
                    return self.reply(200, {"faults": app.faults.list()})
                if method == "POST":
                    return self.reply(201, app.faults.add(self.body()).describe())
                if method == "DELETE":
                    return self.reply(200, {"cleared": app.faults.clear()})
            m = re.match(r"^/faults/(\d+)$", path)
            if m and method == "DELETE":
                n = app.faults.clear(int(m.group(1)))
                return self.reply(200 if n else 404, {"cleared": n})
            if path == "/requests":
                if method == "GET":
                    entries = app.log.since(int(params.get("since", 0)))
                    return self.reply(200, {"requests": entries,
                                            "last": entries[-1]["seq"] if entries else
                                            int(params.get("since", 0))})
                if method == "DELETE":
                    app.log.clear()
                    return self.reply(200, {})
            if path == "/state" and method == "GET":
                with app.store.lock:
                    return self.reply(200, state_of(app))
            if path == "/credentials" and method == "POST":
                b = self.body()
                with app.store.lock:
                    p = app.store.authenticate(b["username"], b["secret"])
                return self.reply(200, {"accepted": p is not None,
                                        "kind": p["kind"] if p else None})
            if path == "/clock" and method == "POST":
                b = self.body()
                with app.store.lock:
                    if "offset_seconds" in b:
                        app.store.clock_offset = float(b["offset_seconds"])
                    app.store.clock_offset += float(b.get("advance_seconds", 0))
                    return self.reply(200, {"offset_seconds": app.store.clock_offset,
                                            "now": app.store.now()})
            if path == "/repositories" and method == "POST":
                b = self.body()
                name = b["name"]
                with app.store.lock:
                    p = app.store.project_by_name(name.split("/", 1)[0])
                    if p is None or "/" not in name:
                        return self.reply(404, {"error": "no project for %s" % name})
                    app.registry.repo(name, create=True)
                    app.store.save()
                return self.reply(201, {"name": name})
            if path == "/reset" and method == "POST":
                with app.store.lock:
                    app.store.reset()
                    app.store.clock_offset = 0.0
                app.faults.clear()
                app.log.clear()
                return self.reply(200, {})
            return self.reply(404, {"error": "no control route %s %s" % (method, path)})

        def do_GET(self):
            self.route("GET")

        def do_POST(self):
            self.route("POST")

        def do_DELETE(self):
            self.route("DELETE")

    return Control
