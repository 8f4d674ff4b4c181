"""Registry of item types: ``get(type)`` → the type's spec (validate / mark / candidate_view / …).

Adding a type = one module defining a :class:`~question_bank.item_types.base.ItemTypeSpec` subclass
instance, registered below (and a value in :class:`~question_bank.items.ItemType`).
"""

from __future__ import annotations

from collections.abc import Iterator

from question_bank.items import ItemType

from .base import ItemTypeSpec, Shuffled

__all__ = ["register", "get", "all_types", "ItemTypeSpec", "Shuffled"]

_REGISTRY: dict[ItemType, ItemTypeSpec] = {}


def register(spec: ItemTypeSpec, *, replace: bool = False) -> ItemTypeSpec:
    """Register ``spec`` under ``spec.type``; ``ValueError`` if the type is taken and not ``replace``."""
    t = ItemType(spec.type)
    if t in _REGISTRY and not replace:
        raise ValueError(f"item type {t.value!r} is already registered")
    _REGISTRY[t] = spec
    return spec


def get(item_type: ItemType | str) -> ItemTypeSpec:
    """The spec of ``item_type`` (enum or type string); ``ValueError`` for an unknown type."""
    try:
        return _REGISTRY[ItemType(item_type)]
    except (KeyError, ValueError):
        raise ValueError(f"unknown item type {item_type!r}") from None


def all_types() -> tuple[ItemType, ...]:
    """Registered types in :class:`ItemType` order."""
    return tuple(t for t in ItemType if t in _REGISTRY)


def _iter_builtin() -> Iterator[ItemTypeSpec]:
    from . import constructed, fill_blank, multiple_choice, practical_task, single_choice, true_false
    yield single_choice.SPEC
    yield multiple_choice.SPEC
    yield true_false.SPEC
    yield fill_blank.SPEC
    yield from constructed.SPECS
    yield practical_task.SPEC


for _spec in _iter_builtin():
    register(_spec)
