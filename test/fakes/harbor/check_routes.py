#!/usr/bin/env python3
"""Holds the Harbor double to Harbor's swagger: every route it serves under /api/v2.0 must be an
operation of the swagger with that method and those parameters (path, query, headers, body), and
every status it can answer must be one the swagger lists for it, or one named in the route's
`beyond_swagger` with the reason real Harbor answers it anyway.

The statuses a route can answer are read from the code, not taken on trust: every HarborError(...)
and Response(...) status in the handler and in the api.py functions it calls, transitively.

Usage: check_routes.py [SWAGGER]   (default: swagger-v2.15.2.yaml beside this script, a copy of
goharbor/harbor api/v2.0/swagger.yaml at tag v2.15.2, Apache-2.0)
Exit 0 when all hold, 1 with one line per violation otherwise. A missing python3 yaml module
(Debian python3-yaml) is a failure, not a skip.
"""

import ast
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def resolve(doc, p):
    if "$ref" in p:
        node = doc
        for part in p["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return node
    return p


def statuses_in_code():
    """function name -> (status constants it raises or answers, names of functions it calls,
    query parameters and headers it reads by name, body fields it reads: typed(b, "f"),
    b.get("f"), b["f"] with the body named b)."""
    tree = ast.parse(open(os.path.join(HERE, "api.py")).read())
    funcs = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            codes, calls, reads, fields = set(), set(), set(), set()
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call) and sub.args and len(sub.args) > 1 and \
                        isinstance(sub.func, ast.Name) and sub.func.id == "typed" and \
                        isinstance(sub.args[0], ast.Name) and sub.args[0].id == "b" and \
                        isinstance(sub.args[1], ast.Constant):
                    fields.add(sub.args[1].value)
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and \
                        sub.func.attr == "get" and isinstance(sub.func.value, ast.Name) and \
                        sub.func.value.id == "b" and sub.args and \
                        isinstance(sub.args[0], ast.Constant):
                    fields.add(sub.args[0].value)
                if isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Name) and \
                        sub.value.id == "b" and isinstance(sub.slice, ast.Constant):
                    fields.add(sub.slice.value)
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) \
                        and sub.func.attr in ("q", "header") and sub.args \
                        and isinstance(sub.args[0], ast.Constant):
                    reads.add(("query" if sub.func.attr == "q" else "header", sub.args[0].value))
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name):
                    calls.add(sub.func.id)
                    if sub.func.id in ("HarborError", "Response") and sub.args:
                        for c in ast.walk(sub.args[0]):
                            if isinstance(c, ast.Constant) and isinstance(c.value, int):
                                codes.add(c.value)
                    if sub.func.id == "Response" and not sub.args:
                        codes.add(200)
            funcs[node.name] = (codes, calls, reads, fields)
    return funcs


def reachable(funcs, name, index, seen=None):
    """The union of funcs[*][index] over `name` and every api.py function it calls."""
    seen = set() if seen is None else seen
    if name in seen or name not in funcs:
        return set()
    seen.add(name)
    out = set(funcs[name][index])
    for c in funcs[name][1]:
        out |= reachable(funcs, c, index, seen)
    return out


def main():
    swagger = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "swagger-v2.15.2.yaml")
    try:
        import yaml
    except ImportError:
        print("FAIL: the python3 yaml module is missing (Debian package python3-yaml)")
        return 1
    if not os.path.exists(swagger):
        print("FAIL: no swagger at %s" % swagger)
        return 1
    import api
    doc = yaml.load(open(swagger), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    base = doc.get("basePath", "")
    if base != api.BASE:
        print("FAIL: the swagger's basePath is %s, the double serves %s" % (base, api.BASE))
        return 1
    funcs = statuses_in_code()
    problems = []
    served = set()
    for r in api.ROUTES:
        op_name = "%s %s" % (r.method, r.template)
        if (r.method, r.template) in served:
            problems.append("%s: served twice" % op_name)
        served.add((r.method, r.template))
        item = doc["paths"].get(r.template)
        if item is None:
            problems.append("%s: no such path in the swagger" % op_name)
            continue
        op = item.get(r.method.lower())
        if op is None:
            problems.append("%s: the swagger has no %s on this path" % (op_name, r.method))
            continue
        params = [resolve(doc, p) for p in item.get("parameters", []) + op.get("parameters", [])]
        by_in = {}
        for p in params:
            by_in.setdefault(p["in"], {})[p["name"]] = p
        if set(r.path_params) != set(by_in.get("path", {})):
            problems.append("%s: path parameters %s, the swagger's %s" %
                            (op_name, sorted(r.path_params), sorted(by_in.get("path", {}))))
        for kind, used in (("query", r.query), ("header", r.headers)):
            declared = by_in.get(kind, {})
            for name in used:
                if name not in declared:
                    problems.append("%s: reads %s parameter %s the swagger does not declare" %
                                    (op_name, kind, name))
            for name, p in declared.items():
                if p.get("required") and name not in used:
                    problems.append("%s: ignores the required %s parameter %s" %
                                    (op_name, kind, name))
        body = list(by_in.get("body", {}))
        if (body[0] if body else None) != r.body:
            problems.append("%s: body parameter %s, the swagger's %s" % (op_name, r.body, body))
        elif body:
            schema = resolve(doc, by_in["body"][body[0]].get("schema", {}))
            known = set(schema.get("properties", {}))
            for f in sorted(reachable(funcs, r.handler.__name__, 3) - known):
                problems.append("%s: reads body field %s, which %s does not have" %
                                (op_name, f, body[0]))
        listed = {int(c) for c in op.get("responses", {}) if str(c).isdigit()}
        for kind, name in sorted(reachable(funcs, r.handler.__name__, 2)):
            if name not in (r.query if kind == "query" else r.headers):
                problems.append("%s: the code reads %s parameter %s the route does not declare"
                                % (op_name, kind, name))
        code = reachable(funcs, r.handler.__name__, 0)
        if r.auth:
            code.add(401)
        for s in sorted(code - r.statuses):
            problems.append("%s: the code can answer %d but the route does not declare it" %
                            (op_name, s))
        for s in sorted(r.statuses):
            if s in listed:
                if s in r.beyond_swagger:
                    problems.append("%s: %d is in the swagger, drop it from beyond_swagger" %
                                    (op_name, s))
            elif not r.beyond_swagger.get(s):
                problems.append("%s: answers %d, which the swagger does not list (%s) and no "
                                "beyond_swagger reason explains" % (op_name, s, sorted(listed)))
        for s in r.beyond_swagger:
            if s not in r.statuses:
                problems.append("%s: beyond_swagger names %d, which it never answers" %
                                (op_name, s))
    for p in problems:
        print("FAIL: " + p)
    beyond = [(r, s, why) for r in api.ROUTES for s, why in sorted(r.beyond_swagger.items())]
    print("%d routes checked against %s; %d answers beyond the swagger, each with its reason:" %
          (len(api.ROUTES), os.path.basename(swagger), len(beyond)))
    for r, s, why in beyond:
        print("  %-6s %-60s %d  %s" % (r.method, r.template, s, why))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
