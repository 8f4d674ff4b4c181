"""Admin pages: users and stations, in the UI language, with bad input refused and nothing stored."""
from sqlalchemy import func, select

from examsys.extensions import db
from examsys.models import Station, User

from .conftest import csrf_token


def test_role_choices_are_named_in_chinese(client, login_as):
    login_as("admin")
    html = client.get("/admin/users").get_data(as_text=True)
    assert '<option value="writer">命题员</option>' in html
    assert '<option value="station_manager">鉴定站管理员</option>' in html


def test_create_user_and_refuse_duplicate(app, client, login_as):
    login_as("admin")
    token = csrf_token(client, "/admin/users")
    data = {"csrf_token": token, "username": "newbie", "display_name": "新用户", "password": "long-enough-pw",
            "role": "writer", "station_id": "0"}
    assert client.post("/admin/users", data=data).status_code == 302
    resp = client.post("/admin/users", data=data)
    assert resp.status_code == 400 and "该用户名已被使用" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User).where(User.username == "newbie")).scalar_one() == 1


def test_station_with_empty_name_is_refused(app, client, login_as):
    login_as("admin")
    token = csrf_token(client, "/admin/stations")
    with app.app_context():
        before = db.session.execute(select(func.count()).select_from(Station)).scalar_one()
    assert client.post("/admin/stations", data={"csrf_token": token, "code": "X1", "name": ""}).status_code == 400
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Station)).scalar_one() == before
