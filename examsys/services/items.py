"""The item bank service: create items, save immutable versions, review, retire, history and diffs.

Every function that changes something checks who may do it, writes audit entries
(:func:`examsys.services.audit.record`) in the same transaction, and commits (``commit=False`` lets a batch
caller such as the demo loader commit once). Bad input raises :class:`ItemValidationError` carrying every
:class:`question_bank.messages.Problem` (field path, code, Chinese and English message) before anything
is written.

Who may do what (DESIGN.md decision 8; ``actor=None`` means the system, e.g. the CLI):

* create: admin, writer. Items created with a status beyond review (approved/flagged/retired, e.g. an
  import of an existing bank) need an admin or reviewer (or the system).
* edit (:func:`save_new_version`): a draft or in-review item — its writer (``Item.created_by``) or an
  admin; an approved, flagged or retired item — also a reviewer. Every edit is a new immutable
  :class:`~examsys.models.ItemVersion`; the item goes back to ``draft`` (approved → flagged → draft,
  in_review → draft, retired → draft, per :data:`question_bank.items.TRANSITIONS`).
* submit for review: the writer or an admin (draft → in_review).
* review (approve/reject): a reviewer or admin who neither created the item nor wrote its current
  version; a rejection needs a comment. Works on in_review items and on flagged ones (approve clears
  the flag, reject sends it back to draft).
* retire / set_status: a reviewer or an admin (or the system, e.g. item analysis flagging an item).
* view (:func:`can_view`): admin and reviewer — every item (reviewers are not yet assigned to
  occupations; :func:`reviewer_occupations` is the hook); writer — the items they created, and other
  writers' items once out of draft, read-only (the same rule as the bank browser,
  :mod:`examsys.services.bank_search`); station manager — approved items, read-only.
"""
from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from question_bank.duplicates import fingerprint as _fingerprint
from question_bank.items import COMMON_FIELDS, ItemType, Status, can_transition, canonical_item_dict, content_fields
from question_bank.messages import Problem
from question_bank.normalize import normalize_text
from question_bank.taxonomy import Taxonomy
from question_bank.validation import errors_only, validate_item

from .. import clock
from ..extensions import db
from ..models import Item, ItemReview, ItemVersion, KnowledgeNode, MediaFile, Occupation, User
from . import audit
from . import taxonomy as taxonomy_service

WRITE_ROLES = ("admin", "writer")
REVIEW_ROLES = ("admin", "reviewer")
VIEW_ROLES = ("admin", "writer", "reviewer", "station_manager")
DECISIONS = ("approve", "reject")
#: Statuses an item may be created with by a writer (the rest need admin/reviewer/system).
WRITER_CREATE_STATUSES = ("draft", "in_review")

#: Text fields whose changes are shown as an inline character diff.
TEXT_FIELDS = ("stem", "reference_answer", "source")


# ------------------------------------------------------------------------------------------- errors

class ItemError(Exception):
    """A refused item operation; ``message`` is a (lazy) translated text, ``status`` the HTTP status."""

    status = 400

    def __init__(self, message: Any):
        self.message = message
        super().__init__(str(message))


class ItemValidationError(ItemError):
    """The item dict has problems; ``problems`` lists every one (field, code, message_zh, message_en)."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__(_l("The item has problems; nothing was saved."))

    def __str__(self) -> str:
        return "; ".join(p.message_en for p in self.problems)


class ItemPermissionError(ItemError):
    status = 403


class ItemStateError(ItemError):
    status = 409


class ItemNotFound(ItemError):
    status = 404

    def __init__(self, item_id: Any = None):
        super().__init__(_l("The item was not found."))
        self.item_id = item_id


def _problem(field: str, code: str, zh: str, en: str, **params) -> Problem:
    from question_bank.messages import field_label_zh
    label = field_label_zh(field)
    if label == field:  # no Chinese label for this field (e.g. "comment"): no English word in a Chinese message
        label = ""
    return Problem(field=field, code=code, message_zh=f"{label}：{zh}" if label else zh,
                   message_en=f"{field}: {en}" if field else en, params=params)


# ------------------------------------------------------------------------------------------ helpers

def _role(actor) -> str | None:
    return getattr(actor, "role", None) if actor is not None else None


def _uid(actor) -> int | None:
    return getattr(actor, "id", None) if actor is not None else None


def _done(commit: bool) -> None:
    """Commit, or leave the changes pending in the session for a batch caller (it flushes/commits)."""
    if commit:
        db.session.commit()


def get_item(item_id: int | str) -> Item:
    """The item, or :class:`ItemNotFound`."""
    try:
        iid = int(item_id)
    except (TypeError, ValueError):
        raise ItemNotFound(item_id) from None
    item = db.session.get(Item, iid)
    if item is None:
        raise ItemNotFound(item_id)
    return item


def get_version(item: Item, number: int | str) -> ItemVersion:
    """Version ``number`` of ``item`` (:class:`ItemNotFound` when there is none)."""
    try:
        n = int(number)
    except (TypeError, ValueError):
        raise ItemNotFound(item.id) from None
    v = db.session.execute(select(ItemVersion).where(ItemVersion.item_id == item.id, ItemVersion.number == n)
                           ).scalar_one_or_none()
    if v is None:
        raise ItemNotFound(item.id)
    return v


def reviewer_occupations(user) -> set[int] | None:
    """Occupation ids a reviewer reviews; ``None`` = all (reviewers are not assigned to occupations yet)."""
    return None


def is_author(item: Item, user) -> bool:
    """True when ``user`` created the item or wrote its current version."""
    uid = _uid(user)
    if uid is None:
        return False
    cur = item.current_version
    return item.created_by == uid or (cur is not None and cur.created_by == uid)


def can_view(item: Item, user) -> bool:
    role = _role(user)
    if role == "admin":
        return True
    if role == "reviewer":
        occ = reviewer_occupations(user)
        return occ is None or item.occupation_id in occ
    if role == "writer":  # their own items; other writers' items once out of draft (read-only)
        return item.created_by == _uid(user) or item.status != Status.DRAFT.value
    if role == "station_manager":
        return item.status == Status.APPROVED.value
    return False


def can_edit(item: Item, user) -> bool:
    """May ``user`` save a new version of ``item`` (see the module docstring)?"""
    if user is None:
        return True
    role = _role(user)
    if role == "admin":
        return True
    if role == "writer":
        return item.created_by == _uid(user)
    if role == "reviewer":
        return item.status in ("approved", "flagged", "retired") and can_view(item, user)
    return False


def can_submit(item: Item, user) -> bool:
    return item.status == "draft" and (user is None or _role(user) == "admin"
                                       or (_role(user) == "writer" and item.created_by == _uid(user)))


def can_review(item: Item, user) -> bool:
    """A reviewer/admin who did not write the item, on an in_review or flagged item."""
    return (_role(user) in REVIEW_ROLES and item.status in ("in_review", "flagged") and can_view(item, user)
            and not is_author(item, user))


def can_retire(item: Item, user) -> bool:
    return ((user is None or _role(user) in REVIEW_ROLES) and can_transition(item.status, "retired")
            and (user is None or can_view(item, user)))


class _Context:
    """Per-call (or per-batch) lookups: occupations, taxonomies and knowledge nodes by code."""

    def __init__(self):
        self.occupations: dict[str, Occupation | None] = {}
        self.taxonomies: dict[str, Taxonomy] = {}
        self.nodes: dict[tuple[int, str], KnowledgeNode | None] = {}
        self.media: set[str] = set()
        self._loaded: set[int] = set()

    def occupation(self, code: Any) -> Occupation | None:
        if not isinstance(code, str):
            return None
        if code not in self.occupations:
            self.occupations[code] = taxonomy_service.get_occupation_by_code(code)
        return self.occupations[code]

    def taxonomy(self, occ: Occupation) -> Taxonomy:
        if occ.code not in self.taxonomies:
            self.taxonomies[occ.code] = Taxonomy.from_dict(taxonomy_service.taxonomy_dict(occ), validate=False)
        return self.taxonomies[occ.code]

    def node(self, occ: Occupation, code: str) -> KnowledgeNode | None:
        if occ.id not in self._loaded:
            for n in db.session.execute(select(KnowledgeNode).where(KnowledgeNode.occupation_id == occ.id)).scalars():
                self.nodes[(occ.id, n.code)] = n
            self._loaded.add(occ.id)
        return self.nodes.get((occ.id, code))

    def media_exists(self, sha: str) -> bool:
        if sha not in self.media and db.session.get(MediaFile, sha) is not None:
            self.media.add(sha)
        return sha in self.media


def _clean_input(data: Mapping[str, Any]) -> dict:
    """The item dict without the fields the bank owns (id, version, status)."""
    if not isinstance(data, Mapping):
        raise ItemValidationError([_problem("", "not_a_mapping", "应为一个字典（键值对）", "must be a mapping (dict)")])
    return {k: v for k, v in data.items() if k not in ("id", "version", "status")}


def _validate(d: dict, ctx: _Context) -> tuple[Occupation, dict]:
    """Validate against the occupation's taxonomy; return the occupation and the canonical dict."""
    occ = ctx.occupation(d.get("occupation"))
    taxonomy = ctx.taxonomy(occ) if occ is not None else {}
    problems = errors_only(validate_item(d, taxonomy=taxonomy))
    images = d.get("images") or []
    if isinstance(images, (list, tuple)):
        for i, sha in enumerate(images):
            if isinstance(sha, str) and sha.strip() and not ctx.media_exists(sha):
                problems.append(_problem(f"images[{i}]", "unknown_image", f"图片“{sha[:16]}”不存在，请重新上传",
                                         f"image {sha[:16]!r} is not stored; upload it again", value=sha))
    if problems:
        raise ItemValidationError(problems)
    return occ, canonical_item_dict(d)


def _search_text(c: Mapping[str, Any]) -> str:
    parts = [c.get("stem") or "", *(c.get("options") or [])]
    return " ".join(p for p in (normalize_text(str(x)) for x in parts) if p)


def _grade_mask(grades: Iterable[int]) -> int:
    mask = 0
    for g in grades:
        mask |= 1 << int(g)
    return mask


def _new_version(item: Item, number: int, c: dict, actor, comment: str) -> ItemVersion:
    content = {k: c[k] for k in content_fields(c["type"])}
    v = ItemVersion(item=item, number=number, type=c["type"], kp_code=c["kp"], grades=list(c["grades"]),
                    points=c["points"], difficulty=c["difficulty"], discrimination=c["discrimination"],
                    source=c["source"] or "", stem=c["stem"], content=content, images=list(c["images"]),
                    comment=comment or "", created_by=_uid(actor), created_at=clock.now())
    db.session.add(v)
    return v


def _denormalise(item: Item, c: dict, occ: Occupation, ctx: _Context) -> None:
    node = ctx.node(occ, c["kp"])
    item.type = c["type"]
    item.kp_id = node.id if node is not None else None
    item.kp_code = c["kp"]
    item.importance = node.importance if node is not None else None
    item.grade_mask = _grade_mask(c["grades"])
    item.difficulty = c["difficulty"]
    item.discrimination = c["discrimination"]
    item.points = c["points"]
    item.search_text = _search_text(c)
    item.fingerprint = _fingerprint(c) or ""


def _audit_item(item: Item, action: str, actor, *, before=None, after=None, reason: str = "") -> None:
    audit.record(action, "item", item.id, actor=actor, before=before, after=after, reason=reason or "")


def _state(item: Item) -> dict:
    return {"status": item.status, "version": item.current_version.number if item.current_version else None}


# ------------------------------------------------------------------------------------------- create

def create_item(data: Mapping[str, Any], actor, *, status: str = "draft", comment: str = "",
                commit: bool = True, _ctx: _Context | None = None) -> Item:
    """Validate ``data`` (an item dict, docs/items.md) against its occupation's taxonomy and store it as a
    new item with version 1. ``data``'s ``id``/``version``/``status`` are ignored; the item gets ``status``.

    Raises :class:`ItemValidationError` (every problem), :class:`ItemPermissionError`.
    """
    ctx = _ctx or _Context()
    try:
        Status(status)
    except ValueError:
        raise ItemError(_l("Unknown status %(status)s.", status=status)) from None
    if actor is not None:
        if _role(actor) not in WRITE_ROLES:
            raise ItemPermissionError(_l("Only question writers and administrators may create items."))
        if status not in WRITER_CREATE_STATUSES and _role(actor) not in REVIEW_ROLES:
            raise ItemPermissionError(_l("Only reviewers and administrators may store items that are already reviewed."))
    d = _clean_input(data)
    try:
        occ, c = _validate(d, ctx)
        now = clock.now()
        item = Item(occupation_id=occ.id, status=status, created_by=_uid(actor), created_at=now, updated_at=now)
        _denormalise(item, c, occ, ctx)
        db.session.add(item)
        v = _new_version(item, 1, c, actor, comment)
        db.session.flush()  # one flush inserts the item and its version 1
        item.current_version = v
        item.current_version_id = v.id  # readable before the next flush (batch loads run without autoflush)
        _audit_item(item, "item.create", actor, after=item_dict(v, status=status, occupation=occ.code),
                    reason=comment)
        _done(commit)
    except Exception:
        if commit:
            db.session.rollback()
        raise
    return item


# ------------------------------------------------------------------------------------------- edit

def _path_to_draft(status: str) -> list[str]:
    """Statuses an item passes through from ``status`` to ``draft`` per the state machine."""
    if status == "draft":
        return []
    if can_transition(status, "draft"):
        return ["draft"]
    if can_transition(status, "flagged") and can_transition("flagged", "draft"):
        return ["flagged", "draft"]
    raise ItemStateError(_l("An item in status %(status)s cannot be edited.", status=status))


def save_new_version(item_id: int, data: Mapping[str, Any], actor, comment: str = "", *, submit: bool = False,
                     commit: bool = True) -> ItemVersion:
    """Save ``data`` as a new, immutable version (number + 1) of the item and make it current.

    The item returns to ``draft`` (see :func:`_path_to_draft`), or goes on to ``in_review`` when
    ``submit``. The occupation of an item cannot change. Refuses an edit that changes nothing.
    Audited as ``item.edit`` with the item dict before and after.
    """
    item = get_item(item_id)
    if not can_edit(item, actor):
        raise ItemPermissionError(_l("You may not edit this item."))
    ctx = _Context()
    d = _clean_input(data)
    old = item.current_version
    occ = db.session.get(Occupation, item.occupation_id)
    if d.get("occupation") != occ.code:
        problems = [_problem("occupation", "occupation_changed", f"已有试题不能改到其他职业（原为 {occ.code}）",
                             f"an existing item cannot move to another occupation (it is {occ.code})",
                             value=d.get("occupation"))]
        try:
            _validate(d, ctx)
        except ItemValidationError as e:
            problems += [p for p in e.problems if p.field != "occupation"]
        raise ItemValidationError(problems)
    try:
        _, c = _validate(d, ctx)
        before = item_dict(old, status=item.status, occupation=occ.code)
        if _same_content(before, c):
            raise ItemError(_l("Nothing was changed, so no new version was saved."))
        path = _path_to_draft(item.status)
        v = _new_version(item, old.number + 1, c, actor, comment)
        db.session.flush()
        item.current_version = v
        item.current_version_id = v.id
        _denormalise(item, c, occ, ctx)
        if path:
            item.status = path[-1]
        item.updated_at = clock.now()
        after = item_dict(v, status=item.status, occupation=occ.code)
        _audit_item(item, "item.edit", actor, before=before, after=after, reason=comment)
        if submit:
            _transition(item, "in_review", actor, "item.submit", comment)
        _done(commit)
    except Exception:
        if commit:
            db.session.rollback()
        raise
    return v


def _comparable(v: Any) -> Any:
    """``v`` with leading/trailing white space of every text removed: spreadsheet cells and form fields are
    stripped on the way in, so an item stored with a trailing newline (YAML block text) must still compare
    equal to its own export re-imported."""
    if isinstance(v, str):
        return v.strip()
    if isinstance(v, Mapping):
        return {k: _comparable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_comparable(x) for x in v]
    return v


def _same_content(before: dict, c: dict) -> bool:
    skip = {"id", "version", "status"}
    return all(_comparable(before.get(k)) == _comparable(c.get(k)) for k in set(before) | set(c) if k not in skip)


# ------------------------------------------------------------------------------------------ status

def _transition(item: Item, to: str, actor, action: str, reason: str = "", extra: dict | None = None) -> None:
    if not can_transition(item.status, to):
        raise ItemStateError(_l("An item cannot go from %(a)s to %(b)s.", a=item.status, b=to))
    before = _state(item)
    item.status = to
    item.updated_at = clock.now()
    _audit_item(item, action, actor, before=before, after={**_state(item), **(extra or {})}, reason=reason)


def submit_for_review(item_id: int, actor, comment: str = "", *, commit: bool = True) -> Item:
    """Send a draft to review (draft → in_review). The item's writer or an admin."""
    item = get_item(item_id)
    if actor is not None and not (_role(actor) == "admin" or (_role(actor) == "writer" and item.created_by == _uid(actor))):
        raise ItemPermissionError(_l("Only the item's writer or an administrator may submit it for review."))
    if item.status != "draft":
        raise ItemStateError(_l("Only a draft can be submitted for review."))
    try:
        _transition(item, "in_review", actor, "item.submit", comment)
        _done(commit)
    except Exception:
        if commit:
            db.session.rollback()
        raise
    return item


def review(item_id: int, decision: str, comment: str, reviewer, *, commit: bool = True) -> ItemReview:
    """Approve or reject the current version (审题). In review → approved / draft; flagged → approved / draft.

    The reviewer must be a reviewer or admin who did not write the item; a rejection needs a comment.
    Stores an :class:`ItemReview` and audits ``item.review``.
    """
    item = get_item(item_id)
    comment = (comment or "").strip()
    if decision not in DECISIONS:
        raise ItemError(_l("Unknown review decision %(decision)s.", decision=decision))
    if reviewer is None or _role(reviewer) not in REVIEW_ROLES or not can_view(item, reviewer):
        raise ItemPermissionError(_l("Only reviewers and administrators may review items."))
    if is_author(item, reviewer):
        raise ItemPermissionError(_l("You wrote this item, so you cannot review it; another reviewer must."))
    if item.status not in ("in_review", "flagged"):
        raise ItemStateError(_l("Only items in review or flagged items can be reviewed."))
    if decision == "reject" and not comment:
        raise ItemValidationError([_problem("comment", "required", "驳回时必须填写意见", "a rejection needs a comment")])
    try:
        r = ItemReview(item_id=item.id, version_id=item.current_version_id, reviewer_id=_uid(reviewer),
                       decision=decision, comment=comment, at=clock.now())
        db.session.add(r)
        _transition(item, "approved" if decision == "approve" else "draft", reviewer, "item.review", comment,
                    {"decision": decision})
        _done(commit)
    except Exception:
        if commit:
            db.session.rollback()
        raise
    return r


def retire(item_id: int, actor, reason: str = "", *, commit: bool = True) -> Item:
    """Retire an item (停用): a reviewer or admin, with a reason (like a rejection); recorded as an
    :class:`ItemReview` ``retire``."""
    item = get_item(item_id)
    if actor is not None and (_role(actor) not in REVIEW_ROLES or not can_view(item, actor)):
        raise ItemPermissionError(_l("Only reviewers and administrators may retire items."))
    if not can_transition(item.status, "retired"):
        raise ItemStateError(_l("An item cannot go from %(a)s to %(b)s.", a=item.status, b="retired"))
    reason = (reason or "").strip()
    if not reason:
        raise ItemValidationError([_problem("comment", "required", "停用时必须填写原因", "retiring needs a reason")])
    try:
        if actor is not None:
            db.session.add(ItemReview(item_id=item.id, version_id=item.current_version_id, reviewer_id=_uid(actor),
                                      decision="retire", comment=reason, at=clock.now()))
        _transition(item, "retired", actor, "item.retire", reason)
        _done(commit)
    except Exception:
        if commit:
            db.session.rollback()
        raise
    return item


def set_status(item_id: int, status: str, actor, reason: str = "", *, commit: bool = True) -> Item:
    """Move an item to ``status`` if :func:`question_bank.items.can_transition` allows it (reviewer, admin
    or the system — e.g. item analysis flagging an item). Audited as ``item.status``."""
    item = get_item(item_id)
    try:
        Status(status)
    except ValueError:
        raise ItemError(_l("Unknown status %(status)s.", status=status)) from None
    if actor is not None and (_role(actor) not in REVIEW_ROLES or not can_view(item, actor)):
        raise ItemPermissionError(_l("Only reviewers and administrators may change an item's status."))
    if status == "approved" and actor is not None and is_author(item, actor):
        raise ItemPermissionError(_l("You wrote this item, so you cannot review it; another reviewer must."))
    try:
        _transition(item, status, actor, "item.status", reason)
        _done(commit)
    except Exception:
        if commit:
            db.session.rollback()
        raise
    return item


# ----------------------------------------------------------------------------------- reading, diffs

def item_dict(obj: Item | ItemVersion, *, status: str | None = None, occupation: str | None = None) -> dict:
    """The item dict of docs/items.md for an item (its current version) or a specific version."""
    if isinstance(obj, Item):
        item, version = obj, obj.current_version
    else:
        version = obj
        item = obj.item
    if occupation is None:
        occupation = db.session.get(Occupation, item.occupation_id).code
    d = version.to_dict(occupation, status if status is not None else item.status)
    d["id"] = str(d["id"])
    return d


def versions(item: Item) -> list[ItemVersion]:
    return list(item.versions)


def _flatten(d: Mapping[str, Any]) -> dict[str, Any]:
    """Field path → scalar text for the fields worth comparing (lists/dicts flattened to paths)."""
    out: dict[str, Any] = {}

    def put(path: str, v: Any) -> None:
        if isinstance(v, Mapping):
            for k, x in v.items():
                put(f"{path}.{k}", x)
        elif isinstance(v, (list, tuple)) and path not in ("grades", "images"):
            for i, x in enumerate(v):
                put(f"{path}[{i}]", x)
        elif isinstance(v, (list, tuple)):
            out[path] = ", ".join(str(x) for x in v)
        elif v is None:
            out[path] = None
        elif isinstance(v, float):
            out[path] = str(int(v)) if v.is_integer() else repr(v)
        else:
            out[path] = str(v)

    for k, v in d.items():
        if k in ("id", "version", "status"):
            continue
        put(k, v)
    return out


def _order_key(common: list[str]):
    def key(path: str):
        name = path.split("[")[0].split(".")[0]
        return (common.index(name) if name in common else len(common), path)
    return key


def version_diff(v1: ItemVersion | Mapping, v2: ItemVersion | Mapping) -> list[tuple[str, Any, Any]]:
    """Differences between two versions (or item dicts): ``[(field path, before, after), ...]``.

    Field paths follow the validation problems (``stem``, ``options[2]``, ``marking_points[1].points``);
    values are texts (``None`` where a field or a row is absent). Use :func:`text_diff` to show a text
    field's change character by character.
    """
    a = _flatten(v1.to_dict("", "") if isinstance(v1, ItemVersion) else v1)
    b = _flatten(v2.to_dict("", "") if isinstance(v2, ItemVersion) else v2)
    t = (v2 if isinstance(v2, ItemVersion) else None)
    order = list(COMMON_FIELDS) + list(content_fields(t.type if t else (b.get("type") or "single_choice")))
    out = []
    for path in sorted(set(a) | set(b), key=_order_key(order)):
        if a.get(path) != b.get(path):
            out.append((path, a.get(path), b.get(path)))
    return out


def text_diff(before: str | None, after: str | None) -> list[tuple[str, str]]:
    """Character-level diff (Chinese has no spaces) as ``[(op, text)]`` with op ``equal``/``delete``/``insert``."""
    a, b = before or "", after or ""
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("equal", a[i1:i2]))
        else:
            if i2 > i1:
                out.append(("delete", a[i1:i2]))
            if j2 > j1:
                out.append(("insert", b[j1:j2]))
    return out


def history(item_id: int) -> list[dict]:
    """The item's life, oldest first, from its audit entries: ``{"at", "actor", "action", "version",
    "status_before", "status_after", "decision", "comment"}`` per event."""
    out = []
    for e in audit.entries_for("item", get_item(item_id).id):
        before, after = e.before or {}, e.after or {}
        out.append({
            "at": e.at, "actor": e.actor_label, "action": e.action,
            "version": after.get("version", before.get("version")),
            "status_before": before.get("status"), "status_after": after.get("status"),
            "decision": after.get("decision"), "comment": e.reason,
        })
    return out


def reviews(item: Item) -> list[ItemReview]:
    return list(db.session.execute(select(ItemReview).where(ItemReview.item_id == item.id)
                                   .order_by(ItemReview.id)).scalars())


def review_queue(user) -> list[Item]:
    """Items in review and flagged items the user may review (oldest change first)."""
    q = select(Item).where(Item.status.in_(("in_review", "flagged"))).order_by(Item.updated_at, Item.id)
    occ = reviewer_occupations(user)
    if occ is not None:
        q = q.where(Item.occupation_id.in_(occ))
    return list(db.session.execute(q).scalars())


def user_names(ids: Iterable[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {u.id: u.display_name for u in db.session.execute(select(User).where(User.id.in_(ids))).scalars()}


#: Public names for batch callers (the demo loader, bank import): a lookup cache shared across many
#: ``create_item(..., _ctx=Context())`` calls, and the "same content" test used to skip no-op edits.
Context = _Context
same_content = _same_content


def search_key(text: str) -> str:
    """Normalise a search query the way :attr:`Item.search_text` is normalised (for ``LIKE``)."""
    return normalize_text(text or "")


__all__ = [
    "ItemError", "ItemValidationError", "ItemPermissionError", "ItemStateError", "ItemNotFound",
    "create_item", "save_new_version", "submit_for_review", "review", "retire", "set_status", "item_dict",
    "version_diff", "text_diff", "history", "reviews", "review_queue", "get_item", "get_version", "can_view",
    "can_edit", "can_submit", "can_review", "can_retire", "is_author", "search_key", "ItemType", "Context",
    "same_content", "reviewer_occupations", "versions", "user_names", "TEXT_FIELDS",
]
