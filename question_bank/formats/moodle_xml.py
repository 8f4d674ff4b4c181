"""Moodle XML question files: import (:func:`read_moodle_xml`) and export (:func:`write_moodle_xml`).

Import maps Moodle question types to examsys item types:

================  =================================================================================
Moodle             examsys
================  =================================================================================
multichoice        single_choice (``<single>true``; the 100 % answer is the key) or multiple_choice
                   (``<single>false``; answers with a positive fraction are the key)
truefalse          true_false
shortanswer        fill_blank (answers at 100 %; ``\\*`` is a literal asterisk)
numerical          fill_blank with ``tolerance`` (one tolerance for all right answers) and ``unit`` (the unit
                   with multiplier 1)
essay              short_answer / calculation / essay (examsys tag, else ``defaults["constructed_type"]``,
                   else essay); reference answer and marking points from ``<graderinfo>``
category           the category path of the questions that follow; mapped to a knowledge point through
                   ``category_map`` (the user confirms it; :func:`scan_categories` lists the paths)
description        skipped with a warning (not a question)
anything else      a located problem (matching, cloze/multianswer = several blanks, calculated, drag and
                   drop, …); nothing is imported
================  =================================================================================

What Moodle XML has no field for is carried in question tags ``examsys:<field>=<value>`` (occupation,
grades, kp, difficulty, discrimination, source, status, id, version, type, score_step); the points are
``<defaultgrade>``; images are ``<file encoding="base64">`` elements referenced as ``@@PLUGINFILE@@/name``;
the reference answer and marking points of constructed items are in ``<graderinfo>`` (HTML with
``examsys-reference-answer`` / ``examsys-marking-points`` classes). Partial credit, feedback, hints and
penalties are Moodle features examsys does not model: ignored with a warning on import.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from question_bank.item_types.base import fmt_number
from question_bank.items import Item, ItemType, Status, canonical_item_dict, item_to_dict
from question_bank.messages import Problem, make_problem
from question_bank.normalize import nfkc

from ._source import load_source
from .common import parse_grades
from .interchange import (PLACEHOLDER_MARKING_POINT, PLACEHOLDER_REFERENCE, CannotCarryError,
                          InterchangeImportResult, ItemCollector, apply_defaults, check_defaults, flow_text,
                          fmt_points, image_extension, localname, loss, map_category, parse_points_suffix, problem,
                          warn)
from .xml_safety import parse_xml

__all__ = ["read_moodle_xml", "write_moodle_xml", "check_moodle_export", "scan_categories", "CategoryScan",
           "DEFAULT_MAX_BYTES", "TAG_PREFIX"]

#: Default size limit of an uploaded Moodle XML file (bytes; images are inline, base64).
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
#: Prefix of the question tags that carry examsys fields.
TAG_PREFIX = "examsys:"
_FORMAT = "Moodle XML"
_PLUGINFILE = "@@PLUGINFILE@@/"
_TAG_FIELDS = ("occupation", "grades", "kp", "difficulty", "discrimination", "source", "status", "id", "version",
               "type", "score_step")
_UNSUPPORTED_HINTS = {
    "multianswer": ("embedded answers (cloze): several blanks in one question; examsys items have one",
                    "完形填空（多个空），examsys 的一道题只有一个空"),
    "cloze": ("embedded answers (cloze): several blanks in one question; examsys items have one",
              "完形填空（多个空），examsys 的一道题只有一个空"),
    "match": ("matching questions are not an examsys item type", "examsys 没有匹配题"),
    "randomsamatch": ("random matching is not an examsys item type", "examsys 没有随机匹配题"),
    "random": ("random questions are a quiz feature, not an item", "随机题是测验功能，不是试题"),
}
_DEFAULT_HINT = ("not an examsys item type (single/multiple choice, true/false, short answer, numerical, essay)",
                 "不是 examsys 支持的题型（单选、多选、判断、填空、数值、问答）")


@dataclass(frozen=True)
class CategoryScan:
    """Categories of a Moodle XML or GIFT file, for the confirm step of the category → kp mapping.

    ``categories``: category paths in order of first appearance (only those holding questions; ``""`` =
    questions before any category); ``counts``: questions per path; ``with_kp``: how many of them carry an
    examsys ``kp`` of their own (those need no mapping); ``problems``: why the file could not be scanned.
    """

    categories: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    with_kp: Mapping[str, int] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    @property
    def needs_mapping(self) -> tuple[str, ...]:
        """Category paths with at least one question that has no examsys kp."""
        return tuple(c for c in self.categories if self.with_kp.get(c, 0) < self.counts.get(c, 0))


# ============================================================================================== import

def _load(data: Any, max_bytes: int) -> tuple[bytes | None, list[Problem]]:
    src, probs = load_source(data, max_bytes)
    if src is None:
        return None, probs
    if not isinstance(src, bytes):
        src = src.read_bytes()
    return src, []


def scan_categories(data: Any, *, name: str = "questions.xml", max_bytes: int = DEFAULT_MAX_BYTES) -> CategoryScan:
    """The category paths of a Moodle XML file (see :class:`CategoryScan`)."""
    src, probs = _load(data, max_bytes)
    if src is None:
        return CategoryScan(problems=tuple(probs))
    root, probs = parse_xml(src, file=name)
    if root is None:
        return CategoryScan(problems=tuple(probs))
    counts: dict[str, int] = {}
    with_kp: dict[str, int] = {}
    cat = ""
    for q in root.iter("question"):
        qtype = (q.get("type") or "").strip()
        if qtype == "category":
            cat = _category_path(q)
            continue
        if qtype == "description":
            continue
        counts[cat] = counts.get(cat, 0) + 1
        if _tags(q).get("kp"):
            with_kp[cat] = with_kp.get(cat, 0) + 1
    return CategoryScan(categories=tuple(counts), counts=counts, with_kp=with_kp)


def read_moodle_xml(data: Any, *, category_map: Mapping[str, Any] | None = None,
                    defaults: Mapping[str, Any] | None = None, name: str = "questions.xml",
                    max_bytes: int = DEFAULT_MAX_BYTES, taxonomy: Any = None,
                    existing: Mapping[str, Any] | None = None) -> InterchangeImportResult:
    """Read a Moodle XML question file; all-or-nothing.

    Parameters
    ----------
    data : bytes, path or binary file object
    category_map : mapping category path → kp code (or a mapping with ``kp`` and optionally
        ``occupation``, ``grades``)
        The knowledge point of the questions of each category, as confirmed by the user (see
        :func:`scan_categories`). Questions carrying an ``examsys:kp`` tag keep theirs. A category that
        holds questions without a kp and is not mapped is a problem located at its category question.
        Questions before any category use ``defaults["kp"]``.
    defaults : mapping
        ``occupation``, ``grades``, ``kp``, ``points``, ``source``, ``status``, ``difficulty``,
        ``constructed_type`` for questions that do not carry them (see
        :data:`~question_bank.formats.interchange.DEFAULTABLE`).
    name : str
        File name used in problem locations.

    Returns
    -------
    InterchangeImportResult
        ``categories`` lists the category paths found (also when there are problems); ``media`` the
        images (file name → bytes).
    """
    dflt = check_defaults(defaults)
    cmap = dict(category_map or {})
    src, probs = _load(data, max_bytes)
    if src is None:
        return InterchangeImportResult(problems=tuple(probs))
    root, probs = parse_xml(src, file=name)
    if root is None:
        return InterchangeImportResult(problems=tuple(probs))
    if root.tag != "quiz":
        return InterchangeImportResult(problems=(problem("xml_wrong_root", file=name, line=root.sourceline,
                                                         expected="quiz", value=str(root.tag)),))
    col = ItemCollector(taxonomy)
    media: dict[str, bytes] = {}
    cat, cat_line = "", None
    categories: list[str] = []
    unmapped: dict[str, tuple[int | None, int]] = {}
    index = 0
    for q in root.iter("question"):
        qtype = (q.get("type") or "").strip()
        if qtype == "category":
            cat, cat_line = _category_path(q), q.sourceline
            continue
        index += 1
        if cat not in categories:
            categories.append(cat)
        r = _QuestionReader(q, qtype, index, name, cat, dflt, col, media)
        d = r.read()
        if d is None:
            continue
        # knowledge point: own tag, else the category mapping, else defaults (no category only)
        if not map_category(d, cat, cmap, unmapped, cat_line):
            r.failed.add("kp")
        r.finish(d)
    for c, (line, n) in unmapped.items():
        col.add(problem("unmapped_category", "kp", file=name, line=line, value=c, questions=n))
    if not col.problems and not col.batch.parsed:
        return InterchangeImportResult(problems=(make_problem("file", "no_items"),), warnings=tuple(col.warnings),
                                       categories=tuple(categories))
    res = col.finish(existing=existing, media=media, categories=categories)
    if res.ok:
        used = {ref for it in res.items for ref in it["images"]}
        res = InterchangeImportResult(items=res.items, warnings=res.warnings, locations=res.locations,
                                      media={k: v for k, v in media.items() if k in used},
                                      categories=res.categories, names=res.names)
    return res


def _text_of(el: Any, path: str) -> str | None:
    t = el.find(path)
    return None if t is None else (t.text or "")


def _category_path(q: Any) -> str:
    t = _text_of(q, "category/text")
    if t is None:
        t = _text_of(q, "category") or ""
    return t.strip()


def _tags(q: Any) -> dict[str, str]:
    out = {}
    for t in q.findall("tags/tag/text"):
        s = (t.text or "").lstrip()
        if s.startswith(TAG_PREFIX) and "=" in s:
            k, v = s[len(TAG_PREFIX):].split("=", 1)
            out[k.strip()] = v
    return out


_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")


class _QuestionReader:
    def __init__(self, q: Any, qtype: str, index: int, file: str, cat: str, dflt: Mapping[str, Any],
                 col: ItemCollector, media: dict[str, bytes]):
        self.q, self.qtype, self.index, self.file, self.cat = q, qtype, index, file, cat
        self.dflt, self.col, self.media = dflt, col, media
        self.name = (_text_of(q, "name/text") or "").strip() or f"#{index}"
        self.ctx = {"question": self.name, "index": index}
        self.errors = 0
        self.failed: set[str] = set()
        self.lines: dict[str, int] = {}
        self.tags = _tags(q)
        self.exact = bool(self.tags)

    def err(self, code: str, field: str = "file", line: int | None = None, **params: Any) -> None:
        self.errors += 1
        self.col.add(problem(code, field, file=self.file, line=line or self.q.sourceline, **{**params, **self.ctx}))
        if field != "file":
            self.failed.add(field)

    def warn(self, code: str, field: str = "", line: int | None = None, **params: Any) -> None:
        self.col.add(warn(code, field, file=self.file, line=line or self.q.sourceline, **{**params, **self.ctx}))

    # -----------------------------------------------------------------------------------------
    def read(self) -> dict[str, Any] | None:
        qtype = self.qtype
        if qtype == "description":
            self.warn("skipped_question", value=qtype, index=self.index, question=self.name)
            return None
        handlers = {"multichoice": self._multichoice, "truefalse": self._truefalse,
                    "shortanswer": self._shortanswer, "numerical": self._numerical, "essay": self._essay}
        h = handlers.get(qtype)
        if h is None:
            hint = _UNSUPPORTED_HINTS.get(qtype, _DEFAULT_HINT)
            self.err("unsupported_question_type", "type", value=qtype, hint=hint[0], hint_zh=hint[1])
            return None
        d: dict[str, Any] = {}
        qt = self.q.find("questiontext")
        self.lines["stem"] = qt.sourceline if qt is not None else self.q.sourceline
        d["stem"], d["images"] = self._rich(qt, "stem", "images")
        h(d)
        if self.errors:
            return None
        self._metadata(d)
        return d

    def finish(self, d: dict[str, Any]) -> None:
        if d.get("points") is None:
            d["points"] = self.dflt.get("points", 1.0)
        apply_defaults(d, self.dflt)
        if d.get("marking_points", 0) is None:
            pts = d.get("points")
            d["marking_points"] = [{"text": PLACEHOLDER_MARKING_POINT, "points": pts}] if isinstance(
                pts, (int, float)) else []
        d.setdefault("status", "draft")
        d.setdefault("source", "")
        d = {k: v for k, v in d.items() if v is not None or k in ("difficulty", "discrimination", "id",
                                                                   "version", "tolerance", "unit")}

        def locate(f: str) -> int | None:
            root = re.split(r"[\[.]", f, 1)[0]
            return self.lines.get(f) or self.lines.get(root)

        self.col.item(d, file=self.file, line=self.q.sourceline, name=self.name, locate=locate,
                      failed=self.failed, context=self.ctx)

    # rich text ----------------------------------------------------------------------------------
    def _files(self, el: Any) -> dict[str, bytes]:
        out = {}
        for f in el.findall("file"):
            fname = (f.get("name") or "").strip()
            try:
                out[fname] = base64.b64decode((f.text or "").encode("ascii"), validate=False)
            except (binascii.Error, ValueError, UnicodeEncodeError):
                self.err("unsupported_media", "images", line=f.sourceline, value=fname, mime="invalid base64")
        return out

    def _rich(self, el: Any, field: str, img_field: str | None, *, strip: bool | None = None) -> tuple[str, list[str]]:
        """Plain text and image names of a Moodle text element (``<questiontext>``, ``<answer>`` …)."""
        if el is None:
            return "", []
        text = _text_of(el, "text")
        if text is None:
            text = el.text or ""
        fmt = (el.get("format") or "html").strip()
        files = self._files(el)
        images: list[str] = []
        if fmt == "html" or (fmt == "moodle_auto_format" and _HTML_TAG.search(text)):
            out = self._html(text, el, field, img_field, files, images)
        else:
            out = text if (self.exact if strip is None else not strip) else text.strip()
        return out, images

    def _html(self, text: str, el: Any, field: str, img_field: str | None, files: Mapping[str, bytes],
              images: list[str]) -> str:
        frag = None
        if "examsys-" in text:
            root, probs = parse_xml(f"<div>{text}</div>".encode("utf-8"), file=self.file)
            if root is not None:
                frag = root.find("div[@class='examsys-stem']")
                if frag is None and localname(root) == "div" and root.get("class") == "examsys-stem":
                    frag = root
                if frag is not None:
                    lines = []
                    for p in frag:
                        if p.tag != "p":
                            continue
                        if p.get("class") == "examsys-images":
                            for img in p.findall("img"):
                                self._img(img, el, field, img_field, files, images)
                            continue
                        lines.append("".join(p.itertext()))
                    return "\n".join(lines)
        from lxml import html as lhtml
        parser = etree.HTMLParser(no_network=True, remove_comments=True, remove_pis=True, huge_tree=False)
        try:
            root = lhtml.fragment_fromstring(text, create_parent="div", parser=parser)
        except (etree.ParserError, ValueError, TypeError):
            return _HTML_TAG.sub(" ", text).strip()

        def handler(e: Any, name: str) -> str | None:
            if name == "img":
                self._img(e, el, field, img_field, files, images)
                return ""
            if name in ("script", "style"):
                return ""
            if name in ("audio", "video", "object", "embed", "iframe"):
                self.err("unsupported_media", img_field or field, line=el.sourceline,
                         value=(e.get("src") or e.get("data") or name)[:200], mime=name)
                return ""
            return None
        return flow_text(root, handler)

    def _img(self, img: Any, el: Any, field: str, img_field: str | None, files: Mapping[str, bytes],
             images: list[str]) -> None:
        src = (img.get("src") or "").strip()
        if img_field is None:
            self.err("qti_unsupported_content", field, line=el.sourceline, value="img",
                     reason="images are supported in the question text only", reason_zh="只有题干可以有图片")
            return
        k = len(images)
        if not src.startswith(_PLUGINFILE):
            self.err("external_media", f"{img_field}[{k}]", line=el.sourceline, value=src[:200])
            return
        from urllib.parse import unquote
        fname = unquote(src[len(_PLUGINFILE):]).split("?", 1)[0]
        fname = fname.rsplit("/", 1)[-1] if fname not in files else fname
        if fname not in files:
            self.err("missing_media", f"{img_field}[{k}]", line=el.sourceline, value=fname)
            return
        ref = img.get("data-examsys-ref") or fname
        if self.media.get(ref, files[fname]) != files[fname]:  # another question's file of the same name
            ref = f"q{self.index}/{fname}"
        self.media[ref] = files[fname]
        images.append(ref)
        self.lines[f"{img_field}[{k}]"] = el.sourceline

    # metadata -------------------------------------------------------------------------------------
    def _metadata(self, d: dict[str, Any]) -> None:
        dg = self.q.find("defaultgrade")
        if dg is not None and (dg.text or "").strip():
            self.lines["points"] = dg.sourceline
            try:
                d["points"] = float(dg.text.strip())
            except ValueError:
                self.err("not_a_number", "points", line=dg.sourceline, value=dg.text.strip()[:50])
        tag_line = self.q.find("tags")
        tline = tag_line.sourceline if tag_line is not None else None
        for k, v in self.tags.items():
            if k not in _TAG_FIELDS:
                continue
            self.lines[k] = tline
            try:
                value = self._tag_value(k, v)
            except (ValueError, TypeError):
                self.err("bad_metadata", k, line=tline, name=TAG_PREFIX + k, value=v[:100])
                continue
            if k == "type":
                if value != d.get("type") and not (ItemType(value).is_constructed and
                                                   ItemType(d["type"]).is_constructed):
                    self.err("bad_metadata", "type", line=tline, name=TAG_PREFIX + k, value=v[:100])
                d["type"] = value
            elif k == "score_step":
                if ItemType(d["type"]).is_constructed:
                    d["score_step"] = value
            else:
                d[k] = value

    @staticmethod
    def _tag_value(k: str, v: str) -> Any:
        if k in ("difficulty", "discrimination", "score_step"):
            return float(nfkc(v).strip())
        if k == "version":
            return int(v.strip())
        if k == "grades":
            g = parse_grades(v)
            if g is None:
                raise ValueError(v)
            return g
        if k == "type":
            return ItemType(v.strip()).value
        if k == "status":
            return Status(v.strip()).value
        return v

    # types ------------------------------------------------------------------------------------------
    def _answers(self) -> list[tuple[Any, float]]:
        out = []
        for a in self.q.findall("answer"):
            try:
                frac = float((a.get("fraction") or "0").strip())
            except ValueError:
                self.err("not_a_number", "key", line=a.sourceline, value=(a.get("fraction") or "")[:30])
                frac = 0.0
            out.append((a, frac))
        return out

    def _feedback_warning(self) -> None:
        has = any((_text_of(a, "feedback/text") or "").strip() for a in self.q.findall("answer"))
        has = has or any((_text_of(self.q, f"{n}/text") or "").strip()
                         for n in ("generalfeedback", "correctfeedback", "partiallycorrectfeedback",
                                   "incorrectfeedback"))
        if has or self.q.find("hint") is not None:
            self.warn("ignored_on_import", what="feedback and hints", what_zh="反馈与提示")

    def _multichoice(self, d: dict[str, Any]) -> None:
        single = (_text_of(self.q, "single") or "true").strip().lower() in ("true", "1")
        answers = self._answers()
        opts = []
        for i, (a, _) in enumerate(answers):
            self.lines[f"options[{i}]"] = a.sourceline
            text, _imgs = self._rich(a, f"options[{i}]", None, strip=not self.exact)
            opts.append(text)
        d["options"] = opts
        self.lines["key"] = answers[0][0].sourceline if answers else self.q.sourceline
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        if single:
            d["type"] = ItemType.SINGLE_CHOICE.value
            best = max((f for _, f in answers), default=0.0)
            if best <= 0:
                self.err("no_right_answer", "key", line=self.lines["key"])
                return
            key = [letters[i] for i, (_, f) in enumerate(answers) if f >= 99.999 and i < 26]
            if not key:
                self.err("no_right_answer", "key", line=self.lines["key"])
                return
            if any(0 < f < 99.999 for _, f in answers):
                self.warn("ignored_on_import", "key", what="partial-credit answers", what_zh="部分得分的选项")
        else:
            d["type"] = ItemType.MULTIPLE_CHOICE.value
            key = [letters[i] for i, (_, f) in enumerate(answers) if f > 0 and i < 26]
            if not key:
                self.err("no_right_answer", "key", line=self.lines["key"])
                return
        d["key"] = "".join(key)
        self._feedback_warning()

    def _truefalse(self, d: dict[str, Any]) -> None:
        d["type"] = ItemType.TRUE_FALSE.value
        key = None
        for a, f in self._answers():
            word = (_text_of(a, "text") or "").strip().lower()
            if f >= 99.999 and word in ("true", "false"):
                key = word == "true"
                self.lines["key"] = a.sourceline
        if key is None:
            self.err("no_right_answer", "key")
            return
        d["key"] = key
        self._feedback_warning()

    def _shortanswer(self, d: dict[str, Any]) -> None:
        d["type"] = ItemType.FILL_BLANK.value
        answers = []
        for a, f in self._answers():
            raw = _text_of(a, "text") or ""
            text = raw if self.exact else raw.strip()
            if f >= 99.999:
                if re.search(r"(?<!\\)\*", text):
                    self.err("qti_unsupported_content", "answers", line=a.sourceline, value=text[:100],
                             reason="a wildcard (*) answer", reason_zh="通配符（*）答案")
                    continue
                self.lines.setdefault("answers", a.sourceline)
                self.lines[f"answers[{len(answers)}]"] = a.sourceline
                answers.append(text.replace("\\*", "*"))
            elif f > 0:
                self.warn("ignored_on_import", "answers", line=a.sourceline, what=f"partial-credit answer {text!r}",
                          what_zh=f"部分得分的答案“{text}”")
        if not answers and not self.errors:
            self.err("no_right_answer", "answers")
            return
        if (_text_of(self.q, "usecase") or "0").strip() == "1":
            self.warn("ignored_on_import", "answers", what="case-sensitive matching (examsys ignores case)",
                      what_zh="区分大小写（examsys 不区分大小写）")
        d["answers"] = answers
        d["tolerance"] = None
        d["unit"] = None
        self._feedback_warning()

    def _numerical(self, d: dict[str, Any]) -> None:
        d["type"] = ItemType.FILL_BLANK.value
        answers, tols = [], []
        for a, f in self._answers():
            text = (_text_of(a, "text") or "").strip()
            if text == "*":
                continue
            tol_text = (_text_of(a, "tolerance") or "0").strip() or "0"
            if f >= 99.999:
                try:
                    tols.append(float(tol_text))
                except ValueError:
                    self.err("not_a_number", "tolerance", line=a.sourceline, value=tol_text[:30])
                    continue
                self.lines.setdefault("answers", a.sourceline)
                self.lines[f"answers[{len(answers)}]"] = a.sourceline
                answers.append(text)
            elif f > 0:
                self.warn("ignored_on_import", "answers", line=a.sourceline, what=f"partial-credit answer {text!r}",
                          what_zh=f"部分得分的答案“{text}”")
        if not answers and not self.errors:
            self.err("no_right_answer", "answers")
            return
        if len(set(tols)) > 1:
            self.err("tolerance_differs", "tolerance", line=self.lines.get("answers"),
                     values=", ".join(fmt_number(t) for t in tols))
            return
        d["answers"] = answers
        d["tolerance"] = tols[0] if tols else 0.0
        self.lines["tolerance"] = self.lines.get("answers", self.q.sourceline)
        unit = None
        units = self.q.findall("units/unit")
        for u in units:
            try:
                mult = float((_text_of(u, "multiplier") or "1").strip())
            except ValueError:
                mult = None
            name = (_text_of(u, "unit_name") or "").strip()
            if mult == 1.0 and name and unit is None:
                unit = name
                self.lines["unit"] = u.sourceline
        if len(units) > (1 if unit else 0):
            self.warn("ignored_on_import", "unit", line=units[0].sourceline,
                      what="units other than the main unit (multiplier 1)", what_zh="换算倍数不为 1 的其他单位")
        d["unit"] = unit
        self._feedback_warning()

    def _essay(self, d: dict[str, Any]) -> None:
        ct = self.tags.get("type") or self.dflt.get("constructed_type") or ItemType.ESSAY.value
        try:
            if not ItemType(ct).is_constructed:
                raise ValueError(ct)
        except ValueError:
            self.err("bad_metadata", "type", name=TAG_PREFIX + "type", value=str(ct)[:50])
            return
        d["type"] = ct
        gi = self.q.find("graderinfo")
        text = _text_of(gi, "text") if gi is not None else None
        if gi is not None:
            self.lines["reference_answer"] = gi.sourceline
            self.lines["marking_points"] = gi.sourceline
        if text and "examsys-marking-points" in text:
            root, _ = parse_xml(f"<div>{text}</div>".encode("utf-8"), file=self.file)
            ra = root.find(".//div[@class='examsys-reference-answer']") if root is not None else None
            ol = root.find(".//ol[@class='examsys-marking-points']") if root is not None else None
            if ra is not None and ol is not None:
                d["reference_answer"] = "\n".join("".join(p.itertext()) for p in ra.findall("p"))
                mps = []
                for i, li in enumerate(ol.findall("li")):
                    t = li.find("span[@class='examsys-mp-text']")
                    p = li.find("span[@class='examsys-mp-points']")
                    parsed = parse_points_suffix("x" + "".join(p.itertext())) if p is not None else None
                    if t is None or parsed is None:
                        self.err("bad_metadata", f"marking_points[{i}]", line=gi.sourceline, name="marking point",
                                 value="".join(li.itertext())[:100])
                        continue
                    mps.append({"text": "".join(t.itertext()), "points": parsed[1]})
                d["marking_points"] = mps
                return
        plain = ""
        if gi is not None:
            plain, _ = self._rich(gi, "reference_answer", None, strip=True)
        mps, ref_lines = [], []
        for ln in plain.split("\n") if plain else []:
            parsed = parse_points_suffix(ln)
            if parsed is not None and parsed[0].strip():
                mps.append({"text": parsed[0].strip(), "points": parsed[1]})
            else:
                ref_lines.append(ln)
        ref = "\n".join(x for x in ref_lines if x.strip())
        if not ref or not mps:
            self.warn("placeholder_reference", "reference_answer", line=self.lines.get("reference_answer"))
        d["reference_answer"] = ref or PLACEHOLDER_REFERENCE
        d["marking_points"] = mps or None


# ============================================================================================== export

def _as_dict(item: Mapping[str, Any] | Item) -> dict[str, Any]:
    return canonical_item_dict(item_to_dict(item) if isinstance(item, Item) else item)


def _losses(i: int, d: Mapping[str, Any], media: Mapping[str, bytes]) -> list[Problem]:
    if d["type"] == ItemType.PRACTICAL_TASK.value:
        return [loss(i, d, "type", _FORMAT, "practical tasks (rubric, veto items, materials); use the bank "
                     "spreadsheet", "操作技能题（评分表、否决项、材料设备），请使用题库电子表格")]
    return [loss(i, d, f"images[{k}]", _FORMAT, f"image {ref!r} (its bytes were not given)",
                 f"图片“{ref}”（未提供图片内容）") for k, ref in enumerate(d["images"]) if ref not in media]


def check_moodle_export(items: Sequence[Mapping[str, Any] | Item],
                        media: Mapping[str, bytes] | None = None) -> list[Problem]:
    """What :func:`write_moodle_xml` would lose (practical tasks, images without bytes), located by item
    position (``row``) and field."""
    media = media or {}
    return [p for i, it in enumerate(items) for p in _losses(i, _as_dict(it), media)]


def write_moodle_xml(items: Sequence[Mapping[str, Any] | Item], media: Mapping[str, bytes] | None = None, *,
                     accept_losses: bool = False, category_root: str = "$course$/top") -> bytes:
    """Write items as a Moodle XML question file (UTF-8 bytes).

    Each (occupation, kp) becomes a category ``{category_root}/{occupation}/{kp}``. Raises
    :class:`CannotCarryError` for content Moodle XML cannot carry (:func:`check_moodle_export`) unless
    ``accept_losses``; then practical tasks and images without bytes are left out.
    """
    media = media or {}
    canon = [_as_dict(it) for it in items]
    losses = [p for i, d in enumerate(canon) for p in _losses(i, d, media)]
    if losses and not accept_losses:
        raise CannotCarryError(losses)
    root = etree.Element("quiz")
    root.text = "\n"
    cat = None
    for d in canon:
        if d["type"] == ItemType.PRACTICAL_TASK.value:
            continue
        path = f"{category_root}/{d['occupation']}/{d['kp']}"
        if path != cat:
            cat = path
            cq = etree.SubElement(root, "question", type="category")
            etree.SubElement(etree.SubElement(cq, "category"), "text").text = path
            cq.tail = "\n"
        _question(root, d, media).tail = "\n"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _text_el(parent: Any, tag: str, text: str, fmt: str | None = "plain_text") -> Any:
    el = etree.SubElement(parent, tag)
    if fmt is not None:
        el.set("format", fmt)
    etree.SubElement(el, "text").text = text
    return el


def _question(root: Any, d: Mapping[str, Any], media: Mapping[str, bytes]) -> Any:
    t = ItemType(d["type"])
    if t.is_choice:
        qtype = "multichoice"
    elif t is ItemType.TRUE_FALSE:
        qtype = "truefalse"
    elif t is ItemType.FILL_BLANK:
        qtype = "numerical" if d["tolerance"] is not None else "shortanswer"
    else:
        qtype = "essay"
    q = etree.SubElement(root, "question", type=qtype)
    name = d["id"] or (d["stem"].strip().split("\n", 1)[0][:40] or "item")
    _text_el(q, "name", name, None)
    imgs = [ref for ref in d["images"] if ref in media]
    if imgs:
        qt = _text_el(q, "questiontext", _stem_html(d["stem"], imgs, media), "html")
        seen = set()
        for ref in imgs:
            fname = _file_name(ref, media[ref])
            if fname in seen:
                continue
            seen.add(fname)
            f = etree.SubElement(qt, "file", name=fname, path="/", encoding="base64")
            f.text = base64.b64encode(media[ref]).decode("ascii")
    else:
        _text_el(q, "questiontext", d["stem"])
    _text_el(q, "generalfeedback", "")
    etree.SubElement(q, "defaultgrade").text = fmt_number(d["points"])
    etree.SubElement(q, "penalty").text = "0"
    etree.SubElement(q, "hidden").text = "0"
    etree.SubElement(q, "idnumber").text = d["id"] or ""
    if t.is_choice:
        etree.SubElement(q, "single").text = "true" if t is ItemType.SINGLE_CHOICE else "false"
        etree.SubElement(q, "shuffleanswers").text = "false"
        etree.SubElement(q, "answernumbering").text = "ABCD"
        k = len(d["key"])
        right = "100" if t is ItemType.SINGLE_CHOICE else _FRACTIONS[k]
        wrong = "0" if t is ItemType.SINGLE_CHOICE else "-100"
        for i, opt in enumerate(d["options"]):
            a = _text_el(q, "answer", opt)
            a.set("fraction", right if "ABCDEFGH"[i] in d["key"] else wrong)
            _text_el(a, "feedback", "")
    elif t is ItemType.TRUE_FALSE:
        for word in ("true", "false"):
            a = _text_el(q, "answer", word, "moodle_auto_format")
            a.set("fraction", "100" if (word == "true") == bool(d["key"]) else "0")
            _text_el(a, "feedback", "")
    elif qtype == "shortanswer":
        etree.SubElement(q, "usecase").text = "0"
        for ans in d["answers"]:
            a = _text_el(q, "answer", ans.replace("*", "\\*"), "moodle_auto_format")
            a.set("fraction", "100")
            _text_el(a, "feedback", "")
    elif qtype == "numerical":
        for ans in d["answers"]:
            a = _text_el(q, "answer", ans, "moodle_auto_format")
            a.set("fraction", "100")
            etree.SubElement(a, "tolerance").text = fmt_number(d["tolerance"])
            _text_el(a, "feedback", "")
        if d["unit"]:
            u = etree.SubElement(etree.SubElement(q, "units"), "unit")
            etree.SubElement(u, "multiplier").text = "1"
            etree.SubElement(u, "unit_name").text = d["unit"]
        etree.SubElement(q, "unitgradingtype").text = "0"
        etree.SubElement(q, "unitpenalty").text = "0.1000000"
        etree.SubElement(q, "showunits").text = "0" if d["unit"] else "3"
        etree.SubElement(q, "unitsleft").text = "0"
    else:
        etree.SubElement(q, "responseformat").text = "editor"
        etree.SubElement(q, "responserequired").text = "1"
        etree.SubElement(q, "responsefieldlines").text = "15" if t is ItemType.ESSAY else "8"
        etree.SubElement(q, "attachments").text = "0"
        etree.SubElement(q, "attachmentsrequired").text = "0"
        _text_el(q, "graderinfo", _grader_html(d), "html")
        _text_el(q, "responsetemplate", "", "html")
    tags = etree.SubElement(q, "tags")
    for k in _TAG_FIELDS:
        if k == "type":
            v: Any = d["type"]
        elif k == "grades":
            v = ",".join(str(g) for g in d["grades"])
        elif k == "score_step":
            v = d.get("score_step") if t.is_constructed else None
        else:
            v = d[k]
        if v is None:
            continue
        s = v if isinstance(v, str) else fmt_number(v)
        etree.SubElement(etree.SubElement(tags, "tag"), "text").text = f"{TAG_PREFIX}{k}={s}"
    return q


# Moodle's allowed fractions for k right answers of a multiple-answer question (sum 100 %).
_FRACTIONS = {1: "100", 2: "50", 3: "33.33333", 4: "25", 5: "20", 6: "16.66667", 7: "14.28571", 8: "12.5"}
_NAME_OK = re.compile(r"[^\w.-]", re.U)


def _file_name(ref: str, data: bytes) -> str:
    base = _NAME_OK.sub("_", ref.replace("\\", "/").rsplit("/", 1)[-1]).strip("._")[-120:] or "image"
    if not re.search(r"\.(png|jpe?g|gif|webp|svg)$", base, re.I):
        base = f"{base}.{image_extension(data)}"
    return base


def _stem_html(stem: str, imgs: Sequence[str], media: Mapping[str, bytes]) -> str:
    div = etree.Element("div")
    div.set("class", "examsys-stem")
    for line in stem.split("\n"):
        etree.SubElement(div, "p").text = line or None
    p = etree.SubElement(div, "p")
    p.set("class", "examsys-images")
    for ref in imgs:
        img = etree.SubElement(p, "img", src=_PLUGINFILE + _file_name(ref, media[ref]), alt="")
        img.set("data-examsys-ref", ref)
    return etree.tostring(div, encoding="unicode")


def _grader_html(d: Mapping[str, Any]) -> str:
    root = etree.Element("div")
    etree.SubElement(root, "p").text = "参考答案 Reference answer"
    ra = etree.SubElement(root, "div")
    ra.set("class", "examsys-reference-answer")
    for line in d["reference_answer"].split("\n"):
        etree.SubElement(ra, "p").text = line or None
    etree.SubElement(root, "p").text = "评分要点 Marking points"
    ol = etree.SubElement(root, "ol")
    ol.set("class", "examsys-marking-points")
    for mp in d["marking_points"]:
        li = etree.SubElement(ol, "li")
        a = etree.SubElement(li, "span")
        a.set("class", "examsys-mp-text")
        a.text = mp["text"]
        b = etree.SubElement(li, "span")
        b.set("class", "examsys-mp-points")
        b.text = f"（{fmt_points(mp['points'])}分）"
    return "".join(etree.tostring(c, encoding="unicode") for c in root)

