"""GIFT (Moodle's plain-text question format): import (:func:`read_gift`) and export (:func:`write_gift`).

Syntax (Moodle docs): questions are separated by blank lines; ``// …`` lines are comments; ``::name::``
names a question; ``$CATEGORY: path`` sets the category of the questions that follow; the answers are in
``{…}``; ``\\`` escapes ``~ = # { } :`` and ``\\n`` is a line break inside a text; ``[html]``,
``[plain]``, ``[markdown]``, ``[moodle]`` set the text format.

===========================  ======================================================================
GIFT                          examsys
===========================  ======================================================================
``{=right ~wrong ~wrong}``    single_choice (``~%50%…`` partial credit ignored with a warning)
``{~%50%a ~%50%b ~c}``        multiple_choice (no ``=``: answers with a positive weight are the key)
``{T}`` ``{FALSE}``           true_false
``{=a =b}``                   fill_blank (the answers at 100 %)
``{#12.5:0.05}``              fill_blank with a tolerance (also ``{#min..max}``, ``{#=a:t =b:t}``)
``{}``                        essay (or ``defaults["constructed_type"]``); a placeholder reference answer
                              and marking point with a warning
text ``{…}`` more text        the stem gets ``____`` where the answers were (missing-word format)
no braces                     a description: skipped with a warning
``{=a -> b …}``               matching: a located problem (not an examsys type)
===========================  ======================================================================

GIFT cannot carry images, points, occupation, grades, knowledge points or marking guides. The exporter
writes what examsys needs in a comment line ``// examsys: {json}`` before each question (Moodle ignores
comments; the importer reads it back), and reports images and practical tasks as "cannot carry".
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from collections.abc import Mapping, Sequence
from typing import Any

from question_bank.item_types.base import fmt_number
from question_bank.items import Item, ItemType, Status, canonical_item_dict, item_to_dict
from question_bank.messages import WARNING, Problem, make_problem

from ._source import load_source
from .common import parse_grades
from .interchange import (PLACEHOLDER_MARKING_POINT, PLACEHOLDER_REFERENCE, CannotCarryError,
                          InterchangeImportResult, ItemCollector, apply_defaults, check_defaults, flow_text, loss, map_category,
                          problem, warn)

__all__ = ["read_gift", "write_gift", "check_gift_export", "scan_categories", "DEFAULT_MAX_BYTES", "META_PREFIX"]

#: Default size limit of an uploaded GIFT file (bytes).
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
#: Comment that carries examsys fields (JSON) for the question that follows.
META_PREFIX = "// examsys:"
_FORMAT = "GIFT"
_FORMATS = ("html", "plain", "markdown", "moodle")
_META_KEYS = ("type", "occupation", "grades", "kp", "points", "difficulty", "discrimination", "source", "status",
              "id", "version", "unit", "score_step", "reference_answer", "marking_points")

# A token is (character, escaped). Escaped characters never act as syntax.
Tok = tuple[str, bool]


def _decode(data: Any, max_bytes: int) -> tuple[str | None, list[Problem]]:
    if isinstance(data, str):
        if len(data.encode("utf-8")) > max_bytes:
            return None, [make_problem("file", "file_too_large", size=len(data.encode("utf-8")), max=max_bytes)]
        return data, []
    src, probs = load_source(data, max_bytes)
    if src is None:
        return None, probs
    raw = src if isinstance(src, bytes) else src.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc), []
        except UnicodeDecodeError:
            continue
    return None, [problem("not_text")]


def _tokens(text: str) -> list[Tok]:
    out: list[Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt in "~=#{}:\\":
                out.append((nxt, True))
                i += 2
                continue
            if nxt == "n":
                out.append(("\n", True))
                i += 2
                continue
        out.append((c, False))
        i += 1
    return out


def _s(toks: Sequence[Tok]) -> str:
    return "".join(c for c, _ in toks)


def _find(toks: Sequence[Tok], ch: str, start: int = 0) -> int:
    for i in range(start, len(toks)):
        if toks[i] == (ch, False):
            return i
    return -1


def _find_seq(toks: Sequence[Tok], seq: str, start: int = 0) -> int:
    k = len(seq)
    for i in range(start, len(toks) - k + 1):
        if all(toks[i + j] == (seq[j], False) for j in range(k)):
            return i
    return -1


def _strip(toks: Sequence[Tok]) -> list[Tok]:
    a, b = 0, len(toks)
    while a < b and not toks[a][1] and toks[a][0].isspace():
        a += 1
    while b > a and not toks[b - 1][1] and toks[b - 1][0].isspace():
        b -= 1
    return list(toks[a:b])


def _chunks(text: str) -> list[tuple[int, list[tuple[int, str]]]]:
    """Questions: ``(first line number, [(line number, line)])``, blank lines separating them."""
    out: list[tuple[int, list[tuple[int, str]]]] = []
    cur: list[tuple[int, str]] = []
    for no, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        if line.strip():
            cur.append((no, line))
        elif cur:
            out.append((cur[0][0], cur))
            cur = []
    if cur:
        out.append((cur[0][0], cur))
    return out


def _split_chunk(lines: Sequence[tuple[int, str]]) -> tuple[list[tuple[int, str]], str | None, int | None]:
    """Drop comment lines; return (remaining lines, examsys metadata JSON text, its line)."""
    meta = meta_line = None
    rest = []
    for no, line in lines:
        s = line.lstrip()
        if s.startswith(META_PREFIX):
            meta, meta_line = s[len(META_PREFIX):].strip(), no
        elif s.startswith("//"):
            continue
        else:
            rest.append((no, line))
    return rest, meta, meta_line


def scan_categories(data: Any, *, name: str = "questions.gift", max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """The category paths of a GIFT file (a :class:`~question_bank.formats.moodle_xml.CategoryScan`)."""
    from .moodle_xml import CategoryScan
    text, probs = _decode(data, max_bytes)
    if text is None:
        return CategoryScan(problems=tuple(probs))
    counts: dict[str, int] = {}
    with_kp: dict[str, int] = {}
    cat = ""
    for _, lines in _chunks(text):
        rest, meta, _ = _split_chunk(lines)
        if not rest:
            continue
        body = "\n".join(line for _, line in rest).strip()
        if body.startswith("$CATEGORY:"):
            cat = body[len("$CATEGORY:"):].strip()
            continue
        if "{" not in body:
            continue
        counts[cat] = counts.get(cat, 0) + 1
        try:
            has_kp = bool(meta and json.loads(meta).get("kp"))
        except (ValueError, AttributeError):
            has_kp = False
        if has_kp:
            with_kp[cat] = with_kp.get(cat, 0) + 1
    return CategoryScan(categories=tuple(counts), counts=counts, with_kp=with_kp)


def read_gift(data: Any, *, category_map: Mapping[str, Any] | None = None, defaults: Mapping[str, Any] | None = None,
              name: str = "questions.gift", max_bytes: int = DEFAULT_MAX_BYTES, taxonomy: Any = None,
              existing: Mapping[str, Any] | None = None) -> InterchangeImportResult:
    """Read a GIFT file; all-or-nothing. ``data``: the text (``str``), its bytes (UTF-8, BOM optional, or
    GB18030), a ``pathlib.Path`` or a binary file object.

    ``category_map`` and ``defaults`` work as for :func:`~question_bank.formats.moodle_xml.read_moodle_xml`
    (GIFT has no points: ``defaults["points"]``, else 1). Problems are located by ``name`` (``sheet``), the
    line of the question (``row``), the field, and ``params["question"]`` / ``params["index"]``.
    """
    dflt = check_defaults(defaults)
    cmap = dict(category_map or {})
    text, probs = _decode(data, max_bytes)
    if text is None:
        return InterchangeImportResult(problems=tuple(probs))
    col = ItemCollector(taxonomy)
    cat, cat_line = "", None
    categories: list[str] = []
    unmapped: dict[str, tuple[int | None, int]] = {}
    index = 0
    for first, lines in _chunks(text):
        rest, meta_text, meta_line = _split_chunk(lines)
        if not rest:
            continue
        body = "\n".join(line for _, line in rest)
        if body.strip().startswith("$CATEGORY:"):
            cat, cat_line = body.strip()[len("$CATEGORY:"):].strip(), rest[0][0]
            continue
        index += 1
        r = _GiftQuestion(body, rest[0][0], index, name, dflt, col, meta_text, meta_line)
        d = r.read()
        if d is None:
            continue
        if cat not in categories:
            categories.append(cat)
        if not map_category(d, cat, cmap, unmapped, cat_line):
            r.failed.add("kp")
        r.finish(d)
    for c, (line, n) in unmapped.items():
        col.add(problem("unmapped_category", "kp", file=name, line=line, value=c, questions=n))
    if not col.problems and not col.batch.parsed:
        return InterchangeImportResult(problems=(make_problem("file", "no_items"),), warnings=tuple(col.warnings),
                                       categories=tuple(categories))
    return col.finish(existing=existing, categories=categories)


_WEIGHT = re.compile(r"^%(-?\d+(?:\.\d*)?)%")


class _GiftQuestion:
    def __init__(self, body: str, line: int, index: int, file: str, dflt: Mapping[str, Any], col: ItemCollector,
                 meta_text: str | None, meta_line: int | None):
        self.body, self.line, self.index, self.file = body, line, index, file
        self.dflt, self.col = dflt, col
        self.meta_text, self.meta_line = meta_text, meta_line
        self.name = f"#{index}"
        self.ctx = {"question": self.name, "index": index}
        self.errors = 0
        self.failed: set[str] = set()
        self.meta: dict[str, Any] = {}

    def err(self, code: str, field: str = "file", **params: Any) -> None:
        self.errors += 1
        line = params.pop("line", None) or self.line
        self.col.add(problem(code, field, file=self.file, line=line, **{**params, **self.ctx}))
        if field != "file":
            self.failed.add(field)

    def warn(self, code: str, field: str = "", **params: Any) -> None:
        self.col.add(warn(code, field, file=self.file, line=self.line, **{**params, **self.ctx}))

    def _line_of(self, toks_before: int, toks: Sequence[Tok]) -> int:
        return self.line + sum(1 for c, esc in toks[:toks_before] if c == "\n" and not esc)

    def read(self) -> dict[str, Any] | None:
        exact = self.meta_text is not None
        if exact:
            try:
                meta = json.loads(self.meta_text)
                if not isinstance(meta, dict):
                    raise ValueError("not an object")
                self.meta = {k: v for k, v in meta.items() if k in _META_KEYS}
            except ValueError:
                self.err("bad_metadata", "file", line=self.meta_line, name="examsys", value=self.meta_text[:100])
                return None
        toks = _tokens(self.body)
        if not exact:
            toks = _strip(toks)
        # name
        if toks[:2] == [(":", False), (":", False)]:
            end = _find_seq(toks, "::", 2)
            if end < 0:
                self.err("gift_syntax", detail="the question name has no closing '::'", detail_zh="题目名称缺少结尾的“::”")
                return None
            self.name = _s(toks[2:end]).strip() or self.name
            self.ctx["question"] = self.name
            toks = toks[end + 2:]
            if not exact:
                toks = _strip(toks)
        fmt = "moodle"
        m = re.match(r"\[(\w+)\]", _s(toks[:12]))
        if m and m.group(1) in _FORMATS and not any(e for _, e in toks[:m.end()]):
            fmt = m.group(1)
            toks = toks[m.end():]
        start = _find(toks, "{")
        end = _find(toks, "}", start + 1) if start >= 0 else _find(toks, "}")
        if start < 0 and end < 0:
            self.warn("skipped_question", value="description", index=self.index, question=self.name)
            return None
        if start < 0 or end < 0:
            self.err("gift_syntax", line=self._line_of(max(start, end), toks),
                     detail="unbalanced braces: an answer block needs both '{' and '}' (escape them as \\{ \\})",
                     detail_zh="花括号不成对：答案部分需要“{”和“}”（文字中的花括号请写成 \\{ \\}）")
            return None
        before, answer, after = toks[:start], toks[start + 1:end], toks[end + 1:]
        if _s(after).strip():  # missing-word format: the blank is where the answers were
            stem_toks = list(before) + [("____", True)] + list(after)
        else:
            stem_toks = list(before)
        if not exact:
            stem_toks = _strip(stem_toks)
        d: dict[str, Any] = {"stem": self._text(stem_toks, fmt, "stem", exact), "images": []}
        self.answer_line = self._line_of(start, toks)
        ans = answer if exact else _strip(answer)
        self._answers(d, ans, fmt, exact)
        if self.errors:
            return None
        self._apply_meta(d)
        return d

    def _text(self, toks: Sequence[Tok], fmt: str, field: str, exact: bool) -> str:
        s = _s(toks)
        if fmt == "html":
            from lxml import etree
            from lxml import html as lhtml
            parser = etree.HTMLParser(no_network=True, remove_comments=True, remove_pis=True, huge_tree=False)
            try:
                root = lhtml.fragment_fromstring(s, create_parent="div", parser=parser)
            except (etree.ParserError, ValueError, TypeError):
                return re.sub(r"</?[A-Za-z][^>]*>", " ", s).strip()

            def handler(e: Any, name: str) -> str | None:
                if name in ("img", "audio", "video", "object", "embed", "iframe"):
                    self.err("cannot_carry", field if name != "img" else "images", format=_FORMAT,
                             what=f"media ({name}): GIFT files cannot hold images; use Moodle XML or QTI",
                             what_zh=f"媒体（{name}）：GIFT 文件不能包含图片，请改用 Moodle XML 或 QTI")
                    return ""
                return None
            return flow_text(root, handler)
        return s if exact else s.strip()

    # answers ------------------------------------------------------------------------------------
    def _answers(self, d: dict[str, Any], ans: list[Tok], fmt: str, exact: bool) -> None:
        gf = _find_seq(ans, "####")
        if gf >= 0:
            if _s(ans[gf + 4:]).strip():
                self.warn("ignored_on_import", what="general feedback", what_zh="总体反馈")
            ans = ans[:gf] if exact else _strip(ans[:gf])
        s = _s(ans)
        if not s.strip():
            ct = self.meta.get("type") or self.dflt.get("constructed_type") or ItemType.ESSAY.value
            d["type"] = ct
            return
        if ans[0] == ("#", False):
            self._numerical(d, ans[1:])
            return
        if _find(ans, "~") >= 0:
            self._choice(d, ans, fmt, exact)
            return
        if _find(ans, "=") >= 0 and _find_seq(ans, "->") >= 0:
            self.err("unsupported_question_type", "type", value="matching", hint="matching questions are not an "
                     "examsys item type", hint_zh="examsys 没有匹配题")
            return
        head = _s(ans[:_find(ans, "#")] if _find(ans, "#") >= 0 else ans).strip()
        if head in ("T", "TRUE", "F", "FALSE"):
            d["type"] = ItemType.TRUE_FALSE.value
            d["key"] = head in ("T", "TRUE")
            if _find(ans, "#") >= 0:
                self.warn("ignored_on_import", what="feedback", what_zh="反馈")
            return
        self._short(d, ans, exact)

    def _split(self, ans: list[Tok], markers: str) -> list[tuple[str, list[Tok]]]:
        """Split at unescaped marker characters: ``[(marker, tokens)]``."""
        out: list[tuple[str, list[Tok]]] = []
        cur: list[Tok] | None = None
        mark = ""
        for t in ans:
            if not t[1] and t[0] in markers:
                if cur is not None:
                    out.append((mark, cur))
                cur, mark = [], t[0]
            elif cur is not None:
                cur.append(t)
            elif not t[0].isspace():
                cur, mark = [t], ""
        if cur is not None:
            out.append((mark, cur))
        return out

    def _weight_feedback(self, toks: list[Tok], exact: bool) -> tuple[float | None, list[Tok], bool]:
        body = _strip(toks)
        weight = None
        m = _WEIGHT.match(_s(body[:12]))
        if m and not any(e for _, e in body[:m.end()]):
            weight = float(m.group(1))
            body = body[m.end():]
        fb = _find(body, "#")
        has_fb = fb >= 0 and bool(_s(body[fb + 1:]).strip())
        if fb >= 0:
            body = body[:fb]
        return weight, _strip(body), has_fb

    def _choice(self, d: dict[str, Any], ans: list[Tok], fmt: str, exact: bool) -> None:
        parts = self._split(ans, "~=")
        opts, weights, fb = [], [], False
        for mark, toks in parts:
            if mark == "":
                self.err("gift_syntax", "options", line=self.answer_line,
                         detail=f"text {_s(toks).strip()[:40]!r} before the first '~' or '='",
                         detail_zh=f"第一个“~”或“=”之前有文字“{_s(toks).strip()[:40]}”")
                return
            w, body, has_fb = self._weight_feedback(toks, exact)
            fb = fb or has_fb
            weight = 100.0 if (mark == "=" and w is None) else (w or 0.0)
            opts.append(self._text(body, fmt, f"options[{len(opts)}]", exact))
            weights.append(weight)
        d["options"] = opts
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        single = any(m == "=" for m, _ in parts)
        if single:
            d["type"] = ItemType.SINGLE_CHOICE.value
            key = [letters[i] for i, w in enumerate(weights) if w >= 99.999 and i < 26]
            if any(0 < w < 99.999 for w in weights):
                self.warn("ignored_on_import", "key", what="partial-credit answers", what_zh="部分得分的选项")
        else:
            d["type"] = ItemType.MULTIPLE_CHOICE.value
            key = [letters[i] for i, w in enumerate(weights) if w > 0 and i < 26]
        if not key:
            self.err("no_right_answer", "key", line=self.answer_line)
            return
        d["key"] = "".join(key)
        if fb:
            self.warn("ignored_on_import", what="feedback", what_zh="反馈")

    def _short(self, d: dict[str, Any], ans: list[Tok], exact: bool) -> None:
        d["type"] = ItemType.FILL_BLANK.value
        answers, fb = [], False
        for mark, toks in self._split(ans, "="):
            w, body, has_fb = self._weight_feedback(toks, exact)
            fb = fb or has_fb
            text = _s(body)
            if w is None or w >= 99.999:
                answers.append(text)
            elif w > 0:
                self.warn("ignored_on_import", "answers", what=f"partial-credit answer {text!r}",
                          what_zh=f"部分得分的答案“{text}”")
        if not answers:
            self.err("no_right_answer", "answers", line=self.answer_line)
            return
        d["answers"] = answers
        d["tolerance"] = None
        d["unit"] = None
        if fb:
            self.warn("ignored_on_import", what="feedback", what_zh="反馈")

    def _numerical(self, d: dict[str, Any], ans: list[Tok]) -> None:
        d["type"] = ItemType.FILL_BLANK.value
        wrong = _find(ans, "~")
        if wrong >= 0:
            ans = ans[:wrong]
        parts = self._split(ans, "=") if _find(ans, "=") >= 0 else [("=", ans)]
        answers, tols = [], []
        for _, toks in parts:
            w, body, _fb = self._weight_feedback(toks, False)
            text = _s(body).strip()
            if w is not None and w < 99.999:
                if w > 0:
                    self.warn("ignored_on_import", "answers", what=f"partial-credit answer {text!r}",
                              what_zh=f"部分得分的答案“{text}”")
                continue
            try:
                if ".." in text:  # min..max: decimal arithmetic keeps 3.141..3.142 as 3.1415 ± 0.0005
                    lo, hi = (Decimal(x.strip()) for x in text.split("..", 1))
                    if not (lo.is_finite() and hi.is_finite() and hi >= lo):
                        raise ValueError(text)
                    answers.append(_dec_text((lo + hi) / 2))
                    tols.append(float((hi - lo) / 2))
                elif ":" in text:
                    a, t = text.split(":", 1)
                    float(a)
                    answers.append(a.strip())
                    tols.append(float(t))
                else:
                    float(text)
                    answers.append(text)
                    tols.append(0.0)
            except (ValueError, ArithmeticError):
                self.err("gift_syntax", "answers", line=self.answer_line,
                         detail=f"{text[:40]!r} is not a number, number:tolerance or min..max",
                         detail_zh=f"“{text[:40]}”不是数值、数值:误差或 最小..最大")
                return
        if not answers:
            self.err("no_right_answer", "answers", line=self.answer_line)
            return
        if len(set(tols)) > 1:
            self.err("tolerance_differs", "tolerance", line=self.answer_line,
                     values=", ".join(fmt_number(t) for t in tols))
            return
        d["answers"] = answers
        d["tolerance"] = tols[0]
        d["unit"] = None

    # metadata ------------------------------------------------------------------------------------
    def _apply_meta(self, d: dict[str, Any]) -> None:
        meta = self.meta
        t = meta.get("type")
        if t is not None:
            try:
                t = ItemType(t).value
            except ValueError:
                self.err("bad_metadata", "type", line=self.meta_line, name="type", value=str(t)[:50])
                return
            same = t == d["type"] or (ItemType(t).is_constructed and ItemType(d["type"]).is_constructed)
            if not same:
                self.err("bad_metadata", "type", line=self.meta_line, name="type", value=t)
                return
            d["type"] = t
        for k in ("occupation", "kp", "source", "id"):
            if k in meta:
                d[k] = meta[k]
        if "grades" in meta:
            g = meta["grades"]
            d["grades"] = g if isinstance(g, list) else parse_grades(g)
        for k in ("points", "difficulty", "discrimination", "version"):
            if k in meta:
                d[k] = meta[k]
        if "status" in meta:
            try:
                d["status"] = Status(meta["status"]).value
            except ValueError:
                self.err("bad_metadata", "status", line=self.meta_line, name="status", value=str(meta["status"]))
        if d["type"] == ItemType.FILL_BLANK.value and "unit" in meta:
            d["unit"] = meta["unit"]
        if ItemType(d["type"]).is_constructed:
            for k in ("reference_answer", "marking_points", "score_step"):
                if k in meta:
                    d[k] = meta[k]
            if "reference_answer" not in d or "marking_points" not in d:
                self.warn("placeholder_reference", "reference_answer")
                d.setdefault("reference_answer", PLACEHOLDER_REFERENCE)
                d.setdefault("marking_points", None)

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
        meta_fields = set(self.meta)
        answer_line = getattr(self, "answer_line", self.line)

        def locate(f: str) -> int | None:
            root = re.split(r"[\[.]", f, 1)[0]
            if root in meta_fields:
                return self.meta_line
            if root in ("options", "key", "answers", "tolerance"):
                return answer_line
            return self.line

        self.col.item(d, file=self.file, line=self.line, name=self.name, locate=locate, failed=self.failed,
                      context=self.ctx)


# ============================================================================================== export

def _as_dict(item: Mapping[str, Any] | Item) -> dict[str, Any]:
    return canonical_item_dict(item_to_dict(item) if isinstance(item, Item) else item)


def _losses(i: int, d: Mapping[str, Any]) -> list[Problem]:
    if d["type"] == ItemType.PRACTICAL_TASK.value:
        return [loss(i, d, "type", _FORMAT, "practical tasks (rubric, veto items, materials); use the bank "
                     "spreadsheet", "操作技能题（评分表、否决项、材料设备），请使用题库电子表格")]
    out = [loss(i, d, f"images[{k}]", _FORMAT, f"image {ref!r} (GIFT files hold no images; use Moodle XML or QTI)",
                f"图片“{ref}”（GIFT 文件不能包含图片，请改用 Moodle XML 或 QTI）") for k, ref in enumerate(d["images"])]
    t = ItemType(d["type"])
    if t.is_constructed:
        out.append(loss(i, d, "marking_points", _FORMAT, "the reference answer and marking points",
                        "参考答案和评分要点", code="carried_as_extension", severity=WARNING,
                        where="a '// examsys:' comment", where_zh="“// examsys:”注释行"))
    if t is ItemType.FILL_BLANK and d["unit"]:
        out.append(loss(i, d, "unit", _FORMAT, "the unit", "单位", code="carried_as_extension", severity=WARNING,
                        where="a '// examsys:' comment", where_zh="“// examsys:”注释行"))
    texts = [("stem", d["stem"]), *_texts(d)]
    for k, text in texts:
        if "\r" in text:
            out.append(loss(i, d, k, _FORMAT, "carriage returns (\\r), written as line breaks",
                            "回车符（\\r），写为换行", severity=WARNING))
    for k, text in _texts(d):
        if text != text.strip():
            out.append(loss(i, d, k, _FORMAT, "whitespace at the start or end of an option or answer",
                            "选项或答案首尾的空白"))
    return out


def _texts(d: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = [(f"options[{k}]", o) for k, o in enumerate(d.get("options") or ())]
    out += [(f"answers[{k}]", a) for k, a in enumerate(d.get("answers") or ())]
    return out


def check_gift_export(items: Sequence[Mapping[str, Any] | Item]) -> list[Problem]:
    """What :func:`write_gift` cannot carry: errors (practical tasks, images, surrounding whitespace of options
    and answers) block the export unless accepted; warnings (marking guides and units kept only in the
    examsys comment) do not."""
    return [p for i, it in enumerate(items) for p in _losses(i, _as_dict(it))]


def _esc(text: str) -> str:
    """GIFT-escape a text: ``~ = # { } : \\`` get a backslash, a line break is ``\\n`` (a carriage return has
    no GIFT form and becomes a line break; :func:`check_gift_export` warns about it)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for c in text:
        if c in "~=#{}:\\":
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        else:
            out.append(c)
    return "".join(out)


def write_gift(items: Sequence[Mapping[str, Any] | Item], *, accept_losses: bool = False,
               category_root: str = "$course$/top") -> str:
    """Write items as GIFT text (one ``$CATEGORY`` per occupation/kp, an ``// examsys:`` comment per
    question). Raises :class:`CannotCarryError` for the blocking losses of :func:`check_gift_export` unless
    ``accept_losses`` (then practical tasks and images are left out)."""
    canon = [_as_dict(it) for it in items]
    losses = [p for i, d in enumerate(canon) for p in _losses(i, d) if p.is_error]
    if losses and not accept_losses:
        raise CannotCarryError(losses)
    out: list[str] = ["// examsys export (GIFT)", ""]
    cat = None
    for n, d in enumerate(canon, start=1):
        t = ItemType(d["type"])
        if t is ItemType.PRACTICAL_TASK:
            continue
        path = f"{category_root}/{d['occupation']}/{d['kp']}"
        if path != cat:
            cat = path
            out += [f"$CATEGORY: {path}", ""]
        meta: dict[str, Any] = {"type": d["type"], "occupation": d["occupation"], "grades": d["grades"],
                                "kp": d["kp"], "points": d["points"], "difficulty": d["difficulty"],
                                "discrimination": d["discrimination"], "source": d["source"],
                                "status": d["status"], "id": d["id"], "version": d["version"]}
        if t is ItemType.FILL_BLANK:
            meta["unit"] = d["unit"]
        if t.is_constructed:
            meta.update(reference_answer=d["reference_answer"], marking_points=d["marking_points"],
                        score_step=d["score_step"])
        meta = {k: v for k, v in meta.items() if v is not None}
        name = d["id"] or f"item {n}"
        lines = [META_PREFIX + " " + json.dumps(meta, ensure_ascii=False, separators=(",", ":")),
                 f"::{_esc(str(name))}::{_esc(d['stem'])}{{"]
        if t.is_choice:
            for k, opt in enumerate(d["options"]):
                right = "ABCDEFGH"[k] in d["key"]
                if t is ItemType.SINGLE_CHOICE:
                    mark = "=" if right else "~"
                else:
                    mark = f"~%{_pct(len(d['key']))}%" if right else "~%-100%"
                lines.append(f"\t{mark}{_esc(opt)}")
            lines.append("}")
        elif t is ItemType.TRUE_FALSE:
            lines[-1] += ("TRUE" if d["key"] else "FALSE") + "}"
        elif t is ItemType.FILL_BLANK and d["tolerance"] is not None:
            tol = fmt_number(d["tolerance"])
            lines[-1] += "#" + " ".join(f"={_esc(a)}:{tol}" for a in d["answers"]) + "}"
        elif t is ItemType.FILL_BLANK:
            lines += [f"\t={_esc(a)}" for a in d["answers"]] + ["}"]
        else:
            lines[-1] += "}"
        out += lines + [""]
    return "\n".join(out)


def _pct(k: int) -> str:
    return {1: "100", 2: "50", 3: "33.33333", 4: "25", 5: "20", 6: "16.66667", 7: "14.28571", 8: "12.5"}[k]


def _dec_text(v: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros: ``Decimal("3.14150")`` → ``"3.1415"``."""
    s = format(v.normalize(), "f")
    return s if s not in ("-0",) else "0"
