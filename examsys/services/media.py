"""Images for items, stored once by content (SHA-256) under ``MEDIA_DIR/ab/abcdef…``.

Accepted: PNG, JPEG, GIF and WebP, recognised by their magic bytes (the file name and the browser's
Content-Type are not trusted) and decoded by Pillow to check the file is a real image of that format and
not too large (``MAX_IMAGE_BYTES`` bytes, ``MAX_IMAGE_PIXELS`` pixels). SVG is refused: it is a document
that can carry scripts, and item images do not need it.

Who may see an image: :func:`may_view`. The staff route (``bank.media``) asks it for the logged-in user;
the delivery blueprint will ask it for a candidate (see :data:`CANDIDATE_CHECKS`).
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, cast, or_, select

from .. import clock
from ..extensions import db
from ..models import Item, ItemVersion, MediaFile, User
from . import audit

SHA_RE = re.compile(r"^[0-9a-f]{64}$")
#: format → (MIME type, file name extension)
FORMATS = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "GIF": ("image/gif", "gif"),
           "WEBP": ("image/webp", "webp")}
DEFAULT_MAX_PIXELS = 40_000_000


class MediaError(Exception):
    """An upload was refused; ``message`` is a (lazy) translated text naming the file."""

    status = 400

    def __init__(self, message: Any):
        self.message = message
        super().__init__(str(message))


def sniff(data: bytes) -> str | None:
    """The image format from the magic bytes: ``"PNG"``, ``"JPEG"``, ``"GIF"``, ``"WEBP"``, ``"SVG"`` or ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head:
        return "SVG"
    return None


def _safe_name(filename: str | None) -> str:
    name = Path((filename or "").replace("\\", "/")).name.strip()
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>')
    return (name or "image")[:200]


def check_image(data: bytes, filename: str | None = None) -> tuple[str, str]:
    """Check an upload; return ``(format, mime)`` or raise :class:`MediaError` with a clear message."""
    name = _safe_name(filename)
    limit = int(current_app.config.get("MAX_IMAGE_BYTES", 5 * 1024 * 1024))
    if not data:
        raise MediaError(_l("%(name)s: the file is empty.", name=name))
    if len(data) > limit:
        raise MediaError(_l("%(name)s: the image is %(size)s bytes, the limit is %(max)s bytes.",
                            name=name, size=len(data), max=limit))
    fmt = sniff(data)
    if fmt == "SVG":
        raise MediaError(_l("%(name)s: SVG images are not accepted; use PNG, JPEG, GIF or WebP.", name=name))
    if fmt is None:
        raise MediaError(_l("%(name)s: not a PNG, JPEG, GIF or WebP image.", name=name))
    from PIL import Image, UnidentifiedImageError
    import warnings
    max_pixels = int(current_app.config.get("MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
                real = img.format
                if width * height > max_pixels:
                    raise MediaError(_l("%(name)s: the image has too many pixels (%(w)s × %(h)s).",
                                        name=name, w=width, h=height))
                img.verify()
    except MediaError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError, OSError,
            SyntaxError, ValueError):
        raise MediaError(_l("%(name)s: the image file is damaged or not a real image.", name=name)) from None
    if real != fmt:
        raise MediaError(_l("%(name)s: not a PNG, JPEG, GIF or WebP image.", name=name))
    return fmt, FORMATS[fmt][0]


def media_dir() -> Path:
    return Path(current_app.config["MEDIA_DIR"])


def path_for(sha256: str) -> Path:
    """Where the file of ``sha256`` lives: ``MEDIA_DIR/ab/abcdef…`` (``ValueError`` for a bad hash)."""
    if not SHA_RE.match(sha256 or ""):
        raise ValueError("not a SHA-256 hex digest")
    return media_dir() / sha256[:2] / sha256


def _write(path: Path, data: bytes) -> None:
    if path.exists() and path.stat().st_size == len(data):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def store(data: bytes, filename: str | None, actor, *, commit: bool = True) -> MediaFile:
    """Check and store an image; the same content is stored once (the existing row is returned).
    A new file is audited as ``media.upload``."""
    fmt, mime = check_image(data, filename)
    sha = hashlib.sha256(data).hexdigest()
    _write(path_for(sha), data)
    row = db.session.get(MediaFile, sha)
    if row is None:
        row = MediaFile(sha256=sha, filename=_safe_name(filename), mime=mime, size=len(data),
                        created_by=getattr(actor, "id", None), created_at=clock.now())
        db.session.add(row)
        audit.record("media.upload", "media", sha, actor=actor,
                     after={"filename": row.filename, "mime": mime, "size": len(data)})
        if commit:
            db.session.commit()
        else:
            db.session.flush()
    return row


def store_many(files: list[tuple[bytes, str | None]], actor) -> list[MediaFile]:
    """Check every file first (all or nothing), then store them; returns the rows in order."""
    for data, name in files:
        check_image(data, name)
    rows = [store(data, name, actor, commit=False) for data, name in files]
    db.session.commit()
    return rows


def get(sha256: str) -> MediaFile | None:
    if not SHA_RE.match(sha256 or ""):
        return None
    return db.session.get(MediaFile, sha256)


def _used_by(sha256: str):
    """Item versions whose images list the hash (JSON text match: the hash is plain hex)."""
    return select(ItemVersion.item_id).where(cast(ItemVersion.images, String).like(f'%"{sha256}"%'))


#: Checks deciding whether a candidate (any object that is not a staff :class:`User`) may see an image:
#: ``check(sha256, candidate) -> bool``. The delivery blueprint appends one that allows the images of
#: the items in the candidate's own attempt. With none registered, candidates see no image.
CANDIDATE_CHECKS: list[Callable[[str, Any], bool]] = []


def may_view(sha256: str, who) -> bool:
    """May ``who`` (a staff :class:`User`, or a candidate object) see the image ``sha256``?

    * admin, reviewer: every image;
    * writer: images they uploaded, or used by an item they may view (their own, or out of draft);
    * station manager, examiner, proctor: images used by an approved, flagged or retired item (i.e. one
      that has passed review and may be in a paper);
    * candidates: any of :data:`CANDIDATE_CHECKS` says yes (the hook for the delivery blueprint);
    * anything else: no.
    """
    row = get(sha256)
    if row is None or who is None:
        return False
    if not isinstance(who, User):
        return any(check(sha256, who) for check in CANDIDATE_CHECKS)
    if not who.active:
        return False
    if who.role in ("admin", "reviewer"):
        return True
    items = select(Item.id).where(Item.id.in_(_used_by(sha256)))
    if who.role == "writer":
        if row.created_by == who.id:
            return True
        return db.session.execute(items.where(or_(Item.created_by == who.id, Item.status != "draft")).limit(1)
                                  ).first() is not None
    if who.role in ("station_manager", "examiner", "proctor"):
        return db.session.execute(
            items.where(Item.status.in_(("approved", "flagged", "retired"))).limit(1)).first() is not None
    return False
