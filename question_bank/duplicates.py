"""Near-duplicate detection: items whose stem and options are the same after normalisation.

The fingerprint of an item is a hash (BLAKE2b, 128 bits, hex) of
:func:`~question_bank.normalize.normalize_text` of the stem and of each option, the options sorted (so
reordered options still match). Normalisation removes what people vary without changing the question:
full-width/half-width forms (NFKC), case, whitespace, punctuation (``，。？（）`` and the blank marker
``____``). Detection is a dictionary lookup per item: O(n) for a batch, and existing items are checked
through their stored fingerprints (no re-reading of the bank).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from question_bank.items import Item, item_to_dict
from question_bank.normalize import normalize_text

__all__ = ["fingerprint", "fingerprint_index", "DuplicateGroup", "find_near_duplicates"]


def _as_dict(item: Mapping[str, Any] | Item) -> Mapping[str, Any]:
    return item_to_dict(item) if isinstance(item, Item) else item


def fingerprint(item: Mapping[str, Any] | Item) -> str | None:
    """32-hex-digit fingerprint of the normalised stem + sorted normalised options.

    ``None`` when the normalised stem is empty (nothing to compare).
    """
    d = _as_dict(item)
    stem = normalize_text(str(d.get("stem") or ""))
    if not stem:
        return None
    opts = d.get("options") or ()
    parts = [stem, *sorted(normalize_text(str(o)) for o in opts)]
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=16).hexdigest()


def fingerprint_index(items: Iterable[Mapping[str, Any] | Item]) -> dict[str, list[str]]:
    """``{fingerprint: [item id, …]}`` of existing (stored) items, for :func:`find_near_duplicates`.
    Items without an id are listed as ``""``."""
    out: dict[str, list[str]] = {}
    for it in items:
        fp = fingerprint(it)
        if fp is not None:
            out.setdefault(fp, []).append(str(_as_dict(it).get("id") or ""))
    return out


@dataclass(frozen=True)
class DuplicateGroup:
    """Items sharing one fingerprint.

    ``members``: indices into the checked batch (ascending); ``existing``: ids of existing items with the
    same fingerprint. A group has ≥ 2 members, or ≥ 1 member and ≥ 1 existing id.
    """

    fingerprint: str
    members: tuple[int, ...]
    existing: tuple[str, ...] = ()


def find_near_duplicates(items: Sequence[Mapping[str, Any] | Item],
                         existing: Mapping[str, str | Sequence[str]] | None = None) -> list[DuplicateGroup]:
    """Groups of near-duplicates within ``items`` and against ``existing`` fingerprints.

    Parameters
    ----------
    items : sequence of item dicts or Items
        The batch (e.g. the rows of an import).
    existing : mapping fingerprint → id or list of ids, optional
        Fingerprints of items already in the bank (see :func:`fingerprint_index`).

    Returns
    -------
    list of DuplicateGroup, ordered by the first member's index.
    """
    by_fp: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        fp = fingerprint(it)
        if fp is not None:
            by_fp.setdefault(fp, []).append(i)
    out = []
    for fp, members in by_fp.items():
        ex: Any = (existing or {}).get(fp, ())
        ex_ids = (ex,) if isinstance(ex, str) else tuple(str(x) for x in ex)
        if len(members) >= 2 or ex_ids:
            out.append(DuplicateGroup(fingerprint=fp, members=tuple(members), existing=ex_ids))
    out.sort(key=lambda g: g.members[0])
    return out
