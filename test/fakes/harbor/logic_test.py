#!/usr/bin/env python3
"""ctest harbor.double_logic: the double's pure pieces without sockets — Harbor's q= syntax,
the Link header, go-swagger's omitempty, robot secrets and RBAC, fault matching."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import api  # noqa: E402
import store as st  # noqa: E402
from httpcore import Faults, HarborError, Request  # noqa: E402


class QueryTest(unittest.TestCase):
    def test_terms(self):
        q = api.parse_q('Level=project,ProjectID=3,name=~pro,tags={a b},n=[1~5],x="q"')
        self.assertEqual(q["Level"], ("exact", "project"))
        self.assertEqual(q["ProjectID"], ("exact", "3"))
        self.assertEqual(q["name"], ("fuzzy", "pro"))
        self.assertEqual(q["tags"], ("any", ["a", "b"]))
        self.assertEqual(q["n"], ("range", ("1", "5")))
        self.assertEqual(q["x"], ("exact", "q"))

    def test_bad_term_is_400(self):
        with self.assertRaises(HarborError) as e:
            api.parse_q("Level")
        self.assertEqual(e.exception.status, 400)

    def test_match(self):
        self.assertTrue(api.q_match("springcloud+pro", ("fuzzy", "pro")))
        self.assertFalse(api.q_match("springcloud+pro", ("exact", "pro")))
        self.assertTrue(api.q_match(3, ("range", ("1", "5"))))


class PagingTest(unittest.TestCase):
    def req(self, target):
        return Request("GET", target, {}, b"", "id")

    def test_links_both_ways(self):
        r = api.paged(self.req("/api/v2.0/robots?q=Level%3Dproject&page=2&page_size=1"),
                      [1, 2, 3], lambda x: x)
        self.assertEqual(r.headers["X-Total-Count"], "3")
        self.assertEqual(r.headers["Link"],
                         '</api/v2.0/robots?page=1&page_size=1&q=Level=project>; rel="prev" , '
                         '</api/v2.0/robots?page=3&page_size=1&q=Level=project>; rel="next"')

    def test_one_page_has_no_link(self):
        r = api.paged(self.req("/api/v2.0/projects"), [1, 2], lambda x: x)
        self.assertNotIn("Link", r.headers)

    def test_page_size_above_100_is_422(self):
        with self.assertRaises(HarborError) as e:
            api.paged(self.req("/api/v2.0/projects?page_size=101"), [], lambda x: x)
        self.assertEqual(e.exception.status, 422)


class SortTest(unittest.TestCase):
    def test_default_and_given(self):
        items = [{"name": "b", "project_id": 1, "creation_time": 2, "update_time": 0},
                 {"name": "a", "project_id": 2, "creation_time": 1, "update_time": 0}]
        names = lambda target: [p["name"] for p in api.sorted_by(  # noqa: E731
            Request("GET", target, {}, b"", "id"), items, api.PROJECT_SORTS, "name")]
        self.assertEqual(names("/p"), ["a", "b"])
        self.assertEqual(names("/p?sort=-name"), ["b", "a"])
        self.assertEqual(names("/p?sort=project_id"), ["b", "a"])
        self.assertEqual(names("/p?sort=bogus"), ["a", "b"])


class OmitEmptyTest(unittest.TestCase):
    def test_zero_values_leave_unless_kept(self):
        self.assertEqual(api.omit({"a": 0, "b": False, "c": "", "d": [], "e": 1, "f": 0},
                                  keep=("f",)), {"e": 1, "f": 0})

    def test_severity_shown_as_cvss(self):
        self.assertEqual(api.shown_metadata({"severity": "HIGH"})["severity"], "high")
        self.assertEqual(api.shown_metadata({"severity": "negligible"})["severity"], "none")
        self.assertEqual(api.shown_metadata({"severity": "bad"})["severity"], "unknown")


class StoreTest(unittest.TestCase):
    def setUp(self):
        self.s = st.Store(None, "Admin1Password")

    def robot(self, access):
        pid = self.s.create_project("springcloud", {"public": "false"}, -1)
        r = {"id": 1, "name": "springcloud+pro", "project_id": pid, "disable": False,
             "expires_at": -1, "permissions": [{"kind": "project", "namespace": "springcloud",
                                                "access": access}]}
        self.s.set_robot_secret(r, "Robot1Secret")
        self.s.data["robots"]["1"] = r
        return pid, r

    def test_secret_rule(self):
        self.assertTrue(st.valid_secret("Abcdefg1"))
        self.assertFalse(st.valid_secret("abcdefg1"))
        self.assertFalse(st.valid_secret("Abc1"))
        self.assertFalse(st.valid_secret("A1" + "a" * 127))
        self.assertTrue(st.valid_secret(st.random_secret()))

    def test_robot_credentials_and_revocation(self):
        pid, r = self.robot([{"resource": "repository", "action": "pull"}])
        p = self.s.authenticate("robot$springcloud+pro", "Robot1Secret")
        self.assertEqual(p["kind"], "robot")
        self.assertIsNone(self.s.authenticate("robot$springcloud+pro", "wrong"))
        self.assertTrue(self.s.can(p, pid, "repository", "pull"))
        self.assertFalse(self.s.can(p, pid, "repository", "push"))
        self.assertFalse(self.s.can(p, pid, "", "read"))
        self.s.set_robot_secret(r, "Robot2Secret")
        self.assertFalse(self.s.principal_still_valid(p))
        r["expires_at"] = int(self.s.now()) - 1
        self.assertIsNone(self.s.authenticate("robot$springcloud+pro", "Robot2Secret"))

    def test_project_read_access_reads_the_project(self):
        pid, _ = self.robot([{"resource": "project", "action": "read"}])
        p = self.s.authenticate("robot$springcloud+pro", "Robot1Secret")
        self.assertTrue(self.s.can(p, pid, "", "read"))

    def test_public_project_is_readable_by_anyone(self):
        self.assertTrue(self.s.can(None, 1, "repository", "pull"))  # library
        self.assertFalse(self.s.can(None, 1, "repository", "push"))

    def test_admin_password(self):
        self.assertEqual(self.s.authenticate("admin", "Admin1Password")["kind"], "admin")
        self.assertIsNone(self.s.authenticate("admin", "Admin1password"))


class FaultTest(unittest.TestCase):
    def test_skip_count_query(self):
        f = Faults()
        f.add({"method": "POST", "path": "^/api/v2.0/robots$", "query": "x=1", "skip": 1,
               "count": 1})
        self.assertIsNone(f.take("POST", "/api/v2.0/robots", "x=1"))  # skipped
        self.assertIsNone(f.take("GET", "/api/v2.0/robots", "x=1"))  # other method
        self.assertIsNone(f.take("POST", "/api/v2.0/robots", "x=2"))  # other query
        self.assertIsNotNone(f.take("POST", "/api/v2.0/robots", "x=1"))
        self.assertIsNone(f.take("POST", "/api/v2.0/robots", "x=1"))  # count used up
        self.assertEqual(f.list(), [])

    def test_bad_action_refused(self):
        with self.assertRaises(ValueError):
            Faults().add({"action": "explode"})


if __name__ == "__main__":
    unittest.main()
