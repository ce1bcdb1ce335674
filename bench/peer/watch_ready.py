#!/usr/bin/env python3
"""Watches Environments and times, for each, its ADDED event to its first Ready=True.

Used by bench/environments_side_by_side, so both controllers are timed by the same clock
and the same watch. It lists first and watches from the list's resourceVersion (nothing is
missed between the two), writes READY_FILE once the watch is open, and when COUNT
Environments whose name starts with PREFIX are Ready writes a JSON summary to OUT:
first_added, last_ready (wall-clock seconds), and the per-Environment latencies' p50, p90
and max.

Usage: watch_ready.py CLUSTER_DIR PREFIX COUNT OUT READY_FILE [TIMEOUT_S]
"""
import json
import os
import re
import ssl
import sys
import time
import http.client
from urllib.parse import urlparse


def cluster(dir_):
    env = {}
    with open(os.path.join(dir_, "env")) as f:
        for line in f:
            m = re.match(r"^([A-Z_]+)=(.*)$", line.strip())
            if m:
                env[m.group(1)] = m.group(2)
    url = urlparse(env["APISERVER_URL"])
    pki = os.path.join(dir_, "pki")
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
    ctx.load_cert_chain(os.path.join(pki, "admin.crt"), os.path.join(pki, "admin.key"))
    return url.hostname, url.port, ctx


def is_ready(obj):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def percentile(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


def main():
    dir_, prefix, count, out, ready_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 1800.0
    host, port, ctx = cluster(dir_)
    path = "/apis/envop.io/v1alpha1/environments"
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=60)
    conn.request("GET", path)
    listed = json.loads(conn.getresponse().read())
    rv = listed["metadata"]["resourceVersion"]
    added, ready = {}, {}
    now = time.time()
    for item in listed.get("items", []):
        name = item["metadata"]["name"]
        if name.startswith(prefix):
            added.setdefault(name, now)
            if is_ready(item):
                ready.setdefault(name, now)
    watch = http.client.HTTPSConnection(host, port, context=ctx, timeout=timeout)
    watch.request("GET", f"{path}?watch=1&resourceVersion={rv}&timeoutSeconds={int(timeout)}")
    resp = watch.getresponse()
    if resp.status != 200:
        sys.exit(f"watch_ready: watch answered {resp.status}: {resp.read()[:300]!r}")
    with open(ready_file, "w") as f:
        f.write("watching\n")
    deadline = time.time() + timeout
    while len(ready) < count:
        if time.time() > deadline:
            sys.exit(f"watch_ready: only {len(ready)} of {count} Ready within {timeout:.0f} s")
        line = resp.readline()
        if not line:
            sys.exit(f"watch_ready: the watch closed with {len(ready)} of {count} Ready")
        now = time.time()
        event = json.loads(line)
        obj = event.get("object") or {}
        name = (obj.get("metadata") or {}).get("name", "")
        if not name.startswith(prefix):
            continue
        if event.get("type") == "ADDED":
            added.setdefault(name, now)
        if event.get("type") in ("ADDED", "MODIFIED") and is_ready(obj):
            added.setdefault(name, now)
            ready.setdefault(name, now)
    latencies = [ready[n] - added[n] for n in ready]
    summary = {
        "count": len(ready),
        "first_added": min(added.values()),
        "last_ready": max(ready.values()),
        "p50": percentile(latencies, 50),
        "p90": percentile(latencies, 90),
        "max": max(latencies),
    }
    with open(out, "w") as f:
        json.dump(summary, f)


if __name__ == "__main__":
    main()
