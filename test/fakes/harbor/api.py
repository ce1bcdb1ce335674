"""Harbor's REST API v2.0 (/api/v2.0), the part envop uses, as Harbor 2.15 behaves.

Read against the handlers of goharbor/harbor at tag v2.15.2 (src/server/v2.0/handler). Where
Harbor's code answers differently from its swagger, the double does what Harbor does and the
route says so in `beyond_swagger` (check_routes.py lists them). Two things surprise clients:
  - a project that does not exist is 404 NOT_FOUND for the admin, but 403 FORBIDDEN for a
    principal without system rights (a robot): RequireProjectAccess checks the permission on
    project 0 first (goharbor/harbor#17586 was fixed that way);
  - bad basic credentials make the request anonymous (the security middleware falls through),
    so GET /projects with a wrong password is 200 with the public projects, and the rest is 401.
"""

import json
import re
import urllib.parse

from httpcore import HarborError, Response, Route
import store as st

BASE = "/api/v2.0"
PAGE_ERR = {422: "go-swagger's own parameter validation: page or page_size not an integer, "
                 "page_size above 100"}
NO_PROJECT_403 = {403: "RequireProjectAccess: a principal without the permission, e.g. a robot, "
                       "or a project that does not exist for anyone but the admin"}
NO_PROJECT_404 = {404: "a project that does not exist is 404 NOT_FOUND from the project "
                       "controller"}

METADATA_KEYS = ("public", "enable_content_trust", "enable_content_trust_cosign", "prevent_vul",
                 "severity", "auto_scan", "auto_sbom_generation", "reuse_sys_cve_allowlist",
                 "retention_id", "proxy_speed_kb", "max_upstream_conn",
                 "proxy_cache_local_on_not_found")
NAME_RE = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
STORAGE_MAX = 1024 ** 5  # Harbor's quota ceiling: 1024 TiB


# ---- helpers -----------------------------------------------------------------------------
def truthy(v):
    return str(v).lower() in ("true", "1", "t")


def name_or_id(req, raw):
    """parseProjectNameOrID: a name when X-Is-Resource-Name is true or `raw` is not a number."""
    if truthy(req.header("X-Is-Resource-Name", "false")):
        return ("name", raw)
    try:
        return ("id", int(raw))
    except ValueError:
        return ("name", raw)


def deny(req):
    raise HarborError(401 if req.principal is None else 403)


def project_access(h, req, ref, action, resource=""):
    """RequireProjectAccess for ref = ("name"|"id", value), then the project, or None when it does
    not exist but the principal may act on project 0 (the admin): the caller's 404."""
    kind, key = ref
    p = h.store.project_by_name(key) if kind == "name" else h.store.project_by_id(key)
    # HasProjectPermission: a name not found is checked as project 0.
    pid = p["project_id"] if p else (0 if kind == "name" else key)
    if not h.store.can(req.principal, pid, resource, action):
        deny(req)
    return p


def found(p, raw):
    if p is None:
        try:
            raise HarborError(404, "project %d not found" % int(raw))
        except ValueError:
            raise HarborError(404, "project %s not found" % raw)
    return p


def require_auth(req):
    if req.principal is None:
        raise HarborError(401)


def require_admin(req):
    require_auth(req)
    if req.principal["kind"] != "admin":
        raise HarborError(403, req.principal["name"])


def body_object(req, what):
    b = req.json()
    if not isinstance(b, dict):
        raise HarborError(400, "parsing %s body from \"\" failed: expected a JSON object" % what)
    return b


def typed(obj, key, types, what, nullable=True):
    v = obj.get(key)
    if v is None:
        return None
    if isinstance(v, bool) and bool not in types:
        ok = False
    else:
        ok = isinstance(v, types)
    if not ok:
        names = {str: "string", int: "integer", bool: "boolean", dict: "object", list: "array"}
        raise HarborError(400, "parsing %s body from \"\" failed, because json: cannot "
                          "unmarshal %s into field %s of type %s" %
                          (what, type(v).__name__, key, "/".join(names[t] for t in types)))
    return v


def pagination(req):
    try:
        page = int(req.q("page", "1"))
        size = int(req.q("page_size", "10"))
    except ValueError:
        raise HarborError(422, "page and page_size must be of type int64")
    if size > 100:
        raise HarborError(422, "page_size in query should be less than or equal to 100")
    return max(page, 1), size


def paged(req, items, body_of):
    """X-Total-Count and Link as BaseAPI.Links writes them (path-relative, ' , ' between)."""
    page, size = pagination(req)
    total = len(items)
    chunk = items[(page - 1) * size: page * size] if size > 0 else items
    headers = {"X-Total-Count": str(total)}
    links = []

    def link(n, rel):
        q = {k: v[0] for k, v in req.query.items()}
        q["page"], q["page_size"] = str(n), str(size)
        qs = "&".join("%s=%s" % (k, q[k]) for k in sorted(q))
        return '<%s?%s>; rel="%s"' % (req.path, qs, rel)

    if size > 0:
        if page > 1 and (page - 1) * size < total:
            links.append(link(page - 1, "prev"))
        if size * page < total:
            links.append(link(page + 1, "next"))
    if links:
        headers["Link"] = " , ".join(links)
    return Response(200, [body_of(i) for i in chunk], headers)


def parse_q(raw):
    """Harbor's q= syntax: k=v (exact), k=~v (fuzzy), k={a b} (any), k=(a b) (all),
    k=[min~max] (range); terms split by commas outside brackets."""
    terms, depth, cur = [], 0, ""
    for c in raw or "":
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        if c == "," and depth == 0:
            terms.append(cur)
            cur = ""
        else:
            cur += c
    if cur:
        terms.append(cur)
    out = {}
    for t in terms:
        if "=" not in t:
            raise HarborError(400, "invalid query string %s" % raw)
        k, v = t.split("=", 1)
        k = k.strip()
        if not k:
            raise HarborError(400, "invalid query string %s" % raw)
        if v.startswith("~"):
            out[k] = ("fuzzy", v[1:].strip("\"'"))
        elif v.startswith("{") and v.endswith("}"):
            out[k] = ("any", [x.strip("\"'") for x in v[1:-1].split()])
        elif v.startswith("(") and v.endswith(")"):
            out[k] = ("all", [x.strip("\"'") for x in v[1:-1].split()])
        elif v.startswith("[") and v.endswith("]") and "~" in v:
            lo, hi = v[1:-1].split("~", 1)
            out[k] = ("range", (lo.strip(), hi.strip()))
        else:
            out[k] = ("exact", v.strip("\"'"))
    return out


def q_match(value, cond):
    kind, arg = cond
    s = str(value)
    if kind == "exact":
        return s == arg
    if kind == "fuzzy":
        return arg in s
    if kind in ("any", "all"):
        return s in arg
    lo, hi = arg
    try:
        return (not lo or float(value) >= float(lo)) and (not hi or float(value) <= float(hi))
    except ValueError:
        return False


def sorted_by(req, items, fields, default):
    """sort=field1,-field2 over the model's sortable fields (unknown ones are skipped, as the ORM
    skips them); without one, the model's default sort."""
    keys = []
    for part in (req.q("sort") or "").split(","):
        part = part.strip()
        desc = part.startswith("-")
        name = part.lstrip("-")
        if name in fields:
            keys.append((fields[name], desc))
    if not keys:
        keys = [(fields[default], False)]
    for key, desc in reversed(keys):
        items = sorted(items, key=key, reverse=desc)
    return items


# ---- JSON shapes -----------------------------------------------------------------------------
def omit(d, keep=()):
    """go-swagger's omitempty: zero values leave the JSON, except the fields the swagger marks
    x-omitempty: false."""
    return {k: v for k, v in d.items()
            if k in keep or not (v is None or v is False or v == 0 or v == "" or v == []
                                 or v == {})}


SEVERITIES = ("none", "low", "medium", "high", "critical")


def shown_metadata(md):
    out = dict(md)
    if "severity" in out:
        # Project.ToSwagger maps severity to a CVSS v3.0 rating, lower-cased.
        s = out["severity"].lower()
        out["severity"] = s if s in SEVERITIES else ("none" if s == "negligible" else "unknown")
    return out


def project_json(h, p, principal=None):
    pid = p["project_id"]
    # Only a local user (the admin: owner and project admin of every project it made) has roles.
    roles = [1] if principal and principal["kind"] == "admin" else []
    return omit({
        "project_id": pid, "owner_id": p["owner_id"], "owner_name": p["owner_name"],
        "name": p["name"], "creation_time": st.iso(p["creation_time"]),
        "update_time": st.iso(p["update_time"]),
        "current_user_role_id": roles[0] if roles else 0, "current_user_role_ids": roles,
        "repo_count": h.store.repo_count(pid), "metadata": shown_metadata(p["metadata"]),
        "cve_allowlist": omit({"id": p["cve_allowlist_id"], "project_id": pid,
                               "items": p.get("cve_items", []),
                               "creation_time": st.iso(p["creation_time"]),
                               "update_time": st.iso(p["update_time"])}),
    }, keep=("repo_count",))


def quota_json(h, q):
    p = h.store.project_by_id(q["project_id"]) or {"name": "", "owner_name": st.ADMIN_USER}
    return omit({"id": q["id"],
                 "ref": {"id": q["project_id"], "name": p["name"],
                         "owner_name": p["owner_name"]},
                 "hard": dict(q["hard"]),
                 "used": {"storage": h.store.used_storage(q["project_id"])},
                 "creation_time": st.iso(q["creation_time"]),
                 "update_time": st.iso(q["update_time"])}, keep=("hard", "used"))


def robot_json(h, r):
    perms = [omit({"kind": p.get("kind"), "namespace": p.get("namespace"),
                   "access": [omit(a) for a in p.get("access", [])]}) for p in r["permissions"]]
    return omit({"id": r["id"], "name": h.store.robot_full_name(r),
                 "description": r["description"], "level": r["level"],
                 "duration": r["duration"], "editable": True, "disable": r["disable"],
                 "expires_at": r["expires_at"], "permissions": perms, "creator_type": "local",
                 "creator_ref": 1, "creation_time": st.iso(r["creation_time"]),
                 "update_time": st.iso(r["update_time"])},
                keep=("editable", "disable", "duration"))


# ---- projects --------------------------------------------------------------------------------
def read_metadata(b, what):
    md = typed(b, "metadata", (dict,), what)
    out = {}
    for k in METADATA_KEYS:
        if md is not None and md.get(k) is not None:
            out[k] = typed(md, k, (str,), what + ".metadata")
    # ProjectMetadata.public is a plain string with omitempty: "" is as good as absent (the
    # other keys are *string, so "" is a value).
    if out.get("public") == "":
        del out["public"]
    return out


def head_projects(h, req):
    # HeadProject: any authenticated principal learns whether the name exists.
    require_auth(req)
    name = req.q("project_name")
    if not name:
        raise HarborError(422, "project_name in query is required")
    if h.store.project_by_name(name) is None:
        raise HarborError(404, "project %s not found" % name)
    return Response(200)


PROJECT_SORTS = {"name": lambda p: p["name"], "project_id": lambda p: p["project_id"],
                 "creation_time": lambda p: p["creation_time"],
                 "update_time": lambda p: p["update_time"]}
ROBOT_SORTS = {"name": lambda r: r["name"], "id": lambda r: r["id"],
               "creation_time": lambda r: r["creation_time"],
               "expires_at": lambda r: r["expires_at"], "duration": lambda r: r["duration"]}


def list_projects(h, req):
    # The project model sorts by name by default (sort:"default" on Name).
    items = sorted_by(req, list(h.store.data["projects"].values()), PROJECT_SORTS, "name")
    name, public = req.q("name"), req.q("public")
    if name:
        items = [p for p in items if name in p["name"]]
    if req.q("owner"):
        items = [p for p in items if p["owner_name"] == req.q("owner")]
    if public is not None:
        items = [p for p in items if (p["metadata"].get("public") == "true") == truthy(public)]
    if req.q("q"):
        conds = parse_q(req.q("q"))
        items = [p for p in items if all(q_match(p.get(k, p["metadata"].get(k, "")), c)
                                         for k, c in conds.items())]
    if req.principal is None:
        items = [p for p in items if p["metadata"].get("public") == "true"]
    elif req.principal["kind"] == "robot":
        # ListProjects for a robot: the projects its permissions name, and the public ones.
        r = h.store.data["robots"].get(str(req.principal["robot_id"]), {})
        names = {perm.get("namespace") for perm in r.get("permissions", [])}
        if "*" not in names:
            items = [p for p in items if p["name"] in names or
                     p["metadata"].get("public") == "true"]
    return paged(req, items, lambda p: project_json(h, p, req.principal))


def create_project(h, req):
    require_auth(req)
    if req.principal["kind"] == "robot":
        raise HarborError(403, "Only system level robot can create project")
    b = body_object(req, "project")
    name = typed(b, "project_name", (str,), "project")
    public = typed(b, "public", (bool,), "project")
    limit = typed(b, "storage_limit", (int,), "project")
    typed(b, "cve_allowlist", (dict,), "project")
    md = read_metadata(b, "project")
    if typed(b, "registry_id", (int,), "project") is not None:
        raise HarborError(400, "the harbor double has no registries for proxy cache projects")
    if not name or len(name) > 255:
        raise HarborError(400, "Project name %s is illegal in length. (greater than 255 or less "
                          "than 1)" % (name or ""))
    if not NAME_RE.match(name):
        raise HarborError(400, "project name is not in lower case or contains illegal characters")
    if public is not None and "public" not in md:
        md["public"] = "true" if public else "false"
    md.setdefault("public", "false")
    if md["public"] not in ("true", "false"):
        raise HarborError(400, "metadata.public should only be 'true' or 'false', but got: '%s'"
                          % md["public"])
    md.pop("proxy_speed_kb", None)
    md.pop("max_upstream_conn", None)
    if md.get("retention_id"):
        raise HarborError(400, "bad request: the retention_id in the request's payload when "
                          "creating a project should be omitted, alternatively passing an empty "
                          "string")
    md.pop("retention_id", None)
    if limit is None or limit == 0:
        limit = -1
    validate_storage(limit, prefix="bad request: ")
    if h.store.project_by_name(name):
        raise HarborError(409, "The project named %s already exists" % name)
    pid = h.store.create_project(name, md, limit)
    if isinstance(b.get("cve_allowlist"), dict):
        h.store.project_by_id(pid)["cve_items"] = b["cve_allowlist"].get("items") or []
    h.store.save()
    where = name if truthy(req.header("X-Resource-Name-In-Location", "false")) else pid
    return Response(201, headers={"Location": "%s/%s" % (req.path.rstrip("/"), where)})


def validate_storage(v, prefix=""):
    # lib.ValidateQuotaLimit's messages.
    if not isinstance(v, int) or isinstance(v, bool):
        raise HarborError(400, "parsing body failed: storage must be an integer")
    if v <= 0 and v != -1:
        raise HarborError(400, prefix + "invalid non-positive value for quota limit, value=%d" % v)
    if v > STORAGE_MAX:
        raise HarborError(400, prefix + "exceeded 1024TB, which is 1125899906842624 Bytes, "
                          "value=%d" % v)


def get_project(h, req):
    raw = req.params["project_name_or_id"]
    p = found(project_access(h, req, name_or_id(req, raw), "read"), raw)
    return Response(200, project_json(h, p, req.principal))


def update_project(h, req):
    raw = req.params["project_name_or_id"]
    p = found(project_access(h, req, name_or_id(req, raw), "update"), raw)
    b = body_object(req, "project")
    typed(b, "public", (bool,), "project")
    typed(b, "storage_limit", (int,), "project")
    typed(b, "project_name", (str,), "project")
    md = read_metadata(b, "project")
    allow = typed(b, "cve_allowlist", (dict,), "project")
    if allow is not None:
        if allow.get("project_id") not in (None, 0, p["project_id"]):
            raise HarborError(400, "project_id in cve_allowlist must be %d but it's %s" %
                              (p["project_id"], allow.get("project_id")))
    md.pop("proxy_speed_kb", None)
    md.pop("max_upstream_conn", None)
    merged = dict(p["metadata"])
    merged.update(md)
    if "retention_id" in md and md["retention_id"] != p["metadata"].get("retention_id"):
        raise HarborError(400, "the retention_id in the request's payload when updating a "
                          "project should be omitted, alternatively passing the one that has "
                          "already been associated to this project")
    p["metadata"] = merged
    if allow is not None:
        p["cve_items"] = allow.get("items") or []
    # The project row itself is not written (metadata and allowlist live apart): no update_time.
    h.store.save()
    return Response(200)


def delete_project(h, req):
    raw = req.params["project_name_or_id"]
    p = found(project_access(h, req, name_or_id(req, raw), "delete"), raw)
    if h.store.repo_count(p["project_id"]) > 0:
        # PreconditionFailedError(cause): "precondition failed: " + the cause.
        raise HarborError(412, "precondition failed: the project contains repositories, can not "
                          "be deleted")
    h.store.delete_project(p["project_id"])
    h.store.save()
    return Response(200)


def project_deletable(h, req):
    raw = req.params["project_name_or_id"]
    p = found(project_access(h, req, name_or_id(req, raw), "delete"), raw)
    if h.store.repo_count(p["project_id"]) > 0:
        # "deletable": false is omitted (omitempty): the body has the message only.
        return Response(200, {"message": "the project contains repositories, can not be deleted"})
    return Response(200, {"deletable": True})


def list_repositories(h, req):
    name = req.params["project_name"]
    p = found(project_access(h, req, ("name", name), "list", "repository"), name)
    repos = sorted((r for r in h.store.data["repositories"].values()
                    if r["project_id"] == p["project_id"]), key=lambda r: r["id"])
    return paged(req, repos, lambda r: omit({
        "id": r["id"], "name": r["name"], "project_id": r["project_id"],
        "artifact_count": len(r["manifests"]), "pull_count": r.get("pull_count", 0),
        "creation_time": st.iso(r["creation_time"]), "update_time": st.iso(r["update_time"])},
        keep=("artifact_count", "pull_count")))


def delete_repository(h, req):
    name = req.params["project_name"]
    # Harbor wants a repository name with slashes URL-encoded twice; one decoding is done.
    repo = urllib.parse.unquote(req.params["repository_name"])
    p = found(project_access(h, req, ("name", name), "delete", "repository"), name)
    full = "%s/%s" % (p["name"], repo)
    if full not in h.store.data["repositories"]:
        raise HarborError(404, "repository %s not found" % full)
    del h.store.data["repositories"][full]
    h.store.save()
    return Response(200)


# ---- quotas ----------------------------------------------------------------------------------
def list_quotas(h, req):
    require_admin(req)
    items = sorted(h.store.data["quotas"].values(), key=lambda q: q["id"])
    ref, ref_id = req.q("reference"), req.q("reference_id")
    if ref is not None and ref != "project":
        items = []
    if ref_id is not None:
        items = [q for q in items if str(q["project_id"]) == ref_id]
    return paged(req, items, lambda q: quota_json(h, q))


def quota_by_id(h, req):
    require_admin(req)
    try:
        q = h.store.data["quotas"].get(str(int(req.params["id"])))
    except ValueError:
        raise HarborError(422, "id in path must be of type int64")
    if q is None:
        raise HarborError(404, "quota %s not found" % req.params["id"])
    return q


def get_quota(h, req):
    return Response(200, quota_json(h, quota_by_id(h, req)))


def update_quota(h, req):
    q = quota_by_id(h, req)
    b = body_object(req, "hard")
    hard = typed(b, "hard", (dict,), "hard")
    if not hard:
        raise HarborError(400, "hard required in body")
    for k, v in hard.items():
        if k != "storage":
            raise HarborError(400, "resource %s not support" % k)
        validate_storage(v)
    if "storage" not in hard:
        raise HarborError(400, "resource storage not found")
    q["hard"] = {"storage": hard["storage"]}
    q["update_time"] = h.store.now()
    h.store.save()
    return Response(200)


# ---- robots ----------------------------------------------------------------------------------
def robot_by_id(h, req):
    try:
        rid = int(req.params["robot_id"])
    except ValueError:
        raise HarborError(422, "robot_id in path must be of type int64")
    r = h.store.data["robots"].get(str(rid))
    if r is None:
        raise HarborError(404, "robot %d not found" % rid)
    return r


def robot_access(h, req, level, ref, action):
    """robotAPI.requireAccess: system robots need system rights, project robots the robot
    permission in their project (ref = ("name"|"id", value))."""
    if level == "system":
        require_admin(req)
    elif level == "project":
        project_access(h, req, ref, action, "robot")
    else:
        raise HarborError(403)


def validate_robot(b, what, duration_default=None):
    """robotAPI.validate: duration -1 or positive, a known level, permissions each with access,
    one for a project robot, every access one Harbor's RBAC offers for its kind."""
    duration = typed(b, "duration", (int,), what)
    level = typed(b, "level", (str,), what)
    perms = typed(b, "permissions", (list,), what)
    typed(b, "description", (str,), what)
    typed(b, "disable", (bool,), what)
    typed(b, "name", (str,), what)
    if duration is None:
        duration = 0 if duration_default is None else duration_default
    if not (duration == -1 or 0 < duration < 2 ** 31 - 1):
        raise HarborError(400, "bad request error duration input: %d, duration must be either "
                          "-1(Never) or a positive integer" % duration)
    if level not in ("system", "project"):
        raise HarborError(400, "bad request error level input: %s" % level)
    if not perms:
        raise HarborError(400, "bad request empty permission")
    for perm in perms:
        if not isinstance(perm, dict) or not isinstance(perm.get("access"), list) \
                or not perm["access"]:
            raise HarborError(400, "bad request empty access")
    if level == "project" and len(perms) > 1:
        raise HarborError(400, "bad request permission")
    for perm in perms:
        allowed = {"project": st.PROJECT_ACCESS, "system": st.SYSTEM_ACCESS}.get(perm.get("kind"))
        if allowed is None:
            raise HarborError(400, "bad request permission level: %s" % perm.get("kind"))
        for acc in perm["access"]:
            res = acc.get("resource") if isinstance(acc, dict) else None
            act = acc.get("action") if isinstance(acc, dict) else None
            if act not in allowed.get(res, ()):
                raise HarborError(400, "bad request permission: %s:%s" % (res, act))
    ns = perms[0].get("namespace")
    if level == "project" and not isinstance(ns, str):
        raise HarborError(400, "bad request permission: a project robot names its project in "
                          "permissions[0].namespace")
    return duration, level, perms


def namespace_ref(ns):
    # The namespace is a project name or id, as parseProjectNameOrID reads a path.
    try:
        return ("id", int(ns))
    except (TypeError, ValueError):
        return ("name", ns)


def expiry(h, created, duration):
    if duration == -1:
        return -1
    return int(created + duration * 86400)


def list_robots(h, req):
    require_auth(req)
    conds = parse_q(req.q("q"))
    pid = 0
    level = "system"
    if "Level" in conds:
        level = conds["Level"][1]
        if level not in ("system", "project"):
            raise HarborError(400, "bad request error level input")
        if level == "project":
            if "ProjectID" not in conds:
                raise HarborError(400, "must with project ID when to query project robots")
            try:
                pid = int(conds["ProjectID"][1])
            except (TypeError, ValueError):
                pid = 0
            if pid <= 0:
                raise HarborError(400, "ProjectID must be a positive integer")
    conds.pop("Level", None)
    conds.pop("ProjectID", None)
    robot_access(h, req, level, ("id", pid), "list")
    items = [r for r in h.store.data["robots"].values()
             if r["level"] == level and r["project_id"] == pid]
    # Other keys filter on the stored robot: its name is kept without the robot$ prefix
    # ("springcloud+pro"), as Harbor's robot table holds it.
    for k, c in conds.items():
        key = {"name": "name", "Name": "name", "disable": "disable",
               "Disable": "disable"}.get(k)
        if key:
            items = [r for r in items if q_match(
                str(r[key]).lower() if key == "disable" else r["name"], c)]
    # The robot model sorts by its stored name by default.
    items = sorted_by(req, items, ROBOT_SORTS, "name")
    return paged(req, items, lambda r: robot_json(h, r))


def create_robot(h, req):
    b = body_object(req, "robot")
    name = typed(b, "name", (str,), "robot") or ""
    if not NAME_RE.match(name):
        raise HarborError(400, "robot name is not in lower case or contains illegal characters")
    duration, level, perms = validate_robot(b, "robot")
    ref = namespace_ref(perms[0].get("namespace"))
    robot_access(h, req, level, ref if level == "project" else None, "create")
    # Harbor ignores RobotCreate.secret: the controller always generates the secret.
    pid = 0
    stored_name = name
    if level == "project":
        p = found(h.store.project_by_name(ref[1]) if ref[0] == "name"
                  else h.store.project_by_id(ref[1]), ref[1])
        pid = p["project_id"]
        stored_name = "%s+%s" % (p["name"], name)
    if any(r["name"] == stored_name and r["project_id"] == pid
           for r in h.store.data["robots"].values()):
        raise HarborError(409, "robot account %d:%s already exists" % (pid, stored_name))
    t = h.store.now()
    rid = h.store.next_id("robot")
    r = {"id": rid, "name": stored_name, "description": b.get("description") or "",
         "level": level, "project_id": pid, "duration": duration,
         "expires_at": expiry(h, t, duration), "disable": bool(b.get("disable")),
         "permissions": normalise_perms(perms), "creation_time": t, "update_time": t}
    secret = st.random_secret()
    h.store.set_robot_secret(r, secret)
    h.store.data["robots"][str(rid)] = r
    h.store.save()
    return Response(201, omit({"id": rid, "name": h.store.robot_full_name(r), "secret": secret,
                               "creation_time": st.iso(t), "expires_at": r["expires_at"]}),
                    {"Location": "%s/%d" % (req.path.rstrip("/"), rid)})


def normalise_perms(perms):
    return [{"kind": p.get("kind"), "namespace": p.get("namespace"),
             "access": [{"resource": a["resource"], "action": a["action"],
                         **({"effect": a["effect"]} if a.get("effect") else {})}
                        for a in p["access"]]} for p in perms]


def get_robot(h, req):
    require_auth(req)
    r = robot_by_id(h, req)
    robot_access(h, req, r["level"], ("id", r["project_id"]), "read")
    return Response(200, robot_json(h, r))


def update_robot(h, req):
    require_auth(req)
    r = robot_by_id(h, req)
    b = body_object(req, "robot")
    # updateV2Robot: an absent duration keeps the robot's.
    duration, level, perms = validate_robot(b, "robot", duration_default=r["duration"])
    ref = namespace_ref(perms[0].get("namespace"))
    if r["level"] != "system":
        p = h.store.project_by_name(ref[1]) if ref[0] == "name" else h.store.project_by_id(ref[1])
        found(p, ref[1])
        if p["project_id"] != r["project_id"]:
            raise HarborError(400, "cannot update the project id of robot")
    robot_access(h, req, r["level"], ref if r["level"] == "project" else None, "update")
    if level != r["level"] or b.get("name") != h.store.robot_full_name(r):
        raise HarborError(400, "cannot update the level or name of robot")
    if duration != r["duration"]:
        r["duration"] = duration
        r["expires_at"] = expiry(h, r["creation_time"], duration)
    r["description"] = b.get("description") or ""
    r["disable"] = bool(b.get("disable"))
    r["permissions"] = normalise_perms(perms)
    r["update_time"] = h.store.now()
    h.store.save()
    return Response(200)


def refresh_robot(h, req):
    require_auth(req)
    r = robot_by_id(h, req)
    robot_access(h, req, r["level"], ("id", r["project_id"]), "update")
    b = body_object(req, "robotSec")
    given = typed(b, "secret", (str,), "robotSec")
    if given:
        if not st.valid_secret(given):
            raise HarborError(400, "the secret must be 8-128, inclusively, characters long with "
                              "at least 1 uppercase letter, 1 lowercase letter and 1 number")
        secret, shown = given, ""
    else:
        secret = shown = st.random_secret()
    h.store.set_robot_secret(r, secret)
    r["update_time"] = h.store.now()
    h.store.save()
    # RefreshSec answers the secret it generated, and an empty one when the caller chose it.
    return Response(200, {"secret": shown} if shown else {})


def delete_robot(h, req):
    require_auth(req)
    r = robot_by_id(h, req)
    robot_access(h, req, r["level"], ("id", r["project_id"]), "delete")
    del h.store.data["robots"][str(r["id"])]
    h.store.save()
    return Response(200)


# ---- immutable tag rules ---------------------------------------------------------------------
def selectors_json(sels):
    return [omit(s) if isinstance(s, dict) else s for s in sels or []]


def rule_json(r):
    # The rule is kept as Harbor's immutable Metadata: no params; omitempty as go-swagger.
    out = {k: r[k] for k in ("id", "priority", "disabled", "action", "template")}
    out["tag_selectors"] = selectors_json(r["tag_selectors"])
    out["scope_selectors"] = {k: selectors_json(v) for k, v in
                              (r["scope_selectors"] or {}).items()}
    return omit(out)


def read_rule(b, what):
    """lib.JSONCopy into immutable Metadata: the fields it knows, with their JSON types; Harbor
    validates nothing more on create or update."""
    for k, t in (("id", (int,)), ("priority", (int,)), ("disabled", (bool,)), ("action", (str,)),
                 ("template", (str,)), ("params", (dict,)), ("tag_selectors", (list,)),
                 ("scope_selectors", (dict,))):
        typed(b, k, t, what)
    return {"priority": b.get("priority") or 0, "disabled": bool(b.get("disabled")),
            "action": b.get("action") or "", "template": b.get("template") or "",
            "tag_selectors": b.get("tag_selectors") or [],
            "scope_selectors": b.get("scope_selectors") or {}}


def rule_filter(rule, pid):
    # immutable_tag_rule has UNIQUE(project_id, tag_filter); tag_filter is the rule's JSON.
    return pid, repr(sorted(rule.items()))


def list_immutable(h, req):
    raw = req.params["project_name_or_id"]
    p = found(project_access(h, req, name_or_id(req, raw), "list", "immutable-tag"), raw)
    items = sorted((r for r in h.store.data["immutable_rules"].values()
                    if r["project_id"] == p["project_id"]), key=lambda r: r["id"])
    return paged(req, items, rule_json)


def create_immutable(h, req):
    raw = req.params["project_name_or_id"]
    p = found(project_access(h, req, name_or_id(req, raw), "create", "immutable-tag"), raw)
    rule = read_rule(body_object(req, "ImmutableRule"), "ImmutableRule")
    key = rule_filter(rule, p["project_id"])
    if any(rule_filter(read_rule(r, "rule"), r["project_id"]) == key
           for r in h.store.data["immutable_rules"].values()):
        raise HarborError(409, "immutable rule already exists")
    rid = h.store.next_id("immutable")
    # The DAO inserts every rule enabled, whatever the body says.
    rule.update({"id": rid, "project_id": p["project_id"], "disabled": False})
    h.store.data["immutable_rules"][str(rid)] = rule
    h.store.save()
    return Response(201, headers={"Location": "%s/%d" % (req.path.rstrip("/"), rid)})


def immutable_rule(h, req, action, body_id=None):
    raw = req.params["project_name_or_id"]
    try:
        rid = int(req.params["immutable_rule_id"])
    except ValueError:
        raise HarborError(422, "immutable_rule_id in path must be of type int64")
    if body_id is not None and body_id != rid:
        raise HarborError(400, "the immutable_rule_id doesn't match the id in the payload body "
                          "of ImmutableRule")
    p = found(project_access(h, req, name_or_id(req, raw), action, "immutable-tag"), raw)
    r = h.store.data["immutable_rules"].get(str(rid))
    if r is None:
        raise HarborError(404, "immutable rule %d not found" % rid)
    if r["project_id"] != p["project_id"]:
        raise HarborError(404, "resource not found: project id %d does not match" % p["project_id"])
    return r


def update_immutable(h, req):
    b = body_object(req, "ImmutableRule")
    r = immutable_rule(h, req, "update", body_id=typed(b, "id", (int,), "ImmutableRule") or 0)
    new = read_rule(b, "ImmutableRule")
    # The controller's UpdateImmutableRule: a change of `disabled` is applied alone (the rest of
    # the body is ignored); otherwise the rule is rewritten and `disabled` stays.
    if new["disabled"] != r["disabled"]:
        r["disabled"] = new["disabled"]
    else:
        new.pop("disabled")
        r.update(new)
    h.store.save()
    return Response(200)


def delete_immutable(h, req):
    r = immutable_rule(h, req, "delete")
    del h.store.data["immutable_rules"][str(r["id"])]
    h.store.save()
    return Response(200)


# ---- retention policies ----------------------------------------------------------------------
def read_policy(h, b):
    """What Harbor v2.15.2 checks of a RetentionPolicy before acting on it: at most 15 rules, no
    two rules alike (409), a valid cron. Templates, selectors and parameters it does not check
    (neither does the double)."""
    for k, t in (("algorithm", (str,)), ("rules", (list,)), ("trigger", (dict,)),
                 ("scope", (dict,)), ("id", (int,))):
        typed(b, k, t, "policy")
    rules = b.get("rules") or []
    if len(rules) > 15:
        raise HarborError(400, "bad request: only 15 rules are allowed at most")
    seen = {}
    for n, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise HarborError(400, "parsing policy body from \"\" failed: a rule is an object")
        sig = json.dumps({k: v for k, v in rule.items() if k != "id"}, sort_keys=True)
        if sig in seen:
            raise HarborError(409, "resource conflict: rule %d is conflict with rule %d"
                              % (n, seen[sig]))
        seen[sig] = n
    trigger = b.get("trigger") or {}
    cron = (trigger.get("settings") or {}).get("cron") if isinstance(trigger, dict) else None
    if trigger.get("kind") == "Schedule" and cron:
        if not isinstance(cron, str) or len(cron.split(" ")) not in (5, 6) or (
                len(cron.split(" ")) == 6 and cron.split(" ")[0] != "0"):
            raise HarborError(400, "invalid cron string for scheduled tag retention: %s" % cron)
    scope = b.get("scope") or {}
    return {"algorithm": b.get("algorithm") or "", "rules": rules, "trigger": trigger,
            "scope": {"level": scope.get("level") or "", "ref": scope.get("ref") or 0}}


def create_retention(h, req):
    require_auth(req)
    pol = read_policy(h, body_object(req, "policy"))
    scope = pol["scope"]
    if scope["level"] == "project":
        project_access(h, req, ("id", scope["ref"]), "create", "tag-retention")
        if scope["ref"] <= 0 or h.store.project_by_id(scope["ref"]) is None:
            raise HarborError(400, "bad request: invalid Project id %d" % scope["ref"])
    else:
        require_admin(req)
        raise HarborError(400, "bad request: scope %s is not support" % scope["level"])
    p = h.store.project_by_id(scope["ref"])
    if p["metadata"].get("retention_id"):
        raise HarborError(400, "bad request: project %d already has retention policy %s" %
                          (p["project_id"], p["metadata"]["retention_id"]))
    rid = h.store.next_id("retention")
    pol["id"] = rid
    h.store.data["retentions"][str(rid)] = pol
    p["metadata"]["retention_id"] = str(rid)
    h.store.save()
    return Response(201, headers={"Location": "%s/%d" % (req.path.rstrip("/"), rid)})


def retention_id(req):
    try:
        return int(req.params["id"])
    except ValueError:
        raise HarborError(422, "id in path must be of type int64")


def policy_access(h, req, pol, action):
    if pol["scope"]["level"] == "project":
        project_access(h, req, ("id", pol["scope"]["ref"]), action, "tag-retention")
    else:
        require_admin(req)


def get_retention(h, req):
    rid = retention_id(req)
    pol = h.store.data["retentions"].get(str(rid))
    if pol is None:
        # The manager's "no such Retention policy" is an untyped error: Harbor's 500.
        raise HarborError(500, "internal server error")
    policy_access(h, req, pol, "read")
    rules = []
    for rule in pol["rules"]:
        shown = {k: v for k, v in rule.items() if k not in ("tag_selectors", "scope_selectors")}
        shown["tag_selectors"] = selectors_json(rule.get("tag_selectors"))
        shown["scope_selectors"] = {k: selectors_json(v) for k, v in
                                    (rule.get("scope_selectors") or {}).items()}
        rules.append(omit(shown))
    return Response(200, omit(dict(pol, rules=rules)))


def update_retention(h, req):
    rid = retention_id(req)
    new = read_policy(h, body_object(req, "policy"))
    policy_access(h, req, new, "update")
    p = h.store.project_by_id(new["scope"]["ref"])
    # requirePolicyAccess: the project's retention_id must name this policy.
    if p is None or p["metadata"].get("retention_id") != str(rid) or \
            str(rid) not in h.store.data["retentions"]:
        raise HarborError(404, "resource not found: the retention policy id %d does not match"
                          % rid)
    new["id"] = rid
    h.store.data["retentions"][str(rid)] = new
    h.store.save()
    return Response(200)


def delete_retention(h, req):
    rid = retention_id(req)
    pol = h.store.data["retentions"].get(str(rid))
    if pol is None:
        raise HarborError(400, "bad request: no such Retention policy with id %d" % rid)
    policy_access(h, req, pol, "delete")
    del h.store.data["retentions"][str(rid)]
    p = h.store.project_by_id(pol["scope"]["ref"])
    if p:
        p["metadata"].pop("retention_id", None)
    h.store.save()
    return Response(200)


# ---- system ----------------------------------------------------------------------------------
def ping(h, req):
    return Response(200, "Pong", content_type="text/plain; charset=utf-8")


def health(h, req):
    comps = ["core", "database", "jobservice", "portal", "redis", "registry", "registryctl"]
    return Response(200, {"status": "healthy",
                          "components": [{"name": c, "status": "healthy"} for c in comps]})


def systeminfo(h, req):
    info = {"banner_message": "", "current_time": st.iso(h.store.now()),
            "auth_mode": "db_auth", "primary_auth_mode": False, "self_registration": False,
            "harbor_version": "v2.15.2-envop-double", "oidc_provider_name": ""}
    if req.principal is not None:
        info.update({"registry_url": h.host, "external_url": h.base_url,
                     "project_creation_restriction": "everyone", "has_ca_root": False,
                     "registry_storage_provider_name": "filesystem", "read_only": False,
                     "notification_enable": True})
    return Response(200, info)


P = "/projects/{project_name_or_id}"
NI = ("X-Is-Resource-Name",)
PG = ("page", "page_size")

ROUTES = [
    Route("GET", "/ping", ping, auth=False, statuses={200}),
    Route("GET", "/health", health, auth=False, statuses={200}),
    Route("GET", "/systeminfo", systeminfo, auth=False, statuses={200}),
    Route("HEAD", "/projects", head_projects, query=("project_name",),
          statuses={200, 404, 422},
          beyond_swagger={401: "HeadProject: RequireAuthenticated",
                          422: "go-swagger: the required project_name is missing"}),
    Route("GET", "/projects", list_projects, query=("q", "name", "public", "owner", "sort") + PG,
          statuses={200, 400, 422}, auth=False,
          beyond_swagger={400: "an unparsable q= from BuildQuery", **PAGE_ERR}),
    Route("POST", "/projects", create_project, headers=("X-Resource-Name-In-Location",),
          statuses={201, 400, 403, 409}, body="project",
          beyond_swagger={403: "a project-level robot may not create projects"}),
    Route("GET", P, get_project, headers=NI, statuses={200, 403, 404},
          beyond_swagger={**NO_PROJECT_403, **NO_PROJECT_404}),
    Route("PUT", P, update_project, headers=NI, statuses={200, 400, 403, 404}, body="project"),
    Route("DELETE", P, delete_project, headers=NI, statuses={200, 403, 404, 412},
          beyond_swagger={401: "RequireProjectAccess: anonymous"}),
    Route("GET", P + "/_deletable", project_deletable, headers=NI, statuses={200, 403, 404}),
    Route("GET", "/projects/{project_name}/repositories", list_repositories, query=PG,
          statuses={200, 403, 404, 422}, beyond_swagger=PAGE_ERR),
    Route("DELETE", "/projects/{project_name}/repositories/{repository_name}",
          delete_repository, statuses={200, 403, 404}),
    Route("GET", "/quotas", list_quotas, query=("reference", "reference_id") + PG,
          statuses={200, 403, 422}, beyond_swagger=PAGE_ERR),
    Route("GET", "/quotas/{id}", get_quota, statuses={200, 403, 404, 422},
          beyond_swagger={422: "go-swagger: id in path not an integer"}),
    Route("PUT", "/quotas/{id}", update_quota, statuses={200, 400, 403, 404, 422}, body="hard",
          beyond_swagger={422: "go-swagger: id in path not an integer"}),
    Route("GET", "/robots", list_robots, query=("q", "sort") + PG, statuses={200, 400, 403, 422},
          beyond_swagger={401: "RequireAuthenticated",
                          403: "requireAccess: no robot:list permission (a robot, or a project "
                               "that does not exist for anyone but the admin)", **PAGE_ERR}),
    Route("POST", "/robots", create_robot, statuses={201, 400, 403, 404, 409}, body="robot",
          beyond_swagger={409: "the robot DAO's unique (name, project_id): "
                               "\"robot account 2:springcloud+pro already exists\""}),
    Route("GET", "/robots/{robot_id}", get_robot, statuses={200, 403, 404, 422},
          beyond_swagger={422: "go-swagger: robot_id in path not an integer"}),
    Route("PUT", "/robots/{robot_id}", update_robot, statuses={200, 400, 403, 404, 422},
          body="robot", beyond_swagger={422: "go-swagger: robot_id in path not an integer"}),
    Route("PATCH", "/robots/{robot_id}", refresh_robot, statuses={200, 400, 403, 404, 422},
          body="robotSec", beyond_swagger={422: "go-swagger: robot_id in path not an integer"}),
    Route("DELETE", "/robots/{robot_id}", delete_robot, statuses={200, 403, 404, 422},
          beyond_swagger={422: "go-swagger: robot_id in path not an integer"}),
    Route("GET", P + "/immutabletagrules", list_immutable, headers=NI, query=PG,
          statuses={200, 403, 404, 422},
          beyond_swagger={**NO_PROJECT_404, **PAGE_ERR}),
    Route("POST", P + "/immutabletagrules", create_immutable, headers=NI,
          statuses={201, 400, 403, 404, 409}, body="ImmutableRule",
          beyond_swagger={409: "immutable_tag_rule's UNIQUE(project_id, tag_filter): "
                               "\"immutable rule already exists\""}),
    Route("PUT", P + "/immutabletagrules/{immutable_rule_id}", update_immutable, headers=NI,
          statuses={200, 400, 403, 404, 422}, body="ImmutableRule",
          beyond_swagger={404: "the rule, or the project, does not exist",
                          422: "go-swagger: immutable_rule_id not an integer"}),
    Route("DELETE", P + "/immutabletagrules/{immutable_rule_id}", delete_immutable, headers=NI,
          statuses={200, 400, 403, 404, 422},
          beyond_swagger={404: "the rule, or the project, does not exist",
                          422: "go-swagger: immutable_rule_id not an integer"}),
    Route("POST", "/retentions", create_retention, statuses={201, 400, 403, 409}, body="policy",
          beyond_swagger={409: "checkRuleConflict: two rules alike"}),
    Route("GET", "/retentions/{id}", get_retention, statuses={200, 403, 422, 500},
          beyond_swagger={422: "go-swagger: id in path not an integer"}),
    Route("PUT", "/retentions/{id}", update_retention, statuses={200, 400, 403, 404, 409, 422},
          body="policy",
          beyond_swagger={400: "more than 15 rules, a bad cron",
                          404: "requirePolicyAccess: the project's retention_id is not this id",
                          409: "checkRuleConflict: two rules alike",
                          422: "go-swagger: id in path not an integer"}),
    Route("DELETE", "/retentions/{id}", delete_retention, statuses={200, 400, 403, 422},
          beyond_swagger={400: "DeleteRetention wraps the manager's not-found as BAD_REQUEST",
                          422: "go-swagger: id in path not an integer"}),
]
