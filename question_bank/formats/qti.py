"""IMS QTI 2.1 content packages (.zip with ``imsmanifest.xml``): export and import.

Export (:func:`export_qti_package`) writes one ``assessmentItem`` per item (``items/<identifier>.xml``),
its images (``media/…``) and a manifest whose resources are of type ``imsqti_item_xmlv2p1``. Every item
validates against the QTI 2.1 XSD. Mapping (docs/formats.md has the full table):

============================  =========================================================================
examsys type                   QTI 2.1
============================  =========================================================================
single_choice                  ``choiceInteraction maxChoices=1``, choices ``A``…``H``, cardinality single
multiple_choice                ``choiceInteraction maxChoices=0``, cardinality multiple
true_false                     ``choiceInteraction`` with choices ``true`` (正确) / ``false`` (错误)
fill_blank                     ``textEntryInteraction`` at the stem's first ``____``; answers in the
                               ``mapping``; with a tolerance: baseType float and an ``equal
                               toleranceMode="absolute"`` response rule
short_answer/calculation/essay ``extendedTextInteraction``; reference answer and marking points in a
                               ``rubricBlock view="scorer"``
============================  =========================================================================

Points are the ``MAXSCORE`` outcome (and ``normalMaximum`` of ``SCORE``); the response processing gives
``MAXSCORE`` for a right answer. What QTI has no place for — occupation, grades, knowledge point, difficulty,
discrimination, source, status, id, version, the item type, score step, fill-blank unit and tolerance, the
original image references — is carried in examsys metadata (namespace :data:`EXAMSYS_NS`) inside the
manifest resource's ``<metadata>``. Stem lines are ``<p>`` elements in a ``<div class="examsys-stem">``;
items holding that marker are read back verbatim, so export → import gives the same item dicts.

Import (:func:`read_qti_package`) is all-or-nothing: any problem (unsafe or damaged zip, malformed XML,
DOCTYPE with entities, an unsupported interaction, an image missing from the package, a key not among the
choices, an invalid item) is reported with the file inside the package, the line and the field, and no
item is returned. Items from other systems (no examsys metadata) take occupation, grades, kp, … from
``defaults``.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Mapping, Sequence
from typing import Any

from lxml import etree

from question_bank.item_types.base import fmt_number
from question_bank.items import Item, ItemType, Status, canonical_item_dict, item_to_dict
from question_bank.messages import Problem, make_problem
from question_bank.normalize import nfkc

from ._source import load_source
from .interchange import (PLACEHOLDER_MARKING_POINT, PLACEHOLDER_REFERENCE, CannotCarryError,
                          InterchangeImportResult, ItemCollector, apply_defaults, check_defaults, flow_text,
                          fmt_points, image_extension, localname, loss, mime_of, parse_points_suffix, problem,
                          warn)
from .xml_safety import DEFAULT_ZIP_LIMITS, SafeZip, ZipLimits, parse_xml, resolve_href

__all__ = ["export_qti_package", "check_qti_export", "read_qti_package", "load_qti_schema", "validate_qti_xml",
           "QTI_NS", "EXAMSYS_NS", "DEFAULT_MAX_BYTES", "CannotCarryError", "InterchangeImportResult"]

QTI_NS = "http://www.imsglobal.org/xsd/imsqti_v2p1"
IMSCP_NS = "http://www.imsglobal.org/xsd/imscp_v1p1"
QTIMD_NS = "http://www.imsglobal.org/xsd/imsqti_metadata_v2p1"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
XML_NS = "http://www.w3.org/XML/1998/namespace"
#: Namespace of the examsys metadata in the manifest.
EXAMSYS_NS = "urn:examsys:qti:1"
#: Default size limit of an uploaded package (bytes).
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
_SCHEMA_LOCATION = f"{QTI_NS} http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_v2p1.xsd"
_MATCH_CORRECT = "http://www.imsglobal.org/question/qti_v2p1/rptemplates/match_correct"
_MAP_RESPONSE = "http://www.imsglobal.org/question/qti_v2p1/rptemplates/map_response"
_LETTERS = "ABCDEFGH"
_TF_IDS = ("true", "false")
_TF_TEXT = {True: "正确", False: "错误"}
_ITEM_TYPES = ("imsqti_item_xmlv2p1",)
_FORMAT = "QTI 2.1"

_Q = "{%s}" % QTI_NS
_X = "{%s}" % EXAMSYS_NS
_DOUBLE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


# ============================================================================================== export

def _as_dict(item: Mapping[str, Any] | Item) -> dict[str, Any]:
    return canonical_item_dict(item_to_dict(item) if isinstance(item, Item) else item)


def check_qti_export(items: Sequence[Mapping[str, Any] | Item],
                     media: Mapping[str, bytes] | None = None) -> list[Problem]:
    """What an export of ``items`` to a QTI 2.1 package would lose: practical tasks (QTI has no rubric
    model; use the bank spreadsheet) and images whose bytes are not in ``media``. Each problem is located by
    the item's 1-based position (``row``) and field."""
    media = media or {}
    out: list[Problem] = []
    for i, it in enumerate(items):
        d = _as_dict(it)
        out += _losses(i, d, media)
    return out


def _losses(i: int, d: Mapping[str, Any], media: Mapping[str, bytes]) -> list[Problem]:
    if d["type"] == ItemType.PRACTICAL_TASK.value:
        return [loss(i, d, "type", _FORMAT, "practical tasks (rubric, veto items, materials); use the bank "
                     "spreadsheet", "操作技能题（评分表、否决项、材料设备），请使用题库电子表格")]
    return [loss(i, d, f"images[{k}]", _FORMAT, f"image {ref!r} (its bytes were not given)",
                 f"图片“{ref}”（未提供图片内容）") for k, ref in enumerate(d["images"]) if ref not in media]


def export_qti_package(items: Sequence[Mapping[str, Any] | Item], media: Mapping[str, bytes] | None = None, *,
                       accept_losses: bool = False, identifier: str = "examsys-export") -> bytes:
    """Write ``items`` as a QTI 2.1 content package; return the zip bytes.

    Parameters
    ----------
    items : sequence of item dicts or :class:`~question_bank.items.Item`
        Valid items (as stored in the bank); every type except practical tasks.
    media : mapping image reference → bytes
        The bytes of every image the items refer to (``item["images"]`` holds file names or content
        hashes). Each distinct image is written once under ``media/``.
    accept_losses : bool
        When the items hold content QTI cannot carry (:func:`check_qti_export`: practical tasks, images
        without bytes), a :class:`CannotCarryError` listing every loss is raised unless this is true; then
        those items (or images) are left out.
    identifier : str
        The manifest identifier.
    """
    media = media or {}
    canon = [_as_dict(it) for it in items]
    losses = [p for i, d in enumerate(canon) for p in _losses(i, d, media)]
    if losses and not accept_losses:
        raise CannotCarryError(losses)
    buf = io.BytesIO()
    media_names: dict[str, str] = {}     # ref -> package path
    used_paths: set[str] = set()
    used_ids: set[str] = set()
    resources: list[tuple[str, str, dict[str, Any], list[tuple[str, str]], str]] = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for n, d in enumerate(canon):
            if d["type"] == ItemType.PRACTICAL_TASK.value:
                continue
            ident = _identifier(d, n, used_ids)
            imgs: list[tuple[str, str]] = []   # (ref, package path)
            for ref in d["images"]:
                if ref not in media:
                    continue
                path = media_names.get(ref)
                if path is None:
                    path = _media_path(ref, media[ref], used_paths)
                    media_names[ref] = path
                    _write(zf, path, media[ref])
                imgs.append((ref, path))
            href = f"items/{ident}.xml"
            xml, interaction = _item_xml(d, ident, [posixpath.relpath(p, "items") for _, p in imgs])
            _write(zf, href, xml)
            resources.append((ident, href, d, imgs, interaction))
        _write(zf, "imsmanifest.xml", _manifest(identifier, resources, media_names))
    return buf.getvalue()


_DT = (2020, 1, 1, 0, 0, 0)


def _write(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_DT)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


def _identifier(d: Mapping[str, Any], n: int, used: set[str]) -> str:
    base = f"item-{_UNSAFE_ID.sub('_', str(d['id']))}" if d.get("id") else f"item-n{n + 1:06d}"
    ident, k = base, 1
    while ident in used:
        k += 1
        ident = f"{base}-{k}"
    used.add(ident)
    return ident


_IMG_EXT = re.compile(r"\.(png|jpe?g|gif|webp|svg)$", re.I)
_UNSAFE_NAME = re.compile(r"[^\w.-]", re.U)


def _media_path(ref: str, data: bytes, used: set[str]) -> str:
    base = _UNSAFE_NAME.sub("_", posixpath.basename(ref.replace("\\", "/"))).strip("._") or "image"
    base = base[-120:]
    if not _IMG_EXT.search(base):
        base = f"{base}.{image_extension(data)}"
    stem, ext = posixpath.splitext(base)
    path, k = f"media/{base}", 1
    while path in used:
        k += 1
        path = f"media/{stem}-{k}{ext}"
    used.add(path)
    return path


def _sub(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
    el = etree.SubElement(parent, _Q + tag, attrs)
    if text is not None:
        el.text = text
    return el


def _title(stem: str) -> str:
    first = stem.strip().split("\n", 1)[0].strip()
    return (first[:80] + "…") if len(first) > 80 else (first or "item")


def _item_xml(d: Mapping[str, Any], ident: str, image_hrefs: Sequence[str]) -> tuple[bytes, str]:
    t = ItemType(d["type"])
    points = fmt_number(d["points"])
    root = etree.Element(_Q + "assessmentItem", nsmap={None: QTI_NS, "xsi": XSI_NS})
    root.set(f"{{{XSI_NS}}}schemaLocation", _SCHEMA_LOCATION)
    root.set("identifier", ident)
    root.set("title", _title(d["stem"]))
    root.set("adaptive", "false")
    root.set("timeDependent", "false")
    root.set(f"{{{XML_NS}}}lang", "zh-CN")
    rd = _sub(root, "responseDeclaration", identifier="RESPONSE")
    numeric = False
    if t.is_choice or t is ItemType.TRUE_FALSE:
        rd.set("cardinality", "multiple" if t is ItemType.MULTIPLE_CHOICE else "single")
        rd.set("baseType", "identifier")
        cr = _sub(rd, "correctResponse")
        if t is ItemType.TRUE_FALSE:
            _sub(cr, "value", "true" if d["key"] else "false")
        else:
            for letter in d["key"]:
                _sub(cr, "value", letter)
        interaction = "choiceInteraction"
    elif t is ItemType.FILL_BLANK:
        numeric = d["tolerance"] is not None and all(_DOUBLE.fullmatch(a) for a in d["answers"])
        rd.set("cardinality", "single")
        rd.set("baseType", "float" if numeric else "string")
        cr = _sub(rd, "correctResponse")
        _sub(cr, "value", d["answers"][0])
        mp = _sub(rd, "mapping", defaultValue="0")
        seen: set[str] = set()
        for a in d["answers"]:
            if a in seen:   # a duplicate alternative: the metadata keeps the full list
                continue
            seen.add(a)
            e = _sub(mp, "mapEntry", mapKey=a, mappedValue=points)
            if not numeric:
                e.set("caseSensitive", "false")
        interaction = "textEntryInteraction"
    else:
        rd.set("cardinality", "single")
        rd.set("baseType", "string")
        interaction = "extendedTextInteraction"
    sc = _sub(root, "outcomeDeclaration", identifier="SCORE", cardinality="single", baseType="float",
              normalMaximum=points)
    _sub(_sub(sc, "defaultValue"), "value", "0")
    ms = _sub(root, "outcomeDeclaration", identifier="MAXSCORE", cardinality="single", baseType="float")
    _sub(_sub(ms, "defaultValue"), "value", points)

    body = _sub(root, "itemBody")
    stem_div = _sub(body, "div", **{"class": "examsys-stem"})
    lines = d["stem"].split("\n")
    blank_done = t is not ItemType.FILL_BLANK
    for line in lines:
        p = _sub(stem_div, "p")
        if not blank_done and "____" in line:
            before, after = line.split("____", 1)
            p.text = before or None
            te = _sub(p, "textEntryInteraction", responseIdentifier="RESPONSE", expectedLength="15")
            te.tail = after or None
            blank_done = True
        else:
            p.text = line or None
    if not blank_done:
        p = _sub(stem_div, "p", **{"class": "examsys-blank"})
        _sub(p, "textEntryInteraction", responseIdentifier="RESPONSE", expectedLength="15")
    if image_hrefs:
        p = _sub(stem_div, "p", **{"class": "examsys-images"})
        for href in image_hrefs:
            _sub(p, "img", src=href, alt="")
    if t is ItemType.TRUE_FALSE:
        ci = _sub(body, "choiceInteraction", responseIdentifier="RESPONSE", shuffle="false", maxChoices="1")
        for v in (True, False):
            _sub(ci, "simpleChoice", _TF_TEXT[v], identifier="true" if v else "false")
    elif t.is_choice:
        ci = _sub(body, "choiceInteraction", responseIdentifier="RESPONSE", shuffle="false",
                  maxChoices="1" if t is ItemType.SINGLE_CHOICE else "0")
        for i, opt in enumerate(d["options"]):
            _sub(ci, "simpleChoice", opt, identifier=_LETTERS[i])
    elif t.is_constructed:
        _sub(body, "extendedTextInteraction", responseIdentifier="RESPONSE",
             expectedLines="20" if t is ItemType.ESSAY else "8")
        rb = _sub(body, "rubricBlock", view="scorer")
        _sub(rb, "p", "参考答案 Reference answer")
        ra = _sub(rb, "div", **{"class": "examsys-reference-answer"})
        for line in d["reference_answer"].split("\n"):
            _sub(ra, "p", line or None)
        _sub(rb, "p", "评分要点 Marking points")
        ol = _sub(rb, "ol", **{"class": "examsys-marking-points"})
        for mp in d["marking_points"]:
            li = _sub(ol, "li")
            _sub(li, "span", mp["text"], **{"class": "examsys-mp-text"})
            _sub(li, "span", f"（{fmt_points(mp['points'])}分）", **{"class": "examsys-mp-points"})

    if t is ItemType.FILL_BLANK and numeric:
        _tolerance_processing(root, d)
    elif t is ItemType.FILL_BLANK:
        _sub(root, "responseProcessing", template=_MAP_RESPONSE)
    elif not t.is_constructed:
        rp = _sub(root, "responseProcessing")
        cond = _sub(rp, "responseCondition")
        rif = _sub(cond, "responseIf")
        m = _sub(rif, "match")
        _sub(m, "variable", identifier="RESPONSE")
        _sub(m, "correct", identifier="RESPONSE")
        _sub(_sub(rif, "setOutcomeValue", identifier="SCORE"), "variable", identifier="MAXSCORE")
        rel = _sub(cond, "responseElse")
        _sub(_sub(rel, "setOutcomeValue", identifier="SCORE"), "baseValue", "0", baseType="float")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), interaction


def _tolerance_processing(root: Any, d: Mapping[str, Any]) -> None:
    tol = fmt_number(d["tolerance"])
    rp = _sub(root, "responseProcessing")
    cond = _sub(rp, "responseCondition")
    rif = _sub(cond, "responseIf")
    answers = list(dict.fromkeys(d["answers"]))
    parent = _sub(rif, "or") if len(answers) > 1 else rif
    for a in answers:
        eq = _sub(parent, "equal", toleranceMode="absolute", tolerance=f"{tol} {tol}")
        _sub(eq, "variable", identifier="RESPONSE")
        _sub(eq, "baseValue", a, baseType="float")
    _sub(_sub(rif, "setOutcomeValue", identifier="SCORE"), "variable", identifier="MAXSCORE")
    rel = _sub(cond, "responseElse")
    _sub(_sub(rel, "setOutcomeValue", identifier="SCORE"), "baseValue", "0", baseType="float")


def _manifest(identifier: str, resources: Sequence[tuple[str, str, dict[str, Any], list[tuple[str, str]], str]],
              media_names: Mapping[str, str]) -> bytes:
    cp = "{%s}" % IMSCP_NS
    md = "{%s}" % QTIMD_NS
    root = etree.Element(cp + "manifest", nsmap={None: IMSCP_NS, "imsqti": QTIMD_NS, "examsys": EXAMSYS_NS,
                                                 "xsi": XSI_NS})
    root.set("identifier", _UNSAFE_ID.sub("_", identifier) or "examsys-export")
    root.set(f"{{{XSI_NS}}}schemaLocation",
             f"{IMSCP_NS} http://www.imsglobal.org/xsd/imscp_v1p1.xsd "
             f"{QTIMD_NS} http://www.imsglobal.org/xsd/qti/qtiv2p1/imsqti_metadata_v2p1.xsd")
    meta = etree.SubElement(root, cp + "metadata")
    etree.SubElement(meta, cp + "schema").text = "QTIv2.1 Package"
    etree.SubElement(meta, cp + "schemaversion").text = "1.0.0"
    etree.SubElement(root, cp + "organizations")
    res = etree.SubElement(root, cp + "resources")
    media_ids = {path: f"media-{k + 1}" for k, path in enumerate(sorted(set(media_names.values())))}
    for ident, href, d, imgs, interaction in resources:
        r = etree.SubElement(res, cp + "resource", identifier=ident, type="imsqti_item_xmlv2p1", href=href)
        m = etree.SubElement(r, cp + "metadata")
        q = etree.SubElement(m, md + "qtiMetadata")
        etree.SubElement(q, md + "timeDependent").text = "false"
        etree.SubElement(q, md + "interactionType").text = interaction
        etree.SubElement(q, md + "feedbackType").text = "none"
        etree.SubElement(q, md + "solutionAvailable").text = "true"
        etree.SubElement(q, md + "toolName").text = "examsys"
        m.append(_examsys_meta(d, imgs))
        etree.SubElement(r, cp + "file", href=href)
        for path in dict.fromkeys(p for _, p in imgs):
            etree.SubElement(r, cp + "dependency", identifierref=media_ids[path])
    for path, mid in media_ids.items():
        r = etree.SubElement(res, cp + "resource", identifier=mid, type="webcontent", href=path)
        etree.SubElement(r, cp + "file", href=path)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _examsys_meta(d: Mapping[str, Any], imgs: Sequence[tuple[str, str]]) -> Any:
    e = etree.Element(_X + "item")

    def put(name: str, value: Any) -> None:
        if value is not None:
            etree.SubElement(e, _X + name).text = value if isinstance(value, str) else fmt_number(value)

    put("type", d["type"])
    put("occupation", d["occupation"])
    put("grades", " ".join(str(g) for g in d["grades"]))
    put("kp", d["kp"])
    put("points", d["points"])
    put("difficulty", d["difficulty"])
    put("discrimination", d["discrimination"])
    put("source", d["source"])
    put("status", d["status"])
    put("id", d["id"])
    put("version", d["version"])
    if d["type"] == ItemType.FILL_BLANK.value:
        ans = etree.SubElement(e, _X + "answers")
        for a in d["answers"]:
            etree.SubElement(ans, _X + "answer").text = a
        put("tolerance", d["tolerance"])
        put("unit", d["unit"])
    if ItemType(d["type"]).is_constructed:
        put("scoreStep", d["score_step"])
    for ref, path in imgs:
        etree.SubElement(e, _X + "image", href=path, ref=ref)
    return e


# ============================================================================================== schema

def load_qti_schema(path: str) -> Any:
    """The QTI 2.1 XSD (``imsqti_v2p1.xsd`` with its imports beside it) as an ``lxml.etree.XMLSchema``.
    The schema files are trusted local files (the parser may load the imported schemas from disk only)."""
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def validate_qti_xml(xml: bytes, schema: Any) -> list[str]:
    """Schema errors of one exported item (``[]`` when valid)."""
    doc = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    if schema.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


# ============================================================================================== import

_SUPPORTED = {"choiceInteraction", "textEntryInteraction", "extendedTextInteraction", "inlineChoiceInteraction"}
_TRUE_WORDS = {"对", "正确", "√", "✓", "✔", "是", "true", "t", "yes", "y", "right", "correct"}
_FALSE_WORDS = {"错", "错误", "×", "✗", "✘", "否", "false", "f", "no", "n", "wrong", "incorrect"}
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp")


def read_qti_package(data: Any, *, defaults: Mapping[str, Any] | None = None,
                     max_bytes: int = DEFAULT_MAX_BYTES, taxonomy: Any = None,
                     existing: Mapping[str, Any] | None = None,
                     zip_limits: ZipLimits = DEFAULT_ZIP_LIMITS) -> InterchangeImportResult:
    """Read a QTI 2.1 content package; all-or-nothing.

    Parameters
    ----------
    data : bytes, path or binary file object
        The .zip package.
    defaults : mapping, optional
        Values for items without examsys metadata (items from other systems): ``occupation``, ``grades``,
        ``kp``, ``points`` (when the item declares none), ``difficulty``, ``source``, ``status``, and
        ``constructed_type`` (type of extended-text items: ``short_answer`` (default), ``calculation``,
        ``essay``). See :data:`question_bank.formats.interchange.DEFAULTABLE`.
    max_bytes : int
        Largest accepted package size (default 200 MiB).
    taxonomy, existing
        As for the spreadsheet import: taxonomy checks, near-duplicate warnings against stored items.
    zip_limits : ZipLimits
        Zip-bomb guard: number of files, total unpacked size, compression ratio.

    Returns
    -------
    InterchangeImportResult
        ``items`` and ``media`` (image name → bytes; ``items[i]["images"]`` are keys of it) only when
        there are no problems. Problems carry ``sheet`` = the file inside the package, ``row`` = line,
        ``field`` and ``params["question"]`` = the item identifier.
    """
    dflt = check_defaults(defaults)
    src, probs = load_source(data, max_bytes)
    if src is None:
        return InterchangeImportResult(problems=tuple(probs))
    if not isinstance(src, bytes):
        src = src.read_bytes()
    zf, probs = SafeZip.open(src, limits=zip_limits)
    if zf is None:
        return InterchangeImportResult(problems=tuple(probs))
    try:
        return _read_package(zf, dflt, taxonomy, existing)
    finally:
        zf.close()


def _read_package(zf: SafeZip, dflt: dict[str, Any], taxonomy: Any,
                  existing: Mapping[str, Any] | None) -> InterchangeImportResult:
    col = ItemCollector(taxonomy)
    manifest_name = "imsmanifest.xml"
    if manifest_name not in zf:
        cands = [n for n in zf.names if posixpath.basename(n) == manifest_name]
        if len(cands) == 1:
            manifest_name = cands[0]
        else:
            return InterchangeImportResult(problems=(problem("qti_no_manifest"),))
    raw, probs = zf.read(manifest_name)
    if raw is None:
        return InterchangeImportResult(problems=tuple(probs))
    mroot, probs = parse_xml(raw, file=manifest_name)
    if mroot is None:
        return InterchangeImportResult(problems=tuple(probs))
    if localname(mroot) != "manifest":
        return InterchangeImportResult(problems=(problem("xml_wrong_root", file=manifest_name,
                                                         line=mroot.sourceline, expected="manifest",
                                                         value=localname(mroot) or "?"),))
    base = posixpath.dirname(manifest_name)
    media: dict[str, bytes] = {}
    ignored_tests = 0
    for res in mroot.iter("{*}resource"):
        rtype = (res.get("type") or "").strip()
        if rtype.startswith("imsqti_test_xmlv2p") or rtype.startswith("imsqti_assessment"):
            ignored_tests += 1
            continue
        if not rtype.startswith("imsqti_item_xmlv2p"):
            continue
        href = res.get("href")
        if href is None:
            f = res.find("{*}file")
            href = f.get("href") if f is not None else None
        if not href:
            col.add(problem("qti_bad_href", file=manifest_name, line=res.sourceline, value=""))
            continue
        path = resolve_href(base + "/x" if base else "x", href)
        if path is None:
            col.add(problem("qti_bad_href", file=manifest_name, line=res.sourceline, value=href[:200]))
            continue
        if path not in zf:
            col.add(problem("qti_missing_file", file=manifest_name, line=res.sourceline, value=path))
            continue
        if rtype not in _ITEM_TYPES:
            col.add(problem("qti_unsupported_version", file=path, line=None, value=rtype))
            continue
        meta = res.find(f"{{*}}metadata/{_X}item")
        _ItemReader(zf, path, res.get("identifier") or path, meta, manifest_name, dflt, col, media).read()
    if ignored_tests:
        col.add(warn("ignored_on_import", file=manifest_name, what=f"{ignored_tests} test/section structure(s)",
                     what_zh=f"{ignored_tests} 个试卷/分区结构"))
    if not col.problems and not col.batch.parsed:
        return InterchangeImportResult(problems=(make_problem("file", "no_items"),), warnings=tuple(col.warnings))
    res = col.finish(existing=existing, media=media)
    if res.ok:
        used = {ref for it in res.items for ref in it["images"]}
        res = InterchangeImportResult(items=res.items, warnings=res.warnings, locations=res.locations,
                                      media={k: v for k, v in media.items() if k in used}, names=res.names)
    return res


def _is_qti(el: Any, name: str) -> bool:
    return el.tag == _Q + name


class _ItemReader:
    """Reads one assessmentItem file into an item dict (or problems)."""

    def __init__(self, zf: SafeZip, path: str, ident: str, meta: Any, manifest: str, dflt: Mapping[str, Any],
                 col: ItemCollector, media: dict[str, bytes]):
        self.zf, self.path, self.ident, self.meta, self.manifest = zf, path, ident, meta, manifest
        self.dflt, self.col, self.media = dflt, col, media
        self.ctx = {"question": ident}
        self.errors = 0
        self.lines: dict[str, int] = {}
        self.meta_lines: dict[str, int] = {}
        self.images: list[str] = []
        self.failed: set[str] = set()

    # problems -------------------------------------------------------------------------------
    def err(self, code: str, field: str = "file", line: int | None = None, **params: Any) -> None:
        self.errors += 1
        self.col.add(problem(code, field, file=self.path, line=line, **{**params, **self.ctx}))
        if field != "file":
            self.failed.add(field)

    def warn(self, code: str, field: str = "", line: int | None = None, **params: Any) -> None:
        self.col.add(warn(code, field, file=self.path, line=line, **{**params, **self.ctx}))

    # main -------------------------------------------------------------------------------------
    def read(self) -> None:
        raw, probs = self.zf.read(self.path)
        if raw is None:
            for p in probs:
                self.col.add(p)
            return
        root, probs = parse_xml(raw, file=self.path)
        if root is None:
            for p in probs:
                self.col.add(p)
            return
        if localname(root) != "assessmentItem":
            self.err("qti_not_item", value=localname(root) or "?", line=root.sourceline)
            return
        ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
        if ns != QTI_NS:
            self.err("qti_unsupported_version", value=ns or "(none)", line=root.sourceline)
            return
        self.root = root
        self.ctx = {"question": root.get("identifier") or self.ident}
        body = root.find(_Q + "itemBody")
        if body is None:
            self.err("qti_no_interaction", line=root.sourceline)
            return
        for name in ("templateDeclaration", "templateProcessing"):
            el = root.find(_Q + name)
            if el is not None:
                self.err("qti_unsupported_content", line=el.sourceline, value=name,
                         reason="item templates (variables) are not supported", reason_zh="不支持模板变量试题")
        if root.find(_Q + "modalFeedback") is not None:
            self.warn("ignored_on_import", line=root.find(_Q + "modalFeedback").sourceline,
                      what="modal feedback", what_zh="反馈（modalFeedback）")
        interactions = [e for e in body.iter() if isinstance(e.tag, str) and e.tag.endswith("Interaction")]
        if not interactions:
            self.err("qti_no_interaction", line=body.sourceline)
            return
        unsupported = [e for e in interactions if localname(e) not in _SUPPORTED]
        for e in unsupported:
            self.err("qti_unsupported_interaction", line=e.sourceline, interaction=localname(e))
        if unsupported:
            return
        if len(interactions) > 1:
            self.err("qti_multiple_interactions", line=interactions[1].sourceline, count=len(interactions),
                     interactions=", ".join(localname(e) for e in interactions))
            return
        self.inter = interactions[0]
        self.exact = body.find(_Q + "div[@class='examsys-stem']") is not None
        meta = self._metadata()
        d = self._content(body, meta)
        if d is None:
            return
        if self.errors:
            return
        d["images"] = self._image_refs(meta)
        self._finish(d, meta)

    # metadata ---------------------------------------------------------------------------------
    def _metadata(self) -> dict[str, Any] | None:
        m = self.meta
        if m is None:
            return None
        out: dict[str, Any] = {}
        for child in m:
            name = localname(child)
            if not name or child.tag.rsplit("}", 1)[0][1:] != EXAMSYS_NS:
                continue
            self.meta_lines[name] = child.sourceline
            if name == "image":
                out.setdefault("images", []).append((child.get("href") or "", child.get("ref") or ""))
            elif name == "answers":
                out["answers"] = [a.text or "" for a in child if localname(a) == "answer"]
            else:
                out[name] = child.text or ""
        parsed: dict[str, Any] = {"images": out.get("images", [])}
        for name, value in out.items():
            if name == "images":
                continue
            try:
                parsed[name] = self._meta_value(name, value)
            except (ValueError, TypeError):
                field = {"scoreStep": "score_step"}.get(name, name)
                self.col.add(problem("bad_metadata", field, file=self.manifest, line=self.meta_lines.get(name),
                                     name=name, value=str(value)[:100], **self.ctx))
                self.errors += 1
                self.failed.add(field)
        return parsed

    @staticmethod
    def _meta_value(name: str, value: Any) -> Any:
        if name in ("points", "difficulty", "discrimination", "tolerance", "scoreStep"):
            return float(nfkc(value).strip())
        if name == "version":
            return int(value.strip())
        if name == "grades":
            return [int(g) for g in value.split()]
        if name == "type":
            return ItemType(value.strip()).value
        if name == "status":
            return Status(value.strip()).value
        return value

    # content ----------------------------------------------------------------------------------
    def _decl(self) -> Any:
        rid = self.inter.get("responseIdentifier")
        for rd in self.root.findall(_Q + "responseDeclaration"):
            if rd.get("identifier") == rid:
                return rd
        return None

    def _content(self, body: Any, meta: dict[str, Any] | None) -> dict[str, Any] | None:
        name = localname(self.inter)
        rd = self._decl()
        if rd is None:
            self.err("qti_bad_response", line=self.inter.sourceline, value=str(self.inter.get("responseIdentifier")),
                     interaction=name, reason="no responseDeclaration with that identifier",
                     reason_zh="找不到对应的 responseDeclaration")
            return None
        self.rd = rd
        stem = self._stem(body)
        d: dict[str, Any] = {"stem": stem}
        self.lines["stem"] = body.sourceline
        mtype = (meta or {}).get("type")
        if name == "choiceInteraction":
            self._choice(d, rd, mtype)
        elif name == "inlineChoiceInteraction":
            self._choice(d, rd, mtype, inline=True)
        elif name == "textEntryInteraction":
            d["type"] = ItemType.FILL_BLANK.value
            self._text_entry(d, rd, meta)
        else:
            ct = mtype or self.dflt.get("constructed_type") or ItemType.SHORT_ANSWER.value
            if not ItemType(ct).is_constructed:
                self.err("bad_metadata", "type", line=self.meta_lines.get("type"), name="type", value=ct)
                return None
            d["type"] = ct
            self._extended(d, body, rd, meta)
        if mtype and mtype != d["type"]:
            self.err("bad_metadata", "type", line=self.meta_lines.get("type"), name="type", value=mtype)
        return d

    def _choice(self, d: dict[str, Any], rd: Any, mtype: str | None, inline: bool = False) -> None:
        tag = "inlineChoice" if inline else "simpleChoice"
        choices = [c for c in self.inter if _is_qti(c, tag)]
        ids = [c.get("identifier") or "" for c in choices]
        texts = []
        for i, c in enumerate(choices):
            self.lines[f"options[{i}]"] = c.sourceline
            texts.append(self._choice_text(c))
        multiple = rd.get("cardinality") == "multiple"
        if rd.get("cardinality") not in ("single", "multiple"):
            self.err("qti_bad_response", "key", line=rd.sourceline, value=rd.get("identifier") or "",
                     interaction=localname(self.inter), reason=f"cardinality {rd.get('cardinality')!r}",
                     reason_zh=f"cardinality 为 {rd.get('cardinality')}")
            return
        values, vline = self._correct_values(rd)
        self.lines["key"] = vline or rd.sourceline
        self._partial_credit(rd)
        is_tf = (not multiple and len(choices) == 2 and mtype in (None, ItemType.TRUE_FALSE.value)
                 and self._tf_map(ids, texts) is not None)
        if mtype == ItemType.TRUE_FALSE.value and not is_tf:
            self.err("bad_metadata", "type", line=self.meta_lines.get("type"), name="type", value=mtype)
            return
        if is_tf:
            truth = self._tf_map(ids, texts)
            d["type"] = ItemType.TRUE_FALSE.value
            if len(values) != 1 or values[0] not in ids:
                self._bad_key(values, ids)
                return
            d["key"] = truth[ids.index(values[0])]
            return
        d["type"] = (ItemType.MULTIPLE_CHOICE if multiple else ItemType.SINGLE_CHOICE).value
        d["options"] = texts
        if not multiple and self.inter.get("maxChoices", "1") not in ("1",) and not inline:
            self.err("qti_bad_response", "key", line=self.inter.sourceline, value=rd.get("identifier") or "",
                     interaction=localname(self.inter), reason="single cardinality but maxChoices != 1",
                     reason_zh="单选作答但 maxChoices 不为 1")
            return
        letters = []
        for v in values:
            if v not in ids:
                self._bad_key(values, ids)
                return
            k = ids.index(v)
            letters.append(_LETTERS[k] if k < len(_LETTERS) else "?")
        if not letters:
            self.err("required", "key", line=rd.sourceline)
            return
        d["key"] = "".join(sorted(letters))

    def _bad_key(self, values: Sequence[str], ids: Sequence[str]) -> None:
        self.err("key_not_in_options", "key", line=self.lines.get("key"), value=" ".join(values),
                 count=len(ids), labels=", ".join(ids))

    @staticmethod
    def _tf_map(ids: Sequence[str], texts: Sequence[str]) -> list[bool] | None:
        def truth(ident: str, text: str) -> bool | None:
            for s in (ident, text):
                s = nfkc(s).strip().casefold()
                if s in _TRUE_WORDS:
                    return True
                if s in _FALSE_WORDS:
                    return False
            return None
        vals = [truth(i, t) for i, t in zip(ids, texts)]
        if None in vals or vals[0] == vals[1]:
            return None
        return vals  # type: ignore[return-value]

    def _choice_text(self, c: Any) -> str:
        if self.exact:
            return "".join(c.itertext())

        def handler(e: Any, name: str) -> str | None:
            if name in ("img", "object", "math"):
                self.err("qti_unsupported_content", "options", line=e.sourceline, value=name,
                         reason="images and formulas in choices are not supported", reason_zh="选项中不能有图片或公式")
                return ""
            if name in ("feedbackInline", "feedbackBlock"):
                return ""
            return None
        return flow_text(c, handler)

    def _correct_values(self, rd: Any) -> tuple[list[str], int | None]:
        cr = rd.find(_Q + "correctResponse")
        if cr is not None:
            vals = [(v.text or "") for v in cr.findall(_Q + "value")]
            if vals:
                return vals, cr.sourceline
        mp = rd.find(_Q + "mapping")
        if mp is not None:
            ents = [(e.get("mapKey") or "", float(e.get("mappedValue") or 0)) for e in mp.findall(_Q + "mapEntry")]
            pos = [k for k, v in ents if v > 0]
            if pos:
                return pos, mp.sourceline
        return [], None

    def _partial_credit(self, rd: Any) -> None:
        mp = rd.find(_Q + "mapping")
        if mp is None:
            return
        vals = {e.get("mappedValue") for e in mp.findall(_Q + "mapEntry")}
        if len(vals) > 1 or (mp.get("defaultValue") not in (None, "0", "0.0")):
            self.warn("ignored_on_import", "key", line=mp.sourceline,
                      what="the scoring map (partial credit, penalties): examsys marks by the key and the paper's rule",
                      what_zh="计分映射（部分得分、扣分）：examsys 按答案和试卷规则计分")

    def _text_entry(self, d: dict[str, Any], rd: Any, meta: dict[str, Any] | None) -> None:
        mp = rd.find(_Q + "mapping")
        answers: list[str] = []
        if mp is not None:
            ents = [(e, float(e.get("mappedValue") or 0)) for e in mp.findall(_Q + "mapEntry")]
            if ents:
                best = max(v for _, v in ents)
                answers = [e.get("mapKey") or "" for e, v in ents if v == best and v > 0]
                partial = [e.get("mapKey") or "" for e, v in ents if 0 < v < best]
                if partial:
                    self.warn("ignored_on_import", "answers", line=mp.sourceline,
                              what=f"partial-credit answers {partial}", what_zh=f"部分得分的答案 {partial}")
                self.lines["answers"] = mp.sourceline
        if not answers:
            answers, line = self._correct_values(rd)
            self.lines["answers"] = line or rd.sourceline
        if meta and "answers" in meta and set(meta["answers"]) == set(answers):
            answers = meta["answers"]  # keeps duplicates and order exactly
        d["answers"] = answers
        tol = None
        rp = self.root.find(_Q + "responseProcessing")
        if rp is not None:
            for eq in rp.iter(_Q + "equal"):
                if eq.get("toleranceMode") == "absolute" and eq.get("tolerance"):
                    try:
                        tol = float(eq.get("tolerance").split()[0])
                    except ValueError:
                        pass
                    break
                if eq.get("toleranceMode") == "relative":
                    self.warn("ignored_on_import", "tolerance", line=eq.sourceline, what="a relative tolerance",
                              what_zh="相对误差")
        if meta:
            tol = meta.get("tolerance", tol)
            d["unit"] = meta.get("unit")
        d["tolerance"] = tol
        if tol is not None:
            self.lines["tolerance"] = self.lines["answers"]

    def _extended(self, d: dict[str, Any], body: Any, rd: Any, meta: dict[str, Any] | None) -> None:
        rb = None
        for r in body.iter(_Q + "rubricBlock"):
            if set((r.get("view") or "").split()) & {"scorer", "author", "tutor"}:
                rb = r
                break
        if rb is not None and self.exact:
            ra = rb.find(_Q + "div[@class='examsys-reference-answer']")
            ol = rb.find(_Q + "ol[@class='examsys-marking-points']")
            if ra is not None and ol is not None:
                d["reference_answer"] = "\n".join("".join(p.itertext()) for p in ra.findall(_Q + "p"))
                mps = []
                for i, li in enumerate(ol.findall(_Q + "li")):
                    self.lines[f"marking_points[{i}]"] = li.sourceline
                    text_el = li.find(_Q + "span[@class='examsys-mp-text']")
                    pts_el = li.find(_Q + "span[@class='examsys-mp-points']")
                    parsed = parse_points_suffix("x" + "".join(pts_el.itertext())) if pts_el is not None else None
                    if text_el is None or parsed is None:
                        self.err("bad_metadata", f"marking_points[{i}]", line=li.sourceline, name="marking point",
                                 value="".join(li.itertext())[:100])
                        continue
                    mps.append({"text": "".join(text_el.itertext()), "points": parsed[1]})
                d["marking_points"] = mps
                self.lines["reference_answer"] = ra.sourceline
                self.lines["marking_points"] = ol.sourceline
                if meta and "scoreStep" in meta:
                    d["score_step"] = meta["scoreStep"]
                return
        lines: list[str] = []
        if rb is not None:
            lines = flow_text(rb).split("\n") if flow_text(rb) else []
            self.lines["reference_answer"] = rb.sourceline
        if not lines:
            vals, vline = self._correct_values(rd)
            if vals:
                lines = "\n".join(vals).split("\n")
                self.lines["reference_answer"] = vline or rd.sourceline
        mps = []
        ref_lines = []
        for ln in lines:
            parsed = parse_points_suffix(ln)
            if parsed is not None and parsed[0].strip():
                mps.append({"text": parsed[0].strip().lstrip("0123456789.、．） )").strip() or parsed[0].strip(),
                            "points": parsed[1]})
            else:
                ref_lines.append(ln)
        ref = "\n".join(x for x in ref_lines if x.strip())
        if not ref or not mps:
            self.warn("placeholder_reference", "reference_answer", line=self.lines.get("reference_answer")
                      or self.inter.sourceline)
        d["reference_answer"] = ref or PLACEHOLDER_REFERENCE
        d["marking_points"] = mps or None  # filled with the item's points in _finish
        if meta and "scoreStep" in meta:
            d["score_step"] = meta["scoreStep"]

    # stem and images --------------------------------------------------------------------------
    def _stem(self, body: Any) -> str:
        if self.exact:
            return self._stem_exact(body)
        inter = self.inter

        def handler(e: Any, name: str) -> str | None:
            ns_ok = e.tag.startswith(_Q)
            if e is inter:
                if name in ("textEntryInteraction", "inlineChoiceInteraction"):
                    return "____"
                pr = e.find(_Q + "prompt")
                return ("\n" + flow_text(pr) + "\n") if pr is not None else ""
            if name == "rubricBlock":
                return None if "candidate" in (e.get("view") or "").split() else ""
            if name in ("feedbackBlock", "feedbackInline"):
                self.warn("ignored_on_import", line=e.sourceline, what="feedback", what_zh="反馈")
                return ""
            if name == "img" and ns_ok:
                self._image(e.get("src") or "", e.sourceline)
                return ""
            if name == "object" and ns_ok:
                mime = (e.get("type") or "").lower()
                if mime in _IMAGE_TYPES or (not mime and _looks_image(e.get("data") or "")):
                    self._image(e.get("data") or "", e.sourceline)
                else:
                    self.err("unsupported_media", "images", line=e.sourceline, value=(e.get("data") or "")[:200],
                             mime=mime or "?")
                return ""
            if name == "math" or name in ("printedVariable", "templateBlock", "templateInline", "include"):
                self.err("qti_unsupported_content", "stem", line=e.sourceline, value=name,
                         reason="formulas (MathML), template variables and XInclude are not supported",
                         reason_zh="不支持公式（MathML）、模板变量和 XInclude")
                return ""
            return None
        return flow_text(body, handler)

    def _stem_exact(self, body: Any) -> str:
        div = body.find(_Q + "div[@class='examsys-stem']")
        lines = []
        for p in div:
            if not _is_qti(p, "p"):
                continue
            cls = p.get("class")
            if cls == "examsys-images":
                for img in p.findall(_Q + "img"):
                    self._image(img.get("src") or "", img.sourceline)
                continue
            if cls == "examsys-blank":
                continue
            parts = [p.text or ""]
            for c in p:
                parts.append("____" if c is self.inter else "".join(c.itertext()))
                parts.append(c.tail or "")
            lines.append("".join(parts))
        return "\n".join(lines)

    def _image(self, src: str, line: int | None) -> None:
        k = len(self.images)
        self.lines[f"images[{k}]"] = line or 0
        if not src:
            self.err("missing_media", f"images[{k}]", line=line, value="")
            return
        path = resolve_href(self.path, src)
        if path is None:
            self.err("external_media", f"images[{k}]", line=line, value=src[:200])
            return
        if path not in self.zf:
            self.err("missing_media", f"images[{k}]", line=line, value=path)
            return
        self.images.append(path)

    def _image_refs(self, meta: dict[str, Any] | None) -> list[str]:
        by_href = {h: r for h, r in (meta or {}).get("images", []) if h and r}
        refs = []
        for path in self.images:
            ref = by_href.get(path, path)
            if ref not in self.media:
                data, probs = self.zf.read(path)
                if data is None:
                    for p in probs:
                        self.col.add(p)
                    self.errors += 1
                    continue
                self.media[ref] = data
            refs.append(ref)
        return refs

    # finishing --------------------------------------------------------------------------------
    def _finish(self, d: dict[str, Any], meta: dict[str, Any] | None) -> None:
        if meta:
            for name in ("occupation", "grades", "kp", "points", "difficulty", "discrimination", "source",
                         "status", "id", "version"):
                if name in meta:
                    d[name] = meta[name]
            for name in ("source", "status"):
                d.setdefault(name, "" if name == "source" else "draft")
        if d.get("points") is None:
            d["points"] = self._declared_points()
        apply_defaults(d, self.dflt)
        if d.get("points") is None:
            d["points"] = 1.0  # what the standard match_correct / map_response templates score
        if d.get("marking_points", 0) is None:
            pts = d.get("points")
            d["marking_points"] = [{"text": PLACEHOLDER_MARKING_POINT, "points": pts}] if isinstance(
                pts, (int, float)) else []
        d.setdefault("status", "draft")
        d.setdefault("source", "")
        d = {k: v for k, v in d.items() if v is not None or k in ("difficulty", "discrimination", "id",
                                                                   "version", "tolerance", "unit")}
        meta_fields = set(self.meta_lines)
        lines = self.lines  # the closure must not keep the element tree alive

        def locate(field: str) -> int | None:
            root = re.split(r"[\[.]", field, 1)[0]
            if root in meta_fields and root not in ("answers",):
                return None  # in the manifest; reported at the item
            return lines.get(field) or lines.get(root)

        self.col.item(d, file=self.path, line=self.root.sourceline, name=self.ctx["question"], locate=locate,
                      failed=self.failed, context=self.ctx)

    def _declared_points(self) -> float | None:
        for od in self.root.findall(_Q + "outcomeDeclaration"):
            if od.get("identifier") == "MAXSCORE":
                v = od.find(f"{_Q}defaultValue/{_Q}value")
                if v is not None and v.text:
                    return _float(v.text)
        for od in self.root.findall(_Q + "outcomeDeclaration"):
            if od.get("identifier") == "SCORE" and od.get("normalMaximum"):
                return _float(od.get("normalMaximum"))
        mp = self.rd.find(_Q + "mapping") if getattr(self, "rd", None) is not None else None
        if mp is not None:
            if mp.get("upperBound"):
                return _float(mp.get("upperBound"))
            vals = [_float(e.get("mappedValue")) for e in mp.findall(_Q + "mapEntry")]
            vals = [v for v in vals if v is not None and v > 0]
            if vals:
                return max(vals) if localname(self.inter) != "choiceInteraction" else sum(vals)
        return None


def _float(s: Any) -> float | None:
    try:
        return float(str(s).strip())
    except (TypeError, ValueError):
        return None


def _looks_image(data: str) -> bool:
    return bool(re.search(r"\.(png|jpe?g|gif|webp)$", data.strip(), re.I))


# re-exported for callers that only import this module
mime_of = mime_of
