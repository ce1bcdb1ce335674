"""The double's state: projects, quotas, robots, immutable tag rules, retention policies and the
repositories the OCI side holds, kept in one JSON file so a stopped double comes back with it.

Everything here is plain data plus the few rules Harbor's controllers apply (robot secrets are
stored salted and hashed like Harbor does, never in clear). One lock guards it all: the double
serves tests, not load.
"""

import hashlib
import json
import os
import secrets
import string
import threading
import time

ROBOT_PREFIX = "robot$"  # Harbor's default robot_name_prefix

# The access a robot may be given (rbac.PoliciesMap of Harbor v2.15.2): resource -> actions.
PROJECT_ACCESS = {
    "log": {"list"}, "project": {"read", "delete", "update"},
    "metadata": {"read", "create", "delete", "list", "update"},
    "repository": {"read", "update", "delete", "list", "pull", "push"},
    "artifact": {"read", "create", "list", "delete"}, "scan": {"create", "read", "stop"},
    "sbom": {"create", "stop", "read"}, "tag": {"create", "list", "delete"},
    "accessory": {"list"}, "artifact-addition": {"read"},
    "artifact-label": {"create", "delete"}, "scanner": {"create", "read"},
    "preheat-policy": {"read", "create", "delete", "list", "update"},
    "immutable-tag": {"create", "delete", "list", "update"},
    "notification-policy": {"read", "create", "delete", "list", "update"},
    "tag-retention": {"read", "create", "delete", "list", "update"},
    "label": {"read", "create", "delete", "list", "update"}, "quota": {"read"},
}
SYSTEM_ACCESS = {
    "audit-log": {"list"}, "preheat-instance": {"read", "create", "delete", "list", "update"},
    "project": {"list", "create"},
    "replication-policy": {"read", "create", "delete", "list", "update"},
    "replication": {"read", "create", "list"}, "replication-adapter": {"list"},
    "registry": {"read", "create", "delete", "list", "update"},
    "scan-all": {"read", "update", "stop", "create"}, "system-volumes": {"read"},
    "garbage-collection": {"read", "create", "list", "update", "stop"},
    "purge-audit": {"read", "create", "list", "update", "stop"},
    "jobservice-monitor": {"list", "stop"},
    "scanner": {"read", "create", "delete", "list", "update"},
    "label": {"read", "create", "delete", "update"}, "security-hub": {"read", "list"},
    "catalog": {"read"}, "quota": {"read", "list"},
}
ADMIN_USER = "admin"


def iso(ts):
    """strfmt.DateTime as Harbor serialises it: RFC 3339, milliseconds, UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%03dZ" % int((ts % 1) * 1000)


def random_secret():
    """32 characters like utils.GenerateRandomString, always valid under Harbor's secret rule."""
    alphabet = string.ascii_letters + string.digits
    while True:
        s = "".join(secrets.choice(alphabet) for _ in range(32))
        if valid_secret(s):
            return s


def valid_secret(s):
    # Harbor's robot.IsValidSec: 8 to 128 characters, one lower, one upper, one digit.
    return (isinstance(s, str) and 8 <= len(s) <= 128 and any(c.islower() for c in s)
            and any(c.isupper() for c in s) and any(c.isdigit() for c in s))


def hash_secret(secret, salt):
    return hashlib.sha256((secret + salt).encode()).hexdigest()


class Store:
    def __init__(self, path, admin_password):
        self.path = path
        self.lock = threading.RLock()
        self.admin_password = admin_password
        self.clock_offset = 0.0
        if path and os.path.exists(path):
            with open(path) as f:
                self.data = json.load(f)
        else:
            self.data = None
            self.reset()

    def now(self):
        return time.time() + self.clock_offset

    def reset(self):
        with self.lock:
            t = time.time()
            self.data = {
                "next": {"project": 1, "quota": 1, "robot": 1, "immutable": 1, "retention": 1,
                         "allowlist": 1, "repository": 1},
                "projects": {}, "quotas": {}, "robots": {}, "immutable_rules": {},
                "retentions": {}, "repositories": {}, "blob_links": {},
                "token_key": secrets.token_hex(32),
            }
            # Every Harbor has the public project "library" (project 1) from its first start.
            self.create_project("library", {"public": "true"}, -1, t)
            self.save()

    def save(self):
        if not self.path:
            return
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    def next_id(self, kind):
        n = self.data["next"][kind]
        self.data["next"][kind] = n + 1
        return n

    # ---- projects -------------------------------------------------------------------------
    def create_project(self, name, metadata, storage_limit, t=None):
        t = self.now() if t is None else t
        pid = self.next_id("project")
        self.data["projects"][str(pid)] = {
            "project_id": pid, "name": name, "owner_id": 1, "owner_name": ADMIN_USER,
            "creation_time": t, "update_time": t, "metadata": dict(metadata),
            "cve_allowlist_id": self.next_id("allowlist"),
        }
        qid = self.next_id("quota")
        self.data["quotas"][str(qid)] = {"id": qid, "project_id": pid,
                                         "hard": {"storage": storage_limit},
                                         "creation_time": t, "update_time": t}
        return pid

    def project_by_name(self, name):
        for p in self.data["projects"].values():
            if p["name"] == name:
                return p
        return None

    def project_by_id(self, pid):
        return self.data["projects"].get(str(pid))

    def repo_count(self, pid):
        return sum(1 for r in self.data["repositories"].values() if r["project_id"] == pid)

    def quota_of(self, pid):
        for q in self.data["quotas"].values():
            if q["project_id"] == pid:
                return q
        return None

    def used_storage(self, pid):
        size = 0
        seen = set()
        for r in self.data["repositories"].values():
            if r["project_id"] != pid:
                continue
            for d, s in r["blobs"].items():
                if d not in seen:
                    seen.add(d)
                    size += s
        return size

    def delete_project(self, pid):
        self.data["projects"].pop(str(pid), None)
        for k in [k for k, r in self.data["robots"].items() if r["project_id"] == pid]:
            del self.data["robots"][k]
        for k in [k for k, q in self.data["quotas"].items() if q["project_id"] == pid]:
            del self.data["quotas"][k]
        for k in [k for k, r in self.data["immutable_rules"].items() if r["project_id"] == pid]:
            del self.data["immutable_rules"][k]

    # ---- robots ---------------------------------------------------------------------------
    def robot_full_name(self, r):
        return ROBOT_PREFIX + r["name"]

    def robot_by_full_name(self, full):
        if not full.startswith(ROBOT_PREFIX):
            return None
        short = full[len(ROBOT_PREFIX):]
        for r in self.data["robots"].values():
            if r["name"] == short:
                return r
        return None

    def set_robot_secret(self, r, secret):
        r["salt"] = secrets.token_hex(16)
        r["secret_hash"] = hash_secret(secret, r["salt"])
        r["secret_version"] = r.get("secret_version", 0) + 1

    def robot_usable(self, r):
        if r["disable"]:
            return False
        return r["expires_at"] == -1 or self.now() < r["expires_at"]

    # ---- principals -----------------------------------------------------------------------
    def authenticate(self, user, secret):
        """What Harbor's security generators make of basic credentials: a principal, or None
        (Harbor then treats the request as anonymous)."""
        if user is None:
            return None
        if user.startswith(ROBOT_PREFIX):
            r = self.robot_by_full_name(user)
            if r and self.robot_usable(r) and hash_secret(secret, r["salt"]) == r["secret_hash"]:
                return {"kind": "robot", "name": user, "robot_id": r["id"],
                        "secret_version": r["secret_version"]}
            return None
        if user == ADMIN_USER and secrets.compare_digest(secret, self.admin_password):
            return {"kind": "admin", "name": user}
        return None

    def principal_still_valid(self, principal):
        if principal["kind"] == "admin":
            return True
        r = self.data["robots"].get(str(principal["robot_id"]))
        return bool(r and self.robot_usable(r) and
                    r["secret_version"] == principal["secret_version"])

    def can(self, principal, pid, resource, action):
        """Harbor's RBAC reduced to what the double needs: the admin may do anything; a robot only
        what its access list grants in a project its permissions name; anybody may read a public
        project and pull from it."""
        p = self.project_by_id(pid)
        if principal and principal["kind"] == "admin":
            return True
        if p and p["metadata"].get("public") == "true" and (
                (resource == "" and action == "read") or
                (resource == "repository" and action in ("pull", "list", "read")) or
                (resource == "artifact" and action in ("read", "list"))):
            return True
        if not principal or principal["kind"] != "robot" or not p:
            return False
        r = self.data["robots"].get(str(principal["robot_id"]))
        if not r:
            return False
        # The project itself ("" here) is the robot access resource "project".
        wanted = resource or "project"
        for perm in r["permissions"]:
            if perm.get("kind") != "project" or perm.get("namespace") not in (p["name"], "*"):
                continue
            for a in perm.get("access", []):
                if a.get("resource") in (wanted, "*") and a.get("action") in (action, "*") \
                        and a.get("effect", "allow") != "deny":
                    return True
        return False
