"""QTI 2.1 packages: export (XSD-valid), exact round trips, the shared real samples, foreign items, and every
refusal (unsupported interactions, missing media, malformed XML, entity attacks, unsafe zips)."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from question_bank.formats.interchange import CannotCarryError, InterchangeImportResult
from question_bank.formats.qti import (check_qti_export, export_qti_package, load_qti_schema, read_qti_package,
                                       validate_qti_xml)
from question_bank.formats.xml_safety import ZipLimits, check_prolog
from question_bank.item_types.examples import example_item
from question_bank.items import ItemType, canonical_item_dict

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "qti"
SCHEMA = SHARED / "schema" / "qtiv2p1" / "imsqti_v2p1.xsd"
SAMPLES = SHARED / "samples"
DATA = Path(__file__).parent / "data"
PNG = (DATA / "qti_foreign" / "images" / "shaft.png").read_bytes()
DEFAULTS = {"occupation": "6-18-01-01", "grades": [4], "kp": "B-C-003"}

needs_shared = pytest.mark.skipif(not SCHEMA.exists(), reason="../shared/qti (schema and samples) not present")


@pytest.fixture(scope="module")
def schema():
    if not SCHEMA.exists():
        pytest.skip("QTI 2.1 schema not present")
    return load_qti_schema(SCHEMA)


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _zip(files: dict[str, bytes | str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _manifest(*hrefs: str) -> str:
    res = "".join(f'<resource identifier="R{i}" type="imsqti_item_xmlv2p1" href="{h}"><file href="{h}"/></resource>'
                  for i, h in enumerate(hrefs))
    return ('<?xml version="1.0" encoding="UTF-8"?><manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" '
            f'identifier="M"><organizations/><resources>{res}</resources></manifest>')


def _bank() -> list[dict]:
    """Every supported type, with the awkward cases: images, whitespace, XML-special characters, ids."""
    items = [example_item(t) for t in ItemType if t is not ItemType.PRACTICAL_TASK]
    items[0].update(images=["f3a1c2", "轴段 图.png"], stem="  读图：<零件> & “尺寸”  \n\n第三行\r\n末尾 ",
                    id="Q-001", version=3, difficulty=0.35, discrimination=-0.12, status="approved",
                    source="国家题库 2019, 第2版")
    items.append(example_item("multiple_choice", options=[f"选项{c}" for c in "ABCDEFGH"], key="ACEH",
                              grades=[5, 4, 3], points=4.5))
    items.append(example_item("fill_blank", answers=["a|b", "φ20±0.1", "a|b"], tolerance=None, unit=None,
                              stem="____ 是首个空"))
    items.append(example_item("fill_blank", stem="没有空位标记的填空题", answers=["12.50", "12.5"], tolerance=0.0,
                              unit=None))
    items.append(example_item("fill_blank", stem="全角数值 ____", answers=["１２．５"], tolerance=0.1, unit="ｍｍ"))
    items.append(example_item("true_false", key=False, stem="判断 ____ 不是空"))
    items.append(example_item("essay", reference_answer="第一段\n\n  缩进的第二段 ", score_step=2.5, points=5.0,
                              marking_points=[{"text": "要点（含括号 (1)）", "points": 2.5},
                                              {"text": "多行\n要点 ", "points": 2.5}]))
    return items


MEDIA = {"f3a1c2": PNG, "轴段 图.png": PNG}


# ------------------------------------------------------------------------------------------- export

def test_round_trip_is_exact_for_every_supported_type():
    items = _bank()
    data = export_qti_package(items, MEDIA)
    res = read_qti_package(data)
    assert isinstance(res, InterchangeImportResult)
    assert res.ok, [p.message_en for p in res.problems]
    assert list(res.items) == [canonical_item_dict(d) for d in items]
    assert res.media == MEDIA
    assert [loc[0] for loc in res.locations][0].startswith("items/")
    assert {w.code for w in res.warnings} <= {"duplicate_answer", "near_duplicate"}


def test_every_exported_item_validates_against_the_xsd(schema):
    data = export_qti_package(_bank(), MEDIA)
    members = _members(data)
    items = [n for n in members if n.startswith("items/")]
    assert len(items) == len(_bank())
    for name in items:
        assert validate_qti_xml(members[name], schema) == [], name


def test_package_layout_and_manifest():
    members = _members(export_qti_package(_bank(), MEDIA))
    assert "imsmanifest.xml" in members
    manifest = members["imsmanifest.xml"].decode()
    assert 'type="imsqti_item_xmlv2p1"' in manifest
    assert "urn:examsys:qti:1" in manifest and "<examsys:kp>B-C-003</examsys:kp>" in manifest
    media = sorted(n for n in members if n.startswith("media/"))
    assert media == ["media/f3a1c2.png", "media/轴段_图.png"]
    item = members["items/item-Q-001.xml"].decode()
    assert 'src="../media/f3a1c2.png"' in item and "choiceInteraction" in item


def test_export_is_deterministic():
    assert export_qti_package(_bank(), MEDIA) == export_qti_package(_bank(), MEDIA)


def test_practical_tasks_and_missing_image_bytes_cannot_be_carried():
    items = [example_item("single_choice", images=["nope"]), example_item("practical_task")]
    losses = check_qti_export(items, {})
    assert [(p.row, p.field, p.code) for p in losses] == [(1, "images[0]", "cannot_carry"), (2, "type", "cannot_carry")]
    assert "practical" in losses[1].message_en and "操作技能" in losses[1].message_zh
    with pytest.raises(CannotCarryError) as exc:
        export_qti_package(items, {})
    assert len(exc.value.problems) == 2
    data = export_qti_package(items, {}, accept_losses=True)
    res = read_qti_package(data)
    assert res.ok and len(res.items) == 1 and res.items[0]["images"] == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stem=st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff") |
                    st.sampled_from("\n\r\t "), min_size=1, max_size=40).filter(lambda s: s.strip()),
       option=st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
                      min_size=1, max_size=20).filter(lambda s: s.strip()))
def test_round_trip_property(stem, option):
    item = example_item("single_choice", stem=stem, options=[option, option + "x", "甲", "乙"])
    res = read_qti_package(export_qti_package([item]))
    assert res.ok, [p.message_en for p in res.problems]
    assert res.items[0] == canonical_item_dict(item)


# ---------------------------------------------------------------------------------- shared samples

def _sample_package(names, images=("images/sign.png", "images/postcard.png", "images/ukair.png")):
    files: dict[str, bytes | str] = {"imsmanifest.xml": _manifest(*names)}
    for n in names:
        files[n] = (SAMPLES / n).read_bytes()
    for im in images:
        files[im] = PNG
    return _zip(files)


SUPPORTED_SAMPLES = ["choice.xml", "choice_multiple.xml", "text_entry.xml", "extended_text.xml", "inline_choice.xml"]


@needs_shared
def test_shared_samples_are_imported():
    res = read_qti_package(_sample_package(SUPPORTED_SAMPLES), defaults=DEFAULTS)
    assert res.ok, [p.message_en for p in res.problems]
    choice, multiple, text_entry, extended, inline = res.items
    assert choice["type"] == "single_choice" and choice["key"] == "A" and len(choice["options"]) == 6
    assert choice["stem"] == "Look at the text in the picture.\nWhat does it say?"
    assert choice["images"] == ["images/sign.png"] and res.media["images/sign.png"] == PNG
    assert multiple["type"] == "multiple_choice" and multiple["key"] == "AD" and multiple["points"] == 2.0
    assert text_entry["type"] == "fill_blank" and text_entry["answers"] == ["York"]
    assert "sun of ____;" in text_entry["stem"]
    assert extended["type"] == "short_answer" and extended["images"] == ["images/postcard.png"]
    assert inline["type"] == "single_choice" and inline["options"] == ["Gloucester", "Lancaster", "York"]
    assert inline["key"] == "C" and "sun of ____;" in inline["stem"]
    assert all(it["occupation"] == "6-18-01-01" and it["kp"] == "B-C-003" for it in res.items)
    codes = {(w.sheet, w.code) for w in res.warnings}
    assert ("extended_text.xml", "placeholder_reference") in codes  # no reference answer in the sample
    assert ("text_entry.xml", "ignored_on_import") in codes        # 'york' at half credit
    assert res.names == ("choice", "choiceMultiple", "textEntry", "extendedText", "inlineChoice")


@needs_shared
@pytest.mark.parametrize("name,interaction", [("order.xml", "orderInteraction"), ("hotspot.xml", "hotspotInteraction"),
                                              ("gap_match.xml", "gapMatchInteraction"),
                                              ("media.xml", "mediaInteraction")])
def test_unsupported_shared_samples_are_refused_naming_file_and_interaction(name, interaction):
    res = read_qti_package(_sample_package(SUPPORTED_SAMPLES + [name]), defaults=DEFAULTS)
    assert not res.ok and res.items == () and res.media == {}
    [p] = res.problems
    assert p.code == "qti_unsupported_interaction" and p.sheet == name and p.row
    assert name in p.message_en and interaction in p.message_en
    assert name in p.message_zh and interaction in p.message_zh


@needs_shared
def test_shared_samples_without_defaults_report_the_missing_metadata():
    res = read_qti_package(_sample_package(["choice.xml"]))
    assert {(p.sheet, p.field, p.code) for p in res.problems} == {
        ("choice.xml", "occupation", "required"), ("choice.xml", "grades", "required"),
        ("choice.xml", "kp", "required")}


@needs_shared
def test_missing_image_is_a_located_problem():
    res = read_qti_package(_sample_package(["choice.xml"], images=()), defaults=DEFAULTS)
    [p] = res.problems
    assert (p.code, p.sheet, p.row, p.field) == ("missing_media", "choice.xml", 20, "images[0]")
    assert "images/sign.png" in p.message_en


# ---------------------------------------------------------------------------------- foreign package

def _foreign(**replace: bytes) -> bytes:
    root = DATA / "qti_foreign"
    files: dict[str, bytes | str] = {f.relative_to(root).as_posix(): f.read_bytes()
                                     for f in sorted(root.rglob("*")) if f.is_file()}
    files.update(replace)
    return _zip(files)


def test_foreign_chinese_package():
    res = read_qti_package(_foreign(), defaults={**DEFAULTS, "source": "某职校题库"})
    assert res.ok, [p.message_en for p in res.problems]
    tf, num, ext = res.items
    assert tf["type"] == "true_false" and tf["key"] is False and tf["stem"] == "验电前可以不检查验电器是否完好。"
    assert tf["points"] == 1.0 and tf["source"] == "某职校题库"
    assert num["type"] == "fill_blank" and num["answers"] == ["12.5"] and num["tolerance"] == 0.05
    assert num["points"] == 2.0 and num["stem"] == "按图示尺寸， 轴段的直径为 ____ mm。"
    assert num["images"] == ["images/shaft.png"] and res.media == {"images/shaft.png": PNG}
    assert ext["type"] == "short_answer" and ext["points"] == 4.0
    assert ext["reference_answer"] == "中性线使不对称负载的相电压保持对称。"
    assert ext["marking_points"] == [{"text": "保证各相负载电压对称", "points": 2.0},
                                     {"text": "构成单相负载的回路", "points": 2.0}]
    assert any(w.code == "ignored_on_import" and "test" in w.message_en for w in res.warnings)


def test_constructed_type_default():
    res = read_qti_package(_foreign(), defaults={**DEFAULTS, "constructed_type": "essay"})
    assert res.items[2]["type"] == "essay"
    with pytest.raises(ValueError):
        read_qti_package(_foreign(), defaults={**DEFAULTS, "constructed_type": "single_choice"})
    with pytest.raises(ValueError):
        read_qti_package(_foreign(), defaults={"colour": "red"})


def test_key_not_among_the_choices():
    bad = (DATA / "qti_foreign" / "items" / "tf-001.xml").read_bytes().replace(b"<value>B</value>", b"<value>Z</value>")
    res = read_qti_package(_foreign(**{"items/tf-001.xml": bad}), defaults=DEFAULTS)
    [p] = res.problems
    assert (p.code, p.sheet, p.row, p.field) == ("key_not_in_options", "items/tf-001.xml", 7, "key")
    assert "'Z'" in p.message_en and res.items == ()


def test_malformed_item_xml_is_located():
    bad = (DATA / "qti_foreign" / "items" / "num-002.xml").read_bytes().replace(b"</itemBody>", b"</itembody>")
    res = read_qti_package(_foreign(**{"items/num-002.xml": bad}), defaults=DEFAULTS)
    [p] = res.problems
    assert p.code == "xml_malformed" and p.sheet == "items/num-002.xml" and p.row == 19
    assert "line 19" in p.message_en and "第 19 行" in p.message_zh and res.items == ()


def test_missing_item_file_and_manifest():
    res = read_qti_package(_zip({"imsmanifest.xml": _manifest("items/nowhere.xml")}))
    assert [(p.code, p.sheet) for p in res.problems] == [("qti_missing_file", "imsmanifest.xml")]
    res = read_qti_package(_zip({"items/a.xml": "<x/>"}))
    assert [p.code for p in res.problems] == ["qti_no_manifest"]
    res = read_qti_package(_zip({"imsmanifest.xml": _manifest()}))
    assert [p.code for p in res.problems] == ["no_items"]


def test_multiple_interactions_are_refused():
    xml = (DATA / "qti_foreign" / "items" / "num-002.xml").read_text(encoding="utf-8").replace(
        "mm。</p>", 'mm，公差 <textEntryInteraction responseIdentifier="R2"/>。</p>')
    res = read_qti_package(_foreign(**{"items/num-002.xml": xml.encode()}), defaults=DEFAULTS)
    [p] = res.problems
    assert p.code == "qti_multiple_interactions" and "items/num-002.xml" in p.message_en


def test_bad_examsys_metadata_is_located_in_the_manifest():
    data = export_qti_package([example_item("single_choice")])
    members = _members(data)
    members["imsmanifest.xml"] = members["imsmanifest.xml"].replace(b"<examsys:grades>4 3", b"<examsys:grades>four")
    res = read_qti_package(_zip(members))
    [p] = res.problems
    assert (p.code, p.sheet, p.field) == ("bad_metadata", "imsmanifest.xml", "grades") and p.row


def test_duplicate_item_ids_in_a_package():
    data = export_qti_package([example_item("true_false", id="7"), example_item("true_false", id="7", stem="另一题")])
    res = read_qti_package(data)
    assert [p.code for p in res.problems] == ["duplicate_id"]


def test_size_limit():
    res = read_qti_package(export_qti_package([example_item("true_false")]), max_bytes=100)
    assert [p.code for p in res.problems] == ["file_too_large"]


# ------------------------------------------------------------------------------------------ attacks

def test_billion_laughs_in_an_item_is_refused_without_expansion():
    payload = (DATA / "billion_laughs.xml").read_bytes()
    t0 = time.perf_counter()
    res = read_qti_package(_zip({"imsmanifest.xml": _manifest("items/a.xml"), "items/a.xml": payload}))
    assert time.perf_counter() - t0 < 2
    [p] = res.problems
    assert (p.code, p.sheet) == ("xml_entities", "items/a.xml")
    assert "DOCTYPE" in p.message_en and "实体" in p.message_zh
    assert "lollol" not in repr(res)


def test_billion_laughs_in_the_manifest_is_refused():
    payload = (DATA / "billion_laughs.xml").read_bytes().replace(b"<quiz>", b"<manifest>").replace(b"</quiz>", b"</manifest>")
    res = read_qti_package(_zip({"imsmanifest.xml": payload}))
    assert [(p.code, p.sheet) for p in res.problems] == [("xml_entities", "imsmanifest.xml")]


def test_xxe_is_refused_and_no_file_is_read(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-4711")
    xxe = (f'<?xml version="1.0"?><!DOCTYPE assessmentItem [<!ENTITY s SYSTEM "{secret.as_uri()}">]>'
           '<assessmentItem xmlns="http://www.imsglobal.org/xsd/imsqti_v2p1" identifier="x" title="&s;">'
           '<itemBody><p>&s;</p></itemBody></assessmentItem>')
    res = read_qti_package(_zip({"imsmanifest.xml": _manifest("items/a.xml"), "items/a.xml": xxe}))
    assert [p.code for p in res.problems] == ["xml_entities"]
    assert "TOP-SECRET" not in repr(res)


@pytest.mark.parametrize("name,code", [("xxe_file.xml", "xml_entities"), ("xxe_parameter.xml", "xml_entities"),
                                       ("external_dtd.xml", "xml_external_dtd")])
def test_prolog_scan(name, code):
    assert check_prolog((DATA / name).read_bytes())[0] == code


def test_prolog_scan_refuses_a_doctype_longer_than_the_scan():
    huge = b'<?xml version="1.0"?><!DOCTYPE r [<!-- ' + b"x" * (2 << 20) + b' --><!ENTITY a "b">]><r>&a;</r>'
    assert check_prolog(huge)[0] == "xml_entities"


def test_prolog_scan_utf16_and_plain_doctype():
    payload = (DATA / "billion_laughs.xml").read_text(encoding="utf-8")
    assert check_prolog(payload.encode("utf-16"))[0] == "xml_entities"
    assert check_prolog(b'<?xml version="1.0"?><!-- c --><!DOCTYPE quiz><quiz/>') == (None, "")


# --------------------------------------------------------------------------------------- zip safety

@pytest.mark.parametrize("name", ["../evil.xml", "/etc/evil.xml", "items\\..\\evil.xml", "C:/evil.xml",
                                  "items/../../evil.xml"])
def test_unsafe_names_are_refused(name):
    res = read_qti_package(_zip({"imsmanifest.xml": _manifest(), name: "x"}))
    assert [p.code for p in res.problems] == ["zip_unsafe_name"]
    assert name in res.problems[0].message_zh


def test_zip_bomb_guards():
    bomb = _zip({"imsmanifest.xml": _manifest(), "media/zeros.png": b"\0" * (4 << 20)})
    res = read_qti_package(bomb)
    assert [p.code for p in res.problems] == ["zip_ratio"]
    res = read_qti_package(bomb, zip_limits=ZipLimits(max_uncompressed_bytes=1 << 20, max_ratio=1e9))
    assert [p.code for p in res.problems] == ["uncompressed_too_large"]
    res = read_qti_package(bomb, zip_limits=ZipLimits(max_files=1))
    assert [p.code for p in res.problems] == ["zip_too_many_files"]


def test_not_a_zip_and_duplicate_members():
    assert [p.code for p in read_qti_package(b"PK\x03\x04 not really").problems] == ["not_zip"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("imsmanifest.xml", _manifest())
        with pytest.warns(UserWarning):
            zf.writestr("imsmanifest.xml", _manifest())
    assert [p.code for p in read_qti_package(buf.getvalue()).problems] == ["zip_duplicate_name"]
