"""Taxonomy pages: view the tree, edit a node, add and delete nodes, weights, import .xlsx/YAML, export;
every edit validated on the whole tree, nothing stored on error."""
from __future__ import annotations

import io

import yaml
from sqlalchemy import select

from examsys.extensions import db
from examsys.models import KnowledgeNode, Occupation, WeightEntry
from examsys.services import items as item_service
from examsys.services import taxonomy as taxonomy_service

from .conftest import csrf_token
from .test_bank_io import ITEMS, TAXONOMY


def _occ(app):
    with app.app_context():
        occ = taxonomy_service.upsert_taxonomy(TAXONOMY)
        db.session.commit()
        return occ.id


def _node(code):
    return db.session.execute(select(KnowledgeNode).where(KnowledgeNode.code == code)).scalar_one_or_none()


def test_everyone_with_a_role_sees_the_tree_but_only_admin_edits(app, client, login_as):
    occ_id = _occ(app)
    login_as("writer")
    html = client.get(f"/taxonomy/{occ_id}").get_data(as_text=True)
    assert "B-A-001" in html and 'id="add-node"' not in html
    token = csrf_token(client, f"/taxonomy/{occ_id}")
    assert client.post(f"/taxonomy/{occ_id}/nodes/B-A-001", data={"csrf_token": token, "name": "x"}).status_code == 403


def test_edit_node_and_reject_bad_grade(app, client, login_as):
    occ_id = _occ(app)
    login_as("admin")
    token = csrf_token(client, f"/taxonomy/{occ_id}")
    resp = client.post(f"/taxonomy/{occ_id}/nodes/B-A-001",
                       data={"csrf_token": token, "name": "G71 外圆粗车循环", "importance": "Y", "grades": ["4"]})
    assert resp.status_code == 302
    with app.app_context():
        n = _node("B-A-001")
        assert (n.name, n.importance, n.grades) == ("G71 外圆粗车循环", "Y", [4])
    resp = client.post(f"/taxonomy/{occ_id}/nodes/B-A-001",
                       data={"csrf_token": token, "name": "x", "importance": "Q", "grades": ["9"]})
    assert resp.status_code == 400 and 'id="taxonomy-problems"' in resp.get_data(as_text=True)
    with app.app_context():
        assert _node("B-A-001").importance == "Y"  # unchanged


def test_add_and_delete_nodes_and_protect_used_points(app, client, login_as):
    occ_id = _occ(app)
    with app.app_context():
        item_service.create_item(ITEMS[0], None, status="approved")  # uses B-A-001
    login_as("admin")
    token = csrf_token(client, f"/taxonomy/{occ_id}")
    resp = client.post(f"/taxonomy/{occ_id}/nodes", data={"csrf_token": token, "parent": "B-A", "code": "B-A-003",
                                                          "name": "G76 螺纹复合循环", "importance": "X",
                                                          "grades": ["3"]})
    assert resp.status_code == 302
    with app.app_context():
        assert _node("B-A-003").parent.code == "B-A"
    assert client.post(f"/taxonomy/{occ_id}/nodes/B-A-003/delete", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        assert _node("B-A-003") is None
    resp = client.post(f"/taxonomy/{occ_id}/nodes/B-A-001/delete", data={"csrf_token": token})
    assert resp.status_code == 400
    with app.app_context():
        assert _node("B-A-001") is not None
    # a code that does not extend its parent's code is refused
    resp = client.post(f"/taxonomy/{occ_id}/nodes", data={"csrf_token": token, "parent": "B-A", "code": "C-Z-001",
                                                          "name": "错误代码", "importance": "X", "grades": ["3"]})
    assert resp.status_code == 400


def test_weights_must_sum_to_100(app, client, login_as):
    occ_id = _occ(app)
    login_as("admin")
    token = csrf_token(client, f"/taxonomy/{occ_id}")
    data = {"csrf_token": token, "w|theory|4|A": "30", "w|theory|4|B": "60", "w|theory|3|A": "40", "w|theory|3|B": "60"}
    assert client.post(f"/taxonomy/{occ_id}/weights", data=data).status_code == 400
    data["w|theory|4|B"] = "70"
    assert client.post(f"/taxonomy/{occ_id}/weights", data=data).status_code == 302
    with app.app_context():
        w = db.session.execute(select(WeightEntry).where(WeightEntry.grade == 4, WeightEntry.area_code == "B")).scalar_one()
        assert w.weight == 70


def test_import_yaml_and_xlsx_round_trip(app, client, login_as):
    occ_id = _occ(app)
    login_as("admin")
    xlsx = client.get(f"/taxonomy/{occ_id}/export.xlsx")
    assert xlsx.status_code == 200
    resp = client.get(f"/taxonomy/{occ_id}/export.yaml")
    assert resp.headers["Content-Type"] == "application/yaml; charset=utf-8"
    exported = yaml.safe_load(resp.data)
    changed = dict(exported, occupation={"code": "6-31-01-03", "name": "电工", "work_type": "维修电工"})
    token = csrf_token(client, "/taxonomy/")
    resp = client.post("/taxonomy/import", data={"csrf_token": token,
                                                  "file": (io.BytesIO(yaml.safe_dump(changed, allow_unicode=True).encode()),
                                                           "elec.yaml")}, content_type="multipart/form-data")
    assert resp.status_code == 302
    resp = client.post("/taxonomy/import", data={"csrf_token": token, "file": (io.BytesIO(xlsx.data), "tree.xlsx")},
                       content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[-2000:]
    with app.app_context():
        assert db.session.execute(select(Occupation.code).order_by(Occupation.code)).scalars().all() == [
            "6-18-01-01", "6-31-01-03"]
        assert taxonomy_service.taxonomy_dict(db.session.get(Occupation, occ_id))["tree"] == TAXONOMY["tree"]
    bad = yaml.safe_dump({"occupation": {"code": "X"}, "tree": "oops"}).encode()
    resp = client.post("/taxonomy/import", data={"csrf_token": token, "file": (io.BytesIO(bad), "bad.yaml")},
                       content_type="multipart/form-data")
    assert resp.status_code == 400 and 'id="taxonomy-problems"' in resp.get_data(as_text=True)


def test_a_weight_that_is_not_a_number_is_a_located_problem_not_a_500(app, client, login_as):
    occ_id = _occ(app)
    login_as("admin")
    token = csrf_token(client, f"/taxonomy/{occ_id}")
    resp = client.post(f"/taxonomy/{occ_id}/weights", data={"csrf_token": token, "w|theory|4|A": "abc"})
    assert resp.status_code == 400
    assert 'id="taxonomy-problems"' in resp.get_data(as_text=True)
    assert client.post(f"/taxonomy/{occ_id}/weights", data={"csrf_token": token, "w|bad": "1"}).status_code == 400


def _problems(resp) -> list[str]:
    import re
    html = resp.get_data(as_text=True)
    block = html.split('id="taxonomy-problems"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r"<li>(.*?)</li>", block, re.S)


def test_problems_name_the_node_by_its_code_without_raw_paths(app, client, login_as):
    occ_id = _occ(app)
    login_as("admin")
    token = csrf_token(client, f"/taxonomy/{occ_id}")
    resp = client.post(f"/taxonomy/{occ_id}/nodes/B-A-001",
                       data={"csrf_token": token, "name": "", "importance": "Q", "grades": ["9"]})
    problems = _problems(resp)
    assert problems and not any("[" in p or "tree" in p or "鉴定范围第" in p for p in problems), problems
    assert any(p.startswith("鉴定点 B-A-001 的重要程度：") for p in problems), problems
    assert any(p.startswith("鉴定点 B-A-001 的名称：") for p in problems), problems
    resp = client.post(f"/taxonomy/{occ_id}/weights", data={"csrf_token": token, "w|theory|4|A": "-5"})
    assert all("weights" not in p and "[" not in p for p in _problems(resp)), _problems(resp)
    bad = yaml.safe_dump({**TAXONOMY, "occupation": {"code": "6-31-01-03", "name": ""}}, allow_unicode=True).encode()
    resp = client.post("/taxonomy/import", data={"csrf_token": token, "file": (io.BytesIO(bad), "bad.yaml")},
                       content_type="multipart/form-data")
    assert "职业名称：必填，不能为空" in _problems(resp)
    client.get("/lang/en")
    resp = client.post(f"/taxonomy/{occ_id}/nodes/B-A-001",
                       data={"csrf_token": token, "name": "x", "importance": "Q", "grades": ["4"]})
    assert any(p.startswith("knowledge point B-A-001, importance: ") for p in _problems(resp)), _problems(resp)


def test_node_forms_label_every_control_and_keep_grades_on_one_line(app, client, login_as):
    import re
    from pathlib import Path
    occ_id = _occ(app)
    login_as("admin")
    html = client.get(f"/taxonomy/{occ_id}").get_data(as_text=True)
    forms = re.findall(r'<form method="post" action="/taxonomy/\d+/nodes(?:/[^/"]+)?" class="[^"]*".*?</form>', html, re.S)
    assert forms
    for form in forms:  # every text field and select sits inside a <label> with text; checkboxes in a fieldset
        for control in re.findall(r"<(?:input|select)(?![^>]*type=\"hidden\")[^>]*>", form):
            before = form[:form.index(control)]
            assert before.rfind("<label") > before.rfind("</label>"), control
        if 'name="grades"' in form:
            assert '<fieldset class="checks"><legend>等级</legend>' in form
    assert "姓名" not in html.split('id="add-node"', 1)[1]  # a node has a 名称, not a person's 姓名
    assert 'name="w|theory|4|A" value="40"' in html  # weights as people write them, not 40.0
    css = (Path(__file__).resolve().parents[2] / "static/css/app.css").read_text(encoding="utf-8")
    assert "fieldset.checks" in css and "flex-direction:row" in css.split("fieldset.checks label.inline", 1)[1]
