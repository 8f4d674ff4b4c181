"""Every route is classified (public / roles / candidate) and the classification is enforced.

The test walks the whole URL map: a route without a classification fails the build, so a new route
cannot ship unguarded. Then each staff role requests every GET route it is not allowed to see and must
be refused (403), and an anonymous visitor must be sent to a login (302/401).
"""
from __future__ import annotations

import pytest

from examsys.access import access_of
from examsys.models import Role

from .conftest import login

ROLES = [r.value for r in Role]


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        yield rule, app.view_functions[rule.endpoint]


def build(rule):
    import re
    path = rule.rule
    for full in re.findall(r"<([^>]+)>", path):
        name = full.split(":")[-1]
        conv = rule._converters[name].__class__.__name__
        value = "1" if conv in ("IntegerConverter", "NumberConverter") else "x"
        path = path.replace(f"<{full}>", value)
    return path


def test_every_route_is_classified(app):
    unclassified = [rule.rule for rule, view in _routes(app) if access_of(view) is None]
    assert unclassified == [], f"routes without an access classification: {unclassified}"


def test_classifications_are_known_kinds(app):
    for rule, view in _routes(app):
        kind = access_of(view)[0]
        assert kind in ("public", "roles", "candidate"), rule.rule
        if kind == "roles":
            assert set(access_of(view)[1]) <= set(ROLES), rule.rule


def test_anonymous_is_sent_to_login_everywhere_but_public_routes(client, app):
    for rule, view in _routes(app):
        kind = access_of(view)[0]
        if kind == "public" or "GET" not in rule.methods:
            continue
        resp = client.get(build(rule))
        assert resp.status_code in (302, 401), f"{rule.rule} answered {resp.status_code} to an anonymous visitor"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_refused_routes_of_other_roles(app, users, role):
    client = app.test_client()
    assert login(client, role).status_code == 302
    for rule, view in _routes(app):
        access = access_of(view)
        if "GET" not in rule.methods or access[0] == "public":
            continue
        resp = client.get(build(rule))
        if access[0] == "candidate":
            assert resp.status_code in (302, 401), f"{role} reached candidate route {rule.rule}"
        elif role not in access[1]:
            assert resp.status_code == 403, f"{role} got {resp.status_code} on {rule.rule} (allowed: {access[1]})"
        else:
            assert resp.status_code < 500, f"{role} got a server error on {rule.rule}"


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_refused_posts_of_other_roles(app, users, role):
    from .conftest import csrf_token
    client = app.test_client()
    login(client, role)
    token = csrf_token(client, "/")
    for rule, view in _routes(app):
        access = access_of(view)
        if "POST" not in rule.methods or access[0] != "roles" or role in access[1]:
            continue
        resp = client.post(build(rule), data={"csrf_token": token})
        assert resp.status_code == 403, f"{role} got {resp.status_code} on POST {rule.rule}"
