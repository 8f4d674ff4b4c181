"""Images: checked by content, stored once by SHA-256, served only to staff who may see them."""
from __future__ import annotations

import hashlib
import io
import secrets

import pytest
from sqlalchemy import func, select

from examsys import clock
from examsys.extensions import db
from examsys.models import AuthSession, MediaFile
from examsys.services import items as S
from examsys.services import media as M

from .conftest import csrf_token, login
from .test_items_support import (SVG, bank, form_data, get_user, gif_bytes, item, jpeg_bytes,  # noqa: F401
                                  png_bytes, webp_bytes)


def _store(app, data: bytes, name="fig.png", username="writer") -> str:
    with app.app_context():
        return M.store(data, name, get_user(username)).sha256


@pytest.mark.parametrize("make,mime", [(png_bytes, "image/png"), (jpeg_bytes, "image/jpeg"), (gif_bytes, "image/gif"),
                                       (webp_bytes, "image/webp")])
def test_images_are_stored_once_under_their_hash(app, bank, make, mime):
    data = make()
    sha = hashlib.sha256(data).hexdigest()
    assert _store(app, data, "a.bin") == sha
    assert _store(app, data, "b.bin", "admin") == sha  # same content: same row, same file
    with app.app_context():
        path = M.path_for(sha)
        assert path == app.config["MEDIA_DIR"] / sha[:2] / sha and path.read_bytes() == data
        row = db.session.get(MediaFile, sha)
        assert (row.mime, row.size, row.filename) == (mime, len(data), "a.bin")
        assert db.session.scalar(select(func.count()).select_from(MediaFile)) == 1
        from examsys.services import audit
        assert [e.action for e in audit.entries_for("media", sha)] == ["media.upload"]


@pytest.mark.parametrize("data,fragment", [
    (SVG, "SVG"),
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "SVG"),
    (b"GIF89a<script>alert(1)</script>", "damaged"),          # right magic, not an image
    (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "damaged"),
    (b"%PDF-1.4 hello", "not a PNG"),
    (b"<html><script>alert(1)</script></html>", "not a PNG"),
    (b"", "empty"),
])
def test_bad_uploads_are_refused_with_a_message_and_nothing_stored(app, bank, data, fragment):
    with app.app_context():
        with app.test_request_context():
            from flask import session
            session["lang"] = "en"
            with pytest.raises(M.MediaError) as e:
                M.store(data, "evil.png", get_user("writer"))
            assert fragment in str(e.value.message) and "evil.png" in str(e.value.message)
        assert db.session.scalar(select(func.count()).select_from(MediaFile)) == 0
    media_dir = app.config["MEDIA_DIR"]
    assert not media_dir.exists() or not any(p.is_file() for p in media_dir.rglob("*"))


def test_size_and_pixel_limits(app, bank):
    app.config["MAX_IMAGE_BYTES"] = 50
    with app.app_context(), pytest.raises(M.MediaError, match="字节"):
        M.store(png_bytes(size=(64, 64), color=(1, 2, 3)) + b"\0" * 60, "big.png", None)
    app.config["MAX_IMAGE_BYTES"] = 5 * 1024 * 1024
    app.config["MAX_IMAGE_PIXELS"] = 100
    with app.app_context(), pytest.raises(M.MediaError, match="像素"):
        M.store(png_bytes(size=(20, 20)), "wide.png", None)


def test_served_with_type_nosniff_and_cache_headers(app, client, bank):
    data = png_bytes()
    sha = _store(app, data)
    login(client, "writer")
    with client.get(f"/bank/media/{sha}") as resp:
        assert resp.status_code == 200 and resp.data == data
        assert resp.headers["Content-Type"] == "image/png"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Cache-Control"] == "private, max-age=31536000, immutable"
        assert resp.headers["ETag"].strip('"') == sha
        assert "sandbox" in resp.headers["Content-Security-Policy"]
    with client.get(f"/bank/media/{sha}", headers={"If-None-Match": f'"{sha}"'}) as resp:
        assert resp.status_code == 304
    assert client.get("/bank/media/" + "0" * 64).status_code == 404
    assert client.get("/bank/media/not-a-hash").status_code == 404


def test_anonymous_visitors_are_sent_to_login(app, client, bank):
    sha = _store(app, png_bytes())
    resp = client.get(f"/bank/media/{sha}")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert client.get(f"/bank/media/{sha}", headers={"Accept": "application/json"}).status_code == 401


def test_a_candidate_session_is_refused(app, client, bank):
    sha = _store(app, png_bytes())
    token = secrets.token_urlsafe(32)
    with app.app_context():
        now = clock.now()
        import datetime as dt
        db.session.add(AuthSession(id=hashlib.sha256(token.encode("ascii")).hexdigest(), kind="candidate",
                                   subject_id=1, created_at=now, last_seen=now,
                                   expires_at=now + dt.timedelta(hours=2)))
        db.session.commit()
    with client.session_transaction() as s:
        s["sid"] = token
    resp = client.get(f"/bank/media/{sha}")
    assert resp.status_code in (302, 401) and resp.data != png_bytes()


def test_who_may_see_an_image(app, bank, make_user):
    make_user("writer2", "writer")
    sha = _store(app, png_bytes())
    other = _store(app, png_bytes(color=(0, 0, 255)), username="writer2")
    with app.app_context():
        it = S.create_item(item(images=[sha]), get_user("writer"))
        who = {u: M.may_view(sha, get_user(u)) for u in
               ("admin", "reviewer", "writer", "writer2", "station_manager", "examiner", "proctor")}
        assert who == {"admin": True, "reviewer": True, "writer": True, "writer2": False,
                       "station_manager": False, "examiner": False, "proctor": False}
        assert M.may_view(other, get_user("writer2")) and not M.may_view(other, get_user("writer"))
        S.submit_for_review(it.id, get_user("writer"))
        assert M.may_view(sha, get_user("writer2")) and not M.may_view(sha, get_user("station_manager"))
        S.review(it.id, "approve", "", get_user("reviewer"))
        assert M.may_view(sha, get_user("station_manager")) and M.may_view(sha, get_user("examiner"))
        assert not M.may_view(other, get_user("station_manager"))
        # candidates: only through the hook the delivery blueprint registers
        candidate = object()
        assert not M.may_view(sha, candidate)
        M.CANDIDATE_CHECKS.append(lambda h, c: c is candidate and h == sha)
        try:
            assert M.may_view(sha, candidate) and not M.may_view(other, candidate)
        finally:
            M.CANDIDATE_CHECKS.clear()
    draft_only = _store(app, png_bytes(color=(0, 255, 0)))
    with app.app_context():
        S.create_item(item(images=[draft_only], stem="草稿题"), get_user("writer"))
    c = app.test_client()
    login(c, "writer2")
    assert c.get(f"/bank/media/{draft_only}").status_code == 404
    with c.get(f"/bank/media/{other}") as resp:
        assert resp.status_code == 200


def test_upload_endpoint_returns_json(app, client, bank):
    login(client, "writer")
    token = csrf_token(client, "/bank/items/new")
    data = png_bytes()
    resp = client.post("/bank/media", data={"csrf_token": token, "file": (io.BytesIO(data), "a.png")})
    assert resp.status_code == 201
    assert resp.json["sha256"] == hashlib.sha256(data).hexdigest() and resp.json["mime"] == "image/png"
    resp = client.post("/bank/media", data={"csrf_token": token, "file": (io.BytesIO(SVG), "x.svg")})
    assert resp.status_code == 400 and "SVG" in resp.json["message"]
    assert client.post("/bank/media", data={"csrf_token": token}).status_code == 400


def test_item_form_upload_stores_the_image_and_refuses_bad_files(app, client, bank):
    login(client, "writer")
    token = csrf_token(client, "/bank/items/new")
    data = png_bytes()
    sha = hashlib.sha256(data).hexdigest()
    resp = client.post("/bank/items/new", data={**form_data(item(), token),
                                                 "image_files": [(io.BytesIO(data), "fig.png")]})
    assert resp.status_code == 302
    item_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        assert S.get_item(item_id).current_version.images == [sha]
    assert f'src="/bank/media/{sha}"' in client.get(f"/bank/items/{item_id}").get_data(as_text=True)
    # a bad file next to a good one: nothing is stored, the message is next to the images field
    with app.app_context():
        n_items = db.session.scalar(select(func.count()).select_from(MediaFile))
    resp = client.post("/bank/items/new", data={**form_data(item(stem="另一题"), token), "image_files": [
        (io.BytesIO(png_bytes(color=(9, 9, 9))), "ok.png"), (io.BytesIO(SVG), "bad.svg")]})
    assert resp.status_code == 400
    assert "bad.svg" in resp.get_data(as_text=True) and 'data-field="images"' in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MediaFile)) == n_items
    # unticking the image removes it in a new version
    resp = client.post(f"/bank/items/{item_id}/edit", data={**form_data(item(), token), "images": []})
    assert resp.status_code == 302
    with app.app_context():
        it = S.get_item(item_id)
        assert it.current_version.images == [] and S.get_version(it, 1).images == [sha]
