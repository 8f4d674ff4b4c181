"""Blueprints (组卷方案) and frozen papers through the web UI and the JSON API: validation messages that name
the field with nothing stored, derive/upload/download, assembling from the database (disjoint forms, check
report, same seed same paper, exposure recorded), infeasible explanations, print views, role and ownership."""
from __future__ import annotations

import copy
import io
import json
import re

import pytest
import yaml
from sqlalchemy import func, select

from examsys.extensions import db
from examsys.models import AuditLog, Blueprint, Item, ItemUsage, Paper, PaperItem

from . import papers_support as S
from .conftest import csrf_token, login


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


@pytest.fixture
def occ_id(app):
    return S.seed_bank(app)


@pytest.fixture
def admin(login_as, client):
    login_as("admin")
    return client


def post_spec(client, occ_id, spec, *, action="save", name="方案", url="/papers/blueprints/new", grade=4, **extra):
    token = csrf_token(client, "/papers/blueprints/new")
    text = spec if isinstance(spec, str) else yaml.safe_dump(spec, allow_unicode=True)
    data = {"csrf_token": token, "name": name, "occupation_id": occ_id, "grade": grade, "spec": text,
            "preset": "classic-200", "action": action}
    data.update(extra)
    return client.post(url, data=data, content_type="multipart/form-data")


def problems_of(resp) -> list[str]:
    html = resp.get_data(as_text=True)
    block = re.search(r'<div class="problems".*?</ul>', html, re.S)
    return re.findall(r"<li>(.*?)</li>", block.group(0), re.S) if block else []


def save_blueprint(app, occ_id, spec=None) -> int:
    from examsys.services import papers as papers_service
    with app.app_context():
        row, _ = papers_service.save_blueprint(occupation_id=occ_id, grade=4, name="测试方案",
                                               data=spec or S.blueprint(), actor=None)
        return row.id


def assemble(client, bid, **fields):
    token = csrf_token(client, f"/papers/blueprints/{bid}")
    data = {"csrf_token": token, "part": "theory", "forms": 2, "seed": 7, "time_limit": 30, "station_id": 0}
    data.update(fields)
    return client.post(f"/papers/blueprints/{bid}/assemble", data=data)


def paper_items(app, paper_id) -> dict[str, list[int]]:
    with app.app_context():
        paper = db.session.get(Paper, paper_id)
        return {f.label: [pi.item_version_id for pi in f.items] for f in paper.forms}


# ----------------------------------------------------------------------------------------------
# blueprint validation: every bad input names the field and stores nothing
# ----------------------------------------------------------------------------------------------
def _bad_sum():
    bp = S.blueprint()
    bp["theory"]["sections"][0]["count"] = 13
    return bp, "theory.sections"


def _unknown_area():
    bp = S.blueprint()
    bp["theory"]["areas"]["weights"] = {"A": 40, "Q": 60}
    return bp, "theory.areas.weights.Q"


def _unknown_point():
    bp = S.blueprint()
    bp["theory"]["coverage"]["x_points"] = ["A-A-001", "Z-Z-999"]
    return bp, "theory.coverage.x_points[1]"


def _negative():
    bp = S.blueprint()
    bp["theory"]["areas"]["tolerance"] = -1
    return bp, "theory.areas.tolerance"


def _not_a_number():
    bp = S.blueprint()
    bp["theory"]["sections"][1]["points"] = "abc"
    return bp, "theory.sections[1].points"


def _window_granularity():
    bp = S.blueprint()
    bp["theory"]["areas"]["tolerance"] = 0
    bp["theory"]["areas"]["windows"] = {"A": [8.2, 8.6]}
    return bp, "theory.areas.windows.A"


def _unknown_module_area():
    bp = S.blueprint()
    bp["practical"]["modules"][1]["area"] = "P-Z"
    return bp, "practical.modules[1].area"


@pytest.mark.parametrize("case", [_bad_sum, _unknown_area, _unknown_point, _negative, _not_a_number,
                                  _window_granularity, _unknown_module_area])
def test_bad_blueprint_is_refused_with_the_field_named_and_nothing_stored(app, admin, occ_id, case):
    spec, field = case()
    with app.app_context():
        audits = count(AuditLog)
    resp = post_spec(admin, occ_id, spec)
    assert resp.status_code == 400
    msgs = problems_of(resp)
    assert msgs and any(field in m for m in msgs), msgs
    with app.app_context():
        assert count(Blueprint) == 0
        assert count(AuditLog) == audits


def test_sum_message_says_what_the_sections_add_up_to(app, admin, occ_id):
    spec, _ = _bad_sum()
    msgs = problems_of(post_spec(admin, occ_id, spec))
    assert any("13×1 + 8×1 = 21" in m and "20" in m for m in msgs), msgs


def test_yaml_syntax_error_names_the_line(app, admin, occ_id):
    resp = post_spec(admin, occ_id, "theory:\n  total_points: [1, 2\n  sections: x\n")
    assert resp.status_code == 400
    assert any("YAML" in m and "行" in m for m in problems_of(resp))
    with app.app_context():
        assert count(Blueprint) == 0


def test_grade_mismatch_and_missing_name_are_reported(app, admin, occ_id):
    resp = post_spec(admin, occ_id, S.blueprint(grade=3, name=""), name="")  # no name in the form nor the spec
    msgs = problems_of(resp)
    assert resp.status_code == 400
    assert any(m.startswith("grade") for m in msgs) and any(m.startswith("name") for m in msgs), msgs


def test_validate_button_checks_without_storing(app, admin, occ_id):
    resp = post_spec(admin, occ_id, S.blueprint(), action="validate")
    assert resp.status_code == 200
    assert 'id="blueprint-valid"' in resp.get_data(as_text=True)
    with app.app_context():
        assert count(Blueprint) == 0


def test_save_stores_spec_and_hash_and_audits(app, admin, occ_id):
    from question_bank.blueprint import blueprint_hash
    resp = post_spec(admin, occ_id, S.blueprint())
    assert resp.status_code == 302
    with app.app_context():
        row = db.session.execute(select(Blueprint)).scalar_one()
        assert row.spec_hash == blueprint_hash(S.blueprint()) and len(row.spec_hash) == 64
        assert row.spec["theory"]["sections"][0]["count"] == 12
        entry = db.session.execute(select(AuditLog).where(AuditLog.action == "blueprint.create")).scalar_one()
        assert entry.object_id == str(row.id) and entry.actor_label == "admin"
        bid = row.id
    # edit: a new spec replaces the old one, audited with before and after
    spec = S.blueprint()
    spec["theory"]["difficulty"]["mean_p"] = [0.55, 0.85]
    resp = post_spec(admin, occ_id, spec, url=f"/papers/blueprints/{bid}/edit")
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(Blueprint, bid).spec["theory"]["difficulty"]["mean_p"] == [0.55, 0.85]
        upd = db.session.execute(select(AuditLog).where(AuditLog.action == "blueprint.update")).scalar_one()
        assert upd.before["spec_hash"] != upd.after["spec_hash"]


def test_derive_from_weight_tables_fills_the_editor_without_storing(app, admin, occ_id):
    resp = post_spec(admin, occ_id, "", action="derive", preset="standard-100")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    text = re.search(r'<textarea[^>]*name="spec"[^>]*>(.*?)</textarea>', html, re.S).group(1)
    import html as html_mod
    spec = yaml.safe_load(html_mod.unescape(text))
    assert spec["theory"]["areas"]["weights"] == {"A": 40, "B": 60}
    assert [m["area"] for m in spec["practical"]["modules"]] == ["P-A", "P-B"]
    with app.app_context():
        assert count(Blueprint) == 0
    # and the derived text saves as it is (the standard-100 layout needs 100 items; validation only)
    resp = post_spec(admin, occ_id, html_mod.unescape(text), action="validate")
    assert resp.status_code == 200, problems_of(resp)


def test_upload_and_download_round_trip(app, admin, occ_id):
    token = csrf_token(admin, "/papers/blueprints/new")
    body = json.dumps(S.blueprint(), ensure_ascii=False).encode("utf-8")
    resp = admin.post("/papers/blueprints/new", data={
        "csrf_token": token, "name": "上传", "occupation_id": occ_id, "grade": 4, "spec": "", "preset": "classic-200",
        "action": "save", "upload": (io.BytesIO(body), "bp.json")}, content_type="multipart/form-data")
    assert resp.status_code == 302, problems_of(resp)
    bid = int(resp.headers["Location"].rsplit("/", 1)[1])
    y = admin.get(f"/papers/blueprints/{bid}/download.yaml")
    j = admin.get(f"/papers/blueprints/{bid}/download.json")
    assert y.status_code == j.status_code == 200
    assert "attachment" in y.headers["Content-Disposition"]
    assert y.headers["Content-Type"] == "application/yaml; charset=utf-8" and j.mimetype == "application/json"
    from question_bank.blueprint import blueprint_hash
    assert blueprint_hash(yaml.safe_load(y.get_data(as_text=True))) == blueprint_hash(json.loads(j.data))
    assert blueprint_hash(json.loads(j.data)) == blueprint_hash(S.blueprint())


def test_upload_that_is_not_utf8_is_refused(app, admin, occ_id):
    token = csrf_token(admin, "/papers/blueprints/new")
    resp = admin.post("/papers/blueprints/new", data={
        "csrf_token": token, "name": "x", "occupation_id": occ_id, "grade": 4, "spec": "", "preset": "classic-200",
        "action": "save", "upload": (io.BytesIO(b"\xff\xfe\x00bad"), "bp.yaml")}, content_type="multipart/form-data")
    assert resp.status_code == 400
    assert any(m.startswith("upload") for m in problems_of(resp))


def test_api_validate_and_create(app, admin, occ_id):
    token = csrf_token(admin, "/papers/")
    h = {"X-CSRFToken": token}
    bad, field = _unknown_area()
    r = admin.post("/papers/api/blueprints", json={"occupation": S.OCC, "grade": 4, "name": "x", "spec": bad}, headers=h)
    assert r.status_code == 422
    assert field in [p["field"] for p in r.get_json()["problems"]]
    r = admin.post("/papers/api/blueprints/validate", json={"occupation": S.OCC, "spec": S.blueprint()}, headers=h)
    assert r.status_code == 200 and r.get_json()["valid"] is True
    r = admin.post("/papers/api/blueprints", json={"occupation": S.OCC, "yaml": "grade: [", "name": "x"}, headers=h)
    assert r.status_code == 422 and r.get_json()["problems"][0]["field"] == "spec"
    with app.app_context():
        assert count(Blueprint) == 0
    r = admin.post("/papers/api/blueprints", json={"occupation": S.OCC, "grade": 4, "name": "API", "spec": S.blueprint()},
                   headers=h)
    assert r.status_code == 201 and len(r.get_json()["spec_hash"]) == 64


# ----------------------------------------------------------------------------------------------
# assembling from the database
# ----------------------------------------------------------------------------------------------
def test_assemble_stores_disjoint_forms_report_and_usage(app, admin, occ_id, users):
    bid = save_blueprint(app, occ_id)
    resp = assemble(admin, bid, station_id=users["station_manager"].station_id)
    assert resp.status_code == 302, problems_of(resp)
    pid = int(resp.headers["Location"].rsplit("/", 1)[1])
    forms = paper_items(app, pid)
    assert sorted(forms) == ["A", "B"]
    assert all(len(v) == 20 for v in forms.values())
    assert not set(forms["A"]) & set(forms["B"])
    with app.app_context():
        paper = db.session.get(Paper, pid)
        rep = paper.check_report
        assert rep["passed"] is True and rep["n_checks"] > 10 and rep["status"] in ("optimal", "feasible")
        assert {c["form"] for c in rep["checks"]} >= {"A", "B"}
        assert paper.seed == 7 and paper.blueprint_hash == db.session.get(Blueprint, bid).spec_hash
        assert "HiGHS" in paper.solver and paper.part == "theory" and paper.total_points == 20
        positions = [pi.position for pi in paper.forms[0].items]
        assert positions == list(range(1, 21))
        assert {pi.section for pi in paper.forms[0].items} == {"single_choice", "true_false"}
        # usage: one row per item, exposure counts bumped, station recorded; audited
        assert count(ItemUsage) == 40
        used = db.session.execute(select(Item).where(Item.exposure_count == 1)).scalars().all()
        assert len(used) == 40
        assert {u.station_id for u in db.session.execute(select(ItemUsage)).scalars()} == {paper.station_id}
        assert db.session.execute(select(AuditLog).where(AuditLog.action == "paper.assemble")).scalar_one()
    page = admin.get(f"/papers/{pid}").get_data(as_text=True)
    assert 'id="report-A"' in page and 'id="report-B"' in page and "全部" in page


def test_constraint_report_speaks_the_ui_language(app, admin, occ_id):
    """Targets and achieved values are Chinese on the Chinese UI (English on the English one), also for papers
    whose stored report predates the Chinese texts."""
    bid = save_blueprint(app, occ_id)
    resp = assemble(admin, bid)
    pid = int(resp.headers["Location"].rsplit("/", 1)[1])

    def report_cells(page):
        tables = re.findall(r'<table class="grid report".*?</table>', page, re.S)
        return " ".join(re.sub(r"<[^>]+>", " ", t) for t in tables)

    cells = report_cells(admin.get(f"/papers/{pid}").get_data(as_text=True))
    assert "同一试题不重复" in cells and "符合" in cells and "每题至多用于 1 套试卷" in cells
    assert not re.search(r"\b(no item twice|ok|covered|form\(s\)|per item|per point|min|items)\b", cells), cells
    with app.app_context():  # a report stored before the Chinese texts were stored with it
        paper = db.session.get(Paper, pid)
        rep = copy.deepcopy(paper.check_report)
        for c in rep["checks"]:
            c.pop("target_zh"), c.pop("achieved_zh")
        paper.check_report = rep
        db.session.commit()
    legacy = report_cells(admin.get(f"/papers/{pid}").get_data(as_text=True))
    assert legacy == cells
    admin.get("/lang/en")
    english = report_cells(admin.get(f"/papers/{pid}").get_data(as_text=True))
    assert "no item twice" in english and "≤ 1 form(s) per item" in english and "同一试题" not in english


def test_same_seed_same_paper_other_seed_other_paper(app, admin, occ_id):
    bid = save_blueprint(app, occ_id)
    p1 = int(assemble(admin, bid, seed=11).headers["Location"].rsplit("/", 1)[1])
    p2 = int(assemble(admin, bid, seed=11).headers["Location"].rsplit("/", 1)[1])
    p3 = int(assemble(admin, bid, seed=12345).headers["Location"].rsplit("/", 1)[1])
    assert paper_items(app, p1) == paper_items(app, p2)
    assert paper_items(app, p1) != paper_items(app, p3)


def test_exclude_recent_papers_of_the_station(app, admin, occ_id):
    bid = save_blueprint(app, occ_id)
    p1 = int(assemble(admin, bid, forms=1).headers["Location"].rsplit("/", 1)[1])
    resp = assemble(admin, bid, forms=1, exclude_recent=1)
    assert resp.status_code == 302, problems_of(resp)
    p2 = int(resp.headers["Location"].rsplit("/", 1)[1])
    assert not set(paper_items(app, p1)["A"]) & set(paper_items(app, p2)["A"])


def test_max_exposure_excludes_used_items(app, admin, occ_id):
    bid = save_blueprint(app, occ_id)
    p1 = int(assemble(admin, bid, forms=1).headers["Location"].rsplit("/", 1)[1])
    p2 = int(assemble(admin, bid, forms=1, max_exposure="0.5").headers["Location"].rsplit("/", 1)[1])
    assert not set(paper_items(app, p1)["A"]) & set(paper_items(app, p2)["A"])


def test_infeasible_blueprint_explained_and_nothing_stored(app, admin, occ_id):
    bid = save_blueprint(app, occ_id)
    with app.app_context():
        audits = count(AuditLog)
    resp = assemble(admin, bid, forms=9)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'id="infeasible"' in html
    assert "X 鉴定点 A-A-001 只有 7 道可用试题" in html
    with app.app_context():
        assert count(Paper) == count(PaperItem) == count(ItemUsage) == 0
        assert count(AuditLog) == audits
        assert db.session.execute(select(func.max(Item.exposure_count))).scalar_one() == 0


def test_bad_assemble_input_is_refused_by_field(app, admin, occ_id):
    bid = save_blueprint(app, occ_id)
    resp = assemble(admin, bid, forms=0, time_limit="abc")
    assert resp.status_code == 400
    html = resp.get_data(as_text=True)
    assert 'data-field="forms"' in html and 'data-field="time_limit"' in html
    resp = assemble(admin, bid, max_exposure="2")
    assert resp.status_code == 400 and 'data-field="max_exposure"' in resp.get_data(as_text=True)
    with app.app_context():
        assert count(Paper) == 0


def test_practical_paper_stores_task_weights(app, admin, occ_id):
    bid = save_blueprint(app, occ_id)
    resp = assemble(admin, bid, part="practical")
    assert resp.status_code == 302, problems_of(resp)
    pid = int(resp.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        paper = db.session.get(Paper, pid)
        assert paper.part == "practical" and paper.check_report["passed"]
        for form in paper.forms:
            assert [(pi.section, pi.weight, pi.points) for pi in form.items] == [("P-A", 60.0, 60.0), ("P-B", 40.0, 40.0)]
    for kind, present, absent in (("prep", "CK6140 数控车床", S.KEY_MARK), ("tasks", "实操任务", S.KEY_MARK),
                                  ("scoresheet", S.KEY_MARK, None)):
        html = admin.get(f"/papers/{pid}/A/{kind}.html").get_data(as_text=True)
        assert present in html
        if absent:
            assert absent not in html
    assert admin.get(f"/papers/{pid}/A/candidate.html").status_code == 404


def test_api_assemble(app, client, occ_id, users, login_as):
    bid = save_blueprint(app, occ_id)
    login_as("station_manager")
    h = {"X-CSRFToken": csrf_token(client, "/papers/")}
    r = client.post(f"/papers/api/blueprints/{bid}/assemble", json={"forms": 9, "seed": 1}, headers=h)
    assert r.status_code == 422 and r.get_json()["findings"]
    r = client.post(f"/papers/api/blueprints/{bid}/assemble", json={"forms": 2, "seed": 1, "time_limit": 30}, headers=h)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["forms"] == ["A", "B"] and body["check"]["passed"]
    with app.app_context():  # a station manager's paper belongs to their station
        assert db.session.get(Paper, body["id"]).station_id == users["station_manager"].station_id


# ----------------------------------------------------------------------------------------------
# print views (HTML); the PDFs are tested in test_papers_pdf.py
# ----------------------------------------------------------------------------------------------
def test_candidate_paper_has_no_keys_and_key_sheet_has_them(app, admin, occ_id):
    bid = save_blueprint(app, occ_id, S.MIXED_BLUEPRINT)
    resp = assemble(admin, bid)
    assert resp.status_code == 302, problems_of(resp)
    pid = int(resp.headers["Location"].rsplit("/", 1)[1])
    cand = admin.get(f"/papers/{pid}/A/candidate.html").get_data(as_text=True)
    key = admin.get(f"/papers/{pid}/A/key.html").get_data(as_text=True)
    assert S.KEY_MARK not in cand and S.KEY_MARK in key
    assert "答题卡" in cand and "单项选择题" in cand and "第1题～第10题" in cand
    assert "key-grid" not in cand and "key-grid" in key
    with app.app_context():
        paper = db.session.get(Paper, pid)
        first = paper.forms[0].items[0].item_version
        assert first.stem in cand
        assert f"<strong>{first.content['key']}</strong>" in key
        assert f"<strong>{first.content['key']}</strong>" not in cand


# ----------------------------------------------------------------------------------------------
# roles and ownership
# ----------------------------------------------------------------------------------------------
def test_station_manager_sees_only_own_station_papers(app, client, occ_id, users, make_user, login_as):
    from examsys.models import Station
    bid = save_blueprint(app, occ_id)
    with app.app_context():
        other = Station(code="T-002", name="另一鉴定站", region="测试")
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    make_user("manager2", "station_manager", station=other_id)
    login_as("station_manager")
    resp = assemble(client, bid, forms=1)
    assert resp.status_code == 302, problems_of(resp)
    pid = int(resp.headers["Location"].rsplit("/", 1)[1])
    assert client.get(f"/papers/{pid}").status_code == 200
    assert client.get("/papers/blueprints/new").status_code == 403
    assert client.get(f"/papers/blueprints/{bid}/edit").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/papers/")})
    assert login(client, "manager2").status_code == 302
    for url in (f"/papers/{pid}", f"/papers/{pid}/A/candidate.html", f"/papers/{pid}/A/key.html",
                f"/papers/{pid}/A/candidate.pdf"):
        assert client.get(url).status_code == 404, url
    assert f"/papers/{pid}" not in client.get("/papers/").get_data(as_text=True)
    # an admin sees every paper
    client.post("/logout", data={"csrf_token": csrf_token(client, "/papers/")})
    login(client, "admin")
    assert client.get(f"/papers/{pid}").status_code == 200


@pytest.mark.parametrize("role", ["writer", "reviewer", "proctor", "examiner"])
def test_other_roles_are_refused(app, client, occ_id, users, role):
    bid = save_blueprint(app, occ_id)
    login(client, role)
    assert client.get("/papers/").status_code == 403
    assert client.get(f"/papers/blueprints/{bid}").status_code == 403
    assert assemble(client, bid).status_code == 403


def test_layout_presets_have_readable_names(app, admin, occ_id):
    html = admin.get("/papers/blueprints/new").get_data(as_text=True)
    select = html.split('name="preset"', 1)[1].split("</select>", 1)[0]
    options = re.findall(r'<option[^>]*value="([^"]+)"[^>]*>([^<]*)</option>', select)
    assert dict(options)["classic-200"] == "传统 200 题（单选160×0.5+判断40×0.5，120 分钟）"
    assert dict(options)["technician-100"].startswith("技师（含主观题） 57 题（单选30×1+多选10×2+")
    assert not any(label == value or "-" in label for value, label in options)
    admin.get("/lang/en")
    html = admin.get("/papers/blueprints/new").get_data(as_text=True)
    assert "Classic layout, 200 items (Single choice 160 × 0.5 + True/false 40 × 0.5, 120 min)" in html
