"""Staff login: hashing, same error for unknown user and wrong password, throttling, session renewal,
cookie flags, CSRF, logout ending the session on the server."""
from __future__ import annotations

import threading

from examsys.extensions import db
from examsys.models import AuthSession, User
from examsys.services import throttle

from .conftest import csrf_token, login


def test_password_is_hashed(ctx, users):
    u = db.session.get(User, users["writer"].id)
    assert u.password_hash != "pw-for-tests"
    assert u.password_hash.startswith(("pbkdf2:", "scrypt:"))


def test_login_success_redirects_and_shows_role(client, users):
    resp = login(client, "writer")
    assert resp.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "命题员" in page  # role shown in Chinese by default


def test_unknown_user_and_wrong_password_get_the_same_error(client, users):
    a = login(client, "writer", "wrong-password")
    b = login(client, "nobody-here", "wrong-password")
    assert a.status_code == b.status_code == 401

    def message(resp):
        html = resp.get_data(as_text=True)
        start = html.index('class="flash')
        return html[start:html.index("</div>", start)]

    assert message(a) == message(b)


def test_lock_after_five_failures_even_with_the_right_password(client, users):
    for _ in range(5):
        assert login(client, "writer", "bad").status_code == 401
    assert login(client, "writer").status_code == 429
    with client.application.app_context():
        assert throttle.failures("user:writer") == 6


def test_success_resets_the_counter(client, users):
    for _ in range(4):
        login(client, "writer", "bad")
    assert login(client, "writer").status_code == 302
    with client.application.app_context():
        assert throttle.failures("user:writer") == 0


def test_throttle_per_address(client, users, make_user):
    for i in range(5):
        login(client, f"ghost{i}", "bad")
    # a different, valid account from the same address is refused too
    assert login(client, "reviewer").status_code == 429


def test_concurrent_reservations_count_at_most_limit(ctx, tmp_path):
    """The counter is atomic: many threads racing on one key get at most `limit` attempts through."""
    from examsys import create_app
    from examsys.config import TestConfig
    if db.engine.dialect.name != "sqlite":
        return  # the PostgreSQL variant runs in tests/examsys/test_throttle_pg.py through real connections
    file_app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'throttle.sqlite'}")
    with file_app.app_context():
        db.create_all()
    allowed = []
    lock = threading.Lock()

    def worker():
        with file_app.app_context():
            ok = throttle.reserve_attempt("ticket:X", limit=5, lock_seconds=900)
            with lock:
                allowed.append(ok)
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 5
    with file_app.app_context():
        assert throttle.failures("ticket:X") == 40
        db.engine.dispose()


def test_session_renewed_at_login(client, users):
    client.get("/login")
    with client.session_transaction() as s:
        s["planted"] = "fixation"
        s["sid"] = "attacker-chosen"
    login(client, "writer")
    with client.session_transaction() as s:
        assert "planted" not in s
        assert s["sid"] != "attacker-chosen"


def test_cookie_flags(app, users):
    app.config["SESSION_COOKIE_SECURE"] = True
    client = app.test_client()
    resp = login(client, "writer")
    cookie = resp.headers.get("Set-Cookie")
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie


def test_login_without_csrf_is_refused(client, users):
    client.get("/login")
    resp = client.post("/login", data={"username": "writer", "password": "pw-for-tests"})
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)
    with client.session_transaction() as s:
        assert "sid" not in s


def test_logout_ends_the_session_on_the_server(client, users):
    login(client, "writer")
    with client.session_transaction() as s:
        token_cookie = dict(s)
    resp = client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    assert resp.status_code == 302
    with client.application.app_context():
        assert db.session.query(AuthSession).filter(AuthSession.revoked_at.isnot(None)).count() == 1
    # replaying the old cookie contents does not log back in
    with client.session_transaction() as s:
        s.update(token_cookie)
    assert client.get("/").status_code == 302


def test_deactivated_user_is_logged_out_at_once(app, users):
    admin_client, writer_client = app.test_client(), app.test_client()
    login(admin_client, "admin")
    login(writer_client, "writer")
    assert writer_client.get("/").status_code == 200
    token = csrf_token(admin_client, "/admin/users")
    resp = admin_client.post(f"/admin/users/{users['writer'].id}/active", data={"csrf_token": token, "active": "0"})
    assert resp.status_code == 302
    assert writer_client.get("/").status_code == 302


def test_language_switch_to_english(client, users):
    login(client, "writer")
    assert "Question writer" not in client.get("/").get_data(as_text=True)
    client.get("/lang/en")
    assert "Question writer" in client.get("/").get_data(as_text=True)


def test_secret_key_kept_in_the_instance_folder(tmp_path, monkeypatch):
    """Without SECRET_KEY, a local server keeps one key in instance/secret_key (0600), so a restart keeps sessions."""
    import os

    from examsys import create_app
    from examsys.config import Config
    monkeypatch.setattr(Config, "SECRET_KEY", None)
    a = create_app(INSTANCE_DIR=tmp_path, SQLALCHEMY_DATABASE_URI="sqlite://")
    b = create_app(INSTANCE_DIR=tmp_path, SQLALCHEMY_DATABASE_URI="sqlite://")
    assert a.config["SECRET_KEY"] == b.config["SECRET_KEY"] and len(a.config["SECRET_KEY"]) == 64
    assert os.stat(tmp_path / "secret_key").st_mode & 0o777 == 0o600
