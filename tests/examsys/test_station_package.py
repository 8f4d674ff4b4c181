"""Offline stations: the central server exports a signed, encrypted exam package without answer keys; a
station laptop (SQLite) imports it once, candidates sit the exam there, the station exports a signed results
package; the central server imports it once (all or nothing) and marks centrally.

The central database follows the suite (SQLite, or PostgreSQL when ``TEST_DATABASE_URL`` is set); the
station is always SQLite, with its own PII key.
"""
from __future__ import annotations

import datetime as _dt
import json
import shutil
import zipfile

import pytest
from sqlalchemy import func, select

from examsys import clock
from examsys.extensions import db
from examsys.models import (AttemptEvent, AttemptMarking, AuditLog, ExamAttempt, ExamCandidate, ExamResponse,
                            ExamSession, ItemVersion, PaperForm, PaperItem)
from examsys.services import station_package as SP

from . import factories as f
from .test_backup_support import dispose, init_schema, make_app, png, scratch  # noqa: F401

T0 = f.T0
STATION_PII = "station-laptop-pii-key-0123456789abcdef0123456789"


@pytest.fixture
def world(scratch, tmp_path):
    """The central server (with a scheduled session of 4 candidates at station F-001 and its key) and an
    empty station laptop with the key installed."""
    frozen = clock.FrozenClock(T0 - _dt.timedelta(hours=2))
    clock.set_clock(frozen)
    central = make_app(scratch.url("central"), tmp_path / "central")
    station = make_app(f"sqlite:///{tmp_path / 'station.sqlite'}", tmp_path / "station", PII_KEY=STATION_PII)
    init_schema(central)
    init_schema(station)
    with central.app_context():
        from examsys.services import media as media_service
        sha = media_service.store(png(3), "图.png", None).sha256
        info = f.make_session(n_candidates=4, images=[sha], duration_min=60, grace_seconds=30)
        key_file, _kid = SP.generate_key("F-001")
        db.session.remove()
    with station.app_context():
        SP.install_key(key_file)
    info.update(central=central, station=station, clock=frozen, sha=sha, tmp=tmp_path)
    yield info
    clock.set_clock(None)
    dispose(central, station)


def _export(world, name="exam.pkg"):
    out = world["tmp"] / name
    with world["central"].app_context():
        r = SP.export_exam_package(world["session_id"], out)
        db.session.remove()
    return r, out


def _import(app, path, fn):
    with app.app_context():
        try:
            return fn(path)
        finally:
            db.session.remove()


def _rows(app, *models):
    with app.app_context():
        out = tuple(db.session.execute(select(func.count()).select_from(m)).scalar_one() for m in models)
        db.session.remove()
    return out


def _sit(world, station_session_id):
    """On the station: candidate 1 answers everything right and hands in, candidate 2 answers some wrongly and
    hands in, candidate 3 answers one question and walks away (finalised at the deadline), candidate 4 never
    comes (absent). Returns {ticket: {(form, position): answer}} as stored."""
    station, clk = world["station"], world["clock"]
    with station.app_context():
        cands = {c.ticket_no: (c, a) for c, a in db.session.execute(
            select(ExamCandidate, ExamAttempt).join(ExamAttempt, ExamAttempt.candidate_id == ExamCandidate.id)
            .where(ExamCandidate.session_id == station_session_id))}
        db.session.remove()
    clk.current = T0 + _dt.timedelta(minutes=1)
    tickets = sorted(cands)
    for k, ticket in enumerate(tickets[:3]):
        client = station.test_client()
        page = f.enter_exam(client, ticket, world["ids"][ticket])
        aid = cands[ticket][1].id
        entries = f.entries(f.layout_of(station, aid))
        for n, e in enumerate(entries if k < 2 else entries[:1]):
            right = {"single_choice": "B", "multiple_choice": "AC", "true_false": True}
            if e["t"] in ("single_choice", "multiple_choice"):
                letters = right[e["t"]] if k == 0 else "A"
                chosen = [e["ids"][e["order"].index("ABCDEFGH".index(ch))] for ch in letters]
                answer = chosen[0] if e["t"] == "single_choice" else chosen
            elif e["t"] == "true_false":
                answer = k == 0
            else:
                answer = f"考生{k}的回答{n}"
            resp = f.api(client, page["token"], aid, "answers", {"item": e["pi"], "seq": 100 + n, "answer": answer})
            assert resp.status_code == 200, resp.get_data(as_text=True)
        if k < 2:
            assert f.api(client, page["token"], aid, "submit", {"confirm": True}).status_code == 200
    clk.current = T0 + _dt.timedelta(minutes=62)  # past deadline + grace
    with station.app_context():
        stored = {}
        for ticket in tickets:
            aid = cands[ticket][1].id
            stored[ticket] = {(label, pos): ans for ans, label, pos in db.session.execute(
                select(ExamResponse.answer, PaperForm.label, PaperItem.position)
                .join(PaperItem, PaperItem.id == ExamResponse.paper_item_id)
                .join(PaperForm, PaperForm.id == PaperItem.form_id).where(ExamResponse.attempt_id == aid))}
        db.session.remove()
    return stored


def test_the_whole_round_trip(world):
    central, station = world["central"], world["station"]
    r, pkg = _export(world)
    assert r.counts == {"candidates": 4, "items": 16, "media": 1}
    with central.app_context():  # the central sweeper will not start the session while the station runs it
        assert db.session.get(ExamSession, world["session_id"]).auto_start is False
        db.session.remove()

    # the file on the USB stick: no readable item text, names or ID numbers
    raw = pkg.read_bytes()
    for secret_text in ("第1题", "考生1", world["rows"][0][2], "SECRET"):
        assert secret_text.encode("utf-8") not in raw
    manifest = SP.read_manifest(pkg)
    assert manifest["kind"] == "exam" and manifest["station"] == "F-001" and manifest["session"]["candidates"] == 4

    # decrypted with the station's key: the candidate view only, never a key or reference answer
    with station.app_context():
        _m, content, media, _b = SP._open(pkg, SP.EXAM)
    assert content["answer_keys"] is False and list(media) == [world["sha"]]
    text = json.dumps(content, ensure_ascii=False)
    assert "SECRET" not in text
    for form in content["paper"]["forms"]:
        for item in form["items"]:
            assert set(item["version"]["content"]) <= {"options", "unit"}, item["version"]["content"]

    # the station imports it once
    rep = _import(station, pkg, SP.import_exam_package)
    assert not rep.already and rep.counts["candidates"] == 4
    before = _rows(station, ExamCandidate, ExamAttempt, ItemVersion, AuditLog)
    again = _import(station, pkg, SP.import_exam_package)
    assert again.already and again.session_id == rep.session_id and again.message
    assert _rows(station, ExamCandidate, ExamAttempt, ItemVersion, AuditLog) == before
    assert (station.config["MEDIA_DIR"] / world["sha"][:2] / world["sha"]).exists()
    with station.app_context():
        assert all("key" not in (iv.content or {}) and "answers" not in (iv.content or {})
                   for iv in db.session.execute(select(ItemVersion)).scalars())
        assert SP.is_station_copy(rep.session_id)
        db.session.remove()
    with central.app_context():
        assert not SP.is_station_copy(world["session_id"])
        db.session.remove()

    # results cannot leave before every paper is in
    world["clock"].current = T0 + _dt.timedelta(minutes=5)
    with station.app_context():
        with pytest.raises(SP.PackageError) as e:
            SP.export_results_package(rep.session_id, world["tmp"] / "early.pkg")
        assert e.value.code == "open_attempts"
        db.session.remove()
    world["clock"].current = T0 - _dt.timedelta(minutes=10)

    stored = _sit(world, rep.session_id)
    results = world["tmp"] / "results.pkg"
    with station.app_context():
        rr = SP.export_results_package(rep.session_id, results)
        db.session.remove()
    assert rr.counts["attempts"] == 4 and rr.counts["responses"] == sum(len(v) for v in stored.values())

    # the central server imports it once, then marks
    world["clock"].current = T0 + _dt.timedelta(hours=3)
    got = _import(central, results, SP.import_results_package)
    assert not got.already and got.counts["submitted"] == 3 and got.counts["absent"] == 1
    assert got.counts.get("marked") == 4, got.message
    with central.app_context():
        sid = world["session_id"]
        central_answers = {}
        for ticket, aid in world["attempts"].items():
            central_answers[ticket] = {(label, pos): ans for ans, label, pos in db.session.execute(
                select(ExamResponse.answer, PaperForm.label, PaperItem.position)
                .join(PaperItem, PaperItem.id == ExamResponse.paper_item_id)
                .join(PaperForm, PaperForm.id == PaperItem.form_id).where(ExamResponse.attempt_id == aid))}
        assert central_answers == stored
        statuses = {t: db.session.get(ExamAttempt, aid).status for t, aid in world["attempts"].items()}
        assert sorted(statuses.values()) == ["absent", "submitted", "submitted", "submitted"]
        sess = db.session.get(ExamSession, sid)
        assert sess.started_at is not None
        marks = {m.attempt_id: m.auto_score for m in db.session.execute(select(AttemptMarking)).scalars()}
        first = world["attempts"][world["tickets"][0]]
        second = world["attempts"][world["tickets"][1]]
        # marked centrally with the central keys: all objective answers right (8 of 10 auto points: the
        # fill-in answer is wrong), all wrong, the walk-away and the absent candidate
        assert marks[first] == 8.0 and marks[second] == 0.0 and set(marks) == set(world["attempts"].values())
        kinds = {e.kind for e in db.session.execute(select(AttemptEvent).where(AttemptEvent.session_id == sid))
                 .scalars()}
        assert {"login", "entered", "finalised", "station_results"} <= kinds
        att = db.session.get(ExamAttempt, first)
        from examsys.services.attempts import responses_digest
        assert att.final_digest == responses_digest(first)[0]
        # finalised (and audited) at the station, marked by the import: nothing left for post-finalisation
        from examsys.services import post_finalise
        assert post_finalise.pending_count(sid) == 0
        db.session.remove()
    n = _rows(central, ExamResponse, AttemptEvent, AuditLog, AttemptMarking)
    again = _import(central, results, SP.import_results_package)
    assert again.already and _rows(central, ExamResponse, AttemptEvent, AuditLog, AttemptMarking) == n


def test_refusals_and_all_or_nothing(world, monkeypatch):
    central, station = world["central"], world["station"]
    _r, pkg = _export(world)
    # a results package is expected but an exam package is given (and the other way round)
    with central.app_context():
        with pytest.raises(SP.PackageError) as e:
            SP.import_results_package(pkg)
        assert e.value.code == "wrong_kind"
    # an altered package: one byte of the payload, or the manifest
    bad = world["tmp"] / "bad.pkg"
    with zipfile.ZipFile(pkg) as src, zipfile.ZipFile(bad, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "manifest.json":
                data = data.replace(b'"F-001"', b'"F-001" ', 1)
            dst.writestr(name, data)
    rep = _import(station, pkg, SP.import_exam_package)
    for damaged, code in ((bad, "bad_signature"),):
        with station.app_context():
            with pytest.raises(SP.PackageError) as e:
                SP.import_exam_package(damaged)
            assert e.value.code == code
            db.session.remove()
    flipped = world["tmp"] / "flipped.pkg"
    data = bytearray(pkg.read_bytes())
    start = data.find(b"payload.bin") + 200
    data[start] ^= 0xFF
    flipped.write_bytes(bytes(data))
    with station.app_context():
        with pytest.raises(SP.PackageError) as e:
            SP.import_exam_package(flipped)
        assert e.value.code in ("corrupt", "not_package", "bad_signature")
        db.session.remove()
    # a package for a station whose key is not here / signed with another key
    other = make_app(f"sqlite:///{world['tmp'] / 'other.sqlite'}", world["tmp"] / "other")
    init_schema(other)
    with other.app_context():
        with pytest.raises(SP.PackageError) as e:
            SP.import_exam_package(pkg)
        assert e.value.code == "no_key"
        SP.generate_key("F-001")  # a different key under the same station code
        with pytest.raises(SP.PackageError) as e:
            SP.import_exam_package(pkg)
        assert e.value.code == "bad_signature" and "签名不符" in e.value.message  # zh: the default locale
        db.session.remove()
    dispose(other)

    # results: all or nothing — a failure half-way through the import leaves the central session untouched
    _sit(world, rep.session_id)
    results = world["tmp"] / "results.pkg"
    with station.app_context():
        SP.export_results_package(rep.session_id, results)
        db.session.remove()
    before = _rows(central, ExamResponse, AttemptEvent, AuditLog)
    import examsys.services.attempts as attempts_service

    def boom(aid):
        raise RuntimeError("disk full")
    monkeypatch.setattr(attempts_service, "responses_digest", boom)
    with central.app_context():
        with pytest.raises(RuntimeError):
            SP.import_results_package(results)
        db.session.remove()
    monkeypatch.undo()
    assert _rows(central, ExamResponse, AttemptEvent, AuditLog) == before
    with central.app_context():
        assert {a.status for a in db.session.execute(select(ExamAttempt)).scalars()} == {"not_started"}
        db.session.remove()
    # and then it goes through
    assert _import(central, results, lambda p: SP.import_results_package(p, mark=False)).counts["attempts"] == 4
    # a second, different results package for the same session is refused
    other_results = world["tmp"] / "results2.pkg"
    with station.app_context():
        from examsys.models import ExamResponse as R
        r = db.session.execute(select(R).limit(1)).scalar_one()
        r.seq += 1
        db.session.commit()
        SP.export_results_package(rep.session_id, other_results)
        db.session.remove()
    with central.app_context():
        with pytest.raises(SP.PackageError) as e:
            SP.import_results_package(other_results)
        assert e.value.code == "session_has_results"
        db.session.remove()


def test_export_refusals_and_the_cli(world):
    central, station = world["central"], world["station"]
    runner = central.test_cli_runner()
    res = runner.invoke(args=["station", "export-package", "--session", "9999", str(world["tmp"] / "x.pkg")])
    assert res.exit_code == 1 and "Refused" in res.output
    out = world["tmp"] / "cli.pkg"
    res = runner.invoke(args=["station", "export-package", "--session", str(world["session_id"]), str(out)])
    assert res.exit_code == 0 and "no answer keys" in res.output, res.output
    res = runner.invoke(args=["station", "inspect", str(out)])
    assert res.exit_code == 0 and '"kind": "exam"' in res.output
    srun = station.test_cli_runner()
    res = srun.invoke(args=["station", "import-package", str(out)])
    assert res.exit_code == 0 and "4 candidate(s)" in res.output, res.output
    res = srun.invoke(args=["station", "import-package", str(out)])
    assert res.exit_code == 0  # a no-op with a message
    shutil.copy(out, world["tmp"] / "copy.pkg")
    res = srun.invoke(args=["station", "export-results", "--session", "9999", str(world["tmp"] / "r.pkg")])
    assert res.exit_code == 1
    # a session that has started centrally cannot go to a station
    with central.app_context():
        from examsys.services import exams
        sess = db.session.get(ExamSession, world["session_id"])
        world["clock"].current = T0 + _dt.timedelta(minutes=1)
        exams.start_session(sess, actor=None, reason="test")
        with pytest.raises(SP.PackageError) as e:
            SP.export_exam_package(world["session_id"], world["tmp"] / "late.pkg")
        assert e.value.code == "started"
        db.session.remove()
    res = runner.invoke(args=["station", "mark", "--session", str(world["session_id"])])
    assert res.exit_code == 0 and "Machine-marked 0" in res.output, res.output
    res = runner.invoke(args=["station", "mark", "--session", "9999"])
    assert res.exit_code == 1 and "Refused" in res.output
    # keys: keygen refuses to overwrite; install-key refuses a file that is not a key
    res = runner.invoke(args=["station", "keygen", "F-001"])
    assert res.exit_code == 1 and "--force" in res.output
    (world["tmp"] / "junk.key").write_text("{}")
    res = srun.invoke(args=["station", "install-key", str(world["tmp"] / "junk.key")])
    assert res.exit_code == 1


def test_the_station_import_is_all_or_nothing(world, monkeypatch):
    station = world["station"]
    _r, pkg = _export(world)
    before = _rows(station, ExamSession, ExamCandidate, ExamAttempt, ItemVersion, PaperItem, AuditLog)
    from examsys.services import pii
    real, calls = pii.encrypt, []

    def failing(value):
        calls.append(value)
        if len(calls) == 3:  # the second candidate
            raise RuntimeError("simulated failure")
        return real(value)
    monkeypatch.setattr(pii, "encrypt", failing)
    with station.app_context():
        with pytest.raises(RuntimeError):
            SP.import_exam_package(pkg)
        db.session.remove()
    monkeypatch.undo()
    assert _rows(station, ExamSession, ExamCandidate, ExamAttempt, ItemVersion, PaperItem, AuditLog) == before
    rep = _import(station, pkg, SP.import_exam_package)  # then it goes through, once
    assert not rep.already and rep.counts["candidates"] == 4
    # a different package with the same admission numbers is refused
    with world["central"].app_context():
        sess = db.session.get(ExamSession, world["session_id"])
        sess.name = "改名后的场次"
        db.session.commit()
        db.session.remove()
    _r2, pkg2 = _export(world, "renamed.pkg")
    assert _r2.package_id != rep.package_id
    with station.app_context():
        with pytest.raises(SP.PackageError) as e:
            SP.import_exam_package(pkg2)
        assert e.value.code == "ticket_taken"
        db.session.remove()
