"""`examsys demo` ends with a demo sitting whose printed logins work for a candidate, and is not duplicated."""
from __future__ import annotations

from examsys.services.demo_sitting import demo_roster_csv, id_number
from examsys.services.pii import id_problem

from .conftest import csrf_token


def test_demo_id_numbers_are_valid():
    _, rows = demo_roster_csv("D01")
    assert len({r[2] for r in rows}) == len(rows)
    for _ticket, _name, id_ in rows:
        assert len(id_) == 18 and id_problem(id_) is None, id_
    assert id_number("110101", "19900101", 1, True)[-2] in "13579"  # 17th digit odd for men


def test_demo_command_prints_working_candidate_logins(app, runner, client):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "演示场次" in result.output
    line = next(x for x in result.output.splitlines() if x.strip().startswith("D") and "one-time code" in x)
    ticket, last6 = line.split()[:2]
    token = csrf_token(client, "/exam/login")
    resp = client.post("/exam/login", data={"csrf_token": token, "ticket": ticket, "credential": last6})
    assert resp.status_code == 200 and 'id="confirm-btn"' in resp.get_data(as_text=True), \
        resp.get_data(as_text=True)[-1500:]  # logged in: the reply is the 核对信息 page
    again = runner.invoke(args=["demo"])  # a second run reuses the sitting that is still ahead
    assert "Demo already loaded." in again.output
    assert again.output.count("演示场次") == 1 and ticket in again.output
