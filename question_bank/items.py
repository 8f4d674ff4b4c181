"""Item schema: item types, importance, review status, and the frozen :class:`Item` dataclass.

The plain, JSON-able "item dict" of docs/items.md is the exchange format; :func:`item_from_dict` turns it
into an immutable :class:`Item` (common fields as attributes, type-specific fields in the read-only
``content`` mapping) and :func:`item_to_dict` turns it back. The round trip is exact for canonical dicts:
``item_to_dict(item_from_dict(d)) == canonical_item_dict(d)``, where canonicalisation fills documented
defaults, converts ``id`` to ``str``, ``points``/``difficulty``/… to ``float`` and tuples to lists.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "ItemType", "Importance", "Status", "TRANSITIONS", "can_transition", "allowed_transitions",
    "Item", "InvalidItemError", "COMMON_FIELDS", "item_from_dict", "item_to_dict", "content_fields",
    "canonical_item_dict", "freeze", "thaw",
]


def _match_text(cls, text: Any, labels: Mapping[Any, Iterable[str]]):
    """Find the member of ``cls`` whose value or one of whose labels equals ``text``.

    Accepts ``"single_choice"``, ``"单选"``, ``"单选题"``, ``"单选 single_choice"`` (any whitespace-separated
    token may match); case-insensitive for ASCII; ``ValueError`` when nothing matches.
    """
    if isinstance(text, cls):
        return text
    if not isinstance(text, str):
        raise ValueError(f"not a {cls.__name__}: {text!r}")
    table = _NAME_TABLES.get(cls)
    if table is None:
        table = {}
        for member in cls:
            for name in (member.value, member.name, *labels[member]):
                table.setdefault(name.lower(), member)
        _NAME_TABLES[cls] = table
    s = text.strip()
    for cand in (s, *s.split()):
        member = table.get(cand.lower())
        if member is not None:
            return member
    raise ValueError(f"not a {cls.__name__}: {text!r}")


_NAME_TABLES: dict[type, dict[str, Any]] = {}


class ItemType(str, enum.Enum):
    """Item type (题型). The value is the type string of the item dict."""

    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    TRUE_FALSE = "true_false"
    FILL_BLANK = "fill_blank"
    SHORT_ANSWER = "short_answer"
    CALCULATION = "calculation"
    ESSAY = "essay"
    PRACTICAL_TASK = "practical_task"

    @property
    def label_zh(self) -> str:
        """Chinese short label: 单选, 多选, 判断, 填空, 简答, 计算, 论述, 操作技能."""
        return _TYPE_LABELS[self][0]

    @property
    def is_choice(self) -> bool:
        """True for single and multiple choice (items with options A–H)."""
        return self in (ItemType.SINGLE_CHOICE, ItemType.MULTIPLE_CHOICE)

    @property
    def is_constructed(self) -> bool:
        """True for short answer, calculation and essay (reference answer + marking points)."""
        return self in (ItemType.SHORT_ANSWER, ItemType.CALCULATION, ItemType.ESSAY)

    @property
    def part(self) -> str:
        """Exam part the type belongs to: ``"practical"`` for practical tasks, else ``"theory"``."""
        return "practical" if self is ItemType.PRACTICAL_TASK else "theory"

    @classmethod
    def parse(cls, text: Any) -> "ItemType":
        """Parse a type string or Chinese label (``单选``, ``单选题``, ``单项选择题``, ``单选 single_choice``)."""
        return _match_text(cls, text, _TYPE_LABELS)

    def __str__(self) -> str:
        return self.value


_TYPE_LABELS: dict[ItemType, tuple[str, ...]] = {
    ItemType.SINGLE_CHOICE: ("单选", "单选题", "单项选择题", "单项选择"),
    ItemType.MULTIPLE_CHOICE: ("多选", "多选题", "多项选择题", "多项选择"),
    ItemType.TRUE_FALSE: ("判断", "判断题"),
    ItemType.FILL_BLANK: ("填空", "填空题"),
    ItemType.SHORT_ANSWER: ("简答", "简答题"),
    ItemType.CALCULATION: ("计算", "计算题"),
    ItemType.ESSAY: ("论述", "论述题"),
    ItemType.PRACTICAL_TASK: ("操作技能", "操作技能题", "实操", "实操题"),
}


class Importance(str, enum.Enum):
    """Importance of a knowledge point (重要程度): X core, Y general, Z awareness."""

    X = "X"
    Y = "Y"
    Z = "Z"

    @property
    def label_zh(self) -> str:
        """核心 / 一般 / 了解."""
        return _IMPORTANCE_LABELS[self][0]

    @classmethod
    def parse(cls, text: Any) -> "Importance":
        """Parse ``X``/``Y``/``Z`` (any case) or 核心/一般/了解."""
        return _match_text(cls, text, _IMPORTANCE_LABELS)

    def __str__(self) -> str:
        return self.value


_IMPORTANCE_LABELS = {Importance.X: ("核心",), Importance.Y: ("一般",), Importance.Z: ("了解",)}


class Status(str, enum.Enum):
    """Review status of an item version (see :data:`TRANSITIONS`)."""

    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    RETIRED = "retired"
    FLAGGED = "flagged"

    @property
    def label_zh(self) -> str:
        """草稿 / 待审 / 已通过 / 已停用 / 已标记."""
        return _STATUS_LABELS[self][0]

    @classmethod
    def parse(cls, text: Any) -> "Status":
        """Parse a status value or its Chinese label."""
        return _match_text(cls, text, _STATUS_LABELS)

    def __str__(self) -> str:
        return self.value


_STATUS_LABELS = {
    Status.DRAFT: ("草稿",),
    Status.IN_REVIEW: ("待审", "审核中", "待审核"),
    Status.APPROVED: ("已通过", "已审核", "通过"),
    Status.RETIRED: ("已停用", "停用"),
    Status.FLAGGED: ("已标记", "待复核"),
}

#: Allowed review transitions ``from -> {to, ...}``:
#: a writer submits a draft (or withdraws it); a reviewer approves or rejects (back to draft);
#: an approved item is retired or flagged (e.g. by item analysis); a flagged item is cleared (approved),
#: retired, or sent back for revision (draft); a retired item can be reopened as a draft.
TRANSITIONS: Mapping[Status, frozenset[Status]] = MappingProxyType({
    Status.DRAFT: frozenset({Status.IN_REVIEW, Status.RETIRED}),
    Status.IN_REVIEW: frozenset({Status.APPROVED, Status.DRAFT}),
    Status.APPROVED: frozenset({Status.RETIRED, Status.FLAGGED}),
    Status.FLAGGED: frozenset({Status.APPROVED, Status.RETIRED, Status.DRAFT}),
    Status.RETIRED: frozenset({Status.DRAFT}),
})


def allowed_transitions(status: Status | str) -> frozenset[Status]:
    """Statuses reachable from ``status`` in one step (``ValueError`` for an unknown status)."""
    return TRANSITIONS[Status(status)]


def can_transition(a: Status | str, b: Status | str) -> bool:
    """True when an item may move from status ``a`` to status ``b`` (a != b) per :data:`TRANSITIONS`.

    Raises ``ValueError`` when either is not a status value.
    """
    return Status(b) in TRANSITIONS[Status(a)]


#: Common item-dict fields, in docs/items.md order, with their defaults (``None`` = required).
COMMON_FIELDS: tuple[str, ...] = (
    "type", "occupation", "grades", "kp", "points", "difficulty", "discrimination", "source", "status",
    "stem", "images", "id", "version",
)
_COMMON_DEFAULTS: dict[str, Any] = {
    "difficulty": None, "discrimination": None, "source": "", "status": "draft", "images": [],
    "id": None, "version": None,
}


def freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data: dicts → read-only mappings, lists/tuples → tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`freeze`: mappings → dicts, tuples → lists (JSON-able again)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


class InvalidItemError(ValueError):
    """Raised by :func:`item_from_dict` for an invalid item dict; ``.problems`` lists the errors."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(p.message_en for p in self.problems) or "invalid item")


@dataclass(frozen=True)
class Item:
    """One item version, immutable.

    ``grades`` are integers 1..5 (5 = 五级/初级工 … 1 = 一级/高级技师); ``points`` > 0 in steps of 0.5;
    ``difficulty`` is the expected facility p in [0, 1] or None; ``discrimination`` in [-1, 1] or None;
    ``content`` is a read-only mapping of the type-specific fields (see :func:`content_fields`), lists
    frozen to tuples. Hash ignores ``content``; equality includes it.
    """

    type: ItemType
    occupation: str
    grades: tuple[int, ...]
    kp: str
    points: float
    stem: str
    content: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    difficulty: float | None = None
    discrimination: float | None = None
    source: str = ""
    status: Status = Status.DRAFT
    images: tuple[str, ...] = ()
    id: str | None = None
    version: int | None = None

    @property
    def auto_markable(self) -> bool:
        """True for types marked automatically (choice, true/false, fill blank)."""
        from question_bank.item_types import get
        return get(self.type).auto_markable


def content_fields(item_type: ItemType | str) -> tuple[str, ...]:
    """Names of the type-specific fields of ``item_type``, in docs/items.md order."""
    from question_bank.item_types import get
    return tuple(get(item_type).fields)


def _float_or_none(v: Any) -> float | None:
    return None if v is None else float(v)


def canonical_item_dict(d: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical item dict: documented defaults filled, common fields then the type's fields in order.

    ``id`` becomes ``str`` (ints are accepted), numbers become ``float`` (``version`` and
    ``time_limit_min`` ``int``), sequences become lists. Does not validate; malformed values raise
    ``ValueError``/``TypeError``. Fields not belonging to the type are dropped.
    """
    from question_bank.item_types import get
    itype = ItemType(d["type"])
    spec = get(itype)
    out: dict[str, Any] = {}
    for name in COMMON_FIELDS:
        v = d.get(name, _COMMON_DEFAULTS.get(name))
        out[name] = thaw(v)
    out["type"] = itype.value
    out["grades"] = [int(g) for g in out["grades"]]
    out["points"] = float(out["points"])
    out["difficulty"] = _float_or_none(out["difficulty"])
    out["discrimination"] = _float_or_none(out["discrimination"])
    out["source"] = "" if out["source"] is None else str(out["source"])
    out["status"] = Status(out["status"]).value
    out["images"] = [str(x) for x in (out["images"] or [])]
    out["id"] = None if out["id"] is None else str(out["id"])
    out["version"] = None if out["version"] is None else int(out["version"])
    out.update(spec.canonicalize(d))
    return out


def item_from_dict(d: Mapping[str, Any], *, validate: bool = True, taxonomy: Any = None) -> Item:
    """Build an :class:`Item` from an item dict (docs/items.md).

    With ``validate=True`` (default) the dict is checked with
    :func:`question_bank.validation.validate_item` (against ``taxonomy`` when given) and
    :class:`InvalidItemError` (a ``ValueError``) carrying the problems is raised on any error.
    """
    if validate:
        from question_bank.validation import validate_item
        errors = [p for p in validate_item(d, taxonomy=taxonomy) if p.is_error]
        if errors:
            raise InvalidItemError(errors)
    c = canonical_item_dict(d)
    content = {k: c[k] for k in content_fields(c["type"])}
    return Item(
        type=ItemType(c["type"]), occupation=c["occupation"], grades=tuple(c["grades"]), kp=c["kp"],
        points=c["points"], stem=c["stem"], content=freeze(content), difficulty=c["difficulty"],
        discrimination=c["discrimination"], source=c["source"], status=Status(c["status"]),
        images=tuple(c["images"]), id=c["id"], version=c["version"],
    )


def item_to_dict(item: Item) -> dict[str, Any]:
    """The canonical item dict of ``item`` (JSON-able: lists, dicts, str, float, int, bool, None)."""
    out: dict[str, Any] = {
        "type": item.type.value, "occupation": item.occupation, "grades": list(item.grades),
        "kp": item.kp, "points": item.points, "difficulty": item.difficulty,
        "discrimination": item.discrimination, "source": item.source, "status": item.status.value,
        "stem": item.stem, "images": list(item.images), "id": item.id, "version": item.version,
    }
    for name in content_fields(item.type):
        out[name] = thaw(item.content[name])
    return out
