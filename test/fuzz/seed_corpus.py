#!/usr/bin/env python3
"""Seeds test/fuzz/corpus/<target>/ from the tests' own inputs: the raw-string fixtures of the unit
tests, samples/, test/charts, a Helm release record built the way Helm stores one, and transcripts
of what the API server and the Harbor double (test/fakes/harbor) answer. Run once, then minimise
with `make fuzz-merge`; the seeds are kept only as far as they add coverage."""
import base64
import gzip
import hashlib
import json
import pathlib
import re

import yaml

repo = pathlib.Path(__file__).resolve().parents[2]
out = repo / "test/fuzz/corpus"
RAW = re.compile(r'R"\((.*?)\)"', re.S)


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


def raws(path):
    return RAW.findall((repo / path).read_text())


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


# ---- kubeconfig: mode byte 0/1 kubeconfig, 2 base64, 3 exec credential ----------------------
pem = "-----BEGIN CERTIFICATE-----\nQ0EtQllURVM=\n-----END CERTIFICATE-----\n"
for text in raws("test/unit/config_test.cpp"):
    if "clusters:" in text:
        text = (text.replace("@CA@", b64(pem)).replace("@CERT@", b64(pem))
                .replace("@KEY@", b64(pem.replace("CERTIFICATE", "EC PRIVATE KEY")))
                .replace("@TOKEN@", "tok-123"))
        put("kubeconfig_fuzzer", b"\x00" + text.encode())
        put("kubeconfig_fuzzer", b"\x01" + text.replace("admin@prod", "ctx").encode())
put("kubeconfig_fuzzer", b"\x02" + b64(pem).encode())
put("kubeconfig_fuzzer", b"\x02" + b"TU\nFu IHNl=")
put("kubeconfig_fuzzer", b"\x00" + f"""apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {{server: "https://127.0.0.1:6443", certificate-authority-data: "{b64(pem)}"}}
users:
- name: envop
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: /bin/true
      args: ["--x"]
      env: [{{name: A, value: b}}]
      provideClusterInfo: true
      interactiveMode: Never
contexts:
- name: ctx
  context: {{cluster: local, user: envop, namespace: envop-system}}
current-context: ctx
""".encode())
for text in raws("test/unit/exec_credential_test.cpp"):
    put("kubeconfig_fuzzer", b"\x03" + text.encode())
put("kubeconfig_fuzzer", b"\x03" + json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
    "status": {"token": "t0k", "expirationTimestamp": "2026-12-01T09:00:00.5+02:00",
               "clientCertificateData": pem, "clientKeyData": pem}}).encode())

# ---- watch/list: LIST answers, NUL, WATCH lines ------------------------------------------------
def secret(name, rv, labels=None):
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "s1", "resourceVersion": str(rv),
                         "labels": labels or {"owner": "helm", "name": "web", "version": "2"}}}


page1 = {"kind": "SecretList", "apiVersion": "v1",
         "metadata": {"resourceVersion": "100", "continue": "tok1", "remainingItemCount": 1},
         "items": [secret("a", 90)]}
page2 = {"kind": "SecretList", "apiVersion": "v1", "metadata": {"resourceVersion": "100"},
         "items": [secret("b", 95)]}
events = [{"type": "ADDED", "object": secret("c", 101)},
          {"type": "MODIFIED", "object": secret("a", 102)},
          {"type": "DELETED", "object": secret("b", 103)},
          {"type": "BOOKMARK", "object": {"kind": "Secret", "apiVersion": "v1",
                                          "metadata": {"resourceVersion": "104"}}},
          {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                       "message": "too old resource version: 1 (104)",
                                       "reason": "Expired", "code": 410}}]
stream = "\n".join(json.dumps(e) for e in events)
put("watch_list_fuzzer", "200\ncontent-type: application/json\n\n" + json.dumps(page1) + "\0" +
    "200\n\n" + json.dumps(page2) + "\0" + stream)
put("watch_list_fuzzer", "200\n\n" + json.dumps(page2) + "\0" + stream.split("\n")[0])
put("watch_list_fuzzer", "410\n\n" + json.dumps(events[-1]["object"]) + "\0" + "200\n\n" +
    json.dumps(page2) + "\0")
put("watch_list_fuzzer", "429\nretry-after: 2\n\n" + json.dumps(
    {"kind": "Status", "status": "Failure", "reason": "TooManyRequests", "code": 429,
     "details": {"causes": [{"field": "x", "message": "y"}], "retryAfterSeconds": 1}}) + "\0")
for text in raws("test/unit/informer_test.cpp") + raws("test/unit/api_error_test.cpp"):
    put("watch_list_fuzzer", "200\n\n" + text + "\0" + text)

# ---- Environment spec: samples (YAML -> JSON as the API server serves them), test fixtures ------
for sample in sorted((repo / "samples").glob("*.yaml")):
    for doc in yaml.safe_load_all(sample.read_text()):
        if doc:
            doc.setdefault("metadata", {}).update({"uid": "u-1", "generation": 3})
            put("environment_spec_fuzzer", json.dumps(doc))
for path in ["test/unit/release_spec_test.cpp", "test/unit/monitoring_spec_test.cpp",
             "test/unit/registry_part_test.cpp"]:
    for text in raws(path):
        try:
            json.loads(text)
        except ValueError:
            continue
        put("environment_spec_fuzzer", text)
put("environment_spec_fuzzer", json.dumps({
    "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
    "data": {".dockerconfigjson": b64(json.dumps({"auths": {"https://reg:5000/v1/": {
        "auth": b64("user:pa55word"), "username": "user", "password": "pa55word"}}}))}}))

# ---- values YAML: the charts' values, the values tests' documents, a rendered manifest ----------
for f in sorted((repo / "test/charts").glob("*/values.yaml")):
    put("values_fuzzer", f.read_text())
for text in raws("test/unit/values_test.cpp"):
    put("values_fuzzer", text)
manifest = "\n---\n".join(
    f.read_text() for f in sorted((repo / "test/charts/orders/templates").glob("*.yaml")))
put("values_fuzzer", manifest)

# ---- helm output: mode byte, then the text ------------------------------------------------------
for text in raws("test/unit/helm_driver_test.cpp"):
    t = text.strip()
    if t.startswith("{"):
        put("helm_output_fuzzer", b"\x00" + t.encode())
        put("helm_output_fuzzer", b"\x03" + t.encode())
    elif t.startswith("["):
        put("helm_output_fuzzer", b"\x01" + t.encode())
        put("helm_output_fuzzer", b"\x02" + t.encode())
for f in sorted((repo / "test/charts").glob("*/Chart.yaml")):
    put("helm_output_fuzzer", b"\x04" + f.read_bytes())
put("helm_output_fuzzer", b"\x05" + b"Pulled: reg/web:0.1.0\nDigest: sha256:" + b"ab" * 32 +
    b"\nError: release: not found\n")
record = json.dumps({"name": "web", "namespace": "s1", "version": 2,
                     "info": {"status": "deployed"}, "manifest": manifest})
put("helm_output_fuzzer", b"\x08" + b64(b64(gzip.compress(record.encode()))).encode())
put("helm_output_fuzzer", b"\x09" + gzip.compress(record.encode()))
put("helm_output_fuzzer", b"\x0a" + record.encode())
put("helm_output_fuzzer", b"\x08" + b"2026-12-01T09:00:00.123+01:00")
put("helm_output_fuzzer", b"\x06" + json.dumps([
    {"metadata": {"name": "sh.helm.release.v1.web.v1", "namespace": "s1",
                  "creationTimestamp": "2026-12-01T09:00:00Z",
                  "labels": {"owner": "helm", "name": "web", "version": "1",
                             "status": "superseded", "modifiedAt": "1764579600"}}},
    {"metadata": {"name": "sh.helm.release.v1.web.v2", "namespace": "s1",
                  "creationTimestamp": "2026-12-01T10:00:00+02:00",
                  "labels": {"owner": "helm", "name": "web", "version": "2",
                             "status": "pending-upgrade"}}}]).encode())

# ---- Harbor: one answer per call, in the order harbor_response_fuzzer makes them ---------------
project = {"project_id": 7, "name": "shop", "owner_name": "admin", "repo_count": 0,
           "creation_time": "2026-12-01T09:00:00.000Z",
           "metadata": {"public": "false", "auto_scan": "true", "severity": "high",
                        "retention_id": "5"}}
robot = {"id": 3, "name": "robot$shop+pull", "level": "project", "duration": -1,
         "expires_at": -1, "disable": False, "editable": True,
         "permissions": [{"kind": "project", "namespace": "shop",
                          "access": [{"resource": "repository", "action": "pull"}]}]}
answers = [
    "200\nx-total-count: 1\n\n" + json.dumps([project]),
    "200\n\n" + json.dumps(project),
    "201\nlocation: /api/v2.0/projects/7\n\n",
    "200\nx-total-count: 1\n\n" + json.dumps([{"id": 9, "ref": {"id": 7, "name": "shop"},
                                              "hard": {"storage": 10737418240},
                                              "used": {"storage": 0}}]),
    "200\nx-total-count: 2\nlink: </api/v2.0/robots?page=2&page_size=100&q=Level%3Dproject>; "
    "rel=\"next\"\n\n" + json.dumps([robot]),
    "200\nx-total-count: 2\nlink: </api/v2.0/robots?page=1&page_size=100>; rel=\"prev\"\n\n" +
    json.dumps([dict(robot, id=4, name="robot$shop+push")]),
    "201\nlocation: /api/v2.0/robots/3\n\n" + json.dumps(
        {"id": 3, "name": "robot$shop+pull", "secret": "Abcdefgh1234", "expires_at": -1,
         "creation_time": "2026-12-01T09:00:00Z"}),
    "200\n\n" + json.dumps({"secret": "Zyxwvuts9876"}),
    "200\nx-total-count: 1\n\n" + json.dumps([{"id": 1, "project_id": 7, "disabled": False,
                                              "action": "immutable", "template": "immutable_template",
                                              "tag_selectors": [{"kind": "doublestar",
                                                                 "decoration": "matches",
                                                                 "pattern": "v*"}],
                                              "scope_selectors": {"repository": [
                                                  {"kind": "doublestar", "decoration": "repoMatches",
                                                   "pattern": "**"}]}}]),
    "200\n\n" + json.dumps({"id": 5, "algorithm": "or", "rules": [
        {"action": "retain", "template": "latestPushedK", "params": {"latestPushedK": 10},
         "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
         "scope_selectors": {"repository": [{"kind": "doublestar",
                                             "decoration": "repoMatches", "pattern": "**"}]}}],
        "trigger": {"kind": "Schedule", "settings": {"cron": "0 0 0 * * *"}},
        "scope": {"level": "project", "ref": 7}}),
    "201\nlocation: /api/v2.0/retentions/5\n\n",
    "200\n\n",
    "200\n\n",
]
put("harbor_response_fuzzer", "\0".join(answers))
errors = [
    "404\n\n" + json.dumps({"errors": [{"code": "NOT_FOUND", "message": "project shop not found"}]}),
    "403\n\n" + json.dumps({"errors": [{"code": "FORBIDDEN", "message": "forbidden"}]}),
    "409\n\n" + json.dumps({"errors": [{"code": "CONFLICT", "message": "exists"}]}),
    "429\nretry-after: 3\n\nslow down",
    "500\n\n<html>oops</html>",
    "412\n\n" + json.dumps({"errors": [{"code": "PRECONDITION", "message": "repos left"}]}),
]
put("harbor_response_fuzzer", "\0".join(errors * 2))
for text in raws("test/unit/harbor_errors_test.cpp") + raws("test/unit/harbor_paging_test.cpp"):
    put("harbor_response_fuzzer", "400\nlink: " + text.replace("\n", " ") + "\n\n" + text)
