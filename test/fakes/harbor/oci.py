"""The OCI distribution API (/v2/) that helm pushes charts to and pulls them from, and Harbor's
token service (/service/token), on the double's host:port.

Auth as Harbor's v2auth middleware does it: a request without credentials gets 401 with a Bearer
challenge (realm .../service/token, service harbor-registry, the scope it needs), one whose
credentials fall short gets `Basic realm="harbor"`; the token service turns basic credentials
into a token carrying the granted actions. Basic credentials straight on /v2/ are accepted too. Unlike Harbor's JWTs, which stay valid until they
expire, a token here is re-checked on every use: a robot refreshed, disabled, expired or deleted
is refused at once.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import threading
import uuid

from httpcore import HarborError, Response
import store as st

SERVICE = "harbor-registry"
TOKEN_SECONDS = 1800
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json",
                  "application/vnd.oci.image.index.v1+json")
NAME = r"(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)+)"
DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def oci_error(status, code, message, headers=None):
    e = HarborError(status, message, code, headers)
    e.oci = True
    return e


class Registry:
    def __init__(self, harbor, blob_dir):
        self.h = harbor
        self.blob_dir = blob_dir
        self.upload_dir = os.path.join(blob_dir, "_uploads")
        os.makedirs(self.upload_dir, exist_ok=True)
        self.uploads = {}
        self.lock = threading.Lock()
        self.routes = [
            ("GET", re.compile(r"^/v2/?$"), self.base),
            ("GET", re.compile(r"^/v2/_catalog$"), self.catalog),
            ("GET", re.compile(r"^/v2/%s/tags/list$" % NAME), self.tags),
            ("HEAD", re.compile(r"^/v2/%s/manifests/(?P<ref>[^/]+)$" % NAME), self.get_manifest),
            ("GET", re.compile(r"^/v2/%s/manifests/(?P<ref>[^/]+)$" % NAME), self.get_manifest),
            ("PUT", re.compile(r"^/v2/%s/manifests/(?P<ref>[^/]+)$" % NAME), self.put_manifest),
            ("DELETE", re.compile(r"^/v2/%s/manifests/(?P<ref>[^/]+)$" % NAME),
             self.delete_manifest),
            ("HEAD", re.compile(r"^/v2/%s/blobs/(?P<digest>sha256:[a-f0-9]+)$" % NAME),
             self.get_blob),
            ("GET", re.compile(r"^/v2/%s/blobs/(?P<digest>sha256:[a-f0-9]+)$" % NAME),
             self.get_blob),
            ("POST", re.compile(r"^/v2/%s/blobs/uploads/?$" % NAME), self.start_upload),
            ("PATCH", re.compile(r"^/v2/%s/blobs/uploads/(?P<uuid>[a-f0-9-]+)$" % NAME),
             self.patch_upload),
            ("PUT", re.compile(r"^/v2/%s/blobs/uploads/(?P<uuid>[a-f0-9-]+)$" % NAME),
             self.finish_upload),
            ("GET", re.compile(r"^/v2/%s/blobs/uploads/(?P<uuid>[a-f0-9-]+)$" % NAME),
             self.upload_status),
            ("DELETE", re.compile(r"^/v2/%s/blobs/uploads/(?P<uuid>[a-f0-9-]+)$" % NAME),
             self.cancel_upload),
        ]

    # ---- tokens ------------------------------------------------------------------------------
    def key(self):
        return self.h.store.data["token_key"].encode()

    def issue(self, principal, access):
        claims = {"sub": principal, "access": access, "exp": int(self.h.store.now()) + TOKEN_SECONDS,
                  "jti": uuid.uuid4().hex}
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
        sig = hmac.new(self.key(), body.encode(), hashlib.sha256).hexdigest()
        return body + "." + sig

    def verify(self, token):
        try:
            body, sig = token.rsplit(".", 1)
        except ValueError:
            return None
        if not hmac.compare_digest(sig, hmac.new(self.key(), body.encode(),
                                                 hashlib.sha256).hexdigest()):
            return None
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if claims["exp"] < self.h.store.now():
            return None
        if claims["sub"] is not None and not self.h.store.principal_still_valid(claims["sub"]):
            return None
        return claims

    def granted(self, principal, repo, wanted):
        """The actions of `wanted` (pull, push, delete, *) the principal may take on repo."""
        project = repo.split("/", 1)[0]
        p = self.h.store.project_by_name(project)
        if p is None:
            return []
        out = []
        for a in wanted:
            if a == "*" and principal and principal["kind"] == "admin":
                out.append(a)
            elif a in ("pull", "push", "delete") and self.h.store.can(
                    principal, p["project_id"], "repository", a):
                out.append(a)
        return out

    def token_service(self, req):
        """Harbor's token handler: bad credentials are anonymous like everywhere in Harbor; an
        anonymous request without a scope (a login) is 401 with an empty body, one with scopes
        gets a token granting what anonymous may (public projects)."""
        if req.method != "GET":
            # Harbor serves GET only (beego answers 405); OAuth2 clients fall back to GET.
            raise HarborError(405, "method %s is not allowed on /service/token" % req.method)
        if req.q("service") != SERVICE:
            return Response(400, "Unable to handle service: %s" % req.q("service", ""),
                            content_type="text/plain; charset=utf-8")
        user, secret = basic(req.header("Authorization", ""))
        principal = self.h.store.authenticate(user, secret)
        req.principal = principal
        scopes = [one for s in req.query.get("scope", []) for one in s.split(" ") if one]
        if principal is None and not scopes:
            return Response(401)
        access = []
        for one in scopes:
            parts = one.split(":")
            if len(parts) != 3 or parts[0] != "repository":
                continue
            acts = self.granted(principal, parts[1], parts[2].split(","))
            access.append({"type": "repository", "name": parts[1], "actions": acts})
        tok = self.issue(principal, access)
        return Response(200, {"token": tok, "expires_in": TOKEN_SECONDS,
                              "issued_at": st.iso(self.h.store.now())})

    def challenge(self, req, scope=None):
        """v2auth's getChallenge: a request that sent credentials is told Basic realm="harbor";
        one without is sent to the token service, with the scope it needs."""
        if req.header("Authorization") or req.path == "/v2/_catalog":
            return 'Basic realm="harbor"'
        c = 'Bearer realm="%s/service/token",service="%s"' % (self.h.base_url, SERVICE)
        if scope:
            c += ',scope="%s"' % scope
        return c

    def authorize(self, req, repo, action):
        """v2auth's check: raises 401 with a challenge unless the request may take `action`
        (pull, push, delete) on repo; repo None: /v2/ itself, any authenticated principal."""
        auth = req.header("Authorization", "")
        principal, token_access, bearer = None, None, False
        if auth.lower().startswith("bearer "):
            bearer = True
            claims = self.verify(auth[7:].strip())
            if claims is not None:
                principal, token_access = claims["sub"], claims["access"]
        elif auth:
            user, secret = basic(auth)
            principal = self.h.store.authenticate(user, secret)
        req.principal = principal
        if repo is None:
            if principal is None:
                raise self.unauthorized(req, None, None, "unauthorized: unauthorized")
            return
        if not auth and req.method in ("GET", "HEAD"):
            # Harbor's #11271: a CLI's first HEAD/GET always learns where the token service is.
            why = "authorize header needed to send HEAD to repository"
            raise self.unauthorized(req, repo, action, why + ": " + why)
        if bearer:
            ok = token_access is not None and any(
                a["name"] == repo and action in a["actions"] for a in token_access) \
                and bool(self.granted(principal, repo, [action]))
        else:
            ok = bool(self.granted(principal, repo, [action]))
        if not ok:
            # UnauthorizedError(err).WithMessage(err.Error()): Harbor says it twice.
            why = "unauthorized to access repository: %s, action: %s" % (repo, action)
            raise self.unauthorized(req, repo, action, why + ": " + why)

    def unauthorized(self, req, repo, action, message):
        scope = None
        if repo:
            scope = "repository:%s:%s" % (repo, {"push": "pull,push"}.get(action, action))
        return oci_error(401, "UNAUTHORIZED", message,
                         headers={"WWW-Authenticate": self.challenge(req, scope)})

    # ---- dispatch ----------------------------------------------------------------------------
    def handle(self, req):
        try:
            resp = self.route(req)
        except HarborError as e:
            e.headers["Docker-Distribution-Api-Version"] = "registry/2.0"
            raise
        resp.headers["Docker-Distribution-Api-Version"] = "registry/2.0"
        return resp

    def route(self, req):
        for method, rx, fn in self.routes:
            m = rx.match(req.path)
            if m and method == req.method:
                req.params = m.groupdict()
                return fn(req)
        for method, rx, fn in self.routes:
            if rx.match(req.path):
                raise oci_error(405, "UNSUPPORTED", "the operation is unsupported")
        raise oci_error(404, "NOT_FOUND", "page not found")

    def repo(self, name, create=False):
        repos = self.h.store.data["repositories"]
        r = repos.get(name)
        if r is None and create:
            p = self.h.store.project_by_name(name.split("/", 1)[0])
            t = self.h.store.now()
            r = repos[name] = {"id": self.h.store.next_id("repository"), "name": name, "project_id": p["project_id"], "manifests": {},
                               "tags": {}, "blobs": {}, "creation_time": t, "update_time": t}
        return r

    def blob_path(self, digest):
        return os.path.join(self.blob_dir, digest.replace(":", "-"))

    def base(self, req):
        self.authorize(req, None, None)
        return Response(200, {}, {"Docker-Distribution-Api-Version": "registry/2.0"})

    def catalog(self, req):
        self.authorize(req, None, None)
        if req.principal is None or req.principal["kind"] != "admin":
            raise oci_error(401, "UNAUTHORIZED", "unauthorized to list catalog: unauthorized to "
                            "list catalog",
                            headers={"WWW-Authenticate": self.challenge(req)})
        return Response(200, {"repositories": sorted(self.h.store.data["repositories"])})

    def tags(self, req):
        name = req.params["name"]
        self.authorize(req, name, "pull")
        r = self.repo(name)
        if r is None:
            raise oci_error(404, "NAME_UNKNOWN", "repository name not known to registry")
        return Response(200, {"name": name, "tags": sorted(r["tags"])})

    def resolve(self, r, ref):
        if r is None:
            return None
        digest = ref if DIGEST_RE.match(ref) else r["tags"].get(ref)
        return digest if digest in r["manifests"] else None

    def get_manifest(self, req):
        name = req.params["name"]
        self.authorize(req, name, "pull")
        r = self.repo(name)
        digest = self.resolve(r, req.params["ref"])
        if digest is None:
            raise oci_error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        m = r["manifests"][digest]
        with open(self.blob_path(digest), "rb") as f:
            data = f.read()
        if req.method == "GET":
            r["pull_count"] = r.get("pull_count", 0) + 1
        return Response(200, data if req.method == "GET" else b"",
                        {"Docker-Content-Digest": digest, "Content-Length-Override":
                         str(len(data)), "Content-Type": m["media_type"]})

    def put_manifest(self, req):
        name = req.params["name"]
        self.authorize(req, name, "push")
        ctype = (req.header("Content-Type") or "").split(";")[0].strip()
        try:
            doc = json.loads(req.body)
        except ValueError:
            raise oci_error(400, "MANIFEST_INVALID", "manifest invalid")
        ctype = ctype or doc.get("mediaType", "")
        if ctype not in MANIFEST_TYPES:
            raise oci_error(400, "MANIFEST_INVALID", "unsupported manifest media type %s" % ctype)
        r = self.repo(name, create=True)
        refs = [doc.get("config", {})] + list(doc.get("layers", []))
        for ref in refs:
            d = ref.get("digest")
            if d and not os.path.exists(self.blob_path(d)):
                raise oci_error(400, "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry: %s" % d)
        digest = "sha256:" + hashlib.sha256(req.body).hexdigest()
        with open(self.blob_path(digest), "wb") as f:
            f.write(req.body)
        for ref in refs:
            if ref.get("digest"):
                r["blobs"][ref["digest"]] = int(ref.get("size", 0))
        r["manifests"][digest] = {"media_type": ctype,
                                  "artifact_type": doc.get("config", {}).get("mediaType", ""),
                                  "size": len(req.body)}
        ref = req.params["ref"]
        if not DIGEST_RE.match(ref):
            r["tags"][ref] = digest
        elif ref != digest:
            raise oci_error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        r["update_time"] = self.h.store.now()
        self.h.store.save()
        return Response(201, b"", {"Location": "/v2/%s/manifests/%s" % (name, digest),
                                   "Docker-Content-Digest": digest})

    def delete_manifest(self, req):
        name = req.params["name"]
        self.authorize(req, name, "delete")
        r = self.repo(name)
        digest = self.resolve(r, req.params["ref"])
        if digest is None:
            raise oci_error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        del r["manifests"][digest]
        r["tags"] = {t: d for t, d in r["tags"].items() if d != digest}
        self.h.store.save()
        return Response(202)

    def get_blob(self, req):
        name = req.params["name"]
        self.authorize(req, name, "pull")
        r = self.repo(name)
        digest = req.params["digest"]
        linked = self.h.store.data["blob_links"].get(name, {})
        if (digest not in linked and (r is None or digest not in r["blobs"])) \
                or not os.path.exists(self.blob_path(digest)):
            raise oci_error(404, "BLOB_UNKNOWN", "blob unknown to registry")
        size = os.path.getsize(self.blob_path(digest))
        data = b""
        if req.method == "GET":
            with open(self.blob_path(digest), "rb") as f:
                data = f.read()
        return Response(200, data, {"Docker-Content-Digest": digest,
                                    "Content-Length-Override": str(size),
                                    "Content-Type": "application/octet-stream"})

    # ---- uploads -----------------------------------------------------------------------------
    def upload_headers(self, name, uid):
        size = os.path.getsize(os.path.join(self.upload_dir, uid))
        return {"Location": "/v2/%s/blobs/uploads/%s" % (name, uid), "Docker-Upload-UUID": uid,
                "Range": "0-%d" % max(size - 1, 0)}

    def start_upload(self, req):
        name = req.params["name"]
        self.authorize(req, name, "push")
        uid = str(uuid.uuid4())
        with open(os.path.join(self.upload_dir, uid), "wb") as f:
            f.write(b"")
        with self.lock:
            self.uploads[uid] = name
        if req.q("digest"):
            return self.complete(req, name, uid, req.q("digest"))
        return Response(202, b"", self.upload_headers(name, uid))

    def upload_of(self, req):
        name, uid = req.params["name"], req.params["uuid"]
        self.authorize(req, name, "push")
        with self.lock:
            if self.uploads.get(uid) != name:
                raise oci_error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry")
        return name, uid

    def patch_upload(self, req):
        name, uid = self.upload_of(req)
        with open(os.path.join(self.upload_dir, uid), "ab") as f:
            f.write(req.body)
        return Response(202, b"", self.upload_headers(name, uid))

    def upload_status(self, req):
        name, uid = self.upload_of(req)
        return Response(204, b"", self.upload_headers(name, uid))

    def cancel_upload(self, req):
        name, uid = self.upload_of(req)
        with self.lock:
            self.uploads.pop(uid, None)
        os.unlink(os.path.join(self.upload_dir, uid))
        return Response(204)

    def finish_upload(self, req):
        name, uid = self.upload_of(req)
        digest = req.q("digest")
        if not digest:
            raise oci_error(400, "DIGEST_INVALID", "digest missing")
        return self.complete(req, name, uid, digest)

    def complete(self, req, name, uid, digest):
        path = os.path.join(self.upload_dir, uid)
        with open(path, "ab") as f:
            f.write(req.body)
        with open(path, "rb") as f:
            got = "sha256:" + hashlib.sha256(f.read()).hexdigest()
        with self.lock:
            self.uploads.pop(uid, None)
        if got != digest:
            os.unlink(path)
            raise oci_error(400, "DIGEST_INVALID", "provided digest did not match uploaded content")
        size = os.path.getsize(path)
        os.replace(path, self.blob_path(digest))
        # A blob is linked to the repository it was pushed to; the repository itself appears
        # (in the API, and for the 412 on project deletion) with its first manifest.
        self.h.store.data["blob_links"].setdefault(name, {})[digest] = size
        self.h.store.save()
        return Response(201, b"", {"Location": "/v2/%s/blobs/%s" % (name, digest),
                                   "Docker-Content-Digest": digest})


def basic(header):
    if not header.lower().startswith("basic "):
        return None, None
    try:
        user, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, None
    return user, secret
