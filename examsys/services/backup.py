"""Backup and restore: one archive file holding a consistent snapshot of the database and the media files.

**The archive** is a tar file (``.tar``; ``.tar.gz``/``.tgz`` when the name says so) with these members::

    database.sqlite    SQLite: a copy made with the sqlite3 online backup API (consistent, online)
    database.pgdump    PostgreSQL: ``pg_dump --format=custom`` of the examsys schema (consistent snapshot)
    media/ab/abcd…     every image of MEDIA_DIR, named by its SHA-256
    manifest.json      last: format, examsys version, alembic revision, created_at, the database method and
                       per-table row counts (read in the same snapshot as the dump), and the SHA-256 and
                       size of every other member

The database is dumped first, then the media directory is copied: media files are content-addressed and
written before the row that refers to them is committed, so every image the snapshot refers to is in the
archive (a few newer, unreferenced ones may be too).

**Restore** (:func:`restore_backup`) refuses an archive that is not an examsys backup, is damaged (a member's
hash or size differs, a member is missing or unexpected), was made from the other kind of database, or
carries a migration revision this code does not know — with a message saying which. It never half-restores:
everything is extracted and checked in a staging directory first; the SQLite database is then replaced
with the sqlite3 backup API in one write transaction, the PostgreSQL schema in one transaction
(``psql --single-transaction``: drop the tables, ``pg_restore``'s SQL, then a check that every table has
the manifest's row count); the media directory is swapped with two renames and put back if the database
step fails. Stop the app servers before restoring.

PostgreSQL backups need ``pg_dump``, ``pg_restore`` and ``psql`` of the server's major version (or newer)
on the machine running the command. The connection comes from ``DATABASE_URL``; the password is passed in
the environment (``PGPASSWORD``), never on a command line.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import text

from .. import clock
from ..config import ROOT
from ..extensions import db

FORMAT = "examsys-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DB_MEMBER = {"sqlite": "database.sqlite", "postgresql": "database.pgdump"}
DB_METHOD = {"sqlite": "sqlite3-online-backup", "postgresql": "pg_dump-custom"}
MEDIA_RE = re.compile(r"^media/([0-9a-f]{2})/([0-9a-f]{64})$")
_CHUNK = 1024 * 1024


class BackupError(Exception):
    """A refused or failed backup/restore; ``code`` names the reason for scripts and tests."""

    def __init__(self, message: str, code: str = "failed"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class BackupReport:
    path: Path
    size: int
    dialect: str
    revision: str | None
    tables: dict[str, int]
    media_files: int
    media_bytes: int
    seconds: float
    manifest: dict = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


@dataclass
class RestoreReport:
    dialect: str
    revision: str | None
    head: str | None
    tables: dict[str, int]
    media_files: int
    seconds: float
    created_at: str
    checked_only: bool = False

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    @property
    def needs_upgrade(self) -> bool:
        return self.revision != self.head


# ----------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------
def examsys_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("examsys")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout that is not installed
        return "unknown"


def _scripts():
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(cfg)


def head_revision() -> str | None:
    return _scripts().get_current_head()


def known_revisions() -> list[str]:
    """Every revision of this code, base first."""
    return [r.revision for r in reversed(list(_scripts().walk_revisions()))]


def _sha256_file(path: Path) -> tuple[str, int]:
    h = hashlib.sha256()
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


class _HashingReader(io.RawIOBase):
    """Wraps a file: hashes what is read through it (so a member is read once for the tar and the hash)."""

    def __init__(self, f):
        self.f = f
        self.h = hashlib.sha256()
        self.n = 0

    def readable(self) -> bool:
        return True

    def read(self, size=-1):
        data = self.f.read(size)
        self.h.update(data)
        self.n += len(data)
        return data


def _dialect() -> str:
    name = db.engine.dialect.name
    if name not in DB_MEMBER:
        raise BackupError(_("Unsupported database %(name)s: examsys backs up SQLite and PostgreSQL.", name=name),
                          "dialect")
    return name


def _sqlite_path() -> Path:
    path = db.engine.url.database
    if not path or path == ":memory:" or path.startswith("file::memory:"):
        raise BackupError(_("The database is an in-memory SQLite database: there is nothing on disk to back up or "
                            "restore into."), "memory")
    return Path(path)


def _media_dir() -> Path:
    return Path(current_app.config["MEDIA_DIR"])


def _media_files(media: Path) -> list[tuple[str, Path]]:
    """``(member name, path)`` of every content-addressed file under MEDIA_DIR (other files are skipped)."""
    out = []
    if not media.is_dir():
        return out
    for sub in sorted(media.iterdir()):
        if not (sub.is_dir() and re.fullmatch(r"[0-9a-f]{2}", sub.name)):
            continue
        for f in sorted(sub.iterdir()):
            name = f"media/{sub.name}/{f.name}"
            if f.is_file() and MEDIA_RE.match(name) and f.name.startswith(sub.name):
                out.append((name, f))
    return out


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------------------
# PostgreSQL client tools
# ----------------------------------------------------------------------------------------------------
_PG_QUERY_ENV = {"sslmode": "PGSSLMODE", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "sslrootcert": "PGSSLROOTCERT",
                 "connect_timeout": "PGCONNECT_TIMEOUT", "options": "PGOPTIONS", "target_session_attrs":
                 "PGTARGETSESSIONATTRS"}


def _pg_env() -> dict[str, str]:
    """libpq environment for pg_dump/pg_restore/psql from the app's database URL (password not on argv)."""
    url = db.engine.url
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    for key, var in (("host", "PGHOST"), ("port", "PGPORT"), ("username", "PGUSER"), ("password", "PGPASSWORD"),
                     ("database", "PGDATABASE")):
        value = getattr(url, key)
        if value is not None and value != "":
            env[var] = str(value)
    for key, value in url.query.items():
        if key in _PG_QUERY_ENV:
            env[_PG_QUERY_ENV[key]] = value if isinstance(value, str) else value[0]
    env["PGAPPNAME"] = "examsys-backup"
    env["PGCONNECT_TIMEOUT"] = env.get("PGCONNECT_TIMEOUT", "10")
    return env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(_("%(tool)s was not found: install the PostgreSQL client tools of the server's major "
                            "version (Debian: apt-get install postgresql-client).", tool=name), "tools")
    return path


def _run(args: list[str], env: dict, what: str, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(args, env=env, capture_output=True, **kw)
    if res.returncode != 0:
        err = res.stderr.decode("utf-8", "replace").strip() if isinstance(res.stderr, bytes) else str(res.stderr)
        raise BackupError(_("%(what)s failed (exit status %(rc)s): %(error)s", what=what, rc=res.returncode,
                            error=err[-2000:]), "tool_failed")
    return res


def _pg_tables(conn, schema: str) -> list[str]:
    return [r[0] for r in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY 1"),
                                       {"s": schema})]


def _pg_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _count_rows(conn, tables: list[str], quote) -> dict[str, int]:
    return {t: int(conn.execute(text(f"SELECT count(*) FROM {quote(t)}")).scalar_one()) for t in tables}


def _revision_of(conn, tables) -> str | None:
    if "alembic_version" not in tables:
        return None
    revs = [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    return ",".join(sorted(revs)) or None


# ----------------------------------------------------------------------------------------------------
# backup
# ----------------------------------------------------------------------------------------------------
def _snapshot_sqlite(dest: Path) -> tuple[dict[str, int], str | None, dict]:
    src_path = _sqlite_path()
    if not src_path.exists():
        raise BackupError(_("The SQLite database %(path)s does not exist.", path=src_path), "missing_database")
    src = sqlite3.connect(str(src_path), timeout=30)
    dst = sqlite3.connect(str(dest))
    try:
        src.backup(dst)  # one step: a consistent copy, taken under one read lock (writers go on in WAL mode)
    finally:
        src.close()
    try:
        dst.execute("PRAGMA journal_mode=DELETE")
        tables = [r[0] for r in dst.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        counts = {t: int(dst.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}
        rev = None
        if "alembic_version" in tables:
            rev = ",".join(sorted(r[0] for r in dst.execute("SELECT version_num FROM alembic_version"))) or None
        info = {"sqlite_version": sqlite3.sqlite_version,
                "page_size": int(dst.execute("PRAGMA page_size").fetchone()[0])}
    finally:
        dst.close()
    return counts, rev, info


def _snapshot_postgresql(dest: Path) -> tuple[dict[str, int], str | None, dict]:
    pg_dump = _tool("pg_dump")
    env = _pg_env()
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            schema = conn.execute(text("SELECT current_schema()")).scalar_one()
            server = conn.execute(text("SHOW server_version")).scalar_one()
            tables = _pg_tables(conn, schema)
            counts = _count_rows(conn, tables, lambda t: f"{_pg_quote(schema)}.{_pg_quote(t)}")
            rev = None
            if "alembic_version" in tables:
                revs = [r[0] for r in conn.execute(text(
                    f"SELECT version_num FROM {_pg_quote(schema)}.alembic_version"))]
                rev = ",".join(sorted(revs)) or None
            # pg_dump reads the very snapshot the counts were taken in, while this transaction stays open.
            _run([pg_dump, "--format=custom", "--compress=6", "--no-owner", "--no-privileges",
                  f"--snapshot={snapshot}", f"--schema={schema}", f"--file={dest}"], env, "pg_dump")
    version = _run([pg_dump, "--version"], env, "pg_dump --version").stdout.decode().strip()
    return counts, rev, {"schema": schema, "server_version": server, "pg_dump": version}


def create_backup(out: str | Path, *, compress: bool | None = None) -> BackupReport:
    """Write a backup archive to ``out`` (atomically: a partial file never carries the final name).
    ``compress``: gzip the archive (default: when the name ends in ``.gz``/``.tgz``)."""
    t0 = time.perf_counter()
    out = Path(out)
    dialect = _dialect()
    if compress is None:
        compress = out.name.endswith((".gz", ".tgz"))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=".examsys-backup-"))
    try:
        db_member = DB_MEMBER[dialect]
        db_file = staging / db_member
        if dialect == "sqlite":
            counts, rev, info = _snapshot_sqlite(db_file)
        else:
            counts, rev, info = _snapshot_postgresql(db_file)
        members: dict[str, dict] = {}
        partial = staging / "archive.partial"
        media_count = media_bytes = 0
        with tarfile.open(partial, "w:gz" if compress else "w", format=tarfile.PAX_FORMAT,
                          **({"compresslevel": 1} if compress else {})) as tar:
            def add(name: str, path: Path, verify_sha: str | None = None) -> bool:
                st = path.stat()
                info_ = tarfile.TarInfo(name)
                info_.size = st.st_size
                info_.mtime = int(st.st_mtime)
                info_.mode = 0o600
                with open(path, "rb") as f:
                    reader = _HashingReader(f)
                    tar.addfile(info_, reader)
                if reader.n != st.st_size:  # pragma: no cover - the file changed while being read
                    raise BackupError(_("%(file)s changed while it was being archived.", file=path), "changed")
                digest = reader.h.hexdigest()
                members[name] = {"sha256": digest, "size": reader.n}
                if verify_sha is not None and digest != verify_sha:
                    current_app.logger.warning("media file %s does not match its name (damaged on disk); "
                                               "archived as it is", path)
                return True

            add(db_member, db_file)
            for name, path in _media_files(_media_dir()):
                add(name, path, verify_sha=path.name)
                media_count += 1
                media_bytes += members[name]["size"]
            manifest = {
                "format": FORMAT, "format_version": FORMAT_VERSION, "examsys_version": examsys_version(),
                "alembic_revision": rev, "created_at": clock.now().isoformat(),
                "database": {"dialect": dialect, "member": db_member, "method": DB_METHOD[dialect],
                             "tables": counts, **info},
                "media": {"files": media_count, "bytes": media_bytes},
                "members": members,
            }
            data = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
            mi = tarfile.TarInfo(MANIFEST)
            mi.size = len(data)
            mi.mtime = int(time.time())
            mi.mode = 0o600
            tar.addfile(mi, io.BytesIO(data))
        with open(partial, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(partial, out)
        _fsync_dir(out.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BackupReport(path=out, size=out.stat().st_size, dialect=dialect, revision=rev, tables=counts,
                        media_files=media_count, media_bytes=media_bytes, seconds=time.perf_counter() - t0,
                        manifest=manifest)


# ----------------------------------------------------------------------------------------------------
# reading and checking an archive
# ----------------------------------------------------------------------------------------------------
def _open(path: Path) -> tarfile.TarFile:
    if not path.is_file():
        raise BackupError(_("%(file)s: no such file.", file=path), "missing")
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise BackupError(_("%(file)s is not an examsys backup archive (not a readable tar file: %(error)s).",
                            file=path, error=str(e)), "not_archive") from None


def read_manifest(path: str | Path) -> dict:
    """The manifest of an archive, checked for shape (not yet against the members)."""
    path = Path(path)
    with _open(path) as tar:
        return _manifest_of(tar, path)


def _manifest_of(tar: tarfile.TarFile, path: Path) -> dict:
    try:
        member = tar.getmember(MANIFEST)
    except KeyError:
        raise BackupError(_("%(file)s is not an examsys backup: it has no manifest.json.", file=path),
                          "no_manifest") from None
    except (tarfile.TarError, OSError, EOFError, ValueError) as e:
        raise BackupError(_("%(file)s is damaged or truncated (%(error)s).", file=path, error=str(e)),
                          "corrupt") from None
    try:
        if not member.isfile() or member.size > 64 * 1024 * 1024:
            raise ValueError("not a regular file of a sensible size")
        manifest = json.loads(tar.extractfile(member).read().decode("utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError, tarfile.TarError, OSError, EOFError) as e:
        raise BackupError(_("%(file)s: the manifest cannot be read (%(error)s).", file=path, error=str(e)),
                          "corrupt") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(_("%(file)s is not an examsys backup (format %(format)s).", file=path,
                            format=repr(manifest.get("format"))), "format")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(_("%(file)s is a backup of format version %(v)s; this examsys reads version %(ours)s.",
                            file=path, v=manifest.get("format_version"), ours=FORMAT_VERSION), "format_version")
    dbinfo = manifest.get("database")
    if not isinstance(dbinfo, dict) or dbinfo.get("dialect") not in DB_MEMBER \
            or dbinfo.get("member") != DB_MEMBER[dbinfo.get("dialect")] \
            or not isinstance(dbinfo.get("tables"), dict) or not isinstance(manifest.get("members"), dict) \
            or dbinfo["member"] not in manifest["members"]:
        raise BackupError(_("%(file)s: the manifest is incomplete.", file=path), "corrupt")
    for name, m in manifest["members"].items():
        if name != dbinfo["member"] and not MEDIA_RE.match(name):
            raise BackupError(_("%(file)s: unexpected member %(name)s.", file=path, name=repr(name)), "corrupt")
        if not (isinstance(m, dict) and isinstance(m.get("sha256"), str) and isinstance(m.get("size"), int)):
            raise BackupError(_("%(file)s: the manifest is incomplete.", file=path), "corrupt")
    return manifest


def _check_compatible(manifest: dict, dialect: str, path: Path) -> None:
    archived = manifest["database"]["dialect"]
    if archived != dialect:
        raise BackupError(_("%(file)s is a backup of a %(archived)s database, but this examsys uses %(dialect)s. "
                            "Restore it into a %(archived)s database (DATABASE_URL).", file=path, archived=archived,
                            dialect=dialect), "dialect_mismatch")
    rev = manifest.get("alembic_revision")
    known = known_revisions()
    if rev is None:
        raise BackupError(_("%(file)s: the backup has no migration revision (the database was never migrated).",
                            file=path), "no_revision")
    if any(r not in known for r in str(rev).split(",")):
        raise BackupError(_("%(file)s was made at migration revision %(rev)s, which this examsys does not know "
                            "(newest known: %(head)s). Restore it with the examsys version that made it (%(version)s) "
                            "or a newer one.", file=path, rev=rev, head=known[-1] if known else "-",
                            version=manifest.get("examsys_version")),
                          "unknown_revision")


def _extract_checked(tar: tarfile.TarFile, manifest: dict, path: Path, db_dest: Path, media_dest: Path) -> None:
    """Extract every member to the staging places, checking names, sizes and hashes against the manifest."""
    expected = manifest["members"]
    seen: set[str] = set()
    try:
        for member in tar:
            name = member.name
            if name == MANIFEST:
                continue
            if name not in expected or name in seen or not member.isfile():
                raise BackupError(_("%(file)s: unexpected member %(name)s.", file=path, name=repr(name)),
                                  "corrupt")
            seen.add(name)
            if name == manifest["database"]["member"]:
                target = db_dest
            else:
                m = MEDIA_RE.match(name)
                target = media_dest / m.group(1) / m.group(2)
                target.parent.mkdir(parents=True, exist_ok=True)
            h = hashlib.sha256()
            n = 0
            src = tar.extractfile(member)
            with open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    h.update(chunk)
                    n += len(chunk)
                    out.write(chunk)
            want = expected[name]
            if n != want["size"] or h.hexdigest() != want["sha256"]:
                raise BackupError(_("%(file)s is damaged: %(name)s does not match its checksum in the manifest.",
                                    file=path, name=name), "checksum")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
        raise BackupError(_("%(file)s is damaged or truncated (%(error)s).", file=path, error=str(e)),
                          "corrupt") from None
    missing = sorted(set(expected) - seen)
    if missing:
        raise BackupError(_("%(file)s is incomplete: %(n)s member(s) missing, e.g. %(name)s.", file=path,
                            n=len(missing), name=missing[0]), "incomplete")


# ----------------------------------------------------------------------------------------------------
# restore
# ----------------------------------------------------------------------------------------------------
def _check_sqlite_copy(path: Path, manifest: dict) -> None:
    con = sqlite3.connect(str(path))
    try:
        ok = con.execute("PRAGMA quick_check").fetchone()[0]
        if ok != "ok":
            raise BackupError(_("The database in the archive is damaged (%(error)s).", error=ok), "corrupt_database")
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        counts = {t: int(con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in tables}
        if counts != manifest["database"]["tables"]:
            raise BackupError(_("The database in the archive does not hold the rows its manifest lists."),
                              "corrupt_database")
    except sqlite3.DatabaseError as e:
        raise BackupError(_("The database in the archive cannot be read (%(error)s).", error=str(e)),
                          "corrupt_database") from None
    finally:
        con.close()


def _restore_sqlite(copy: Path) -> None:
    """Replace the live database with ``copy`` in one write transaction (sqlite3 backup API)."""
    target = _sqlite_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    db.session.remove()
    db.engine.dispose()
    src = sqlite3.connect(str(copy))
    dst = sqlite3.connect(str(target), timeout=60)
    try:
        src.backup(dst)
    except sqlite3.Error as e:
        raise BackupError(_("The restore failed and was rolled back; the database is unchanged: %(error)s",
                            error=str(e)), "restore_failed") from None
    finally:
        dst.close()
        src.close()
        db.engine.dispose()


_PG_DROP = """
DO $examsys$
DECLARE r record;
BEGIN
  FOR r IN SELECT viewname FROM pg_views WHERE schemaname = current_schema() LOOP
    EXECUTE format('DROP VIEW IF EXISTS %I.%I CASCADE', current_schema(), r.viewname);
  END LOOP;
  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP
    EXECUTE format('DROP TABLE IF EXISTS %I.%I CASCADE', current_schema(), r.tablename);
  END LOOP;
  FOR r IN SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = current_schema() LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS %I.%I CASCADE', current_schema(), r.sequence_name);
  END LOOP;
END
$examsys$;
"""


def _pg_check_sql(schema: str, counts: dict[str, int]) -> str:
    """SQL that fails (rolling the whole restore back) unless the schema holds exactly the archived tables
    with the archived row counts."""
    lines = ["DO $examsys$", "DECLARE n bigint; t text;", "BEGIN"]
    names = ", ".join("'" + t.replace("'", "''") + "'" for t in sorted(counts)) or "''"
    lines.append(f"  SELECT string_agg(tablename, ', ') INTO t FROM pg_tables WHERE schemaname = "
                 f"'{schema}' AND tablename NOT IN ({names});")
    lines.append("  IF t IS NOT NULL THEN RAISE EXCEPTION 'examsys restore: unexpected tables %', t; END IF;")
    for table, n in sorted(counts.items()):
        q = f"{_pg_quote(schema)}.{_pg_quote(table)}"
        lit = table.replace("'", "''")
        lines.append(f"  SELECT count(*) INTO n FROM {q};")
        lines.append(f"  IF n <> {int(n)} THEN RAISE EXCEPTION 'examsys restore: table {lit} has % rows, "
                     f"the backup % ', n, {int(n)}; END IF;")
    lines += ["END", "$examsys$;", ""]
    return "\n".join(lines)


def _restore_postgresql(dump: Path, manifest: dict, staging: Path) -> None:
    pg_restore, psql = _tool("pg_restore"), _tool("psql")
    env = _pg_env()
    with db.engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    archived = manifest["database"].get("schema", "public")
    if schema != archived:
        raise BackupError(_("The backup holds schema %(archived)s; the database's current schema is %(schema)s.",
                            archived=archived, schema=schema), "schema_mismatch")
    db.session.remove()
    db.engine.dispose()
    # The table of contents without the schema itself (it exists already) — the rest is restored as SQL.
    toc = _run([pg_restore, "--list", str(dump)], env, "pg_restore --list").stdout.decode("utf-8", "replace")
    keep = [line for line in toc.splitlines()
            if not re.match(r"^\d+;\s+\d+\s+\d+\s+(SCHEMA|COMMENT)\s+-\s", line)]
    listing = staging / "toc.list"
    listing.write_text("\n".join(keep) + "\n", encoding="utf-8")
    pre = staging / "pre.sql"
    pre.write_text(f"SET search_path TO {_pg_quote(schema)};\n{_PG_DROP}", encoding="utf-8")
    post = staging / "post.sql"
    post.write_text(_pg_check_sql(schema, manifest["database"]["tables"]), encoding="utf-8")
    p1 = subprocess.Popen([pg_restore, "--no-owner", "--no-privileges", f"--use-list={listing}", "--file=-",
                           str(dump)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        p2 = subprocess.run([psql, "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
                             f"--file={pre}", "--file=-", f"--file={post}"], env=env, stdin=p1.stdout,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    finally:
        p1.stdout.close()
        err1 = p1.stderr.read().decode("utf-8", "replace")
        p1.stderr.close()
        rc1 = p1.wait()
    if rc1 != 0 or p2.returncode != 0:
        err = (err1 + "\n" + p2.stderr.decode("utf-8", "replace")).strip()
        raise BackupError(_("The restore failed and was rolled back; the database is unchanged: %(error)s",
                            error=err[-2000:]), "restore_failed")
    db.engine.dispose()


def _swap_media(new: Path, media: Path) -> Path | None:
    """Put ``new`` in place of ``media``; returns where the old directory went (or ``None``)."""
    old = None
    if media.exists():
        old = media.with_name(f"{media.name}.pre-restore-{_dt.datetime.now():%Y%m%d%H%M%S}-{os.getpid()}")
        os.rename(media, old)
    try:
        os.rename(new, media)
    except OSError:
        if old is not None:
            os.rename(old, media)
        raise
    return old


def restore_backup(path: str | Path, *, check_only: bool = False) -> RestoreReport:
    """Restore the archive at ``path`` into the configured database and MEDIA_DIR (see the module docstring).
    ``check_only``: verify the archive (manifest, checksums, compatibility, database readable) and change
    nothing. Raises :class:`BackupError` with a clear message; on any error nothing is changed."""
    t0 = time.perf_counter()
    path = Path(path)
    dialect = _dialect()
    if dialect == "sqlite":
        target_dir = _sqlite_path().parent
    else:
        target_dir = Path(tempfile.gettempdir())
    media = _media_dir()
    media.parent.mkdir(parents=True, exist_ok=True)
    target_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target_dir, prefix=".examsys-restore-"))
    media_new = Path(tempfile.mkdtemp(dir=media.parent, prefix=f".{media.name}.restore-"))
    old_media = None
    try:
        with _open(path) as tar:
            manifest = _manifest_of(tar, path)
            _check_compatible(manifest, dialect, path)
            db_copy = staging / manifest["database"]["member"]
            _extract_checked(tar, manifest, path, db_copy, media_new)
        if dialect == "sqlite":
            _check_sqlite_copy(db_copy, manifest)
        else:
            _run([_tool("pg_restore"), "--list", str(db_copy)], _pg_env(), "pg_restore --list")
        if not check_only:
            old_media = _swap_media(media_new, media)
            try:
                if dialect == "sqlite":
                    _restore_sqlite(db_copy)
                else:
                    _restore_postgresql(db_copy, manifest, staging)
            except BaseException:
                # put the media directory back as it was
                shutil.rmtree(media, ignore_errors=True)
                if old_media is not None:
                    os.rename(old_media, media)
                    old_media = None
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if media_new.exists():
            shutil.rmtree(media_new, ignore_errors=True)
        if old_media is not None:
            shutil.rmtree(old_media, ignore_errors=True)
    return RestoreReport(dialect=dialect, revision=manifest.get("alembic_revision"), head=head_revision(),
                         tables=dict(manifest["database"]["tables"]),
                         media_files=int(manifest.get("media", {}).get("files", 0)),
                         seconds=time.perf_counter() - t0, created_at=str(manifest.get("created_at")),
                         checked_only=check_only)
