"""``examsys backup`` / ``examsys restore``: a round trip keeps every row and every media file; a damaged or
mismatching archive is refused with a clear message and changes nothing; a failure during the restore
leaves the database and the media as they were.

Runs on SQLite, and on PostgreSQL (pg_dump/pg_restore/psql) when ``TEST_DATABASE_URL`` is PostgreSQL.
"""
from __future__ import annotations

import io
import json
import shutil
import tarfile

import pytest

from examsys.extensions import db
from examsys.models import ExamResponse, MediaFile
from examsys.services import backup as B

from .test_backup_support import (BACKEND, ScratchDatabases, count, dispose, init_schema, make_app,  # noqa: F401
                                  media_snapshot, populate, scratch, table_rows)


@pytest.fixture
def source(scratch, tmp_path):
    app = make_app(scratch.url("src"), tmp_path / "src")
    init_schema(app)
    populate(app)
    yield app
    dispose(app)


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One populated database and its archive for the tests that must change nothing (module scope: each
    of them checks that the database and the media are unchanged afterwards)."""
    tmp = tmp_path_factory.mktemp("shared")
    dbs = ScratchDatabases(tmp)
    app = make_app(dbs.url("shared"), tmp / "src")
    try:
        init_schema(app)
        populate(app)
        archive = tmp / "good.tar"
        report = _backup(app, archive)
        yield app, archive, report, table_rows(app), media_snapshot(app.config["MEDIA_DIR"])
    finally:
        dispose(app)
        dbs.close()


def _backup(app, out):
    with app.app_context():
        return B.create_backup(out)


def _restore(app, archive, **kw):
    with app.app_context():
        return B.restore_backup(archive, **kw)


def _rewrite(archive, out, *, manifest=None, member=None):
    """Copy ``archive`` to ``out`` changing the manifest (a function of it) or one member's bytes."""
    with tarfile.open(archive) as src, tarfile.open(out, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()
            if m.name == "manifest.json" and manifest:
                data = json.dumps(manifest(json.loads(data))).encode()
            elif member and m.name == member[0]:
                data = member[1](data)
            m.size = len(data)
            dst.addfile(m, io.BytesIO(data))


def test_round_trip_onto_a_new_machine_keeps_every_row_and_media_file(source, scratch, tmp_path):
    archive = tmp_path / "backup.tar"
    report = _backup(source, archive)
    assert report.media_files == 2 and report.rows > 0 and report.revision == B.head_revision()
    manifest = B.read_manifest(archive)
    assert manifest["format"] == "examsys-backup" and manifest["alembic_revision"] == B.head_revision()
    assert manifest["database"]["dialect"] == BACKEND and manifest["created_at"]
    assert all(len(m["sha256"]) == 64 for m in manifest["members"].values())
    assert manifest["database"]["tables"]["exam_response"] == 12

    fresh = make_app(scratch.url("new"), tmp_path / "new")  # an empty database, no media directory
    try:
        r = _restore(fresh, archive)
        assert r.rows == report.rows and not r.needs_upgrade
        assert table_rows(fresh) == table_rows(source)
        assert media_snapshot(fresh.config["MEDIA_DIR"]) == media_snapshot(source.config["MEDIA_DIR"])
        with fresh.app_context():  # the audit chain is intact after the move
            from examsys.services import audit
            assert audit.verify_chain() == (True, None)
            db.session.remove()
    finally:
        dispose(fresh)


def test_restore_over_changed_data_brings_back_the_snapshot(source, tmp_path):
    archive = tmp_path / "backup.tar.gz"
    _backup(source, archive)
    assert archive.read_bytes()[:2] == b"\x1f\x8b"  # .gz in the name: compressed
    before_rows, before_media = table_rows(source), media_snapshot(source.config["MEDIA_DIR"])
    with source.app_context():  # later changes: rows deleted and added, a media file added
        db.session.query(ExamResponse).delete()
        from examsys.services import media as media_service
        from .test_backup_support import png
        media_service.store(png(7), "later.png", None)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    assert count(source, ExamResponse) == 0
    _restore(source, archive)
    assert table_rows(source) == before_rows
    assert media_snapshot(source.config["MEDIA_DIR"]) == before_media


def _unchanged(app, rows, media):
    assert table_rows(app) == rows
    assert media_snapshot(app.config["MEDIA_DIR"]) == media


@pytest.mark.parametrize("damage,code", [
    ("media_byte", "checksum"),
    ("db_byte", "checksum"),
    ("truncate", "corrupt"),
    ("not_tar", "not_archive"),
    ("no_manifest", "no_manifest"),
    ("extra_member", "corrupt"),
    ("missing_member", "incomplete"),
    ("revision", "unknown_revision"),
    ("dialect", "dialect_mismatch"),
    ("format", "format"),
])
def test_damaged_or_mismatching_archives_are_refused_and_nothing_changes(shared, tmp_path, damage, code):
    source, archive, report, rows, media = shared
    bad = tmp_path / "bad.tar"
    media_member = next(n for n in report.manifest["members"] if n.startswith("media/"))
    db_member = report.manifest["database"]["member"]
    flip = lambda data: data[:40] + bytes([data[40] ^ 1]) + data[41:]  # noqa: E731
    if damage == "media_byte":
        _rewrite(archive, bad, member=(media_member, flip))
    elif damage == "db_byte":
        _rewrite(archive, bad, member=(db_member, flip))
    elif damage == "truncate":
        data = archive.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "not_tar":
        bad.write_bytes(b"PK\x03\x04 this is not a tar file" * 40)
    elif damage == "no_manifest":
        with tarfile.open(archive) as src, tarfile.open(bad, "w") as dst:
            for m in src.getmembers():
                if m.name != "manifest.json":
                    dst.addfile(m, src.extractfile(m))
    elif damage == "extra_member":
        shutil.copy(archive, bad)
        with tarfile.open(bad, "a") as t:
            info = tarfile.TarInfo("../../etc/evil")
            info.size = 4
            t.addfile(info, io.BytesIO(b"evil"))
    elif damage == "missing_member":
        with tarfile.open(archive) as src, tarfile.open(bad, "w") as dst:
            for m in src.getmembers():
                if m.name != media_member:
                    dst.addfile(m, src.extractfile(m))
    elif damage == "revision":
        _rewrite(archive, bad, manifest=lambda m: {**m, "alembic_revision": "9999_from_the_future"})
    elif damage == "dialect":
        other = "postgresql" if BACKEND == "sqlite" else "sqlite"
        _rewrite(archive, bad, manifest=lambda m: {**m, "database": {**m["database"], "dialect": other,
                                                                       "member": B.DB_MEMBER[other]},
                                                   "members": {(B.DB_MEMBER[other] if k == db_member else k): v
                                                               for k, v in m["members"].items()}})
    elif damage == "format":
        _rewrite(archive, bad, manifest=lambda m: {**m, "format": "something-else"})
    with pytest.raises(B.BackupError) as e:
        _restore(source, bad)
    assert e.value.code == code, e.value.message
    assert str(bad) in e.value.message or code in ("dialect_mismatch",)
    _unchanged(source, rows, media)
    # staging directories are cleaned up
    media_dir = source.config["MEDIA_DIR"]
    assert [p.name for p in media_dir.parent.iterdir() if ".restore-" in p.name] == []


def test_a_failure_during_the_database_step_leaves_everything_as_it_was(source, tmp_path, monkeypatch):
    archive = tmp_path / "good.tar"
    _backup(source, archive)
    with source.app_context():  # diverge from the archive
        db.session.query(ExamResponse).delete()
        db.session.query(MediaFile).delete()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    shutil.rmtree(source.config["MEDIA_DIR"] / sorted(p.name for p in source.config["MEDIA_DIR"].iterdir())[0])
    rows, media = table_rows(source), media_snapshot(source.config["MEDIA_DIR"])
    if BACKEND == "sqlite":
        def boom(copy):
            raise B.BackupError("simulated failure", "restore_failed")
        monkeypatch.setattr(B, "_restore_sqlite", boom)
        bad = archive
    else:
        # a real failure inside the single transaction: the final row-count check fails after every table
        # was dropped and reloaded, so PostgreSQL rolls all of it back
        bad = tmp_path / "bad.tar"
        _rewrite(archive, bad, manifest=lambda m: {**m, "database": {
            **m["database"], "tables": {**m["database"]["tables"], "exam_response": 999}}})
    with pytest.raises(B.BackupError) as e:
        _restore(source, bad)
    assert e.value.code == "restore_failed"
    _unchanged(source, rows, media)


def test_check_only_verifies_and_changes_nothing(source, tmp_path):
    archive = tmp_path / "b.tar"
    _backup(source, archive)
    with source.app_context():
        db.session.query(ExamResponse).delete()
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    rows = table_rows(source)
    r = _restore(source, archive, check_only=True)
    assert r.checked_only and table_rows(source) == rows


def test_cli_backup_and_restore(source, tmp_path):
    runner = source.test_cli_runner()
    archive = tmp_path / "cli.tar"
    res = runner.invoke(args=["backup", str(archive)])
    assert res.exit_code == 0, res.output
    assert "Backup written" in res.output and "media: 2 file(s)" in res.output
    res = runner.invoke(args=["restore", "--check", str(archive)])
    assert res.exit_code == 0 and "Nothing was changed" in res.output, res.output
    res = runner.invoke(args=["restore", str(archive)], input="n\n")  # asks first
    assert res.exit_code != 0 and "Aborted" in res.output
    res = runner.invoke(args=["restore", "--yes", str(archive)])
    assert res.exit_code == 0 and "Restored" in res.output, res.output
    (tmp_path / "junk.tar").write_bytes(b"junk")
    res = runner.invoke(args=["restore", "--yes", str(tmp_path / "junk.tar")])
    assert res.exit_code == 1 and "Restore refused" in res.output and "junk.tar" in res.output


def test_an_in_memory_database_cannot_be_backed_up(tmp_path):
    app = make_app("sqlite://", tmp_path / "mem")
    with app.app_context():
        with pytest.raises(B.BackupError) as e:
            B.create_backup(tmp_path / "x.tar")
    assert e.value.code == "memory"
    assert not (tmp_path / "x.tar").exists()
