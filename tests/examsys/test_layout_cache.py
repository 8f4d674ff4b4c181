"""The per-process cache of attempts' layouts (``attempts._layout``): a save reads the ~10 KB layout once per
attempt and process, not on every save, and an attempt row with another seed or paper form under the same id
(an id reused after a deletion, SQLite) finds its own layout, never the cached one."""
from __future__ import annotations

import datetime as _dt

import pytest
from sqlalchemy import update

from examsys.extensions import db
from examsys.models import ExamAttempt

from . import factories as f
from .concurrency import statements

T0 = f.T0


@pytest.fixture
def sitting(app):
    info = f.session_on_frozen_clock(app, n_candidates=2, duration_min=60)
    info["clock"].current = T0 + _dt.timedelta(seconds=1)
    client = app.test_client()
    ticket = info["tickets"][0]
    page = f.enter_exam(client, ticket, info["ids"][ticket])
    aid = info["attempts"][ticket]
    return client, aid, page["token"], f.layout_of(app, aid)


def choice_entry(layout):
    return next(e for e in f.entries(layout) if e["t"] == "single_choice")


def test_a_save_reads_the_layout_once_per_attempt(app, sitting):
    client, aid, token, layout = sitting
    e = choice_entry(layout)
    reads = []
    for seq in (1, 2, 3):
        with app.app_context(), statements() as seen:
            resp = f.api(client, token, aid, "answers", {"item": e["pi"], "seq": seq, "answer": e["ids"][seq % 2]})
        assert resp.status_code == 200, resp.get_json()
        reads.append(sum("layout" in s for s in seen))
    assert reads == [1, 0, 0]


def test_another_seed_under_the_same_id_reads_its_own_layout(app, sitting):
    client, aid, token, layout = sitting
    e = choice_entry(layout)
    assert f.api(client, token, aid, "answers", {"item": e["pi"], "seq": 1, "answer": e["ids"][0]}).status_code == 200
    # the same attempt id now holds another layout (as after a deletion and a new roster on SQLite): new ids
    changed = {**layout, "sections": [{**sec, "items": [
        {**x, "ids": [i + "x" for i in x["ids"]]} if x["pi"] == e["pi"] else x for x in sec["items"]]}
        for sec in layout["sections"]]}
    with app.app_context():
        seed = db.session.get(ExamAttempt, aid).seed
        db.session.execute(update(ExamAttempt).where(ExamAttempt.id == aid).values(layout=changed, seed=seed + 1))
        db.session.commit()
    old = f.api(client, token, aid, "answers", {"item": e["pi"], "seq": 2, "answer": e["ids"][1]})
    assert old.status_code == 422  # the cached layout's option id is not one of this layout's
    new = f.api(client, token, aid, "answers", {"item": e["pi"], "seq": 3, "answer": e["ids"][1] + "x"})
    assert new.status_code == 200, new.get_json()


def test_the_cache_keeps_at_most_its_limit_dropping_the_oldest(app, sitting, monkeypatch):
    from examsys.services import attempts
    client, aid, token, layout = sitting
    monkeypatch.setattr(attempts, "_LAYOUTS_MAX", 3)
    cache = app.extensions.setdefault("examsys.layouts", {})
    cache.clear()
    cache.update({("old", i, 0): {} for i in range(3)})
    e = choice_entry(layout)
    assert f.api(client, token, aid, "answers", {"item": e["pi"], "seq": 1, "answer": e["ids"][0]}).status_code == 200
    assert len(cache) == 3 and ("old", 0, 0) not in cache and ("old", 2, 0) in cache
    assert [k[0] for k in cache] == ["old", "old", aid]
