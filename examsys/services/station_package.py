"""Station packages: run an exam session on an offline station laptop (SQLite) and bring the answers back.

The flow (docs/deployment.md, "Offline stations")::

    central server                                        station laptop (offline, SQLite)
    export_exam_package(session) ──── exam package ────►  import_exam_package()   (once; again = no-op)
                                                           … candidates sit the exam, proctors proctor …
    import_results_package()  ◄─── results package ─────  export_results_package(session)
      (once; again = no-op; then machine marking)

**What travels.** The exam package carries the session (times, forms, seed), the station, the occupation,
the frozen paper forms in use with each item version's *candidate view* only (stem, options, unit, images —
no key, accepted answers, reference answer, marking points or rubric: :meth:`ItemTypeSpec.candidate_view`),
their images, and the roster: admission number, name, ID number, seat, form, the printed one-time login code
and each attempt's seeded layout, so every candidate sees exactly the paper the central server prepared.
Marking happens centrally: the station never holds an answer key. The results package carries, per admission
number, the attempt's state and times, every acknowledged answer (addressed by form and position, so ids
need not match), and the attempt events (logins, integrity signals, proctor actions with their reasons).

**Keys and signatures.** Each station has one secret key (32 random bytes) that the central server and the
station both hold: ``STATION_KEYS_DIR/<CODE>.key`` (``examsys station keygen CODE`` on the central server,
carried once to the laptop and installed with ``examsys station install-key``). From it HKDF-SHA256 derives
an encryption key and a MAC key. A package is a zip of ``manifest.json`` (readable without the key: kind,
package id, station, session, times, the payload's SHA-256), ``payload.bin`` (AES-256-GCM encryption of an
inner zip: ``content.json`` plus the images, bound to the kind, package id and station) and ``signature``
(HMAC-SHA256 of the manifest). Item content and ID numbers are therefore confidential on the USB stick as
well as authentic; a package signed with another station's key, altered or truncated is refused before
anything is read. (Shared-secret HMAC rather than Ed25519: the package also has to be encrypted, one secret
per station serves both directions, and the central server is the authority over its stations anyway.)

**Once, and all or nothing.** Each import runs in one transaction, recorded in the audit log under the
package id (``object_type = "station_package"``); importing the same package again changes nothing and says
so. Package ids are digests of the content, so re-exporting unchanged data gives the same id. The audit
entry of an exam-package import also records which central session the station's copy came from.

Exporting an exam package switches the session's central ``auto_start`` off (audited), so the central
sweeper never starts it or records its candidates absent while they sit the exam at the station.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import io
import json
import os
import re
import secrets
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, insert, select, update

from question_bank import item_types

from .. import clock
from ..extensions import db
from ..models import (AttemptEvent, AuditLog, ExamAttempt, ExamCandidate, ExamResponse, ExamSession, Item,
                      ItemVersion, MediaFile, Occupation, Paper, PaperForm, PaperItem, Station)
from ..models.exams import FINAL_STATUSES, NOT_STARTED, SCHEDULED
from . import audit, media as media_service, pii

FORMAT = "examsys-station-package"
FORMAT_VERSION = 1
KEY_FORMAT = "examsys-station-key"
EXAM = "exam"
RESULTS = "results"
MEMBERS = ("manifest.json", "payload.bin", "signature")
MAX_PACKAGE_BYTES = 2 * 1024 ** 3
CODE_RE = re.compile(r"^[0-9A-Za-z_.-]{1,32}$")
OBJECT = "station_package"
ACT_EXPORT = "station.package_export"
ACT_IMPORT = "station.package_import"
ACT_RESULTS_EXPORT = "station.results_export"
ACT_RESULTS_IMPORT = "station.results_import"
_ATTEMPT_FIELDS = ("status", "confirmed_at", "entered_at", "deadline", "extra_seconds", "paused_seconds",
                   "last_seen_at", "submitted_at", "finalised_at", "submit_reason", "answered_count")
_TIME_FIELDS = {"confirmed_at", "entered_at", "deadline", "last_seen_at", "submitted_at", "finalised_at"}


class PackageError(Exception):
    """A refused package operation; ``message`` is for the operator, ``code`` for scripts and tests."""

    def __init__(self, message: str, code: str = "refused"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class PackageReport:
    kind: str
    package_id: str
    station: str
    session_id: int | None = None  # the session on this side
    path: Path | None = None
    already: bool = False  # an import that had been done before (nothing changed)
    counts: dict = field(default_factory=dict)
    message: str = ""


# ----------------------------------------------------------------------------------------------------
# keys
# ----------------------------------------------------------------------------------------------------
def _keys_dir() -> Path:
    return Path(current_app.config.get("STATION_KEYS_DIR") or Path(current_app.instance_path) / "station_keys")


def _check_code(code: str) -> str:
    code = (code or "").strip()
    if not CODE_RE.match(code):
        raise PackageError(_("%(code)s is not a valid station code (letters, digits, '-', '_', '.').", code=code),
                           "bad_code")
    return code


def key_path(code: str) -> Path:
    return _keys_dir() / f"{_check_code(code)}.key"


def key_id(secret: bytes) -> str:
    """A short public fingerprint of a key (shown in manifests and messages, never the key)."""
    return hashlib.sha256(b"examsys-station-key-id|" + secret).hexdigest()[:16]


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        os.chmod(tmp, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _key_document(code: str, secret: bytes) -> bytes:
    doc = {"format": KEY_FORMAT, "station": code, "key_id": key_id(secret),
           "key": base64.urlsafe_b64encode(secret).decode("ascii"), "created_at": clock.now().isoformat()}
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


def _parse_key(data: bytes, source: str) -> tuple[str, bytes]:
    try:
        doc = json.loads(data.decode("utf-8"))
        secret = base64.urlsafe_b64decode(doc["key"].encode("ascii"))
        code = _check_code(doc["station"])
        if doc.get("format") != KEY_FORMAT or len(secret) != 32:
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise PackageError(_("%(file)s is not an examsys station key file.", file=source), "bad_key") from None
    return code, secret


def generate_key(code: str, *, force: bool = False) -> tuple[Path, str]:
    """Create the station's secret key file; returns ``(path, key id)``. Refuses to replace one unless
    ``force`` (a new key makes packages signed with the old one unreadable)."""
    path = key_path(code)
    if path.exists() and not force:
        raise PackageError(_("Station %(code)s already has a key (%(path)s); use --force to replace it.",
                             code=code, path=path), "key_exists")
    secret = secrets.token_bytes(32)
    _write_private(path, _key_document(_check_code(code), secret))
    return path, key_id(secret)


def install_key(source: str | Path, *, force: bool = False) -> tuple[str, Path, str]:
    """Copy a key file (made by :func:`generate_key` on the central server) into this installation's key
    directory; returns ``(station code, path, key id)``."""
    source = Path(source)
    try:
        data = source.read_bytes()
    except OSError as e:
        raise PackageError(_("%(file)s cannot be read (%(error)s).", file=source, error=e.strerror), "bad_key") \
            from None
    code, secret = _parse_key(data, str(source))
    path = key_path(code)
    if path.exists() and not force and path.read_bytes() != data:
        raise PackageError(_("Station %(code)s already has a different key (%(path)s); use --force to replace it.",
                             code=code, path=path), "key_exists")
    _write_private(path, data)
    return code, path, key_id(secret)


def load_key(code: str) -> bytes:
    path = key_path(code)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PackageError(_("There is no key for station %(code)s here (%(path)s). Create it on the central "
                             "server with `examsys station keygen %(code)s` and install it on the station with "
                             "`examsys station install-key`.", code=code, path=path), "no_key") from None
    found, secret = _parse_key(data, str(path))
    if found != code:
        raise PackageError(_("%(file)s is not an examsys station key file.", file=str(path)), "bad_key")
    return secret


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"examsys-station-package",
                info=b"v1|" + purpose).derive(secret)


# ----------------------------------------------------------------------------------------------------
# the package file
# ----------------------------------------------------------------------------------------------------
def _canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def _package_id(kind: str, content: dict, media: dict[str, bytes]) -> str:
    h = hashlib.sha256(kind.encode() + b"|" + _canonical(content))
    for sha in sorted(media):
        h.update(sha.encode())
    return h.hexdigest()[:32]


def _aad(kind: str, package_id: str, station: str) -> bytes:
    return f"{FORMAT}|{kind}|{package_id}|{station}".encode("utf-8")


def _inner_zip(content: dict, media: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        z.writestr("content.json", json.dumps(content, ensure_ascii=False, sort_keys=True, default=str))
        for sha, data in sorted(media.items()):
            z.writestr(zipfile.ZipInfo(f"media/{sha}"), data, compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


def _seal(kind: str, station: str, content: dict, media: dict[str, bytes], summary: dict, out: Path) -> str:
    """Encrypt, sign and write a package atomically; returns its id."""
    from .backup import examsys_version, head_revision
    secret = load_key(station)
    package_id = _package_id(kind, content, media)
    nonce = secrets.token_bytes(12)
    payload = AESGCM(_derive(secret, b"encrypt")).encrypt(nonce, _inner_zip(content, media),
                                                          _aad(kind, package_id, station))
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": kind, "package_id": package_id,
        "station": station, "key_id": key_id(secret), "created_at": clock.now().isoformat(),
        "examsys_version": examsys_version(), "alembic_revision": head_revision(), **summary,
        "payload": {"member": "payload.bin", "cipher": "AES-256-GCM", "nonce": base64.b64encode(nonce).decode(),
                    "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()},
        "signature": "HMAC-SHA256 of manifest.json with the station key (member signature)",
    }
    mbytes = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
    sig = hmac.new(_derive(secret, b"sign"), mbytes, hashlib.sha256).hexdigest()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".package-")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
                z.writestr("manifest.json", mbytes)
                z.writestr("payload.bin", payload)
                z.writestr("signature", f"HMAC-SHA256 {sig}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return package_id


def read_manifest(path: str | Path) -> dict:
    """The (unverified) manifest of a package: what it is, for whom, from when — no key needed."""
    with _zip(Path(path)) as z:
        return _manifest(z, Path(path))


def _zip(path: Path) -> zipfile.ZipFile:
    try:
        if path.stat().st_size > MAX_PACKAGE_BYTES:
            raise PackageError(_("%(file)s is too large to be a station package.", file=path), "too_large")
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise PackageError(_("%(file)s: no such file.", file=path), "missing") from None
    except (zipfile.BadZipFile, OSError):
        raise PackageError(_("%(file)s is not a station package (not a readable zip file).", file=path),
                           "not_package") from None


def _manifest(z: zipfile.ZipFile, path: Path) -> dict:
    names = sorted(i.filename for i in z.infolist())
    if names != sorted(MEMBERS):
        raise PackageError(_("%(file)s is not a station package (members: %(names)s).", file=path,
                             names=", ".join(names[:5])), "not_package")
    try:
        raw = z.read("manifest.json") if z.getinfo("manifest.json").file_size < 1024 * 1024 else b""
        manifest = json.loads(raw.decode("utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile, OSError):
        raise PackageError(_("%(file)s is damaged: its manifest cannot be read.", file=path), "corrupt") from None
    if manifest.get("format") != FORMAT:
        raise PackageError(_("%(file)s is not a station package.", file=path), "not_package")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise PackageError(_("%(file)s has package format %(v)s; this examsys reads format %(ours)s.", file=path,
                             v=manifest.get("format_version"), ours=FORMAT_VERSION), "format_version")
    return manifest


def _open(path: Path, kind: str) -> tuple[dict, dict, dict[str, bytes], bytes]:
    """Verify and decrypt a package: ``(manifest, content, media, manifest bytes)``. Refuses (before reading
    any content) a package of the other kind, for a station without a key here, with a wrong signature,
    or with a payload that does not match."""
    with _zip(path) as z:
        manifest = _manifest(z, path)
        if manifest.get("kind") != kind:
            what = {EXAM: _("an exam package"), RESULTS: _("a results package")}
            raise PackageError(_("%(file)s is %(found)s, not %(wanted)s.", file=path,
                                 found=what.get(manifest.get("kind"), repr(manifest.get("kind"))),
                                 wanted=what[kind]), "wrong_kind")
        station = _check_code(str(manifest.get("station") or ""))
        secret = load_key(station)
        mbytes = z.read("manifest.json")
        if z.getinfo("signature").file_size > 1024:
            raise PackageError(_("%(file)s is not a station package.", file=path), "not_package")
        sig_text = z.read("signature").decode("ascii", "replace").strip()
        expected = hmac.new(_derive(secret, b"sign"), mbytes, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig_text.encode(), f"HMAC-SHA256 {expected}".encode()):
            raise PackageError(_("The signature of %(file)s does not match: it was altered, or signed with "
                                 "another key (package key %(theirs)s, key here %(ours)s). Nothing was imported.",
                                 file=path, theirs=manifest.get("key_id"), ours=key_id(secret)), "bad_signature")
        info = manifest.get("payload") or {}
        zi = z.getinfo("payload.bin")
        if zi.file_size != info.get("size") or zi.file_size > MAX_PACKAGE_BYTES:
            raise PackageError(_("%(file)s is damaged (the payload has the wrong size).", file=path), "corrupt")
        try:
            payload = z.read("payload.bin")
        except (zipfile.BadZipFile, OSError):
            raise PackageError(_("%(file)s is damaged (the payload cannot be read).", file=path), "corrupt") \
                from None
    if hashlib.sha256(payload).hexdigest() != info.get("sha256"):
        raise PackageError(_("%(file)s is damaged (the payload does not match its checksum).", file=path), "corrupt")
    try:
        inner = AESGCM(_derive(secret, b"encrypt")).decrypt(base64.b64decode(info["nonce"]), payload,
                                                            _aad(kind, manifest["package_id"], station))
    except (InvalidTag, KeyError, ValueError, TypeError):
        raise PackageError(_("%(file)s cannot be decrypted with the key of station %(code)s.", file=path,
                             code=station), "bad_signature") from None
    try:
        with zipfile.ZipFile(io.BytesIO(inner)) as iz:
            content = json.loads(iz.read("content.json").decode("utf-8"))
            media = {}
            for zi in iz.infolist():
                if zi.filename.startswith("media/"):
                    sha = zi.filename[6:]
                    data = iz.read(zi)
                    if hashlib.sha256(data).hexdigest() != sha:
                        raise ValueError(f"media {sha} does not match its hash")
                    media[sha] = data
    except (ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as e:
        raise PackageError(_("%(file)s is damaged (%(error)s).", file=path, error=str(e)), "corrupt") from None
    if _package_id(kind, content, media) != manifest.get("package_id"):
        raise PackageError(_("%(file)s is damaged (the content does not match the package id).", file=path),
                           "corrupt")
    return manifest, content, media, mbytes


# ----------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------
def _iso(t: _dt.datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def _time(s: str | None) -> _dt.datetime | None:
    if s is None:
        return None
    t = _dt.datetime.fromisoformat(s)
    return t if t.tzinfo is not None else t.replace(tzinfo=_dt.timezone.utc)


def _entries(action: str, object_type: str | None = None, object_id=None) -> list[AuditLog]:
    q = select(AuditLog).where(AuditLog.action == action)
    if object_type is not None:
        q = q.where(AuditLog.object_type == object_type)
    if object_id is not None:
        q = q.where(AuditLog.object_id == str(object_id))
    return list(db.session.execute(q.order_by(AuditLog.id)).scalars())


def _local(t: _dt.datetime | None) -> str:
    if t is None:
        return ""
    return t.astimezone(_dt.timezone(_dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")


STATION_COPY_SOLVER = "station package"  # Paper.solver of a station's keyless copy of a central paper


def is_station_copy(session_id: int) -> bool:
    """Is this (station-side) session a keyless copy imported from an exam package? Machine marking cannot
    run on it: its objective items are marked centrally when the results package comes back."""
    return db.session.execute(select(Paper.solver).join(ExamSession, ExamSession.paper_id == Paper.id)
                              .where(ExamSession.id == session_id)).scalar_one_or_none() == STATION_COPY_SOLVER


def imported_from(session_id: int) -> dict | None:
    """On a station: the exam-package import that created session ``session_id`` (its audit ``after``)."""
    for e in _entries(ACT_IMPORT, OBJECT):
        if (e.after or {}).get("session_id") == session_id:
            return dict(e.after, package_id=e.object_id, at=e.at)
    return None


# ----------------------------------------------------------------------------------------------------
# central: export the exam package
# ----------------------------------------------------------------------------------------------------
def export_exam_package(session_id: int, out: str | Path, *, actor=None) -> PackageReport:
    """Write the signed, encrypted exam package of a scheduled session for its station."""
    sess = db.session.get(ExamSession, session_id)
    if sess is None:
        raise PackageError(_("There is no exam session %(id)s.", id=session_id), "not_found")
    if sess.status != SCHEDULED:
        raise PackageError(_("Session %(id)s has already started here; only a session that has not started can be "
                             "run at a station.", id=session_id), "started")
    station = db.session.get(Station, sess.station_id)
    code = _check_code(station.code)
    load_key(code)  # refuse early without a key
    paper = db.session.get(Paper, sess.paper_id)
    occupation = db.session.get(Occupation, sess.occupation_id)
    forms = {f.label: f for f in db.session.execute(
        select(PaperForm).where(PaperForm.paper_id == paper.id)).scalars() if f.label in sess.form_labels}
    rows = db.session.execute(select(ExamCandidate, ExamAttempt).join(
        ExamAttempt, ExamAttempt.candidate_id == ExamCandidate.id).where(ExamCandidate.session_id == sess.id)
        .order_by(ExamCandidate.row_number, ExamCandidate.id)).all()
    if not rows:
        raise PackageError(_("Session %(id)s has no candidates; import the roster first.", id=session_id),
                           "no_roster")
    media: dict[str, bytes] = {}
    media_rows = []
    form_docs = []
    for label in sess.form_labels:
        items = []
        for pi, iv in db.session.execute(select(PaperItem, ItemVersion).join(
                ItemVersion, ItemVersion.id == PaperItem.item_version_id)
                .where(PaperItem.form_id == forms[label].id).order_by(PaperItem.position)).all():
            view = item_types.get(iv.type).candidate_view(iv.content or {})  # no key ever leaves
            for sha in iv.images or []:
                if sha not in media:
                    row = db.session.get(MediaFile, sha)
                    try:
                        media[sha] = media_service.path_for(sha).read_bytes()
                    except (OSError, ValueError):
                        raise PackageError(_("The image %(sha)s of the paper is missing from the media "
                                             "directory.", sha=sha), "missing_media") from None
                    media_rows.append({"sha256": sha, "filename": row.filename if row else "image",
                                       "mime": row.mime if row else "application/octet-stream",
                                       "size": len(media[sha])})
            items.append({"id": pi.id, "position": pi.position, "section": pi.section, "points": pi.points,
                          "weight": pi.weight,
                          "version": {"id": iv.id, "item_id": iv.item_id, "number": iv.number, "type": iv.type,
                                      "kp_code": iv.kp_code, "grades": list(iv.grades or []), "points": iv.points,
                                      "stem": iv.stem, "content": view, "images": list(iv.images or [])}})
        form_docs.append({"label": label, "items": items})
    candidates = []
    for c, a in rows:
        code_text = None
        if c.login_code_cipher and c.login_code_used_at is None:
            code_text = pii.decrypt(c.login_code_cipher)
        candidates.append({"ticket_no": c.ticket_no, "name": c.name, "id_number": pii.decrypt(c.id_cipher),
                           "seat": c.seat, "form_label": c.form_label, "row_number": c.row_number,
                           "login_code": code_text,
                           "attempt": {"id": a.id, "seed": a.seed, "layout": a.layout,
                                       "extra_seconds": a.extra_seconds or 0}})
    auto_start = sess.auto_start
    previous = _entries(ACT_EXPORT, "exam_session", sess.id)
    if previous:  # the first export switched auto_start off centrally; the station keeps the original
        auto_start = (previous[0].after or {}).get("auto_start", auto_start)
    content = {
        "session": {"id": sess.id, "name": sess.name, "form_labels": list(sess.form_labels),
                    "form_assignment": sess.form_assignment, "starts_at": _iso(sess.starts_at),
                    "duration_min": sess.duration_min, "late_entry_min": sess.late_entry_min,
                    "grace_seconds": sess.grace_seconds, "login_opens_min": sess.login_opens_min,
                    "auto_start": bool(auto_start), "seed": sess.seed},
        "station": {"code": station.code, "name": station.name, "region": station.region},
        "occupation": {"code": occupation.code, "name": occupation.name, "work_type": occupation.work_type,
                       "grades": list(occupation.grades or [])},
        "paper": {"id": paper.id, "name": paper.name, "grade": paper.grade, "part": paper.part,
                  "duration_min": paper.duration_min, "total_points": paper.total_points,
                  "multiple_choice_rule": paper.multiple_choice_rule, "forms": form_docs},
        "candidates": candidates,
        "media": sorted(media_rows, key=lambda m: m["sha256"]),
        "answer_keys": False,
    }
    summary = {"session": {"id": sess.id, "name": sess.name, "starts_at": _iso(sess.starts_at),
                           "candidates": len(candidates), "forms": list(sess.form_labels)}}
    package_id = _seal(EXAM, code, content, media, summary, Path(out))
    if sess.auto_start:
        sess.auto_start = False
        sess.updated_at = clock.now()
    audit.record(ACT_EXPORT, "exam_session", sess.id, actor=actor,
                 after={"package_id": package_id, "station": code, "candidates": len(candidates),
                        "forms": list(sess.form_labels), "media": len(media), "auto_start": bool(auto_start)},
                 reason="exam package for an offline station; central auto start switched off")
    db.session.commit()
    return PackageReport(EXAM, package_id, code, session_id=sess.id, path=Path(out),
                         counts={"candidates": len(candidates), "items": sum(len(f["items"]) for f in form_docs),
                                 "media": len(media)})


# ----------------------------------------------------------------------------------------------------
# station: import the exam package
# ----------------------------------------------------------------------------------------------------
def import_exam_package(path: str | Path, *, actor=None) -> PackageReport:
    """Create the session, its paper (without keys), images and roster on this station from an exam package.
    Importing the same package again changes nothing."""
    path = Path(path)
    manifest, content, media, _m = _open(path, EXAM)
    package_id, code = manifest["package_id"], manifest["station"]
    done = _entries(ACT_IMPORT, OBJECT, package_id)
    if done:
        sid = (done[0].after or {}).get("session_id")
        return PackageReport(EXAM, package_id, code, session_id=sid, already=True, message=_(
            "This package was already imported on %(when)s (session %(id)s); nothing was changed.",
            when=_local(done[0].at), id=sid))
    try:
        return _apply_exam(package_id, code, content, media, actor)
    except Exception:  # all or nothing
        db.session.rollback()
        raise


def _apply_exam(package_id: str, code: str, content: dict, media: dict[str, bytes], actor) -> PackageReport:
    sdoc, cands = content["session"], content["candidates"]
    tickets = [c["ticket_no"] for c in cands]
    taken = db.session.execute(select(ExamCandidate.ticket_no, ExamCandidate.session_id)
                               .where(ExamCandidate.ticket_no.in_(tickets))).first()
    if taken is not None:
        raise PackageError(_("Admission number %(no)s is already in session %(id)s on this station; the package "
                             "was not imported.", no=taken[0], id=taken[1]), "ticket_taken")
    now = clock.now()
    st = db.session.execute(select(Station).where(Station.code == code)).scalar_one_or_none()
    if st is None:
        st = Station(code=code, name=content["station"]["name"], region=content["station"].get("region", ""))
        db.session.add(st)
        db.session.flush()
    odoc = content["occupation"]
    occ = db.session.execute(select(Occupation).where(Occupation.code == odoc["code"])).scalar_one_or_none()
    if occ is None:
        occ = Occupation(code=odoc["code"], name=odoc["name"], work_type=odoc.get("work_type", ""),
                         grades=list(odoc.get("grades") or []))
        db.session.add(occ)
        db.session.flush()
    # images: files first (content-addressed, harmless if the transaction fails), then their rows
    for m in content["media"]:
        data = media[m["sha256"]]
        target = media_service.path_for(m["sha256"])
        if not (target.exists() and target.stat().st_size == len(data)):
            media_service._write(target, data)
        if db.session.get(MediaFile, m["sha256"]) is None:
            db.session.add(MediaFile(sha256=m["sha256"], filename=m["filename"][:200], mime=m["mime"][:64],
                                     size=m["size"], created_by=None, created_at=now))
    pdoc = content["paper"]
    paper = Paper(occupation_id=occ.id, grade=pdoc["grade"], part=pdoc["part"], name=pdoc["name"], blueprint_hash="",
                  solver=STATION_COPY_SOLVER, duration_min=pdoc["duration_min"], total_points=pdoc["total_points"],
                  multiple_choice_rule=pdoc["multiple_choice_rule"], station_id=st.id, created_at=now)
    db.session.add(paper)
    db.session.flush()
    pi_map: dict[int, int] = {}
    iv_map: dict[int, int] = {}
    form_ids: dict[str, int] = {}
    for fdoc in pdoc["forms"]:
        form = PaperForm(paper_id=paper.id, label=fdoc["label"])
        db.session.add(form)
        db.session.flush()
        form_ids[fdoc["label"]] = form.id
        for idoc in fdoc["items"]:
            v = idoc["version"]
            if v["id"] not in iv_map:
                grades = list(v.get("grades") or [])
                item = Item(occupation_id=occ.id, status="retired", type=v["type"], created_at=now, updated_at=now,
                            kp_code=v["kp_code"], grade_mask=sum(1 << g for g in grades if 0 <= g < 31),
                            points=v["points"], search_text="", fingerprint="")
                db.session.add(item)
                db.session.flush()
                ver = ItemVersion(item_id=item.id, number=v["number"], type=v["type"], kp_code=v["kp_code"],
                                  grades=grades, points=v["points"], stem=v["stem"], content=v["content"],
                                  images=list(v.get("images") or []), source=f"station package {package_id[:12]}",
                                  comment=f"candidate view of central item {v['item_id']} version {v['number']} "
                                          f"(no answer key)", created_at=now)
                db.session.add(ver)
                db.session.flush()
                item.current_version_id = ver.id
                iv_map[v["id"]] = ver.id
            pi = PaperItem(form_id=form.id, position=idoc["position"], section=idoc["section"],
                           item_version_id=iv_map[v["id"]], points=idoc["points"], weight=idoc.get("weight"))
            db.session.add(pi)
            db.session.flush()
            pi_map[idoc["id"]] = pi.id
    sess = ExamSession(station_id=st.id, occupation_id=occ.id, grade=pdoc["grade"], paper_id=paper.id,
                       name=sdoc["name"], form_labels=list(sdoc["form_labels"]), form_assignment=sdoc["form_assignment"],
                       starts_at=_time(sdoc["starts_at"]), duration_min=sdoc["duration_min"],
                       late_entry_min=sdoc["late_entry_min"], grace_seconds=sdoc["grace_seconds"],
                       login_opens_min=sdoc["login_opens_min"], auto_start=bool(sdoc["auto_start"]), seed=sdoc["seed"],
                       status=SCHEDULED, created_by=getattr(actor, "id", None), created_at=now, updated_at=now)
    db.session.add(sess)
    db.session.flush()
    candidates = []
    for c in cands:
        idno = c["id_number"]
        candidates.append(ExamCandidate(
            session_id=sess.id, ticket_no=c["ticket_no"], name=c["name"], id_cipher=pii.encrypt(idno),
            id_hmac=pii.lookup_hash(idno), id_masked=pii.mask_id(idno), seat=c.get("seat") or "",
            form_label=c["form_label"], login_code_cipher=pii.encrypt(c["login_code"]) if c.get("login_code") else None,
            row_number=c.get("row_number") or 0, created_at=now))
    db.session.add_all(candidates)
    db.session.flush()
    for cand, c in zip(candidates, cands):
        layout = json.loads(json.dumps(c["attempt"]["layout"]))
        for sec in layout["sections"]:
            for e in sec["items"]:
                e["pi"] = pi_map[e["pi"]]
                if "iv" in e:
                    e["iv"] = iv_map[e["iv"]]
        db.session.add(ExamAttempt(session_id=sess.id, candidate_id=cand.id, paper_form_id=form_ids[c["form_label"]],
                                   seed=c["attempt"]["seed"], layout=layout, status=NOT_STARTED,
                                   extra_seconds=c["attempt"].get("extra_seconds") or 0, paused_seconds=0))
    audit.record(ACT_IMPORT, OBJECT, package_id, actor=actor, actor_label=None if actor else "station-package",
                 after={"session_id": sess.id, "central_session_id": sdoc["id"], "station": code,
                        "candidates": len(cands), "items": len(pi_map), "media": len(content["media"])})
    db.session.commit()
    return PackageReport(EXAM, package_id, code, session_id=sess.id,
                         counts={"candidates": len(cands), "items": len(pi_map), "media": len(content["media"])})


# ----------------------------------------------------------------------------------------------------
# station: export the results package
# ----------------------------------------------------------------------------------------------------
def export_results_package(session_id: int, out: str | Path, *, actor=None) -> PackageReport:
    """Write the signed, encrypted results package of a session imported from an exam package. Every attempt
    must be handed in (or absent) first: attempts past their deadline are finalised now."""
    from . import attempts as attempts_service
    origin = imported_from(session_id)
    if origin is None:
        raise PackageError(_("Session %(id)s was not imported from a station package, so it has no results "
                             "package.", id=session_id), "not_imported")
    sess = db.session.get(ExamSession, session_id)
    attempts_service.finalise_due_in_session(sess)
    # the responses' digests and answered counts are written by the post-finalisation: finish it for this
    # session now (a no-op for attempts already processed), so the package carries them
    from . import post_finalise
    pending = db.session.execute(select(ExamAttempt.id).where(
        ExamAttempt.session_id == session_id, ExamAttempt.finalised_at.is_not(None),
        ExamAttempt.processed_at.is_(None))).scalars().all()
    if pending:
        post_finalise.process_pending(attempt_ids=pending)
    rows = db.session.execute(select(ExamCandidate, ExamAttempt).join(
        ExamAttempt, ExamAttempt.candidate_id == ExamCandidate.id).where(ExamCandidate.session_id == session_id)
        .order_by(ExamCandidate.ticket_no).execution_options(populate_existing=True)).all()
    open_ = [c.ticket_no for c, a in rows if a.status not in FINAL_STATUSES]
    if open_:
        raise PackageError(_("%(n)s candidate(s) have not handed in yet (e.g. %(no)s). Hand in every paper "
                             "(collect all) before exporting the results.", n=len(open_), no=open_[0]), "open_attempts")
    where = {pi_id: (label, pos) for pi_id, label, pos in db.session.execute(
        select(PaperItem.id, PaperForm.label, PaperItem.position).join(PaperForm, PaperForm.id == PaperItem.form_id)
        .where(PaperForm.paper_id == sess.paper_id))}
    by_attempt: dict[int, list] = {}
    for r in db.session.execute(select(ExamResponse).join(ExamAttempt, ExamAttempt.id == ExamResponse.attempt_id)
                                .where(ExamAttempt.session_id == session_id)
                                .order_by(ExamResponse.attempt_id, ExamResponse.paper_item_id)).scalars():
        label, pos = where[r.paper_item_id]
        by_attempt.setdefault(r.attempt_id, []).append(
            {"form": label, "position": pos, "answer": r.answer, "flagged": bool(r.flagged), "seq": r.seq,
             "saved_at": _iso(r.saved_at)})
    ticket_of = {a.id: c.ticket_no for c, a in rows}
    attempts_doc = []
    for c, a in rows:
        doc = {"ticket_no": c.ticket_no, "form_label": c.form_label, "login_code_used_at": _iso(c.login_code_used_at),
               "final_digest_station": a.final_digest, "responses": by_attempt.get(a.id, [])}
        for name in _ATTEMPT_FIELDS:
            value = getattr(a, name)
            doc[name] = _iso(value) if name in _TIME_FIELDS else value
        attempts_doc.append(doc)
    events = []
    for ev in db.session.execute(select(AttemptEvent).where(AttemptEvent.session_id == session_id)
                                 .order_by(AttemptEvent.id)).scalars():
        detail = dict(ev.detail) if isinstance(ev.detail, dict) else ev.detail
        if isinstance(detail, dict) and isinstance(detail.get("item"), int) and detail["item"] in where:
            label, pos = where[detail["item"]]
            detail["item"] = {"form": label, "position": pos}
        events.append({"ticket_no": ticket_of.get(ev.attempt_id), "at": _iso(ev.at), "kind": ev.kind,
                       "actor_label": ev.actor_label, "detail": detail})
    content = {
        "exam_package_id": origin["package_id"], "central_session_id": origin["central_session_id"],
        "station": origin["station"],
        "session": {"status": sess.status, "started_at": _iso(sess.started_at), "finished_at": _iso(sess.finished_at)},
        "attempts": attempts_doc, "events": events,
    }
    n_resp = sum(len(a["responses"]) for a in attempts_doc)
    summary = {"session": {"id": origin["central_session_id"], "station_session_id": session_id, "name": sess.name,
                           "starts_at": _iso(sess.starts_at), "candidates": len(attempts_doc)},
               "exam_package_id": origin["package_id"]}
    package_id = _seal(RESULTS, origin["station"], content, {}, summary, Path(out))
    audit.record(ACT_RESULTS_EXPORT, "exam_session", session_id, actor=actor,
                 actor_label=None if actor else "station-package",
                 after={"package_id": package_id, "exam_package_id": origin["package_id"],
                        "attempts": len(attempts_doc), "responses": n_resp, "events": len(events)})
    db.session.commit()
    return PackageReport(RESULTS, package_id, origin["station"], session_id=session_id, path=Path(out),
                         counts={"attempts": len(attempts_doc), "responses": n_resp, "events": len(events)})


# ----------------------------------------------------------------------------------------------------
# central: import the results package
# ----------------------------------------------------------------------------------------------------
def import_results_package(path: str | Path, *, actor=None, mark: bool = True) -> PackageReport:
    """Store a station's results in the session they came from (all or nothing, once), then machine-mark it
    (``mark``; a marking failure leaves the import standing and is reported)."""
    path = Path(path)
    manifest, content, _media, _m = _open(path, RESULTS)
    package_id, code = manifest["package_id"], manifest["station"]
    done = _entries(ACT_RESULTS_IMPORT, OBJECT, package_id)
    if done:
        sid = (done[0].after or {}).get("session_id")
        return PackageReport(RESULTS, package_id, code, session_id=sid, already=True, message=_(
            "These results were already imported on %(when)s (session %(id)s); nothing was changed.",
            when=_local(done[0].at), id=sid))
    try:
        report = _apply_results(package_id, code, content, actor)
    except Exception:
        db.session.rollback()
        raise
    if mark:
        try:
            from . import marking_hooks
            marked = marking_hooks.mark_session(report.session_id)
            report.counts["marked"] = marked.get("marked", 0)
        except Exception as e:  # noqa: BLE001 - the import stands; marking can be re-run
            db.session.rollback()
            current_app.logger.exception("marking after the results import failed")
            report.message = _("The results were imported, but machine marking failed (%(error)s); run "
                               "`examsys station mark --session %(id)s`.", error=str(e), id=report.session_id)
    return report


def _apply_results(package_id: str, code: str, content: dict, actor) -> PackageReport:
    sid = content["central_session_id"]
    sess = db.session.get(ExamSession, sid)
    if sess is None:
        raise PackageError(_("The session %(id)s these results belong to does not exist here.", id=sid), "not_found")
    station = db.session.get(Station, sess.station_id)
    if station.code != code or content.get("station") != code:
        raise PackageError(_("These results come from station %(code)s, but session %(id)s belongs to station "
                             "%(other)s.", code=code, id=sid, other=station.code), "wrong_station")
    exported = {(e.after or {}).get("package_id") for e in _entries(ACT_EXPORT, "exam_session", sid)}
    if content["exam_package_id"] not in exported:
        raise PackageError(_("These results answer exam package %(pkg)s, which was not exported from here for "
                             "session %(id)s.", pkg=content["exam_package_id"], id=sid), "unknown_exam_package")
    for e in _entries(ACT_RESULTS_IMPORT, OBJECT):
        if (e.after or {}).get("session_id") == sid:
            raise PackageError(_("Results for session %(id)s were already imported on %(when)s from another "
                                 "package (%(pkg)s); this one was not imported.", id=sid, when=_local(e.at),
                                 pkg=e.object_id), "session_has_results")
    rows = db.session.execute(select(ExamCandidate, ExamAttempt).join(
        ExamAttempt, ExamAttempt.candidate_id == ExamCandidate.id).where(ExamCandidate.session_id == sid)).all()
    central = {c.ticket_no: (c, a) for c, a in rows}
    incoming = {a["ticket_no"]: a for a in content["attempts"]}
    if set(central) != set(incoming):
        missing, extra = sorted(set(central) - set(incoming)), sorted(set(incoming) - set(central))
        raise PackageError(_("The roster of the results does not match session %(id)s here (missing: %(missing)s; "
                             "unknown: %(extra)s).", id=sid, missing=", ".join(missing[:5]) or "-",
                             extra=", ".join(extra[:5]) or "-"), "roster_mismatch")
    sat = [t for t, (c, a) in central.items() if a.status != NOT_STARTED or a.entered_at is not None]
    answered = db.session.execute(select(func.count(ExamResponse.id)).join(
        ExamAttempt, ExamAttempt.id == ExamResponse.attempt_id).where(ExamAttempt.session_id == sid)).scalar_one()
    if sat or answered:
        raise PackageError(_("Session %(id)s has been sat here as well (e.g. %(no)s); the station's results were "
                             "not imported.", id=sid, no=(sat or ["-"])[0]), "sat_centrally")
    slots = {(label, pos): (pi_id, iv_id) for pi_id, iv_id, label, pos in db.session.execute(
        select(PaperItem.id, PaperItem.item_version_id, PaperForm.label, PaperItem.position)
        .join(PaperForm, PaperForm.id == PaperItem.form_id).where(PaperForm.paper_id == sess.paper_id))}
    now = clock.now()
    resp_rows = []
    for ticket, doc in incoming.items():
        c, a = central[ticket]
        if doc["form_label"] != c.form_label:
            raise PackageError(_("Candidate %(no)s sat form %(theirs)s at the station but has form %(ours)s here.",
                                 no=ticket, theirs=doc["form_label"], ours=c.form_label), "form_mismatch")
        for r in doc["responses"]:
            slot = slots.get((r["form"], r["position"]))
            if slot is None or r["form"] != c.form_label:
                raise PackageError(_("Candidate %(no)s has an answer to question %(pos)s of form %(form)s, which "
                                     "the paper here does not have.", no=ticket, pos=r["position"], form=r["form"]),
                                   "unknown_item")
            resp_rows.append({"attempt_id": a.id, "paper_item_id": slot[0], "item_version_id": slot[1],
                              "answer": r["answer"], "flagged": bool(r["flagged"]), "seq": int(r["seq"]),
                              "saved_at": _time(r["saved_at"])})
        values = {name: (_time(doc[name]) if name in _TIME_FIELDS else doc[name]) for name in _ATTEMPT_FIELDS}
        values["paused_at"] = None
        # finalised at the station (audited there); marked by this import: no post-finalisation here
        values["processed_at"] = now if values.get("finalised_at") is not None else None
        db.session.execute(update(ExamAttempt).where(ExamAttempt.id == a.id).values(**values))
        if doc.get("login_code_used_at"):
            db.session.execute(update(ExamCandidate).where(ExamCandidate.id == c.id)
                               .values(login_code_used_at=_time(doc["login_code_used_at"])))
    for k in range(0, len(resp_rows), 2000):
        db.session.execute(insert(ExamResponse), resp_rows[k:k + 2000])
    # the digest of the final answers, recomputed with this server's ids (the station's is kept in an event)
    from .attempts import responses_digest
    for ticket, doc in incoming.items():
        a = central[ticket][1]
        if doc["status"] in FINAL_STATUSES:
            digest, n = responses_digest(a.id)
            db.session.execute(update(ExamAttempt).where(ExamAttempt.id == a.id)
                               .values(final_digest=digest, answered_count=n))
    ev_rows = []
    for ev in content["events"]:
        detail = ev["detail"]
        if isinstance(detail, dict) and isinstance(detail.get("item"), dict):
            slot = slots.get((detail["item"].get("form"), detail["item"].get("position")))
            detail = dict(detail, item=slot[0] if slot else None)
        ev_rows.append({"session_id": sid, "attempt_id": central[ev["ticket_no"]][1].id if ev["ticket_no"] else None,
                        "at": _time(ev["at"]), "kind": ev["kind"][:32], "actor_label": (ev["actor_label"] or "")[:100],
                        "detail": detail})
    ev_rows.append({"session_id": sid, "attempt_id": None, "at": now, "kind": "station_results",
                    "actor_label": f"station:{code}"[:100],
                    "detail": {"package_id": package_id, "exam_package_id": content["exam_package_id"],
                               "digests": {t: d.get("final_digest_station") for t, d in incoming.items()}}})
    for k in range(0, len(ev_rows), 2000):
        db.session.execute(insert(AttemptEvent), ev_rows[k:k + 2000])
    sdoc = content["session"]
    db.session.execute(update(ExamSession).where(ExamSession.id == sid).values(
        status=sdoc["status"], started_at=_time(sdoc["started_at"]), finished_at=_time(sdoc["finished_at"]),
        paused_at=None, updated_at=now))
    counts = {"attempts": len(incoming), "responses": len(resp_rows), "events": len(ev_rows) - 1,
              "submitted": sum(1 for d in incoming.values() if d["status"] == "submitted"),
              "absent": sum(1 for d in incoming.values() if d["status"] == "absent")}
    audit.record(ACT_RESULTS_IMPORT, OBJECT, package_id, actor=actor, actor_label=None if actor else "station-package",
                 after={"session_id": sid, "station": code, "exam_package_id": content["exam_package_id"], **counts})
    db.session.commit()
    return PackageReport(RESULTS, package_id, code, session_id=sid, counts=counts)
