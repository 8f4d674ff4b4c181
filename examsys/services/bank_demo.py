"""Load the demo items (``examsys/demo/data/*_items.yaml``) through the bank service.

Every item goes through :func:`examsys.services.items.create_item` (validated against its occupation's
taxonomy, audited), written by the demo writer ``writer``; its images (file names in the YAML) are stored
from the media directory via :mod:`examsys.services.media` and replaced by their SHA-256. Items whose
file status is ``approved`` (or ``flagged``/``retired``) are submitted and approved by the demo reviewer
``reviewer`` (an :class:`~examsys.models.ItemReview` and audit entries, as in real use), then flagged or
retired; ``in_review`` items are submitted; ``draft`` items stay drafts.

One transaction for the lot: nothing is committed here (``services.demo.load_demo`` commits), so a bad
file leaves the database unchanged.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import yaml
from sqlalchemy import select

from ..extensions import db
from ..models import User
from . import items as item_service
from . import media as media_service

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster
DEMO_WRITER = "writer"
DEMO_REVIEWER = "reviewer"


class DemoDataError(ValueError):
    """A demo file is wrong (a bug in the demo data): names the file, the item and the problems."""


def _user(username: str) -> User | None:
    return db.session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def item_files(data_dir: Path) -> list[Path]:
    return sorted(Path(data_dir).glob("*_items.yaml"))


def load_items(data_dir: Path, media_dir: Path, progress: Callable[[int, int], None] | None = None) -> int:
    """Load every ``*_items.yaml`` in ``data_dir``; returns the number of items created.
    ``progress(done, total)`` is called after each item when given."""
    writer, reviewer = _user(DEMO_WRITER), _user(DEMO_REVIEWER)
    batches = []
    for path in item_files(data_dir):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER) or []
        if not isinstance(data, list):
            raise DemoDataError(f"{path.name}: expected a list of item dicts")
        batches.append((path, data))
    total = sum(len(b) for _, b in batches)
    ctx = item_service._Context()
    hashes: dict[str, str] = {}
    done = 0
    db.session.flush()  # the audit head and the taxonomy exist in the database before the batch
    with db.session.no_autoflush:  # one flush per item (create_item's) instead of one per audit entry
        done = _load(batches, writer, reviewer, media_dir, ctx, hashes, total, progress)
    db.session.flush()
    return done


def _load(batches, writer, reviewer, media_dir, ctx, hashes, total, progress) -> int:
    done = 0
    for path, data in batches:
        for n, d in enumerate(data, start=1):
            if not isinstance(d, dict):
                raise DemoDataError(f"{path.name}, item {n}: not a mapping")
            d = dict(d)
            images = []
            for name in d.get("images") or []:
                if name not in hashes:
                    file = Path(media_dir) / name
                    if not file.is_file():
                        raise DemoDataError(f"{path.name}, item {n}: image {name!r} is not in {media_dir}")
                    hashes[name] = media_service.store(file.read_bytes(), name, writer, commit=False).sha256
                images.append(hashes[name])
            d["images"] = images
            status = d.get("status") or "draft"
            try:
                item = item_service.create_item(d, writer, status="draft" if status == "draft" else "in_review",
                                                comment="demo", commit=False, _ctx=ctx)
                if status in ("approved", "flagged", "retired"):
                    item_service.review(item.id, "approve", "", reviewer, commit=False)
                    if status == "flagged":
                        item_service.set_status(item.id, "flagged", None, "demo", commit=False)
                    elif status == "retired":
                        item_service.retire(item.id, reviewer, "demo", commit=False)
            except item_service.ItemValidationError as e:
                raise DemoDataError(f"{path.name}, item {n}: " + "; ".join(p.message_en for p in e.problems)) from e
            done += 1
            if progress is not None:
                progress(done, total)
    return done
