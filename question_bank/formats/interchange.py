"""What the interchange formats (QTI 2.1 packages, Moodle XML, GIFT) share.

* :class:`InterchangeImportResult` — an :class:`~question_bank.formats.common.ImportResult` that also
  carries the images found (``media``: name → bytes) and the question categories met (``categories``);
* the problem catalog of these formats (:data:`CATALOG`) and :func:`problem`, which builds located
  :class:`~question_bank.messages.Problem` objects: ``sheet`` is the file (the member's path inside a zip,
  or the uploaded file's name), ``row`` the line number in that file, ``column`` unused; ``params`` also
  name the question (``question``: its name or identifier, ``index``: its 1-based position);
* :func:`apply_defaults` — metadata the caller passes for items that carry none (occupation, grades, kp,
  points, …), see :data:`DEFAULTABLE`;
* :class:`ItemCollector` — validation of each imported item dict, problem location, and the file-wide
  all-or-nothing finish (duplicate ids, near-duplicates) shared with the spreadsheet formats;
* "cannot carry" checks on export: :class:`CannotCarryError` and :func:`loss`;
* :func:`flow_text` — (X)HTML content → plain stem text (block elements and ``<br>`` become line breaks,
  layout whitespace collapsed).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from question_bank.items import ItemType
from question_bank.messages import CATALOG as _BASE_CATALOG
from question_bank.messages import ERROR, WARNING, Problem, field_label_zh
from question_bank.validation import validate_item

__all__ = [
    "InterchangeImportResult", "CATALOG", "problem", "DEFAULTABLE", "apply_defaults", "check_defaults",
    "ItemCollector", "CannotCarryError", "loss", "flow_text", "image_extension", "PLACEHOLDER_REFERENCE",
    "PLACEHOLDER_MARKING_POINT", "localname", "fmt_points", "parse_points_suffix", "categories_in",
]

# code -> (Chinese template, English template); formatted with the problem's params.
CATALOG: dict[str, tuple[str, str]] = {
    # XML and zip safety
    "xml_malformed": ("XML 格式错误（第 {line_no} 行第 {col} 列）：{detail}",
                      "malformed XML (line {line_no}, column {col}): {detail}"),
    "xml_entities": ("文件的 DOCTYPE 中声明了实体（ENTITY），为防止实体扩展与外部实体（XXE）攻击，拒绝导入",
                     "the file declares entities in a DOCTYPE; refused to guard against entity expansion "
                     "and external entity (XXE) attacks"),
    "xml_external_dtd": ("文件引用了外部 DTD“{value}”，为安全起见拒绝导入",
                         "the file refers to an external DTD {value!r}; refused for safety"),
    "xml_wrong_root": ("根元素应为 {expected}，实为 {value}", "the root element must be {expected}, got {value}"),
    "not_zip": ("不是有效的 zip 压缩包（{reason_zh}）", "is not a valid zip archive ({reason})"),
    "zip_unsafe_name": ("压缩包中的文件名“{value}”不安全（{reason_zh}）",
                        "unsafe file name {value!r} in the archive ({reason})"),
    "zip_duplicate_name": ("压缩包中的文件名“{value}”重复", "the archive holds {value!r} twice"),
    "zip_encrypted": ("压缩包中的文件“{value}”已加密", "{value!r} in the archive is encrypted"),
    "zip_too_many_files": ("压缩包中有 {count} 个文件，超过上限 {max}",
                           "the archive holds {count} files, the limit is {max}"),
    "zip_ratio": ("文件“{value}”的压缩比 {ratio}:1 超过上限 {max}:1（疑似压缩炸弹）",
                  "{value!r} has a compression ratio of {ratio}:1, the limit is {max}:1 (zip bomb?)"),
    "not_text": ("不是 UTF-8 或 GB18030 编码的文本文件", "is not a UTF-8 or GB18030 text file"),
    # packages and media
    "qti_no_manifest": ("压缩包中没有 imsmanifest.xml，不是 IMS 内容包（QTI 2.1 导出包）",
                        "the archive has no imsmanifest.xml: not an IMS content package (QTI 2.1 export)"),
    "qti_missing_file": ("清单引用的文件“{value}”不在包中", "the manifest refers to {value!r}, which is not in the package"),
    "qti_bad_href": ("清单中的路径“{value}”无效或指向包外", "the manifest path {value!r} is invalid or points outside the package"),
    "qti_not_item": ("不是 QTI 2.1 试题（根元素为 {value}）", "is not a QTI 2.1 item (the root element is {value})"),
    "qti_unsupported_version": ("不支持的 QTI 版本（命名空间 {value}），只支持 QTI 2.1",
                                "unsupported QTI version (namespace {value}); only QTI 2.1 is supported"),
    "qti_unsupported_interaction": (
        "文件 {file} 中的交互类型 {interaction} 无法导入：examsys 只导入单选、多选、判断、填空（textEntry/inlineChoice）和问答（extendedText）",
        "{file}: the interaction {interaction} cannot be imported; examsys imports choice, true/false, text entry, "
        "inline choice and extended text items only"),
    "qti_multiple_interactions": (
        "文件 {file} 中有 {count} 个交互（{interactions}）；examsys 的一道题只有一个作答区（填空题只有一个空）",
        "{file} has {count} interactions ({interactions}); an examsys item has one (a fill-blank item has one blank)"),
    "qti_no_interaction": ("文件 {file} 中没有任何交互（作答区）", "{file} has no interaction"),
    "qti_unsupported_content": ("无法导入的内容 {value}（{reason_zh}）", "cannot import {value} ({reason})"),
    "qti_bad_response": ("作答声明 {value} 不符合 {interaction}：{reason_zh}",
                         "the response declaration {value} does not fit {interaction}: {reason}"),
    "missing_media": ("图片“{value}”不在包中", "the image {value!r} is not in the package"),
    "external_media": ("引用了外部资源“{value}”；只接受包内的图片",
                       "refers to the external resource {value!r}; only images inside the package are accepted"),
    "unsupported_media": ("不支持的媒体“{value}”（类型 {mime}）：只接受图片",
                          "unsupported media {value!r} (type {mime}): only images are accepted"),
    "bad_metadata": ("examsys 元数据“{name}”的取值“{value}”无效", "examsys metadata {name}: invalid value {value!r}"),
    # Moodle XML and GIFT
    "unsupported_question_type": ("第 {index} 题（{question}）：不支持的题型“{value}”：{hint_zh}",
                                  "question {index} ({question}): unsupported question type {value!r}: {hint}"),
    "unmapped_category": ("分类“{value}”未对应到鉴定点；请先确认分类与鉴定点的对应关系（category_map）",
                          "category {value!r} is not mapped to a knowledge point; confirm the category mapping "
                          "(category_map) first"),
    "gift_syntax": ("GIFT 语法错误：{detail_zh}", "GIFT syntax error: {detail}"),
    "tolerance_differs": ("各正确答案的允许误差不同（{values}）；examsys 的填空题只有一个允许误差",
                          "the right answers have different tolerances ({values}); an examsys fill-blank item has one"),
    "no_right_answer": ("没有得满分的答案", "no answer earns full credit"),
    # warnings on import
    "ignored_on_import": ("导入时忽略了：{what_zh}", "ignored on import: {what}"),
    "placeholder_reference": ("原题没有参考答案和评分要点，已填入占位内容，请在审核时补充",
                              "the item has no reference answer or marking points; placeholders were filled in, "
                              "complete them during review"),
    "skipped_question": ("第 {index} 题（{question}）是说明文字（{value}），不是试题，已跳过",
                         "question {index} ({question}) is a description ({value}), not an item; skipped"),
    # export
    "cannot_carry": ("{format} 格式无法容纳{what_zh}", "{format} cannot carry {what}"),
    "carried_as_extension": ("{what_zh}：只保存在 examsys 扩展中（{where_zh}），其他 {format} 系统不会使用",
                             "{what}: kept only in an examsys extension ({where}); other {format} systems will "
                             "not use it"),
    "media_not_given": ("没有提供图片“{value}”的内容", "the bytes of image {value!r} were not given"),
}

#: Placeholder texts for constructed items imported without a reference answer / marking points.
PLACEHOLDER_REFERENCE = "（导入的试题未提供参考答案，请补充）"
PLACEHOLDER_MARKING_POINT = "按参考答案评分（导入时未提供评分要点，请补充）"


def problem(code: str, field: str = "file", *, file: str | None = None, line: int | None = None,
            severity: str = ERROR, **params: Any) -> Problem:
    """A located :class:`Problem` from :data:`CATALOG` (or the base catalog of
    :mod:`question_bank.messages`): ``sheet`` = ``file``, ``row`` = ``line``."""
    zh_t, en_t = CATALOG[code] if code in CATALOG else _BASE_CATALOG[code]
    fmt = {"field": field, "file": file or "", **params}
    text_zh = zh_t.format(**fmt)
    text_en = en_t.format(**fmt)
    label = field_label_zh(field)
    return Problem(field=field, code=code, message_zh=f"{label}：{text_zh}" if label else text_zh,
                   message_en=f"{field}: {text_en}" if field else text_en, params=params, severity=severity,
                   sheet=file, row=line)


@dataclass(frozen=True)
class InterchangeImportResult:
    """Outcome of importing a QTI package, a Moodle XML file or a GIFT file (all-or-nothing).

    The first four fields are those of :class:`~question_bank.formats.common.ImportResult`: ``items``
    (canonical item dicts, only when ``problems`` is empty), ``problems`` (errors located by file, line
    and field), ``warnings`` (near-duplicates, ignored features, placeholders), ``locations``
    (``(file, line)`` of each item). Then:

    ``media``
        image name → bytes for every image the items refer to (``item["images"]`` holds these names);
        empty when there are problems;
    ``categories``
        the question categories found (Moodle/GIFT category paths, in order of first appearance), for
        the confirm step of the category → knowledge point mapping;
    ``names``
        each item's question name (Moodle/GIFT) or item identifier (QTI), same order as ``items``.
    """

    items: tuple[dict[str, Any], ...] = ()
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    locations: tuple[tuple[str, int], ...] = ()
    media: Mapping[str, bytes] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not self.problems


# ------------------------------------------------------------------------------------------ defaults

#: Item fields a caller may give in ``defaults`` for imported items that do not carry them, plus
#: ``constructed_type`` (the examsys type of extended-text / essay questions without examsys metadata:
#: ``short_answer``, ``calculation`` or ``essay``).
DEFAULTABLE = ("occupation", "grades", "kp", "points", "difficulty", "discrimination", "source", "status",
               "constructed_type")


def check_defaults(defaults: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``defaults`` (``TypeError``/``ValueError`` for a non-mapping or an unknown key)."""
    if defaults is None:
        return {}
    if not isinstance(defaults, Mapping):
        raise TypeError(f"defaults must be a mapping, got {type(defaults).__name__}")
    unknown = sorted(set(defaults) - set(DEFAULTABLE))
    if unknown:
        raise ValueError(f"unknown defaults {unknown}; allowed: {list(DEFAULTABLE)}")
    ct = defaults.get("constructed_type")
    if ct is not None and not ItemType(ct).is_constructed:
        raise ValueError(f"constructed_type must be short_answer, calculation or essay, got {ct!r}")
    return dict(defaults)


def map_category(d: dict[str, Any], category: str, category_map: Mapping[str, Any],
                 unmapped: dict[str, tuple[int, int]], category_line: int) -> bool:
    """Give an item without its own ``kp`` the knowledge point its category maps to (Moodle XML, GIFT).

    ``category_map[category]`` is a kp code, or a mapping with ``kp`` and optionally ``occupation`` /
    ``grades`` filled where the item lacks them. An unmapped non-empty category is counted in ``unmapped``
    (category → (line of its first appearance, questions)). Returns ``False`` when the item is left
    without a kp because its category is unmapped."""
    if d.get("kp") is not None:
        return True
    target = category_map.get(category)
    if isinstance(target, Mapping):
        for k in ("occupation", "grades"):
            if d.get(k) is None and target.get(k) is not None:
                d[k] = target[k]
        target = target.get("kp")
    if target is not None:
        d["kp"] = target
        return True
    if category:
        line, n = unmapped.get(category, (category_line, 0))
        unmapped[category] = (line, n + 1)
        return False
    return True


def apply_defaults(d: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Fill the :data:`DEFAULTABLE` item fields that ``d`` lacks (``None``) from ``defaults``."""
    for k, v in defaults.items():
        if k != "constructed_type" and d.get(k) is None:
            d[k] = copy.deepcopy(v)
    return d


# ------------------------------------------------------------------------------------------ collector

class _Batch:
    """Duck-typed stand-in for :class:`~question_bank.formats.common.BankParser` in ``finish_import``."""

    def __init__(self) -> None:
        self.parsed: list[Any] = []
        self.problems: list[Problem] = []


class ItemCollector:
    """Collects imported item dicts: validates each, locates its problems, finishes all-or-nothing."""

    def __init__(self, taxonomy: Any = None):
        self.taxonomy = taxonomy
        self.batch = _Batch()
        self.problems: list[Problem] = []   # file-level problems and per-item parse problems
        self.warnings: list[Problem] = []
        self.names: list[str] = []

    def add(self, problem_: Problem) -> None:
        (self.problems if problem_.is_error else self.warnings).append(problem_)

    def item(self, d: dict[str, Any], *, file: str, line: int, name: str,
             locate: Callable[[str], int | None] | None = None, failed: Iterable[str] = (),
             context: Mapping[str, Any] | None = None) -> None:
        """Validate item dict ``d`` (read from ``file`` at ``line``) and keep it.

        ``locate(field)`` gives the line of a field (``None`` → the item's line); problems of fields in
        ``failed`` (already reported while parsing) are not reported again. ``context`` params (question
        name, index) are added to every problem.
        """
        from .common import _Parsed, _root
        failed = set(failed)
        roots = {_root(f) for f in failed}
        ctx = dict(context or {})
        for p in validate_item(d, taxonomy=self.taxonomy):
            if _root(p.field) in roots or p.field in failed:
                continue
            row = (locate(p.field) if locate else None) or line
            self._append(p, file, row, ctx)
        self.batch.parsed.append(_Parsed(item=d, sheet=file, row=line,
                                         locate=lambda f, _l=line, _loc=locate: ((_loc(f) if _loc else None) or _l,
                                                                                 None)))
        self.names.append(name)

    def _append(self, p: Problem, file: str, row: int | None, ctx: Mapping[str, Any]) -> None:
        from dataclasses import replace
        params = {**dict(p.params), **ctx}
        self.add(replace(p, sheet=file, row=row, params=params))

    def finish(self, *, existing: Mapping[str, Any] | None = None, media: Mapping[str, bytes] | None = None,
               categories: Sequence[str] = ()) -> InterchangeImportResult:
        from .common import finish_import
        from question_bank.messages import make_problem
        res = finish_import([self.batch], [*self.problems, *self.warnings], existing=existing)
        if res.ok and not res.items:
            return InterchangeImportResult(problems=(make_problem("file", "no_items"),),
                                           warnings=res.warnings, categories=tuple(categories))
        if not res.ok:
            return InterchangeImportResult(problems=res.problems, warnings=res.warnings,
                                           categories=tuple(categories))
        return InterchangeImportResult(items=res.items, warnings=res.warnings, locations=res.locations,
                                       media=dict(media or {}), categories=tuple(categories),
                                       names=tuple(self.names))


# --------------------------------------------------------------------------------------------- export

class CannotCarryError(ValueError):
    """Raised by an exporter when the items hold content the format cannot carry and the caller did not
    accept the loss (``accept_losses=True``). ``.problems`` lists each loss, located by item position
    (``row``, 1-based) and field."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        shown = "; ".join(p.message_en for p in self.problems[:5])
        more = f" (and {len(self.problems) - 5} more)" if len(self.problems) > 5 else ""
        super().__init__(f"{len(self.problems)} loss(es) on export: {shown}{more}")


def loss(index: int, item: Mapping[str, Any], field: str, fmt: str, what: str, what_zh: str, *,
         code: str = "cannot_carry", severity: str = ERROR, **params: Any) -> Problem:
    """A "cannot carry" problem for item ``index`` (0-based) of an export: ``row`` = index + 1; the
    messages name the item (position and id)."""
    p = problem(code, field, severity=severity, format=fmt, what=what, what_zh=what_zh, index=index + 1,
                id=item.get("id"), **params)
    ident = f" (id {item['id']})" if item.get("id") else ""
    ident_zh = f"（编号 {item['id']}）" if item.get("id") else ""
    from dataclasses import replace
    return replace(p, row=index + 1, message_en=f"item {index + 1}{ident}: {p.message_en}",
                   message_zh=f"第 {index + 1} 题{ident_zh}：{p.message_zh}")


# ----------------------------------------------------------------------------------------------- text

_BLOCK = frozenset({"p", "div", "blockquote", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
                    "table", "tr", "dl", "dt", "dd", "address", "hr", "prompt", "thead", "tbody", "tfoot",
                    "caption", "figure", "section", "article", "header", "footer", "col", "colgroup"})
_LAYOUT_WS = str.maketrans({"\t": " ", "\n": " ", "\r": " ", "\f": " ", "\xa0": " "})


def localname(el: Any) -> str:
    """Local name of an lxml element's tag (no namespace); ``""`` for comments and the like."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def flow_text(el: Any, handler: Callable[[Any, str], str | None] | None = None, *,
              include_self: bool = False) -> str:
    """Plain text of (X)HTML content.

    Block elements and ``<br>`` make line breaks; layout whitespace (tabs, newlines, no-break spaces) inside
    text is a space, runs of spaces are one; lines are stripped and empty lines dropped. ``handler(element, localname)`` may take over an element:
    it returns the text to put in its place (``""`` to drop it, children included) or ``None`` to let the
    walker descend normally. The element's ``tail`` is always kept. With ``include_self`` the element
    itself is handled too, else only its content.
    """
    out: list[str] = []
    BREAK = "\x00"

    def walk(e: Any) -> None:
        name = localname(e)
        if name:
            rep = handler(e, name) if handler else None
            if rep is not None:
                out.append(rep)
            elif name == "br":
                out.append("\n")
            else:
                block = name in _BLOCK
                if block:
                    out.append(BREAK)
                if e.text:
                    out.append(e.text.translate(_LAYOUT_WS))
                for c in e:
                    walk(c)
                if block:
                    out.append(BREAK)
        if e.tail:
            out.append(e.tail.translate(_LAYOUT_WS))

    if include_self:
        tail = el.tail
        el.tail = None
        try:
            walk(el)
        finally:
            el.tail = tail
    else:
        if el.text:
            out.append(el.text.translate(_LAYOUT_WS))
        for c in el:
            walk(c)
    text = "".join(out).replace(BREAK, "\n")
    return "\n".join(_squeeze(x).strip() for x in text.split("\n") if x.strip())


def _squeeze(line: str) -> str:
    # collapse runs of spaces that came from layout (more than one space in a row)
    while "  " in line:
        line = line.replace("  ", " ")
    return line


def image_extension(data: bytes) -> str:
    """File name extension from an image's magic bytes (``png``, ``jpg``, ``gif``, ``webp``, ``svg``;
    ``bin`` when unknown)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<?xml", b"<svg")) or b"<svg" in head:
        return "svg"
    return "bin"


_MIME = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp",
         "svg": "image/svg+xml", "bin": "application/octet-stream"}


def mime_of(ext: str) -> str:
    return _MIME.get(ext, "application/octet-stream")


def fmt_points(v: float) -> str:
    """``3.0`` → ``"3"``, ``2.5`` → ``"2.5"``."""
    f = float(v)
    return str(int(f)) if f.is_integer() and abs(f) < 1e15 else repr(f)


def parse_points_suffix(text: str) -> tuple[str, float] | None:
    """``"写出公式（3分）"`` → ``("写出公式", 3.0)`` (also ``(3分)``, ``(3)``, ``[3分]``, ``【3分】``);
    ``None`` when the text does not end with points."""
    from question_bank.item_types.constructed import _POINTS_AT_END
    from question_bank.normalize import nfkc
    m = _POINTS_AT_END.match(text)
    if not m:
        return None
    try:
        v = float(nfkc(m.group(2)))
    except ValueError:
        return None
    if not math.isfinite(v):
        return None
    return m.group(1), v


def warn(code: str, field: str = "", **kw: Any) -> Problem:
    """A warning problem (see :func:`problem`)."""
    return problem(code, field, severity=WARNING, **kw)


def categories_in(data: Any, *, format: str | None = None, name: str | None = None) -> Any:
    """The question categories of a Moodle XML or GIFT file, for the user to confirm the category →
    knowledge point mapping before importing (``category_map`` of the readers).

    ``format``: ``"moodle_xml"`` or ``"gift"``; guessed from ``name`` (``.xml`` / ``.gift``, ``.txt``) or
    the content (XML starts with ``<``) when omitted. Returns a
    :class:`~question_bank.formats.moodle_xml.CategoryScan` (paths in order, question counts, how many
    carry their own kp, ``needs_mapping``, problems when the file cannot be read).
    """
    from . import gift, moodle_xml
    fmt = format
    if fmt is None and name:
        low = name.lower()
        fmt = "moodle_xml" if low.endswith(".xml") else "gift" if low.endswith((".gift", ".txt")) else None
    if fmt is None:
        head = data[:512] if isinstance(data, (bytes, str)) else b""
        if isinstance(head, bytes):
            head = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
            fmt = "moodle_xml" if head == b"<" else "gift"
        else:
            fmt = "moodle_xml" if head.lstrip("\ufeff \t\r\n")[:1] == "<" else "gift"
    if fmt == "moodle_xml":
        return moodle_xml.scan_categories(data.encode("utf-8") if isinstance(data, str) else data,
                                          name=name or "questions.xml")
    if fmt == "gift":
        return gift.scan_categories(data, name=name or "questions.gift")
    raise ValueError(f"format must be 'moodle_xml' or 'gift', got {format!r}")
