#!/usr/bin/env python3
"""ctest harbor.double_behaviour: the Harbor double end to end, as its users meet it — over TLS
verified against the generated CA, with real helm pushing and pulling a chart, faults, the request
log, and a restart that keeps the state on the same port.

Usage: behaviour_test.py WORKDIR   (the double lives in WORKDIR while the test runs; its log stays)
Needs python3, openssl, curl and the helm that test/cluster/build-binaries caches; any of them
missing fails the test.
"""

import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CLUSTER = os.path.join(ROOT, "test", "cluster")

failures = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


class Harbor:
    def __init__(self, workdir):
        self.dir = workdir
        self.load()

    def load(self):
        env = {}
        with open(os.path.join(self.dir, "harbor.env")) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, v = line.rstrip("\n").split("=", 1)
                    env[k] = v
        self.env = env
        self.host = env["HARBOR_HOST"]
        self.port = int(self.host.split(":")[1])
        self.password = env["HARBOR_ADMIN_PASSWORD"]
        self.tls = ssl.create_default_context(cafile=env["HARBOR_CA"])
        ctl = urllib.parse.urlsplit(env["HARBOR_CONTROL"])
        self.ctl_port = ctl.port

    def call(self, method, path, body=None, user="admin", secret=None, headers=None,
             timeout=10):
        """(status, headers, parsed body) of one request to Harbor, a fresh TLS connection."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls,
                                           timeout=timeout)
        h = dict(headers or {})
        if user:
            cred = "%s:%s" % (user, self.password if secret is None else secret)
            h["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw.decode()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, parsed
        finally:
            conn.close()

    def api(self, method, path, body=None, **kw):
        return self.call(method, "/api/v2.0" + path, body, **kw)

    def ctl(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.ctl_port, timeout=10)
        try:
            conn.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"{}")
        finally:
            conn.close()

    def accepted(self, user, secret):
        return self.ctl("POST", "/credentials", {"username": user, "secret": secret})[1]["accepted"]

    def log_since(self, seq):
        return self.ctl("GET", "/requests?since=%d" % seq)[1]

    def last_seq(self):
        return self.log_since(0)["last"]


def error_code(body):
    try:
        return body["errors"][0]["code"]
    except (TypeError, KeyError, IndexError):
        return None


def helm_env(workdir, who):
    base = os.path.join(workdir, "helm-" + who)
    env = dict(os.environ)
    env.update({"HELM_CONFIG_HOME": base + "/config", "HELM_CACHE_HOME": base + "/cache",
                "HELM_DATA_HOME": base + "/data", "HELM_REGISTRY_CONFIG": base + "/registry.json"})
    return env


def helm(binary, env, *args, stdin=None):
    p = subprocess.run([binary] + list(args), env=env, input=stdin, capture_output=True,
                       text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def scenario_tls(h):
    untrusted = ssl.create_default_context()
    try:
        socket.create_connection(("127.0.0.1", h.port), timeout=5)
        with socket.create_connection(("127.0.0.1", h.port), timeout=5) as s:
            with untrusted.wrap_socket(s, server_hostname="127.0.0.1"):
                pass
        check(False, "TLS: a client without the double's CA is refused")
    except ssl.SSLCertVerificationError:
        check(True, "TLS: a client without the double's CA is refused")
    st, hd, body = h.api("GET", "/ping", user=None)
    check(st == 200 and body == "Pong", "TLS: /ping answers Pong with the CA in DIR/ca.crt")
    check(h.env["HARBOR_URL"] == "https://" + h.host and h.env["HARBOR_ADMIN_USER"] == "admin",
          "harbor.env: HARBOR_URL and HARBOR_ADMIN_USER")


def scenario_projects(h):
    st, hd, body = h.api("HEAD", "/projects?project_name=springcloud")
    check(st == 404, "HEAD of a project that does not exist is 404")
    st, hd, body = h.api("GET", "/projects/springcloud")
    check(st == 404 and body["errors"][0] == {"code": "NOT_FOUND",
                                              "message": "project springcloud not found"}
          and hd.get("content-type") == "application/json; charset=utf-8",
          "GET of a project that does not exist: 404 NOT_FOUND for the admin, errors[] body")
    st, hd, body = h.api("POST", "/projects", {"project_name": "springcloud",
                                               "metadata": {"public": "false", "auto_scan": "true",
                                                            "severity": "high",
                                                            "prevent_vul": "true"},
                                               "storage_limit": 53687091200},
                         headers={"X-Request-Id": "envop-test-1"})
    pid = None
    if check(st == 201 and hd.get("location", "").startswith("/api/v2.0/projects/"),
             "POST /projects: 201 with Location /api/v2.0/projects/{id}"):
        pid = int(hd["location"].rsplit("/", 1)[1])
    check(hd.get("x-request-id") == "envop-test-1", "X-Request-Id is echoed")
    st, hd, body = h.api("POST", "/projects", {"project_name": "springcloud"})
    check(st == 409 and error_code(body) == "CONFLICT", "a duplicate project is 409 CONFLICT")
    st, hd, body = h.api("POST", "/projects", {"project_name": "bad",
                                               "metadata": {"auto_scan": True}})
    check(st == 400 and error_code(body) == "BAD_REQUEST",
          "non-string metadata is 400 BAD_REQUEST")
    check(h.api("HEAD", "/projects?project_name=springcloud")[0] == 200, "HEAD: 200 once it exists")
    st, hd, p = h.api("GET", "/projects/springcloud")
    check(st == 200 and p["project_id"] == pid and p["metadata"] == {
        "public": "false", "auto_scan": "true", "severity": "high", "prevent_vul": "true"}
        and p["repo_count"] == 0 and "registry_id" not in p,
        "GET by name: metadata as strings, repo_count 0 present, zero fields omitted")
    check(h.api("GET", "/projects/%d" % pid)[2]["name"] == "springcloud", "GET by id")
    st, hd, body = h.api("GET", "/projects/99999")
    check(st == 404 and error_code(body) == "NOT_FOUND", "a missing project id is 404 NOT_FOUND")
    # A project whose name is a number: only X-Is-Resource-Name makes it a name.
    h.api("POST", "/projects", {"project_name": "4242"})
    check(h.api("GET", "/projects/4242")[0] == 404 and
          h.api("GET", "/projects/4242", headers={"X-Is-Resource-Name": "true"})[2]["name"]
          == "4242", "X-Is-Resource-Name: true makes a numeric path a name")
    st, _, _ = h.api("PUT", "/projects/springcloud", {"metadata": {"public": "true"}})
    md = h.api("GET", "/projects/springcloud")[2]["metadata"]
    check(st == 200 and md["public"] == "true" and md["auto_scan"] == "true",
          "PUT merges the metadata keys it is given")
    h.api("PUT", "/projects/springcloud", {"metadata": {"public": "false"}})
    st, hd, qs = h.api("GET", "/quotas?reference=project&reference_id=%d" % pid)
    check(st == 200 and len(qs) == 1 and qs[0]["hard"] == {"storage": 53687091200}
          and qs[0]["ref"]["name"] == "springcloud", "the project's quota has its storage_limit")
    st, _, _ = h.api("PUT", "/quotas/%d" % qs[0]["id"], {"hard": {"storage": -1}})
    check(st == 200 and h.api("GET", "/quotas/%d" % qs[0]["id"])[2]["hard"]["storage"] == -1,
          "PUT /quotas/{id} sets hard.storage")
    st, hd, page = h.api("GET", "/projects?page=1&page_size=1")
    check(st == 200 and len(page) == 1 and hd.get("x-total-count") == "3" and
          hd.get("link") == '</api/v2.0/projects?page=2&page_size=1>; rel="next"',
          "GET /projects pages with X-Total-Count and Link")
    st, hd, page = h.api("GET", "/projects", user="admin", secret="wrong")
    check(st == 200 and [p["name"] for p in page] == ["library"],
          "bad credentials are anonymous: GET /projects lists the public projects only")
    check(h.api("HEAD", "/projects?project_name=springcloud", secret="wrong")[0] == 401,
          "bad credentials: HEAD of a private project is 401")
    st, hd, body = h.api("GET", "/nothing/here")
    check(st == 404 and error_code(body) == "NOT_FOUND", "an unknown path is 404 with errors[]")
    st, hd, body = h.api("PATCH", "/projects")
    check(st == 405 and error_code(body) == "METHOD_NOT_ALLOWED", "a wrong method is 405")
    return pid


def scenario_rules(h, pid):
    rule = {"action": "immutable", "template": "immutable_template",
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
            "scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches",
                                                "pattern": "**"}]}}
    st, hd, _ = h.api("POST", "/projects/springcloud/immutabletagrules", rule)
    check(st == 201 and "/immutabletagrules/" in hd.get("location", ""),
          "POST immutabletagrules: 201 with Location")
    rid = int(hd["location"].rsplit("/", 1)[1])
    st, _, body = h.api("POST", "/projects/springcloud/immutabletagrules", rule)
    check(st == 409 and error_code(body) == "CONFLICT", "the same immutable rule again is 409")
    rule["disabled"] = True
    check(h.api("PUT", "/projects/springcloud/immutabletagrules/%d" % rid, rule)[0] == 400,
          "PUT immutabletagrules/{id} without the id in the body is 400")
    rule["id"] = rid
    rule["tag_selectors"][0]["pattern"] = "release-*"
    st, _, _ = h.api("PUT", "/projects/springcloud/immutabletagrules/%d" % rid, rule)
    got = h.api("GET", "/projects/springcloud/immutabletagrules")[2][0]
    check(st == 200 and got["disabled"] is True and got["tag_selectors"][0]["pattern"] == "v*",
          "PUT that flips disabled applies only that, as Harbor's controller does")
    st, _, _ = h.api("PUT", "/projects/springcloud/immutabletagrules/%d" % rid, rule)
    got = h.api("GET", "/projects/springcloud/immutabletagrules")[2][0]
    check(st == 200 and got["tag_selectors"][0]["pattern"] == "release-*",
          "PUT with disabled unchanged rewrites the rule")
    pol = {"algorithm": "or", "trigger": {"kind": "Schedule", "settings": {"cron": ""}},
           "scope": {"level": "project", "ref": pid},
           "rules": [{"action": "retain", "template": "latestPushedK",
                      "params": {"latestPushedK": 20},
                      "tag_selectors": [{"kind": "doublestar", "decoration": "matches",
                                         "pattern": "**"}],
                      "scope_selectors": {"repository": [{"kind": "doublestar",
                                                          "decoration": "repoMatches",
                                                          "pattern": "**"}]}}]}
    st, hd, _ = h.api("POST", "/retentions", pol)
    ok = check(st == 201 and hd.get("location", "").startswith("/api/v2.0/retentions/"),
               "POST /retentions: 201 with Location")
    if ok:
        ret = hd["location"].rsplit("/", 1)[1]
        md = h.api("GET", "/projects/springcloud")[2]["metadata"]
        check(md.get("retention_id") == ret, "the project's metadata.retention_id names the policy")
        check(h.api("POST", "/retentions", pol)[0] == 400, "a second policy for a project is 400")
        check(h.api("GET", "/retentions/" + ret)[2]["rules"][0]["params"] == {"latestPushedK": 20},
              "GET /retentions/{id}")
        pol["rules"][0]["params"]["latestPushedK"] = 10
        check(h.api("PUT", "/retentions/" + ret, pol)[0] == 200 and h.api(
            "GET", "/retentions/" + ret)[2]["rules"][0]["params"] == {"latestPushedK": 10},
            "PUT /retentions/{id} updates the policy")
        check(h.api("GET", "/retentions/999")[0] == 500,
              "GET of a missing retention policy is Harbor's 500")
        check(h.api("DELETE", "/retentions/999")[0] == 400,
              "DELETE of a missing retention policy is Harbor's 400")


def scenario_robots_and_charts(h, helm_bin, workdir):
    perm = [{"kind": "project", "namespace": "springcloud",
             "access": [{"resource": "repository", "action": "pull"},
                        {"resource": "artifact", "action": "read"}]}]
    st, hd, robot = h.api("POST", "/robots", {"name": "pro", "level": "project", "duration": 30,
                                              "permissions": perm})
    if not check(st == 201 and robot["name"] == "robot$springcloud+pro" and robot["secret"]
                 and hd.get("location") == "/api/v2.0/robots/%d" % robot["id"],
                 "POST /robots: 201, Location, robot$<project>+<name> and a secret"):
        return None
    rid, secret, name = robot["id"], robot["secret"], robot["name"]
    created = robot["creation_time"]
    t = time.mktime(time.strptime(created[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    check(abs(robot["expires_at"] - (t + 30 * 86400)) <= 1, "duration 30 → expires_at in 30 days")
    st, _, body = h.api("POST", "/robots", {"name": "pro", "level": "project", "duration": 30,
                                            "permissions": perm})
    check(st == 409 and error_code(body) == "CONFLICT", "the same robot name again is 409")
    st, _, body = h.api("POST", "/robots", {"name": "zero", "level": "project", "duration": 0,
                                            "permissions": perm})
    check(st == 400, "duration 0 is 400: -1 or a positive number of days")
    st, _, body = h.api("POST", "/robots", {
        "name": "chart", "level": "project", "duration": 1, "permissions": [
            {"kind": "project", "namespace": "springcloud",
             "access": [{"resource": "helm-chart", "action": "read"}]}]})
    check(st == 400 and body["errors"][0]["message"] == "bad request permission: helm-chart:read",
          "an access Harbor 2.15 does not offer (helm-chart:read) is 400")
    st, _, body = h.api("POST", "/robots", {"name": "nowhere", "level": "project", "duration": 1,
                                            "permissions": [dict(perm[0], namespace="nowhere")]})
    check(st == 404, "a robot for a project that does not exist is 404 for the admin")
    check(h.api("HEAD", "/projects?project_name=springcloud", user=name, secret=secret)[0] == 200,
          "any authenticated principal, a robot too, may HEAD a project")
    check(h.api("GET", "/projects/nowhere", user=name, secret=secret)[0] == 403,
          "a robot asking for a project that does not exist gets 403")
    st, hd, lst = h.api("GET", "/robots?q=" + urllib.parse.quote("Level=project,ProjectID=%d"
                                                                 % h.api("GET", "/projects/springcloud")[2]["project_id"]))
    check(st == 200 and [r["name"] for r in lst] == [name] and hd.get("x-total-count") == "1"
          and "secret" not in lst[0], "GET /robots?q=Level=project,ProjectID=N lists it, no secret")
    check(h.api("POST", "/projects", {"project_name": "byrobot"}, user=name, secret=secret)[0]
          == 403, "a robot may not create projects (403)")
    st, _, seen = h.api("GET", "/projects", user=name, secret=secret)
    check(st == 200 and sorted(p["name"] for p in seen) == ["library", "springcloud"],
          "a robot lists its project and the public ones")
    check(h.api("GET", "/robots/%d" % rid, user=name, secret=secret)[0] == 403,
          "a robot may not read robots (403)")
    st, _, body = h.api("PATCH", "/robots/%d" % rid, {"secret": "weak"})
    check(st == 400, "a secret that breaks Harbor's rule is 400")

    # A chart pushed as admin, pulled as the robot with real helm.
    chart_dir = os.path.join(workdir, "charts")
    os.makedirs(chart_dir, exist_ok=True)
    admin_env, robot_env = helm_env(workdir, "admin"), helm_env(workdir, "robot")
    rc, out = helm(helm_bin, admin_env, "package", os.path.join(ROOT, "test", "charts", "gateway"),
                   "-d", chart_dir)
    check(rc == 0, "helm package gateway: " + out.strip()[-200:])
    tgz = [f for f in os.listdir(chart_dir) if f.endswith(".tgz")][0]
    version = tgz[len("gateway-"):-len(".tgz")]
    ca = h.env["HARBOR_CA"]
    rc, out = helm(helm_bin, admin_env, "registry", "login", h.host, "-u", "admin",
                   "--password-stdin", "--ca-file", ca, stdin=h.password + "\n")
    check(rc == 0, "helm registry login as admin")
    rc, out = helm(helm_bin, admin_env, "push", os.path.join(chart_dir, tgz),
                   "oci://%s/springcloud" % h.host, "--ca-file", ca)
    check(rc == 0, "helm push as admin: " + out.strip()[-200:])
    rc, out = helm(helm_bin, robot_env, "registry", "login", h.host, "-u", name,
                   "--password-stdin", "--ca-file", ca, stdin="Wrong1Secret\n")
    check(rc != 0, "helm registry login with a wrong secret fails")
    rc, out = helm(helm_bin, robot_env, "registry", "login", h.host, "-u", name,
                   "--password-stdin", "--ca-file", ca, stdin=secret + "\n")
    check(rc == 0, "helm registry login as the robot")

    def pull(env, tag):
        dest = os.path.join(workdir, "pulled-" + tag)
        shutil.rmtree(dest, ignore_errors=True)
        os.makedirs(dest)
        rc, out = helm(helm_bin, env, "pull", "oci://%s/springcloud/gateway" % h.host,
                       "--version", version, "-d", dest, "--ca-file", ca)
        return rc == 0 and os.path.exists(os.path.join(dest, tgz)), out

    ok, out = pull(robot_env, "robot")
    check(ok, "helm pull as the robot gets the chart: " + out.strip()[-200:])
    rc, out = helm(helm_bin, robot_env, "push", os.path.join(chart_dir, tgz),
                   "oci://%s/springcloud" % h.host, "--ca-file", ca)
    check(rc != 0 and "401" in out, "the pull-only robot may not push")

    # A token the robot got before the refresh, as a long-lived client would cache it.
    st, _, tok = h.call("GET", "/service/token?service=harbor-registry&scope=" +
                        urllib.parse.quote("repository:springcloud/gateway:pull"),
                        user=name, secret=secret)
    bearer = {"Authorization": "Bearer " + (tok or {}).get("token", "")}
    check(st == 200 and h.call("GET", "/v2/springcloud/gateway/tags/list", user=None,
                               headers=bearer)[2] == {"name": "springcloud/gateway",
                                                      "tags": [version]},
          "the robot's token lists the chart's tags")
    st, hd, _ = h.call("GET", "/v2/springcloud/gateway/tags/list", user=None)
    check(st == 401 and hd.get("www-authenticate") ==
          'Bearer realm="https://%s/service/token",service="harbor-registry",'
          'scope="repository:springcloud/gateway:pull"' % h.host,
          "no credentials on a repository: 401 with Harbor's Bearer challenge and scope")
    st, hd, _ = h.call("PUT", "/v2/springcloud/gateway/manifests/x", user=name, secret=secret)
    check(st == 401 and hd.get("www-authenticate") == 'Basic realm="harbor"',
          "credentials that fall short: 401 with Basic realm=\"harbor\"")

    st, _, sec = h.api("PATCH", "/robots/%d" % rid, {})
    new = (sec or {}).get("secret")
    check(h.call("GET", "/v2/springcloud/gateway/tags/list", user=None, headers=bearer)[0] == 401,
          "a token issued before the refresh is refused at once")
    check(st == 200 and new and new != secret, "PATCH /robots/{id} {} answers a new secret")
    check(not h.accepted(name, secret) and h.accepted(name, new),
          "after the refresh Harbor refuses the old secret and accepts the new one")
    ok, out = pull(robot_env, "old")
    check(not ok and "401" in out, "helm pull with the old secret is refused at once")
    rc, _ = helm(helm_bin, robot_env, "registry", "login", h.host, "-u", name,
                 "--password-stdin", "--ca-file", ca, stdin=new + "\n")
    ok, out = pull(robot_env, "new")
    check(rc == 0 and ok, "helm pull with the new secret works")
    chosen = "Chosen1Secret"
    st, _, sec = h.api("PATCH", "/robots/%d" % rid, {"secret": chosen})
    check(st == 200 and not (sec or {}).get("secret") and h.accepted(name, chosen),
          "PATCH with a chosen secret sets it and answers no secret")
    robot_now = h.api("GET", "/robots/%d" % rid)[2]
    robot_now["disable"] = True
    check(h.api("PUT", "/robots/%d" % rid, robot_now)[0] == 200 and not h.accepted(name, chosen),
          "a disabled robot is refused")
    robot_now["disable"] = False
    h.api("PUT", "/robots/%d" % rid, robot_now)
    h.ctl("POST", "/clock", {"advance_seconds": 31 * 86400})
    check(not h.accepted(name, chosen), "an expired robot is refused")
    h.ctl("POST", "/clock", {"offset_seconds": 0})
    check(h.accepted(name, chosen), "back in its lifetime it is accepted again")
    return {"id": rid, "name": name, "secret": chosen, "version": version, "tgz": tgz,
            "pull": pull, "robot_env": robot_env}


def scenario_delete(h):
    st, _, body = h.api("DELETE", "/projects/springcloud")
    check(st == 412 and body["errors"][0] == {
        "code": "PRECONDITION",
        "message": "precondition failed: the project contains repositories, can not be deleted"},
        "DELETE of a project with a repository is 412 PRECONDITION, Harbor's message")
    check(h.api("GET", "/projects/springcloud/_deletable")[2] == {
        "message": "the project contains repositories, can not be deleted"},
        "_deletable: not deletable, so no 'deletable' key at all (omitempty), only the message")
    h.ctl("POST", "/repositories", {"name": "4242/left-over"})
    check(h.api("DELETE", "/projects/4242", headers={"X-Is-Resource-Name": "true"})[0] == 412,
          "a repository made through the control API blocks deletion too")
    check(h.api("DELETE", "/projects/4242/repositories/left-over")[0] == 200 and
          h.api("DELETE", "/projects/4242", headers={"X-Is-Resource-Name": "true"})[0] == 200,
          "once its repository is deleted the project can be deleted")


def scenario_faults(h):
    h.ctl("POST", "/faults", {"method": "GET", "path": "^/api/v2.0/projects$", "status": 503,
                              "count": 1})
    st, _, body = h.api("GET", "/projects")
    check(st == 503 and error_code(body) == "UNKNOWN", "a status fault answers with errors[]")
    check(h.api("GET", "/projects")[0] == 200, "a fault with count 1 applies once")
    perm = [{"kind": "project", "namespace": "springcloud",
             "access": [{"resource": "repository", "action": "pull"}]}]
    h.ctl("POST", "/faults", {"method": "POST", "path": "^/api/v2.0/robots$", "status": 409,
                              "phase": "after", "count": 1})
    st, _, body = h.api("POST", "/robots", {"name": "race", "level": "project", "duration": -1,
                                            "permissions": perm})
    robots = [r["name"] for r in h.ctl("GET", "/state")[1]["robots"]]
    check(st == 409 and "robot$springcloud+race" in robots,
          "phase after: Harbor creates the robot, the client hears 409")
    pid = h.api("GET", "/projects/springcloud")[2]["project_id"]
    q = "Level=project,ProjectID=%d" % pid
    st, hd, page2 = h.api("GET", "/robots?page=2&page_size=1&q=" + urllib.parse.quote(q))
    check(st == 200 and len(page2) == 1 and hd.get("x-total-count") == "2" and
          hd.get("link") == '</api/v2.0/robots?page=1&page_size=1&q=%s>; rel="prev"' % q,
          "GET /robots pages: the last page links back, the q= unescaped as Harbor writes it")
    check("secret" not in json.dumps(h.ctl("GET", "/state")[1]["robots"]).replace(
        "secret_version", ""), "the control API's state holds no secrets")
    h.ctl("POST", "/faults", {"method": "POST", "path": "^/api/v2.0/projects$",
                              "action": "latency", "phase": "after", "latency_ms": 1500,
                              "count": 1})
    try:
        h.api("POST", "/projects", {"project_name": "slow"}, timeout=0.5)
        check(False, "latency after: the client times out")
    except socket.timeout:
        check(True, "latency after: the client times out")
    check(any(p["name"] == "slow" for p in h.ctl("GET", "/state")[1]["projects"]),
          "latency after: ... yet Harbor created the project")
    h.ctl("POST", "/faults", {"path": "^/api/v2.0/systeminfo$", "action": "reset", "count": 1})
    try:
        h.api("GET", "/systeminfo")
        check(False, "reset: the client sees the connection reset")
    except (ConnectionError, ssl.SSLError, http.client.HTTPException, OSError):
        check(True, "reset: the client sees the connection reset")
    h.ctl("POST", "/faults", {"method": "GET", "path": "^/api/v2.0/robots$",
                              "query": "ProjectID=1$", "skip": 1, "status": 500, "count": 1})
    q = "/robots?q=" + urllib.parse.quote("Level=project,ProjectID=1")
    check([h.api("GET", "/robots")[0], h.api("GET", q)[0], h.api("GET", q)[0],
           h.api("GET", q)[0]] == [200, 200, 500, 200],
          "a fault matching the query, skipping the first match, applying once")
    h.ctl("POST", "/faults", {"path": "^/api/v2.0/", "status": 401})
    check(h.api("GET", "/projects/springcloud")[0] == 401, "a 401 fault until cleared")
    h.ctl("DELETE", "/faults")
    check(h.api("GET", "/projects/springcloud")[0] == 200, "cleared faults apply no more")
    seq = h.last_seq()
    h.api("GET", "/projects/springcloud")
    h.api("GET", "/robots?q=Level=project,ProjectID=1")
    log = h.log_since(seq)["requests"]
    check([e["method"] for e in log] == ["GET", "GET"] and log[0]["status"] == 200
          and log[0]["user"] == "admin", "the request log shows method, path, status, user")


def scenario_restart(h, robot):
    url = h.env["HARBOR_URL"]
    subprocess.run([os.path.join(CLUSTER, "harbor-down"), h.dir, "--keep-state"], check=True)
    try:
        h.api("GET", "/ping", user=None, timeout=2)
        check(False, "Harbor down: connection refused")
    except (ConnectionRefusedError, OSError):
        check(True, "Harbor down: connection refused")
    subprocess.run([os.path.join(CLUSTER, "harbor-up"), h.dir], check=True)
    h.load()
    check(h.env["HARBOR_URL"] == url, "back up on the same URL")
    check(h.api("GET", "/projects/springcloud")[0] == 200, "the project survived the restart")
    check(h.accepted(robot["name"], robot["secret"]), "the robot's secret survived the restart")
    rc, _ = helm(HELM, robot["robot_env"], "registry", "login",
                 h.host, "-u", robot["name"], "--password-stdin", "--ca-file", h.env["HARBOR_CA"],
                 stdin=robot["secret"] + "\n")
    ok, out = robot["pull"](robot["robot_env"], "after-restart")
    check(rc == 0 and ok, "the chart is pulled as the robot after the restart")


def scenario_given_password(workdir):
    other = os.path.join(workdir, "given-password")
    subprocess.run([os.path.join(CLUSTER, "harbor-up"), other, "--admin-password-stdin"],
                   input="Given1Password\n", text=True, check=True)
    try:
        g = Harbor(other)
        check(g.password == "Given1Password" and g.api("GET", "/robots")[0] == 200 and
              g.api("GET", "/robots", secret="Harbor12345")[0] == 401,
              "harbor-up --admin-password-stdin: the admin logs in with that password only")
    finally:
        subprocess.run([os.path.join(CLUSTER, "harbor-down"), other])


def scenario_declared(h):
    log = h.log_since(0)["requests"]
    bad = [e for e in log if e.get("undeclared_status")]
    check(not bad, "every answer was one its route declares (%d requests; undeclared: %s)"
          % (len(log), [(e["method"], e["path"], e["status"]) for e in bad][:5]))


HELM = None


def main():
    global HELM
    if len(sys.argv) != 2:
        print("usage: behaviour_test.py WORKDIR")
        return 2
    workdir = os.path.abspath(sys.argv[1])
    for tool in ("openssl", "curl"):
        if not shutil.which(tool):
            print("FAIL: %s is not installed" % tool)
            return 1
    bindir = subprocess.run([os.path.join(CLUSTER, "build-binaries")], capture_output=True,
                            text=True).stdout.strip().splitlines()
    HELM = os.path.join(bindir[-1], "helm") if bindir else ""
    if not os.access(HELM, os.X_OK):
        print("FAIL: no helm from test/cluster/build-binaries (%r)" % HELM)
        return 1
    subprocess.run([os.path.join(CLUSTER, "harbor-down"), workdir], capture_output=True)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    subprocess.run([os.path.join(CLUSTER, "harbor-up"), workdir], check=True)
    h = Harbor(workdir)
    def run(fn, *args):
        try:
            return fn(*args)
        except Exception as e:  # a scenario that crashes is a failure, and the next ones run
            import traceback
            traceback.print_exc()
            check(False, "%s raised %r" % (fn.__name__, e))

    try:
        run(scenario_tls, h)
        pid = run(scenario_projects, h)
        run(scenario_rules, h, pid)
        robot = run(scenario_robots_and_charts, h, HELM, workdir)
        run(scenario_delete, h)
        run(scenario_faults, h)
        run(scenario_declared, h)  # the log is the process's: check it before the restart
        if robot:
            run(scenario_restart, h, robot)
        run(scenario_declared, h)
        run(scenario_given_password, workdir)
    finally:
        subprocess.run([os.path.join(CLUSTER, "harbor-down"), workdir, "--keep-state"])
    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
