"""The HTTP plumbing the double's servers share: a request/response pair, Harbor's error body,
a route table that the route-vs-swagger check reads, faults, and the request log.

Harbor's error body is {"errors":[{"code":"...","message":"..."}]} on every failure, with the
codes of Harbor's lib/errors package.
"""

import json
import re
import threading
import time
import urllib.parse

CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND",
         405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 412: "PRECONDITION",
         422: "UNPROCESSABLE_ENTITY", 429: "TOO_MANY_REQUEST", 500: "UNKNOWN",
         502: "UNKNOWN", 503: "UNKNOWN", 504: "UNKNOWN"}
DEFAULT_MESSAGES = {401: "unauthorized", 403: "forbidden"}


class HarborError(Exception):
    def __init__(self, status, message=None, code=None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "UNKNOWN")
        self.message = message if message is not None else DEFAULT_MESSAGES.get(status, "")
        self.headers = headers or {}


class Request:
    def __init__(self, method, target, headers, body, request_id):
        self.method = method
        parts = urllib.parse.urlsplit(target)
        self.path = parts.path
        self.raw_query = parts.query
        self.query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        self.headers = headers
        self.body = body
        self.request_id = request_id
        self.principal = None
        self.params = {}

    def q(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json(self):
        try:
            return json.loads(self.body.decode() or "null")
        except (ValueError, UnicodeDecodeError) as e:
            raise HarborError(400, "parsing body failed, because %s" % e)


class Response:
    def __init__(self, status=200, body=b"", headers=None, content_type=None):
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body, separators=(",", ":")).encode()  # as Go writes JSON
            content_type = content_type or "application/json"
        elif isinstance(body, str):
            body = body.encode()
        self.body = body
        if content_type:
            self.headers["Content-Type"] = content_type

    @staticmethod
    def error(err):
        # lib/http.SendError: this content type, and a newline after the JSON (Fprintln).
        body = json.dumps({"errors": [{"code": err.code, "message": err.message}]},
                          separators=(",", ":")) + "\n"
        return Response(err.status, body.encode(), err.headers,
                        content_type="application/json; charset=utf-8")


class Route:
    """One operation the double serves. `query` and `headers` name every parameter the handler
    reads, `statuses` every status it can answer (401 for the unauthenticated is added by
    `auth`), and `beyond_swagger` the statuses real Harbor answers that its swagger does not
    list, each with the reason (check_routes.py holds the double to this)."""

    def __init__(self, method, template, handler, query=(), headers=(), statuses=(),
                 beyond_swagger=None, auth=True, body=None):
        self.method = method
        self.template = template
        self.handler = handler
        self.query = tuple(query)
        self.headers = tuple(headers)
        self.statuses = set(statuses) | ({401} if auth else set())
        self.beyond_swagger = dict(beyond_swagger or {})
        self.auth = auth
        self.body = body
        self.path_params = re.findall(r"{(\w+)}", template)
        self.regex = re.compile("^" + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", template) + "$")


class Fault:
    def __init__(self, spec, fid):
        self.id = fid
        self.method = spec.get("method", ".*")
        self.path = spec.get("path", ".*")
        self.action = spec.get("action", "status")  # status | latency | reset
        self.phase = spec.get("phase", "before")  # before | after (the request is performed)
        self.status = int(spec.get("status", 503))
        self.code = spec.get("code")
        self.message = spec.get("message", "internal server error" if self.status >= 500
                                else "injected by the harbor double")
        self.latency_ms = int(spec.get("latency_ms", 0))
        self.query = spec.get("query", "")
        self.count = spec.get("count")  # None: until cleared
        self.skip = int(spec.get("skip", 0))  # matching requests let through first
        self.seen = 0
        self.hits = 0
        if self.action not in ("status", "latency", "reset"):
            raise ValueError("action must be status, latency or reset")
        if self.phase not in ("before", "after"):
            raise ValueError("phase must be before or after")
        self._m = re.compile(self.method)
        self._p = re.compile(self.path)
        self._q = re.compile(self.query)

    def matches(self, method, path, query):
        return bool(self._m.fullmatch(method) and self._p.search(path) and
                    self._q.search(urllib.parse.unquote(query)))

    def describe(self):
        return {"id": self.id, "method": self.method, "path": self.path, "action": self.action,
                "phase": self.phase, "status": self.status, "code": self.code,
                "message": self.message, "latency_ms": self.latency_ms, "count": self.count,
                "query": self.query, "skip": self.skip, "hits": self.hits}


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1

    def add(self, spec):
        with self.lock:
            f = Fault(spec, self.next_id)
            self.next_id += 1
            self.rules.append(f)
            return f

    def take(self, method, path, query=""):
        """The first matching fault past its skip, counted; one with its count used up is
        dropped."""
        with self.lock:
            for f in self.rules:
                if f.matches(method, path, query):
                    f.seen += 1
                    if f.seen <= f.skip:
                        continue
                    f.hits += 1
                    if f.count is not None and f.hits >= int(f.count):
                        self.rules.remove(f)
                    return f
        return None

    def clear(self, fid=None):
        with self.lock:
            before = len(self.rules)
            self.rules = [f for f in self.rules if fid is not None and f.id != fid]
            return before - len(self.rules)

    def list(self):
        with self.lock:
            return [f.describe() for f in self.rules]


class RequestLog:
    def __init__(self, limit=20000):
        self.lock = threading.Lock()
        self.entries = []
        self.seq = 0
        self.limit = limit

    def add(self, entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            self.entries.append(entry)
            if len(self.entries) > self.limit:
                del self.entries[: len(self.entries) - self.limit]

    def since(self, seq):
        with self.lock:
            return [e for e in self.entries if e["seq"] > seq]

    def clear(self):
        with self.lock:
            self.entries = []


def now_ms():
    return int(time.time() * 1000)
