"""The checker's target/achieved texts in Chinese (RuleCheck.target_zh / achieved_zh, zh_text): every text the
checker writes has a Chinese form, and texts stored before (English only) translate the same way."""

from __future__ import annotations

import re

import pytest

from question_bank.assembly import Candidate
from question_bank.assembly_check import RuleCheck, check_forms, zh_text
from question_bank.synthetic import synthetic_bank, synthetic_blueprint

ENGLISH_WORD = re.compile(r"\b[a-z]{2,}\b")


@pytest.mark.parametrize("en, zh", [
    ("ok", "符合"),
    ("no item twice", "同一试题不重复"),
    ("repeated: ['Q1', 'Q2']", "重复：Q1、Q2"),
    ("every item eligible", "每道题都符合入选条件"),
    ("not eligible: ['Q7']", "不符合入选条件：Q7"),
    ("types/points of the sections", "题型和分值符合方案"),
    ("25 covered", "已覆盖 25 个"),
    ("3 covered; missing ['B-A-001', 'B-A-002']", "已覆盖 3 个；未覆盖：B-A-001、B-A-002"),
    ("≤ 1 form(s) per item", "每题至多用于 1 套试卷"),
    ("2 items over: ['Q1', 'Q2']", "2 道题超出：Q1、Q2"),
    ("≤ 2 per point", "每个鉴定点至多 2 题"),
    ("max 3; over: ['A-A-001']", "最多 3 题；超出：A-A-001"),
    ("≤ 12.5 points", "至多 12.5 分"),
    ("≤ 120 min", "至多 120 分钟"),
    ("95.5 min", "95.5 分钟"),
    ("clash in ['blueprint-enemies[0]']", "互斥组冲突：方案互斥组1"),
    ("= 25", "= 25"), ("[0.63, 0.69]", "[0.63, 0.69]"), ("0.6612", "0.6612"), ("1.25 %", "1.25 %"),
])
def test_zh_text_of_stored_english_texts(en, zh):
    assert zh_text(en) == zh


def test_rule_check_carries_both_languages():
    c = RuleCheck("unique_items", "all", "A", None, "no item twice", "ok", True)
    assert (c.target_zh, c.achieved_zh) == ("同一试题不重复", "符合")
    d = c.to_dict()
    assert (d["target"], d["achieved"], d["target_zh"], d["achieved_zh"]) == (
        "no item twice", "ok", "同一试题不重复", "符合")


def test_every_text_of_a_failing_report_has_a_chinese_form():
    """Forms that break nearly every rule (theory and practical, enemies, sets, anchors, two forms) produce
    texts of every kind; none of their Chinese forms keeps an English word."""
    bank = synthetic_bank(400, seed=3, points_per_weight=0.3, practical={"P": 30, "Q": 30, "R": 20, "S": 20},
                          tasks_per_module=6)
    theory = [c for c in bank.candidates if c.type != "practical_task"]
    practical = [c for c in bank.candidates if c.type == "practical_task"]
    bp = synthetic_blueprint(sections=(("single_choice", 20, 0.5), ("true_false", 12, 0.5)), duration_min=1,
                             practical={"P": 30, "Q": 30, "R": 20, "S": 20})
    bp["practical"]["modules"] = [{"area": "P", "weight": 30}, {"area": "Q", "weight": 30},
                                  {"area": "R", "weight": 40, "group": "G1"}, {"area": "S", "weight": 40, "group": "G1"}]
    bp["practical"]["groups"] = {"G1": 1}
    bp["practical"]["station_equipment"] = ["卷尺"]
    bp["theory"]["coverage"]["max_per_point"] = 1
    bp["eligibility"] = {"enemies": [[theory[0].item_id, theory[1].item_id]],
                         "item_sets": {"CASE-1": [theory[2].item_id, theory[300].item_id]},
                         "anchors": [theory[301].item_id]}
    stray = Candidate(**{**theory[3].__dict__, "item_id": "STRAY", "area": "ZZ", "type": "essay"})
    form = theory[:12] + [theory[0], stray] + practical[:5]
    report = check_forms([form, form], bp, x_points=[c.kp for c in theory[:60]], pool=bank.candidates[:-1] + [])
    assert not report.passed
    rules = {c.rule for c in report.violations}
    assert {"unique_items", "section_type", "section_count", "x_coverage", "point_cap", "time", "enemies",
            "item_sets", "anchors", "max_uses", "module_tasks", "group_choice", "equipment"} <= rules
    for c in report.checks:
        for text in (c.target_zh, c.achieved_zh):
            assert not ENGLISH_WORD.search(text), (c.rule, c.target, c.achieved, text)
    report = check_forms([theory[:5]], synthetic_blueprint(sections=(("single_choice", 5, 1.0),), duration_min=30))
    xc = report.by_rule("x_coverage")[0]
    assert (xc.target_zh, xc.achieved_zh) == ("覆盖每个 X 类鉴定点", "未检查（未提供细目表）")
