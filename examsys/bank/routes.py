"""Item bank views: create/edit items, detail with versions and diff, review actions, review queue, media."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("bank", __name__, url_prefix="/bank")


# The bank browser (search/filter list, import/export, taxonomy) registers its views on ``bp``.
import importlib as _importlib  # noqa: E402

try:
    _importlib.import_module(f"{__package__}.browse")
except ModuleNotFoundError as e:  # not written yet
    if e.name != f"{__package__}.browse":
        raise
