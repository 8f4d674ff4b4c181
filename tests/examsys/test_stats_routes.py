"""Item analysis pages: who sees what (200 for allowed roles at their station, 404 at another station, 403 for
other roles), sorting and filtering, the .xlsx export, flags with evidence on the bank pages, dismissal and
accepting a key through the forms (bad input: 4xx, nothing changed), English and Chinese, the CLI."""
from __future__ import annotations

import io
import re

import openpyxl
import pytest
from sqlalchemy import func, select

from examsys.extensions import db
from examsys.models import AnalysisRun, ItemFlag, KeyCorrection

from .conftest import csrf_token, login
from .test_stats_helpers import simulated_sitting


@pytest.fixture
def sitting(app, users, station):
    """A flagged sitting at the users' station (mis-key at position 3), analysed."""
    from examsys.services import stats as stats_service
    with app.app_context():
        s = simulated_sitting(n=150, miskey=3, station_id=station.id)
        stats_service.refresh_session(s["session_id"])
        run = stats_service.current_runs(s["session_id"])[0]
        s["run_id"] = run.id
        s["version_id"] = s["forms"]["A"][2][1]
        s["item_id"] = s["forms"]["A"][2][2]
        s["flags"] = {f.code: f.id for f in db.session.execute(select(ItemFlag)).scalars()}
    return s


def _client(app, role):
    c = app.test_client()
    assert login(c, role).status_code == 302
    return c


def _pages(s):
    run, v = s["run_id"], s["version_id"]
    return ["/stats/", f"/stats/session/{s['session_id']}", f"/stats/run/{run}/item/{v}", f"/stats/run/{run}/areas",
            f"/stats/run/{run}/stations", f"/stats/items/{s['item_id']}"]


@pytest.mark.parametrize("role", ["admin", "reviewer", "station_manager", "examiner"])
def test_pages_render_for_allowed_roles(app, sitting, role):
    c = _client(app, role)
    for url in _pages(sitting):
        r = c.get(url)
        assert r.status_code == 200, (url, r.status_code)
    html = c.get(f"/stats/session/{sitting['session_id']}").get_data(as_text=True)
    assert "试题分析" in html and 'id="test-summary"' in html and "<svg" in html
    assert html.count('class="item-row') == 12
    item = c.get(f"/stats/run/{sitting['run_id']}/item/{sitting['version_id']}").get_data(as_text=True)
    for part in ('id="options"', 'id="score-groups"', 'id="icc"', 'id="history"', "答案可能有误"):
        assert part in item
    assert item.count("<svg") >= 3


@pytest.mark.parametrize("role", ["writer", "proctor"])
def test_other_roles_are_refused(app, sitting, role):
    c = _client(app, role)
    for url in _pages(sitting) + [f"/stats/run/{sitting['run_id']}/export.xlsx", "/stats/flags"]:
        assert c.get(url).status_code == 403, url


def test_other_stations_sittings_are_not_found(app, sitting, make_user):
    from examsys.models import Station
    with app.app_context():
        other = Station(code="T-999", name="别的站", region="x")
        db.session.add(other)
        db.session.commit()
        oid = other.id
    make_user("mgr_other", "station_manager", station=oid)
    make_user("exa_other", "examiner", station=oid)
    for name in ("mgr_other", "exa_other"):
        c = app.test_client()
        login(c, name)
        for url in _pages(sitting)[1:5] + [f"/stats/run/{sitting['run_id']}/export.xlsx"]:
            assert c.get(url).status_code == 404, (name, url)
        assert 'id="no-sittings"' in c.get("/stats/").get_data(as_text=True)


def test_sorting_and_filtering(app, sitting):
    c = _client(app, "examiner")
    base = f"/stats/session/{sitting['session_id']}"
    html = c.get(base + "?flag=possible_miskey").get_data(as_text=True)
    assert re.findall(r'data-position="(\d+)"', html) == ["3"]
    html = c.get(base + "?sort=p&desc=1").get_data(as_text=True)
    positions = [int(p) for p in re.findall(r'data-position="(\d+)"', html)]
    assert positions[-1] == 3 and len(positions) == 12
    html = c.get(base + "?sort=r_rest").get_data(as_text=True)
    assert re.findall(r'data-position="(\d+)"', html)[0] == "3"
    html = c.get(base + "?severity=error").get_data(as_text=True)
    assert re.findall(r'data-position="(\d+)"', html) == ["3"]
    # unknown values are ignored, never a 500
    assert c.get(base + "?sort=drop&flag=nope&severity=zzz&form=Q&desc=x").status_code == 200


def test_xlsx_export(app, sitting):
    c = _client(app, "station_manager")
    r = c.get(f"/stats/run/{sitting['run_id']}/export.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    wb = openpyxl.load_workbook(io.BytesIO(r.data), read_only=True)
    assert {"Test", "Items", "Options", "Flags"} <= set(wb.sheetnames)
    rows = list(wb["Items"].iter_rows(values_only=True))
    assert len(rows) == 13 and rows[0][0] == "item_id"
    flags = [r for r in wb["Flags"].iter_rows(values_only=True)][1:]
    assert any(r[1] == "possible_miskey" for r in flags)
    wb.close()


def test_bank_item_page_and_review_queue_show_the_evidence(app, sitting):
    c = _client(app, "reviewer")
    html = c.get(f"/bank/items/{sitting['item_id']}").get_data(as_text=True)
    assert 'id="stats-flags"' in html and "答案可能有误" in html and "建议答案" in html
    assert f'action="/stats/flag/{sitting["flags"]["possible_miskey"]}/dismiss"' in html
    queue = c.get("/bank/review").get_data(as_text=True)
    assert 'id="queue-flags"' in queue and f'data-item="{sitting["item_id"]}" data-code="possible_miskey"' in queue
    assert c.get("/stats/flags").status_code == 200


def test_dismiss_through_the_form(app, sitting):
    c = _client(app, "reviewer")
    token = csrf_token(c, f"/bank/items/{sitting['item_id']}")
    fid = sitting["flags"]["possible_miskey"]
    r = c.post(f"/stats/flag/{fid}/dismiss", data={"csrf_token": token, "reason": "  "})
    assert r.status_code == 422 and "理由" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(ItemFlag, fid).status == "open"
    r = c.post(f"/stats/flag/{fid}/dismiss", data={"csrf_token": token, "reason": "x" * 2001})
    assert r.status_code == 422
    r = c.post(f"/stats/flag/{fid}/dismiss", data={"csrf_token": token, "reason": "复核无误",
                                                   "next": f"/bank/items/{sitting['item_id']}"})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/bank/items/{sitting['item_id']}")
    with app.app_context():
        assert db.session.get(ItemFlag, fid).status == "dismissed"
    r = c.post(f"/stats/flag/{fid}/dismiss", data={"csrf_token": token, "reason": "again"})
    assert r.status_code == 409
    assert c.post("/stats/flag/99999/dismiss", data={"csrf_token": token, "reason": "x"}).status_code == 404
    # without the CSRF token nothing happens
    other = sitting["flags"]["negative_discrimination"]
    assert c.post(f"/stats/flag/{other}/dismiss", data={"reason": "x"}).status_code == 400


def test_accept_key_through_the_form(app, sitting):
    c = _client(app, "station_manager")
    fid = sitting["flags"]["possible_miskey"]
    page = c.get(f"/stats/flag/{fid}/accept-key")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="remark-preview"' in html
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', html).group(1)
    token = csrf_token(c, f"/stats/flag/{fid}/accept-key")
    r = c.post(f"/stats/flag/{fid}/accept-key", data={"csrf_token": token, "reason": "", "digest": digest})
    assert r.status_code == 422
    r = c.post(f"/stats/flag/{fid}/accept-key", data={"csrf_token": token, "reason": "ok", "digest": "0" * 64})
    assert r.status_code == 409
    with app.app_context():
        assert db.session.execute(select(func.count(KeyCorrection.id))).scalar() == 0
    r = c.post(f"/stats/flag/{fid}/accept-key", data={"csrf_token": token, "reason": "答案应为 C", "digest": digest})
    assert r.status_code == 302
    with app.app_context():
        assert db.session.execute(select(KeyCorrection.content)).scalar_one() == {"key": "C"}
        assert db.session.get(ItemFlag, fid).resolution == "key_corrected"
    # not a mis-key flag: refused with a message
    assert c.get(f"/stats/flag/{sitting['flags']['negative_discrimination']}/accept-key").status_code == 409
    reviewer = _client(app, "reviewer")
    assert reviewer.get(f"/stats/flag/{fid}/accept-key").status_code == 403


def test_english_and_chinese(app, sitting):
    c = _client(app, "admin")
    url = f"/stats/run/{sitting['run_id']}/item/{sitting['version_id']}"
    assert "项目特征曲线" in c.get(url).get_data(as_text=True)
    c.get("/lang/en")
    html = c.get(url).get_data(as_text=True)
    assert "Item characteristic curve" in html and "possible mis-key" in html
    assert "Test summary" in c.get(f"/stats/session/{sitting['session_id']}").get_data(as_text=True)


def test_recompute_and_cli(app, sitting, runner):
    c = _client(app, "station_manager")
    token = csrf_token(c, f"/stats/session/{sitting['session_id']}")
    r = c.post(f"/stats/session/{sitting['session_id']}/refresh", data={"csrf_token": token})
    assert r.status_code == 302
    with app.app_context():
        assert db.session.execute(select(func.count(AnalysisRun.id))).scalar() == 1
    res = runner.invoke(args=["stats", "refresh", str(sitting["session_id"])])
    assert res.exit_code == 0 and "up to date" in res.output
    res = runner.invoke(args=["stats", "refresh", "--force"])
    assert res.exit_code == 0 and "form(s) analysed" in res.output
    res = runner.invoke(args=["stats", "refresh", "4242"])
    assert res.exit_code == 0 and "4242" in res.output


def test_empty_sitting_page(app, users, station):
    from examsys import clock

    from . import factories
    with app.app_context():
        clock.set_clock(lambda: factories.T0 - __import__("datetime").timedelta(hours=1))
        s = factories.make_session(n_candidates=2, station_id=station.id)
    c = _client(app, "station_manager")
    html = c.get(f"/stats/session/{s['session_id']}").get_data(as_text=True)
    assert 'id="no-run"' in html


def test_a_failing_refresh_shows_the_last_statistics(app, sitting, monkeypatch):
    from examsys.services import stats as stats_service

    def boom(*a, **kw):
        raise RuntimeError("disk full")

    monkeypatch.setattr(stats_service, "refresh_session", boom)
    c = _client(app, "admin")
    r = c.get(f"/stats/session/{sitting['session_id']}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "统计未能更新" in html and 'id="test-summary"' in html


def test_areas_against_the_blueprint_window(app, sitting):
    from examsys import clock
    from examsys.models import Blueprint, Paper
    with app.app_context():
        paper = db.session.get(Paper, sitting["paper_id"])
        bp = Blueprint(occupation_id=paper.occupation_id, grade=4, name="方案", spec_hash="x",
                       spec={"theory": {"difficulty": {"mean_p": [0.63, 0.69]}}}, created_at=clock.now(),
                       updated_at=clock.now())
        db.session.add(bp)
        db.session.flush()
        paper.blueprint_id = bp.id
        db.session.commit()
    c = _client(app, "examiner")
    html = c.get(f"/stats/run/{sitting['run_id']}/areas").get_data(as_text=True)
    assert 'id="window"' in html and "0.63" in html and "0.69" in html
    row = re.search(r'<tr class="area-row" data-area="A">(.*?)</tr>', html, re.S).group(1)
    assert '<td class="num">12</td>' in row and "status-low" in row  # simulated mean p ≈ 0.5 < 0.63
