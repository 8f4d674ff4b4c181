"""The demo bank loads through the item service: every file item valid, statuses, reviews, images by hash."""
from __future__ import annotations

import hashlib

import yaml
from sqlalchemy import func, select

from examsys.extensions import db
from examsys.models import Item, ItemReview, MediaFile, User
from examsys.services import audit
from examsys.services.bank_demo import item_files
from examsys.services.demo import DATA_DIR, MEDIA_DIR, load_demo


def test_demo_items_load_with_statuses_reviews_and_images(app):
    expected = []
    for path in item_files(DATA_DIR):
        expected += yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert len(expected) >= 400
    with app.app_context():
        assert load_demo() is True
        items = list(db.session.execute(select(Item).order_by(Item.id)).scalars())
        assert len(items) == len(expected)
        writer = db.session.execute(select(User).where(User.username == "writer")).scalar_one()
        reviewer = db.session.execute(select(User).where(User.username == "reviewer")).scalar_one()
        for it, d in zip(items, expected):
            assert (it.status, it.type, it.kp_code, it.created_by) == (d["status"], d["type"], d["kp"], writer.id)
            v = it.current_version
            assert v.stem == d["stem"].strip() or v.stem == d["stem"]
            assert v.images == [hashlib.sha256((MEDIA_DIR / n).read_bytes()).hexdigest() for n in d["images"]]
        approved = [it for it in items if it.status == "approved"]
        reviews = db.session.execute(select(ItemReview)).scalars().all()
        assert len(reviews) == len(approved) and {r.reviewer_id for r in reviews} == {reviewer.id}
        assert {r.decision for r in reviews} == {"approve"}
        used = {n for d in expected for n in d["images"]}
        assert db.session.scalar(select(func.count()).select_from(MediaFile)) == len(used)
        for sha in db.session.execute(select(MediaFile.sha256)).scalars():
            assert (app.config["MEDIA_DIR"] / sha[:2] / sha).is_file()
        first = audit.entries_for("item", approved[0].id)
        assert [e.action for e in first] == ["item.create", "item.review"]
        assert audit.verify_chain() == (True, None)
